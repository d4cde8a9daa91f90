#!/usr/bin/env python3
"""Every zoo spec through `archbench export` and back through `archbench import`.

For each zoo network (at 64x64 where it accepts that size, else at its own input): export it
(He-initialised weights, seed 0), then check that the ONNX file analyses exactly as the spec
does (params, MACs, FLOPs, the feature layer's receptive field, every shared layer's output
shape) and that `archbench run` of the ONNX file (its initializers) gives the spec's output
within 1e-5 relative. Networks with layers that opset 13 cannot express must fail with the
exact message. Standard library only (the python3 first on PATH has no numpy).
usage: onnx_roundtrip_test.py path/to/archbench [--quick]
(--quick, the test suite's mode, leaves out the networks over 45 M parameters: AlexNet, the
VGGs and the FCNs on VGG, ResNet-101 and -152; without it they run too.)
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

NOT_EXPORTABLE = {
    "resnet50_dcn": "error: layer 'layer2.0.conv2': deform_conv has no ONNX operator before opset 19 "
                    "(archbench exports opset 13)",
    "resnet50_dcnv2": "error: layer 'layer2.0.conv2': deform_conv has no ONNX operator before opset 19 "
                      "(archbench exports opset 13)",
    "deeplab_v1_largefov": "error: layer 'crf': dense_crf has no ONNX operator",
    "deeplab_v2_resnet101": "error: layer 'crf': dense_crf has no ONNX operator",
}


ADAPTIVE_AT_64 = "has no ONNX operator (the output must divide the input)"
# The test suite's --quick mode: networks up to this many parameters (each one's weights are
# written, parsed twice and packed by a sanitized binary; the 60-140 M networks took most of
# the 9 minutes the whole zoo took under ASan).
QUICK_PARAMS = 45_000_000
# ... and of those, outputs compared for the networks up to 12 M parameters and U-Net (the zoo's
# transposed convs and crops).
QUICK_RUN_PARAMS = 12_000_000
QUICK_RUN_ALWAYS = {"unet"}


def run(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    header_len = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + header_len].decode()
    assert "'<f4'" in header, header
    body = data[10 + header_len:]
    return struct.unpack(f"<{len(body) // 4}f", body)


def main():
    tool = os.path.realpath(sys.argv[1])
    quick = "--quick" in sys.argv[2:]
    failures = []
    work = tempfile.mkdtemp()
    nets = run(tool, "zoo").stdout.split()
    skipped = []
    for net in nets:
        size = ["--input", "1,3,64,64"] if run(tool, "analyze", net, "--input", "1,3,64,64", check=False).returncode == 0 else []
        model = os.path.join(work, f"{net}.onnx")
        if quick and net not in NOT_EXPORTABLE:
            params = json.loads(run(tool, "analyze", net, *size, "--format", "json").stdout)["totals"]["params"]
            if params > QUICK_PARAMS:
                skipped.append(f"{net} ({params / 1e6:.0f} M parameters)")
                continue
        exported = run(tool, "export", net, *size, "-o", model, check=False)
        if size and ADAPTIVE_AT_64 in exported.stderr:
            # AlexNet's and VGG's adaptive pools upsample a 64x64 input's features, which ONNX
            # cannot express: at their own size (224) they pool 6x6 and 7x7 maps to themselves.
            params = json.loads(run(tool, "analyze", net, "--format", "json").stdout)["totals"]["params"]
            if quick and params > QUICK_PARAMS:
                skipped.append(f"{net} ({params / 1e6:.0f} M parameters)")
                continue
            size = []
            exported = run(tool, "export", net, "-o", model, check=False)
        if net in NOT_EXPORTABLE:
            if exported.returncode == 0 or NOT_EXPORTABLE[net] not in exported.stderr or os.path.exists(model):
                failures.append(f"{net}: expected the export to fail with '{NOT_EXPORTABLE[net]}', got exit "
                                f"{exported.returncode}: {exported.stderr.strip()}")
            continue
        if exported.returncode != 0:
            failures.append(f"{net}: export failed: {exported.stderr.strip()}")
            continue
        try:
            spec = json.loads(run(tool, "analyze", net, *size, "--format", "json").stdout)
            back = json.loads(run(tool, "analyze", model, "--format", "json").stdout)
        except RuntimeError as e:
            failures.append(f"{net}: {e}")
            continue
        for key in ("params", "macs", "flops"):
            if spec["totals"][key] != back["totals"][key]:
                failures.append(f"{net}: {key} {back['totals'][key]} after the round trip, {spec['totals'][key]} before")
        if spec["totals"].get("feature_receptive_field") != back["totals"].get("feature_receptive_field"):
            failures.append(f"{net}: receptive field {back['totals'].get('feature_receptive_field')} after, "
                            f"{spec['totals'].get('feature_receptive_field')} before")
        shapes = {layer["name"]: layer["output_shape"] for layer in back["layers"]}
        shared = [layer for layer in spec["layers"] if layer["name"] in shapes]
        for layer in shared:
            if shapes[layer["name"]] != layer["output_shape"]:
                failures.append(f"{net}: layer {layer['name']} is {shapes[layer['name']]} after, {layer['output']} before")
        if len(shared) < len(spec["layers"]) - sum(layer["op"] == "dropout" for layer in spec["layers"]) - 1:
            missing = [layer["name"] for layer in spec["layers"] if layer["name"] not in shapes and layer["op"] != "dropout"]
            failures.append(f"{net}: layers missing after the round trip: {missing[:5]}")
        if quick and back["totals"]["params"] > QUICK_RUN_PARAMS and net not in QUICK_RUN_ALWAYS:
            print(f"{net}: {len(shared)} layers shared, analysis equal (outputs compared without --quick)")
            os.remove(model)
            continue
        a, b = (os.path.join(work, f"{net}.{k}.npy") for k in ("spec", "onnx"))
        try:
            run(tool, "run", net, *size, "--output-file", a)
            run(tool, "run", model, "--output-file", b)
        except RuntimeError as e:
            failures.append(f"{net}: {e}")
            continue
        x, y = read_npy(a), read_npy(b)
        scale = max(1e-30, max(abs(v) for v in x))
        rel = max(abs(p - q) for p, q in zip(x, y)) / scale if len(x) == len(y) else float("inf")
        status = "ok" if rel <= 1e-5 else "MISMATCH"
        print(f"{net}: {len(shared)} layers shared, outputs differ by {rel:.1e} relative: {status}")
        if rel > 1e-5:
            failures.append(f"{net}: outputs differ by {rel:.2e} relative")
        os.remove(model)
    for net in skipped:
        print("skipped in --quick mode:", net)
    for f in failures:
        print("FAIL:", f)
    print(f"{len(nets)} zoo networks, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
