#!/usr/bin/env bash
# The dense CRF's speed: 10 iterations on a 500x375 image with 21 labels (a PASCAL VOC image's
# size), a block-coloured image (as photographs are) and a noise image (the lattice's worst
# case: nearly P (d + 1) lattice points), with 2 threads and 1, best of 3; and the exact path on
# 40x30 for scale. Compiles tests/test_dense_crf_standalone.cpp with runtime/dense_crf.cpp as
# the release build would (-O3, this machine's ISA) and runs its checks too.
# usage: bench/dense_crf.sh   (measure nothing else meanwhile: the machine is shared)
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
g++ -std=c++20 -O3 -march=native -DNDEBUG -pthread -I. runtime/dense_crf.cpp tests/test_dense_crf_standalone.cpp \
  -o "$out/dense_crf"
"$out/dense_crf"
