#!/usr/bin/env bash
# The whole test suite: install what is missing, build with warnings as errors, run every
# test; then the same under AddressSanitizer + UBSan (skip with ARCHBENCH_NO_ASAN=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
jobs="$(nproc)"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"
if [ "${ARCHBENCH_NO_ASAN:-0}" != 1 ]; then
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs"
  ctest --preset asan -j "$jobs"
fi
echo "test.sh: all tests passed"
