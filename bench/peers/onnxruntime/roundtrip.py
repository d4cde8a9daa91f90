#!/usr/bin/python3
"""Every zoo spec exported by `archbench export`, run in ONNX Runtime, against archbench.

For each zoo network (or those named): `archbench export` (He-initialised weights, seed 0) at
the spec's own input size, one random input (seeded), `archbench run` of the spec and
ONNX Runtime (onnxruntime-node, ort_time.js, CPU execution provider) on the exported file;
prints max |archbench - ORT| / max |ORT| per network and fails above --tolerance (1e-4).
Networks with layers opset 13 cannot express (deform_conv, dense_crf) are listed as such.

usage: bench/peers/onnxruntime/roundtrip.py [--archbench build/archbench] [--out build/peers/roundtrip]
                                            [--tolerance 1e-4] [NET...]
Needs bench/peers/onnxruntime/install.sh (once) and numpy (Debian's python3-numpy).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archbench", default="build/archbench")
    ap.add_argument("--out", default="build/peers/roundtrip")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("nets", nargs="*")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    nets = args.nets or subprocess.run([args.archbench, "zoo"], capture_output=True, text=True, check=True).stdout.split()
    failed, not_exported = [], []
    print("| network | input | ONNX MiB | max rel. difference (archbench vs ORT) | result |")
    print("|---|---|---:|---:|---|")
    for net in nets:
        model = os.path.join(args.out, f"{net}.onnx")
        r = subprocess.run([args.archbench, "export", net, "-o", model], capture_output=True, text=True)
        if r.returncode != 0:
            not_exported.append((net, r.stderr.strip().split(": error: ")[-1]))
            continue
        shape = subprocess.run([args.archbench, "analyze", net, "--format", "json"], capture_output=True, text=True,
                               check=True).stdout
        dims = json.loads(shape)["input"]
        x = np.random.default_rng(0).standard_normal(dims).astype(np.float32)
        xfile, afile, ofile = (os.path.join(args.out, f"{net}.{k}.npy") for k in ("x", "archbench", "ort"))
        np.save(xfile, x)
        subprocess.run([args.archbench, "run", net, "--input-file", xfile, "--output-file", afile], check=True,
                       capture_output=True)
        o = subprocess.run(["node", os.path.join(HERE, "ort_time.js"), "--model", model, "--input", xfile,
                            "--runs", "1", "--warmup", "0", "--output", ofile], capture_output=True, text=True)
        if o.returncode != 0:
            failed.append((net, o.stderr.strip()))
            print(f"| {net} | {dims} | | | **ORT failed**: {o.stderr.strip()[:200]} |", flush=True)
            continue
        a, b = np.load(afile).ravel(), np.load(ofile).ravel()
        rel = float(np.max(np.abs(a - b)) / max(1e-30, float(np.max(np.abs(b))))) if a.size == b.size else float("inf")
        ok = rel <= args.tolerance
        if not ok:
            failed.append((net, f"relative difference {rel:.2e}"))
        mib = os.path.getsize(model) / 2**20
        print(f"| {net} | {'x'.join(map(str, dims))} | {mib:.1f} | {rel:.1e} | {'ok' if ok else '**too large**'} |", flush=True)
        os.remove(model)
    for net, why in not_exported:
        print(f"not exported: {net}: {why}")
    for net, why in failed:
        print(f"FAILED: {net}: {why}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
