// Internal to runtime/: the fully connected, element-wise, normalisation and transposed-conv
// kernels (schedules/dense.cpp, schedules/eltwise.cpp, schedules/deconv.cpp). Activations are
// Buffers with dims (c, x, y, n) as in kernels.h; every `out` is allocated by the caller with
// the layer's output shape (networks/ops.cpp). Every function throws RuntimeError on shapes
// that do not fit and on a kernel failure.
//
// In place: add, multiply, scale-shift, the activations, softmax, LRN and layer norm may be
// given an `out` that is one of their inputs (same shape and strides); fc, conv_transpose and
// channel_shuffle may not.
// Any input or output may be a strided view (a crop window, a concat slice).
//
// NaN: relu (here, in add and in fc), relu6 and sigmoid keep a NaN a NaN as PyTorch does
// (the conv family's fused activations, schedules/activation.h, give 0 or 6 for a NaN).
#pragma once

#include <optional>
#include <vector>

#include "networks/networks.h"
#include "runtime/dense_crf.h"
#include "runtime/kernels.h"

namespace archbench::kernels {

// --- fully connected -----------------------------------------------------------------------

// A Linear layer on torch.flatten of an input of shape `in` (C, H, W; N free): the weight
// permuted so that its columns follow the input's memory order (c, x, y) instead of PyTorch's
// (c, h, w) flatten order, output features innermost and padded with zeros to a multiple of 16.
struct PreparedFC {
  int64_t channels = 0, height = 0, width = 0, out_features = 0;
  Buffer weight;  // (o padded, k = (y * W + x) * C + c)
  Buffer bias;    // (o padded); zeros without a bias
};

// weight: PyTorch [out, C*H*W]; bias [out] or null.
PreparedFC prepare_fc(const Tensor& weight, const Tensor* bias, const Shape& in);

// out (out_features, 1, 1, N) = [relu](in flattened . weight^T + bias); in (C, W, H, N), as
// the layer before a flatten leaves it (flatten needs no copy).
void run_fc(const PreparedFC& fc, const Buffer& in, Buffer& out, bool relu);

// --- element-wise --------------------------------------------------------------------------

// out = [relu](a + b); all three the same shape.
void run_add(const Buffer& a, const Buffer& b, Buffer& out, bool relu);

// out = a * b with NumPy broadcasting over N, C, H, W: along each axis an operand either has
// out's extent or extent 1 (the SE gate (C, 1, 1, N) times (C, W, H, N), a one-channel mask).
void run_multiply(const Buffer& a, const Buffer& b, Buffer& out);

// Per-channel out = act(in * scale + shift).
struct PreparedScaleShift {
  Buffer scale, shift;  // (c)
};

// Eval-mode batch-norm folded: scale = gamma / sqrt(var + eps), shift = beta - mean * scale
// (computed in double).
PreparedScaleShift prepare_batchnorm(const Tensor& gamma, const Tensor& beta, const Tensor& mean, const Tensor& var,
                                     double eps);

// The scale op's learned per-channel scale = weight, shift = bias (0 without one).
PreparedScaleShift prepare_scale(const Tensor& weight, const Tensor* bias);

// `act` is one of ReLU, ReLU6, Sigmoid, Swish, Tanh, HardSwish, or nullopt for none.
void run_scale_shift(const PreparedScaleShift& ss, const Buffer& in, Buffer& out,
                     std::optional<OpKind> act = std::nullopt);

// A standalone activation: op is ReLU, ReLU6, Sigmoid, Swish (x * sigmoid(x)), Tanh or
// HardSwish (x * relu6(x + 3) / 6). It runs the scale-shift kernel with scale 1 and shift 0
// (one variant per activation, not two).
void run_activation(OpKind op, const Buffer& in, Buffer& out);

// The activations with attributes, on the same kernel's variants. gelu: x * Phi(x), by erf or
// by PyTorch's tanh form; clip: clamp(x, min, max), an absent bound infinite; hardsigmoid:
// clamp(alpha * x + beta, 0, 1), alpha and beta as the scale and shift of the clamp variant.
void run_gelu(const GeluAttrs& attrs, const Buffer& in, Buffer& out);
void run_clip(const ClipAttrs& attrs, const Buffer& in, Buffer& out);
void run_hardsigmoid(const HardSigmoidAttrs& attrs, const Buffer& in, Buffer& out);

// ShuffleNet's channel shuffle: out channel j = in channel (j % groups) * (C / groups) + j / groups.
// `out` may not be `in`.
void run_channel_shuffle(const ChannelShuffleAttrs& attrs, const Buffer& in, Buffer& out);

// --- normalisation -------------------------------------------------------------------------

// Softmax over channels at every pixel, shifted by the channel maximum.
void run_softmax(const Buffer& in, Buffer& out);

// PyTorch's LocalResponseNorm: b = a / (k + alpha / size * sum of a^2 over channels
// [c - size/2, c + (size-1)/2])^beta, channels outside [0, C) contributing zero.
void run_lrn(const LRNAttrs& attrs, const Buffer& in, Buffer& out);

// Layer norm across channels, ready to run: weight and bias (ones and zeros without affine).
struct PreparedLayerNorm {
  Buffer weight, bias;  // (c)
  float eps = 1e-5f;
};

// weight and bias: [C] each, or both null (affine: false).
PreparedLayerNorm prepare_layer_norm(const LayerNormAttrs& attrs, const Tensor* weight, const Tensor* bias,
                                     int64_t channels);

// At every pixel: (x - mean) / sqrt(biased variance + eps) * weight(c) + bias(c) over channels.
void run_layer_norm(const PreparedLayerNorm& norm, const Buffer& in, Buffer& out);

// --- transposed convolution ----------------------------------------------------------------

// A ConvTranspose2d ready to run: per group the filter (co, ci, kx, ky) with output channels
// innermost and the bias, both padded with zeros to a multiple of 16 output channels, and per
// axis the taps of each output phase (see schedules/deconv.cpp).
struct PreparedDeconv {
  // One axis: per phase p = output mod stride, (k0, off, taps): the taps k0 + j * step,
  // j < taps, reading input (output / stride) + off - j * shift.
  struct Axis {
    IndexBuffer phases;  // (stride, 3)
    int step = 1, shift = 0, max_taps = 0, min_off = 0, max_off = 0;
  };
  Window win;
  int64_t groups = 1, out_channels_per_group = 0;
  std::vector<Buffer> filters;  // per group: (Cout/groups padded, Cin/groups, kw, kh)
  std::vector<Buffer> biases;   // per group: (Cout/groups padded); zeros without a bias
  Axis x, y;
};

// weight: PyTorch [Cin, Cout/groups, kh, kw]; bias [Cout] or null.
PreparedDeconv prepare_conv_transpose(const ConvTransposeAttrs& attrs, const Tensor& weight, const Tensor* bias);

// out = conv_transpose(in) + bias with padding pad_top/pad_left; the output size (and so
// output_padding and the bottom/right padding) is out's. `out` may not overlap `in`.
void run_conv_transpose(const PreparedDeconv& deconv, const Buffer& in, Buffer& out);

// --- deformable convolution ---------------------------------------------------------------

// A deformable conv ready to run: the filter and bias prepared as a conv's (batch-norm folded
// in; per group, never the depthwise layout), and for DCNv1 a mask of ones at the output's
// size (the kernel always multiplies by a mask).
struct PreparedDeform {
  PreparedConv conv;
  int64_t offset_groups = 1;
  bool sigmoid = false;
  Buffer ones;  // (G * kh * kw, W, H, N) of the output; empty where a mask input is given
};

// weight: PyTorch [Cout, Cin/groups, kh, kw]; `masked`: the layer has a mask (a third input,
// or sigmoid logits in its second); `out`: the output's shape.
PreparedDeform prepare_deform_conv(const DeformConvAttrs& attrs, const Tensor& weight, const Tensor* bias,
                                   const std::optional<BatchNormParams>& bn, bool masked, const Shape& out);

// out = [relu](deform_conv(in, offset, mask) + bias), torchvision.ops.deform_conv2d's
// semantics (schedules/deform.cpp). `offset` holds the offsets in its first 2 * G * kh * kw
// channels; with sigmoid its next G * kh * kw are the mask logits, else `mask` (or null: ones).
// Returns the variant that ran: "deform p14", "deform p12", "deform p7" or "deform p1" (the
// register tile that computes the fewest pixels twice), "deform" on a GPU set.
std::string run_deform_conv(const PreparedDeform& deform, const Buffer& in, const Buffer& offset, const Buffer* mask,
                            Buffer& out, bool relu);

// --- dense CRF -----------------------------------------------------------------------------

// dense_crf_lattice's mean-field update (runtime/dense_crf.h) by the cpu set's Halide kernel
// (schedules/crf.cpp), in every kernel set: the CRF runs on the host. Handles the smoothness
// and appearance lattices together or either alone (3 and 6 corners per pixel).
CrfUpdateKernel crf_update_kernel();

}  // namespace archbench::kernels
