#!/usr/bin/env bash
# A sweep on a real Slurm cluster, with a failure: munge, slurmctld and slurmd started on this
# machine from a temporary folder (a one-node cluster on localhost, no cgroups), the quick sweep
# submitted as a job array of 4 shards with docs/slurm/sweep-array.sbatch, one running task
# killed with SIGKILL in the middle of a case and requeued, and docs/slurm/merge.sbatch run after
# the array. The merged database must hold exactly the unsharded sweep's cases, each once and
# ok, and the killed task's finished case must not have run again. Every daemon it starts is
# stopped by its pid at the end, on failure too; nothing is written outside the folder.
# usage: slurm_test.sh path/to/archbench path/to/tests
set -u
bin="$(realpath "$1")"
tests="$(realpath "$2")"
root="$(realpath "$tests/..")"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected [$2], got [$1]"; }
say() { echo "slurm_test: $*"; }

for tool in munged slurmctld slurmd sbatch squeue scontrol scancel sqlite3; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (scripts/setup.sh --tests installs slurm-wlm, munge and sqlite3)"
    exit 77
  fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: slurmd must run as root to start jobs (run the test suite as root, as CI does)"
  exit 77
fi

work="$(mktemp -d)"
chmod 700 "$work"
pids=()  # the daemons this test started
jobs_submitted=()
cleanup() {
  for j in "${jobs_submitted[@]}"; do scancel --quiet "$j" 2>/dev/null; done
  for _ in $(seq 100); do  # the cancelled jobs gone (10 s at most)
    [ -z "$(squeue -h 2>/dev/null)" ] && break
    sleep 0.1
  done
  # The daemons, newest first: slurmd, slurmctld, munged.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null; done
  for _ in $(seq 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" == 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  # A job step that outlived its slurmd (a test stopped half-way) is found by our config.
  for p in $(pgrep -x slurmstepd); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_CONF=$work/slurm.conf" && kill -KILL "$p"
  done
  rm -rf "$work"
}
trap cleanup EXIT
# Prints a daemon's log and stops the test.
die() {
  echo "FAIL: $1"
  for log in "$work"/*.log "$work"/munge/*.log "$work"/logs/*.log; do
    [ -f "$log" ] && { echo "--- $log"; tail -n 20 "$log"; }
  done
  exit 1
}

# --- munge, with its own key and socket ---------------------------------------------------------
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/logs" "$work/results"
chmod 700 "$work/munge"
head -c 1024 /dev/urandom >"$work/munge/munge.key"
chmod 400 "$work/munge/munge.key"
munged --foreground --force --key-file="$work/munge/munge.key" --socket="$work/munge/munge.sock" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" \
  --seed-file="$work/munge/munged.seed" >"$work/logs/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/munge/munge.sock" ] && break; sleep 0.1; done
[ -S "$work/munge/munge.sock" ] || die "munged did not start"

# --- slurmctld and slurmd on localhost ----------------------------------------------------------
host="$(hostname -s)"
read -r port_ctld port_d < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
# The node as slurmd sees the hardware (its sockets, cores and threads), memory left out.
node="$(slurmd -C | head -n 1 | sed -e 's/ RealMemory=[0-9]*//' -e 's/^NodeName=[^ ]*//')"
export SLURM_CONF="$work/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=archbench-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job starts again once its old credential expired (120 s by default).
AuthInfo=socket=$work/munge/munge.sock,cred_expire=10
SlurmctldPort=$port_ctld
SlurmdPort=$port_d
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=2
NodeName=$host NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=batch Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -c -f "$SLURM_CONF" >"$work/logs/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" >"$work/logs/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  state="$(sinfo -h -n "$host" -o %T 2>/dev/null)"
  [ "$state" == idle ] && break
  sleep 0.1
done
[ "$state" == idle ] || die "the node did not come up (sinfo says '$state')"
say "cluster up: node $host ($node), slurmctld on port $port_ctld"

# --- the array: the quick sweep in 4 shards ----------------------------------------------------
sweep="$root/configs/sweeps/quick.yaml"
export ARCHBENCH="$bin" SWEEP="$sweep" RESULTS="$work/results"
array="$(sbatch --parsable --array=0-3 --chdir="$work" --output="$work/logs/sweep-%a.log" \
  "$root/docs/slurm/sweep-array.sbatch")" || die "sbatch of the array failed"
jobs_submitted+=("$array")
say "array job $array submitted: sbatch --array=0-3 docs/slurm/sweep-array.sbatch"
cases() { sqlite3 -batch "$1" "SELECT count(*) FROM cases" 2>/dev/null || echo 0; }
task_state() { squeue -h -r -j "$array" -o "%K %T" 2>/dev/null | awk -v t="$1" '$1 == t { print $2 }'; }

# Kill a running task that has stored its first case and is in the middle of its second.
victim=""
for _ in $(seq 1200); do  # 2 minutes at most
  for t in 0 1 2 3; do
    db="$work/results/shard-$t.sqlite"
    if [ -f "$db" ] && [ "$(cases "$db")" == 1 ] && [ "$(task_state "$t")" == RUNNING ]; then
      victim="$t"
      break 2
    fi
  done
  sleep 0.1
done
[ -n "$victim" ] || die "no task was seen running with one case stored"
scancel --signal=KILL "${array}_$victim"
for _ in $(seq 300); do
  st="$(scontrol show job "${array}_$victim" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')"
  [ "$st" != RUNNING ] && [ "$st" != COMPLETING ] && break
  sleep 0.1
done
db="$work/results/shard-$victim.sqlite"
stored="$(cases "$db")"
say "task ${array}_$victim killed (scancel --signal=KILL) with $stored of 2 cases stored; its state: $st"
expect_eq "$stored" 1 "cases the killed task had stored (it was killed in the middle of its second)"
expect_eq "$(sqlite3 -batch "$db" "PRAGMA integrity_check")" ok "the killed task's database is whole"
first="$(sqlite3 -batch "$db" "SELECT id, case_key, started_at, seconds FROM cases")"
scontrol requeue "${array}_$victim" || die "scontrol requeue ${array}_$victim failed"
say "task ${array}_$victim requeued (scontrol requeue)"

# --- the merge, after every task succeeded ----------------------------------------------------
# After each task by name: with afterok on the whole array, Slurm 22.05 marked the merge
# DependencyNeverSatisfied once a task had been killed, and the requeue did not change that.
after="afterok$(for t in 0 1 2 3; do printf ':%s_%s' "$array" "$t"; done)"
merge="$(sbatch --parsable --dependency="$after" --chdir="$work" --output="$work/logs/merge.log" \
  "$root/docs/slurm/merge.sbatch")" || die "sbatch of the merge failed"
jobs_submitted+=("$merge")
say "merge job $merge submitted: sbatch --dependency=$after docs/slurm/merge.sbatch"
for _ in $(seq 3000); do  # 5 minutes at most
  st="$(scontrol show job "$merge" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')"
  case "$st" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL) break ;; esac
  scontrol show job "$merge" | grep -q "Reason=DependencyNeverSatisfied" && break
  sleep 0.1
done
[ "$st" == COMPLETED ] || die "the merge job ended $st ($(scontrol show job "$merge" | grep -o 'Reason=[^ ]*'))"
for t in 0 1 2 3; do
  expect_eq "$(scontrol show job "${array}_$t" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')" COMPLETED "task $t's state"
done
restarts="$(scontrol show job "${array}_$victim" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')"
expect_eq "$restarts" 1 "restarts of the killed task"
say "merge job $merge completed after the array"

# The merged database: exactly the unsharded sweep's cases, each once, every one ok.
all="$work/results/all.sqlite"
want="$("$bin" sweep "$sweep" --list | awk '{ print $1, $2 }' | sort)"  # position and case key
got="$(sqlite3 -batch "$all" "SELECT position || ' ' || case_key FROM cases" | sort)"
expect_eq "$(sqlite3 -batch "$all" "SELECT count(*), count(DISTINCT case_key), sum(status = 'ok') FROM cases")" \
  "$(wc -l <<<"$want")|$(wc -l <<<"$want")|$(wc -l <<<"$want")" "merged cases: all, distinct, ok"
expect_eq "$got" "$want" "the merged cases are the unsharded sweep's (sweep --list)"
expect_eq "$(sqlite3 -batch "$all" "SELECT count(*) FROM runs")" 4 "one run per shard in the merge"
expect_eq "$(sqlite3 -batch "$all" "PRAGMA integrity_check")" ok "the merged database is whole"
# The killed task's first case was kept, not run again; its second ran on the second attempt.
expect_eq "$(sqlite3 -batch "$db" "SELECT id, case_key, started_at, seconds FROM cases WHERE id = ${first%%|*}")" "$first" \
  "the killed task's finished case, untouched"
expect_eq "$(cases "$db")" 2 "the killed task's cases after the requeue"
grep -q "attempt 2" "$work/logs/sweep-$victim.log" || fail "the requeued task's log shows no second attempt"
grep -q "2 cases into .* 1 ok, 0 failed, 1 already done" "$work/logs/sweep-$victim.log" ||
  fail "the requeued task did not resume: $(tail -n 3 "$work/logs/sweep-$victim.log")"
[ -f "$work/results/report/report.html" ] || fail "the merge job wrote no report"
say "merged: $(sqlite3 -batch "$all" "SELECT count(*) FROM cases") cases from $(sqlite3 -batch "$all" "SELECT count(*) FROM runs") runs, each once and ok"

if [ "$failures" -gt 0 ]; then
  for log in "$work"/logs/*.log; do echo "--- $log"; tail -n 8 "$log"; done
  echo "$failures failure(s)"
  exit 1
fi
echo "slurm test: all checks passed"
