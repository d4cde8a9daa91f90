#!/usr/bin/python3
"""archbench's deformable ResNet-50 (resnet50_dcnv2, resnet50_dcn) against PyTorch on the CPU.

The PyTorch model is torchvision's resnet50 with the 3x3 conv of every bottleneck in
layer2-layer4 replaced by mmdetection's deformable conv (mmcv's ModulatedDeformConv2dPack for
DCNv2, DeformConv2dPack for DCNv1), written on torchvision.ops.deform_conv2d: an offset conv
`conv2.conv_offset` (3x3, the block's stride, a bias) whose 27 channels are split as mmcv
splits them (18 offsets, 9 mask logits through a sigmoid). mmcv zero-initialises the offset
conv; here it gets a random bias (offsets of about +-1 pixel, which really move the taps) and
small random weights. Offsets that follow the input closely make the network multiply rounding
differences from layer to layer (DCNv1, without a mask's damping, the most): with weights of
std 0.02 the two fp32 runs of resnet50_dcn differed by 1.8e-3 of the output.

Same weights (the state_dict as .safetensors), same input: prints the parameter count (PyTorch's
sum of p.numel() against `archbench analyze`), the largest output difference relative to the
output's magnitude (must be <= 1e-3), and the latency of both (median of --runs, the better of
--rounds alternating rounds), then archbench's deformable layers against the same-shape plain
convs of resnet50 (per-layer medians from `archbench bench --per-layer`, each step with its
batch-norm and relu fused), with the offset convs apart.

Needs Debian's python3-torch and python3-torchvision (no downloads).
usage: bench/peers/pytorch_dcn.py [--archbench build/archbench] [--threads 2] [--runs 10] [--rounds 2] [NET...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
import torchvision
from torchvision.ops import deform_conv2d

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_cpu import run_and_time, write_safetensors  # noqa: E402


class DeformConv3x3(nn.Module):
    """mmcv's (Modulated)DeformConv2dPack for a bottleneck's conv2, on torchvision's op."""

    def __init__(self, conv, modulated):
        super().__init__()
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.modulated = modulated
        self.weight = nn.Parameter(conv.weight.detach().clone())
        self.conv_offset = nn.Conv2d(conv.in_channels, (27 if modulated else 18), 3, conv.stride, conv.padding,
                                     conv.dilation, bias=True)
        with torch.no_grad():  # offsets of about +-1 pixel, mostly from the bias (see the docstring)
            self.conv_offset.weight.normal_(0, 0.005)
            self.conv_offset.bias.normal_(0, 1.0)

    def forward(self, x):
        out = self.conv_offset(x)
        mask = None
        if self.modulated:
            o1, o2, logits = torch.chunk(out, 3, dim=1)
            out, mask = torch.cat((o1, o2), dim=1), torch.sigmoid(logits)
        return deform_conv2d(x, out, self.weight, None, self.stride, self.padding, self.dilation, mask)


def dcn_resnet50(modulated):
    model = torchvision.models.resnet50()
    for stage in (model.layer2, model.layer3, model.layer4):
        for block in stage:
            block.conv2 = DeformConv3x3(block.conv2, modulated)
    return model


NETWORKS = {"resnet50_dcnv2": True, "resnet50_dcn": False}


def per_layer(archbench, net, threads, runs):
    """{step's first layer: median ms} from `archbench bench --per-layer`."""
    out = subprocess.run([archbench, "bench", net, "--threads", str(threads), "--repetitions", str(runs),
                          "--per-layer", "--format", "json"], check=True, capture_output=True, text=True).stdout
    return {layer["name"]: layer["median_ms"] for layer in json.loads(out)["layers"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archbench", default="build/archbench")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("networks", nargs="*", default=list(NETWORKS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.networks:
            torch.manual_seed(0)
            model = dcn_resnet50(NETWORKS[name]).eval()
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
            torch_params = sum(p.numel() for p in model.parameters())
            analysis = json.loads(subprocess.run([args.archbench, "analyze", name, "--format", "json"], check=True,
                                                 capture_output=True, text=True).stdout)
            ours_params = analysis["totals"]["params"]
            wfile = os.path.join(tmp, f"{name}.safetensors")
            write_safetensors(wfile, {k: v for k, v in model.state_dict().items() if v.dtype == torch.float32})
            x = torch.rand(1, 3, 224, 224)
            with torch.no_grad():
                want = model(x).numpy()
            common = [name, "--weights", wfile, "--threads", str(args.threads)]
            _, rel, ours, theirs = run_and_time(args.archbench, common, model, x, want, args.runs, args.rounds, tmp,
                                                name)
            ok &= ours_params == torch_params and rel <= 1e-3
            print(f"{name}: params archbench {ours_params:,} PyTorch {torch_params:,}"
                  f"{'' if ours_params == torch_params else '  MISMATCH'}; max|diff| / max|out| {rel:.2e}; "
                  f"PyTorch {theirs:.2f} ms, archbench {ours:.2f} ms, ratio {ours / theirs:.2f}", flush=True)

            # The deformable layers against resnet50's plain 3x3 convs of the same shapes.
            deform, plain = {}, {}
            for _ in range(args.rounds):
                for table, net in ((deform, name), (plain, "resnet50")):
                    for layer, ms in per_layer(args.archbench, net, args.threads, args.runs).items():
                        table[layer] = min(table.get(layer, float("inf")), ms)
            # Steps are named by their last layer: conv2 + bn2 + relu2 is "<block>.relu2" in both.
            convs = [layer for layer in plain if layer.startswith(("layer2.", "layer3.", "layer4."))
                     and layer.endswith(".relu2")]
            offset = {layer: layer[: -len("relu2")] + "conv2.conv_offset" for layer in convs}
            d = sum(deform[layer] for layer in convs)
            p = sum(plain[layer] for layer in convs)
            o = sum(deform[offset[layer]] for layer in convs)
            print(f"  its {len(convs)} deformable convs: {d:.2f} ms against {p:.2f} ms for the plain 3x3 convs of "
                  f"resnet50 ({d / p:.2f}x); their offset convs {o:.2f} ms more ({(d + o) / p:.2f}x with them)")
            for layer in convs:
                print(f"    {layer:18s} deform {deform[layer]:6.3f} ms  plain {plain[layer]:6.3f} ms  "
                      f"({deform[layer] / plain[layer]:.2f}x)  offsets {deform[offset[layer]]:6.3f} ms")
    print(f"\nthreads {args.threads}, batch 1, 224x224, fp32; medians of {args.runs} runs, the better of {args.rounds} "
          "alternating rounds; PyTorch channels-first or channels-last, the better")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
