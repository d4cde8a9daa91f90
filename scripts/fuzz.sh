#!/usr/bin/env bash
# Runs every libFuzzer harness (tests/fuzz/) for SECONDS each (default 10, as CI does), seeded
# from the zoo, the bad-spec corpus and the tensor fixtures, with the corpus each run grows kept
# under BUILD/fuzz/. A crash, a leak, undefined behaviour, an input slower than 1 s or an
# exception other than the reader's own error fails the run; libFuzzer writes the input to
# BUILD/fuzz/ (crash-*, leak-*, timeout-*) and it belongs in tests/fuzz/regressions/ with the fix.
# usage: scripts/fuzz.sh [SECONDS] [BUILD]     (BUILD: build-test, which scripts/test.sh builds)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
build="${2:-build-test}"
root="$PWD"
out="$build/fuzz"
mkdir -p "$out"
seeds="$(mktemp -d)"
trap 'rm -rf "$seeds"' EXIT
# Specs: the zoo and every bad spec (whose includes resolve against tests/bad_specs/).
mkdir -p "$seeds/spec" "$seeds/tensor_files"
cp networks/zoo/*.yaml tests/bad_specs/*.yaml "$seeds/spec/"
# Tensor files: the harness reads its first byte as the format (odd: .npy), the rest as the file.
while IFS= read -r f; do
  case "$f" in
    *.npy) (printf '\001'; cat "$f") >"$seeds/tensor_files/$(basename "$f")" ;;
    *) (printf '\000'; cat "$f") >"$seeds/tensor_files/$(basename "$f")" ;;
  esac
done < <(find tests -name '*.npy' -size -64k -o -name '*.safetensors' -size -64k | sort)
failed=0
for harness in spec tensor_files; do
  bin="$build/tests/fuzz/archbench_fuzz_$harness"
  [ -x "$bin" ] || { echo "fuzz: $bin is not built (scripts/test.sh builds it; clang only)"; exit 1; }
  mkdir -p "$out/$harness-corpus"
  log="$out/$harness.log"
  if ARCHBENCH_FUZZ_DIR="$root/tests/bad_specs" "$bin" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/" \
       "$out/$harness-corpus" "$seeds/$harness" "tests/fuzz/regressions/$harness" >"$log" 2>&1; then
    echo "fuzz $harness: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") executions in ${seconds} s," \
      "$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")/s, no finding (corpus: $(ls "$out/$harness-corpus" | wc -l) inputs)"
  else
    echo "FAIL: fuzz $harness found something; the log's end (all of it in $log):"
    tail -n 30 "$log"
    failed=1
  fi
done
exit "$failed"
