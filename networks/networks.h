// networks: the spec format, YAML loading, the layer graph and shape inference.
//
// A spec is loaded into a Graph whose layers are in execution order (a topological order
// that keeps the order in which the spec wrote them). Every layer carries its typed
// attributes, its inferred output shape (N, C, H, W) and the place in the YAML that made it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace archbench {

// N, C, H, W of one activation tensor.
struct Shape {
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t elements() const;  // throws std::overflow_error where the product overflows int64
  bool operator==(const Shape&) const = default;
};
// As reports and case labels write a shape: "1x3x224x224".
std::string shape_text(const Shape& s);
// Dimensions as messages write them: "[1, 3, 224, 224]".
std::string dims_text(const std::vector<int64_t>& dims);
std::string dims_text(const Shape& s);

// Where in which YAML file something was written (line and column are 1-based).
struct SourceLoc {
  std::string file;
  int line = 0, column = 0;
};

// The error every bad spec gives: "file:line:col: layer 'name': message".
class SpecError : public std::runtime_error {
 public:
  SpecError(SourceLoc loc, std::string layer, std::string message);
  const SourceLoc& loc() const { return loc_; }
  const std::string& layer() const { return layer_; }
  const std::string& message() const { return message_; }

 private:
  SourceLoc loc_;
  std::string layer_, message_;
};

enum class OpKind {
  Input,
  Conv,
  ConvTranspose,
  DeformConv,
  MaxPool,
  AvgPool,
  GlobalAvgPool,
  AdaptiveAvgPool,
  LRN,
  BatchNorm,
  ReLU,
  ReLU6,
  Sigmoid,
  Swish,
  Tanh,
  Add,
  Multiply,
  Concat,
  Crop,
  Pad,
  Upsample,
  Flatten,
  FullyConnected,
  Softmax,
  Dropout,
  DenseCrf,
  HardSwish,
  HardSigmoid,
  Gelu,
  Clip,
  LayerNorm,
  ChannelShuffle,
  Slice,
  Scale
};

// Spatial window attributes shared by conv, transposed conv and pooling; padding is
// explicit per side after `same`/`valid` have been resolved against the input size.
struct Window {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
};

struct InputAttrs {};
struct ConvAttrs {
  int64_t out_channels = 0, groups = 1;
  Window win;
  bool bias = true;
};
struct ConvTransposeAttrs {
  int64_t out_channels = 0, groups = 1, output_pad_h = 0, output_pad_w = 0;
  Window win;
  bool bias = true;
};
// Deformable convolution (Dai et al. 2017; DCNv2, Zhu et al. 2019) as
// torchvision.ops.deform_conv2d computes it. Inputs [x, offset] (DCNv1), [x, offset, mask], or
// [x, offset_mask] with `sigmoid` (mmcv's ModulatedDeformConv2dPack: channels [0, 2GK) the
// offsets, [2GK, 3GK) mask logits), G = offset_groups, K = kh * kw; offsets interleave (dy, dx)
// per tap in row-major tap order, per offset group.
struct DeformConvAttrs {
  int64_t out_channels = 0, groups = 1, offset_groups = 1;
  Window win;
  bool bias = true;
  bool sigmoid = false;       // modulated: sigmoid
  int64_t offset_bound = -1;  // |offset| <= b pixels, for the receptive field; -1: none given
};
struct PoolAttrs {
  Window win;
  bool ceil_mode = false, count_include_pad = true;
};
struct GlobalPoolAttrs {};
struct AdaptivePoolAttrs {
  int64_t out_h = 1, out_w = 1;
};
struct LRNAttrs {
  int64_t size = 5;
  double alpha = 1e-4, beta = 0.75, k = 1.0;
};
struct BatchNormAttrs {
  double eps = 1e-5;
};
struct ActivationAttrs {};
struct EltwiseAttrs {};  // add and multiply; multiply broadcasts 1x1 / C=1 operands
struct ConcatAttrs {};   // along channels
// Crop to `size`, or to the spatial size of the second input; `offset` is top/left;
// `center` places the window in the middle (U-Net's crop).
struct CropAttrs {
  int64_t off_h = 0, off_w = 0, size_h = 0, size_w = 0;
  bool center = false;
};
struct PadAttrs {
  int64_t top = 0, left = 0, bottom = 0, right = 0;
  double value = 0.0;
};
enum class UpsampleMode { Nearest, Bilinear };
// Either a scale factor (num/den per axis) or an explicit size (or the second input's size).
struct UpsampleAttrs {
  UpsampleMode mode = UpsampleMode::Nearest;
  bool align_corners = false;
  double scale_h = 0, scale_w = 0;  // 0 when the size is given
  int64_t size_h = 0, size_w = 0;
};
struct FlattenAttrs {};
struct FullyConnectedAttrs {
  int64_t out_features = 0;
  bool bias = true;
};
struct SoftmaxAttrs {};
struct DropoutAttrs {
  double p = 0.5;
};
// DeepLab's fully connected CRF (Krähenbühl & Koltun 2011), mean-field with Potts
// compatibility, on inputs [scores, image] (runtime/dense_crf.h has the exact definition).
// Defaults: DeepLab's published script values.
struct DenseCrfAttrs {
  int64_t iterations = 10;
  double gaussian_weight = 3, gaussian_sxy = 3;
  double bilateral_weight = 4, bilateral_sxy = 49, bilateral_srgb = 5;
  double rgb_scale[3] = {1, 1, 1};
  bool symmetric = false;  // normalization: row (false) or symmetric
};

// PyTorch's Hardsigmoid generalised as ONNX's HardSigmoid: max(0, min(1, alpha * x + beta)).
// The defaults are PyTorch's (ONNX's alpha is 0.2).
struct HardSigmoidAttrs {
  double alpha = 1.0 / 6.0, beta = 0.5;
};
// GELU: x * Phi(x) exactly (erf), or PyTorch's approximate='tanh' form.
struct GeluAttrs {
  bool tanh = false;
};
// clamp(x, min, max); an absent bound is infinite (at least one is given).
struct ClipAttrs {
  double min = -std::numeric_limits<double>::infinity(), max = std::numeric_limits<double>::infinity();
};
// Normalisation across the channels at each (n, h, w) position, biased variance (ConvNeXt's
// LayerNorm2d); `affine`: times weight[c] plus bias[c].
struct LayerNormAttrs {
  double eps = 1e-5;
  bool affine = true;
};
// ShuffleNet's shuffle: output channel j is input channel (j % groups) * (C / groups) + j / groups.
struct ChannelShuffleAttrs {
  int64_t groups = 1;
};
// The input's channels [begin, end).
struct SliceAttrs {
  int64_t begin = 0, end = 0;
};
// Learned per-channel x * weight[c] (+ bias[c]): ConvNeXt's layer scale.
struct ScaleAttrs {
  bool bias = false;
};

using OpAttrs =
    std::variant<InputAttrs, ConvAttrs, ConvTransposeAttrs, DeformConvAttrs, PoolAttrs, GlobalPoolAttrs,
                 AdaptivePoolAttrs, LRNAttrs, BatchNormAttrs, ActivationAttrs, EltwiseAttrs, ConcatAttrs, CropAttrs,
                 PadAttrs, UpsampleAttrs, FlattenAttrs, FullyConnectedAttrs, SoftmaxAttrs, DropoutAttrs, DenseCrfAttrs,
                 HardSigmoidAttrs, GeluAttrs, ClipAttrs, LayerNormAttrs, ChannelShuffleAttrs, SliceAttrs, ScaleAttrs>;

struct Layer {
  std::string name;
  OpKind op = OpKind::Input;
  OpAttrs attrs;
  std::vector<int> inputs;  // indices into Graph::layers, all smaller than this layer's
  Shape output;
  SourceLoc loc;
  bool train_only = false;
};

struct Graph {
  std::string name;
  std::string file;
  std::vector<Layer> layers;                     // execution order; layers[0] is the network input
  std::map<std::string, std::string> endpoints;  // endpoint name -> layer name

  const Layer& input() const { return layers.front(); }
  int find(const std::string& layer_name) const;  // index, or -1
  std::vector<int> outputs() const;               // layers no other layer reads
  std::vector<std::vector<int>> consumers() const;
};

struct LoadOptions {
  std::optional<Shape> input;       // overrides the spec's input
  bool include_train_only = false;  // keep branches marked train_only
};

// The name of an op as the spec writes it ("conv", "maxpool", ...).
std::string op_name(OpKind op);

// Loads a spec file (with its includes), expands blocks and repeats, checks every attribute
// and infers every shape. Throws SpecError naming file:line:col and the layer.
Graph load_spec(const std::filesystem::path& file, const LoadOptions& options = {});

// Same, from text; `file` is the name used in messages and for resolving includes.
Graph load_spec_text(const std::string& text, const std::filesystem::path& file, const LoadOptions& options = {});

// Parses "N,C,H,W" (the --input flag); throws std::invalid_argument with a message.
Shape parse_shape(const std::string& text);

// The folder holding the zoo specs shipped with this build, and the zoo's network names.
std::filesystem::path zoo_dir();
std::vector<std::string> zoo_networks();
// A spec argument: a path to a YAML file, or a zoo network's name ("resnet50"). Throws
// SpecError naming the argument when it is neither.
std::filesystem::path resolve_spec(const std::string& arg);

// The closest of `candidates` to `word` by edit distance, or "" when none is close: the
// "did you mean" hint of error messages.
std::string closest_name(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace archbench
