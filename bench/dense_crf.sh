#!/usr/bin/env bash
# The dense CRF's speed: 10 iterations on a 500x375 image with 21 labels (a PASCAL VOC image's
# size), a block-coloured image (as photographs are) and a noise image (the lattice's worst
# case: nearly P (d + 1) lattice points), with 2 threads and 1, the Halide mean-field update
# (what `archbench run` uses) and the built-in C++ one, best of 5; and the exact path on 40x30
# for scale. Builds build/archbench_dense_crf_bench (tests/test_dense_crf_standalone.cpp with
# the kernels, as the release build compiles them) and runs its checks too.
# usage: bench/dense_crf.sh   (after the build; measure nothing else meanwhile: the machine is shared)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build --target archbench_dense_crf_bench -j "$(nproc)" >/dev/null
build/archbench_dense_crf_bench
