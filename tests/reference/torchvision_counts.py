#!/usr/bin/python3
"""Independent reference counts for archbench, taken from torchvision.

Builds a fixed set of torchvision models (random init, no weight download),
runs one forward pass in eval mode and records, per network:

  input         [1, 3, H, W]
  output_shape  shape of the main output (out["out"] for segmentation models)
  params        sum of p.numel() over model.parameters() (BN running stats are
                buffers and are not counted)
  macs          multiply-accumulates of Conv2d, ConvTranspose2d and Linear
                modules that actually ran in forward (forward hooks):
                  Conv2d:          output.numel() * in/groups * kh * kw
                  ConvTranspose2d: input.numel() * out/groups * kh * kw
                  Linear:          in_features * output.numel()
  modules       per Conv2d / ConvTranspose2d / BatchNorm2d / Linear module
                (keyed by named_modules() path): type, own params, weight
                shape, bias, and for convs stride/padding/dilation/groups and
                the output shape seen by the hook (omitted if never run).

Segmentation models are built with aux_loss=True (their aux_classifier DOES
run in forward); "no_aux" additionally gives params without aux_classifier
and the MACs of the same model built with aux_loss=False.

Published torchvision figures are checked at the end; one line per network.
Exit status is 1 if any check fails (the JSON is still written).

Usage: /usr/bin/python3 tests/reference/torchvision_counts.py [--out PATH]
(needs torch + torchvision; developed with torch 1.13 / torchvision 0.14).
"""

import argparse
import json
import os
import re
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision import models
from torchvision.models import segmentation

# name -> (constructor, input H/W, published params, published GMACs)
NETWORKS = {
    "alexnet": (lambda: models.alexnet(weights=None), 224, 61100840, 0.714),
    "vgg11": (lambda: models.vgg11(weights=None, init_weights=False), 224, 132863336, 7.609),
    "vgg16": (lambda: models.vgg16(weights=None, init_weights=False), 224, 138357544, 15.470),
    "vgg16_bn": (lambda: models.vgg16_bn(weights=None, init_weights=False), 224, 138365992, 15.470),
    "vgg19": (lambda: models.vgg19(weights=None, init_weights=False), 224, 143667240, 19.632),
    "googlenet": (lambda: models.googlenet(weights=None, aux_logits=False, init_weights=False),
                  224, 6624904, 1.498),
    "resnet18": (lambda: models.resnet18(weights=None), 224, 11689512, 1.814),
    "resnet34": (lambda: models.resnet34(weights=None), 224, 21797672, 3.664),
    "resnet50": (lambda: models.resnet50(weights=None), 224, 25557032, 4.089),
    "resnet101": (lambda: models.resnet101(weights=None), 224, 44549160, 7.801),
    "resnet152": (lambda: models.resnet152(weights=None), 224, 60192808, 11.514),
    "densenet121": (lambda: models.densenet121(weights=None), 224, 7978856, 2.834),
    "mobilenet_v2": (lambda: models.mobilenet_v2(weights=None), 224, 3504872, 0.301),
    "efficientnet_b0": (lambda: models.efficientnet_b0(weights=None), 224, 5288548, 0.386),
    "fcn_resnet50": (lambda aux=True: segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, aux_loss=aux), 520, 35322218, 152.717),
    "deeplabv3_resnet50": (lambda aux=True: segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, aux_loss=aux), 520, 42004074, 178.722),
}
SEGMENTATION = {"fcn_resnet50", "deeplabv3_resnet50"}

CONV_TYPES = (nn.Conv2d, nn.ConvTranspose2d)
RECORDED_TYPES = CONV_TYPES + (nn.BatchNorm2d, nn.Linear)


def module_macs(module, inp, out):
    """MACs of one call of a Conv2d / ConvTranspose2d / Linear module."""
    if isinstance(module, nn.ConvTranspose2d):  # check before Conv2d (not a subclass, but be safe)
        kh, kw = module.kernel_size
        return inp.numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return out.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return module.in_features * out.numel()
    return 0


def measure(model, hw):
    """One eval-mode forward; returns (total macs, {path: output shape}, main output shape)."""
    model.eval()
    macs = [0]
    out_shapes = {}
    handles = []
    for name, mod in model.named_modules():
        if not isinstance(mod, RECORDED_TYPES):
            continue

        def hook(m, args, out, name=name):
            macs[0] += module_macs(m, args[0], out)
            out_shapes.setdefault(name, list(out.shape))  # first call wins
        handles.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        y = model(torch.randn(1, 3, hw, hw))
    for h in handles:
        h.remove()
    main = y["out"] if isinstance(y, dict) else y
    return macs[0], out_shapes, list(main.shape), y


def describe_modules(model, out_shapes):
    """Static description of every recorded module, plus hook output shape if it ran."""
    table = {}
    for name, mod in model.named_modules():
        if not isinstance(mod, RECORDED_TYPES):
            continue
        if isinstance(mod, nn.ConvTranspose2d):
            kind = "conv_transpose"
        elif isinstance(mod, nn.Conv2d):
            kind = "conv"
        elif isinstance(mod, nn.BatchNorm2d):
            kind = "batchnorm"
        else:
            kind = "fc"
        entry = {
            "type": kind,
            "params": sum(p.numel() for p in mod.parameters(recurse=False)),
            "weight": list(mod.weight.shape) if mod.weight is not None else None,
            "bias": mod.bias is not None,
        }
        if isinstance(mod, CONV_TYPES):
            entry.update(stride=list(mod.stride), padding=list(mod.padding),
                         dilation=list(mod.dilation), groups=mod.groups)
            if name in out_shapes:
                entry["output_shape"] = out_shapes[name]
        table[name] = entry
    return table


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def reference(name):
    ctor, hw, _, _ = NETWORKS[name]
    model = ctor()
    macs, out_shapes, out_shape, y = measure(model, hw)
    rec = {
        "input": [1, 3, hw, hw],
        "output_shape": out_shape,
        "params": count_params(model),
        "macs": macs,
        "modules": describe_modules(model, out_shapes),
    }
    if name in SEGMENTATION:
        rec["aux_output_shape"] = list(y["aux"].shape)
        plain = ctor(aux=False)
        plain_macs = measure(plain, hw)[0]
        rec["no_aux"] = {
            "params": rec["params"] - count_params(model.aux_classifier),
            "macs": plain_macs,
        }
        # Sanity: the aux-free model must have exactly the params left after removing the head.
        assert count_params(plain) == rec["no_aux"]["params"], name
    return rec


def dump(data):
    """Sorted keys, indent 1, but flat numeric lists kept on one line for compactness."""
    text = json.dumps(data, sort_keys=True, indent=1)
    return re.sub(r"\[\s*([-0-9,\s]*?)\s*\]",
                  lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]",
                  text) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "fixtures", "torchvision_counts.json")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.normpath(default_out))
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    networks = {}
    for name in NETWORKS:
        networks[name] = reference(name)
        print(f"measured {name}", file=sys.stderr, flush=True)

    data = {
        "generator": "tests/reference/torchvision_counts.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "networks": networks,
    }
    with open(args.out, "w") as f:
        f.write(dump(data))
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")

    failures = 0
    for name, (_, hw, want_params, want_gmacs) in NETWORKS.items():
        rec = networks[name]
        gmacs = round(rec["macs"] / 1e9, 3)
        ok = rec["params"] == want_params and abs(gmacs - want_gmacs) < 1e-9
        failures += not ok
        print(f"{'OK  ' if ok else 'FAIL'} {name:20s} {hw}px params {rec['params']:>11,} "
              f"(published {want_params:>11,})  GMACs {gmacs:8.3f} (published {want_gmacs:8.3f})"
              f"  macs={rec['macs']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
