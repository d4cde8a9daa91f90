#!/usr/bin/env bash
# The whole test suite: install what is missing, build the test preset (build-test/: the cpu
# kernel set for every x86-64 level, both GPU sets, our code compiled by clang with warnings as
# errors under AddressSanitizer + UBSan) and run every test. ARCHBENCH_SANITIZE=OFF builds without the
# sanitizers. Prints the slowest tests at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
jobs="$(nproc)"
# The test preset builds with Ninja: a build-test/ that Make configured is configured afresh.
if [ -f build-test/CMakeCache.txt ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' build-test/CMakeCache.txt; then
  echo "test.sh: build-test/ was configured for another generator; configuring it for Ninja"
  rm -rf build-test/CMakeCache.txt build-test/CMakeFiles
fi
cmake --preset test -DARCHBENCH_SANITIZE="${ARCHBENCH_SANITIZE:-ON}" >/dev/null
cmake --build --preset test -j "$((jobs + 1))"  # one job more than cores: fewer idle moments
ctest --preset test -j "$jobs"
echo "test.sh: the slowest tests (seconds):"
sort -k3 -rn build-test/Testing/Temporary/CTestCostData.txt 2>/dev/null | awk 'NF == 3 { printf "  %-16s %6.1f\n", $1, $3 }' | head -n 6
echo "test.sh: all tests passed in $((SECONDS / 60))m$((SECONDS % 60))s"
