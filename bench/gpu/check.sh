#!/usr/bin/env bash
# The GPU check, one command on a machine with an NVIDIA GPU. Builds nothing: run it in a
# checkout whose build/ was built elsewhere (the cuda kernel set compiles without a GPU).
#   1. the cuda kernel set's correctness tests (every family on the PyTorch fixtures, fused
#      blocks with both GPU conv schedules, two zoo networks) against the reference executor;
#   2. `archbench bench --target cuda` at batch 1 and 8: alexnet, vgg16, resnet50, unet (572x572,
#      1 channel), deeplabv3_resnet50 (512x512);
#   3. where PyTorch with CUDA is installed, the same networks in PyTorch + cuDNN (fp32, TF32
#      off, cudnn.benchmark on; bench/gpu/pytorch_cuda.py) and the ratio archbench / PyTorch.
# Writes its results under ${OUT:-gpu-check}/ and prints a summary table.
# usage: bench/gpu/check.sh [BUILD_DIR]   (default: build)
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
out=${OUT:-$here/gpu-check}
mkdir -p "$out"
ab="$build/archbench"
[ -x "$ab" ] || { echo "check: no $ab (build first: cmake --build build)" >&2; exit 1; }
if ldd "$ab" | grep -q "not found"; then
  echo "check: $ab is missing shared libraries on this machine:" >&2
  ldd "$ab" | grep "not found" >&2
  exit 1
fi
"$ab" targets | tee "$out/targets.txt"
grep -q "^cuda .*runs here" "$out/targets.txt" || { echo "check: the cuda kernel set cannot run here" >&2; exit 1; }

echo "== correctness: the cuda kernel set against the reference executor"
"$build/tests/archbench_kernel_tests" --run_test=gpu_cuda --log_level=test_suite --report_level=short \
  > "$out/tests.txt" 2>&1
tests_rc=$?
tail -5 "$out/tests.txt"

echo "== latency: archbench --target cuda"
nets=("alexnet@224" "vgg16@224" "resnet50@224" "unet@572" "deeplabv3_resnet50@512")
for spec in "${nets[@]}"; do
  name=${spec%@*} size=${spec#*@}
  channels=3
  [ "$name" = unet ] && channels=1
  for batch in 1 8; do
    "$ab" bench "$name" --target cuda --input "$batch,$channels,$size,$size" --repetitions 30 --warmup 5 \
      --format json -o "$out/archbench-$name-b$batch.json" 2> "$out/archbench-$name-b$batch.err" ||
      echo "check: archbench bench $name batch $batch failed: $(tail -1 "$out/archbench-$name-b$batch.err")"
  done
done

echo "== latency: PyTorch + cuDNN"
if python3 -c "import torch, torchvision, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  python3 "$here/bench/gpu/pytorch_cuda.py" --batches 1,8 "${nets[@]}" > "$out/pytorch.jsonl" 2> "$out/pytorch.err" ||
    echo "check: pytorch_cuda.py failed: $(tail -1 "$out/pytorch.err")"
else
  echo "check: no PyTorch with CUDA here; archbench figures only"
  : > "$out/pytorch.jsonl"
fi

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
torch = {}
for line in open(os.path.join(out, "pytorch.jsonl")):
    r = json.loads(line)
    if "median_ms" in r:
        torch[(r["network"], r["batch"])] = r["median_ms"]
print(f"{'network':<20} {'batch':>5} {'archbench ms':>13} {'upload ms':>10} {'PyTorch ms':>11} {'ratio':>7}")
for name in ["alexnet", "vgg16", "resnet50", "unet", "deeplabv3_resnet50"]:
    for batch in (1, 8):
        path = os.path.join(out, f"archbench-{name}-b{batch}.json")
        ab = json.load(open(path))["latency_ms"]["median"] if os.path.exists(path) else None
        up = json.load(open(path))["transfers_ms"]["upload"] if os.path.exists(path) else None
        pt = torch.get((name, batch))
        ratio = f"{ab / pt:7.2f}" if ab and pt else "      -"
        fmt = lambda v: f"{v:.3f}" if v is not None else "-"
        print(f"{name:<20} {batch:>5} {fmt(ab):>13} {fmt(up):>10} {fmt(pt):>11} {ratio}")
PY
exit $tests_rc
