#!/usr/bin/python3
"""archbench's conv kernels against PyTorch's, one layer at a time, side by side.

For each conv shape (the hot layers of ResNet-50, VGG-16 and DeepLabV3, and depthwise ones of
MobileNet-V2 and EfficientNet-B0): a one-layer spec through `archbench bench --per-layer` (the
kernel call's median, conv + bias + relu fused, as the executor runs it on a channels-last
input; not the copy of the NCHW input in and the output out around it) and the same conv +
relu in PyTorch (median of --runs after warm-up, the better of channels-first and
channels-last), alternating the two --rounds times and keeping each side's best median (this
machine's speed drifts over minutes). Prints one row per layer: both medians, GFLOP/s, and
the ratio archbench / PyTorch.

Caps both sides at one x86-64 level with --isa (ARCHBENCH_CPU_ISA for archbench,
ONEDNN_MAX_CPU_ISA for PyTorch's oneDNN convs): the code an AVX2 machine runs, timed here.
Needs Debian's python3-torch (scripts/setup.sh --peers).
usage: bench/peers/pytorch_layers.py [--archbench build/archbench] [--threads 2] [--runs 20]
                                     [--rounds 2] [--isa avx512|avx2] [--schedule default|...] [LAYER...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


# name: (input channels, output channels, kernel, stride, dilation, padding, height/width, groups)
LAYERS = {
    "resnet50.layer1.3x3": (64, 64, 3, 1, 1, 1, 56, 1),
    "resnet50.layer1.1x1": (64, 256, 1, 1, 1, 0, 56, 1),
    "resnet50.layer3.3x3": (256, 256, 3, 1, 1, 1, 14, 1),
    "resnet50.layer4.3x3": (512, 512, 3, 1, 1, 1, 7, 1),
    "resnet50.stem.7x7s2": (3, 64, 7, 2, 1, 3, 224, 1),
    "vgg16.conv3.3x3": (128, 256, 3, 1, 1, 1, 56, 1),
    "vgg16.conv5.3x3": (512, 512, 3, 1, 1, 1, 14, 1),
    "deeplabv3.layer4.3x3d4": (512, 512, 3, 1, 4, 4, 64, 1),
    "mobilenet_v2.dw3x3": (144, 144, 3, 1, 1, 1, 56, 144),
    "mobilenet_v2.dw3x3s2": (96, 96, 3, 2, 1, 1, 112, 96),
    "mobilenet_v2.dw3x3.7x7": (960, 960, 3, 1, 1, 1, 7, 960),
    "efficientnet_b0.dw5x5": (672, 672, 5, 1, 1, 2, 14, 672),
    "efficientnet_b0.dw5x5s2": (144, 144, 5, 2, 1, 2, 56, 144),
}


def spec(name, cin, cout, k, stride, dilation, pad, size, groups):
    return (f"name: {name.replace('.', '_')}\ninput: [1, {cin}, {size}, {size}]\nlayers:\n"
            f"  - {{name: conv, op: conv, out: {cout}, kernel: {k}, stride: {stride}, dilation: {dilation}, "
            f"padding: {pad}, groups: {groups}}}\n  - {{name: conv_relu, op: relu}}\n")


def flops(cin, cout, k, stride, dilation, pad, size, groups):
    out = (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    return 2.0 * cout * out * out * (cin // groups) * k * k


def torch_layer(torch, layer):
    """The layer in PyTorch, conv + relu, and its input."""
    cin, cout, k, stride, dilation, pad, size, groups = layer
    conv = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, groups=groups)
    return torch.nn.Sequential(conv, torch.nn.ReLU()).eval(), torch.rand(1, cin, size, size)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archbench", default="build/archbench")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--isa", choices=["avx512", "avx2"], help="cap both sides at this x86-64 level")
    ap.add_argument("--schedule", default="default", help="archbench's conv schedule")
    ap.add_argument("--depthwise-schedule", default="default", help="archbench's depthwise conv schedule")
    ap.add_argument("layers", nargs="*", default=list(LAYERS))
    args = ap.parse_args()
    if args.isa:  # before torch loads oneDNN, which reads it once
        os.environ["ARCHBENCH_CPU_ISA"] = args.isa
        os.environ["ONEDNN_MAX_CPU_ISA"] = {"avx512": "AVX512_CORE", "avx2": "AVX2"}[args.isa]
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from pytorch_cpu import time_torch  # the better of channels-first and channels-last
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"{'layer':<26} {'PyTorch ms':>10} {'archbench ms':>12} {'archbench GFLOP/s':>18} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.layers:
            if name not in LAYERS:
                sys.exit(f"unknown layer '{name}' (one of: {', '.join(LAYERS)})")
            layer = LAYERS[name]
            path = os.path.join(tmp, f"{name}.yaml")
            with open(path, "w") as f:
                f.write(spec(name, *layer))
            ours = theirs = float("inf")
            for _ in range(args.rounds):
                out = subprocess.run([args.archbench, "bench", path, "--threads", str(args.threads), "--schedule",
                                      args.schedule, "--depthwise-schedule", args.depthwise_schedule, "--repetitions",
                                      str(args.runs), "--per-layer", "--format", "json"],
                                     check=True, capture_output=True, text=True).stdout
                ours = min(ours, sum(layer["median_ms"] for layer in json.loads(out)["layers"]))
                theirs = min(theirs, time_torch(*torch_layer(torch, layer), args.runs))
            gflops = flops(*layer) / (ours * 1e-3) / 1e9
            print(f"{name:<26} {theirs:10.3f} {ours:12.3f} {gflops:18.1f} {ours / theirs:6.2f}", flush=True)
    print(f"\nthreads {args.threads}, batch 1, fp32, conv + bias + relu (archbench: the kernel call), "
          f"archbench --schedule {args.schedule}"
          f" --depthwise-schedule {args.depthwise_schedule}"
          f"{', both capped at ' + args.isa if args.isa else ''}; median of {args.runs} runs, the better of "
          f"{args.rounds} alternating rounds; PyTorch: the better of channels-first and channels-last")


if __name__ == "__main__":
    main()
