#!/usr/bin/env bash
# Packs what bench/gpu/check.sh runs into BUILD/gpu-bundle/ (a few tens of MB): archbench, the
# kernel-set test executable, and the shared libraries they need beyond glibc (yaml-cpp, fmt,
# Google Benchmark, SQLite, Boost.Test, libstdc++), so a GPU machine without this project's
# Debian packages can run the check from a copy of the checkout plus that one folder.
# usage: bench/gpu/bundle.sh [BUILD_DIR]   (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
out="$build/gpu-bundle"
rm -rf "$out"
mkdir -p "$out/lib"
cp "$build/archbench" "$build/tests/archbench_kernel_set_tests" "$out/"
ldd "$build/archbench" "$build/tests/archbench_kernel_set_tests" | awk '/=> \// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$out/lib/"; done
du -sh "$out"
