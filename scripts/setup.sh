#!/usr/bin/env bash
# Installs the Debian packages archbench needs, and only those that are missing.
# Idempotent; apt-get only. Run as root or with sudo available.
# --peers also installs what the peer comparisons in bench/peers/ need (PyTorch); --tests what
# the test suite needs beyond the build (headless Chromium for the HTML report, the sqlite3 tool,
# PoCL for the opencl kernel set).
set -euo pipefail

packages=(
  cmake g++ make ninja-build pkg-config git
  libhalide14-0-dev        # Halide 14 and its autoscheduler plugins (kernels, next issues)
  libyaml-cpp-dev          # spec loading
  libfmt-dev               # formatting
  libcli11-dev             # the command line
  nlohmann-json3-dev       # JSON output
  libboost-test-dev        # test suites
  libsqlite3-dev           # results database
  libbenchmark-dev         # benchmarks
  libonnx-dev libprotobuf-dev  # ONNX import and export
  ocl-icd-libopencl1       # the OpenCL loader the opencl kernel set opens at run time
)

for arg in "$@"; do
  case "$arg" in
    --peers) packages+=(python3-torch python3-torchvision python3-numpy) ;;
    # the report opened headless; the database inspected; PoCL, a CPU OpenCL driver on which the
    # opencl kernel set's tests run where there is no GPU; clang and its sanitizer runtimes, which
    # compile the sanitized test build (a third faster than g++ there); Slurm and munge, which
    # tests/slurm_test.sh starts as a one-node cluster of its own
    --tests) packages+=(chromium sqlite3 pocl-opencl-icd clang libclang-rt-14-dev slurm-wlm munge) ;;
    *) echo "setup: unknown option $arg (--peers, --tests)" >&2; exit 1 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -q
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
