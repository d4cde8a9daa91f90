#!/usr/bin/python3
"""Every torchvision classification and segmentation model through `archbench import`.

For each model: build it with random weights (seeded; batch-norm statistics, LayerNorm
affines and ConvNeXt's layer scales randomised so that nothing is trivially the identity),
export it twice with Debian's torch (opset 13, eval: once with training=PRESERVE, which keeps
batch-norm nodes and module-path weight names, once with the default constant folding),
then for each export:
  - `archbench import` (timed) and `archbench analyze --format json`;
  - `archbench run MODEL.onnx --input-file x.npy` (the model's own initializers) against
    torchvision's output on the same input: max |archbench - torch| / max |torch|.
Checks: parameters of the PRESERVE import == sum(p.numel()) of the torchvision model; MACs
== the zoo twin's (`archbench analyze NAME`) where the zoo has one; both relative errors
<= 1e-4. Prints a Markdown table (and writes it to OUT/table.md); failures are listed with
the first line of their error.

The vision transformers (vit_*, swin_*, maxvit_*) are left out: attention over token
sequences is outside the spec format, whose layers are N x C x H x W convolutional ones.

usage: bench/peers/torchvision_onnx.py [--archbench build/archbench] [--out build/peers/torchvision_onnx]
                                       [--size 224] [--tolerance 1e-4] [--opset 13] [MODEL...]
Needs Debian's python3-torch and python3-torchvision; no downloads (weights are random).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torchvision
from torchvision import models
from torchvision.models import segmentation

LEFT_OUT = ("vit_", "swin_", "maxvit_")


# The largest (by parameters) go last, so that a run cut short has covered the most models.
LAST = ["resnext101_64x4d", "regnet_x_16gf", "regnet_y_16gf", "efficientnet_v2_l", "wide_resnet101_2", "vgg11",
        "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "regnet_x_32gf", "regnet_y_32gf",
        "convnext_large", "regnet_y_128gf"]


def model_names():
    classification = [n for n in models.list_models(module=models) if not n.startswith(LEFT_OUT)]
    names = classification + models.list_models(module=segmentation)
    return sorted(names, key=lambda n: LAST.index(n) + 1 if n in LAST else 0)


def build(name):
    torch.manual_seed(0)
    if name in models.list_models(module=segmentation):
        kwargs = dict(weights=None, weights_backbone=None)
        if not name.startswith("lraspp"):
            kwargs["aux_loss"] = False
        model = models.get_model(name, **kwargs)
    else:
        kwargs = dict(weights=None)
        if name in ("googlenet", "inception_v3"):
            kwargs.update(aux_logits=False, init_weights=True)
        model = models.get_model(name, **kwargs)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        for pname, p in model.named_parameters():
            if pname.endswith("layer_scale"):
                p.uniform_(0.5, 1.0)
    return model.eval()


def main_output(result):
    return result["out"] if isinstance(result, dict) else result


def archbench(tool, *args, timed=False):
    t0 = time.perf_counter()
    r = subprocess.run([tool, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError((r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}"))
    return (r.stdout, seconds) if timed else r.stdout


def evaluate(name, args, zoo):
    model = build(name)
    size = 299 if name == "inception_v3" else args.size
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = main_output(model(x)).numpy()
    torch_params = sum(p.numel() for p in model.parameters())
    xfile = os.path.join(args.out, f"{name}.x.npy")
    np.save(xfile, x.numpy())
    row = {"model": name, "torch_params": torch_params}
    errors = []
    for mode, training in (("preserve", torch.onnx.TrainingMode.PRESERVE), ("fold", torch.onnx.TrainingMode.EVAL)):
        onnx_file = os.path.join(args.out, f"{name}.{mode}.onnx")
        with torch.no_grad():
            torch.onnx.export(model, x, onnx_file, opset_version=args.opset, training=training,
                              do_constant_folding=(mode == "fold"))
        _, seconds = archbench(args.archbench, "import", onnx_file, "-o", os.path.join(args.out, f"{name}.{mode}.yaml"),
                               timed=True)
        analysis = json.loads(archbench(args.archbench, "analyze", onnx_file, "--format", "json"))
        yfile = os.path.join(args.out, f"{name}.{mode}.y.npy")
        archbench(args.archbench, "run", onnx_file, "--input-file", xfile, "--output-file", yfile)
        got = np.load(yfile).reshape(want.shape)
        rel = float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(want)))))
        errors.append(rel)
        if mode == "preserve":
            row.update(params=analysis["totals"]["params"], macs=analysis["totals"]["macs"], import_s=seconds,
                       ops=sorted({layer["op"] for layer in analysis["layers"]} - {"input"}),
                       layers=len(analysis["layers"]) - 1)
    row["error"] = max(errors)
    if name in zoo:
        twin = json.loads(archbench(args.archbench, "analyze", name, "--input", f"1,3,{size},{size}", "--format", "json"))
        row["zoo_macs"] = twin["totals"]["macs"]
    problems = []
    if row["params"] != torch_params:
        problems.append(f"params {row['params']:,} != torchvision's {torch_params:,}")
    if "zoo_macs" in row and row["zoo_macs"] != row["macs"]:
        problems.append(f"MACs {row['macs']:,} != the zoo twin's {row['zoo_macs']:,}")
    if not row["error"] <= args.tolerance:
        problems.append(f"relative error {row['error']:.1e} > {args.tolerance:g}")
    row["problems"] = problems
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archbench", default="build/archbench")
    ap.add_argument("--out", default="build/peers/torchvision_onnx")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--opset", type=int, default=13, help="the export's opset (archbench reads 9 to 17)")
    ap.add_argument("models", nargs="*")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(2)
    zoo = set(subprocess.run([args.archbench, "zoo"], capture_output=True, text=True, check=True).stdout.split())
    names = args.models or model_names()
    lines = ["| model | layers | spec ops | params | GMACs | zoo twin MACs | max rel. error | import s | result |",
             "|---|---:|---|---:|---:|---|---:|---:|---|"]
    failed = []
    print("\n".join(lines), flush=True)
    for name in names:
        try:
            row = evaluate(name, args, zoo)
        except Exception as e:  # noqa: BLE001 - every failure is reported, with its reason
            reason = str(e).strip().splitlines()
            reason = " ".join(reason[:3]) if reason else type(e).__name__
            failed.append((name, reason))
            line = f"| {name} | | | | | | | | **failed**: {reason[:300]} |"
        else:
            twin = ("equal" if row["zoo_macs"] == row["macs"] else f"{row['zoo_macs']:,}") if "zoo_macs" in row else ""
            result = "ok" if not row["problems"] else "**" + "; ".join(row["problems"]) + "**"
            if row["problems"]:
                failed.append((name, "; ".join(row["problems"])))
            line = (f"| {name} | {row['layers']} | {', '.join(row['ops'])} | {row['params']:,} | {row['macs'] / 1e9:.3f} | "
                    f"{twin} | {row['error']:.1e} | {row['import_s']:.2f} | {result} |")
        lines.append(line)
        print(line, flush=True)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"\n{len(names) - len(failed)} of {len(names)} models pass", flush=True)
    for name, reason in failed:
        print(f"  {name}: {reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
