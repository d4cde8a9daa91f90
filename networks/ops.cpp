// Every op of the spec format in one place: its attributes, its shape rule, its cost and the
// window each output pixel reads.
#include "networks/ops.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "networks/detail/build.h"

namespace archbench {

using detail::AttrReader;
using detail::Value;

namespace {

struct OpInfo {
  const char* name;
  OpKind kind;
  int min_inputs, max_inputs;  // max_inputs < 0: any number
  std::function<void(AttrReader&, const std::vector<const Layer*>&, Layer&)> build;
};

// The largest kernel, stride, dilation, padding, output padding, LRN size and adaptive-pool
// output. No real network comes near it, and it keeps the shape and cost arithmetic in 64 bits:
// the product of two such values, or of one and an input size, cannot overflow.
constexpr int64_t kMaxWindow = 2147483647;  // 2^31 - 1

// Raises the error for a computed spatial size that is not positive.
void require_positive_size(const AttrReader& r, const char* axis, int64_t size, const std::string& how) {
  if (size <= 0) r.fail(fmt::format("output {} would be {} ({})", axis, size, how));
}

// `padding`: an integer, [h, w], [top, left, bottom, right], `same` or `valid`.
// `same` is TensorFlow's rule: output = ceil(input / stride), the odd pixel at the bottom/right.
void read_padding(AttrReader& r, Window& win, const Shape& in, bool allow_same) {
  Value v = r.take("padding");
  auto check = [&](const Value& x) {
    if (!x.is_int())
      r.fail_at(x, fmt::format("padding must be an integer, [h, w], [top, left, bottom, right]{}, got {}",
                               allow_same ? ", same or valid" : "", detail::describe(x)));
    if (x.as_int() < 0) r.fail_at(x, fmt::format("padding must be >= 0, got {}", x.as_int()));
    if (x.as_int() > kMaxWindow)
      r.fail_at(x, fmt::format("padding must be at most {}, got {}", kMaxWindow, x.as_int()));
    return x.as_int();
  };
  if (v.is_null()) return;
  if (v.is_string() && allow_same && (v.as_string() == "same" || v.as_string() == "valid")) {
    if (v.as_string() == "valid") return;
    auto same = [](int64_t size, int64_t stride, int64_t k_eff, int64_t& lo, int64_t& hi) {
      int64_t out = (size + stride - 1) / stride;
      int64_t total = std::max<int64_t>((out - 1) * stride + k_eff - size, 0);
      lo = total / 2;
      hi = total - lo;
    };
    same(in.h, win.sh, win.dh * (win.kh - 1) + 1, win.pad_top, win.pad_bottom);
    same(in.w, win.sw, win.dw * (win.kw - 1) + 1, win.pad_left, win.pad_right);
    return;
  }
  if (v.is_list() && v.as_list().size() == 2) {
    win.pad_top = win.pad_bottom = check(v.as_list()[0]);
    win.pad_left = win.pad_right = check(v.as_list()[1]);
  } else if (v.is_list() && v.as_list().size() == 4) {
    win.pad_top = check(v.as_list()[0]);
    win.pad_left = check(v.as_list()[1]);
    win.pad_bottom = check(v.as_list()[2]);
    win.pad_right = check(v.as_list()[3]);
  } else {
    win.pad_top = win.pad_bottom = win.pad_left = win.pad_right = check(v);
  }
}

std::string window_how(const char* axis, int64_t size, const Window& w, bool height) {
  return fmt::format("input {} {}, kernel {}, stride {}, dilation {}, padding {}+{}", axis, size, height ? w.kh : w.kw,
                     height ? w.sh : w.sw, height ? w.dh : w.dw, height ? w.pad_top : w.pad_left,
                     height ? w.pad_bottom : w.pad_right);
}

void read_window(AttrReader& r, Window& win, bool kernel_required, int64_t default_stride_is_kernel) {
  std::pair<int64_t, int64_t> k = kernel_required && !r.has("kernel")
                                      ? (r.fail("needs 'kernel'"), std::pair<int64_t, int64_t>{})
                                      : r.pair("kernel", 1, 1, kMaxWindow);
  win.kh = k.first;
  win.kw = k.second;
  auto s = r.pair("stride", default_stride_is_kernel ? 0 : 1, 1, kMaxWindow);
  win.sh = s.first ? s.first : win.kh;
  win.sw = s.second ? s.second : win.kw;
  auto d = r.pair("dilation", 1, 1, kMaxWindow);
  win.dh = d.first;
  win.dw = d.second;
}

Shape spatial_output(const AttrReader& r, const Shape& in, const Window& win, int64_t channels, bool ceil_mode) {
  Shape out{in.n, channels, 0, 0};
  out.h = window_output(in.h, win.pad_top, win.pad_bottom, win.dh * (win.kh - 1) + 1, win.sh, ceil_mode);
  require_positive_size(r, "height", out.h, window_how("height", in.h, win, true));
  out.w = window_output(in.w, win.pad_left, win.pad_right, win.dw * (win.kw - 1) + 1, win.sw, ceil_mode);
  require_positive_size(r, "width", out.w, window_how("width", in.w, win, false));
  return out;
}

// What conv and transposed conv share: out channels, the window, groups that divide both
// channel counts, bias.
template <typename Attrs>
void read_conv_common(AttrReader& r, const Shape& x, Attrs& a, bool allow_same) {
  a.out_channels = r.required_integer("out", 1);
  read_window(r, a.win, true, false);
  a.groups = r.integer("groups", 1, 1);
  a.bias = r.boolean("bias", true);
  read_padding(r, a.win, x, allow_same);
  if (x.c % a.groups != 0) r.fail(fmt::format("input channels {} are not divisible by groups {}", x.c, a.groups));
  if (a.out_channels % a.groups != 0)
    r.fail(fmt::format("out channels {} are not divisible by groups {}", a.out_channels, a.groups));
}

void build_conv(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"out", "kernel", "stride", "padding", "dilation", "groups", "bias"});
  ConvAttrs a;
  read_conv_common(r, in[0]->output, a, true);
  layer.output = spatial_output(r, in[0]->output, a.win, a.out_channels, false);
  layer.attrs = a;
}

void build_conv_transpose(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"out", "kernel", "stride", "padding", "output_padding", "dilation", "groups", "bias"});
  ConvTransposeAttrs a;
  const Shape& x = in[0]->output;
  read_conv_common(r, x, a, false);
  auto op = r.pair("output_padding", 0, 0, kMaxWindow);
  a.output_pad_h = op.first;
  a.output_pad_w = op.second;
  if (a.output_pad_h >= std::max(a.win.sh, a.win.dh) || a.output_pad_w >= std::max(a.win.sw, a.win.dw))
    r.fail(fmt::format("output_padding {}x{} must be smaller than the stride or the dilation", a.output_pad_h,
                       a.output_pad_w));
  // out = (in - 1) * stride - pads + dilation * (kernel - 1) + output_padding + 1. Only the
  // first product can overflow: the window terms are bounded by kMaxWindow.
  auto size = [&](const char* axis, int64_t n, int64_t s, int64_t lo, int64_t hi, int64_t k, int64_t d, int64_t extra) {
    int64_t spread = detail::checked_mul(n - 1, s, r.loc(), r.layer());
    int64_t out = detail::checked_add(spread, d * (k - 1) + extra + 1 - lo - hi, r.loc(), r.layer());
    require_positive_size(
        r, axis, out,
        fmt::format("input {} {}, kernel {}, stride {}, dilation {}, padding {}+{}, output_padding {}", axis, n, k, s,
                    d, lo, hi, extra));
    return out;
  };
  layer.output = {x.n, a.out_channels,
                  size("height", x.h, a.win.sh, a.win.pad_top, a.win.pad_bottom, a.win.kh, a.win.dh, a.output_pad_h),
                  size("width", x.w, a.win.sw, a.win.pad_left, a.win.pad_right, a.win.kw, a.win.dw, a.output_pad_w)};
  layer.attrs = a;
}

// Inputs [x, offset], [x, offset, mask] or [x, offset_mask] (modulated: sigmoid); every
// offset and mask input at the output's N, H and W.
void build_deform_conv(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"out", "kernel", "stride", "padding", "dilation", "groups", "bias", "offset_groups", "modulated",
           "offset_bound"});
  DeformConvAttrs a;
  const Shape& x = in[0]->output;
  read_conv_common(r, x, a, true);
  a.offset_groups = r.integer("offset_groups", 1, 1);
  a.sigmoid = r.choice("modulated", {"none", "sigmoid"}, "none") == "sigmoid";
  a.offset_bound = r.has("offset_bound") ? r.integer("offset_bound", 0, 0, kMaxWindow) : -1;
  if (x.c % a.offset_groups != 0)
    r.fail(fmt::format("input channels {} are not divisible by offset_groups {}", x.c, a.offset_groups));
  if (a.sigmoid && in.size() != 2)
    r.fail(fmt::format("modulated: sigmoid takes inputs [x, offset_mask], got {} inputs", in.size()));
  layer.output = spatial_output(r, x, a.win, a.out_channels, false);
  const int64_t taps = a.offset_groups * a.win.kh * a.win.kw;  // both factors bounded: no overflow
  auto expect = [&](const Layer* l, const char* what, int64_t channels) {
    const Shape& s = l->output;
    if (s.n != x.n || s.h != layer.output.h || s.w != layer.output.w || s.c != channels)
      r.fail(fmt::format("{} input '{}' is {}, expected {} ({}, at the output's {}x{})", what, l->name, dims_text(s),
                         dims_text(Shape{x.n, channels, layer.output.h, layer.output.w}),
                         std::string(what) == "mask" ? "offset_groups x kh x kw channels"
                         : a.sigmoid                 ? "3 x offset_groups x kh x kw channels: offsets, then mask logits"
                                                     : "2 x offset_groups x kh x kw channels",
                         layer.output.h, layer.output.w));
  };
  expect(in[1], a.sigmoid ? "offset_mask" : "offset", (a.sigmoid ? 3 : 2) * taps);
  if (in.size() == 3) expect(in[2], "mask", taps);
  layer.attrs = a;
}

void build_pool(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer, bool avg) {
  if (avg)
    r.allow({"kernel", "stride", "padding", "ceil_mode", "count_include_pad"});
  else
    r.allow({"kernel", "stride", "padding", "dilation", "ceil_mode"});
  PoolAttrs a;
  const Shape& x = in[0]->output;
  read_window(r, a.win, true, true);
  a.ceil_mode = r.boolean("ceil_mode", false);
  if (avg) a.count_include_pad = r.boolean("count_include_pad", true);
  read_padding(r, a.win, x, true);
  // PyTorch's rule; a wider pad would make windows that see only padding.
  if (std::max(a.win.pad_top, a.win.pad_bottom) > a.win.kh / 2 ||
      std::max(a.win.pad_left, a.win.pad_right) > a.win.kw / 2)
    r.fail(fmt::format("padding must be at most half the kernel ({}x{})", a.win.kh, a.win.kw));
  layer.output = spatial_output(r, x, a.win, x.c, a.ceil_mode);
  layer.attrs = a;
}

void build_adaptive(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"output"});
  AdaptivePoolAttrs a;
  if (!r.has("output")) r.fail("op adaptive_avgpool needs 'output' (an integer or [h, w])");
  auto o = r.pair("output", 1, 1, kMaxWindow);
  a.out_h = o.first;
  a.out_w = o.second;
  layer.output = {in[0]->output.n, in[0]->output.c, a.out_h, a.out_w};
  layer.attrs = a;
}

void build_lrn(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"size", "alpha", "beta", "k"});
  LRNAttrs a;
  a.size = r.integer("size", 5, 1, kMaxWindow);
  a.alpha = r.number("alpha", 1e-4);
  a.beta = r.number("beta", 0.75);
  a.k = r.number("k", 1.0);
  layer.output = in[0]->output;
  layer.attrs = a;
}

void build_batchnorm(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"eps"});
  BatchNormAttrs a;
  a.eps = r.number("eps", 1e-5);
  if (!(a.eps > 0)) r.fail(fmt::format("eps must be positive, got {}", a.eps));
  layer.output = in[0]->output;
  layer.attrs = a;
}

void build_plain(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer, OpAttrs attrs) {
  r.allow({});
  layer.output = in[0]->output;
  layer.attrs = attrs;
}

std::string input_list(const std::vector<const Layer*>& in) {
  std::string out;
  for (const Layer* l : in) out += fmt::format("{}'{}' {}", out.empty() ? "" : ", ", l->name, dims_text(l->output));
  return out;
}

void build_add(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({});
  for (const Layer* l : in)
    if (l->output != in[0]->output)
      r.fail(fmt::format("shape mismatch: add needs equal shapes, got {}", input_list(in)));
  layer.output = in[0]->output;
  layer.attrs = EltwiseAttrs{};
}

// Multiply broadcasts like NumPy over N, C, H, W: each axis equal, or 1 in one operand.
void build_multiply(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({});
  Shape out = in[0]->output;
  for (const Layer* l : in) {
    const Shape& s = l->output;
    int64_t* dst[] = {&out.n, &out.c, &out.h, &out.w};
    const int64_t src[] = {s.n, s.c, s.h, s.w};
    for (int i = 0; i < 4; ++i) {
      if (*dst[i] == src[i] || src[i] == 1) continue;
      if (*dst[i] == 1)
        *dst[i] = src[i];
      else
        r.fail(fmt::format("shape mismatch: multiply cannot broadcast {}", input_list(in)));
    }
  }
  layer.output = out;
  layer.attrs = EltwiseAttrs{};
}

void build_concat(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"axis"});
  Value axis = r.take("axis");
  if (!axis.is_null() && !(axis.is_int() && axis.as_int() == 1))
    r.fail_at(axis, fmt::format("concat joins channels (axis 1) only, got axis {}", detail::to_text(axis)));
  Shape out = in[0]->output;
  out.c = 0;
  for (const Layer* l : in) {
    const Shape& s = l->output;
    if (s.n != out.n || s.h != out.h || s.w != out.w)
      r.fail(fmt::format("shape mismatch: concat needs equal N, H, W, got {}", input_list(in)));
    out.c = detail::checked_add(out.c, s.c, r.loc(), r.layer());
  }
  layer.output = out;
  layer.attrs = ConcatAttrs{};
}

void build_crop(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"offset", "size", "center"});
  CropAttrs a;
  const Shape& x = in[0]->output;
  a.center = r.boolean("center", false);
  bool has_offset = r.has("offset");
  auto off = r.pair("offset", 0, 0);
  bool has_size = r.has("size");
  auto size = r.pair("size", 1, 1);
  if (in.size() == 2) {
    if (has_size) r.fail("crop takes its size from its second input or from 'size', not both");
    size = {in[1]->output.h, in[1]->output.w};
  } else if (!has_size) {
    r.fail("crop needs 'size' or a second input whose height and width it takes");
  }
  if (a.center && has_offset) r.fail("crop takes 'center' or 'offset', not both");
  a.size_h = size.first;
  a.size_w = size.second;
  if (a.center) off = {(x.h - a.size_h) / 2, (x.w - a.size_w) / 2};
  a.off_h = off.first;
  a.off_w = off.second;
  // Written so that no sum can overflow: offset and size may each be near 2^63.
  if (a.off_h < 0 || a.off_w < 0 || a.size_h > x.h || a.size_w > x.w || a.off_h > x.h - a.size_h ||
      a.off_w > x.w - a.size_w)
    r.fail(fmt::format("crop window {}x{} at offset ({}, {}) does not fit the input {}", a.size_h, a.size_w, a.off_h,
                       a.off_w, dims_text(x)));
  layer.output = {x.n, x.c, a.size_h, a.size_w};
  layer.attrs = a;
}

void build_pad(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"padding", "value", "mode"});
  PadAttrs a;
  Window w;
  if (!r.has("padding")) r.fail("op pad needs 'padding'");
  read_padding(r, w, in[0]->output, false);
  a.value = r.number("value", 0.0);
  r.choice("mode", {"constant"}, "constant");
  a.top = w.pad_top, a.left = w.pad_left, a.bottom = w.pad_bottom, a.right = w.pad_right;
  const Shape& x = in[0]->output;
  layer.output = {x.n, x.c, detail::checked_add(x.h, a.top + a.bottom, r.loc(), r.layer()),
                  detail::checked_add(x.w, a.left + a.right, r.loc(), r.layer())};
  layer.attrs = a;
}

void build_upsample(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"scale", "size", "mode", "align_corners"});
  UpsampleAttrs a;
  const Shape& x = in[0]->output;
  a.mode = r.choice("mode", {"nearest", "bilinear"}, "nearest") == "bilinear" ? UpsampleMode::Bilinear
                                                                              : UpsampleMode::Nearest;
  a.align_corners = r.boolean("align_corners", false);
  Value scale = r.take("scale");
  bool has_size = r.has("size");
  auto size = r.pair("size", 1, 1);
  if (a.align_corners && a.mode != UpsampleMode::Bilinear) r.fail("align_corners applies to bilinear mode only");
  int given = (scale.is_null() ? 0 : 1) + (has_size ? 1 : 0) + (in.size() == 2 ? 1 : 0);
  if (given != 1)
    r.fail("upsample needs exactly one of 'scale', 'size' or a second input whose height and width it takes");
  if (in.size() == 2) size = {in[1]->output.h, in[1]->output.w};
  if (!scale.is_null()) {
    auto factor = [&](const Value& v) {
      if (!v.is_number() || !(v.as_number() > 0))
        r.fail_at(v, fmt::format("scale must be a positive number or [h, w], got {}", detail::describe(v)));
      return v.as_number();
    };
    if (scale.is_list() && scale.as_list().size() == 2) {
      a.scale_h = factor(scale.as_list()[0]);
      a.scale_w = factor(scale.as_list()[1]);
    } else {
      a.scale_h = a.scale_w = factor(scale);
    }
    double h = std::floor(static_cast<double>(x.h) * a.scale_h), w = std::floor(static_cast<double>(x.w) * a.scale_w);
    if (h > 9.0e18 || w > 9.0e18) r.fail("upsampled size overflows 64 bits");
    size = {static_cast<int64_t>(h), static_cast<int64_t>(w)};
    require_positive_size(r, "height", size.first, fmt::format("input height {} x scale {}", x.h, a.scale_h));
    require_positive_size(r, "width", size.second, fmt::format("input width {} x scale {}", x.w, a.scale_w));
  }
  a.size_h = size.first;
  a.size_w = size.second;
  layer.output = {x.n, x.c, a.size_h, a.size_w};
  layer.attrs = a;
}

void build_flatten(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({});
  const Shape& x = in[0]->output;
  int64_t features = detail::checked_mul(detail::checked_mul(x.c, x.h, r.loc(), r.layer()), x.w, r.loc(), r.layer());
  layer.output = {x.n, features, 1, 1};
  layer.attrs = FlattenAttrs{};
}

// A fully connected layer reads all of C x H x W (an implicit flatten).
void build_fc(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"out", "bias"});
  FullyConnectedAttrs a;
  a.out_features = r.required_integer("out", 1);
  a.bias = r.boolean("bias", true);
  layer.output = {in[0]->output.n, a.out_features, 1, 1};
  layer.attrs = a;
}

void build_dropout(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"p"});
  DropoutAttrs a;
  a.p = r.number("p", 0.5);
  if (a.p < 0 || a.p >= 1) r.fail(fmt::format("p must be in [0, 1), got {}", a.p));
  layer.output = in[0]->output;
  layer.attrs = a;
}

// [scores, image]: the image N x 3 x H x W at the scores' N, H and W.
void build_dense_crf(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"iterations", "gaussian.weight", "gaussian.sxy", "bilateral.weight", "bilateral.sxy", "bilateral.srgb",
           "rgb_scale", "normalization"});
  DenseCrfAttrs a;
  a.iterations = r.integer("iterations", 10, 0, 1000);
  auto positive = [&](const char* key, double fallback) {
    double v = r.number(key, fallback);
    if (!(v > 0) || !std::isfinite(v)) r.fail(fmt::format("{} must be positive, got {}", key, v));
    return v;
  };
  auto weight = [&](const char* key, double fallback) {
    double v = r.number(key, fallback);
    if (!std::isfinite(v)) r.fail(fmt::format("{} must be a finite number, got {}", key, v));
    return v;
  };
  a.gaussian_weight = weight("gaussian.weight", 3);
  a.gaussian_sxy = positive("gaussian.sxy", 3);
  a.bilateral_weight = weight("bilateral.weight", 4);
  a.bilateral_sxy = positive("bilateral.sxy", 49);
  a.bilateral_srgb = positive("bilateral.srgb", 5);
  Value scale = r.take("rgb_scale");
  if (!scale.is_null()) {
    if (!scale.is_list() || scale.as_list().size() != 3)
      r.fail_at(scale, fmt::format("rgb_scale must be [s_r, s_g, s_b], got {}", detail::describe(scale)));
    for (size_t i = 0; i < 3; ++i) {
      const Value& v = scale.as_list()[i];
      if (!v.is_number() || !(v.as_number() > 0) || !std::isfinite(v.as_number()))
        r.fail_at(v, fmt::format("rgb_scale entries must be positive numbers, got {}", detail::describe(v)));
      a.rgb_scale[i] = v.as_number();
    }
  }
  a.symmetric = r.choice("normalization", {"row", "symmetric"}, "row") == "symmetric";
  const Shape& s = in[0]->output;
  const Shape& img = in[1]->output;
  if (img.n != s.n || img.c != 3 || img.h != s.h || img.w != s.w)
    r.fail(fmt::format("the image '{}' is {}, expected {} (3 channels at the size of the scores '{}' {})", in[1]->name,
                       dims_text(img), dims_text(Shape{s.n, 3, s.h, s.w}), in[0]->name, dims_text(s)));
  layer.output = s;
  layer.attrs = a;
}

void build_hardsigmoid(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"alpha", "beta"});
  HardSigmoidAttrs a;
  a.alpha = r.number("alpha", a.alpha);
  a.beta = r.number("beta", a.beta);
  layer.output = in[0]->output;
  layer.attrs = a;
}

void build_gelu(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"approximate"});
  GeluAttrs a;
  a.tanh = r.choice("approximate", {"none", "tanh"}, "none") == "tanh";
  layer.output = in[0]->output;
  layer.attrs = a;
}

void build_clip(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"min", "max"});
  ClipAttrs a;
  if (!r.has("min") && !r.has("max")) r.fail("op clip needs 'min', 'max' or both");
  a.min = r.number("min", a.min);
  a.max = r.number("max", a.max);
  if (a.min > a.max) r.fail(fmt::format("min {} is greater than max {}", a.min, a.max));
  layer.output = in[0]->output;
  layer.attrs = a;
}

void build_layer_norm(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"eps", "affine"});
  LayerNormAttrs a;
  a.eps = r.number("eps", a.eps);
  if (!(a.eps > 0)) r.fail(fmt::format("eps must be positive, got {}", a.eps));
  a.affine = r.boolean("affine", true);
  layer.output = in[0]->output;
  layer.attrs = a;
}

void build_channel_shuffle(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"groups"});
  ChannelShuffleAttrs a;
  a.groups = r.required_integer("groups", 1);
  const Shape& x = in[0]->output;
  if (x.c % a.groups != 0) r.fail(fmt::format("input channels {} are not divisible by groups {}", x.c, a.groups));
  layer.output = x;
  layer.attrs = a;
}

// `channels: [begin, end)`, a non-empty range of the input's channels.
void build_slice(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"channels"});
  SliceAttrs a;
  const Shape& x = in[0]->output;
  Value v = r.take("channels");
  if (v.is_null()) r.fail("op slice needs 'channels' ([begin, end))");
  if (!v.is_list() || v.as_list().size() != 2 || !v.as_list()[0].is_int() || !v.as_list()[1].is_int())
    r.fail_at(v, fmt::format("channels must be [begin, end] (two integers), got {}", detail::describe(v)));
  a.begin = v.as_list()[0].as_int();
  a.end = v.as_list()[1].as_int();
  if (a.begin < 0 || a.begin >= a.end || a.end > x.c)
    r.fail_at(v, fmt::format("channels [{}, {}) must satisfy 0 <= begin < end <= {} (the input has {} channels)",
                             a.begin, a.end, x.c, x.c));
  layer.output = {x.n, a.end - a.begin, x.h, x.w};
  layer.attrs = a;
}

void build_scale(AttrReader& r, const std::vector<const Layer*>& in, Layer& layer) {
  r.allow({"bias"});
  ScaleAttrs a;
  a.bias = r.boolean("bias", false);
  layer.output = in[0]->output;
  layer.attrs = a;
}

const std::vector<OpInfo>& op_table() {
  using L = const std::vector<const Layer*>&;
  static const std::vector<OpInfo> table = {
      {"conv", OpKind::Conv, 1, 1, build_conv},
      {"conv_transpose", OpKind::ConvTranspose, 1, 1, build_conv_transpose},
      {"deform_conv", OpKind::DeformConv, 2, 3, build_deform_conv},
      {"maxpool", OpKind::MaxPool, 1, 1, [](AttrReader& r, L in, Layer& l) { build_pool(r, in, l, false); }},
      {"avgpool", OpKind::AvgPool, 1, 1, [](AttrReader& r, L in, Layer& l) { build_pool(r, in, l, true); }},
      {"global_avgpool", OpKind::GlobalAvgPool, 1, 1,
       [](AttrReader& r, L in, Layer& l) {
         build_plain(r, in, l, GlobalPoolAttrs{});
         l.output.h = l.output.w = 1;
       }},
      {"adaptive_avgpool", OpKind::AdaptiveAvgPool, 1, 1, build_adaptive},
      {"lrn", OpKind::LRN, 1, 1, build_lrn},
      {"batchnorm", OpKind::BatchNorm, 1, 1, build_batchnorm},
      {"relu", OpKind::ReLU, 1, 1, [](AttrReader& r, L in, Layer& l) { build_plain(r, in, l, ActivationAttrs{}); }},
      {"relu6", OpKind::ReLU6, 1, 1, [](AttrReader& r, L in, Layer& l) { build_plain(r, in, l, ActivationAttrs{}); }},
      {"sigmoid", OpKind::Sigmoid, 1, 1,
       [](AttrReader& r, L in, Layer& l) { build_plain(r, in, l, ActivationAttrs{}); }},
      {"swish", OpKind::Swish, 1, 1, [](AttrReader& r, L in, Layer& l) { build_plain(r, in, l, ActivationAttrs{}); }},
      {"tanh", OpKind::Tanh, 1, 1, [](AttrReader& r, L in, Layer& l) { build_plain(r, in, l, ActivationAttrs{}); }},
      {"add", OpKind::Add, 2, -1, build_add},
      {"multiply", OpKind::Multiply, 2, -1, build_multiply},
      {"concat", OpKind::Concat, 2, -1, build_concat},
      {"crop", OpKind::Crop, 1, 2, build_crop},
      {"pad", OpKind::Pad, 1, 1, build_pad},
      {"upsample", OpKind::Upsample, 1, 2, build_upsample},
      {"flatten", OpKind::Flatten, 1, 1, build_flatten},
      {"fc", OpKind::FullyConnected, 1, 1, build_fc},
      {"softmax", OpKind::Softmax, 1, 1, [](AttrReader& r, L in, Layer& l) { build_plain(r, in, l, SoftmaxAttrs{}); }},
      {"dropout", OpKind::Dropout, 1, 1, build_dropout},
      {"dense_crf", OpKind::DenseCrf, 2, 2, build_dense_crf},
      {"hardswish", OpKind::HardSwish, 1, 1,
       [](AttrReader& r, L in, Layer& l) { build_plain(r, in, l, ActivationAttrs{}); }},
      {"hardsigmoid", OpKind::HardSigmoid, 1, 1, build_hardsigmoid},
      {"gelu", OpKind::Gelu, 1, 1, build_gelu},
      {"clip", OpKind::Clip, 1, 1, build_clip},
      {"layer_norm", OpKind::LayerNorm, 1, 1, build_layer_norm},
      {"channel_shuffle", OpKind::ChannelShuffle, 1, 1, build_channel_shuffle},
      {"slice", OpKind::Slice, 1, 1, build_slice},
      {"scale", OpKind::Scale, 1, 1, build_scale},
  };
  return table;
}

const OpInfo* find_op(const std::string& name) {
  for (const OpInfo& info : op_table())
    if (name == info.name) return &info;
  return nullptr;
}

// Adaptive average pooling: output i of `out` averages input [floor(i*size/out),
// ceil((i+1)*size/out)) (PyTorch's rule). Closed forms, since `out` may be large. With
// g = gcd(size, out), i*size mod out runs over the multiples of g below out, and window i is
// ceil((i*size mod out + size) / out) wide: the widest is ceil((out - g + size) / out), and the
// sizes sum to size + out - g (the window ends count each input once, plus out - g overlaps).
int64_t adaptive_windows_total(int64_t size, int64_t out) { return size + out - std::gcd(size, out); }

int64_t adaptive_window_widest(int64_t size, int64_t out) { return (out - std::gcd(size, out) + size + out - 1) / out; }

int64_t elements(const Layer& l, const Shape& s) {
  try {
    return s.elements();
  } catch (const std::overflow_error&) {
    throw SpecError(l.loc, l.name, fmt::format("tensor {} has more elements than 64 bits hold", dims_text(s)));
  }
}

}  // namespace

int64_t window_output(int64_t size, int64_t pad_lo, int64_t pad_hi, int64_t k_eff, int64_t stride, bool ceil_mode) {
  // PyTorch's rule, with floor division: a span below zero (the window longer than the padded
  // input) still gives one output in ceil mode, whose window overruns the input (GoogLeNet's
  // ceil-mode 3x3 / 2 pools on a 2x2 map); without it, the result is <= 0 and reported.
  auto floor_div = [](int64_t a, int64_t b) { return a / b - (a % b != 0 && a < 0 ? 1 : 0); };
  int64_t span = size + pad_lo + pad_hi - k_eff;
  int64_t out = floor_div(ceil_mode ? span + stride - 1 : span, stride) + 1;
  // The last window must start inside the input or its left padding.
  if (ceil_mode && out > 0 && (out - 1) * stride >= size + pad_lo) --out;
  return out;
}

std::vector<std::string> known_ops() {
  std::vector<std::string> names;
  for (const OpInfo& info : op_table()) names.push_back(info.name);
  return names;
}

std::string op_name(OpKind op) {
  if (op == OpKind::Input) return "input";
  for (const OpInfo& info : op_table())
    if (info.kind == op) return info.name;
  return "?";
}

bool is_merge(OpKind op) { return op == OpKind::Add || op == OpKind::Multiply || op == OpKind::Concat; }

namespace detail {

bool op_exists(const std::string& op) { return find_op(op) != nullptr; }

void build_layer(Layer& layer, const std::string& op, AttrReader& attrs, const std::vector<const Layer*>& inputs) {
  const OpInfo* info = find_op(op);
  if (!info) attrs.fail(fmt::format("unknown op '{}'", op));
  int n = static_cast<int>(inputs.size());
  if (n < info->min_inputs || (info->max_inputs >= 0 && n > info->max_inputs)) {
    std::string want = info->max_inputs < 0 ? fmt::format("at least {}", info->min_inputs)
                       : info->min_inputs == info->max_inputs
                           ? std::to_string(info->min_inputs)
                           : fmt::format("{} or {}", info->min_inputs, info->max_inputs);
    attrs.fail(fmt::format("op {} takes {} input{}, got {}", op, want, want == "1" ? "" : "s", n));
  }
  layer.op = info->kind;
  info->build(attrs, inputs, layer);
  // Every tensor must be addressable: its element count and byte size fit in int64.
  int64_t count = elements(layer, layer.output);
  checked_mul(count, 4, layer.loc, layer.name);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Cost. Each formula is per batch (N included).

namespace {

// The product of a cost formula's factors; SpecError (naming the layer) where it overflows.
int64_t product(const Layer& l, std::initializer_list<int64_t> factors) {
  int64_t r = 1;
  for (int64_t x : factors) r = detail::checked_mul(r, x, l.loc, l.name);
  return r;
}

}  // namespace

DeformSampling deform_sampling(const Graph& g, const Layer& l) {
  DeformSampling s;
  const auto* a = std::get_if<DeformConvAttrs>(&l.attrs);
  if (!a) return s;
  const Shape& in = g.layers[l.inputs[0]].output;
  const Shape& o = l.output;
  auto mul = [&](std::initializer_list<int64_t> xs) { return product(l, xs); };
  const bool masked = a->sigmoid || l.inputs.size() == 3;
  s.samples = mul({o.n, in.c, a->win.kh, a->win.kw, o.h, o.w});
  s.gathers = mul({4, s.samples});
  // Per sample: the four corner products and their three sums (7), one more product with a
  // mask. Per tap and offset group: the position (2 adds), its floor and fractions (4), the
  // four corner weights (4 multiplies, 2 subtracts); with sigmoid, the mask's 4.
  const int64_t per_position = 12 + (a->sigmoid ? 4 : 0);
  s.flops =
      detail::checked_add(mul({s.samples, masked ? 8 : 7}),
                          mul({o.n, a->offset_groups, a->win.kh, a->win.kw, o.h, o.w, per_position}), l.loc, l.name);
  return s;
}

DenseCrfCost dense_crf_cost(const Graph&, const Layer& l) {
  DenseCrfCost c;
  const auto* a = std::get_if<DenseCrfAttrs>(&l.attrs);
  if (!a) return c;
  auto mul = [&](std::initializer_list<int64_t> xs) { return product(l, xs); };
  auto add = [&](int64_t x, int64_t y) { return detail::checked_add(x, y, l.loc, l.name); };
  const Shape& s = l.output;
  const int64_t labels = s.c;
  c.pixels = mul({s.n, s.h, s.w});
  c.lattice_bound_gaussian = mul({c.pixels, 3});
  c.lattice_bound_bilateral = mul({c.pixels, 6});
  auto kernel = [&](int64_t d) {
    const int64_t points = mul({c.pixels, d + 1});
    return add(add(mul({4, c.pixels, d + 1, labels}), mul({4, points, d + 1, labels})), mul({c.pixels, labels}));
  };
  c.flops_per_iteration = add(add(kernel(2), kernel(5)), mul({9, c.pixels, labels}));
  c.flops = add(mul({5, c.pixels, labels}), mul({a->iterations, c.flops_per_iteration}));
  return c;
}

LayerCost layer_cost(const Graph& g, const Layer& l) {
  auto mul = [&](std::initializer_list<int64_t> xs) { return product(l, xs); };
  auto add = [&](int64_t a, int64_t b) { return detail::checked_add(a, b, l.loc, l.name); };
  const Shape& o = l.output;
  const Shape in = l.inputs.empty() ? Shape{} : g.layers[l.inputs[0]].output;
  int64_t out_elems = elements(l, o);
  LayerCost c;
  switch (l.op) {
    case OpKind::Input:
      break;
    case OpKind::Conv: {
      const auto& a = std::get<ConvAttrs>(l.attrs);
      c.macs = mul({out_elems, in.c / a.groups, a.win.kh, a.win.kw});
      c.params = add(mul({a.out_channels, in.c / a.groups, a.win.kh, a.win.kw}), a.bias ? a.out_channels : 0);
      c.flops = add(mul({2, c.macs}), a.bias ? out_elems : 0);
      break;
    }
    case OpKind::DeformConv: {
      // The GEMM as a conv's, plus the bilinear sampling (deform_sampling) in the FLOPs.
      const auto& a = std::get<DeformConvAttrs>(l.attrs);
      c.macs = mul({out_elems, in.c / a.groups, a.win.kh, a.win.kw});
      c.params = add(mul({a.out_channels, in.c / a.groups, a.win.kh, a.win.kw}), a.bias ? a.out_channels : 0);
      c.flops = add(add(mul({2, c.macs}), a.bias ? out_elems : 0), deform_sampling(g, l).flops);
      break;
    }
    case OpKind::ConvTranspose: {
      // Each input pixel scatters a kh x kw x (Cout/groups) window: N*Cin*H*W*(Cout/g)*kh*kw.
      const auto& a = std::get<ConvTransposeAttrs>(l.attrs);
      c.macs = mul({elements(l, in), a.out_channels / a.groups, a.win.kh, a.win.kw});
      c.params = add(mul({in.c, a.out_channels / a.groups, a.win.kh, a.win.kw}), a.bias ? a.out_channels : 0);
      c.flops = add(mul({2, c.macs}), a.bias ? out_elems : 0);
      break;
    }
    case OpKind::FullyConnected: {
      const auto& a = std::get<FullyConnectedAttrs>(l.attrs);
      int64_t features = mul({in.c, in.h, in.w});
      c.macs = mul({in.n, features, a.out_features});
      c.params = add(mul({features, a.out_features}), a.bias ? a.out_features : 0);
      c.flops = add(mul({2, c.macs}), a.bias ? out_elems : 0);
      break;
    }
    case OpKind::MaxPool: {  // kh*kw - 1 comparisons per output
      const auto& a = std::get<PoolAttrs>(l.attrs);
      c.flops = mul({out_elems, a.win.kh * a.win.kw - 1});
      break;
    }
    case OpKind::AvgPool: {  // kh*kw - 1 adds and one divide per output
      const auto& a = std::get<PoolAttrs>(l.attrs);
      c.flops = mul({out_elems, a.win.kh * a.win.kw});
      break;
    }
    case OpKind::GlobalAvgPool:
      c.flops = elements(l, in);
      break;  // H*W - 1 adds + 1 divide per channel
    case OpKind::AdaptiveAvgPool: {
      const auto& a = std::get<AdaptivePoolAttrs>(l.attrs);
      c.flops = mul({in.n, in.c, adaptive_windows_total(in.h, a.out_h), adaptive_windows_total(in.w, a.out_w)});
      break;
    }
    case OpKind::LRN: {  // size squares + (size-1) adds + scale, offset, pow, divide
      const auto& a = std::get<LRNAttrs>(l.attrs);
      c.flops = mul({out_elems, 2 * a.size + 3});
      break;
    }
    case OpKind::BatchNorm:  // folded to one scale and one shift per element
      c.params = mul({2, o.c});
      c.flops = mul({2, out_elems});
      break;
    case OpKind::ReLU:
      c.flops = out_elems;
      break;  // max
    case OpKind::ReLU6:
      c.flops = mul({2, out_elems});
      break;  // max, min
    case OpKind::Sigmoid:
      c.flops = mul({4, out_elems});
      break;  // negate, exp, add, divide
    case OpKind::Swish:
      c.flops = mul({5, out_elems});
      break;  // sigmoid + multiply
    case OpKind::Tanh:
      c.flops = mul({5, out_elems});
      break;  // two exps, add, subtract, divide
    case OpKind::Add:
      c.flops = mul({static_cast<int64_t>(l.inputs.size()) - 1, out_elems});
      break;
    case OpKind::Multiply:
      c.flops = mul({static_cast<int64_t>(l.inputs.size()) - 1, out_elems});
      break;
    case OpKind::Softmax:
      c.flops = mul({5, out_elems});
      break;                // max, subtract, exp, sum, divide
    case OpKind::Upsample:  // bilinear: three lerps of 3 ops each; nearest copies
      if (std::get<UpsampleAttrs>(l.attrs).mode == UpsampleMode::Bilinear) c.flops = mul({9, out_elems});
      break;
    case OpKind::DenseCrf:
      c.flops = dense_crf_cost(g, l).flops;
      break;
    case OpKind::HardSwish:
      c.flops = mul({5, out_elems});
      break;  // add 3, max, min, multiply, divide by 6
    case OpKind::HardSigmoid:
      c.flops = mul({4, out_elems});
      break;  // multiply, add, max, min
    case OpKind::Gelu:
      // none: x / sqrt(2), erf (5, as tanh), add 1, times x, times 1/2. tanh: x^3 (2), times
      // 0.044715 and add x (2), times sqrt(2/pi), tanh (5), add 1, times x, times 1/2.
      c.flops = mul({std::get<GeluAttrs>(l.attrs).tanh ? 13 : 9, out_elems});
      break;
    case OpKind::Clip: {  // a comparison per bound given
      const auto& a = std::get<ClipAttrs>(l.attrs);
      c.flops = mul({(std::isfinite(a.min) ? 1 : 0) + (std::isfinite(a.max) ? 1 : 0), out_elems});
      break;
    }
    case OpKind::LayerNorm: {
      // Per element: the mean's add, subtract the mean, square, the variance's add, times the
      // inverse deviation (5), then times weight and plus bias (2 with affine). Per position:
      // the two divides by C, add eps, the reciprocal square root (4).
      const auto& a = std::get<LayerNormAttrs>(l.attrs);
      c.params = a.affine ? mul({2, o.c}) : 0;
      c.flops = add(mul({a.affine ? 7 : 5, out_elems}), mul({4, o.n, o.h, o.w}));
      break;
    }
    case OpKind::Scale: {  // times weight (plus bias)
      const auto& a = std::get<ScaleAttrs>(l.attrs);
      c.params = a.bias ? mul({2, o.c}) : o.c;
      c.flops = mul({a.bias ? 2 : 1, out_elems});
      break;
    }
    case OpKind::Concat:
    case OpKind::Crop:
    case OpKind::Pad:
    case OpKind::Flatten:
    case OpKind::Dropout:
    case OpKind::ChannelShuffle:
    case OpKind::Slice:
      break;  // data movement only
  }
  return c;
}

// ---------------------------------------------------------------------------------------
// Geometry: the continuous window [scale*x + offset, scale*x + offset + span] of output x.

namespace {

AxisMap window_axis(int64_t k, int64_t s, int64_t d, int64_t pad_lo) {
  return {Rational(s), Rational(-pad_lo), Rational(d * (k - 1))};
}

// Transposed conv: output x receives input i where i*s - pad + d*j = x for a tap j, i.e.
// i in [(x + pad - d(k-1)) / s, (x + pad) / s].
AxisMap transposed_axis(int64_t k, int64_t s, int64_t d, int64_t pad_lo) {
  Rational inv(1, s);
  return {inv, Rational(pad_lo - d * (k - 1)) * inv, Rational(d * (k - 1)) * inv};
}

// Upsampling samples the input at src(x) = (x + 1/2) * in/out - 1/2 (align_corners: x *
// (in-1)/(out-1)); nearest reads one pixel, bilinear two neighbours, centred on src(x).
AxisMap upsample_axis(int64_t in, int64_t out, const UpsampleAttrs& a) {
  Rational span = (a.mode == UpsampleMode::Bilinear && in > 1) ? Rational(1) : Rational(0);
  Rational half(1, 2);
  if (a.align_corners && out > 1) {
    Rational scale(in - 1, out - 1);
    return {scale, Rational(0) - span * half, span};
  }
  Rational scale(in, out);
  return {scale, half * scale - half - span * half, span};
}

AxisMap whole_axis(int64_t in) { return {Rational(in), Rational(0), Rational(in - 1)}; }

}  // namespace

SpatialMap spatial_map(const Graph& g, const Layer& l) {
  const Shape in = l.inputs.empty() ? Shape{} : g.layers[l.inputs[0]].output;
  switch (l.op) {
    case OpKind::Conv: {
      const Window& w = std::get<ConvAttrs>(l.attrs).win;
      return {window_axis(w.kh, w.sh, w.dh, w.pad_top), window_axis(w.kw, w.sw, w.dw, w.pad_left)};
    }
    case OpKind::MaxPool:
    case OpKind::AvgPool: {
      const Window& w = std::get<PoolAttrs>(l.attrs).win;
      return {window_axis(w.kh, w.sh, w.dh, w.pad_top), window_axis(w.kw, w.sw, w.dw, w.pad_left)};
    }
    case OpKind::DeformConv: {
      // The nominal window (zero offsets), widened by offset_bound where one is given.
      const auto& a = std::get<DeformConvAttrs>(l.attrs);
      const Window& w = a.win;
      SpatialMap m{window_axis(w.kh, w.sh, w.dh, w.pad_top), window_axis(w.kw, w.sw, w.dw, w.pad_left)};
      if (a.offset_bound > 0)
        for (AxisMap* axis : {&m.h, &m.w}) {
          axis->offset = axis->offset - Rational(a.offset_bound);
          axis->span = axis->span + Rational(2 * a.offset_bound);
        }
      return m;
    }
    case OpKind::ConvTranspose: {
      const Window& w = std::get<ConvTransposeAttrs>(l.attrs).win;
      return {transposed_axis(w.kh, w.sh, w.dh, w.pad_top), transposed_axis(w.kw, w.sw, w.dw, w.pad_left)};
    }
    case OpKind::AdaptiveAvgPool: {
      const auto& a = std::get<AdaptivePoolAttrs>(l.attrs);
      auto axis = [](int64_t size, int64_t out) {
        return AxisMap{Rational(size, out), Rational(0), Rational(adaptive_window_widest(size, out) - 1)};
      };
      return {axis(in.h, a.out_h), axis(in.w, a.out_w)};
    }
    case OpKind::GlobalAvgPool:
    case OpKind::Flatten:
    case OpKind::FullyConnected:
      return {whole_axis(in.h), whole_axis(in.w)};
    case OpKind::Crop: {
      const auto& a = std::get<CropAttrs>(l.attrs);
      return {{Rational(1), Rational(a.off_h), Rational(0)}, {Rational(1), Rational(a.off_w), Rational(0)}};
    }
    case OpKind::Pad: {
      const auto& a = std::get<PadAttrs>(l.attrs);
      return {{Rational(1), Rational(-a.top), Rational(0)}, {Rational(1), Rational(-a.left), Rational(0)}};
    }
    case OpKind::Upsample: {
      const auto& a = std::get<UpsampleAttrs>(l.attrs);
      return {upsample_axis(in.h, l.output.h, a), upsample_axis(in.w, l.output.w, a)};
    }
    default:
      return {};  // element-wise and merges: identity
  }
}

}  // namespace archbench
