#!/usr/bin/python3
"""archbench against ONNX Runtime's CPU execution provider: same weights, same input, same threads.

Reproduces the method of shared/reference/cpu-peers.md. For each network: build the seeded
torchvision model (random weights, batch-norm running statistics randomised so that folding
is exercised), export it to ONNX (opset 13, static 1x3xHxW; the exporter folds batch-norm
into the convs), save its state_dict as .safetensors and the input as .npy; check that
archbench and ONNX Runtime agree on the output; then time, in interleaved rounds,
`archbench bench --schedule default`, `archbench bench --schedule tuned` and ONNX Runtime
(ort_time.js), keeping each one's best median across the rounds.

  bench/peers/onnxruntime/compare.py [--archbench build/archbench] [--threads N] [--rounds 2]
                                     [--runs R] [--no-tuned] [--json FILE] [NET...]
  bench/peers/onnxruntime/compare.py --per-layer NET [--runs 15] [--schedule default]

--per-layer lines up ONNX Runtime's profiled nodes against `archbench bench --per-layer`'s
steps, layer by layer. Needs Debian's python3-torch/python3-torchvision (hence
/usr/bin/python3) and the npm peer: bench/peers/onnxruntime/install.sh.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
ORT_SCRIPT = os.path.join(HERE, "ort_time.js")
ORT_PACKAGE = os.path.join(REPO_ROOT, "build", "peers", "onnxruntime", "node_modules", "onnxruntime-node")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # bench/peers: pytorch_cpu

try:
    import numpy as np
    import torch
    import torchvision
    import pytorch_cpu  # the PyTorch peer: its model builders and safetensors writer
except ImportError as e:
    sys.exit(f"compare.py: cannot import {e.name}: run this with Debian's /usr/bin/python3 "
             "(packages python3-torch, python3-torchvision)")
import onnx_graph

# name: (builder, input size). pytorch_cpu's builders (GoogLeNet without aux logits, the
# segmentation nets without the aux head), plus ResNet-18; in cpu-peers.md's order.
BUILDERS = dict(pytorch_cpu.NETWORKS, resnet18=(lambda: torchvision.models.resnet18(), 224))
NETWORKS = ["alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "densenet121", "mobilenet_v2",
            "efficientnet_b0", "fcn_resnet50", "deeplabv3_resnet50"]
PER_LAYER_RUNS = 15


class Failure(Exception):
    """An expected failure (a tool missing, a command failing): one line, no traceback."""


def default_runs(name, size):
    """Timed runs per median: fewer for the slow networks, as cpu-peers.md did."""
    return 3 if size >= 512 else 5 if name == "vgg16" else 10


# ---------------------------------------------------------------------------------------------
# The tools
# ---------------------------------------------------------------------------------------------

def check_tools(args):
    if not (os.path.isfile(args.archbench) and os.access(args.archbench, os.X_OK)):
        raise Failure(f"{args.archbench} not found: build archbench first (cmake --build build), "
                      "or point --archbench at the binary")
    if shutil.which("node") is None:
        raise Failure("node not found: install Node.js, then run bench/peers/onnxruntime/install.sh")
    if not os.path.isdir(ORT_PACKAGE):
        raise Failure("onnxruntime-node is not installed in build/peers/onnxruntime: "
                      "run bench/peers/onnxruntime/install.sh first")


def run_tool(cmd, what):
    """Runs a command from the repository root (archbench finds configs/ there); its stdout."""
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}").splitlines()
        raise Failure(f"{what} failed: {' / '.join(lines[-3:])}")
    return proc.stdout, proc.stderr


def archbench(args, command, net, *extra):
    cmd = [args.archbench, command, net.name, "--input", net.shape, "--weights", net.weights,
           "--threads", str(args.threads), *extra]
    return run_tool(cmd, f"archbench {command} {net.name}")


def archbench_bench(args, net, schedule, runs, per_layer=False):
    """`archbench bench ... --format json`, parsed, and archbench's note on stderr (tuned: which
    database it read)."""
    extra = ["--schedule", schedule, "--format", "json", "--repetitions", str(runs)]
    out, err = archbench(args, "bench", net, *extra, *(["--per-layer"] if per_layer else []))
    return json.loads(out), err.strip()


def ort_time(args, net, runs, output=None, profile_dir=None):
    """ort_time.js's result: median_ms, samples_ms, onnxruntime (version), profile (a path)."""
    cmd = ["node", ORT_SCRIPT, "--model", net.onnx, "--input", net.x, "--threads", str(args.threads),
           "--runs", str(runs)]
    if output:
        cmd += ["--output", output]
    if profile_dir:
        cmd += ["--profile", profile_dir]
    out, _ = run_tool(cmd, f"ONNX Runtime on {net.name}")
    return json.loads(out)


# ---------------------------------------------------------------------------------------------
# The models
# ---------------------------------------------------------------------------------------------

@dataclass
class Net:
    name: str
    size: int
    shape: str       # archbench's --input: "1,3,H,W"
    onnx: str
    weights: str     # .safetensors, keyed by torchvision's state_dict names
    x: str           # the input, .npy
    wrapped: bool    # exported through MainOutput: node scopes start with "model."
    torch_out: object = None


class MainOutput(torch.nn.Module):
    """The segmentation models return {"out": ...}; the ONNX graph gets only that tensor."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def randomise_batchnorm(model):
    """Fresh batch-norms have mean 0, variance 1, which makes folding them a no-op: not a test."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)


def prepare(name, tmp, reference=True):
    """The seeded model's files for both engines; with `reference`, also PyTorch's output."""
    build, size = BUILDERS[name]
    torch.manual_seed(0)  # the same model and input as pytorch_cpu.py builds
    model = build().eval()
    randomise_batchnorm(model)
    x = torch.rand(1, 3, size, size)
    net = Net(name, size, f"1,3,{size},{size}", *(os.path.join(tmp, f"{name}.{ext}") for ext in
                                                   ("onnx", "safetensors", "x.npy")), wrapped=False)
    pytorch_cpu.write_safetensors(net.weights, {k: v for k, v in model.state_dict().items()
                                                if v.dtype == torch.float32})
    np.save(net.x, x.numpy())
    with torch.no_grad():
        out = model(x)
    net.wrapped = isinstance(out, dict)
    exported = MainOutput(model) if net.wrapped else model
    if reference:
        net.torch_out = (out["out"] if net.wrapped else out).numpy()
    with warnings.catch_warnings():  # the tracer's warnings are about training-only branches
        warnings.simplefilter("ignore")
        torch.onnx.export(exported, x, net.onnx, opset_version=13, input_names=["input"],
                          output_names=["output"])
    return net


def rel_diff(got, want):
    """max|got - want| / max|want|."""
    got = got.reshape(want.shape)
    return float(np.max(np.abs(got - want))) / max(1e-12, float(np.max(np.abs(want))))


# ---------------------------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------------------------

def compare_network(args, name, tmp):
    net = prepare(name, tmp)
    runs = args.runs or default_runs(name, net.size)
    ours_out, ort_out = (os.path.join(tmp, f"{name}.{who}.npy") for who in ("archbench", "ort"))
    archbench(args, "run", net, "--input-file", net.x, "--output-file", ours_out, "--schedule", "default")

    # Interleaved rounds, best median of each: the shared machine's speed drifts over minutes,
    # and alternating exposes every engine to the same drift.
    best = {"default": float("inf"), "tuned": float("inf"), "ort": float("inf")}
    tuned_note, version = "", ""
    for round_ in range(args.rounds):
        bench, _ = archbench_bench(args, net, "default", runs)
        best["default"] = min(best["default"], bench["latency_ms"]["median"])
        if not args.no_tuned:
            bench, tuned_note = archbench_bench(args, net, "tuned", runs)
            best["tuned"] = min(best["tuned"], bench["latency_ms"]["median"])
        ort = ort_time(args, net, runs, output=ort_out if round_ == 0 else None)
        best["ort"] = min(best["ort"], ort["median_ms"])
        version = ort["onnxruntime"]

    ort_y = np.load(ort_out)
    row = {
        "network": name,
        "input": net.shape,
        "runs": runs,
        "ort_ms": best["ort"],
        "default_ms": best["default"],
        "default_ratio": best["default"] / best["ort"],
        "tuned_ms": None if args.no_tuned else best["tuned"],
        "tuned_ratio": None if args.no_tuned else best["tuned"] / best["ort"],
        "max_rel_diff": rel_diff(np.load(ours_out), ort_y),
        "ort_vs_pytorch_rel_diff": rel_diff(ort_y, net.torch_out),
        "tuned_note": tuned_note,
    }
    return row, version


def fmt_ms(v):
    return f"{v:9.2f}" if v is not None else f"{'-':>9}"


def fmt_ratio(v):
    return f"{v:6.2f}" if v is not None else f"{'-':>6}"


def print_row(row):
    print(f"{row['network']:20s}{fmt_ms(row['ort_ms'])}  {fmt_ms(row['default_ms'])}  {fmt_ratio(row['default_ratio'])}"
          f"  {fmt_ms(row['tuned_ms'])}  {fmt_ratio(row['tuned_ratio'])}  {row['max_rel_diff']:12.2e}", flush=True)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def compare(args):
    rows, version = [], "?"
    print(f"{'network':20s}{'ORT ms':>9}  {'default ms':>9}  {'def/ORT':>6}  {'tuned ms':>9}  {'tun/ORT':>6}  "
          f"{'max rel diff':>12}", flush=True)
    with tempfile.TemporaryDirectory(prefix="archbench-ort-") as tmp:
        for name in args.networks:
            row, version = compare_network(args, name, tmp)
            rows.append(row)
            print_row(row)
            for f in os.listdir(tmp):  # VGG's and the segmentation nets' files are large
                os.remove(os.path.join(tmp, f))
    runs = (f"{args.runs} runs" if args.runs else
            "10 runs (5 for vgg16, 3 for the 512² nets)")
    method = (f"threads {args.threads}, batch 1, fp32, random weights; latency: median of {runs} after "
              f"2 warm-ups, the best of {args.rounds} interleaved round(s) (archbench default, tuned, ORT); "
              f"onnxruntime-node {version} CPU EP (graph optimisation all, sequential, 1 inter-op thread); "
              f"ratio = archbench / ORT; max rel diff = max|archbench - ORT| / max|ORT|; "
              f"{datetime.date.today().isoformat()}, {cpu_model()}")
    print("\n" + method)
    for r in rows:
        if r["tuned_note"]:
            print(f"archbench --schedule tuned, {r['network']}: {r['tuned_note']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"method": method, "threads": args.threads, "rounds": args.rounds,
                       "onnxruntime": version, "date": datetime.date.today().isoformat(),
                       "cpu": cpu_model(), "rows": rows}, f, indent=2)


# ---------------------------------------------------------------------------------------------
# Layer by layer
# ---------------------------------------------------------------------------------------------

def profiled_nodes(trace_file, runs):
    """[(node name, op, median ms)] in execution order, from ORT's Chrome trace: the events
    with cat "Node" named "<node>_kernel_time", the last `runs` of each node (not the warm-ups)."""
    with open(trace_file) as f:
        events = json.load(f)
    durations, ops = {}, {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            node = e["name"][:-len("_kernel_time")]
            durations.setdefault(node, []).append(e["dur"] / 1000.0)  # µs -> ms
            ops[node] = e.get("args", {}).get("op_name", "?")
    return [(node, ops[node], statistics.median(d[-runs:])) for node, d in durations.items()]


# ORT's fused ops and the ONNX op at their core (the one whose module names the node).
FUSED_CORE = {"FusedConv": "Conv", "FusedGemm": "Gemm", "FusedMatMul": "MatMul", "NhwcConv": "Conv"}

# ONNX / ORT ops and the archbench ops they compute.
ARCHBENCH_OPS = {
    "Conv": {"conv"}, "ConvTranspose": {"conv_transpose"}, "MaxPool": {"maxpool"}, "AveragePool": {"avgpool"},
    "GlobalAveragePool": {"global_avgpool", "adaptive_avgpool"}, "LRN": {"lrn"},
    "BatchNormalization": {"batchnorm"}, "Relu": {"relu"}, "Clip": {"relu6"}, "Sigmoid": {"sigmoid"},
    "QuickGelu": {"swish"}, "Tanh": {"tanh"}, "Add": {"add"}, "Sum": {"add"}, "Mul": {"multiply"},
    "Concat": {"concat"}, "Pad": {"pad"}, "Resize": {"upsample"}, "Upsample": {"upsample"},
    "Flatten": {"flatten"}, "Reshape": {"flatten"}, "Gemm": {"fc"}, "MatMul": {"fc"}, "Softmax": {"softmax"},
}


def onnx_anchor(ort_name, ort_op, graph):
    """The ONNX node an ORT node stands for. ORT keeps a node's name, or names a node it makes
    after an output tensor or an original node plus a suffix ("/relu/Relu_output_0_nchwc",
    ".../Mul/QuickGeluFusion/", "ReorderOutput_token_12"): strip "_" and "/" segments until
    a node or tensor name matches. A fused Conv+Relu named by the Relu's output walks back to
    its Conv. None for ORT's own nodes (ReorderInput/ReorderOutput)."""
    nodes, producers = graph
    candidate = ort_name
    while candidate:
        node = nodes.get(candidate) or producers.get(candidate)
        if node is not None:
            return walk_back_to(node, FUSED_CORE.get(ort_op, ort_op), producers) or node
        shorter = re.sub(r"[_/][^_/]*$", "", candidate.rstrip("/"))
        if shorter == candidate:  # no separator left ("Conv_3", "ReorderOutput"): nothing matched
            break
        candidate = shorter
    return None


def walk_back_to(node, op, producers, depth=4):
    """The nearest node of type `op` at or above `node`, through its data inputs."""
    frontier = [node]
    for _ in range(depth):
        for n in frontier:
            if n.op == op:
                return n
        frontier = [producers[t] for n in frontier for t in n.inputs if t in producers]
    return None


def archbench_layer(anchor, ort_op, layers, wrapped):
    """The archbench layer an ONNX node computes, by name: archbench's zoo names layers after
    torchvision's module paths. Tried in turn: the node's module ("/layer1/layer1.0/conv1/Conv"
    -> "layer1.0.conv1"); module + op, for ops written in a forward() rather than as modules
    ("/layer1/layer1.0/Add" -> "layer1.0.add", "/Flatten" -> "flatten"); else the one layer
    of that op inside the module (SE's "/.../block.2/Mul" -> "block.2.scale"). None if none fits."""
    path = onnx_graph.module_path(anchor.name)
    if wrapped:  # MainOutput's attribute
        path = "" if path == "model" else path.removeprefix("model.")
    word = anchor.name.rstrip("/").rsplit("/", 1)[-1].split("_")[0].lower()  # "Relu_1" -> "relu"
    for name in (path, f"{path}.{word}" if path else word):
        if name in layers:
            return name
    ops = ARCHBENCH_OPS.get(FUSED_CORE.get(ort_op, ort_op)) or ARCHBENCH_OPS.get(anchor.op, set())
    inside = [name for name, op in layers.items()
              if op in ops and (not path or name.startswith(path + "."))]
    return inside[0] if len(inside) == 1 else None


def archbench_steps(bench_layers, graph_layers):
    """archbench's steps, each with the layers it runs. A step is named by its last layer and
    its kernel lists the fused ops ("conv+bn+add+relu"); its layers form a chain, which we
    walk back from the last one. Where an add has two inputs, the chain continues through
    the later one (the executor fuses only a conv computed after the add's other input)."""
    index = {l["name"]: i for i, l in enumerate(graph_layers)}
    steps = []
    for t in bench_layers:
        members = [t["name"]]
        for _ in range(len(t["kernel"].split("+")) - 1):
            inputs = graph_layers[index[members[0]]].get("inputs", []) if members[0] in index else []
            inputs = [i for i in inputs if i in index]
            if not inputs:
                break
            members.insert(0, max(inputs, key=index.get))
        steps.append(dict(t, members=members))
    return steps


def line_up(ort_nodes, steps, layers, graph, wrapped):
    """Rows in archbench's order: each step with the ORT nodes attributed to it (a fused ORT
    node counts for the first archbench layer it matches); ORT nodes no step holds (NCHWc
    reorders, unmatched names) as rows of their own after the step the previous ORT node
    went to."""
    owner = {m: s for s, step in enumerate(steps) for m in step["members"]}
    attached = [[] for _ in steps]
    loose = {}  # step index (-1: before the first) -> unmatched ORT nodes after it
    last = -1
    for name, op, ms in ort_nodes:
        anchor = onnx_anchor(name, op, graph)
        layer = archbench_layer(anchor, op, layers, wrapped) if anchor is not None else None
        s = owner.get(layer)
        if s is None:
            loose.setdefault(last, []).append((name, op, ms))
        else:
            attached[s].append((name, op, ms))
            last = s
    rows = [{"layer": "", "ort_op": op, "ort_ms": ms, "ort_node": name, "kernel": None, "archbench_ms": None}
            for name, op, ms in loose.get(-1, [])]
    for s, step in enumerate(steps):
        nodes = attached[s]
        rows.append({"layer": step["members"][0], "step": step["name"],
                     "ort_op": "+".join(op for _, op, _ in nodes) or None,
                     "ort_ms": sum(ms for _, _, ms in nodes) if nodes else None,
                     "ort_node": ", ".join(n for n, _, _ in nodes),
                     "kernel": step["kernel"], "archbench_ms": step["median_ms"], "flops": step.get("flops")})
        rows += [{"layer": "", "ort_op": op, "ort_ms": ms, "ort_node": name, "kernel": None, "archbench_ms": None}
                 for name, op, ms in loose.get(s, [])]
    return rows


def print_layers(rows):
    labels = [r["layer"] or f"(ORT only: {r['ort_node']})" for r in rows]
    width = max([len(label) for label in labels] + [20])
    print(f"{'layer':{width}s}  {'ORT op':18s} {'ORT ms':>8}  {'archbench kernel':24s} {'ab ms':>8}  {'ratio':>6}")
    for r, layer in zip(rows, labels):
        ort_ms = f"{r['ort_ms']:8.3f}" if r["ort_ms"] is not None else f"{'-':>8}"
        ab_ms = f"{r['archbench_ms']:8.3f}" if r["archbench_ms"] is not None else f"{'-':>8}"
        ratio = (f"{r['archbench_ms'] / r['ort_ms']:6.2f}" if r["ort_ms"] and r["archbench_ms"] is not None
                 else f"{'-':>6}")
        print(f"{layer:{width}s}  {(r['ort_op'] or '-'):18s} {ort_ms}  {(r['kernel'] or '-'):24s} {ab_ms}  {ratio}")


def per_layer(args):
    name = args.per_layer
    runs = args.runs or PER_LAYER_RUNS
    with tempfile.TemporaryDirectory(prefix="archbench-ort-") as tmp:
        net = prepare(name, tmp, reference=False)
        ort = ort_time(args, net, runs, profile_dir=os.path.join(tmp, "profile"))
        if not ort.get("profile"):
            raise Failure("ONNX Runtime wrote no profile")
        ort_nodes = profiled_nodes(ort["profile"], runs)
        bench, _ = archbench_bench(args, net, args.schedule, runs, per_layer=True)
        analysis, _ = run_tool([args.archbench, "analyze", name, "--input", net.shape, "--format", "json"],
                               f"archbench analyze {name}")
        nodes = onnx_graph.read_nodes(net.onnx)
    graph = ({n.name: n for n in nodes}, {t: n for n in nodes for t in n.outputs})
    layers = json.loads(analysis)["layers"]
    steps = archbench_steps(bench["layers"], layers)
    rows = line_up(ort_nodes, steps, {l["name"]: l["op"] for l in layers}, graph, net.wrapped)
    print_layers(rows)

    ort_total = sum(ms for _, _, ms in ort_nodes)
    ab_total = sum(s["median_ms"] for s in steps)
    loose = [r for r in rows if r["kernel"] is None]
    unmatched_steps = sum(1 for r in rows if r["kernel"] is not None and r["ort_ms"] is None)
    print(f"\ntotal (sum of per-node / per-step medians): ORT {ort_total:.3f} ms over {len(ort_nodes)} nodes "
          f"({len(loose)} with no archbench step, {sum(r['ort_ms'] for r in loose):.3f} ms), archbench "
          f"{ab_total:.3f} ms over {len(steps)} steps ({unmatched_steps} with no ORT node); ratio "
          f"{ab_total / ort_total:.2f}")
    print(f"end to end (medians): ORT {ort['median_ms']:.3f} ms with profiling on, archbench "
          f"{bench['latency_ms']['median']:.3f} ms")
    print(f"{name} 1x3x{net.size}x{net.size}, threads {args.threads}, fp32; ORT {ort['onnxruntime']}: the median "
          f"of each node's {runs} profiled runs (fused nodes: one row, under the first archbench layer they "
          f"match); archbench --schedule {args.schedule}: each step's median over {runs} repetitions; ratio = "
          f"archbench / ORT; {datetime.date.today().isoformat()}, {cpu_model()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"network": name, "threads": args.threads, "runs": runs, "rows": rows,
                       "ort_total_ms": ort_total, "archbench_total_ms": ab_total}, f, indent=2)


# ---------------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archbench", default=os.path.join(REPO_ROOT, "build", "archbench"),
                    help="the archbench binary (default: build/archbench in this repository)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of both engines")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (best median kept)")
    ap.add_argument("--runs", type=int, help="timed runs per median (default: 10; vgg16 5; 512² nets 3; "
                                             f"--per-layer {PER_LAYER_RUNS})")
    ap.add_argument("--no-tuned", action="store_true", help="skip archbench --schedule tuned")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    ap.add_argument("--per-layer", metavar="NET", help="line up ORT's profiled nodes and archbench's steps")
    ap.add_argument("--schedule", default="default", help="archbench's conv schedule in --per-layer mode")
    ap.add_argument("networks", nargs="*", metavar="NET", help=f"default: all of {', '.join(NETWORKS)}")
    args = ap.parse_args()
    for name in args.networks + ([args.per_layer] if args.per_layer else []):
        if name not in BUILDERS:
            ap.error(f"unknown network {name!r}; choose from {', '.join(NETWORKS)}")
    if args.per_layer and args.networks:
        ap.error("--per-layer takes one network; drop the positional names")
    for flag in ("threads", "rounds", "runs"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            ap.error(f"--{flag} must be at least 1")
    args.networks = args.networks or NETWORKS
    args.archbench = os.path.abspath(args.archbench)
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)  # the export and the reference forward pass
    try:
        check_tools(args)
        per_layer(args) if args.per_layer else compare(args)
    except Failure as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
