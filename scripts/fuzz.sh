#!/usr/bin/env bash
# Runs every libFuzzer harness (tests/fuzz/) for SECONDS each (default 10, as CI does), seeded
# from the zoo, the bad specs and sweeps, the fixtures, the shipped sweeps and tuned databases,
# a small results database and the ONNX models of tests/fuzz/corpus_onnx/, with the corpus each
# run grows kept under BUILD/fuzz/. A crash, a leak, undefined behaviour, an input slower than
# 1 s or an exception other than the reader's own error fails the run; libFuzzer writes the
# input to BUILD/fuzz/ (<harness>-crash-*, -leak-*, -timeout-*) and it belongs in
# tests/fuzz/regressions/<harness>/ with the fix.
# usage: scripts/fuzz.sh [SECONDS] [BUILD] [HARNESS...]
#   BUILD: build-test, which scripts/test.sh builds; HARNESS: spec tensor_files sweep tuned_db
#   results_db onnx (all by default). With ARCHBENCH_FUZZ_RUNS=N each runs N inputs instead
#   (SECONDS is then only a limit), as the long runs in the README were made.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
build="${2:-build-test}"
root="$PWD"
out="$build/fuzz"
mkdir -p "$out"
seeds="$(mktemp -d)"
trap 'rm -rf "$seeds"' EXIT
harnesses=(spec tensor_files sweep tuned_db results_db onnx)
[ $# -gt 2 ] && harnesses=("${@:3}")
for h in spec tensor_files sweep tuned_db results_db onnx; do mkdir -p "$seeds/$h"; done
# Specs: the zoo and every bad spec (whose includes resolve against tests/bad_specs/).
cp networks/zoo/*.yaml tests/bad_specs/*.yaml "$seeds/spec/"
# Tensor files: the harness reads its first byte as the format (odd: .npy), the rest as the file.
while IFS= read -r f; do
  case "$f" in
    *.npy) (printf '\001'; cat "$f") >"$seeds/tensor_files/$(basename "$f")" ;;
    *) (printf '\000'; cat "$f") >"$seeds/tensor_files/$(basename "$f")" ;;
  esac
done < <(find tests -name '*.npy' -size -64k -o -name '*.safetensors' -size -64k | sort)
# Sweep files: the shipped ones, the test fixtures and every bad sweep. The harness writes its
# input into a copy of tests/fixtures/sweeps, so the fixtures' relative spec paths resolve.
cp configs/sweeps/*.yaml tests/fixtures/sweeps/*.yaml "$seeds/sweep/"
for f in tests/bad_sweeps/*.yaml; do cp "$f" "$seeds/sweep/bad-$(basename "$f")"; done
tree="$seeds/tree"
mkdir -p "$tree/tests/fixtures"
cp -r tests/bad_specs "$tree/tests/"
cp -r tests/fixtures/sweeps tests/fixtures/*.yaml "$tree/tests/fixtures/"
# Tuned databases: the shipped ones, cut to their first 1, 4 and 12 entries.
for f in configs/tuned/*.yaml; do
  for n in 1 4 12; do
    awk -v n="$n" '/^      - signature:/ { if (++e > n) exit } { print }' "$f" >"$seeds/tuned_db/$n-$(basename "$f")"
  done
done
# ONNX models: the ones tests/test_onnx_import.cpp builds (conv/batch norm/pool/Gemm with torch's
# shape arithmetic, the activation, GELU, LayerNorm and channel-shuffle patterns, unsupported nodes).
cp tests/fuzz/corpus_onnx/*.onnx "$seeds/onnx/"
# Results databases: the tiny sweep's (ok and failed cases) as written, then compacted to
# 512-byte pages, and a copy at schema version 1 (upgraded when opened).
app="$build/archbench"
[ -x "$app" ] || { echo "fuzz: $app is not built (scripts/test.sh builds it)"; exit 1; }
"$app" sweep tests/fixtures/sweeps/tiny.yaml --db "$seeds/r.sqlite" >/dev/null 2>&1
sqlite3 -batch "$seeds/r.sqlite" "PRAGMA journal_mode = DELETE; PRAGMA page_size = 512; VACUUM" >/dev/null
cp "$seeds/r.sqlite" "$seeds/results_db/v2.sqlite"
sqlite3 -batch "$seeds/r.sqlite" "ALTER TABLE cases DROP COLUMN scratch_bytes; ALTER TABLE case_kernels DROP COLUMN
  schedule; PRAGMA user_version = 1; UPDATE meta SET value = '1' WHERE key = 'schema_version'; VACUUM"
cp "$seeds/r.sqlite" "$seeds/results_db/v1.sqlite"

failed=0
for harness in "${harnesses[@]}"; do
  bin="$build/tests/fuzz/archbench_fuzz_$harness"
  [ -x "$bin" ] || { echo "fuzz: $bin is not built (scripts/test.sh builds it; clang only)"; exit 1; }
  mkdir -p "$out/$harness-corpus"
  regressions=()
  [ -d "tests/fuzz/regressions/$harness" ] && regressions=("tests/fuzz/regressions/$harness")
  log="$out/$harness.log"
  dir="$root/tests/bad_specs"
  [ "$harness" = sweep ] && dir="$tree/tests/fixtures/sweeps"
  runs=()
  [ -n "${ARCHBENCH_FUZZ_RUNS:-}" ] && runs=(-runs="$ARCHBENCH_FUZZ_RUNS")
  if ARCHBENCH_FUZZ_DIR="$dir" "$bin" -max_total_time="$seconds" "${runs[@]}" -timeout=1 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/$harness-" \
       "$out/$harness-corpus" "$seeds/$harness" "${regressions[@]}" >"$log" 2>&1; then
    echo "fuzz $harness: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") executions in ${seconds} s," \
      "$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")/s, no finding (corpus: $(ls "$out/$harness-corpus" | wc -l) inputs)"
  else
    echo "FAIL: fuzz $harness found something; the log's end (all of it in $log):"
    tail -n 30 "$log"
    failed=1
  fi
done
exit "$failed"
