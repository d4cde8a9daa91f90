// runtime: tensors, weights, file formats, and the executors that run a Graph.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "networks/networks.h"
#include "networks/onnx_import.h"

namespace archbench {

// A dense fp32 tensor of any rank, row-major. Activations are rank 4, N, C, H, W (the
// interchange layout of .npy files and of the reference executor); kernels re-lay them out.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> dims);  // zero-filled; throws std::length_error on overflow
  explicit Tensor(const Shape& s) : Tensor(std::vector<int64_t>{s.n, s.c, s.h, s.w}) {}
  int64_t size() const { return static_cast<int64_t>(data.size()); }
  Shape nchw() const;  // rank-4 shape as Shape; throws std::logic_error for other ranks
  float& at(int64_t n, int64_t c, int64_t h, int64_t w);
  float at(int64_t n, int64_t c, int64_t h, int64_t w) const;
};

// Errors in runtime input (weights, tensors, files): the message names the file and what
// was expected. The CLI prints it and exits 1.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Named parameter tensors in PyTorch's state_dict layout, keyed "<layer>.<param>":
// conv "weight" [Cout, Cin/g, kh, kw] and "bias" [Cout]; conv_transpose "weight"
// [Cin, Cout/g, kh, kw]; fc "weight" [out, in] and "bias" [out]; batchnorm "weight",
// "bias", "running_mean", "running_var" [C].
using Weights = std::map<std::string, Tensor>;

struct ParamSpec {
  std::string name;  // full key, e.g. "layer1.0.conv1.weight"
  std::vector<int64_t> shape;
};

// The parameters a graph's layers need, in execution order.
std::vector<ParamSpec> expected_params(const Graph& graph);

// Deterministic weights: He-normal (std = sqrt(2 / fan_in)) conv and fc weights from a
// generator seeded by `seed` and the parameter's name (so a layer's weights do not depend on
// the rest of the network), small random biases, batch-norm gamma ~ 1, beta ~ 0, running
// mean ~ 0 and running variance ~ 1 (perturbed so that folding is exercised).
Weights init_weights(const Graph& graph, uint64_t seed);

// Checks a weight set against the graph: every expected key present with its shape.
// Keys the graph does not use are ignored (a torchvision state_dict carries
// num_batches_tracked, aux heads, ...). Throws RuntimeError naming the key and `source`.
void check_weights(const Graph& graph, const Weights& weights, const std::string& source);

// An ONNX model's initializers as weights, and weights as the arrays export_onnx writes.
Weights weights_from_arrays(std::map<std::string, ImportedArray> arrays);
std::map<std::string, ImportedArray> arrays_from_weights(Weights weights);

// A network to run: a spec loaded, or an ONNX model imported (networks/onnx_import.h) once,
// with the weights it carries (its initializers, checked against the graph) where
// `model_weights` asks for them. `weights` and `model` are empty for a spec; `model` keeps the
// import's spec text, opset and node count (its weights moved to `weights`).
struct LoadedNetwork {
  Graph graph;
  std::optional<Weights> weights;
  std::optional<OnnxImport> model;
};
LoadedNetwork load_network(const std::filesystem::path& file, const LoadOptions& options, bool model_weights);

// .npy (NumPy format 1.0/2.0, little-endian float32, C order). Throws RuntimeError on a
// missing, truncated or non-float32 file; write is whole-or-nothing.
Tensor read_npy(const std::filesystem::path& file);
void write_npy(const std::filesystem::path& file, const Tensor& tensor);

// The network input `run` and `bench` use when none is given: a fixed pattern in [0, 1), the
// same on every machine, so runs and timings are comparable.
Tensor default_input(const Shape& shape);

// An .npy network input, checked to have `shape`: RuntimeError "FILE: the input has shape
// [...], the network takes [...]" otherwise.
Tensor read_input(const std::filesystem::path& file, const Shape& shape);

// .safetensors with F32 tensors (F16/BF16/F64 are converted to float32). Throws
// RuntimeError on malformed headers, offsets outside the file, or unsupported dtypes.
Weights read_safetensors(const std::filesystem::path& file);
void write_safetensors(const std::filesystem::path& file, const Weights& weights);

// The naive executor: plain loops, double accumulation, every op of the spec format, batch
// norm unfolded (eval mode: (x - mean) / sqrt(var + eps) * gamma + beta). Returns every
// layer's output when `keep_all`, else the network outputs only, keyed by layer name.
std::map<std::string, Tensor> run_reference(const Graph& graph, const Weights& weights, const Tensor& input,
                                            bool keep_all = false);

}  // namespace archbench
