// The fully connected, element-wise, normalisation and transposed-conv kernels
// (runtime/kernels_misc.h) against the reference executor on awkward shapes: channels not a
// multiple of the vector width, 1x1 spatial, batch 2-3, broadcasting, strided views, in place.
// Tolerance: fp32 against the reference's double accumulation, max |error| <= 1e-4 x
// max(1, max |ref|); softmax, whose outputs are small, per element |error| <= 1e-6 + 1e-4 |ref|.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>

#include "helpers.h"
#include "runtime/kernels_misc.h"
#include "runtime/kernels_pool.h"

using namespace archbench;
using namespace archbench::test;
namespace k = archbench::kernels;

namespace {

constexpr double kTolerance = 1e-4;

// max over elements of |got - want| / (1e-6 + 1e-4 |want|): at most 1 passes.
double elementwise_error(const Tensor& got, const Tensor& want) {
  BOOST_TEST_REQUIRE(got.shape == want.shape, boost::test_tools::per_element());
  double worst = 0;
  for (size_t i = 0; i < want.data.size(); ++i) {
    const double w = want.data[i], e = std::abs(static_cast<double>(got.data[i]) - w);
    worst = std::max(worst, std::isfinite(e) ? e / (1e-6 + 1e-4 * std::abs(w)) : INFINITY);
  }
  return worst;
}

std::string net(const std::string& input, const std::string& layers) {
  return "name: t\ninput: " + input + "\nlayers:\n" + layers;
}

// A one-spec run: the graph, its weights, the input and every layer's reference output.
struct Run {
  Graph g;
  Weights w;
  Tensor x;
  std::map<std::string, Tensor> ref;

  explicit Run(const std::string& spec, double amplitude = 1.0, double offset = 0.0)
      : g(load_text(spec)), w(init_weights(g, 7)), x(random_tensor(g.input().output, 11, amplitude, offset)) {
    ref = run_reference(g, w, x, true);
  }
  const Tensor& value(const std::string& name) const { return name == g.input().name ? x : ref.at(name); }
  k::Buffer in(const std::string& name) const { return k::to_halide(value(name)); }
  k::Buffer out(const std::string& name) const {
    const Shape& s = layer(g, name).output;
    return k::Buffer(static_cast<int>(s.c), static_cast<int>(s.w), static_cast<int>(s.h), static_cast<int>(s.n));
  }
  const std::string& input_of(const std::string& name, size_t i = 0) const {
    return g.layers[static_cast<size_t>(layer(g, name).inputs.at(i))].name;
  }
  double error(const k::Buffer& got, const std::string& name) const {
    return relative_error(k::to_nchw(got), ref.at(name));
  }
};

const OpKind kActivations[] = {OpKind::ReLU, OpKind::ReLU6, OpKind::Sigmoid, OpKind::Swish, OpKind::Tanh};

// --- fully connected -----------------------------------------------------------------------

// Layer "fc" (optionally followed by "act", a relu) on the network input.
double fc_error(const std::string& spec) {
  Run r(spec);
  const Layer& fc = layer(r.g, "fc");
  const auto& a = std::get<FullyConnectedAttrs>(fc.attrs);
  k::PreparedFC p = k::prepare_fc(r.w.at("fc.weight"), a.bias ? &r.w.at("fc.bias") : nullptr, r.g.input().output);
  bool relu = r.g.find("act") >= 0;
  k::Buffer out = r.out("fc");
  k::run_fc(p, r.in("input"), out, relu);
  return r.error(out, relu ? "act" : "fc");
}

// --- transposed convolution ----------------------------------------------------------------

double deconv_error(const std::string& spec) {
  Run r(spec);
  const Layer& l = layer(r.g, "up");
  const auto& a = std::get<ConvTransposeAttrs>(l.attrs);
  k::PreparedDeconv p = k::prepare_conv_transpose(a, r.w.at("up.weight"), a.bias ? &r.w.at("up.bias") : nullptr);
  k::Buffer out = r.out("up");
  k::run_conv_transpose(p, r.in("input"), out);
  return r.error(out, "up");
}

// --- deformable convolution ----------------------------------------------------------------

// Layer "dc" through the deform kernel (its inputs from the reference run), against the
// reference; `ran` gets the variant that ran.
double deform_error(const std::string& spec, double amplitude, std::string& ran) {
  Run r(spec, amplitude);
  const Layer& l = layer(r.g, "dc");
  const auto& a = std::get<DeformConvAttrs>(l.attrs);
  const bool mask_input = l.inputs.size() == 3;
  k::PreparedDeform p = k::prepare_deform_conv(a, r.w.at("dc.weight"), a.bias ? &r.w.at("dc.bias") : nullptr,
                                               std::nullopt, mask_input || a.sigmoid, l.output);
  k::Buffer out = r.out("dc");
  k::Buffer mask = mask_input ? r.in(r.input_of("dc", 2)) : k::Buffer();
  ran = k::run_deform_conv(p, r.in(r.input_of("dc", 0)), r.in(r.input_of("dc", 1)), mask_input ? &mask : nullptr, out,
                           false);
  return r.error(out, "dc");
}

// `x` as the channels [offset, offset + C) of a tensor of `channels` channels (a concat's slice):
// kernels that read a channel window of a wider buffer are checked on it.
Tensor widened(const Tensor& x, int64_t channels, int64_t offset) {
  const Shape s = x.nchw();
  Tensor wide(Shape{s.n, channels, s.h, s.w});
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t y = 0; y < s.h; ++y)
        for (int64_t w = 0; w < s.w; ++w) wide.at(n, c + offset, y, w) = x.at(n, c, y, w);
  return wide;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kernels_misc)

BOOST_AUTO_TEST_CASE(deform_conv_awkward_shapes) {
  // Offsets from a conv of the (amplified) input: with amplitude 6 they reach about +-10
  // pixels, so samples fall past every border, between pixels and outside entirely.
  const std::string geometry = "kernel: [3, 2], stride: [2, 1], padding: [1, 0], dilation: [2, 1]";
  struct Case {
    const char* what;
    std::string spec;
    double amplitude;
    const char* variant;
  };
  const Case cases[] = {
      {"DCNv1, groups 2, offset groups 3, 3x2 kernel, stride (2, 1), padding (1, 0), dilation (2, 1), batch 2",
       net("[2, 6, 9, 8]", "  - {name: off, op: conv, out: 36, " + geometry +
                               "}\n  - {name: dc, op: deform_conv, inputs: [input, off], out: 4, groups: 2, "
                               "offset_groups: 3, " +
                               geometry + "}\n"),
       6, "deform p7"},
      {"the same with a mask input (sigmoid of a conv)",
       net("[2, 6, 9, 8]", "  - {name: off, op: conv, out: 36, " + geometry +
                               "}\n  - {name: logits, op: conv, inputs: input, out: 18, " + geometry +
                               "}\n  - {name: mask, op: sigmoid}\n"
                               "  - {name: dc, op: deform_conv, inputs: [input, off, mask], out: 6, groups: 2, "
                               "offset_groups: 3, bias: false, " +
                               geometry + "}\n"),
       6, "deform p7"},
      {"the same modulated (mmcv's DCNv2: offsets, then mask logits)",
       net("[2, 6, 9, 8]", "  - {name: off, op: conv, out: 54, " + geometry +
                               "}\n  - {name: dc, op: deform_conv, inputs: [input, off], out: 4, groups: 2, "
                               "offset_groups: 3, modulated: sigmoid, " +
                               geometry + "}\n"),
       6, "deform p7"},
      {"12-pixel tiles: 24 wide, 40 outputs (a partial channel tile), 20 inputs",
       net("[1, 20, 10, 24]",
           "  - {name: off, op: conv, out: 27, kernel: 3, padding: 1}\n"
           "  - {name: dc, op: deform_conv, inputs: [input, off], out: 40, kernel: 3, padding: 1, "
           "modulated: sigmoid}\n"),
       6, "deform p12"},
      {"14-pixel tiles: 28 wide (two tiles), 35 outputs, 2 offset groups, DCNv2",
       net("[1, 6, 5, 28]",
           "  - {name: off, op: conv, out: 54, kernel: 3, padding: 1}\n"
           "  - {name: dc, op: deform_conv, inputs: [input, off], out: 35, kernel: 3, padding: 1, "
           "offset_groups: 2, modulated: sigmoid}\n"),
       4, "deform p14"},
      {"128 input channels, 3x3 (AVX-512's specialised code), 14 wide: 14-pixel tiles",
       net("[1, 128, 6, 14]",
           "  - {name: off, op: conv, out: 18, kernel: 3, padding: 1}\n"
           "  - {name: dc, op: deform_conv, inputs: [input, off], out: 40, kernel: 3, padding: 1}\n"),
       3, "deform p14"},
      {"128 input channels, 3x3, 7x7, 96 outputs: on 2 threads the whole image in 2 groups of channel tiles (2 and 1)",
       net("[1, 128, 7, 7]",
           "  - {name: off, op: conv, out: 27, kernel: 3, padding: 1}\n"
           "  - {name: dc, op: deform_conv, inputs: [input, off], out: 96, kernel: 3, padding: 1, "
           "modulated: sigmoid}\n"),
       3, "deform p7"},
      {"1-pixel tiles: 5 wide, 33 outputs, stride 2",
       net("[1, 7, 11, 10]",
           "  - {name: off, op: conv, out: 18, kernel: 3, stride: 2, padding: 1}\n"
           "  - {name: dc, op: deform_conv, inputs: [input, off], out: 33, kernel: 3, stride: 2, "
           "padding: 1}\n"),
       6, "deform p1"},
      {"bands of rows: 40 rows, 13 wide, 2 offset groups",
       net("[1, 8, 40, 13]",
           "  - {name: off, op: conv, out: 36, kernel: 3, padding: 1}\n"
           "  - {name: dc, op: deform_conv, inputs: [input, off], out: 32, kernel: 3, padding: 1, "
           "offset_groups: 2}\n"),
       3, "deform p7"},
      {"offsets of about +-1500 pixels: nearly every sample outside the input",
       net("[1, 4, 6, 9]",
           "  - {name: off, op: conv, out: 18, kernel: 3, padding: 1}\n"
           "  - {name: dc, op: deform_conv, inputs: [input, off], out: 3, kernel: 3, padding: 1}\n"),
       1000, "deform p7"},
      {"a 1x1 kernel, 12 wide",
       net("[1, 5, 3, 12]",
           "  - {name: off, op: conv, out: 2, kernel: 1, bias: false}\n"
           "  - {name: dc, op: deform_conv, inputs: [input, off], out: 7, kernel: 1}\n"),
       1, "deform p12"},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      std::string ran;
      BOOST_TEST(deform_error(c.spec, c.amplitude, ran) <= kTolerance);
      BOOST_TEST(ran == c.variant);
    }
  }
}

BOOST_AUTO_TEST_CASE(fully_connected) {
  struct Case {
    const char* what;
    std::string spec;
  };
  const Case cases[] = {
      {"37x3x3 -> 50 (flatten order c, h, w)", net("[1, 37, 3, 3]", "  - {name: fc, op: fc, out: 50}\n")},
      {"37x3x3 -> 50, batch 3", net("[3, 37, 3, 3]", "  - {name: fc, op: fc, out: 50}\n")},
      {"non-square 5x2x7 -> 19, no bias, batch 2",
       net("[2, 5, 2, 7]", "  - {name: fc, op: fc, out: 19, bias: false}\n")},
      {"2048 -> 1000", net("[1, 2048, 1, 1]", "  - {name: fc, op: fc, out: 1000}\n")},
      {"2048 -> 1000, batch 3", net("[3, 2048, 1, 1]", "  - {name: fc, op: fc, out: 1000}\n")},
      {"after flatten, + relu", net("[2, 16, 4, 5]",
                                    "  - {name: flat, op: flatten}\n  - {name: fc, op: fc, out: 70}\n"
                                    "  - {name: act, op: relu}\n")},
      {"3 -> 1", net("[1, 3, 1, 1]", "  - {name: fc, op: fc, out: 1}\n")},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) { BOOST_TEST(fc_error(c.spec) <= kTolerance); }
  }
}

BOOST_AUTO_TEST_CASE(fully_connected_reads_a_strided_view) {
  // The fc input as a channel window of a wider buffer (a concat slice).
  Run r(net("[2, 12, 3, 5]", "  - {name: fc, op: fc, out: 33}\n"));
  k::PreparedFC p = k::prepare_fc(r.w.at("fc.weight"), &r.w.at("fc.bias"), r.g.input().output);
  Tensor wide = widened(r.x, 20, 5);
  k::Buffer all = k::to_halide(wide);
  k::Buffer view = all.cropped(0, 5, 12);
  k::Buffer out = r.out("fc");
  k::run_fc(p, view, out, false);
  BOOST_TEST(r.error(out, "fc") <= kTolerance);
}

BOOST_AUTO_TEST_CASE(add_with_and_without_relu) {
  // Layer "a" makes a second operand of the input's shape.
  struct Case {
    const char* shape;
    int channels;
  };
  for (const Case& c : {Case{"[3, 20, 1, 1]", 20}, Case{"[2, 37, 5, 3]", 37}}) {
    BOOST_TEST_CONTEXT(c.shape) {
      Run r(
          net(c.shape, "  - {name: a, op: conv, out: " + std::to_string(c.channels) +
                           ", kernel: 1}\n  - {name: add, op: add, inputs: [a, input]}\n  - {name: act, op: relu}\n"));
      k::Buffer out = r.out("add");
      k::run_add(r.in("a"), r.in("input"), out, false);
      BOOST_TEST(r.error(out, "add") <= kTolerance);
      k::run_add(r.in("a"), r.in("input"), out, true);
      BOOST_TEST(r.error(out, "act") <= kTolerance);
      // In place: the output is the first operand's buffer.
      k::Buffer a = r.in("a");
      k::run_add(a, r.in("input"), a, true);
      BOOST_TEST(r.error(a, "act") <= kTolerance);
    }
  }
}

BOOST_AUTO_TEST_CASE(multiply_broadcasts) {
  struct Case {
    const char* what;
    std::string spec;
  };
  // "mul" multiplies its two inputs; the gates come from pooling, a 1x1 conv and a sigmoid.
  const std::string se =
      "  - {name: pool, op: global_avgpool, inputs: [input]}\n"
      "  - {name: gate, op: sigmoid}\n";
  const Case cases[] = {
      {"SE gate (c, 1, 1, n) x (c, x, y, n), 20 channels, batch 2",
       net("[2, 20, 7, 5]", se + "  - {name: mul, op: multiply, inputs: [input, gate]}\n")},
      {"the gate first", net("[1, 37, 3, 4]", se + "  - {name: mul, op: multiply, inputs: [gate, input]}\n")},
      {"same shape, 1x1 spatial, batch 3",
       net("[3, 20, 1, 1]", "  - {name: gate, op: sigmoid}\n  - {name: mul, op: multiply, inputs: [input, gate]}\n")},
      {"one-channel mask (1, x, y, n) x (c, x, y, n)",
       net("[2, 19, 6, 5]",
           "  - {name: mask, op: conv, out: 1, kernel: 1, inputs: [input]}\n"
           "  - {name: mul, op: multiply, inputs: [input, mask]}\n")},
      {"both broadcast: (c, 1, 1, n) x (1, x, y, n)",
       net("[2, 21, 4, 3]", se + "  - {name: mask, op: conv, out: 1, kernel: 1, inputs: [input]}\n"
                                 "  - {name: mul, op: multiply, inputs: [gate, mask]}\n")},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      Run r(c.spec);
      k::Buffer out = r.out("mul");
      k::run_multiply(r.in(r.input_of("mul", 0)), r.in(r.input_of("mul", 1)), out);
      BOOST_TEST(r.error(out, "mul") <= kTolerance);
    }
  }
  // In place into the full-size operand, as the memory plan does for an SE block.
  Run r(net("[2, 20, 7, 5]", se + "  - {name: mul, op: multiply, inputs: [input, gate]}\n"));
  k::Buffer x = r.in("input");
  k::run_multiply(x, r.in("gate"), x);
  BOOST_TEST(r.error(x, "mul") <= kTolerance);
  k::Buffer wrong(20, 2, 1, 2);
  k::Buffer out = r.out("mul");
  BOOST_CHECK_THROW(k::run_multiply(r.in("input"), wrong, out), RuntimeError);
}

BOOST_AUTO_TEST_CASE(batchnorm_then_each_activation) {
  for (const char* shape : {"[2, 37, 5, 3]", "[3, 20, 1, 1]"}) {
    for (OpKind act : kActivations) {
      BOOST_TEST_CONTEXT(shape << " batchnorm + " << op_name(act)) {
        // Inputs spread over [-8, 8] so that relu6 clips and sigmoid/tanh saturate.
        Run r(net(shape, "  - {name: bn, op: batchnorm, eps: 0.001}\n  - {name: act, op: " + op_name(act) + "}\n"),
              8.0);
        k::PreparedScaleShift ss = k::prepare_batchnorm(r.w.at("bn.weight"), r.w.at("bn.bias"),
                                                        r.w.at("bn.running_mean"), r.w.at("bn.running_var"), 0.001);
        k::Buffer out = r.out("bn");
        k::run_scale_shift(ss, r.in("input"), out);
        BOOST_TEST(r.error(out, "bn") <= kTolerance);
        k::run_scale_shift(ss, r.in("input"), out, act);
        BOOST_TEST(r.error(out, "act") <= kTolerance);
        // Standalone, in place on the batch-norm output.
        k::Buffer bn = r.in("bn");
        k::run_activation(act, bn, bn);
        BOOST_TEST(r.error(bn, "act") <= kTolerance);
      }
    }
  }
  k::Buffer in(4, 1, 1, 1), out(4, 1, 1, 1);
  k::fill(in, 1.0f);
  BOOST_CHECK_THROW(k::run_activation(OpKind::Softmax, in, out), RuntimeError);
}

BOOST_AUTO_TEST_CASE(activations_of_special_values) {
  // PyTorch's results, which the reference gives: NaN stays NaN (relu, relu6 and sigmoid too),
  // infinities saturate. Not checked: swish(-inf), NaN in PyTorch (-inf * 0) but -inf from
  // activation.h's v / (1 + e^-v), whose e^-v stops at 2^126.
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> values = {nan, inf, -inf, 100.0f, -100.0f, 0.0f, -0.0f, 6.0f, 1e-30f, -3.5f};
  for (OpKind act : kActivations) {
    BOOST_TEST_CONTEXT(op_name(act)) {
      // 20 channels: the special values land in both the full vector and the tail.
      Graph g = load_text(net("[1, 20, 1, 1]", "  - {name: act, op: " + op_name(act) + "}\n"));
      Tensor x(g.input().output);
      for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = values[i % values.size()];
      Tensor want = run_reference(g, {}, x).at("act");
      k::Buffer out(20, 1, 1, 1);
      k::run_activation(act, k::to_halide(x), out);
      Tensor got = k::to_nchw(out);
      for (size_t i = 0; i < want.data.size(); ++i) {
        if (act == OpKind::Swish && x.data[i] == -inf) continue;
        const float w = want.data[i], v = got.data[i];
        BOOST_TEST_CONTEXT("f(" << x.data[i] << ") = " << v << ", want " << w) {
          BOOST_TEST(
              (std::isnan(w) ? std::isnan(v) : std::abs(v - w) <= 1e-6f * std::max(1.0f, std::abs(w)) || v == w));
        }
      }
    }
  }
  // relu fused into add and fc keeps NaN too.
  k::Buffer a(20, 1, 1, 1), b(20, 1, 1, 1), out(20, 1, 1, 1);
  k::fill(a, nan);
  k::fill(b, 1.0f);
  k::run_add(a, b, out, true);
  BOOST_TEST(std::isnan(out(3, 0, 0, 0)));
  BOOST_TEST(std::isnan(out(17, 0, 0, 0)));
  Tensor w(std::vector<int64_t>{3, 20});
  k::PreparedFC fc = k::prepare_fc(w, nullptr, Shape{1, 20, 1, 1});
  k::Buffer fc_out(3, 1, 1, 1);
  k::run_fc(fc, a, fc_out, true);
  BOOST_TEST(std::isnan(fc_out(1, 0, 0, 0)));
}

// --- the ops an ONNX import needs ----------------------------------------------------------

namespace {

// Layer `l` (hardswish, hardsigmoid, gelu or clip) through its kernel.
void run_attributed_activation(const Layer& l, const k::Buffer& in, k::Buffer& out) {
  switch (l.op) {
    case OpKind::HardSwish:
      return k::run_activation(l.op, in, out);
    case OpKind::HardSigmoid:
      return k::run_hardsigmoid(std::get<HardSigmoidAttrs>(l.attrs), in, out);
    case OpKind::Gelu:
      return k::run_gelu(std::get<GeluAttrs>(l.attrs), in, out);
    case OpKind::Clip:
      return k::run_clip(std::get<ClipAttrs>(l.attrs), in, out);
    default:
      BOOST_FAIL("not an attributed activation: " + op_name(l.op));
  }
}

const char* const kImportActivations[] = {"op: hardswish",
                                          "op: hardsigmoid",
                                          "op: hardsigmoid, alpha: 0.2, beta: 0.4",
                                          "op: gelu",
                                          "op: gelu, approximate: tanh",
                                          "op: clip, min: -1.5, max: 2",
                                          "op: clip, min: 0.25",
                                          "op: clip, max: -0.5"};

}  // namespace

BOOST_AUTO_TEST_CASE(import_activations_after_a_batchnorm) {
  // After a batch-norm (as a standalone step follows a conv + bn): 37 channels (full vectors
  // and a tail), 5 x 3, batch 2; 21 channels at 1 x 1, batch 3; 3 channels at 7 x 9. Inputs
  // over [-8, 8] reach every piece: hardswish's and hardsigmoid's flat parts, clip's bounds,
  // GELU's tails.
  for (const char* shape : {"[2, 37, 5, 3]", "[3, 21, 1, 1]", "[2, 3, 7, 9]"}) {
    for (const char* act : kImportActivations) {
      BOOST_TEST_CONTEXT(shape << " batchnorm + {" << act << "}") {
        Run r(net(shape, std::string("  - {name: bn, op: batchnorm}\n  - {name: act, ") + act + "}\n"), 8.0);
        const Layer& l = layer(r.g, "act");
        k::Buffer out = r.out("act");
        run_attributed_activation(l, r.in("bn"), out);
        BOOST_TEST(r.error(out, "act") <= kTolerance);
        k::Buffer bn = r.in("bn");  // in place
        run_attributed_activation(l, bn, bn);
        BOOST_TEST(r.error(bn, "act") <= kTolerance);
      }
    }
  }
  // hardswish also fuses into the batch-norm's scale-shift.
  Run r(net("[2, 37, 5, 3]", "  - {name: bn, op: batchnorm, eps: 0.001}\n  - {name: act, op: hardswish}\n"), 8.0);
  k::PreparedScaleShift ss = k::prepare_batchnorm(r.w.at("bn.weight"), r.w.at("bn.bias"), r.w.at("bn.running_mean"),
                                                  r.w.at("bn.running_var"), 0.001);
  k::Buffer out = r.out("act");
  k::run_scale_shift(ss, r.in("input"), out, OpKind::HardSwish);
  BOOST_TEST(r.error(out, "act") <= kTolerance);
}

BOOST_AUTO_TEST_CASE(import_activations_of_special_values) {
  // NaN stays NaN; infinities saturate or pass. Not checked: -inf through hardswish and GELU,
  // NaN in PyTorch (-inf * 0), which the kernels need not reproduce.
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> values = {nan, inf, -inf, 100.0f, -100.0f, 0.0f, -0.0f, 3.0f, -3.0f, 1e-30f, -12.0f};
  for (const char* act : kImportActivations) {
    BOOST_TEST_CONTEXT(act) {
      Graph g = load_text(net("[1, 21, 1, 1]", std::string("  - {name: act, ") + act + "}\n"));
      const Layer& l = layer(g, "act");
      Tensor x(g.input().output);
      for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = values[i % values.size()];
      Tensor want = run_reference(g, {}, x).at("act");
      k::Buffer out(21, 1, 1, 1);
      run_attributed_activation(l, k::to_halide(x), out);
      Tensor got = k::to_nchw(out);
      for (size_t i = 0; i < want.data.size(); ++i) {
        if ((l.op == OpKind::HardSwish || l.op == OpKind::Gelu) && x.data[i] == -inf) continue;
        const float w = want.data[i], v = got.data[i];
        BOOST_TEST_CONTEXT("f(" << x.data[i] << ") = " << v << ", want " << w) {
          BOOST_TEST(
              (std::isnan(w) ? std::isnan(v) : std::abs(v - w) <= 1e-6f * std::max(1.0f, std::abs(w)) || v == w));
        }
      }
    }
  }
  k::Buffer in(4, 1, 1, 1), out(4, 1, 1, 1);
  k::fill(in, 1.0f);
  ClipAttrs inverted;
  inverted.min = 2;
  inverted.max = 1;
  BOOST_CHECK_EXCEPTION(k::run_clip(inverted, in, out), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) == "clip: min 2 is greater than max 1";
  });
}

BOOST_AUTO_TEST_CASE(layer_norm_across_channels) {
  struct Case {
    const char* what;
    const char* shape;
    const char* attrs;
    double offset;
  };
  const Case cases[] = {
      {"37 channels, 5 x 3, batch 2", "[2, 37, 5, 3]", "", 0.0},
      {"without affine parameters, eps 1e-6", "[2, 37, 5, 3]", ", affine: false, eps: 0.000001", 0.0},
      // A mean far from zero: a one-pass variance (E[x^2] - mean^2) would lose most digits.
      {"around 100", "[2, 19, 3, 4]", "", 100.0},
      {"96 channels at 1 x 1, batch 3", "[3, 96, 1, 1]", "", 0.0},
      {"3 channels at 7 x 9", "[1, 3, 7, 9]", ", eps: 0.01", 0.0},
      // One channel: every deviation is 0, so the output is the bias.
      {"one channel", "[2, 1, 2, 3]", "", 0.0},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      Run r(net(c.shape, std::string("  - {name: ln, op: layer_norm") + c.attrs + "}\n"), 1.0, c.offset);
      const auto& a = std::get<LayerNormAttrs>(layer(r.g, "ln").attrs);
      const int64_t channels = layer(r.g, "ln").output.c;
      k::PreparedLayerNorm p = k::prepare_layer_norm(a, a.affine ? &r.w.at("ln.weight") : nullptr,
                                                     a.affine ? &r.w.at("ln.bias") : nullptr, channels);
      k::Buffer out = r.out("ln");
      k::run_layer_norm(p, r.in("input"), out);
      BOOST_TEST(r.error(out, "ln") <= kTolerance);
      k::Buffer x = r.in("input");  // in place
      k::run_layer_norm(p, x, x);
      BOOST_TEST(r.error(x, "ln") <= kTolerance);
    }
  }
  // Reading a channel window of a wider buffer (a concat slice).
  Run r(net("[2, 12, 3, 5]", "  - {name: ln, op: layer_norm}\n"));
  Tensor wide = widened(r.x, 20, 5);
  k::Buffer all = k::to_halide(wide);
  k::PreparedLayerNorm p = k::prepare_layer_norm(LayerNormAttrs{}, &r.w.at("ln.weight"), &r.w.at("ln.bias"), 12);
  k::Buffer out = r.out("ln");
  k::run_layer_norm(p, all.cropped(0, 5, 12), out);
  BOOST_TEST(r.error(out, "ln") <= kTolerance);
  k::Buffer narrow(11, 5, 3, 2);
  BOOST_CHECK_EXCEPTION(k::run_layer_norm(p, narrow, narrow), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) == "layer_norm: 11 channels, prepared for 12";
  });
  BOOST_CHECK_EXCEPTION(k::prepare_layer_norm(LayerNormAttrs{}, &r.w.at("ln.weight"), nullptr, 12), RuntimeError,
                        [](const RuntimeError& e) {
                          return std::string(e.what()) ==
                                 "layer_norm: weight and bias must both have 12 elements, or neither be given";
                        });
}

BOOST_AUTO_TEST_CASE(channel_shuffle_permutes_exactly) {
  struct Case {
    const char* shape;
    int groups;
  };
  // ShuffleNet's 2 groups on 116 channels; odd sizes; groups equal to C and 1 (identities).
  const Case cases[] = {{"[2, 116, 3, 5]", 2}, {"[2, 6, 5, 3]", 3}, {"[1, 35, 3, 3]", 5},
                        {"[2, 7, 2, 3]", 7},   {"[2, 7, 2, 3]", 1}, {"[3, 24, 1, 1]", 4}};
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.shape << " groups " << c.groups) {
      Run r(net(c.shape, "  - {name: s, op: channel_shuffle, groups: " + std::to_string(c.groups) + "}\n"));
      k::Buffer out = r.out("s");
      k::run_channel_shuffle(std::get<ChannelShuffleAttrs>(layer(r.g, "s").attrs), r.in("input"), out);
      BOOST_TEST((k::to_nchw(out).data == r.ref.at("s").data));  // a permutation: exact
    }
  }
  // Into a channel window of a wider buffer, which keeps its other channels.
  Run r(net("[2, 12, 3, 5]", "  - {name: s, op: channel_shuffle, groups: 4}\n"));
  k::Buffer wide(30, 5, 3, 2);
  k::fill(wide, -7.0f);
  k::Buffer window = wide.cropped(0, 9, 12);
  k::run_channel_shuffle(ChannelShuffleAttrs{4}, r.in("input"), window);
  BOOST_TEST((k::to_nchw(window).data == r.ref.at("s").data));
  bool kept = true;
  wide.for_each_element(
      [&](int c, int x, int y, int n) { kept = kept && ((c >= 9 && c < 21) || wide(c, x, y, n) == -7.0f); });
  BOOST_TEST(kept);
  k::Buffer x = r.in("input");
  BOOST_CHECK_EXCEPTION(k::run_channel_shuffle(ChannelShuffleAttrs{4}, x, x), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) == "channel_shuffle: the output may not be the input";
  });
  k::Buffer out = r.out("s");
  BOOST_CHECK_EXCEPTION(
      k::run_channel_shuffle(ChannelShuffleAttrs{5}, r.in("input"), out), RuntimeError, [](const RuntimeError& e) {
        return std::string(e.what()) == "channel_shuffle: input channels 12 are not divisible by groups 5";
      });
}

BOOST_AUTO_TEST_CASE(slice_copies_a_channel_range) {
  struct Case {
    const char* shape;
    const char* channels;
  };
  // Halves of ShuffleNet's split, one channel, the whole input; the last is large enough
  // (2 x 40 x 32 x 33 outputs) for the multi-threaded pad-kernel copy.
  const Case cases[] = {{"[2, 37, 5, 3]", "[0, 18]"},
                        {"[2, 37, 5, 3]", "[18, 37]"},
                        {"[2, 37, 5, 3]", "[5, 6]"},
                        {"[3, 21, 1, 1]", "[0, 21]"},
                        {"[2, 64, 32, 33]", "[10, 50]"}};
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.shape << " channels " << c.channels) {
      Run r(net(c.shape, std::string("  - {name: s, op: slice, channels: ") + c.channels + "}\n"));
      k::Buffer out = r.out("s");
      k::run_slice(std::get<SliceAttrs>(layer(r.g, "s").attrs), r.in("input"), out);
      BOOST_TEST((k::to_nchw(out).data == r.ref.at("s").data));
    }
  }
  Run r(net("[1, 8, 2, 2]", "  - {name: s, op: slice, channels: [2, 5]}\n"));
  k::Buffer wrong(4, 2, 2, 1);
  BOOST_CHECK_EXCEPTION(k::run_slice(SliceAttrs{2, 5}, r.in("input"), wrong), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) == "slice: output (4, 2, 2, 1) does not hold channels [2, 5) of input (8, 2, 2, 1)";
  });
  k::Buffer out = r.out("s");
  BOOST_CHECK_EXCEPTION(k::run_slice(SliceAttrs{6, 9}, r.in("input"), out), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) == "slice: channels [6, 9) are not a range of the input's 8";
  });
}

BOOST_AUTO_TEST_CASE(scale_multiplies_each_channel) {
  for (const char* shape : {"[2, 37, 5, 3]", "[3, 21, 1, 1]"}) {
    for (bool bias : {false, true}) {
      BOOST_TEST_CONTEXT(shape << (bias ? " with bias" : "")) {
        Run r(net(shape, std::string("  - {name: ls, op: scale, bias: ") + (bias ? "true" : "false") + "}\n"), 4.0);
        k::PreparedScaleShift ss = k::prepare_scale(r.w.at("ls.weight"), bias ? &r.w.at("ls.bias") : nullptr);
        k::Buffer out = r.out("ls");
        k::run_scale_shift(ss, r.in("input"), out);
        BOOST_TEST(r.error(out, "ls") <= kTolerance);
        k::Buffer x = r.in("input");
        k::run_scale_shift(ss, x, x);
        BOOST_TEST(r.error(x, "ls") <= kTolerance);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(softmax_over_channels) {
  struct Case {
    const char* what;
    const char* shape;
    double amplitude, offset;
  };
  const Case cases[] = {
      {"1000 channels, 1x1, batch 2", "[2, 1000, 1, 1]", 5.0, 0.0},
      {"21 channels, 7x9", "[1, 21, 7, 9]", 5.0, 0.0},
      // exp(v) overflows fp32 beyond 88: only the shift by the maximum keeps this finite.
      {"21 channels around 100, batch 2", "[2, 21, 3, 5]", 5.0, 100.0},
      {"one channel", "[1, 1, 2, 3]", 1.0, 0.0},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      Run r(net(c.shape, "  - {name: sm, op: softmax}\n"), c.amplitude, c.offset);
      k::Buffer out = r.out("sm");
      k::run_softmax(r.in("input"), out);
      BOOST_TEST(elementwise_error(k::to_nchw(out), r.ref.at("sm")) <= 1.0);
      k::Buffer x = r.in("input");
      k::run_softmax(x, x);
      BOOST_TEST(elementwise_error(k::to_nchw(x), r.ref.at("sm")) <= 1.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(lrn_across_channels) {
  struct Case {
    const char* what;
    const char* shape;
    const char* attrs;
  };
  // alpha large enough for the window sum to matter at fp32 precision (AlexNet's 1e-4 with
  // unit inputs changes outputs by ~1e-4 only).
  const Case cases[] = {
      {"size 5 on 37 channels", "[1, 37, 6, 5]", "size: 5, alpha: 0.5, beta: 0.75, k: 2"},
      {"size 4 (window 2 before, 1 after), batch 2", "[2, 37, 3, 4]", "size: 4, alpha: 1.0, beta: 0.6, k: 1"},
      {"size 7 wider than 5 channels", "[1, 5, 2, 3]", "size: 7, alpha: 2.0, beta: 1.5, k: 1"},
      {"AlexNet's attributes, 1x1", "[3, 96, 1, 1]", "size: 5, alpha: 0.0001, beta: 0.75"},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      Run r(net(c.shape, std::string("  - {name: lrn, op: lrn, ") + c.attrs + "}\n"), 3.0);
      const auto& a = std::get<LRNAttrs>(layer(r.g, "lrn").attrs);
      k::Buffer out = r.out("lrn");
      k::run_lrn(a, r.in("input"), out);
      BOOST_TEST(r.error(out, "lrn") <= kTolerance);
      k::Buffer x = r.in("input");
      k::run_lrn(a, x, x);
      BOOST_TEST(r.error(x, "lrn") <= kTolerance);
    }
  }
}

BOOST_AUTO_TEST_CASE(conv_transpose_awkward_shapes) {
  struct Case {
    const char* what;
    std::string spec;
  };
  const Case cases[] = {
      {"k4 s2 p1",
       net("[1, 6, 5, 7]", "  - {name: up, op: conv_transpose, out: 21, kernel: 4, stride: 2, padding: 1}\n")},
      {"k4 s2 p1 output_padding 1, batch 2",
       net("[2, 6, 5, 4]",
           "  - {name: up, op: conv_transpose, out: 19, kernel: 4, stride: 2, padding: 1, output_padding: 1}\n")},
      {"k3 s2 p1 output_padding [1, 0]",
       net("[1, 5, 4, 6]",
           "  - {name: up, op: conv_transpose, out: 17, kernel: 3, stride: 2, padding: 1, output_padding: [1, 0]}\n")},
      {"k2 s2 (U-Net)", net("[1, 32, 5, 3]", "  - {name: up, op: conv_transpose, out: 16, kernel: 2, stride: 2}\n")},
      {"k64 s32 (FCN-32s), 21 channels 3x3 -> 128x128",
       net("[1, 21, 3, 3]", "  - {name: up, op: conv_transpose, out: 21, kernel: 64, stride: 32, bias: false}\n")},
      {"k16 s8 p4 (FCN-8s-like), 1x1 input",
       net("[1, 21, 1, 1]", "  - {name: up, op: conv_transpose, out: 21, kernel: 16, stride: 8, padding: 4}\n")},
      {"groups 2",
       net("[1, 8, 4, 5]", "  - {name: up, op: conv_transpose, out: 6, kernel: 3, stride: 2, groups: 2}\n")},
      {"dilation 2, stride 1",
       net("[1, 5, 6, 5]", "  - {name: up, op: conv_transpose, out: 7, kernel: 3, dilation: 2, padding: 1}\n")},
      {"dilation 2, stride 2 (half the phases have no taps)",
       net("[2, 3, 4, 5]", "  - {name: up, op: conv_transpose, out: 9, kernel: 3, stride: 2, dilation: 2}\n")},
      {"dilation 2, stride 3, padding [2, 1], output_padding 2",
       net("[1, 4, 3, 4]",
           "  - {name: up, op: conv_transpose, out: 5, kernel: [3, 2], stride: 3, dilation: 2, padding: [2, 1], "
           "output_padding: 2}\n")},
      {"stride 1 k3 p1 (a conv with a flipped filter)",
       net("[1, 17, 6, 6]", "  - {name: up, op: conv_transpose, out: 33, kernel: 3, padding: 1}\n")},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) { BOOST_TEST(deconv_error(c.spec) <= kTolerance); }
  }
}

BOOST_AUTO_TEST_CASE(add_reads_and_writes_channel_views) {
  // Operands and output as channel windows of wider buffers (concat slices): only the
  // window is written.
  Run r(net("[2, 21, 3, 5]",
            "  - {name: a, op: conv, out: 21, kernel: 1}\n  - {name: add, op: add, inputs: [a, input]}\n"));
  k::Buffer wide_a(40, 5, 3, 2), wide_out(30, 5, 3, 2);
  k::fill(wide_a, 7.0f);
  k::fill(wide_out, -3.0f);
  k::Buffer a = wide_a.cropped(0, 11, 21), out = wide_out.cropped(0, 4, 21);
  a.copy_contents_from(k::at_origin(r.in("a")).translated(0, 11));
  k::run_add(a, r.in("input"), out, false);
  BOOST_TEST(relative_error(k::to_nchw(out), r.ref.at("add")) <= kTolerance);
  bool kept = true;
  wide_out.for_each_element(
      [&](int c, int x, int y, int n) { kept = kept && ((c >= 4 && c < 25) || wide_out(c, x, y, n) == -3.0f); });
  BOOST_TEST(kept);
}

BOOST_AUTO_TEST_CASE(conv_transpose_writes_a_channel_view) {
  // U-Net's up-convolution writes into its half of the concat buffer.
  Run r(net("[1, 24, 4, 3]", "  - {name: up, op: conv_transpose, out: 12, kernel: 2, stride: 2}\n"));
  const auto& a = std::get<ConvTransposeAttrs>(layer(r.g, "up").attrs);
  k::PreparedDeconv p = k::prepare_conv_transpose(a, r.w.at("up.weight"), &r.w.at("up.bias"));
  k::Buffer wide(30, 6, 8, 1);
  k::fill(wide, 5.0f);
  k::Buffer out = wide.cropped(0, 18, 12);
  k::run_conv_transpose(p, r.in("input"), out);
  BOOST_TEST(r.error(out, "up") <= kTolerance);
  bool kept = true;
  wide.for_each_element([&](int c, int x, int y, int n) { kept = kept && (c >= 18 || wide(c, x, y, n) == 5.0f); });
  BOOST_TEST(kept);
}

BOOST_AUTO_TEST_CASE(shape_errors_are_reported) {
  Run r(net("[1, 8, 3, 3]", "  - {name: fc, op: fc, out: 10}\n"));
  k::PreparedFC p = k::prepare_fc(r.w.at("fc.weight"), &r.w.at("fc.bias"), r.g.input().output);
  k::Buffer in(8, 3, 3, 1), wrong_in(8, 3, 4, 1), out(10, 1, 1, 1), wrong_out(11, 1, 1, 1);
  k::fill(in, 0.0f);
  k::fill(wrong_in, 0.0f);
  BOOST_CHECK_THROW(k::run_fc(p, wrong_in, out, false), RuntimeError);
  BOOST_CHECK_THROW(k::run_fc(p, in, wrong_out, false), RuntimeError);
  BOOST_CHECK_THROW(k::prepare_fc(r.w.at("fc.weight"), nullptr, Shape{1, 8, 3, 4}), RuntimeError);
  k::Buffer a(5, 2, 2, 1), b(5, 2, 3, 1), o(5, 2, 2, 1);
  BOOST_CHECK_THROW(k::run_add(a, b, o, false), RuntimeError);
}

BOOST_AUTO_TEST_SUITE_END()
