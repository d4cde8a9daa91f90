#!/usr/bin/env bash
# Packs what bench/gpu/check.sh runs into BUILD/gpu-bundle/bundle.tar.gz: archbench, the
# kernel-set test executable, and the shared libraries they need beyond glibc (yaml-cpp, fmt,
# Google Benchmark, SQLite, Boost.Test, libstdc++), so a GPU machine without this project's
# Debian packages can run the check from a copy of the checkout plus that one folder.
# Compressed: the two executables hold every kernel set at four x86-64 levels (about 30 MB
# each, 63 MB with the libraries), and the device tool carries at most 64 MiB with the
# checkout; gzip takes them to about a third.
# usage: bench/gpu/bundle.sh [BUILD_DIR]   (default: build-test, the test preset: every set, with the tests)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build-test}
out="$build/gpu-bundle"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib"
cp "$build/archbench" "$build/tests/archbench_kernel_set_tests" "$stage/"
ldd "$build/archbench" "$build/tests/archbench_kernel_set_tests" | awk '/=> \// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done
rm -rf "$out"
mkdir -p "$out"
tar -C "$stage" -czf "$out/bundle.tar.gz" .
bytes=$(stat -c %s "$out/bundle.tar.gz")
echo "bundle: $out/bundle.tar.gz, $((bytes / 1048576)) MiB"
# What travels to the device: the bundle and the checkout's tracked files, within 64 MiB.
tree=$(git -C "$here" ls-files -z | (cd "$here" && xargs -0 du -cb 2>/dev/null) | tail -1 | cut -f1)
if [ $((bytes + tree)) -gt $((60 * 1048576)) ]; then
  echo "bundle: with the checkout ($((tree / 1048576)) MiB) over 60 MiB; the device tool carries at most 64" >&2
  exit 1
fi
