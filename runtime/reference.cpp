// The reference executor: plain loops over NCHW float tensors, every sum accumulated in
// double, each op with PyTorch's eval-mode semantics (see the notes at each op). It is the
// ground truth the Halide kernels are checked against, so it favours obviousness over speed;
// the only concessions are loop orders that walk memory contiguously and element-wise ops
// that reuse a dying input buffer.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/dense_crf.h"
#include "runtime/runtime.h"

namespace archbench {

namespace {

using Index = int64_t;

std::vector<int64_t> dims_of(const Shape& s) { return {s.n, s.c, s.h, s.w}; }

size_t at(Index i) { return static_cast<size_t>(i); }

// The parameter "<layer>.<what>" with the shape `dims`; a RuntimeError where it is missing or
// shaped otherwise (check_weights reports both first; this keeps the loops in bounds anyway).
const Tensor& param(const Weights& weights, const Layer& layer, const char* what, const std::vector<int64_t>& dims) {
  std::string key = layer.name + "." + what;
  auto it = weights.find(key);
  if (it == weights.end()) throw RuntimeError(fmt::format("layer '{}': missing weight '{}'", layer.name, key));
  Index elements = 1;
  for (int64_t d : dims) elements *= d;
  if (it->second.shape != dims || it->second.size() != elements)
    throw RuntimeError(fmt::format("layer '{}': weight '{}' has shape {}, expected {}", layer.name, key,
                                   dims_text(it->second.shape), dims_text(dims)));
  return it->second;
}

// The indices i in [0, count) for which i * stride + offset lies in [0, size): [lo, hi).
struct Range {
  Index lo, hi;
};
Range valid_range(Index count, Index stride, Index offset, Index size) {
  // i * stride + offset >= 0  <=>  i >= ceil(-offset / stride)
  Index lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  // i * stride + offset <= size - 1  <=>  i <= floor((size - 1 - offset) / stride)
  Index top = size - 1 - offset;
  Index hi = top < 0 ? 0 : top / stride + 1;
  return {std::min(lo, count), std::clamp(hi, std::min(lo, count), count)};
}

// --- convolution -------------------------------------------------------------------------

// out[n, co, oh, ow] = bias[co] + sum over the group's input channels ci and taps (kh, kw) of
// w[co, ci, kh, kw] * x[n, g * Cin/g + ci, oh * sh - pad_top + kh * dh, ow * sw - pad_left + kw * dw],
// taps outside the input reading zero (PyTorch's Conv2d; asymmetric padding as F.pad + conv).
Tensor conv(const Layer& layer, const Tensor& x, const Shape& xs, const Weights& weights) {
  const auto& a = std::get<ConvAttrs>(layer.attrs);
  const Window& win = a.win;
  const Shape& os = layer.output;
  const Index cin_g = xs.c / a.groups, cout_g = os.c / a.groups;
  const Tensor& w = param(weights, layer, "weight", {os.c, cin_g, win.kh, win.kw});
  const Tensor* b = a.bias ? &param(weights, layer, "bias", {os.c}) : nullptr;
  // The output rows and columns each tap reaches inside the input, per kh and per kw.
  std::vector<Range> rh(at(win.kh)), rw(at(win.kw));
  for (Index kh = 0; kh < win.kh; ++kh) rh[at(kh)] = valid_range(os.h, win.sh, kh * win.dh - win.pad_top, xs.h);
  for (Index kw = 0; kw < win.kw; ++kw) rw[at(kw)] = valid_range(os.w, win.sw, kw * win.dw - win.pad_left, xs.w);
  Tensor out(os);
  std::vector<double> acc(at(os.h * os.w));
  for (Index n = 0; n < os.n; ++n) {
    for (Index co = 0; co < os.c; ++co) {
      const Index g = co / cout_g;
      std::fill(acc.begin(), acc.end(), b ? static_cast<double>(b->data[at(co)]) : 0.0);
      for (Index ci = 0; ci < cin_g; ++ci) {
        const float* plane = &x.data[at(((n * xs.c) + g * cin_g + ci) * xs.h * xs.w)];
        for (Index kh = 0; kh < win.kh; ++kh) {
          const Index off_h = kh * win.dh - win.pad_top;
          for (Index kw = 0; kw < win.kw; ++kw) {
            const Index off_w = kw * win.dw - win.pad_left;
            const Index lo = rw[at(kw)].lo, hi = rw[at(kw)].hi;
            const double wv = w.data[at(((co * cin_g + ci) * win.kh + kh) * win.kw + kw)];
            for (Index oh = rh[at(kh)].lo; oh < rh[at(kh)].hi; ++oh) {
              const float* row = plane + (oh * win.sh + off_h) * xs.w;
              double* dst = &acc[at(oh * os.w)];
              if (win.sw == 1)  // the common case, kept apart so that it vectorises
                for (Index ow = lo; ow < hi; ++ow) dst[ow] += wv * static_cast<double>(row[ow + off_w]);
              else
                for (Index ow = lo; ow < hi; ++ow) dst[ow] += wv * static_cast<double>(row[ow * win.sw + off_w]);
            }
          }
        }
      }
      float* o = &out.data[at((n * os.c + co) * os.h * os.w)];
      for (size_t i = 0; i < acc.size(); ++i) o[i] = static_cast<float>(acc[i]);
    }
  }
  return out;
}

// torchvision.ops.deform_conv2d: tap (kh, kw) of output (oh, ow) reads input channel ci at
// (oh * sh - pad_top + kh * dh + dy, ow * sw - pad_left + kw * dw + dx), the offsets (dy, dx) at
// channels 2 * (g * K + k) and 2 * (g * K + k) + 1 of the offset input (g = ci / (Cin / G), the
// offset group; k = kh * kw_size + kw), by bilinear interpolation: zero for a position with
// y <= -1, y >= H, x <= -1 or x >= W (or not a number), each corner outside the input zero;
// times the mask at channel g * K + k (the third input; with sigmoid, the sigmoid of channel
// 2GK + g * K + k of the second). Then a conv over the sampled values.
double bilinear(const float* plane, Index h, Index w, double y, double x) {
  if (!(y > -1 && y < static_cast<double>(h) && x > -1 && x < static_cast<double>(w))) return 0.0;
  const double fy = std::floor(y), fx = std::floor(x);
  const Index y0 = static_cast<Index>(fy), x0 = static_cast<Index>(fx);
  const double ly = y - fy, lx = x - fx;
  auto v = [&](Index yy, Index xx) {
    return yy >= 0 && yy < h && xx >= 0 && xx < w ? static_cast<double>(plane[yy * w + xx]) : 0.0;
  };
  return (1 - ly) * (1 - lx) * v(y0, x0) + (1 - ly) * lx * v(y0, x0 + 1) + ly * (1 - lx) * v(y0 + 1, x0) +
         ly * lx * v(y0 + 1, x0 + 1);
}

Tensor deform_conv(const Layer& layer, const std::vector<const Tensor*>& in, const std::vector<Shape>& shapes,
                   const Weights& weights) {
  const auto& a = std::get<DeformConvAttrs>(layer.attrs);
  const Window& win = a.win;
  const Tensor& x = *in[0];
  const Shape& xs = shapes[0];
  const Shape& os = layer.output;
  const Index cin_g = xs.c / a.groups, cout_g = os.c / a.groups, taps = win.kh * win.kw;
  const Index per_group = xs.c / a.offset_groups, hw = os.h * os.w;
  const Tensor& w = param(weights, layer, "weight", {os.c, cin_g, win.kh, win.kw});
  const Tensor* b = a.bias ? &param(weights, layer, "bias", {os.c}) : nullptr;
  const Tensor& off = *in[1];
  const Index off_c = shapes[1].c;
  const Tensor* mask = in.size() == 3 ? in[2] : a.sigmoid ? in[1] : nullptr;
  const Index mask_c = in.size() == 3 ? shapes[2].c : off_c, mask_base = a.sigmoid ? 2 * a.offset_groups * taps : 0;
  Tensor out(os);
  // The sampled columns of one image: (channel, tap, pixel).
  std::vector<double> cols(at(xs.c * taps * hw));
  std::vector<double> acc(at(hw));
  for (Index n = 0; n < os.n; ++n) {
    for (Index c = 0; c < xs.c; ++c) {
      const Index g = c / per_group;
      const float* plane = &x.data[at((n * xs.c + c) * xs.h * xs.w)];
      for (Index kh = 0; kh < win.kh; ++kh)
        for (Index kw = 0; kw < win.kw; ++kw) {
          const Index k = kh * win.kw + kw;
          const float* dy = &off.data[at((n * off_c + 2 * (g * taps + k)) * hw)];
          const float* dx = dy + hw;
          const float* m = mask ? &mask->data[at((n * mask_c + mask_base + g * taps + k) * hw)] : nullptr;
          double* col = &cols[at((c * taps + k) * hw)];
          for (Index oh = 0; oh < os.h; ++oh)
            for (Index ow = 0; ow < os.w; ++ow) {
              const Index p = oh * os.w + ow;
              const double y = static_cast<double>(oh * win.sh - win.pad_top + kh * win.dh) + dy[p];
              const double xx = static_cast<double>(ow * win.sw - win.pad_left + kw * win.dw) + dx[p];
              double scale = 1.0;
              if (m) scale = a.sigmoid ? 1.0 / (1.0 + std::exp(-static_cast<double>(m[p]))) : m[p];
              col[p] = bilinear(plane, xs.h, xs.w, y, xx) * scale;
            }
        }
    }
    for (Index co = 0; co < os.c; ++co) {
      const Index g = co / cout_g;
      std::fill(acc.begin(), acc.end(), b ? static_cast<double>(b->data[at(co)]) : 0.0);
      for (Index ci = 0; ci < cin_g; ++ci)
        for (Index k = 0; k < taps; ++k) {
          const double wv = w.data[at((co * cin_g + ci) * taps + k)];
          const double* col = &cols[at(((g * cin_g + ci) * taps + k) * hw)];
          for (Index p = 0; p < hw; ++p) acc[at(p)] += wv * col[p];
        }
      float* o = &out.data[at((n * os.c + co) * hw)];
      for (Index p = 0; p < hw; ++p) o[p] = static_cast<float>(acc[at(p)]);
    }
  }
  return out;
}

// The dense CRF's exact definition (runtime/dense_crf.h), summing over every pair of pixels:
// images of at most 4096 pixels.
Tensor dense_crf(const Layer& layer, const std::vector<const Tensor*>& in, const std::vector<Shape>& shapes) {
  const auto& a = std::get<DenseCrfAttrs>(layer.attrs);
  const Shape& s = shapes[0];
  Tensor out(layer.output);
  try {
    out.data = dense_crf_exact(in[0]->data.data(), in[1]->data.data(), s.n, s.c, s.h, s.w, dense_crf_params(a));
  } catch (const std::invalid_argument& e) {
    throw RuntimeError(fmt::format("layer '{}': {}", layer.name, e.what()));
  }
  return out;
}

// PyTorch's ConvTranspose2d: the weight is [Cin, Cout/g, kh, kw]; input pixel (ih, iw) of
// channel ci (group g) adds w[ci, co, kh, kw] * x to output (ih * sh - pad_top + kh * dh,
// iw * sw - pad_left + kw * dw) of channel g * Cout/g + co; the output size (with
// output_padding at the bottom/right) is the layer's, and what falls outside it is dropped.
Tensor conv_transpose(const Layer& layer, const Tensor& x, const Shape& xs, const Weights& weights) {
  const auto& a = std::get<ConvTransposeAttrs>(layer.attrs);
  const Window& win = a.win;
  const Shape& os = layer.output;
  const Index cin_g = xs.c / a.groups, cout_g = os.c / a.groups;
  const Tensor& w = param(weights, layer, "weight", {xs.c, cout_g, win.kh, win.kw});
  const Tensor* b = a.bias ? &param(weights, layer, "bias", {os.c}) : nullptr;
  // The input rows and columns whose tap lands inside the output, per kh and per kw.
  std::vector<Range> rh(at(win.kh)), rw(at(win.kw));
  for (Index kh = 0; kh < win.kh; ++kh) rh[at(kh)] = valid_range(xs.h, win.sh, kh * win.dh - win.pad_top, os.h);
  for (Index kw = 0; kw < win.kw; ++kw) rw[at(kw)] = valid_range(xs.w, win.sw, kw * win.dw - win.pad_left, os.w);
  Tensor out(os);
  std::vector<double> acc(at(os.h * os.w));
  for (Index n = 0; n < os.n; ++n) {
    for (Index co = 0; co < os.c; ++co) {
      const Index g = co / cout_g, co_g = co % cout_g;
      std::fill(acc.begin(), acc.end(), b ? static_cast<double>(b->data[at(co)]) : 0.0);
      for (Index cig = 0; cig < cin_g; ++cig) {
        const Index ci = g * cin_g + cig;
        const float* plane = &x.data[at((n * xs.c + ci) * xs.h * xs.w)];
        for (Index kh = 0; kh < win.kh; ++kh) {
          const Index off_h = kh * win.dh - win.pad_top;
          for (Index kw = 0; kw < win.kw; ++kw) {
            const Index off_w = kw * win.dw - win.pad_left;
            const double wv = w.data[at(((ci * cout_g + co_g) * win.kh + kh) * win.kw + kw)];
            for (Index ih = rh[at(kh)].lo; ih < rh[at(kh)].hi; ++ih) {
              const float* row = plane + ih * xs.w;
              double* dst = &acc[at((ih * win.sh + off_h) * os.w)];
              for (Index iw = rw[at(kw)].lo; iw < rw[at(kw)].hi; ++iw)
                dst[iw * win.sw + off_w] += wv * static_cast<double>(row[iw]);
            }
          }
        }
      }
      float* o = &out.data[at((n * os.c + co) * os.h * os.w)];
      for (size_t i = 0; i < acc.size(); ++i) o[i] = static_cast<float>(acc[i]);
    }
  }
  return out;
}

// PyTorch's Linear on torch.flatten(x, 1): input feature i is x's element i of C*H*W in
// NCHW order. Output [N, out, 1, 1].
Tensor fully_connected(const Layer& layer, const Tensor& x, const Shape& xs, const Weights& weights) {
  const auto& a = std::get<FullyConnectedAttrs>(layer.attrs);
  const Index in = xs.c * xs.h * xs.w, outf = a.out_features;
  const Tensor& w = param(weights, layer, "weight", {outf, in});
  const Tensor* b = a.bias ? &param(weights, layer, "bias", {outf}) : nullptr;
  Tensor out(layer.output);
  for (Index n = 0; n < xs.n; ++n) {
    const float* v = &x.data[at(n * in)];
    for (Index o = 0; o < outf; ++o) {
      const float* row = &w.data[at(o * in)];
      double acc = b ? static_cast<double>(b->data[at(o)]) : 0.0;
      for (Index i = 0; i < in; ++i) acc += static_cast<double>(row[i]) * static_cast<double>(v[i]);
      out.data[at(n * outf + o)] = static_cast<float>(acc);
    }
  }
  return out;
}

// --- pooling -----------------------------------------------------------------------------

// PyTorch's MaxPool2d: the window of output (oh, ow) starts at oh * sh - pad_top and has kh
// taps dh apart; padding is -inf, i.e. taps outside the input are skipped (a window of only
// padding gives -inf). A NaN in the window wins, as in PyTorch.
Tensor max_pool(const Layer& layer, const Tensor& x, const Shape& xs) {
  const auto& a = std::get<PoolAttrs>(layer.attrs);
  const Window& win = a.win;
  const Shape& os = layer.output;
  Tensor out(os);
  for (Index nc = 0; nc < os.n * os.c; ++nc) {
    const float* plane = &x.data[at(nc * xs.h * xs.w)];
    float* o = &out.data[at(nc * os.h * os.w)];
    for (Index oh = 0; oh < os.h; ++oh)
      for (Index ow = 0; ow < os.w; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        for (Index kh = 0; kh < win.kh; ++kh) {
          const Index ih = oh * win.sh - win.pad_top + kh * win.dh;
          if (ih < 0 || ih >= xs.h) continue;
          for (Index kw = 0; kw < win.kw; ++kw) {
            const Index iw = ow * win.sw - win.pad_left + kw * win.dw;
            if (iw < 0 || iw >= xs.w) continue;
            const float v = plane[ih * xs.w + iw];
            if (v > best || std::isnan(v)) best = v;
          }
        }
        o[oh * os.w + ow] = best;
      }
  }
  return out;
}

// PyTorch's AvgPool2d: the window [start, start + k) with start = o * s - pad_lo is first cut
// at the far edge of the padded input (size + pad_hi) -- so a ceil-mode window hanging past it
// does not count the overhang -- which gives the count_include_pad divisor; then it is cut to
// the input, which gives the sum's range and the count_include_pad=false divisor.
Tensor avg_pool(const Layer& layer, const Tensor& x, const Shape& xs) {
  const auto& a = std::get<PoolAttrs>(layer.attrs);
  const Window& win = a.win;
  const Shape& os = layer.output;
  Tensor out(os);
  for (Index nc = 0; nc < os.n * os.c; ++nc) {
    const float* plane = &x.data[at(nc * xs.h * xs.w)];
    float* o = &out.data[at(nc * os.h * os.w)];
    for (Index oh = 0; oh < os.h; ++oh) {
      Index h0 = oh * win.sh - win.pad_top;
      Index h1 = std::min(h0 + win.kh, xs.h + win.pad_bottom);
      const Index pool_h = h1 - h0;
      h0 = std::max<Index>(h0, 0);
      h1 = std::min(h1, xs.h);
      for (Index ow = 0; ow < os.w; ++ow) {
        Index w0 = ow * win.sw - win.pad_left;
        Index w1 = std::min(w0 + win.kw, xs.w + win.pad_right);
        const Index pool_w = w1 - w0;
        w0 = std::max<Index>(w0, 0);
        w1 = std::min(w1, xs.w);
        if (h0 >= h1 || w0 >= w1) {
          o[oh * os.w + ow] = 0.0f;
          continue;
        }
        double sum = 0;
        for (Index ih = h0; ih < h1; ++ih)
          for (Index iw = w0; iw < w1; ++iw) sum += static_cast<double>(plane[ih * xs.w + iw]);
        const Index divisor = a.count_include_pad ? pool_h * pool_w : (h1 - h0) * (w1 - w0);
        o[oh * os.w + ow] = static_cast<float>(sum / static_cast<double>(divisor));
      }
    }
  }
  return out;
}

// PyTorch's AdaptiveAvgPool2d: output i averages input [floor(i * in / out), ceil((i + 1) * in / out)).
Tensor adaptive_avg_pool(const Layer& layer, const Tensor& x, const Shape& xs) {
  const Shape& os = layer.output;
  Tensor out(os);
  for (Index nc = 0; nc < os.n * os.c; ++nc) {
    const float* plane = &x.data[at(nc * xs.h * xs.w)];
    float* o = &out.data[at(nc * os.h * os.w)];
    for (Index oh = 0; oh < os.h; ++oh) {
      const Index h0 = oh * xs.h / os.h, h1 = ((oh + 1) * xs.h + os.h - 1) / os.h;
      for (Index ow = 0; ow < os.w; ++ow) {
        const Index w0 = ow * xs.w / os.w, w1 = ((ow + 1) * xs.w + os.w - 1) / os.w;
        double sum = 0;
        for (Index ih = h0; ih < h1; ++ih)
          for (Index iw = w0; iw < w1; ++iw) sum += static_cast<double>(plane[ih * xs.w + iw]);
        o[oh * os.w + ow] = static_cast<float>(sum / static_cast<double>((h1 - h0) * (w1 - w0)));
      }
    }
  }
  return out;
}

// --- normalisation -----------------------------------------------------------------------

// PyTorch's LocalResponseNorm: b = a / (k + alpha / size * sum of a^2 over channels
// [c - size/2, c + (size-1)/2])^beta, channels outside [0, C) contributing zero (the divisor
// stays `size`).
Tensor lrn(const Layer& layer, const Tensor& x, const Shape& xs) {
  const auto& a = std::get<LRNAttrs>(layer.attrs);
  Tensor out(layer.output);
  const Index plane = xs.h * xs.w;
  for (Index n = 0; n < xs.n; ++n)
    for (Index c = 0; c < xs.c; ++c) {
      const Index c0 = std::max<Index>(c - a.size / 2, 0), c1 = std::min<Index>(c + (a.size - 1) / 2, xs.c - 1);
      for (Index p = 0; p < plane; ++p) {
        double sq = 0;
        for (Index j = c0; j <= c1; ++j) {
          const double v = x.data[at((n * xs.c + j) * plane + p)];
          sq += v * v;
        }
        const size_t i = at((n * xs.c + c) * plane + p);
        const double div = std::pow(a.k + a.alpha * sq / static_cast<double>(a.size), a.beta);
        out.data[i] = static_cast<float>(static_cast<double>(x.data[i]) / div);
      }
    }
  return out;
}

// Eval-mode BatchNorm2d, unfolded: (x - running_mean) / sqrt(running_var + eps) * weight + bias.
void batch_norm_inplace(const Layer& layer, Tensor& t, const Shape& s, const Weights& weights) {
  const double eps = std::get<BatchNormAttrs>(layer.attrs).eps;
  const Tensor& gamma = param(weights, layer, "weight", {s.c});
  const Tensor& beta = param(weights, layer, "bias", {s.c});
  const Tensor& mean = param(weights, layer, "running_mean", {s.c});
  const Tensor& var = param(weights, layer, "running_var", {s.c});
  const Index plane = s.h * s.w;
  for (Index n = 0; n < s.n; ++n)
    for (Index c = 0; c < s.c; ++c) {
      const double m = mean.data[at(c)], inv = 1.0 / std::sqrt(static_cast<double>(var.data[at(c)]) + eps);
      const double g = gamma.data[at(c)], b = beta.data[at(c)];
      float* p = &t.data[at((n * s.c + c) * plane)];
      for (Index i = 0; i < plane; ++i) p[i] = static_cast<float>((static_cast<double>(p[i]) - m) * inv * g + b);
    }
}

// Softmax over channels at every (n, h, w), shifted by the maximum.
Tensor softmax(const Layer& layer, const Tensor& x, const Shape& xs) {
  Tensor out(layer.output);
  const Index plane = xs.h * xs.w;
  std::vector<double> e(at(xs.c));
  for (Index n = 0; n < xs.n; ++n)
    for (Index p = 0; p < plane; ++p) {
      auto idx = [&](Index c) { return at((n * xs.c + c) * plane + p); };
      double top = -std::numeric_limits<double>::infinity();
      for (Index c = 0; c < xs.c; ++c) top = std::max(top, static_cast<double>(x.data[idx(c)]));
      double sum = 0;
      for (Index c = 0; c < xs.c; ++c) sum += e[at(c)] = std::exp(static_cast<double>(x.data[idx(c)]) - top);
      for (Index c = 0; c < xs.c; ++c) out.data[idx(c)] = static_cast<float>(e[at(c)] / sum);
    }
  return out;
}

// Across the channels at every (n, h, w): (x - mean) / sqrt(biased variance + eps), then times
// weight[c] plus bias[c] where affine (ConvNeXt's LayerNorm2d; PyTorch's LayerNorm over C of an
// NHWC tensor).
Tensor layer_norm(const Layer& layer, const Tensor& x, const Shape& xs, const Weights& weights) {
  const auto& a = std::get<LayerNormAttrs>(layer.attrs);
  const Tensor* w = a.affine ? &param(weights, layer, "weight", {xs.c}) : nullptr;
  const Tensor* b = a.affine ? &param(weights, layer, "bias", {xs.c}) : nullptr;
  Tensor out(layer.output);
  const Index plane = xs.h * xs.w;
  for (Index n = 0; n < xs.n; ++n)
    for (Index p = 0; p < plane; ++p) {
      auto idx = [&](Index c) { return at((n * xs.c + c) * plane + p); };
      double sum = 0;
      for (Index c = 0; c < xs.c; ++c) sum += static_cast<double>(x.data[idx(c)]);
      const double mean = sum / static_cast<double>(xs.c);
      double squares = 0;
      for (Index c = 0; c < xs.c; ++c) {
        const double d = static_cast<double>(x.data[idx(c)]) - mean;
        squares += d * d;
      }
      const double inv = 1.0 / std::sqrt(squares / static_cast<double>(xs.c) + a.eps);
      for (Index c = 0; c < xs.c; ++c) {
        double y = (static_cast<double>(x.data[idx(c)]) - mean) * inv;
        if (w) y = y * static_cast<double>(w->data[at(c)]) + static_cast<double>(b->data[at(c)]);
        out.data[idx(c)] = static_cast<float>(y);
      }
    }
  return out;
}

// --- element-wise ------------------------------------------------------------------------

// relu, relu6, sigmoid, swish (x * sigmoid(x), PyTorch's SiLU), tanh; NaN stays NaN.
void activation_inplace(OpKind op, Tensor& t) {
  auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (float& f : t.data) {
    const double v = f;
    double r = v;
    switch (op) {
      case OpKind::ReLU:
        r = v < 0 ? 0.0 : v;
        break;
      case OpKind::ReLU6:
        r = v < 0 ? 0.0 : (v > 6 ? 6.0 : v);
        break;
      case OpKind::Sigmoid:
        r = sigmoid(v);
        break;
      case OpKind::Swish:
        r = v * sigmoid(v);
        break;
      case OpKind::Tanh:
        r = std::tanh(v);
        break;
      default:
        break;
    }
    f = static_cast<float>(r);
  }
}

// hardswish x * relu6(x + 3) / 6; hardsigmoid max(0, min(1, alpha x + beta)); gelu x * Phi(x)
// (erf) or PyTorch's tanh form; clip clamp(x, min, max). NaN stays NaN (every comparison with
// it is false), as in PyTorch.
void attributed_activation_inplace(const Layer& layer, Tensor& t) {
  auto clamp = [](double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); };
  const double sqrt_half = std::sqrt(0.5), sqrt_2_over_pi = std::sqrt(2.0 / std::numbers::pi);
  for (float& f : t.data) {
    const double v = f;
    double r = v;
    switch (layer.op) {
      case OpKind::HardSwish:
        r = v * clamp(v + 3.0, 0.0, 6.0) / 6.0;
        break;
      case OpKind::HardSigmoid: {
        const auto& a = std::get<HardSigmoidAttrs>(layer.attrs);
        r = clamp(a.alpha * v + a.beta, 0.0, 1.0);
        break;
      }
      case OpKind::Gelu:
        if (std::get<GeluAttrs>(layer.attrs).tanh)
          r = 0.5 * v * (1.0 + std::tanh(sqrt_2_over_pi * (v + 0.044715 * v * v * v)));
        else
          r = 0.5 * v * (1.0 + std::erf(v * sqrt_half));
        break;
      case OpKind::Clip: {
        const auto& a = std::get<ClipAttrs>(layer.attrs);
        r = clamp(v, a.min, a.max);
        break;
      }
      default:
        break;
    }
    f = static_cast<float>(r);
  }
}

// x * weight[c] (+ bias[c]).
void scale_inplace(const Layer& layer, Tensor& t, const Shape& s, const Weights& weights) {
  const bool has_bias = std::get<ScaleAttrs>(layer.attrs).bias;
  const Tensor& w = param(weights, layer, "weight", {s.c});
  const Tensor* b = has_bias ? &param(weights, layer, "bias", {s.c}) : nullptr;
  const Index plane = s.h * s.w;
  for (Index n = 0; n < s.n; ++n)
    for (Index c = 0; c < s.c; ++c) {
      const double g = w.data[at(c)], o = b ? static_cast<double>(b->data[at(c)]) : 0.0;
      float* p = &t.data[at((n * s.c + c) * plane)];
      for (Index i = 0; i < plane; ++i) p[i] = static_cast<float>(static_cast<double>(p[i]) * g + o);
    }
}

Tensor add(const Layer& layer, const std::vector<const Tensor*>& in) {
  Tensor out(layer.output);
  for (size_t i = 0; i < out.data.size(); ++i) {
    double sum = 0;
    for (const Tensor* t : in) sum += static_cast<double>(t->data[i]);
    out.data[i] = static_cast<float>(sum);
  }
  return out;
}

// Broadcasting product: an operand with extent 1 on an axis repeats along it.
Tensor multiply(const Layer& layer, const std::vector<const Tensor*>& in, const std::vector<Shape>& shapes) {
  const Shape& os = layer.output;
  Tensor out(os);
  std::vector<double> acc(out.data.size(), 1.0);
  for (size_t k = 0; k < in.size(); ++k) {
    const Shape& s = shapes[k];
    const Index sn = s.n == 1 ? 0 : s.c * s.h * s.w, sc = s.c == 1 ? 0 : s.h * s.w, sh = s.h == 1 ? 0 : s.w,
                sw = s.w == 1 ? 0 : 1;
    size_t i = 0;
    for (Index n = 0; n < os.n; ++n)
      for (Index c = 0; c < os.c; ++c)
        for (Index h = 0; h < os.h; ++h)
          for (Index w = 0; w < os.w; ++w)
            acc[i++] *= static_cast<double>(in[k]->data[at(n * sn + c * sc + h * sh + w * sw)]);
  }
  for (size_t i = 0; i < acc.size(); ++i) out.data[i] = static_cast<float>(acc[i]);
  return out;
}

Tensor concat(const Layer& layer, const std::vector<const Tensor*>& in, const std::vector<Shape>& shapes) {
  const Shape& os = layer.output;
  Tensor out(os);
  const Index plane = os.h * os.w;
  for (Index n = 0; n < os.n; ++n) {
    Index c0 = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      const Index len = shapes[k].c * plane;
      std::copy_n(in[k]->data.begin() + static_cast<std::ptrdiff_t>(n * len), len,
                  out.data.begin() + static_cast<std::ptrdiff_t>((n * os.c + c0) * plane));
      c0 += shapes[k].c;
    }
  }
  return out;
}

// ShuffleNet's x.view(N, g, C/g, H, W).transpose(1, 2).reshape(N, C, H, W): output channel j
// is input channel (j % g) * (C / g) + j / g.
Tensor channel_shuffle(const Layer& layer, const Tensor& x, const Shape& xs) {
  const Index g = std::get<ChannelShuffleAttrs>(layer.attrs).groups, per_group = xs.c / g;
  const Index plane = xs.h * xs.w;
  Tensor out(layer.output);
  for (Index n = 0; n < xs.n; ++n)
    for (Index j = 0; j < xs.c; ++j) {
      const Index from = (j % g) * per_group + j / g;
      std::copy_n(x.data.begin() + static_cast<std::ptrdiff_t>((n * xs.c + from) * plane), plane,
                  out.data.begin() + static_cast<std::ptrdiff_t>((n * xs.c + j) * plane));
    }
  return out;
}

// Channels [begin, end) of the input.
Tensor slice(const Layer& layer, const Tensor& x, const Shape& xs) {
  const auto& a = std::get<SliceAttrs>(layer.attrs);
  const Shape& os = layer.output;
  const Index plane = xs.h * xs.w;
  Tensor out(os);
  for (Index n = 0; n < os.n; ++n)
    std::copy_n(x.data.begin() + static_cast<std::ptrdiff_t>((n * xs.c + a.begin) * plane), os.c * plane,
                out.data.begin() + static_cast<std::ptrdiff_t>(n * os.c * plane));
  return out;
}

// --- spatial data movement ---------------------------------------------------------------

Tensor crop(const Layer& layer, const Tensor& x, const Shape& xs) {
  const auto& a = std::get<CropAttrs>(layer.attrs);
  const Shape& os = layer.output;
  Tensor out(os);
  for (Index nc = 0; nc < os.n * os.c; ++nc)
    for (Index h = 0; h < os.h; ++h)
      for (Index w = 0; w < os.w; ++w)
        out.data[at((nc * os.h + h) * os.w + w)] = x.data[at((nc * xs.h + h + a.off_h) * xs.w + w + a.off_w)];
  return out;
}

Tensor pad(const Layer& layer, const Tensor& x, const Shape& xs) {
  const auto& a = std::get<PadAttrs>(layer.attrs);
  const Shape& os = layer.output;
  Tensor out(os);
  std::fill(out.data.begin(), out.data.end(), static_cast<float>(a.value));
  for (Index nc = 0; nc < os.n * os.c; ++nc)
    for (Index h = 0; h < xs.h; ++h)
      for (Index w = 0; w < xs.w; ++w)
        out.data[at((nc * os.h + h + a.top) * os.w + w + a.left)] = x.data[at((nc * xs.h + h) * xs.w + w)];
  return out;
}

// PyTorch's source index for 'nearest' (upsample_nearest2d on an NCHW tensor, 1.13):
// floor(dst * scale) computed in float, capped at in - 1, where scale is float(1 / scale_factor)
// when a factor was given and float(in) / out otherwise -- no shortcut when the size is kept
// or doubled. (PyTorch's channels-last kernel, which it also picks for NCHW tensors with one
// channel, does take those shortcuts: there a 2.05 factor reads dst / 2 and a factor that
// keeps the size is the identity. We follow the general kernel.)
std::vector<Index> nearest_index(Index in, Index out, double scale_factor) {
  std::vector<Index> idx(at(out));
  const float scale =
      scale_factor > 0 ? static_cast<float>(1.0 / scale_factor) : static_cast<float>(in) / static_cast<float>(out);
  for (Index d = 0; d < out; ++d)
    idx[at(d)] = std::min(static_cast<Index>(std::floor(static_cast<float>(d) * scale)), in - 1);
  return idx;
}

// PyTorch's bilinear taps along one axis: the identity when the size is unchanged; else the
// source coordinate src = dst * (in - 1) / (out - 1) with align_corners, or
// (dst + 0.5) * scale - 0.5 clamped at 0 without (scale = 1 / scale_factor or in / out, in
// float as PyTorch), read from floor(src) and the next pixel (the last one repeats).
struct Taps {
  Index i0, i1;
  double l0, l1;
};
std::vector<Taps> bilinear_taps(Index in, Index out, bool align_corners, double scale_factor) {
  std::vector<Taps> taps(at(out));
  float scale;
  if (align_corners)
    scale = out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
  else
    scale =
        scale_factor > 0 ? static_cast<float>(1.0 / scale_factor) : static_cast<float>(in) / static_cast<float>(out);
  for (Index d = 0; d < out; ++d) {
    if (out == in) {
      taps[at(d)] = {d, d, 1.0, 0.0};
      continue;
    }
    double src = align_corners ? static_cast<double>(scale) * static_cast<double>(d)
                               : static_cast<double>(scale) * (static_cast<double>(d) + 0.5) - 0.5;
    if (src < 0) src = 0;
    const Index i0 = static_cast<Index>(src);
    const double l1 = std::clamp(src - static_cast<double>(i0), 0.0, 1.0);
    taps[at(d)] = {i0, i0 < in - 1 ? i0 + 1 : i0, 1.0 - l1, l1};
  }
  return taps;
}

Tensor upsample(const Layer& layer, const Tensor& x, const Shape& xs) {
  const auto& a = std::get<UpsampleAttrs>(layer.attrs);
  const Shape& os = layer.output;
  Tensor out(os);
  if (a.mode == UpsampleMode::Nearest) {
    const auto ih = nearest_index(xs.h, os.h, a.scale_h), iw = nearest_index(xs.w, os.w, a.scale_w);
    for (Index nc = 0; nc < os.n * os.c; ++nc)
      for (Index h = 0; h < os.h; ++h)
        for (Index w = 0; w < os.w; ++w)
          out.data[at((nc * os.h + h) * os.w + w)] = x.data[at((nc * xs.h + ih[at(h)]) * xs.w + iw[at(w)])];
    return out;
  }
  const auto th = bilinear_taps(xs.h, os.h, a.align_corners, a.scale_h);
  const auto tw = bilinear_taps(xs.w, os.w, a.align_corners, a.scale_w);
  for (Index nc = 0; nc < os.n * os.c; ++nc) {
    const float* plane = &x.data[at(nc * xs.h * xs.w)];
    for (Index h = 0; h < os.h; ++h) {
      const Taps& y = th[at(h)];
      for (Index w = 0; w < os.w; ++w) {
        const Taps& t = tw[at(w)];
        auto px = [&](Index r, Index c) { return static_cast<double>(plane[r * xs.w + c]); };
        const double v = y.l0 * (t.l0 * px(y.i0, t.i0) + t.l1 * px(y.i0, t.i1)) +
                         y.l1 * (t.l0 * px(y.i1, t.i0) + t.l1 * px(y.i1, t.i1));
        out.data[at((nc * os.h + h) * os.w + w)] = static_cast<float>(v);
      }
    }
  }
  return out;
}

bool in_place_op(OpKind op) {
  switch (op) {
    case OpKind::ReLU:
    case OpKind::ReLU6:
    case OpKind::Sigmoid:
    case OpKind::Swish:
    case OpKind::Tanh:
    case OpKind::HardSwish:
    case OpKind::HardSigmoid:
    case OpKind::Gelu:
    case OpKind::Clip:
    case OpKind::Scale:
    case OpKind::BatchNorm:
    case OpKind::Flatten:
    case OpKind::Dropout:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::map<std::string, Tensor> run_reference(const Graph& graph, const Weights& weights, const Tensor& input,
                                            bool keep_all) {
  if (graph.layers.empty()) throw RuntimeError("reference: the graph has no layers");
  const Shape& in_shape = graph.input().output;
  if (input.shape != dims_of(in_shape) || input.size() != in_shape.elements())
    throw RuntimeError(fmt::format("reference: input tensor has shape {}, the network '{}' expects {}",
                                   dims_text(input.shape), graph.name, dims_text(in_shape)));

  const size_t count = graph.layers.size();
  const auto users = graph.consumers();
  std::vector<int> last_use(count, -1);
  for (size_t i = 0; i < count; ++i)
    for (int u : users[i]) last_use[i] = std::max(last_use[i], u);

  // values[0] stays empty: the network input is read from `input` itself.
  std::vector<Tensor> values(count);
  auto value = [&](int i) -> const Tensor& { return i == 0 ? input : values[at(i)]; };

  for (size_t li = 1; li < count; ++li) {
    const Layer& layer = graph.layers[li];
    const int self = static_cast<int>(li);
    if (layer.inputs.empty()) throw RuntimeError(fmt::format("reference: layer '{}' has no inputs", layer.name));
    std::vector<const Tensor*> in;
    std::vector<Shape> shapes;
    for (int i : layer.inputs) {
      in.push_back(&value(i));
      shapes.push_back(graph.layers[at(i)].output);
    }
    const Tensor& x = *in[0];
    const Shape& xs = shapes[0];
    Tensor out;

    if (in_place_op(layer.op)) {
      // Reuse the input's buffer where this layer is its last reader.
      const int src = layer.inputs[0];
      if (!keep_all && src != 0 && last_use[at(src)] == self)
        out = std::move(values[at(src)]);
      else
        out = x;
      switch (layer.op) {
        case OpKind::BatchNorm:
          batch_norm_inplace(layer, out, xs, weights);
          break;
        case OpKind::Flatten:
          out.shape = dims_of(layer.output);
          break;
        case OpKind::Dropout:
          break;
        case OpKind::HardSwish:
        case OpKind::HardSigmoid:
        case OpKind::Gelu:
        case OpKind::Clip:
          attributed_activation_inplace(layer, out);
          break;
        case OpKind::Scale:
          scale_inplace(layer, out, xs, weights);
          break;
        default:
          activation_inplace(layer.op, out);
          break;
      }
    } else {
      switch (layer.op) {
        case OpKind::Conv:
          out = conv(layer, x, xs, weights);
          break;
        case OpKind::ConvTranspose:
          out = conv_transpose(layer, x, xs, weights);
          break;
        case OpKind::DeformConv:
          out = deform_conv(layer, in, shapes, weights);
          break;
        case OpKind::DenseCrf:
          out = dense_crf(layer, in, shapes);
          break;
        case OpKind::FullyConnected:
          out = fully_connected(layer, x, xs, weights);
          break;
        case OpKind::MaxPool:
          out = max_pool(layer, x, xs);
          break;
        case OpKind::AvgPool:
          out = avg_pool(layer, x, xs);
          break;
        case OpKind::GlobalAvgPool:
        case OpKind::AdaptiveAvgPool:
          out = adaptive_avg_pool(layer, x, xs);
          break;
        case OpKind::LRN:
          out = lrn(layer, x, xs);
          break;
        case OpKind::Softmax:
          out = softmax(layer, x, xs);
          break;
        case OpKind::Add:
          out = add(layer, in);
          break;
        case OpKind::Multiply:
          out = multiply(layer, in, shapes);
          break;
        case OpKind::Concat:
          out = concat(layer, in, shapes);
          break;
        case OpKind::Crop:
          out = crop(layer, x, xs);
          break;
        case OpKind::Pad:
          out = pad(layer, x, xs);
          break;
        case OpKind::Upsample:
          out = upsample(layer, x, xs);
          break;
        case OpKind::LayerNorm:
          out = layer_norm(layer, x, xs, weights);
          break;
        case OpKind::ChannelShuffle:
          out = channel_shuffle(layer, x, xs);
          break;
        case OpKind::Slice:
          out = slice(layer, x, xs);
          break;
        default:
          throw RuntimeError(
              fmt::format("reference: layer '{}': op '{}' is not supported", layer.name, op_name(layer.op)));
      }
    }
    values[li] = std::move(out);

    if (!keep_all)
      for (int i : layer.inputs)
        if (i != 0 && last_use[at(i)] == self) values[at(i)] = Tensor{};
  }

  std::map<std::string, Tensor> result;
  if (keep_all) {
    result.emplace(graph.layers[0].name, input);
    for (size_t i = 1; i < count; ++i) result.emplace(graph.layers[i].name, std::move(values[i]));
  } else {
    for (int i : graph.outputs()) result.emplace(graph.layers[at(i)].name, std::move(values[at(i)]));
  }
  return result;
}

}  // namespace archbench
