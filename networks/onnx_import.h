// ONNX import: a model file becomes the spec it is equivalent to, plus its weights.
//
// The importer reads the ModelProto (Debian's libonnx protobuf classes), folds the shape
// arithmetic torch writes (Shape -> Gather -> ... -> Concat) to constants at the given input
// size, recognises the multi-node patterns exporters write for one layer (SiLU, hardswish,
// erf GELU, LayerNorm, channel shuffle, Linear on a permuted tensor) and maps every node to a
// spec layer. The result is spec text that the ordinary loader checks, so an imported model
// analyses, runs and sweeps exactly like a written one. Layer names come from the module
// paths torch writes ("/layer1/layer1.0/conv1/Conv" -> "layer1.0.conv1"), so the weights
// carry a torchvision state_dict's names.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "networks/networks.h"

namespace archbench {

struct ImportedArray {
  std::vector<int64_t> dims;
  std::vector<float> data;
};

struct OnnxImport {
  std::string spec;                                  // the spec's YAML text
  std::map<std::string, ImportedArray> weights;      // "<layer>.<param>"; empty unless asked for
  int64_t opset = 0;                                 // of the default domain
  int64_t nodes = 0;                                 // in the model's graph
};

// True for a path whose extension is ".onnx" (any case).
bool is_onnx_path(const std::filesystem::path& file);

// Imports `file`. `options.input` fixes the input's shape (needed where the model's input has
// dynamic dimensions). With `with_weights`, the initializers are copied out as the spec's
// parameters. Throws SpecError naming the file (and the node or layer): every unsupported node
// is listed once in one error.
OnnxImport import_onnx(const std::filesystem::path& file, const LoadOptions& options, bool with_weights);

// Loads the spec text an import produced; errors name `model` and the layer (no line: the
// text is not a file the user wrote).
Graph load_imported_spec(const std::string& text, const std::filesystem::path& model, const LoadOptions& options);

}  // namespace archbench
