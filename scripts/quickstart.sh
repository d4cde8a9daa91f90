#!/usr/bin/env bash
# The main job: install what is missing, build, and analyse the whole zoo side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
build/archbench compare "$@"
