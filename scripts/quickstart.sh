#!/usr/bin/env bash
# The main job: install what is missing, build archbench for this machine (its CPU's x86-64
# level, the GPU kernel sets of the GPUs it has, no tests), run the default sweep (the zoo on
# this CPU) into results.sqlite and write the comparison report to report/.
# ARCHBENCH_PORTABLE=1 builds for any x86-64 machine instead (every level, both GPU sets, every
# baseline: with the tests as well, that build took 16.6 min here against 4.3 min for this
# machine's). Extra arguments go to the sweep (e.g. --resume after
# an interruption). `build/archbench report --db results.sqlite --networks a,b -o DIR` reports
# some networks only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The release preset builds with Ninja: a build/ that Make configured is configured afresh.
if [ -f build/CMakeCache.txt ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' build/CMakeCache.txt; then
  echo "quickstart: build/ was configured for another generator; configuring it for Ninja"
  rm -rf build/CMakeCache.txt build/CMakeFiles
fi
portable=OFF
[ "${ARCHBENCH_PORTABLE:-0}" = 1 ] && portable=ON
configured=$(cmake --preset release -DARCHBENCH_PORTABLE="$portable" 2>&1) || {
  printf '%s\n' "$configured" >&2
  exit 1
}
printf '%s\n' "$configured" | sed -n 's/^-- archbench: /configure: /p'
if ! cmake --build --preset release -j "$(($(nproc) + 1))" --target archbench 2>&1 | scripts/build_progress.sh build build/build.log; then
  echo "quickstart: the build failed; the end of build/build.log:" >&2
  tail -n 40 build/build.log >&2
  exit 1
fi
build/archbench sweep configs/sweeps/default.yaml --db results.sqlite "$@"
build/archbench report --db results.sqlite -o report
echo "quickstart: done in $((SECONDS / 60))m$((SECONDS % 60))s; open report/report.html (or read report/report.md)"
