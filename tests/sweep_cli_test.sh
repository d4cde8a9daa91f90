#!/usr/bin/env bash
# sweep, merge and report through the command: a sweep killed with SIGKILL and resumed, two
# sweeps writing one database at once, a report and a merge reading one being written, a lock
# held by another process, shards merged, bad input leaving the database as it was.
# usage: sweep_cli_test.sh path/to/archbench path/to/tests
set -u
bin="$(realpath "$1")"
tests="$(realpath "$2")"
work="$(mktemp -d)"
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected [$2], got [$1]"; }
q() { sqlite3 -batch "$1" "$2"; }
command -v sqlite3 >/dev/null || { echo "sqlite3 (the command) is missing: scripts/setup.sh --tests installs it"; exit 1; }
tiny="$tests/fixtures/sweeps/tiny.yaml"

# --- a sweep killed at any moment loses at most the case in progress --------------------------
db="$work/killed.sqlite"
"$bin" sweep "$tests/fixtures/sweeps/slow.yaml" --db "$db" >"$work/killed.log" 2>&1 &
pid=$!
for _ in $(seq 600); do  # until the first case is stored (60 s at most)
  [ -f "$db" ] && [ "$(q "$db" "SELECT count(*) FROM cases" 2>/dev/null)" -ge 1 ] 2>/dev/null && break
  sleep 0.1
done
sleep 0.$((RANDOM % 10))  # somewhere inside a later case
kill -9 "$pid"
wait "$pid" 2>/dev/null
done_before="$(q "$db" "SELECT count(*) FROM cases")"
[ "$done_before" -ge 1 ] && [ "$done_before" -lt 6 ] || fail "killed sweep stored $done_before of 6 cases"
expect_eq "$(q "$db" "PRAGMA integrity_check")" ok "integrity after kill -9"
expect_eq "$(q "$db" "SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM case_kernels k WHERE k.case_id = c.id)
                        OR NOT EXISTS (SELECT 1 FROM case_layers l WHERE l.case_id = c.id)")" 0 "every stored case is whole"
expect_eq "$(q "$db" "SELECT finished_at FROM runs")" "" "a killed run is not finished"
out="$("$bin" sweep "$tests/fixtures/sweeps/slow.yaml" --db "$db" --resume 2>/dev/null)"
expect_eq "$out" "sweep 'slow' (shard 0/1): 6 cases into $db run 1: $((6 - done_before)) ok, 0 failed, $done_before already done" "resume summary"
expect_eq "$(q "$db" "SELECT count(*), count(DISTINCT case_key), sum(status = 'ok') FROM cases")" "6|6|6" "resumed to the end"
expect_eq "$(q "$db" "SELECT count(*), finished_at != '' FROM runs")" "1|1" "one run, finished"

# --- progress lines when not on a terminal; failures recorded, the sweep goes on ---------------
"$bin" sweep "$tiny" --db "$work/a.sqlite" >"$work/a.out" 2>"$work/a.err"
expect_eq "$?" 0 "a sweep with failing cases exits 0"
# The tiny sweep's cuda cases fail where no CUDA device is (they run on a GPU machine).
cuda_reason="$("$bin" targets | sed -n 's/^cuda .*cannot run here: //p')"
grep -q "^\[7/9\] ../../bad_specs/cycle.yaml 1x3x8x8 cpu threads=1 schedule=default: FAILED: .*cycle.yaml:5:5: error: layer 'a': cycle: b -> c -> a -> b" "$work/a.err" || fail "bad spec recorded as a failure"
grep -q "^\[1/9\] ../tiny_backbone.yaml 1x3x16x16 cpu threads=1 schedule=default: ok, median [0-9.]* ms" "$work/a.err" || fail "progress line of a case"
if [ -n "$cuda_reason" ]; then
  expect_eq "$(cat "$work/a.out")" "sweep 'tiny' (shard 0/1): 9 cases into $work/a.sqlite run 1: 4 ok, 5 failed, 0 already done" "summary"
  grep -qF "[3/9] ../tiny_backbone.yaml 1x3x16x16 cuda threads=1 schedule=default: FAILED: target cuda cannot run here: $cuda_reason (" "$work/a.err" || fail "progress line of a failed case: $(cat "$work/a.err")"
  expect_eq "$(q "$work/a.sqlite" "SELECT error FROM cases WHERE position = 2")" "target cuda cannot run here: $cuda_reason" "error stored"
else
  echo "note: cuda runs here; the checks of failed cuda cases are skipped"
fi

# --- two processes writing one database ---------------------------------------------------
"$bin" sweep "$tiny" --db "$work/shared.sqlite" --shard 0/2 >/dev/null 2>&1 &
p1=$!
"$bin" sweep "$tiny" --db "$work/shared.sqlite" --shard 1/2 >/dev/null 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
expect_eq "$r1 $r2" "0 0" "concurrent sweeps exit 0"
expect_eq "$(q "$work/shared.sqlite" "PRAGMA integrity_check")" ok "integrity after concurrent writers"
expect_eq "$(q "$work/shared.sqlite" "SELECT count(*), count(DISTINCT position) FROM cases")" "9|9" "both shards stored"
expect_eq "$(q "$work/shared.sqlite" "SELECT count(*) FROM runs")" 2 "a run per shard"

# --- a report and a merge read a database while a sweep writes it ---------------------------
# Each sees whole cases as they stand (a read snapshot); merging again later adds the rest.
live="$work/live.sqlite"
"$bin" sweep "$tests/fixtures/sweeps/slow.yaml" --db "$live" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -f "$live" ] && [ "$(q "$live" "SELECT count(*) FROM cases" 2>/dev/null)" -ge 1 ] 2>/dev/null && break
  sleep 0.1
done
reports=0 last=0
while kill -0 "$pid" 2>/dev/null && [ "$reports" -lt 20 ]; do
  rm -rf "$work/live-report"
  "$bin" report --db "$live" -o "$work/live-report" >"$work/live-report.log" 2>&1 || fail "report during a sweep: $(cat "$work/live-report.log")"
  n=$(($(wc -l <"$work/live-report/cases.csv") - 1))
  [ "$n" -ge "$last" ] && [ "$n" -le 6 ] || fail "report during a sweep: $n cases after $last"
  last=$n reports=$((reports + 1))
  if [ ! -f "$work/live-merged.sqlite" ]; then
    "$bin" merge "$live" -o "$work/live-merged.sqlite" >"$work/live-merge.log" 2>&1 || fail "merge during a sweep: $(cat "$work/live-merge.log")"
  fi
done
wait "$pid"; rc=$?
expect_eq "$rc" 0 "the sweep read meanwhile exits 0"
[ "$reports" -ge 2 ] || fail "only $reports reports while the sweep ran"
early="$(q "$work/live-merged.sqlite" "SELECT count(*) FROM cases")"
[ "$early" -ge 1 ] && [ "$early" -lt 6 ] || fail "the merge during the sweep took $early of 6 cases"
expect_eq "$(q "$work/live-merged.sqlite" "SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM case_kernels k
            WHERE k.case_id = c.id)")" 0 "the merge during the sweep copied whole cases"
out="$("$bin" merge "$work/live-merged.sqlite" "$live" -o "$work/live-merged.sqlite")"
expect_eq "$out" "merged 2 databases into $work/live-merged.sqlite: 1 runs, 6 cases ($((6 - early)) new)" "merging after the sweep adds the rest"
keys() { q "$1" "SELECT case_key || ' ' || status FROM cases ORDER BY 1"; }
expect_eq "$(keys "$work/live-merged.sqlite")" "$(keys "$live")" "no case lost or doubled"
for f in "$live" "$work/live-merged.sqlite"; do expect_eq "$(q "$f" "PRAGMA integrity_check")" ok "integrity of $f"; done

# --- a database another process keeps locked: a bounded wait, then a clear error -----------
# sqlite3 takes the write lock (BEGIN IMMEDIATE) and keeps it until release_lock.
hold_lock() {
  rm -f "$work/lock.fifo"
  mkfifo "$work/lock.fifo"
  sqlite3 -batch "$live" <"$work/lock.fifo" >/dev/null 2>&1 &
  holder=$!
  exec 3>"$work/lock.fifo"
  echo "BEGIN IMMEDIATE;" >&3
  for _ in $(seq 100); do  # until it holds the lock (a write without waiting fails), 10 s at most
    sqlite3 -batch "$live" "BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1 || return 0
    sleep 0.1
  done
  fail "sqlite3 did not take the lock"
}
release_lock() {
  echo "COMMIT;" >&3
  exec 3>&-
  wait "$holder"
}
runs_before="$(q "$live" "SELECT count(*) FROM runs")"
hold_lock
expect_eq "$(ARCHBENCH_DB_WAIT=1 "$bin" sweep "$tiny" --db "$live" 2>&1; echo "rc=$?")" \
  "archbench: error: $live: database is locked: another process held it for over 1 s (a sweep, merge or report writing it; ARCHBENCH_DB_WAIT=SECONDS waits longer)
rc=1" "a lock held past the wait"
release_lock
expect_eq "$(q "$live" "SELECT count(*) FROM runs")" "$runs_before" "nothing written while locked"
hold_lock
ARCHBENCH_DB_WAIT=60 "$bin" sweep "$tiny" --db "$live" >"$work/waited.out" 2>/dev/null &
waiter=$!
sleep 3
release_lock
wait "$waiter"
expect_eq "$?" 0 "a lock released within the wait"
out="$(cat "$work/waited.out")"
[[ "$out" == "sweep 'tiny' (shard 0/1): 9 cases into $live run "*": "*" ok, "*" failed, 0 already done" ]] || fail "sweep after the wait: $out"
expect_eq "$(q "$live" "SELECT count(*) FROM runs")" "$((runs_before + 1))" "the waiting sweep's run stored"
# A damaged file whose schema text reads "database is locked" (a fuzzer's find) is refused at
# once, not waited on: only SQLite's busy code means another process holds the lock.
cp "$tests/fuzz/regressions/results_db/locked-in-a-damaged-schema-text" "$work/damaged.sqlite"
start=$SECONDS
expect_eq "$(ARCHBENCH_DB_WAIT=30 "$bin" report --db "$work/damaged.sqlite" -o "$work/damaged" 2>&1; echo "rc=$?")" \
  "archbench: error: $work/damaged.sqlite: not a results database (malformed database schema (sqlite_autoindatabase is locked) - orphan index)
rc=1" "a damaged schema that mentions a lock"
[ $((SECONDS - start)) -le 5 ] || fail "the damaged database was waited on for $((SECONDS - start)) s"
expect_eq "$(ARCHBENCH_DB_WAIT=soon "$bin" sweep "$tiny" --db "$live" 2>&1; echo "rc=$?")" \
  "archbench: error: ARCHBENCH_DB_WAIT='soon': expected whole seconds from 0 to 86400
rc=1" "a bad ARCHBENCH_DB_WAIT"

# --- shards merged equal the whole sweep; merging again adds nothing -----------------------
for i in 0 1 2; do "$bin" sweep "$tiny" --db "$work/p$i.sqlite" --shard $i/3 >/dev/null 2>&1; done
out="$("$bin" merge "$work/p0.sqlite" "$work/p1.sqlite" "$work/p2.sqlite" -o "$work/all.sqlite")"
expect_eq "$out" "merged 3 databases into $work/all.sqlite: 3 runs, 9 cases (9 new)" "merge summary"
expect_eq "$(keys "$work/all.sqlite")" "$(keys "$work/a.sqlite")" "union of shards = unsharded sweep"
out="$("$bin" merge "$work/all.sqlite" "$work/p1.sqlite" -o "$work/all.sqlite")"
expect_eq "$out" "merged 2 databases into $work/all.sqlite: 3 runs, 9 cases (0 new)" "merging again adds nothing"
expect_eq "$("$bin" merge "$work/p0.sqlite" -o "$work/a.sqlite" 2>&1; echo "rc=$?")" \
  "archbench: error: $work/a.sqlite: exists; name it among the inputs to merge into it, or remove it
rc=1" "merge onto an existing database"
mkdir -p "$work/outdir"
expect_eq "$("$bin" merge "$work/p0.sqlite" -o "$work/outdir" 2>&1; echo "rc=$?")" \
  "archbench: error: $work/outdir: is a directory; merge writes one results database file
rc=1" "merge onto a directory"
expect_eq "$("$bin" merge "$work/none.sqlite" -o "$work/m.sqlite" 2>&1; echo "rc=$?")" \
  "archbench: error: $work/none.sqlite: no such results database
rc=1" "merge of a missing database"
[ -e "$work/m.sqlite" ] && fail "failed merge left an output"

# --- bad sweep files and paths leave the database untouched --------------------------------
before="$(md5sum <"$work/a.sqlite")"
expect_eq "$("$bin" sweep "$tests/bad_sweeps/unknown_network.yaml" --db "$work/a.sqlite" 2>&1; echo "rc=$?")" \
  "$tests/bad_sweeps/unknown_network.yaml:2:22: error: unknown network 'resnet5O' (did you mean 'resnet50'?): not in the zoo ($(cd "$tests/../networks/zoo" && pwd)), and not a .yaml or .onnx file
rc=1" "unknown network"
expect_eq "$("$bin" sweep "$tests/bad_sweeps/empty_product.yaml" --db "$work/a.sqlite" 2>&1; echo "rc=$?")" \
  "$tests/bad_sweeps/empty_product.yaml:1:1: error: the sweep has no cases: every combination is excluded
rc=1" "empty product"
expect_eq "$("$bin" sweep "$tiny" --db "$work/a.sqlite" --shard 3/3 2>&1; echo "rc=$?")" \
  "archbench: error: --shard '3/3': expected I/N with N >= 1 and 0 <= I < N (e.g. 0/4 ... 3/4)
rc=1" "bad shard"
expect_eq "$(md5sum <"$work/a.sqlite")" "$before" "database untouched by bad sweeps"
expect_eq "$("$bin" sweep "$tiny" --db /nonexistent/dir/r.sqlite 2>&1; echo "rc=$?")" \
  "archbench: error: /nonexistent/dir/r.sqlite: cannot open: unable to open database file
rc=1" "unwritable database path"
echo "not sqlite" >"$work/text.sqlite"
expect_eq "$("$bin" sweep "$tiny" --db "$work/text.sqlite" 2>&1; echo "rc=$?")" \
  "archbench: error: $work/text.sqlite: not a results database (file is not a database)
rc=1" "database path holding another file"
expect_eq "$(cat "$work/text.sqlite")" "not sqlite" "that file untouched"
# An empty --db would be SQLite's temporary database: the results thrown away.
expect_eq "$("$bin" sweep "$tiny" --db "" 2>&1; echo "rc=$?")" "archbench: error: --db: empty path
rc=1" "empty --db"
expect_eq "$("$bin" merge "$work/p0.sqlite" -o "" 2>&1; echo "rc=$?")" "archbench: error: -o: empty path
rc=1" "empty merge -o"
expect_eq "$("$bin" sweep "$work" 2>&1; echo "rc=$?")" "$work: error: is a directory, not a sweep file
rc=1" "a folder as the sweep file"
long="$(printf 's%.0s' $(seq 300))"
expect_eq "$("$bin" sweep "$long.yaml" 2>&1; echo "rc=$?")" "${long:0:60}... (305 characters): error: cannot read the sweep file: File name too long
rc=1" "a sweep file name too long"
# A database missing one of its tables is refused when opened, before any case runs.
cp "$work/p0.sqlite" "$work/nokernels.sqlite"
q "$work/nokernels.sqlite" "DROP TABLE case_kernels"
runs_before="$(q "$work/nokernels.sqlite" "SELECT count(*) FROM runs")"
expect_eq "$("$bin" sweep "$tiny" --db "$work/nokernels.sqlite" 2>&1; echo "rc=$?")" \
  "archbench: error: $work/nokernels.sqlite: a damaged results database: it has no 'case_kernels' table (every results database has meta, runs, cases, case_layers and case_kernels)
rc=1" "a database without case_kernels"
expect_eq "$(q "$work/nokernels.sqlite" "SELECT count(*) FROM runs")" "$runs_before" "no run added to it"
# Damaged samples are named by database, case and column, not by the JSON parser.
cp "$work/p0.sqlite" "$work/badjson.sqlite"
q "$work/badjson.sqlite" "UPDATE cases SET samples_ms = '[1, 2' WHERE id = 2"
expect_eq "$("$bin" report --db "$work/badjson.sqlite" -o "$work/r4" 2>&1; echo "rc=$?")" \
  "archbench: error: $work/badjson.sqlite: samples_ms of case 2 is not a JSON array of numbers (a damaged results database)
rc=1" "report of a damaged database"
[ -e "$work/r4" ] && fail "failed report left a folder"
expect_eq "$("$bin" merge "$work/p1.sqlite" "$work/badjson.sqlite" -o "$work/m2.sqlite" 2>&1; echo "rc=$?")" \
  "archbench: error: $work/badjson.sqlite: samples_ms of case 2 is not a JSON array of numbers (a damaged results database)
rc=1" "merge of a damaged database"
[ -e "$work/m2.sqlite" ] && fail "failed merge left an output"
# merge's error names its output, not the temporary database beside it.
expect_eq "$("$bin" merge "$work/p0.sqlite" -o /proc/archbench-merge.sqlite 2>&1; echo "rc=$?")" \
  "archbench: error: /proc/archbench-merge.sqlite: cannot open: unable to open database file
rc=1" "merge into an unwritable place"

# --- report -----------------------------------------------------------------------------------
out="$("$bin" report --db "$work/a.sqlite" -o "$work/report")"
expect_eq "$out" "wrote $work/report/cases.csv
wrote $work/report/cases.json
wrote $work/report/report.html
wrote $work/report/report.md
charts in $work/report/charts" "report output"
expect_eq "$(ls "$work/report/charts" | wc -l)" 5 "overview charts and 3 per network"
expect_eq "$("$bin" report --db "$work/a.sqlite" -o /nonexistent/dir/out 2>&1; echo "rc=$?")" \
  "archbench: error: /nonexistent/dir/out: cannot write the report: No such file or directory
rc=1" "unwritable report folder"
expect_eq "$("$bin" report --db "$work/a.sqlite" --compare 1 9 -o "$work/r2" 2>&1; echo "rc=$?")" \
  "archbench: error: --compare '9': no run with that id or uuid prefix (\`archbench report --db DB --list-runs\` lists them)
rc=1" "compare with an unknown run"
[ -e "$work/r2" ] && fail "failed report left a folder"
"$bin" report --db "$work/a.sqlite" --compare threads=1 threads=2 -o "$work/r3" >/dev/null || fail "report --compare"
grep -q "^## A/B comparison" "$work/r3/report.md" || fail "A/B section"
"$bin" report --db "$work/a.sqlite" --list-runs | grep -q "^run 1  [0-9a-f]\{8\}  sweep 'tiny' shard 0/1  started .* 4 ok, 5 failed$" || fail "--list-runs"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "sweep CLI: all checks passed"
