#!/usr/bin/python3
"""PyTorch-checked cases for the reference executor (runtime/reference.cpp).

For each case this writes, into tests/fixtures/reference_cases/:

  CASE.yaml                  a tiny archbench spec (one or a few layers, or a small network)
  CASE.input.npy             the input, float32 NCHW
  CASE.weights.safetensors   the parameters under archbench's keys ("<layer>.weight", ...);
                             omitted when the case has none
  CASE.expected.safetensors  PyTorch's output of every layer, keyed by layer name

PyTorch computes every layer in float32, eval mode, with the torch.nn module or functional
op that archbench's op stands for; where PyTorch has no asymmetric padding ('same' with
stride 2, explicit [top, left, bottom, right]) the layer is F.pad followed by the op with
padding 0 (-inf padding for max pooling). Every tensor is small: the folder stays well under
300 KB. tests/test_reference.cpp lists the case names; add a case there when adding one here.

Usage: /usr/bin/python3 tests/reference/make_reference_cases.py [--out DIR] [--only CASE...]
(Debian's python3-torch, developed with torch 1.13; not needed to run the tests).
"""

import argparse
import json
import math
import pathlib
import struct
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "fixtures" / "reference_cases"


def write_safetensors(path, tensors):
    """safetensors by hand: u64 LE header length, JSON header, raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy(), dtype="<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yaml_value(x) for x in v) + "]"
    return str(v)


class Case:
    """One fixture: layers are added in order, each with its YAML entry and its PyTorch op."""

    def __init__(self, name, shape, scale=1.0, description=""):
        self.name = name
        torch.manual_seed(zlib.crc32(name.encode()))
        self.x = torch.randn(*shape) * scale
        self.shape = list(shape)
        self.description = description
        self.values = {"input": self.x}
        self.entries = []
        self.weights = {}
        self.last = "input"
        self.yaml_text = None  # a hand-written spec replaces the generated one
        self.expect = None  # the layers whose outputs are written (default: all)

    def add(self, name, op, fn, inputs=None, params=None, **attrs):
        ins = [self.last] if inputs is None else ([inputs] if isinstance(inputs, str) else list(inputs))
        entry = {"name": name, "op": op}
        if inputs is not None:
            entry["inputs"] = inputs
        entry.update(attrs)
        with torch.no_grad():
            y = fn(*[self.values[i] for i in ins])
        assert y.dim() == 4 or op in ("fc",), (name, y.shape)
        if y.dim() == 2:  # fc: archbench keeps rank 4
            y = y[:, :, None, None]
        self.values[name] = y
        self.entries.append(entry)
        self.last = name
        for k, v in (params or {}).items():
            if not k.endswith("num_batches_tracked"):
                self.weights[f"{name}.{k}"] = v.detach().clone()
        return y

    def module(self, name, op, mod, inputs=None, fn=None, **attrs):
        """A torch.nn module (randomised biases and statistics); `fn` wraps it (padding)."""
        randomise(mod)
        mod.eval()
        return self.add(name, op, fn if fn else mod, inputs, mod.state_dict(), **attrs)

    def yaml(self):
        if self.yaml_text:
            return self.yaml_text
        lines = [f"name: {self.name}"]
        if self.description:
            lines.insert(0, f"# {self.description}")
        lines.append(f"input: {yaml_value(self.shape)}")
        lines.append("layers:")
        for e in self.entries:
            lines.append("  - {" + ", ".join(f"{k}: {yaml_value(v)}" for k, v in e.items()) + "}")
        return "\n".join(lines) + "\n"

    def write(self, out):
        (out / f"{self.name}.yaml").write_text(self.yaml())
        np.save(out / f"{self.name}.input.npy", self.x.numpy().astype("<f4"))
        if self.weights:
            write_safetensors(out / f"{self.name}.weights.safetensors", self.weights)
        expected = {k: v for k, v in self.values.items() if k != "input" and (not self.expect or k in self.expect)}
        assert not self.expect or len(expected) == len(self.expect)
        write_safetensors(out / f"{self.name}.expected.safetensors", expected)


def randomise(mod):
    with torch.no_grad():
        for m in mod.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and m.bias is not None:
                m.bias.normal_(0, 0.2)
            if isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(1, 0.3)
                m.bias.normal_(0, 0.3)
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.3, 2.5)


def same_pads(size, k, s, d=1):
    """TensorFlow's 'same': output ceil(size/s), the odd pixel at the bottom/right."""
    out = -(-size // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def cases():
    out = []

    # --- convolution ---------------------------------------------------------------------
    c = Case("conv_odd", [2, 5, 11, 13], description="batch 2, odd sizes, 5 -> 7 channels, 3x3 pad 1")
    c.module("conv", "conv", nn.Conv2d(5, 7, 3, padding=1), out=7, kernel=3, padding=1)
    out.append(c)

    c = Case("conv_same_stride2", [1, 3, 16, 18], description="'same' with stride 2 on even sizes: pad 0 top/left, 1 bottom/right")
    conv = nn.Conv2d(3, 10, 3, stride=2)
    t, b = same_pads(16, 3, 2)
    l, r = same_pads(18, 3, 2)
    assert (t, b, l, r) == (0, 1, 0, 1)
    c.module("conv", "conv", conv, fn=lambda x: conv(F.pad(x, (l, r, t, b))), out=10, kernel=3, stride=2,
             padding="same")
    conv5 = nn.Conv2d(3, 4, 5, stride=2)
    t5, b5 = same_pads(16, 5, 2)
    l5, r5 = same_pads(18, 5, 2)
    c.module("conv5", "conv", conv5, inputs="input", fn=lambda x: conv5(F.pad(x, (l5, r5, t5, b5))), out=4,
             kernel=5, stride=2, padding="same")
    out.append(c)

    c = Case("conv_stride4_rect", [1, 3, 19, 23], description="7x5 kernel, stride 4, padding [3, 2]")
    c.module("conv", "conv", nn.Conv2d(3, 6, (7, 5), stride=4, padding=(3, 2)), out=6, kernel=[7, 5], stride=4,
             padding=[3, 2])
    c.module("conv_s2x3", "conv", nn.Conv2d(3, 2, 3, stride=(2, 3), bias=False), inputs="input", out=2, kernel=3,
             stride=[2, 3], bias=False)
    out.append(c)

    c = Case("conv_dilated", [1, 4, 21, 19], description="dilation 2, 6 and 18 (ASPP-like; most taps in padding)")
    for d in (2, 6, 18):
        c.module(f"conv_d{d}", "conv", nn.Conv2d(4, 3, 3, padding=d, dilation=d), inputs="input", out=3, kernel=3,
                 padding=d, dilation=d)
    c.module("conv_d2_s2", "conv", nn.Conv2d(4, 3, 3, stride=2, padding=1, dilation=2), inputs="input", out=3,
             kernel=3, stride=2, padding=1, dilation=2)
    out.append(c)

    c = Case("conv_groups", [1, 12, 9, 7], description="groups 3, depthwise, depthwise with multiplier 2")
    c.module("grouped", "conv", nn.Conv2d(12, 6, 3, stride=2, padding=1, groups=3, bias=False), inputs="input",
             out=6, kernel=3, stride=2, padding=1, groups=3, bias=False)
    c.module("depthwise", "conv", nn.Conv2d(12, 12, 3, padding=1, groups=12), inputs="input", out=12, kernel=3,
             padding=1, groups=12)
    c.module("depthwise_x2", "conv", nn.Conv2d(12, 24, 5, stride=2, padding=2, groups=12), inputs="input", out=24,
             kernel=5, stride=2, padding=2, groups=12)
    out.append(c)

    c = Case("conv_1x1_spatial", [3, 9, 1, 1], description="batch 3, 1x1 spatial: 1x1 conv, 3x3 pad 1, fc")
    c.module("pointwise", "conv", nn.Conv2d(9, 5, 1), inputs="input", out=5, kernel=1)
    c.module("conv3", "conv", nn.Conv2d(9, 4, 3, padding=1), inputs="input", out=4, kernel=3, padding=1)
    out.append(c)

    c = Case("conv_asym_pad", [2, 3, 8, 9], description="explicit [top, left, bottom, right] padding")
    conv = nn.Conv2d(3, 5, (3, 4), stride=(2, 1))
    c.module("conv", "conv", conv, fn=lambda x: conv(F.pad(x, (0, 3, 2, 1))), out=5, kernel=[3, 4], stride=[2, 1],
             padding=[2, 0, 1, 3])
    out.append(c)

    c = Case("conv_transpose", [1, 6, 4, 3], description="transposed conv: groups, output_padding, dilation")
    c.module("up", "conv_transpose", nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2),
             inputs="input", out=4, kernel=3, stride=2, padding=1, output_padding=1, groups=2)
    c.module("up4", "conv_transpose", nn.ConvTranspose2d(6, 3, 4, stride=2, padding=1, bias=False),
             inputs="input", out=3, kernel=4, stride=2, padding=1, bias=False)
    c.module("up_dil", "conv_transpose",
             nn.ConvTranspose2d(6, 6, (3, 2), stride=(3, 2), padding=(2, 0), output_padding=(1, 1), dilation=2,
                                groups=3),
             inputs="input", out=6, kernel=[3, 2], stride=[3, 2], padding=[2, 0], output_padding=[1, 1], dilation=2,
             groups=3)
    c.module("up_fcn", "conv_transpose", nn.ConvTranspose2d(6, 2, 8, stride=4, bias=False), inputs="input", out=2,
             kernel=8, stride=4, bias=False)
    out.append(c)

    # --- deformable convolution ------------------------------------------------------------
    # torchvision.ops.deform_conv2d is the ground truth. Offsets from convs with weights x4:
    # many samples land past every border (and between pixels); groups 2 with offset groups
    # 3, a 3x2 kernel, stride (2, 1), padding (1, 0), dilation (2, 1), batch 2.
    from torchvision.ops import deform_conv2d
    c = Case("deform_conv", [2, 6, 9, 8], description="deformable conv: DCNv1, a mask input, mmcv's DCNv2 (sigmoid)")
    geometry = dict(kernel=[3, 2], stride=[2, 1], padding=[1, 0], dilation=[2, 1])
    torch_geometry = dict(stride=(2, 1), padding=(1, 0), dilation=(2, 1))

    def offset_conv(name, channels):
        conv = nn.Conv2d(6, channels, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1))
        with torch.no_grad():
            conv.weight.mul_(4)
        c.module(name, "conv", conv, inputs="input", out=channels, **geometry)

    def deform(name, inputs, out, bias, modulated=False):
        w = torch.randn(out, 3, 3, 2) * 0.3
        b = torch.randn(out) * 0.2 if bias else None

        def run(x, off, *mask):
            if modulated:
                o1, o2, m = torch.chunk(off, 3, dim=1)  # mmcv's ModulatedDeformConv2dPack
                off, mask = torch.cat((o1, o2), dim=1), (torch.sigmoid(m),)
            return deform_conv2d(x, off, w, b, mask=mask[0] if mask else None, **torch_geometry)

        params = {"weight": w} if b is None else {"weight": w, "bias": b}
        extra = {"modulated": "sigmoid"} if modulated else {}
        c.add(name, "deform_conv", run, inputs=inputs, params=params, out=out, groups=2, offset_groups=3,
              bias=bias, **geometry, **extra)

    offset_conv("off", 36)
    deform("dcn", ["input", "off"], 4, True)
    offset_conv("mask_logits", 18)
    c.add("mask", "sigmoid", torch.sigmoid, inputs="mask_logits")
    deform("dcn_mask", ["input", "off", "mask"], 6, True)
    offset_conv("off_mask", 54)
    deform("dcnv2", ["input", "off_mask"], 2, False, modulated=True)
    out.append(c)

    # --- pooling -------------------------------------------------------------------------
    c = Case("maxpool", [2, 3, 10, 11], description="ceil mode, padding, dilation, 'same' (-inf padding)")
    c.add("ceil_pad", "maxpool", nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), inputs="input", kernel=3, stride=2,
          padding=1, ceil_mode=True)
    c.add("ceil", "maxpool", nn.MaxPool2d(2, 2, ceil_mode=True), inputs="input", kernel=2, ceil_mode=True)
    c.add("ceil_k3s2", "maxpool", nn.MaxPool2d(3, 2, ceil_mode=True), inputs="input", kernel=3, stride=2,
          ceil_mode=True)
    c.add("dilated", "maxpool", nn.MaxPool2d(3, 1, padding=1, dilation=2), inputs="input", kernel=3, stride=1,
          padding=1, dilation=2)
    t, b = same_pads(10, 3, 2)
    l, r = same_pads(11, 3, 2)
    c.add("same", "maxpool", lambda x: F.max_pool2d(F.pad(x, (l, r, t, b), value=-math.inf), 3, 2), inputs="input",
          kernel=3, stride=2, padding="same")
    out.append(c)

    c = Case("avgpool", [2, 3, 7, 8], description="ceil mode divisor rule, count_include_pad both ways")
    c.add("ceil_pad", "avgpool", nn.AvgPool2d(3, 2, padding=1, ceil_mode=True), inputs="input", kernel=3, stride=2,
          padding=1, ceil_mode=True)
    c.add("ceil_pad_excl", "avgpool", nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
          inputs="input", kernel=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    c.add("ceil", "avgpool", nn.AvgPool2d(2, 2, ceil_mode=True), inputs="input", kernel=2, ceil_mode=True)
    c.add("pad_excl", "avgpool", nn.AvgPool2d(3, 1, padding=1, count_include_pad=False), inputs="input", kernel=3,
          stride=1, padding=1, count_include_pad=False)
    c.add("rect", "avgpool", nn.AvgPool2d((3, 2), (2, 3), padding=(1, 1)), inputs="input", kernel=[3, 2],
          stride=[2, 3], padding=[1, 1])
    out.append(c)

    c = Case("adaptive_pool", [2, 5, 7, 5], description="global average, adaptive 7->3 and 5->2, 7->7, to 1x1")
    c.add("gap", "global_avgpool", lambda x: F.adaptive_avg_pool2d(x, 1), inputs="input")
    c.add("a3x2", "adaptive_avgpool", nn.AdaptiveAvgPool2d((3, 2)), inputs="input", output=[3, 2])
    c.add("a7x4", "adaptive_avgpool", nn.AdaptiveAvgPool2d((7, 4)), inputs="input", output=[7, 4])
    c.add("a1", "adaptive_avgpool", nn.AdaptiveAvgPool2d(1), inputs="input", output=1)
    out.append(c)

    # --- normalisation -------------------------------------------------------------------
    c = Case("lrn", [2, 7, 4, 5], scale=3.0, description="LocalResponseNorm, odd and even sizes")
    c.add("lrn5", "lrn", nn.LocalResponseNorm(5, alpha=1e-2, beta=0.75, k=2.0), inputs="input", size=5, alpha=0.01,
          beta=0.75, k=2.0)
    c.add("lrn4", "lrn", nn.LocalResponseNorm(4, alpha=0.1, beta=0.5, k=1.0), inputs="input", size=4, alpha=0.1,
          beta=0.5, k=1.0)
    c.add("lrn_alexnet", "lrn", nn.LocalResponseNorm(5), inputs="input", size=5)
    out.append(c)

    c = Case("batchnorm", [3, 5, 3, 4], description="eval-mode batch norm, batch 3")
    c.module("bn", "batchnorm", nn.BatchNorm2d(5), inputs="input")
    c.module("bn_eps", "batchnorm", nn.BatchNorm2d(5, eps=1e-3), inputs="input", eps=0.001)
    out.append(c)

    c = Case("activations", [2, 3, 5, 4], scale=4.0, description="relu, relu6, sigmoid, swish, tanh, softmax")
    c.add("relu", "relu", torch.relu, inputs="input")
    c.add("relu6", "relu6", F.relu6, inputs="input")
    c.add("sigmoid", "sigmoid", torch.sigmoid, inputs="input")
    c.add("swish", "swish", F.silu, inputs="input")
    c.add("tanh", "tanh", torch.tanh, inputs="input")
    c.add("softmax", "softmax", lambda x: torch.softmax(x, 1), inputs="input")
    c.add("dropout", "dropout", nn.Dropout(0.3).eval(), inputs="input", p=0.3)
    out.append(c)

    c = Case("softmax_large", [2, 6, 3, 3], scale=30.0, description="softmax over channels on large logits")
    c.add("softmax", "softmax", lambda x: torch.softmax(x, 1))
    out.append(c)

    # --- merges --------------------------------------------------------------------------
    c = Case("merges", [2, 4, 5, 6], description="multiply broadcast (N, C, H, W), concat of 3, add of 3")
    c.add("gate", "global_avgpool", lambda x: F.adaptive_avg_pool2d(x, 1), inputs="input")
    c.add("gate_s", "sigmoid", torch.sigmoid)
    c.module("spatial", "conv", nn.Conv2d(4, 1, 1), inputs="input", out=1, kernel=1)
    c.add("mul", "multiply", lambda a, g: a * g, inputs=["input", "gate_s"])
    c.add("mul_rev", "multiply", lambda g, a: g * a, inputs=["gate_s", "input"])
    c.add("mul3", "multiply", lambda a, g, s: a * g * s, inputs=["input", "gate_s", "spatial"])
    c.add("outer", "multiply", lambda g, s: g * s, inputs=["gate_s", "spatial"])
    c.module("c3", "conv", nn.Conv2d(4, 3, 3, padding=1), inputs="input", out=3, kernel=3, padding=1)
    c.module("c5", "conv", nn.Conv2d(4, 5, 1), inputs="input", out=5, kernel=1)
    c.add("cat", "concat", lambda *t: torch.cat(t, 1), inputs=["c3", "input", "c5"])
    c.add("sum3", "add", lambda a, b, d: a + b + d, inputs=["input", "mul", "mul3"])
    out.append(c)

    # --- data movement -------------------------------------------------------------------
    c = Case("crop_pad", [2, 3, 9, 8], description="crop by offset, centre crop to a second input, constant pad")
    c.add("crop", "crop", lambda x: x[:, :, 1:6, 2:6], inputs="input", offset=[1, 2], size=[5, 4])
    c.add("centre", "crop", lambda x, s: x[:, :, 2:7, 2:6], inputs=["input", "crop"], center=True)
    c.add("pad", "pad", lambda x: F.pad(x, (2, 0, 1, 3), value=-1.5), inputs="input", padding=[1, 2, 3, 0],
          value=-1.5)
    c.add("pad1", "pad", lambda x: F.pad(x, (1, 1, 1, 1)), inputs="crop", padding=1)
    out.append(c)

    c = Case("upsample_nearest", [1, 3, 5, 7], description="nearest: scale 2, size, non-integer scale (1/scale)")
    c.add("x2", "upsample", nn.Upsample(scale_factor=2, mode="nearest"), inputs="input", scale=2)
    c.add("size", "upsample", nn.Upsample(size=(12, 12), mode="nearest"), inputs="input", size=[12, 12])
    c.add("down", "upsample", nn.Upsample(size=(3, 4), mode="nearest"), inputs="input", size=[3, 4])
    c.add("s23", "upsample", nn.Upsample(scale_factor=2.3, mode="nearest"), inputs="input", scale=2.3)
    c.add("s_rect", "upsample", nn.Upsample(scale_factor=(1.5, 3.0), mode="nearest"), inputs="input",
          scale=[1.5, 3])
    c.add("s205", "upsample", nn.Upsample(scale_factor=(2.05, 1.2), mode="nearest"), inputs="input",
          scale=[2.05, 1.2])
    c.add("s_keep", "upsample", nn.Upsample(scale_factor=(1.1, 2.0), mode="nearest"), inputs="input",
          scale=[1.1, 2])
    c.add("like", "upsample", lambda x, y: F.interpolate(x, size=y.shape[2:], mode="nearest"),
          inputs=["input", "size"])
    out.append(c)

    c = Case("upsample_bilinear", [2, 2, 5, 4], description="bilinear: align_corners both ways, sizes, scales")
    for ac in (False, True):
        tag = "ac" if ac else "hp"
        c.add(f"size_{tag}", "upsample", nn.Upsample(size=(13, 13), mode="bilinear", align_corners=ac),
              inputs="input", size=[13, 13], mode="bilinear", align_corners=ac)
        c.add(f"x2_{tag}", "upsample", nn.Upsample(scale_factor=2, mode="bilinear", align_corners=ac),
              inputs="input", scale=2, mode="bilinear", align_corners=ac)
        c.add(f"s23_{tag}", "upsample", nn.Upsample(scale_factor=2.3, mode="bilinear", align_corners=ac),
              inputs="input", scale=2.3, mode="bilinear", align_corners=ac)
        c.add(f"down_{tag}", "upsample", nn.Upsample(size=(3, 1), mode="bilinear", align_corners=ac),
              inputs="input", size=[3, 1], mode="bilinear", align_corners=ac)
    c.add("s_keep", "upsample", nn.Upsample(scale_factor=(1.1, 2.05), mode="bilinear"), inputs="input",
          scale=[1.1, 2.05], mode="bilinear")
    out.append(c)

    c = Case("flatten_fc", [2, 3, 4, 5], description="flatten + fc, fc reading C*H*W directly")
    c.add("flat", "flatten", lambda x: torch.flatten(x, 1)[:, :, None, None], inputs="input")
    fc = nn.Linear(60, 7)
    c.module("fc", "fc", fc, fn=lambda x: fc(torch.flatten(x, 1)), out=7)
    fc2 = nn.Linear(60, 6, bias=False)
    c.module("fc_direct", "fc", fc2, inputs="input", fn=lambda x: fc2(torch.flatten(x, 1)), out=6, bias=False)
    out.append(c)

    out.append(se_resnet_case())
    return out


def se_resnet_case():
    """A small network from blocks: stem, a residual block with batch norm and an SE gate,
    a downsampling residual block (1x1 projection), pooling, fc, softmax."""
    c = Case("se_resnet_tiny", [2, 3, 13, 11])
    c.expect = ["stem_bn", "b1.se.gate", "b1.se.scale", "b1.relu2", "b2.conv1", "b2.proj_bn", "b2.relu2", "pool",
                "gap", "fc", "prob"]
    c.yaml_text = """# A small SE-ResNet from blocks: conv-bn-relu stem, a residual block with batch norm and a
# squeeze-and-excitation gate, a stride-2 block with a projection shortcut, pooling, fc, softmax.
name: se_resnet_tiny
input: [2, 3, 13, 11]
blocks:
  se:
    params: {channels: ~, reduced: ~}
    layers:
      - {name: squeeze, op: global_avgpool}
      - {name: fc1, op: conv, out: $reduced, kernel: 1}
      - {name: relu, op: relu}
      - {name: fc2, op: conv, out: $channels, kernel: 1}
      - {name: gate, op: sigmoid}
      - {name: scale, op: multiply, inputs: [x, gate]}
  block:
    params: {channels: ~, stride: 1}
    layers:
      - {name: conv1, op: conv, out: $channels, kernel: 3, stride: $stride, padding: 1, bias: false}
      - {name: bn1, op: batchnorm}
      - {name: relu1, op: relu}
      - {name: conv2, op: conv, out: $channels, kernel: 3, padding: 1, bias: false}
      - {name: bn2, op: batchnorm}
      - {block: se, name: se, args: {channels: $channels, reduced: 2}}
      - {name: proj, op: conv, inputs: x, out: $channels, kernel: 1, stride: $stride, bias: false, when: "${stride != 1}"}
      - {name: proj_bn, op: batchnorm, when: "${stride != 1}"}
      - {name: add, op: add, inputs: [se, "${stride != 1 ? 'proj_bn' : 'x'}"]}
      - {name: relu2, op: relu}
layers:
  - {name: stem, op: conv, out: 8, kernel: 3, stride: 2, padding: 1, bias: false}
  - {name: stem_bn, op: batchnorm}
  - {name: stem_relu, op: relu}
  - {block: block, name: b1, args: {channels: 8}}
  - {block: block, name: b2, args: {channels: 12, stride: 2}}
  - {name: pool, op: maxpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
  - {name: gap, op: global_avgpool}
  - {name: fc, op: fc, out: 10}
  - {name: prob, op: softmax}
"""

    def block(prefix, cin, cout, stride):
        m = {
            "conv1": nn.Conv2d(cin, cout, 3, stride, 1, bias=False), "bn1": nn.BatchNorm2d(cout),
            "conv2": nn.Conv2d(cout, cout, 3, 1, 1, bias=False), "bn2": nn.BatchNorm2d(cout),
            "se.fc1": nn.Conv2d(cout, 2, 1), "se.fc2": nn.Conv2d(2, cout, 1),
        }
        if stride != 1:
            m["proj"] = nn.Conv2d(cin, cout, 1, stride, bias=False)
            m["proj_bn"] = nn.BatchNorm2d(cout)
        for k, mod in m.items():
            randomise(mod)
            mod.eval()
            for pk, pv in mod.state_dict().items():
                if not pk.endswith("num_batches_tracked"):
                    c.weights[f"{prefix}.{k}.{pk}"] = pv.detach().clone()

        def run(x, v):
            t = m["conv1"](x); v[f"{prefix}.conv1"] = t
            t = m["bn1"](t); v[f"{prefix}.bn1"] = t
            t = torch.relu(t); v[f"{prefix}.relu1"] = t
            t = m["conv2"](t); v[f"{prefix}.conv2"] = t
            t = m["bn2"](t); v[f"{prefix}.bn2"] = t
            s = F.adaptive_avg_pool2d(t, 1); v[f"{prefix}.se.squeeze"] = s
            s = m["se.fc1"](s); v[f"{prefix}.se.fc1"] = s
            s = torch.relu(s); v[f"{prefix}.se.relu"] = s
            s = m["se.fc2"](s); v[f"{prefix}.se.fc2"] = s
            s = torch.sigmoid(s); v[f"{prefix}.se.gate"] = s
            t = t * s; v[f"{prefix}.se.scale"] = t
            skip = x
            if stride != 1:
                skip = m["proj"](x); v[f"{prefix}.proj"] = skip
                skip = m["proj_bn"](skip); v[f"{prefix}.proj_bn"] = skip
            t = t + skip; v[f"{prefix}.add"] = t
            t = torch.relu(t); v[f"{prefix}.relu2"] = t
            return t
        return run

    stem, stem_bn, fc = nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Linear(12, 10)
    for name, mod in (("stem", stem), ("stem_bn", stem_bn), ("fc", fc)):
        randomise(mod)
        mod.eval()
        for pk, pv in mod.state_dict().items():
            if not pk.endswith("num_batches_tracked"):
                c.weights[f"{name}.{pk}"] = pv.detach().clone()
    b1, b2 = block("b1", 8, 8, 1), block("b2", 8, 12, 2)
    v = c.values
    with torch.no_grad():
        t = stem(c.x); v["stem"] = t
        t = stem_bn(t); v["stem_bn"] = t
        t = torch.relu(t); v["stem_relu"] = t
        t = b1(t, v)
        t = b2(t, v)
        t = F.max_pool2d(t, 3, 2, 1, ceil_mode=True); v["pool"] = t
        t = F.adaptive_avg_pool2d(t, 1); v["gap"] = t
        t = fc(torch.flatten(t, 1))[:, :, None, None]; v["fc"] = t
        v["prob"] = torch.softmax(t, 1)
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="+", help="write these cases only, keeping the others' files")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    all_cases = cases()
    names = [c.name for c in all_cases]
    assert len(set(names)) == len(names)
    if args.only:
        all_cases = [c for c in all_cases if c.name in args.only]
    else:
        for old in args.out.iterdir():
            if old.is_file():
                old.unlink()
    for c in all_cases:
        c.write(args.out)
    total = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"{len(all_cases)} cases, {total} bytes in {args.out}")
    print(" ".join(names))


if __name__ == "__main__":
    main()
