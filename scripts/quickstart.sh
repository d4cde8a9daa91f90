#!/usr/bin/env bash
# The main job: install what is missing, build, run the default sweep (the zoo on this CPU)
# into results.sqlite and write the comparison report to report/.
# Extra arguments go to the sweep (e.g. --resume after an interruption).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
build/archbench sweep configs/sweeps/default.yaml --db results.sqlite "$@"
build/archbench report --db results.sqlite -o report
echo "quickstart: open report/report.html (or read report/report.md)"
