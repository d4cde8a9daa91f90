// ONNX export: a loaded spec as an ONNX model (opset 13) that Netron opens and ONNX Runtime
// runs, so that any spec can be checked by a second engine. Layers become the nodes PyTorch's
// exporter writes for the same modules (SiLU as Sigmoid and Mul, GELU as the erf chain,
// LayerNorm as its decomposition, a channel shuffle as Reshape, Transpose, Reshape), named
// "/<layer>/<Op>", so that `archbench import` reads an export back as the same spec.
#pragma once

#include <map>
#include <string>

#include "networks/networks.h"
#include "networks/onnx_import.h"

namespace archbench {

constexpr int64_t kExportOpset = 13;

// The serialized ModelProto. `weights` holds every parameter the graph needs (as check_weights
// accepts them), keyed
// "<layer>.<param>" in PyTorch layouts (runtime/runtime.h); initializers keep those names.
// Every layer's output shape is recorded as value_info. Throws SpecError naming the layer for
// an op that opset 13 cannot express (deform_conv, dense_crf, an adaptive pool that does not
// divide its input) or a missing weight.
std::string export_onnx(const Graph& graph, const std::map<std::string, ImportedArray>& weights);

// Throws what export_onnx would for the graph's layers, without weights (so that a refusal
// comes before the weights are made).
void check_exportable(const Graph& graph);

}  // namespace archbench
