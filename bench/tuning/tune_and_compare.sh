#!/usr/bin/env bash
# Tunes networks on this machine and measures what the tuning buys, end to end.
# usage: bench/tuning/tune_and_compare.sh [--db FILE] [--rounds R] [NETWORK ...]
#   (default networks: resnet50 vgg16 mobilenet_v2 unet; default db: configs/tuned/<cpu>.yaml)
# Per network: `archbench tune` (its wall time is the first figure), then `bench --schedule
# default` and `bench --schedule tuned` alternated R times (this machine's speed drifts over
# minutes, so one-shot comparisons mislead), each keeping its best median of 5 repetitions.
# Also checks, in the tuned database, that no layer's winner is slower than the best
# autoscheduled baseline measured for it.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/archbench
db=""
rounds=3
nets=()
while (($#)); do
  case "$1" in
    --db) db="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) nets+=("$1"); shift ;;
  esac
done
((${#nets[@]})) || nets=(resnet50 vgg16 mobilenet_v2 unet)
dbarg=()
[ -n "$db" ] && dbarg=(--db "$db")
tdbarg=()
[ -n "$db" ] && tdbarg=(--tuned-db "$db")

# (--tuned-db goes with --schedule tuned only: bench refuses it otherwise.)
median_of() {
  local extra=()
  [ "$2" = tuned ] && extra=("${tdbarg[@]}")
  "$bin" bench "$1" --schedule "$2" "${extra[@]}" --repetitions 5 --warmup 1 --format json 2>/dev/null |
    sed -n 's/^ *"median": \([0-9.e+-]*\),*$/\1/p' | head -1
}
best() { printf '%s\n' "$@" | sort -g | head -1; }

printf '%-14s %9s %12s %12s %8s\n' network "tune s" "default ms" "tuned ms" ratio
for net in "${nets[@]}"; do
  start=$(date +%s.%N)
  "$bin" tune "$net" "${dbarg[@]}" >"/tmp/tune-$net.log" 2>&1
  tune_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  d=(); t=()
  for ((r = 0; r < rounds; ++r)); do
    d+=("$(median_of "$net" default)")
    t+=("$(median_of "$net" tuned)")
  done
  bd=$(best "${d[@]}"); bt=$(best "${t[@]}")
  printf '%-14s %9.1f %12.3f %12.3f %8.3f\n' "$net" "$tune_s" "$bd" "$bt" "$(awk -v a="$bt" -v b="$bd" 'BEGIN { print a / b }')"
done
file="${db:-$(ls configs/tuned/*.yaml | head -1)}"
# Every entry: winner's median <= the fastest auto-* median (entries list "ms: {a: x, b: y}").
awk '/schedule:/ { win = $2 }
     /ms: \{/ { line = $0; sub(/.*\{/, "", line); sub(/\}.*/, "", line); n = split(line, kv, ", ");
       best_auto = -1; w = -1
       for (i = 1; i <= n; ++i) { split(kv[i], p, ": "); if (p[1] ~ /^auto-/ && (best_auto < 0 || p[2] + 0 < best_auto)) best_auto = p[2] + 0; if (p[1] == win) w = p[2] + 0 }
       entries++; if (best_auto >= 0 && w > best_auto) worse++ }
     END { printf "%s: %d entries, %d with the winner slower than the best autoscheduler\n", FILENAME, entries, worse + 0 }' "$file"
