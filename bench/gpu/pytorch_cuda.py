#!/usr/bin/python3
"""PyTorch + cuDNN latency of torchvision twins of zoo networks on a CUDA device (the peer of
`archbench bench --target cuda`): fp32 with TF32 off, cudnn.benchmark on, eval mode, random
weights (latency does not depend on their values), the input already on the device. Per
network and batch: median of --runs timed forward passes after --warmup, each ended by
torch.cuda.synchronize(); channels-first and channels-last, the better one.

Prints one JSON object per line: {"network", "batch", "size", "median_ms", "layout"}.
usage: bench/gpu/pytorch_cuda.py [--batches 1,8] [--runs 50] [--warmup 10] NET[@SIZE]...
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torchvision

BUILDERS = {
    "alexnet": lambda: torchvision.models.alexnet(),
    "vgg16": lambda: torchvision.models.vgg16(),
    "googlenet": lambda: torchvision.models.googlenet(aux_logits=False, init_weights=True),
    "resnet50": lambda: torchvision.models.resnet50(),
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(),
    "fcn_resnet50": lambda: torchvision.models.segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, aux_loss=False),
    "deeplabv3_resnet50": lambda: torchvision.models.segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, aux_loss=False),
}


def time_model(model, x, runs, warmup):
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        torch.cuda.synchronize()
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x)
            torch.cuda.synchronize()
            samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("networks", nargs="+", help="NET or NET@SIZE (default size 224)")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    a = p.parse_args()
    if not torch.cuda.is_available():
        print("pytorch_cuda: PyTorch finds no CUDA device", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    for spec in a.networks:
        name, _, size = spec.partition("@")
        size = int(size or 224)
        if name not in BUILDERS:
            print(json.dumps({"network": name, "skipped": "no torchvision twin"}), flush=True)
            continue
        for batch in (int(b) for b in a.batches.split(",")):
            torch.manual_seed(0)
            model = BUILDERS[name]().eval().to(dev)
            x = torch.randn(batch, 3, size, size, device=dev)
            best = None
            for layout in ("channels_first", "channels_last"):
                fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
                m = model.to(memory_format=fmt)
                ms = time_model(m, x.contiguous(memory_format=fmt), a.runs, a.warmup)
                if best is None or ms < best[0]:
                    best = (ms, layout)
            print(json.dumps({"network": name, "batch": batch, "size": size, "median_ms": best[0],
                              "layout": best[1], "device": torch.cuda.get_device_name()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
