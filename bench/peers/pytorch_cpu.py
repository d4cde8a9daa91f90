#!/usr/bin/python3
"""archbench against PyTorch on the CPU: same weights, same input, same thread count.

For each network: build the torchvision model (random weights, seeded; batch-norm running
statistics randomised so folding is exercised), save its state_dict as .safetensors and the
input as .npy, run `archbench run` to compare outputs and `archbench bench` for latency, and
time PyTorch (median of --runs runs after warm-up, channels-first and channels-last, the
better one). Prints one row per network: max abs / rel difference and the latency ratio
archbench / PyTorch.

Needs Debian's python3-torch and python3-torchvision (no downloads: weights are random).
usage: bench/peers/pytorch_cpu.py [--archbench build/archbench] [--threads 2] [--runs 10] [--rounds 2]
                                  [--schedule default|tuned|...] [NET...]
(--schedule tuned reads configs/tuned/: run `archbench tune NET --input ...` first.)
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision

NETWORKS = {
    # name: (builder, input size, zoo spec)
    "alexnet": (lambda: torchvision.models.alexnet(), 224),
    "vgg16": (lambda: torchvision.models.vgg16(), 224),
    "googlenet": (lambda: torchvision.models.googlenet(aux_logits=False, init_weights=True), 224),
    "resnet50": (lambda: torchvision.models.resnet50(), 224),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), 224),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(), 224),
    "densenet121": (lambda: torchvision.models.densenet121(), 224),
    "fcn_resnet50": (lambda: torchvision.models.segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, aux_loss=False), 512),
    "deeplabv3_resnet50": (lambda: torchvision.models.segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, aux_loss=False), 512),
}


def write_safetensors(path, tensors):
    """The safetensors format: u64 LE header length, JSON header, raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().cpu().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def main_output(result):
    return result["out"] if isinstance(result, dict) else result


def time_torch(model, x, runs):
    best = None
    for channels_last in (False, True):
        m = model.to(memory_format=torch.channels_last) if channels_last else model
        xi = x.to(memory_format=torch.channels_last) if channels_last else x
        with torch.no_grad():
            for _ in range(3):
                m(xi)
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                m(xi)
                times.append((time.perf_counter() - t0) * 1e3)
        median = float(np.median(times))
        best = median if best is None else min(best, median)
    return best


def run_and_time(archbench, common, model, x, want, runs, rounds, tmp, name):
    """`archbench run` on x against PyTorch's output `want`, then `archbench bench` and PyTorch
    timed alternately `rounds` times, each side's best median kept (this machine's speed drifts
    over minutes, and alternating exposes both to it). `common`: the arguments both archbench
    commands take (network, weights, threads, ...). Returns (max |diff|, that over max |want|,
    archbench ms, PyTorch ms)."""
    xfile, yfile = (os.path.join(tmp, f"{name}.{ext}") for ext in ("x.npy", "y.npy"))
    np.save(xfile, x.numpy())
    subprocess.run([archbench, "run", *common, "--input-file", xfile, "--output-file", yfile], check=True,
                   stdout=subprocess.DEVNULL)
    got = np.load(yfile).reshape(want.shape)
    abs_diff = float(np.max(np.abs(got - want)))
    ours = theirs = float("inf")
    for _ in range(rounds):
        bench = json.loads(subprocess.run([archbench, "bench", *common, "--format", "json", "--repetitions", str(runs)],
                                          check=True, capture_output=True, text=True).stdout)
        ours = min(ours, bench["latency_ms"]["median"])
        theirs = min(theirs, time_torch(model, x, runs))
    return abs_diff, abs_diff / max(1e-12, float(np.max(np.abs(want)))), ours, theirs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archbench", default="build/archbench")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2, help="alternations of archbench and PyTorch timing")
    ap.add_argument("--schedule", default="default", help="archbench's conv schedule (default, tuned, ...)")
    ap.add_argument("networks", nargs="*", default=list(NETWORKS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.networks:
            build, size = NETWORKS[name]
            torch.manual_seed(0)
            model = build().eval()
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
            weights = {k: v for k, v in model.state_dict().items() if v.dtype == torch.float32}
            wfile = os.path.join(tmp, f"{name}.safetensors")
            write_safetensors(wfile, weights)
            x = torch.rand(1, 3, size, size)
            with torch.no_grad():
                want = main_output(model(x)).numpy()
            common = [name, "--input", f"1,3,{size},{size}", "--weights", wfile, "--threads", str(args.threads),
                      "--schedule", args.schedule]
            abs_diff, rel_diff, ours, theirs = run_and_time(args.archbench, common, model, x, want, args.runs,
                                                            args.rounds, tmp, name)
            rows.append((name, abs_diff, rel_diff, theirs, ours, ours / theirs))
            print(f"{name:20s} max|diff| {abs_diff:.2e} (rel {rel_diff:.2e})  PyTorch {theirs:9.2f} ms  "
                  f"archbench {ours:9.2f} ms  ratio {ours / theirs:.2f}", flush=True)
    print(f"\nthreads {args.threads}, batch 1, fp32, archbench --schedule {args.schedule}; latency = median of {args.runs} runs after warm-up, the "
          f"better of {args.rounds} alternating rounds; PyTorch: the better of channels-first and channels-last; "
          "ratio = archbench / PyTorch")


if __name__ == "__main__":
    sys.exit(main())
