// Element-wise and normalisation kernels on activations (c, x, y, n), channels innermost:
//   archbench_add          a + b, optionally followed by relu (the adds no conv epilogue fuses);
//   archbench_multiply     a * b with broadcasting (the SE gate (c, 1, 1, n) x (c, x, y, n));
//   archbench_scale_shift  act(in * scale(c) + shift(c)): batch-norm folded at preparation, and
//                          with scale 1, shift 0 the standalone activations;
//   archbench_softmax      softmax over channels, shifted by the channel maximum;
//   archbench_lrn          PyTorch's LocalResponseNorm across channels;
//   archbench_layer_norm   normalisation across the channels of each pixel, times weight(c)
//                          plus bias(c) (ConvNeXt's LayerNorm2d);
//   archbench_channel_shuffle  ShuffleNet's channel permutation (never in place).
//
// Broadcasting: the runtime passes an operand that repeats along an axis as a view with
// stride 0 on that axis, so the kernel indexes every operand like the output. The channel
// axis is allowed such a stride too (an operand with one channel); the dense case, both
// operands with unit channel stride, is specialised.
//
// Each kernel reads and writes an element at the same index only after it has read what the
// element depends on, so the output may be the buffer of an input (in-place); channel_shuffle
// reads other channels than it writes, so its output must be a buffer of its own.
#include "Halide.h"
#include "schedules/activation.h"
#include "schedules/gpu.h"

namespace {

using namespace Halide;

// The epilogues of the scale-shift kernel: relu, relu6 and swish as in activation.h, plus
// sigmoid, tanh, hardswish, gelu (erf and tanh forms) and clamp, whose bounds are the
// kernel's two extra scalar arguments (clip; hardsigmoid with alpha and beta as the scale and
// shift). Unlike activation.h's max/clamp (which give 0 or 6 for a NaN on x86), relu, relu6,
// sigmoid and those after tanh keep a NaN a NaN, as PyTorch does. (Those after tanh live
// here, not in activation.h: every conv generator includes that header, and no conv fuses them.)
enum class Act { None, ReLU, ReLU6, Sigmoid, Swish, Tanh, HardSwish, Gelu, GeluTanh, Clamp };

// f(v), or v where v is a NaN. The test is on the bits: Halide compiles float code with
// fast-math flags, under which is_nan(v) and v != v fold to false.
Expr keep_nan(Expr v, Expr f) {
  Expr magnitude = reinterpret<uint32_t>(v) & cast<uint32_t>(0x7fffffff);
  return select(magnitude > cast<uint32_t>(0x7f800000), v, f);
}
Expr relu(Expr v) { return keep_nan(v, max(v, 0.0f)); }
// Halide's exp is not exact at the extremes (exp(inf) gives 0), so below -88, where the
// sigmoid is under 1e-38, it is 0.
Expr sigmoid(Expr v) { return keep_nan(v, select(v < -88.0f, 0.0f, 1.0f / (1.0f + exp(-v)))); }
// Halide's tanh is a scalar libm call per lane; this vectorises: (1 - e) / (1 + e) with
// e = exp(-2|v|) (|v| capped at 20, where tanh is 1 in fp32), and near 0, where 1 - e loses
// digits, the series v - v^3/3 + 2v^5/15 (relative error below 1e-8 for |v| < 1/16).
Expr fast_tanh(Expr v) {
  Expr a = min(abs(v), 20.0f), e = exp(-2.0f * a), t = (1.0f - e) / (1.0f + e);
  Expr v2 = v * v, series = v * (1.0f + v2 * (-1.0f / 3.0f + v2 * (2.0f / 15.0f)));
  return keep_nan(v, select(a < 0.0625f, series, select(v < 0.0f, -t, t)));
}

// PyTorch's GELU: x * Phi(x) = x / 2 * (1 + erf(x / sqrt 2)). The argument of Halide's erf
// (a polynomial, accurate to the last three bits) is capped at +-10, where erf is +-1 in fp32,
// so that infinities give the limits.
Expr gelu(Expr v) {
  Expr e = erf(clamp(v * 0.70710678118654752f, -10.0f, 10.0f));
  return keep_nan(v, 0.5f * v * (1.0f + e));
}
// Its approximate='tanh' form: x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))).
Expr gelu_tanh(Expr v) {
  Expr inner = 0.79788456080286536f * (v + 0.044715f * v * v * v);
  return keep_nan(v, 0.5f * v * (1.0f + fast_tanh(inner)));
}
// x * relu6(x + 3) / 6 (PyTorch's Hardswish).
Expr hardswish(Expr v) { return keep_nan(v, v * clamp(v + 3.0f, 0.0f, 6.0f) / 6.0f); }

// `lo` and `hi`: clamp's bounds (unused by the others).
Expr activated(Act a, Expr v, Expr lo = Expr(), Expr hi = Expr()) {
  switch (a) {
    case Act::HardSwish:
      return hardswish(v);
    case Act::Gelu:
      return gelu(v);
    case Act::GeluTanh:
      return gelu_tanh(v);
    case Act::Clamp:
      return keep_nan(v, clamp(v, lo, hi));
    case Act::None:
      return v;
    case Act::ReLU:
      return relu(v);
    case Act::ReLU6:
      return keep_nan(v, clamp(v, 0.0f, 6.0f));
    case Act::Swish:
      return archbench::activate(archbench::Activation::Swish, v);
    case Act::Sigmoid:
      return sigmoid(v);
    case Act::Tanh:
      return fast_tanh(v);
  }
  return v;
}

// GPU: blocks of 32 channels x 8 pixels of a row, one element per thread (schedules/gpu.h).
void schedule_pointwise_gpu(Func out, Var c, Var x, Var y, Var n) {
  archbench::channel_tiles_on_gpu(out, c, x, y, n, 8);
}

// Per-pixel channel reductions on the GPU: a block owns `pixels` pixels of a row and all their
// channels. The reductions (one thread per pixel) run to completion in the block before any
// thread writes, so in-place stays correct; the writes then put 32 channels on threads
// (coalesced) x the block's pixels, each thread walking the channels in steps of 32.
// `yn` is the innermost block loop, where the reductions are computed.
void split_pixels_gpu(Func out, Var c, Var x, Var y, Var n, Var yn, Var ci, Var co, int pixels) {
  Var xo("xo"), xi("xi");
  out.split(c, co, ci, 32, TailStrategy::GuardWithIf)
      .split(x, xo, xi, pixels, TailStrategy::GuardWithIf)
      .fuse(y, n, yn)
      .reorder(co, ci, xi, yn, xo)
      .gpu_blocks(yn, xo)
      .gpu_threads(ci, xi);
}

// Vectorise channels, one task per row of each batch element.
void schedule_pointwise(Func out, Var c, Var y, Var n, int vec) {
  Var yn("yn");
  out.vectorize(c, vec, TailStrategy::GuardWithIf).fuse(y, n, yn).parallel(yn);
}

class Add : public Generator<Add> {
 public:
  GeneratorParam<bool> relu_after{"relu", false};
  Input<Buffer<float, 4>> a{"a"}, b{"b"};
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Expr v = a(c, x, y, n) + b(c, x, y, n);
    output(c, x, y, n) = relu_after ? relu(v) : v;
    if (get_target().has_gpu_feature()) {
      schedule_pointwise_gpu(output, c, x, y, n);
    } else {
      schedule_pointwise(output, c, y, n, natural_vector_size<float>());
    }
    a.set_estimates({{0, 256}, {0, 56}, {0, 56}, {0, 1}});
    b.set_estimates({{0, 256}, {0, 56}, {0, 56}, {0, 1}});
    output.set_estimates({{0, 256}, {0, 56}, {0, 56}, {0, 1}});
  }
};

class Multiply : public Generator<Multiply> {
 public:
  Input<Buffer<float, 4>> a{"a"}, b{"b"};
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    output(c, x, y, n) = a(c, x, y, n) * b(c, x, y, n);
    a.dim(0).set_stride(Expr());
    b.dim(0).set_stride(Expr());
    if (get_target().has_gpu_feature()) {
      // Scalar loads per thread: stride-0 and dense operands take the same code.
      schedule_pointwise_gpu(output, c, x, y, n);
    } else {
      schedule_pointwise(output, c, y, n, natural_vector_size<float>());
      output.specialize(a.dim(0).stride() == 1 && b.dim(0).stride() == 1);
    }
    a.set_estimates({{0, 256}, {0, 56}, {0, 56}, {0, 1}});
    b.set_estimates({{0, 256}, {0, 56}, {0, 56}, {0, 1}});
    output.set_estimates({{0, 256}, {0, 56}, {0, 56}, {0, 1}});
  }
};

class ScaleShift : public Generator<ScaleShift> {
 public:
  GeneratorParam<Act> activation{"activation",
                                 Act::None,
                                 {{"none", Act::None},
                                  {"relu", Act::ReLU},
                                  {"relu6", Act::ReLU6},
                                  {"sigmoid", Act::Sigmoid},
                                  {"swish", Act::Swish},
                                  {"tanh", Act::Tanh},
                                  {"hardswish", Act::HardSwish},
                                  {"gelu", Act::Gelu},
                                  {"gelu_tanh", Act::GeluTanh},
                                  {"clamp", Act::Clamp}}};
  Input<Buffer<float, 4>> input{"input"};
  Input<Buffer<float, 1>> scale{"scale"}, shift{"shift"};
  Output<Buffer<float, 4>> output{"output"};
  // clamp only: the bounds, arguments after shift (either may be infinite).
  Input<float>*lo = nullptr, *hi = nullptr;

  void configure() {
    if (activation.value() == Act::Clamp) {
      lo = add_input<float>("lo");
      hi = add_input<float>("hi");
    }
  }

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Expr v = input(c, x, y, n) * scale(c) + shift(c);
    output(c, x, y, n) = lo ? activated(activation.value(), v, *lo, *hi) : activated(activation.value(), v);
    if (get_target().has_gpu_feature()) {
      schedule_pointwise_gpu(output, c, x, y, n);
    } else {
      schedule_pointwise(output, c, y, n, natural_vector_size<float>());
    }
    input.set_estimates({{0, 256}, {0, 56}, {0, 56}, {0, 1}});
    scale.set_estimates({{0, 256}});
    shift.set_estimates({{0, 256}});
    output.set_estimates({{0, 256}, {0, 56}, {0, 56}, {0, 1}});
  }
};

// Per pixel: the channel maximum, exp(v - max) for every channel (stored), their sum, and the
// quotients. The two reductions run along the channels of one pixel.
class Softmax : public Generator<Softmax> {
 public:
  Input<Buffer<float, 4>> input{"input"};
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    RDom r(0, input.dim(0).extent(), "r");
    Func top("top"), e("e"), total("total");
    top(x, y, n) = input(0, x, y, n);
    top(x, y, n) = max(top(x, y, n), input(r, x, y, n));
    e(c, x, y, n) = exp(input(c, x, y, n) - top(x, y, n));
    total(x, y, n) = 0.0f;
    total(x, y, n) += e(r, x, y, n);
    output(c, x, y, n) = e(c, x, y, n) / total(x, y, n);

    if (get_target().has_gpu_feature()) {
      // The maximum and the sum of a pixel by one thread each, in the block's shared memory;
      // e is recomputed where it is read (the sum and the quotients) rather than stored.
      Var yn("yn"), ci("ci"), co("co");
      split_pixels_gpu(output, c, x, y, n, yn, ci, co, 8);
      top.compute_at(output, yn).gpu_threads(x);
      top.update().gpu_threads(x);
      total.compute_at(output, yn).gpu_threads(x);
      total.update().gpu_threads(x);
    } else {
      const int vec = natural_vector_size<float>();
      Var yn("yn");
      output.vectorize(c, vec, TailStrategy::GuardWithIf).fuse(y, n, yn).parallel(yn);
      top.compute_at(output, x);
      e.compute_at(output, x).vectorize(c, vec, TailStrategy::GuardWithIf);
      total.compute_at(output, x);
    }
    input.set_estimates({{0, 21}, {0, 64}, {0, 64}, {0, 1}});
    output.set_estimates({{0, 21}, {0, 64}, {0, 64}, {0, 1}});
  }
};

// b = a / (k + alpha / size * sum over channels [c - size/2, c + (size-1)/2] of a^2)^beta, the
// squares of channels outside [0, C) zero. The runtime passes alpha / size.
class LRN : public Generator<LRN> {
 public:
  Input<Buffer<float, 4>> input{"input"};
  Input<int> size{"size"};
  Input<float> alpha_over_size{"alpha_over_size"}, beta{"beta"}, k{"k"};
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Expr channels = input.dim(0).extent();
    Func sq("sq"), window("window");
    Expr v = input(clamp(c, 0, channels - 1), x, y, n);
    sq(c, x, y, n) = select(c >= 0 && c < channels, v * v, 0.0f);
    RDom r(0, size, "r");
    window(c, x, y, n) = 0.0f;
    window(c, x, y, n) += sq(c - size / 2 + r, x, y, n);
    output(c, x, y, n) = input(c, x, y, n) / pow(k + alpha_over_size * window(c, x, y, n), beta);

    if (get_target().has_gpu_feature()) {
      // The padded squares of the block's pixels staged in shared memory (threads: 32
      // channels x the pixels) before any write; then each output element's window sum by
      // the thread that writes it, from the staged squares.
      const int pixels = 4;
      Var yn("yn"), ci("ci"), co("co"), sco("sco"), sci("sci");
      split_pixels_gpu(output, c, x, y, n, yn, ci, co, pixels);
      sq.compute_at(output, yn)
          .split(c, sco, sci, 32, TailStrategy::GuardWithIf)
          .reorder(sco, sci, x, y, n)
          .gpu_threads(sci, x);
      window.compute_at(output, co);
    } else {
      const int vec = natural_vector_size<float>();
      Var yn("yn");
      output.vectorize(c, vec, TailStrategy::GuardWithIf).fuse(y, n, yn).parallel(yn);
      // The padded squares of one pixel, then the window sums of a vector of channels.
      sq.compute_at(output, x).vectorize(c, vec, TailStrategy::GuardWithIf);
      window.compute_at(output, c).vectorize(c, vec, TailStrategy::GuardWithIf);
      window.update().reorder(c, r).vectorize(c, vec, TailStrategy::GuardWithIf);
    }
    input.set_estimates({{0, 96}, {0, 55}, {0, 55}, {0, 1}});
    size.set_estimate(5);
    alpha_over_size.set_estimate(2e-5f);
    beta.set_estimate(0.75f);
    k.set_estimate(1.0f);
    output.set_estimates({{0, 96}, {0, 55}, {0, 55}, {0, 1}});
  }
};

// Per pixel: the channel mean, then the mean of the squared deviations from it (two passes:
// a single pass's E[x^2] - mean^2 cancels badly when the mean is large), then
// (x - mean) / sqrt(variance + eps) * weight(c) + bias(c). A layer without affine parameters
// gets weight 1 and bias 0 from the runtime.
class LayerNorm : public Generator<LayerNorm> {
 public:
  Input<Buffer<float, 4>> input{"input"};
  Input<Buffer<float, 1>> weight{"weight"}, bias{"bias"};
  Input<float> eps{"eps"};
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Expr channels = cast<float>(input.dim(0).extent());
    RDom r(0, input.dim(0).extent(), "r");
    Func sum("sum"), squares("squares");
    sum(x, y, n) = 0.0f;
    sum(x, y, n) += input(r, x, y, n);
    Expr mean = sum(x, y, n) / channels;
    Expr d = input(r, x, y, n) - mean;
    squares(x, y, n) = 0.0f;
    squares(x, y, n) += d * d;
    Expr inv_deviation = 1.0f / sqrt(squares(x, y, n) / channels + eps);
    output(c, x, y, n) = (input(c, x, y, n) - mean) * inv_deviation * weight(c) + bias(c);

    if (get_target().has_gpu_feature()) {
      // As softmax: a pixel's two sums by one thread each, in the block, before any write.
      Var yn("yn"), ci("ci"), co("co");
      split_pixels_gpu(output, c, x, y, n, yn, ci, co, 8);
      sum.compute_at(output, yn).gpu_threads(x);
      sum.update().gpu_threads(x);
      squares.compute_at(output, yn).gpu_threads(x);
      squares.update().gpu_threads(x);
    } else {
      const int vec = natural_vector_size<float>();
      Var yn("yn");
      output.vectorize(c, vec, TailStrategy::GuardWithIf).fuse(y, n, yn).parallel(yn);
      sum.compute_at(output, x);
      squares.compute_at(output, x);
    }
    input.set_estimates({{0, 96}, {0, 56}, {0, 56}, {0, 1}});
    weight.set_estimates({{0, 96}});
    bias.set_estimates({{0, 96}});
    eps.set_estimate(1e-6f);
    output.set_estimates({{0, 96}, {0, 56}, {0, 56}, {0, 1}});
  }
};

// output(j) = input((j % groups) * (C / groups) + j / groups): ShuffleNet's
// view(N, g, C/g, H, W).transpose(1, 2). The runtime checks that groups divides C; the clamp
// only tells bounds inference that the gather stays inside the channels.
class ChannelShuffle : public Generator<ChannelShuffle> {
 public:
  Input<Buffer<float, 4>> input{"input"};
  Input<int> groups{"groups"};
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Expr channels = input.dim(0).extent();
    Expr from = (c % groups) * (channels / groups) + c / groups;
    output(c, x, y, n) = input(clamp(from, 0, channels - 1), x, y, n);
    if (get_target().has_gpu_feature()) {
      schedule_pointwise_gpu(output, c, x, y, n);
    } else {
      schedule_pointwise(output, c, y, n, natural_vector_size<float>());
    }
    input.set_estimates({{0, 116}, {0, 28}, {0, 28}, {0, 1}});
    groups.set_estimate(2);
    output.set_estimates({{0, 116}, {0, 28}, {0, 28}, {0, 1}});
  }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(Add, archbench_add)
HALIDE_REGISTER_GENERATOR(Multiply, archbench_multiply)
HALIDE_REGISTER_GENERATOR(ScaleShift, archbench_scale_shift)
HALIDE_REGISTER_GENERATOR(Softmax, archbench_softmax)
HALIDE_REGISTER_GENERATOR(LRN, archbench_lrn)
HALIDE_REGISTER_GENERATOR(LayerNorm, archbench_layer_norm)
HALIDE_REGISTER_GENERATOR(ChannelShuffle, archbench_channel_shuffle)
