#!/usr/bin/env bash
# The GPU check, one command on a machine with an NVIDIA GPU. Builds nothing: run it in a
# checkout whose build-test/ was built elsewhere (the cuda kernel set compiles without a GPU).
#   1. the cuda kernel set's correctness tests (every family on the PyTorch fixtures, fused
#      blocks with each GPU conv schedule, two zoo networks) against the reference executor;
#   2. `archbench bench --target cuda` at batch 1 and 8: alexnet, vgg16, resnet50, unet (572x572,
#      1 channel), deeplabv3_resnet50 (512x512);
#   3. where PyTorch with CUDA is installed, the same networks in PyTorch + cuDNN (fp32, TF32
#      off, cudnn.benchmark on; bench/gpu/pytorch_cuda.py) and the ratio archbench / PyTorch;
#   4. each GPU conv schedule forced on every conv of those networks at batch 1 (the figures
#      that choose the default between them), started only while the script has run less than
#      BUDGET_S seconds (default 420), so a device session's time limit cuts the least
#      important step; every result is a file under the output folder as soon as it exists.
# Writes its results under ${OUT:-gpu-check}/ and prints a summary table. Runs from
# BUILD/gpu-bundle/bundle.tar.gz, unpacked into a temporary folder, when bench/gpu/bundle.sh
# made one (executables + their shared libraries, for a machine without this project's
# Debian packages), else from BUILD/.
# usage: bench/gpu/check.sh [BUILD_DIR]   (default: build-test, the test preset)
# A dry run of the script itself elsewhere: TARGET=opencl NETS="alexnet@64" BATCHES=1 (PoCL);
# SCHEDULES="gpu-tiled" narrows step 3.
set -uo pipefail
target=${TARGET:-cuda}
budget=${BUDGET_S:-420}
read -r -a nets <<<"${NETS:-alexnet@224 vgg16@224 resnet50@224 unet@572 deeplabv3_resnet50@512}"
read -r -a batches <<<"${BATCHES:-1 8}"
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build-test}
out=${OUT:-$here/gpu-check}
mkdir -p "$out"
if [ -f "$build/gpu-bundle/bundle.tar.gz" ]; then
  bundle=$(mktemp -d)
  trap 'rm -rf "$bundle"' EXIT
  tar -C "$bundle" -xzf "$build/gpu-bundle/bundle.tar.gz" || { echo "check: cannot unpack the bundle" >&2; exit 1; }
  ab="$bundle/archbench"
  tests="$bundle/archbench_kernel_set_tests"
  export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  ab="$build/archbench"
  tests="$build/tests/archbench_kernel_set_tests"
fi
# The zoo and the test fixtures of this checkout, wherever it was built.
export ARCHBENCH_ZOO="$here/networks/zoo" ARCHBENCH_TEST_DIR="$here/tests"
[ -x "$ab" ] || { echo "check: no $ab (build first: cmake --preset test && cmake --build --preset test)" >&2; exit 1; }
if ldd "$ab" | grep -q "not found"; then
  echo "check: $ab is missing shared libraries on this machine:" >&2
  ldd "$ab" | grep "not found" >&2
  exit 1
fi
"$ab" targets | tee "$out/targets.txt"
grep -q "^$target .*runs here" "$out/targets.txt" || { echo "check: the $target kernel set cannot run here" >&2; exit 1; }

echo "== correctness: the $target kernel set against PyTorch's fixtures and the reference executor"
"$tests" --run_test="gpu_$target" --log_level=test_suite --report_level=short \
  > "$out/tests.txt" 2>&1
tests_rc=$?
tail -5 "$out/tests.txt"

echo "== latency: archbench --target $target"
for spec in "${nets[@]}"; do
  name=${spec%@*} size=${spec#*@}
  channels=3
  [ "$name" = unet ] && channels=1
  for batch in "${batches[@]}"; do
    "$ab" bench "$name" --target "$target" --input "$batch,$channels,$size,$size" --repetitions 30 --warmup 5 \
      --format json -o "$out/archbench-$name-b$batch.json" 2> "$out/archbench-$name-b$batch.err" ||
      echo "check: archbench bench $name batch $batch failed: $(tail -1 "$out/archbench-$name-b$batch.err")"
  done
done

echo "== latency: PyTorch + cuDNN"
if [ "$target" = cuda ] &&
  python3 -c "import torch, torchvision, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  python3 "$here/bench/gpu/pytorch_cuda.py" --batches "$(IFS=,; echo "${batches[*]}")" "${nets[@]}" > "$out/pytorch.jsonl" 2> "$out/pytorch.err" ||
    echo "check: pytorch_cuda.py failed: $(tail -1 "$out/pytorch.err")"
else
  echo "check: no PyTorch with CUDA here; archbench figures only"
  : > "$out/pytorch.jsonl"
fi

echo "== latency: each GPU conv schedule forced on every conv (batch 1), to choose the default"
read -r -a schedules <<<"${SCHEDULES:-gpu-tiled gpu-simple gpu-c8}"
for spec in "${nets[@]}"; do
  name=${spec%@*} size=${spec#*@}
  channels=3
  [ "$name" = unet ] && channels=1
  for schedule in "${schedules[@]}"; do
    if [ "$SECONDS" -ge "$budget" ]; then
      echo "check: skipped $name --schedule $schedule: past the ${budget} s budget (BUDGET_S)"
      continue
    fi
    "$ab" bench "$name" --target "$target" --input "1,$channels,$size,$size" --schedule "$schedule" \
      --repetitions 20 --warmup 3 --format json -o "$out/schedule-$name-$schedule.json" \
      2> "$out/schedule-$name-$schedule.err" ||
      echo "check: archbench bench $name --schedule $schedule failed: $(tail -1 "$out/schedule-$name-$schedule.err")"
  done
done

python3 - "$out" "${nets[*]}" "${batches[*]}" "${schedules[*]}" <<'PY'
import json, os, sys
out = sys.argv[1]
nets = [n.split("@")[0] for n in sys.argv[2].split()]
batches = [int(b) for b in sys.argv[3].split()]
torch = {}
for line in open(os.path.join(out, "pytorch.jsonl")):
    r = json.loads(line)
    if "median_ms" in r:
        torch[(r["network"], r["batch"])] = r["median_ms"]
print(f"{'network':<20} {'batch':>5} {'archbench ms':>13} {'upload ms':>10} {'PyTorch ms':>11} {'ratio':>7}")
for name in nets:
    for batch in batches:
        path = os.path.join(out, f"archbench-{name}-b{batch}.json")
        ab = json.load(open(path))["latency_ms"]["median"] if os.path.exists(path) else None
        up = json.load(open(path))["transfers_ms"]["upload"] if os.path.exists(path) else None
        pt = torch.get((name, batch))
        ratio = f"{ab / pt:7.2f}" if ab and pt else "      -"
        fmt = lambda v: f"{v:.3f}" if v is not None else "-"
        print(f"{name:<20} {batch:>5} {fmt(ab):>13} {fmt(up):>10} {fmt(pt):>11} {ratio}")
print()
schedules = sys.argv[4].split()
print(f"{'network (batch 1)':<20} " + " ".join(f"{s:>12}" for s in schedules) + "   (median ms, every conv forced)")
for name in nets:
    row = []
    for s in schedules:
        path = os.path.join(out, f"schedule-{name}-{s}.json")
        row.append(f"{json.load(open(path))['latency_ms']['median']:12.3f}" if os.path.exists(path) else f"{'-':>12}")
    print(f"{name:<20} " + " ".join(row))
PY
exit $tests_rc
