"""Just enough of an ONNX reader to name ONNX Runtime's profiled nodes after torch modules.

The `onnx` Python package is not installed next to Debian's torch, and the per-layer mode
needs only each node's name, op type, inputs and outputs: this reads them straight from the
protobuf wire format (ModelProto.graph = 7; GraphProto.node = 1; NodeProto.input = 1,
output = 2, name = 3, op_type = 4). Weights (GraphProto.initializer) are skipped unread.
"""
from dataclasses import dataclass, field


@dataclass
class Node:
    name: str
    op: str
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)


def _varint(buf, i):
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(buf):
    """(field number, value) pairs of one message; length-delimited values stay memoryviews."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = _varint(buf, i)
        elif wire_type == 2:
            length, i = _varint(buf, i)
            value, i = buf[i:i + length], i + length
        elif wire_type in (1, 5):  # fixed64, fixed32
            size = 8 if wire_type == 1 else 4
            value, i = buf[i:i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        yield number, value


def read_nodes(path):
    """The graph's nodes, in the file's (topological) order."""
    with open(path, "rb") as f:
        model = memoryview(f.read())
    graph = next((value for number, value in _fields(model) if number == 7), None)
    if graph is None:
        raise ValueError(f"{path}: no graph in this ONNX file")
    nodes = []
    for number, value in _fields(graph):
        if number != 1:
            continue
        node = Node("", "")
        for n, v in _fields(value):
            if n == 1:
                node.inputs.append(bytes(v).decode())
            elif n == 2:
                node.outputs.append(bytes(v).decode())
            elif n == 3:
                node.name = bytes(v).decode()
            elif n == 4:
                node.op = bytes(v).decode()
        nodes.append(node)
    return nodes


def _unqualified(qualified):
    """What torch's exporter calls a module in a scope: its last non-numeric name with the
    indices after it ("layer1.0" stays "layer1.0", "layer2.0.downsample.0" is "downsample.0")."""
    atoms = qualified.split(".")
    for i in range(len(atoms) - 1, -1, -1):
        if not atoms[i].isdigit():
            return ".".join(atoms[i:])
    return qualified


def module_path(node_name):
    """The torch module path of an exported node from its scoped name (torch >= 1.13):
    "/layer2/layer2.0/downsample/downsample.0/Conv" -> "layer2.0.downsample.0". Each scope
    component repeats its parent's unqualified name when the parent is a container, so the
    repeated part is dropped. Returns "" for a node outside any module ("/Flatten")."""
    parts = node_name.strip("/").split("/")[:-1]  # the last part is the op ("Conv", "Relu_1")
    path = ""
    for part in parts:
        parent = _unqualified(path) if path else ""
        if parent and part.startswith(parent + "."):
            path += part[len(parent):]
        else:
            path = f"{path}.{part}" if path else part
    return path
