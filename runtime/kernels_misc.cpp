#include "runtime/kernels_misc.h"

#include "common/split_threads.h"

#include <HalideRuntime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "archbench_add.h"
#include "archbench_add_relu.h"
#include "archbench_channel_shuffle.h"
#include "archbench_deconv.h"
#include "archbench_fc.h"
#include "archbench_fc_relu.h"
#include "archbench_layer_norm.h"
#include "archbench_lrn.h"
#include "archbench_multiply.h"
#include "archbench_scale_shift.h"
#include "archbench_scale_shift_clamp.h"
#include "archbench_scale_shift_gelu.h"
#include "archbench_scale_shift_gelu_tanh.h"
#include "archbench_scale_shift_hardswish.h"
#include "archbench_scale_shift_relu.h"
#include "archbench_scale_shift_relu6.h"
#include "archbench_scale_shift_sigmoid.h"
#include "archbench_scale_shift_swish.h"
#include "archbench_scale_shift_tanh.h"
#include "archbench_softmax.h"
#ifdef ARCHBENCH_HAS_CUDA
#include "kernels_cuda_includes.inc"
#endif
#ifdef ARCHBENCH_HAS_OPENCL
#include "kernels_opencl_includes.inc"
#endif

namespace archbench::kernels {

namespace {

// The prepared weights and biases of fc and conv_transpose are padded to a multiple of this
// many output channels, the widest vector of any target (the kernels read whole vectors).
constexpr int64_t kChannelPad = 16;

// fc's reduction split (schedules/dense.cpp): rows of the weight per parallel task, a multiple
// of the kernel's unroll (8). About four tasks per core, at least 128 rows each, and few enough
// that the partial sums (padded outputs x batch x tasks) stay within 32 MiB.
int fc_rows_per_task(int64_t rows, int64_t padded_outputs, int64_t batch) {
  const int64_t threads = std::max<int64_t>(1, std::thread::hardware_concurrency());
  int64_t per_task = std::max<int64_t>(128, (rows + 4 * threads - 1) / (4 * threads));
  const int64_t max_partials = (int64_t{32} << 20) / 4;
  per_task = std::max(per_task, rows * padded_outputs * batch / max_partials + 1);
  return to_int((per_task + 7) / 8 * 8);
}

// The kernels take non-const halide_buffer_t pointers even for inputs they only read.
halide_buffer_t* raw(const Buffer& b) { return const_cast<Buffer&>(b).raw_buffer(); }

bool same_extents(const Buffer& a, const Buffer& b) {
  if (a.dimensions() != b.dimensions()) return false;
  for (int d = 0; d < a.dimensions(); ++d)
    if (a.dim(d).extent() != b.dim(d).extent()) return false;
  return true;
}

void require_rank4(const Buffer& b, const char* what, const char* kernel) {
  if (b.dimensions() != 4)
    throw RuntimeError(fmt::format("{}: {} has {} dimensions, expected 4 (c, x, y, n)", kernel, what, b.dimensions()));
}

void require_same(const Buffer& a, const Buffer& b, const char* kernel) {
  if (!same_extents(a, b))
    throw RuntimeError(fmt::format("{}: shapes {} and {} differ", kernel, extents(a), extents(b)));
}

// a as an operand of an output shaped like `out`: an axis of extent 1 where out is longer
// repeats (stride 0).
Buffer broadcast_to(const Buffer& a, const Buffer& out) {
  Buffer v = at_origin(a);
  halide_buffer_t* b = v.raw_buffer();
  for (int d = 0; d < 4; ++d) {
    int want = out.dim(d).extent();
    if (b->dim[d].extent == want) continue;
    if (b->dim[d].extent != 1)
      throw RuntimeError(fmt::format("multiply: cannot broadcast {} to {}", extents(a), extents(out)));
    b->dim[d].extent = want;
    b->dim[d].stride = 0;
  }
  return v;
}

// Ones and zeros for the scale-shift kernel run as a plain activation, grown as needed; per
// thread, so concurrent callers do not share them.
struct Identity {
  std::vector<float> ones, zeros;
};

using ScaleShiftFn = int (*)(halide_buffer_t*, halide_buffer_t*, halide_buffer_t*, halide_buffer_t*);

std::pair<const char*, ScaleShiftFn> pick_scale_shift(std::optional<OpKind> act) {
  if (!act) return {"scale_shift", ARCHBENCH_KERNEL(scale_shift)};
  switch (*act) {
    case OpKind::ReLU:
      return {"scale_shift_relu", ARCHBENCH_KERNEL(scale_shift_relu)};
    case OpKind::ReLU6:
      return {"scale_shift_relu6", ARCHBENCH_KERNEL(scale_shift_relu6)};
    case OpKind::Sigmoid:
      return {"scale_shift_sigmoid", ARCHBENCH_KERNEL(scale_shift_sigmoid)};
    case OpKind::Swish:
      return {"scale_shift_swish", ARCHBENCH_KERNEL(scale_shift_swish)};
    case OpKind::Tanh:
      return {"scale_shift_tanh", ARCHBENCH_KERNEL(scale_shift_tanh)};
    case OpKind::HardSwish:
      return {"scale_shift_hardswish", ARCHBENCH_KERNEL(scale_shift_hardswish)};
    default:
      break;
  }
  throw RuntimeError(fmt::format("{} is not an activation", op_name(*act)));
}

// `c` values of `value` as a kernel argument (uploaded on a GPU set).
Buffer filled(int c, float value) {
  Buffer b(c);
  fill(b, value);
  b.upload();
  return b;
}

// Scale 1 and shift 0 over `c` channels, for an activation run alone, from per-thread host
// arrays grown as needed (no allocation per call on the cpu set).
PreparedScaleShift identity_scale_shift(int c) {
  thread_local Identity id;
  if (id.ones.size() < static_cast<size_t>(c)) {
    id.ones.assign(static_cast<size_t>(c), 1.0f);
    id.zeros.assign(static_cast<size_t>(c), 0.0f);
  }
  PreparedScaleShift ss{Buffer(id.ones.data(), c), Buffer(id.zeros.data(), c)};
  ss.scale.upload();  // a GPU set: copied for this call (standalone activations are rare)
  ss.shift.upload();
  return ss;
}

void require_scale_shift_fits(const PreparedScaleShift& ss, const Buffer& input, const Buffer& output,
                              const char* name) {
  require_rank4(output, "the output", name);
  require_same(input, output, name);
  if (ss.scale.dim(0).extent() != input.dim(0).extent())
    throw RuntimeError(
        fmt::format("{}: {} channels, prepared for {}", name, input.dim(0).extent(), ss.scale.dim(0).extent()));
}

// The scale-shift kernel's clamp variant: out = clamp(in * scale + shift, lo, hi).
void run_clamp(const PreparedScaleShift& ss, float lo, float hi, const Buffer& input, Buffer& output,
               const char* name) {
  install_error_handler();
  require_rank4(input, "the input", name);
  require_scale_shift_fits(ss, input, output, name);
  Buffer in = at_origin(input), out = at_origin(output);
  check(ARCHBENCH_KERNEL(scale_shift_clamp)(in.raw_buffer(), raw(ss.scale), raw(ss.shift), lo, hi, out.raw_buffer()),
        name);
  output.mark_written();
}

// One axis of a transposed conv: output o = q * stride + p takes the taps k with
// k * dilation = p + pad (mod stride), k0(p) + j * step for step = stride / gcd(stride,
// dilation), reading input (o + pad - k * dilation) / stride = q + off(p) - j * shift.
PreparedDeconv::Axis phase_table(int64_t kernel, int64_t stride, int64_t dilation, int64_t pad) {
  PreparedDeconv::Axis a;
  const int64_t step = stride / std::gcd(stride, dilation);
  a.step = to_int(step);
  a.shift = to_int(step * dilation / stride);
  a.phases = IndexBuffer(to_int(stride), 3);
  bool any = false;
  for (int64_t p = 0; p < stride; ++p) {
    const int64_t t = p + pad;
    int64_t k0 = 0;
    while (k0 < std::min(kernel, step) && (k0 * dilation - t) % stride != 0) ++k0;
    const bool has = k0 < kernel && (k0 * dilation - t) % stride == 0;
    const int64_t taps = has ? (kernel - k0 + step - 1) / step : 0;
    const int64_t off = has ? (t - k0 * dilation) / stride : 0;  // exact
    const int i = static_cast<int>(p);
    a.phases(i, 0) = has ? to_int(k0) : 0;
    a.phases(i, 1) = to_int(off);
    a.phases(i, 2) = to_int(taps);
    a.max_taps = std::max(a.max_taps, to_int(taps));
    if (has) {
      a.min_off = any ? std::min(a.min_off, to_int(off)) : to_int(off);
      a.max_off = any ? std::max(a.max_off, to_int(off)) : to_int(off);
      any = true;
    }
  }
  a.phases.upload();
  return a;
}

}  // namespace

// --- fully connected -----------------------------------------------------------------------

PreparedFC prepare_fc(const Tensor& weight, const Tensor* bias, const Shape& in) {
  PreparedFC p;
  p.channels = in.c;
  p.height = in.h;
  p.width = in.w;
  const int64_t k = in.c * in.h * in.w;
  if (weight.shape.size() != 2 || weight.shape[1] != k)
    throw RuntimeError(fmt::format("fc: weight of {} dimensions does not take {}x{}x{} = {} inputs",
                                   weight.shape.size(), in.c, in.h, in.w, k));
  p.out_features = weight.shape[0];
  if (bias && (bias->shape.size() != 1 || bias->shape[0] != p.out_features))
    throw RuntimeError(fmt::format("fc: bias does not have {} elements", p.out_features));
  const int64_t padded = (p.out_features + kChannelPad - 1) / kChannelPad * kChannelPad;
  p.weight = Buffer(to_int(padded), to_int(k));
  p.bias = Buffer(to_int(padded));
  fill(p.bias, 0.0f);
  if (bias) std::copy(bias->data.begin(), bias->data.end(), p.bias.data());
  // PyTorch's column s = (c * H + y) * W + x goes to k = (y * W + x) * C + c; p.weight holds
  // (o, k) with o innermost. A transpose of up to hundreds of MB (VGG's fc6: 400 MB): per band
  // of 64 outputs, the source rows are read front to back (64 sequential streams) and each
  // column's 64 values written as one 256-byte run; bands go to threads; every destination
  // element is written once (the padding outputs as zeros), so nothing is cleared first.
  std::vector<int64_t> dest(static_cast<size_t>(k));
  for (int64_t c = 0, s = 0; c < in.c; ++c)
    for (int64_t y = 0; y < in.h; ++y)
      for (int64_t x = 0; x < in.w; ++x, ++s) dest[static_cast<size_t>(s)] = (y * in.w + x) * in.c + c;
  constexpr int64_t kBand = 64;
  const int64_t bands = (padded + kBand - 1) / kBand;
  float* out = p.weight.data();
  const float* src = weight.data.data();
  const int64_t rows = p.out_features;
  split_over_threads(bands, padded * k >= (int64_t{1} << 20), [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const int64_t o0 = b * kBand, o1 = std::min(padded, o0 + kBand),
                    real = std::clamp<int64_t>(rows - o0, 0, o1 - o0);
      for (int64_t s = 0; s < k; ++s) {
        float* d = out + dest[static_cast<size_t>(s)] * padded + o0;
        const float* from = src + o0 * k + s;
        for (int64_t o = 0; o < real; ++o) d[o] = from[o * k];
        std::fill(d + real, d + (o1 - o0), 0.0f);
      }
    }
  });
  p.weight.upload();
  p.bias.upload();
  return p;
}

void run_fc(const PreparedFC& fc, const Buffer& input, Buffer& output, bool relu) {
  install_error_handler();
  const char* name = relu ? "fc_relu" : "fc";
  require_rank4(input, "the input", name);
  require_rank4(output, "the output", name);
  if (input.dim(0).extent() != fc.channels || input.dim(1).extent() != fc.width || input.dim(2).extent() != fc.height)
    throw RuntimeError(fmt::format("{}: input {} is not the prepared (c, x, y) = ({}, {}, {})", name, extents(input),
                                   fc.channels, fc.width, fc.height));
  if (output.dim(0).extent() != fc.out_features || output.dim(1).extent() != 1 || output.dim(2).extent() != 1 ||
      output.dim(3).extent() != input.dim(3).extent())
    throw RuntimeError(fmt::format("{}: output {} is not ({}, 1, 1, {})", name, extents(output), fc.out_features,
                                   input.dim(3).extent()));
  Buffer in = at_origin(input), out = at_origin(output);
  auto fn = relu ? ARCHBENCH_KERNEL(fc_relu) : ARCHBENCH_KERNEL(fc);
  const int rows = fc_rows_per_task(fc.weight.dim(1).extent(), fc.weight.dim(0).extent(), input.dim(3).extent());
  check(fn(in.raw_buffer(), raw(fc.weight), raw(fc.bias), rows, out.raw_buffer()), name);
  output.mark_written();
}

// --- element-wise --------------------------------------------------------------------------

void run_add(const Buffer& a, const Buffer& b, Buffer& output, bool relu) {
  install_error_handler();
  const char* name = relu ? "add_relu" : "add";
  require_rank4(output, "the output", name);
  require_same(a, output, name);
  require_same(b, output, name);
  Buffer x = at_origin(a), y = at_origin(b), out = at_origin(output);
  auto fn = relu ? ARCHBENCH_KERNEL(add_relu) : ARCHBENCH_KERNEL(add);
  check(fn(x.raw_buffer(), y.raw_buffer(), out.raw_buffer()), name);
  output.mark_written();
}

void run_multiply(const Buffer& a, const Buffer& b, Buffer& output) {
  install_error_handler();
  require_rank4(a, "operand a", "multiply");
  require_rank4(b, "operand b", "multiply");
  require_rank4(output, "the output", "multiply");
  Buffer x = broadcast_to(a, output), y = broadcast_to(b, output), out = at_origin(output);
  check(ARCHBENCH_KERNEL(multiply)(x.raw_buffer(), y.raw_buffer(), out.raw_buffer()), "multiply");
  output.mark_written();
}

PreparedScaleShift prepare_batchnorm(const Tensor& gamma, const Tensor& beta, const Tensor& mean, const Tensor& var,
                                     double eps) {
  const int64_t c = gamma.size();
  if (beta.size() != c || mean.size() != c || var.size() != c)
    throw RuntimeError(
        fmt::format("batchnorm: parameters of {}, {}, {} and {} elements", c, beta.size(), mean.size(), var.size()));
  PreparedScaleShift p{Buffer(to_int(c)), Buffer(to_int(c))};
  for (int i = 0; i < to_int(c); ++i) {
    const size_t j = static_cast<size_t>(i);
    const double s = gamma.data[j] / std::sqrt(static_cast<double>(var.data[j]) + eps);
    p.scale(i) = static_cast<float>(s);
    p.shift(i) = static_cast<float>(beta.data[j] - mean.data[j] * s);
  }
  p.scale.upload();
  p.shift.upload();
  return p;
}

PreparedScaleShift prepare_scale(const Tensor& weight, const Tensor* bias) {
  const int64_t c = weight.size();
  if (bias && bias->size() != c)
    throw RuntimeError(fmt::format("scale: a weight of {} elements and a bias of {}", c, bias->size()));
  PreparedScaleShift p{Buffer(to_int(c)), Buffer(to_int(c))};
  for (int i = 0; i < to_int(c); ++i) {
    p.scale(i) = weight.data[static_cast<size_t>(i)];
    p.shift(i) = bias ? bias->data[static_cast<size_t>(i)] : 0.0f;
  }
  p.scale.upload();
  p.shift.upload();
  return p;
}

void run_scale_shift(const PreparedScaleShift& ss, const Buffer& input, Buffer& output, std::optional<OpKind> act) {
  install_error_handler();
  auto [name, fn] = pick_scale_shift(act);
  require_scale_shift_fits(ss, input, output, name);
  Buffer in = at_origin(input), out = at_origin(output);
  check(fn(in.raw_buffer(), raw(ss.scale), raw(ss.shift), out.raw_buffer()), name);
  output.mark_written();
}

void run_activation(OpKind op, const Buffer& input, Buffer& output) {
  require_rank4(input, "the input", op_name(op).c_str());
  run_scale_shift(identity_scale_shift(input.dim(0).extent()), input, output, op);
}

void run_gelu(const GeluAttrs& a, const Buffer& input, Buffer& output) {
  install_error_handler();
  const char* name = a.tanh ? "scale_shift_gelu_tanh" : "scale_shift_gelu";
  require_rank4(input, "the input", name);
  const PreparedScaleShift ss = identity_scale_shift(input.dim(0).extent());
  require_scale_shift_fits(ss, input, output, name);
  auto fn = a.tanh ? ARCHBENCH_KERNEL(scale_shift_gelu_tanh) : ARCHBENCH_KERNEL(scale_shift_gelu);
  Buffer in = at_origin(input), out = at_origin(output);
  check(fn(in.raw_buffer(), raw(ss.scale), raw(ss.shift), out.raw_buffer()), name);
  output.mark_written();
}

void run_clip(const ClipAttrs& a, const Buffer& input, Buffer& output) {
  require_rank4(input, "the input", "clip");
  if (a.min > a.max) throw RuntimeError(fmt::format("clip: min {} is greater than max {}", a.min, a.max));
  run_clamp(identity_scale_shift(input.dim(0).extent()), static_cast<float>(a.min), static_cast<float>(a.max), input,
            output, "clip");
}

void run_hardsigmoid(const HardSigmoidAttrs& a, const Buffer& input, Buffer& output) {
  require_rank4(input, "the input", "hardsigmoid");
  const int c = input.dim(0).extent();
  const PreparedScaleShift ss{filled(c, static_cast<float>(a.alpha)), filled(c, static_cast<float>(a.beta))};
  run_clamp(ss, 0.0f, 1.0f, input, output, "hardsigmoid");
}

void run_channel_shuffle(const ChannelShuffleAttrs& a, const Buffer& input, Buffer& output) {
  install_error_handler();
  require_rank4(input, "the input", "channel_shuffle");
  require_rank4(output, "the output", "channel_shuffle");
  require_same(input, output, "channel_shuffle");
  const int channels = input.dim(0).extent();
  if (a.groups < 1 || channels % a.groups != 0)
    throw RuntimeError(
        fmt::format("channel_shuffle: input channels {} are not divisible by groups {}", channels, a.groups));
  if (input.data() == output.data()) throw RuntimeError("channel_shuffle: the output may not be the input");
  Buffer in = at_origin(input), out = at_origin(output);
  check(ARCHBENCH_KERNEL(channel_shuffle)(in.raw_buffer(), to_int(a.groups), out.raw_buffer()), "channel_shuffle");
  output.mark_written();
}

// --- normalisation -------------------------------------------------------------------------

void run_softmax(const Buffer& input, Buffer& output) {
  install_error_handler();
  require_rank4(output, "the output", "softmax");
  require_same(input, output, "softmax");
  Buffer in = at_origin(input), out = at_origin(output);
  check(ARCHBENCH_KERNEL(softmax)(in.raw_buffer(), out.raw_buffer()), "softmax");
  output.mark_written();
}

void run_lrn(const LRNAttrs& a, const Buffer& input, Buffer& output) {
  install_error_handler();
  require_rank4(output, "the output", "lrn");
  require_same(input, output, "lrn");
  if (a.size < 1) throw RuntimeError(fmt::format("lrn: size {} must be positive", a.size));
  Buffer in = at_origin(input), out = at_origin(output);
  const double alpha_over_size = a.alpha / static_cast<double>(a.size);
  check(ARCHBENCH_KERNEL(lrn)(in.raw_buffer(), to_int(a.size), static_cast<float>(alpha_over_size),
                              static_cast<float>(a.beta), static_cast<float>(a.k), out.raw_buffer()),
        "lrn");
  output.mark_written();
}

PreparedLayerNorm prepare_layer_norm(const LayerNormAttrs& a, const Tensor* weight, const Tensor* bias,
                                     int64_t channels) {
  if (!(a.eps > 0)) throw RuntimeError(fmt::format("layer_norm: eps must be positive, got {}", a.eps));
  if ((weight == nullptr) != (bias == nullptr) || (weight && (weight->size() != channels || bias->size() != channels)))
    throw RuntimeError(
        fmt::format("layer_norm: weight and bias must both have {} elements, or neither be given", channels));
  PreparedLayerNorm p{Buffer(to_int(channels)), Buffer(to_int(channels)), static_cast<float>(a.eps)};
  for (int i = 0; i < to_int(channels); ++i) {
    p.weight(i) = weight ? weight->data[static_cast<size_t>(i)] : 1.0f;
    p.bias(i) = bias ? bias->data[static_cast<size_t>(i)] : 0.0f;
  }
  p.weight.upload();
  p.bias.upload();
  return p;
}

void run_layer_norm(const PreparedLayerNorm& p, const Buffer& input, Buffer& output) {
  install_error_handler();
  require_rank4(output, "the output", "layer_norm");
  require_same(input, output, "layer_norm");
  if (p.weight.dim(0).extent() != input.dim(0).extent())
    throw RuntimeError(
        fmt::format("layer_norm: {} channels, prepared for {}", input.dim(0).extent(), p.weight.dim(0).extent()));
  Buffer in = at_origin(input), out = at_origin(output);
  check(ARCHBENCH_KERNEL(layer_norm)(in.raw_buffer(), raw(p.weight), raw(p.bias), p.eps, out.raw_buffer()),
        "layer_norm");
  output.mark_written();
}

// --- transposed convolution ----------------------------------------------------------------

PreparedDeconv prepare_conv_transpose(const ConvTransposeAttrs& a, const Tensor& weight, const Tensor* bias) {
  if (weight.shape.size() != 4) throw RuntimeError("conv_transpose: the weight must have 4 dimensions");
  const int64_t cin = weight.shape[0], cout_g = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3];
  if (a.groups < 1 || cin % a.groups != 0)
    throw RuntimeError(fmt::format("conv_transpose: {} input channels are not divisible by groups {}", cin, a.groups));
  if (kh != a.win.kh || kw != a.win.kw)
    throw RuntimeError(fmt::format("conv_transpose: a {}x{} weight for a {}x{} window", kh, kw, a.win.kh, a.win.kw));
  if (a.win.sh < 1 || a.win.sw < 1 || a.win.dh < 1 || a.win.dw < 1 || a.win.pad_top < 0 || a.win.pad_left < 0)
    throw RuntimeError("conv_transpose: strides and dilations must be positive, padding not negative");
  const int64_t cin_g = cin / a.groups, cout = cout_g * a.groups;
  if (bias && bias->size() != cout)
    throw RuntimeError(fmt::format("conv_transpose: bias of {} elements for {} outputs", bias->size(), cout));
  PreparedDeconv p;
  p.win = a.win;
  p.groups = a.groups;
  p.out_channels_per_group = cout_g;
  const int64_t padded = (cout_g + kChannelPad - 1) / kChannelPad * kChannelPad;
  for (int64_t g = 0; g < a.groups; ++g) {
    Buffer f(to_int(padded), to_int(cin_g), to_int(kw), to_int(kh));
    Buffer b(to_int(padded));
    fill(f, 0.0f);
    fill(b, 0.0f);
    for (int64_t co = 0; co < cout_g; ++co) {
      if (bias) b(static_cast<int>(co)) = bias->data[static_cast<size_t>(g * cout_g + co)];
      for (int64_t ci = 0; ci < cin_g; ++ci)
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = 0; kx < kw; ++kx)
            f(static_cast<int>(co), static_cast<int>(ci), static_cast<int>(kx), static_cast<int>(ky)) =
                weight.data[static_cast<size_t>((((g * cin_g + ci) * cout_g + co) * kh + ky) * kw + kx)];
    }
    f.upload();
    b.upload();
    p.filters.push_back(std::move(f));
    p.biases.push_back(std::move(b));
  }
  p.x = phase_table(kw, a.win.sw, a.win.dw, a.win.pad_left);
  p.y = phase_table(kh, a.win.sh, a.win.dh, a.win.pad_top);
  return p;
}

void run_conv_transpose(const PreparedDeconv& p, const Buffer& input, Buffer& output) {
  install_error_handler();
  require_rank4(input, "the input", "conv_transpose");
  require_rank4(output, "the output", "conv_transpose");
  const int groups = to_int(p.groups);
  const int cin_g = p.filters[0].dim(1).extent(), cout_g = to_int(p.out_channels_per_group);
  if (input.dim(0).extent() != cin_g * groups || output.dim(0).extent() != cout_g * groups ||
      input.dim(3).extent() != output.dim(3).extent())
    throw RuntimeError(fmt::format("conv_transpose: input {} and output {} do not fit {} groups of {} -> {} channels",
                                   extents(input), extents(output), groups, cin_g, cout_g));
  if (input.data() == output.data()) throw RuntimeError("conv_transpose: the output may not be the input");
  auto table = [](const PreparedDeconv::Axis& a) { return const_cast<IndexBuffer&>(a.phases).raw_buffer(); };
  for (int g = 0; g < groups; ++g) {
    Buffer in = at_origin(input.cropped(0, input.dim(0).min() + g * cin_g, cin_g)).launchable_copy(true);
    Buffer out_view = at_origin(output.cropped(0, output.dim(0).min() + g * cout_g, cout_g));
    Buffer out = out_view.launchable_copy(false);
    const size_t i = static_cast<size_t>(g);
    int result = ARCHBENCH_KERNEL(deconv)(in.raw_buffer(), raw(p.filters[i]), raw(p.biases[i]), table(p.x), table(p.y),
                                          p.x.step, p.y.step, p.x.shift, p.y.shift, p.x.max_taps, p.y.max_taps,
                                          p.x.min_off, p.x.max_off, p.y.min_off, p.y.max_off, out.raw_buffer());
    check(result, "conv_transpose");
    if (out.data() != out_view.data()) out_view.copy_contents_from(out);
  }
  output.mark_written();
}

std::string extents(const Buffer& b) {
  std::string s = "(";
  for (int d = 0; d < b.dimensions(); ++d) s += fmt::format("{}{}", d ? ", " : "", b.dim(d).extent());
  return s + ")";
}

}  // namespace archbench::kernels
