// The reference executor (runtime/reference.cpp): hand-computed cases with exact numbers,
// the executor's contract (outputs, keep_all, errors), then the PyTorch-checked fixtures in
// tests/fixtures/reference_cases/ (made by tests/reference/make_reference_cases.py).
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "helpers.h"
#include "runtime/runtime.h"

using namespace archbench;
using namespace archbench::test;
namespace fs = std::filesystem;

namespace {

Tensor tensor(const Shape& s, std::vector<float> values) {
  Tensor t(s);
  BOOST_REQUIRE_EQUAL(values.size(), t.data.size());
  t.data = std::move(values);
  return t;
}

// A rank-1 tensor (biases, batch-norm parameters).
Tensor vec(std::vector<float> values) {
  Tensor t(std::vector<int64_t>{static_cast<int64_t>(values.size())});
  t.data = std::move(values);
  return t;
}

// 0, 1, 2, ... in NCHW order.
Tensor ramp(const Shape& s) {
  Tensor t(s);
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<float>(i);
  return t;
}

Tensor filled(const Shape& s, float v) {
  Tensor t(s);
  std::fill(t.data.begin(), t.data.end(), v);
  return t;
}

std::map<std::string, Tensor> run_text(const std::string& yaml, const Tensor& input, const Weights& weights = {}) {
  return run_reference(load_text(yaml), weights, input, true);
}

// Exact up to float rounding of the double result: these cases are small sums of small integers
// or of powers of two, so the only error is the final rounding to float.
void check_close(const Tensor& got, const std::vector<int64_t>& shape, const std::vector<double>& expected) {
  BOOST_TEST(got.shape == shape, boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(got.data.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    BOOST_TEST_CONTEXT("element " << i) {
      BOOST_TEST(std::abs(static_cast<double>(got.data[i]) - expected[i]) <=
                 1e-6 * std::max(1.0, std::abs(expected[i])));
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reference)

// --- hand-computed cases ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(conv_3x3_on_a_ramp) {
  // x[h][w] = 4h + w on a 4x4 input. Channel 0: all-ones kernel (window sums, centre * 9) + 1;
  // channel 1: a single 1 at tap (0, 2), i.e. x[oh][ow + 2] - 1: cross-correlation, no flip.
  Weights w;
  w["c.weight"] = Tensor(std::vector<int64_t>{2, 1, 3, 3});
  std::fill_n(w["c.weight"].data.begin(), 9, 1.0f);
  w["c.weight"].data[9 + 2] = 1.0f;
  w["c.bias"] = vec({1, -1});
  w["s.weight"] = filled({1, 1, 3, 3}, 1.0f);
  auto out = run_text(R"(
name: t
input: [1, 1, 4, 4]
layers:
  - {name: c, op: conv, out: 2, kernel: 3}
  - {name: s, op: conv, inputs: input, out: 1, kernel: 3, stride: 2, padding: 1, bias: false}
)",
                      ramp({1, 1, 4, 4}), w);
  check_close(out.at("c"), {1, 2, 2, 2}, {46, 55, 82, 91, 1, 2, 5, 6});
  // Stride 2, zero padding 1: windows centred on (0,0), (0,2), (2,0), (2,2).
  check_close(out.at("s"), {1, 1, 2, 2}, {0 + 1 + 4 + 5, 1 + 2 + 3 + 5 + 6 + 7, 4 + 5 + 8 + 9 + 12 + 13, 90});
}

BOOST_AUTO_TEST_CASE(conv_transpose_weight_layout) {
  // Kernel 2, stride 2: output (2i + a, 2j + b) = x[i][j] * w[a][b]; the weight is [Cin, Cout, kh, kw].
  Weights w;
  w["up.weight"] = tensor({1, 1, 2, 2}, {1, 10, 100, 1000});
  auto out = run_text(R"(
name: t
input: [1, 1, 2, 2]
layers:
  - {name: up, op: conv_transpose, out: 1, kernel: 2, stride: 2, bias: false}
)",
                      tensor({1, 1, 2, 2}, {1, 2, 3, 4}), w);
  check_close(out.at("up"), {1, 1, 4, 4}, {1, 10, 2, 20, 100, 1000, 200, 2000, 3, 30, 4, 40, 300, 3000, 400, 4000});
}

BOOST_AUTO_TEST_CASE(maxpool_ceil_mode) {
  // 5x5 ramp, 2x2 windows with stride 2 in ceil mode: the last row and column of windows
  // hang over the edge and take the maximum of what is inside.
  auto out = run_text(R"(
name: t
input: [1, 1, 5, 5]
layers:
  - {name: p, op: maxpool, kernel: 2, ceil_mode: true}
)",
                      ramp({1, 1, 5, 5}));
  check_close(out.at("p"), {1, 1, 3, 3}, {6, 8, 9, 16, 18, 19, 21, 23, 24});
}

BOOST_AUTO_TEST_CASE(maxpool_negative_input_ignores_padding) {
  // Padding is -inf, not 0: an all-negative input stays negative at the border.
  auto out = run_text(R"(
name: t
input: [1, 1, 2, 2]
layers:
  - {name: p, op: maxpool, kernel: 3, stride: 1, padding: 1}
)",
                      tensor({1, 1, 2, 2}, {-1, -2, -3, -4}));
  check_close(out.at("p"), {1, 1, 2, 2}, {-1, -1, -1, -1});
}

BOOST_AUTO_TEST_CASE(avgpool_ceil_mode_divisor) {
  // Ones on 4x4, kernel 3, stride 2, padding 1, ceil mode: windows start at -1, 1, 3 and are
  // cut at the padded edge 5, so they cover 3, 3 and 2 rows of the padded input (the ceil
  // overhang is not counted) and 2, 3 and 1 rows of the input. count_include_pad divides by
  // the former, so the corner is 1 / (2 * 2), not 1 / 9; without it every output is 1.
  auto out = run_text(R"(
name: t
input: [1, 1, 4, 4]
layers:
  - {name: incl, op: avgpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
  - {name: excl, op: avgpool, inputs: input, kernel: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false}
)",
                      filled({1, 1, 4, 4}, 1.0f));
  const double a = 2.0 / 3.0;
  check_close(out.at("incl"), {1, 1, 3, 3}, {a * a, a, a / 2, a, 1, 0.5, a / 2, 0.5, 0.25});
  check_close(out.at("excl"), {1, 1, 3, 3}, std::vector<double>(9, 1.0));
}

BOOST_AUTO_TEST_CASE(adaptive_avgpool_windows) {
  // 5 -> 2: windows [0, 3) and [2, 5) overlap on row 2.
  auto out = run_text(R"(
name: t
input: [1, 1, 1, 5]
layers:
  - {name: p, op: adaptive_avgpool, output: [1, 2]}
)",
                      ramp({1, 1, 1, 5}));
  check_close(out.at("p"), {1, 1, 1, 2}, {1, 3});
}

BOOST_AUTO_TEST_CASE(bilinear_on_2x2) {
  // [[0, 1], [2, 3]]. align_corners: 2 -> 3 samples at 0, 0.5, 1. Half-pixel, scale 2: samples
  // at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (the last pixel repeats), i.e. 0, .25, .75, 1.
  auto out = run_text(R"(
name: t
input: [1, 1, 2, 2]
layers:
  - {name: ac, op: upsample, size: [3, 3], mode: bilinear, align_corners: true}
  - {name: hp, op: upsample, inputs: input, scale: 2, mode: bilinear}
)",
                      ramp({1, 1, 2, 2}));
  check_close(out.at("ac"), {1, 1, 3, 3}, {0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3});
  std::vector<double> f{0, 0.25, 0.75, 1}, hp;
  for (double r : f)
    for (double c : f) hp.push_back(2 * r + c);
  check_close(out.at("hp"), {1, 1, 4, 4}, hp);
}

BOOST_AUTO_TEST_CASE(nearest_scale_versus_size) {
  // PyTorch (1.13) reads floor(dst * s) in float, s = 1 / scale when a scale is given and
  // in / out when a size is, also where the size is kept or doubled. These numbers are
  // PyTorch's own, for two channels: with one channel PyTorch takes its channels-last kernel,
  // which gives the identity for s12 and dst / 2 for s205.
  Tensor x(Shape{1, 2, 1, 5});
  for (size_t i = 0; i < 10; ++i) x.data[i] = static_cast<float>(i % 5);
  auto out = run_text(R"(
name: t
input: [1, 2, 1, 5]
layers:
  - {name: s23, op: upsample, scale: [1, 2.3]}
  - {name: size11, op: upsample, inputs: input, size: [1, 11]}
  - {name: s12, op: upsample, inputs: input, scale: [1, 1.2]}
  - {name: s205, op: upsample, inputs: input, scale: [1, 2.05]}
)",
                      x);
  auto twice = [](std::vector<double> v) {
    v.insert(v.end(), v.begin(), v.end());
    return v;
  };
  check_close(out.at("s23"), {1, 2, 1, 11}, twice({0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 4}));
  check_close(out.at("size11"), {1, 2, 1, 11}, twice({0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4}));
  check_close(out.at("s12"), {1, 2, 1, 6}, twice({0, 0, 1, 2, 3, 4}));  // 1/1.2: floor(0, .83, 1.67, 2.5, ...)
  check_close(out.at("s205"), {1, 2, 1, 10}, twice({0, 0, 0, 1, 1, 2, 2, 3, 3, 4}));  // floor(dst / 2.05)
}

BOOST_AUTO_TEST_CASE(lrn_and_softmax_over_channels) {
  // Channels 1, 2, 3 at one pixel. size 3, alpha 3 (alpha/size = 1), beta 1, k 1: channel c
  // is divided by 1 + the sum of squares over [c-1, c+1]. size 2: over [c-1, c].
  auto out = run_text(R"(
name: t
input: [1, 3, 1, 1]
layers:
  - {name: n3, op: lrn, size: 3, alpha: 3, beta: 1, k: 1}
  - {name: n2, op: lrn, inputs: input, size: 2, alpha: 2, beta: 1, k: 1}
  - {name: sm, op: softmax, inputs: input}
)",
                      tensor({1, 3, 1, 1}, {1, 2, 3}));
  check_close(out.at("n3"), {1, 3, 1, 1}, {1.0 / 6, 2.0 / 15, 3.0 / 14});
  check_close(out.at("n2"), {1, 3, 1, 1}, {1.0 / 2, 2.0 / 6, 3.0 / 14});
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  check_close(out.at("sm"), {1, 3, 1, 1}, {std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z});
}

BOOST_AUTO_TEST_CASE(batchnorm_unfolded) {
  // (x - mean) / sqrt(var + eps) * gamma + beta with var + eps = 4.
  Weights w;
  w["bn.weight"] = vec({3});
  w["bn.bias"] = vec({0.5});
  w["bn.running_mean"] = vec({1});
  w["bn.running_var"] = vec({3.75});
  auto out = run_text(R"(
name: t
input: [1, 1, 1, 3]
layers:
  - {name: bn, op: batchnorm, eps: 0.25}
)",
                      tensor({1, 1, 1, 3}, {1, 3, -1}), w);
  check_close(out.at("bn"), {1, 1, 1, 3}, {0.5, 3.5, -2.5});
}

BOOST_AUTO_TEST_CASE(hard_activations_gelu_and_clip) {
  // PyTorch's definitions at hand-picked points: hardswish x * relu6(x + 3) / 6; hardsigmoid
  // with PyTorch's alpha 1/6 and with ONNX's 0.2 (beta 0.5); GELU's exact values x * Phi(x)
  // (Phi(1) = 0.8413447460685429) and its tanh form's; clip with both bounds and one.
  const std::vector<double> x = {-4, -3, -1, 0, 0.5, 1, 3, 4};
  std::vector<float> xf(x.begin(), x.end());
  auto out = run_text(R"(
name: t
input: [1, 1, 1, 8]
layers:
  - {name: hs, op: hardswish}
  - {name: hsig, op: hardsigmoid, inputs: input}
  - {name: hsig_onnx, op: hardsigmoid, inputs: input, alpha: 0.2}
  - {name: ge, op: gelu, inputs: input}
  - {name: ge_tanh, op: gelu, inputs: input, approximate: tanh}
  - {name: clip, op: clip, inputs: input, min: -1.5, max: 0.75}
  - {name: floor, op: clip, inputs: input, min: 0.25}
  - {name: ceiling, op: clip, inputs: input, max: -2}
)",
                      tensor({1, 1, 1, 8}, xf));
  const std::vector<int64_t> shape{1, 1, 1, 8};
  check_close(out.at("hs"), shape, {0, 0, -1.0 / 3, 0, 0.5 * 3.5 / 6, 4.0 / 6, 3, 4});
  check_close(out.at("hsig"), shape, {0, 0, 1.0 / 3, 0.5, 0.5 / 6 + 0.5, 1.0 / 6 + 0.5, 1, 1});
  check_close(out.at("hsig_onnx"), shape, {0, 0, 0.3, 0.5, 0.6, 0.7, 1, 1});
  check_close(out.at("ge"), shape,
              {-1.2668496733247991e-4, -4.0496940948903100e-3, -0.15865525393145707, 0, 0.34573123063700656,
               0.8413447460685429, 2.9959503059051100, 3.9998733150326675});
  check_close(out.at("ge_tanh"), shape,
              {-7.0245948192271260e-5, -3.6373920817729943e-3, -0.15880800939172324, 0, 0.34571400982514394,
               0.8411919906082768, 2.9963626079182270, 3.9999297540518075});
  check_close(out.at("clip"), shape, {-1.5, -1.5, -1, 0, 0.5, 0.75, 0.75, 0.75});
  check_close(out.at("floor"), shape, {0.25, 0.25, 0.25, 0.25, 0.5, 1, 3, 4});
  check_close(out.at("ceiling"), shape, {-4, -3, -2, -2, -2, -2, -2, -2});
  // NaN stays NaN, as in PyTorch.
  Tensor nan_in = filled({1, 1, 1, 8}, std::numeric_limits<float>::quiet_NaN());
  auto nan_out = run_text(R"(
name: t
input: [1, 1, 1, 8]
layers:
  - {name: hs, op: hardswish}
  - {name: hsig, op: hardsigmoid, inputs: input}
  - {name: ge, op: gelu, inputs: input}
  - {name: clip, op: clip, inputs: input, min: 0, max: 1}
)",
                          nan_in);
  for (const char* name : {"hs", "hsig", "ge", "clip"}) BOOST_TEST(std::isnan(nan_out.at(name).data[3]), name);
}

BOOST_AUTO_TEST_CASE(layer_norm_shuffle_slice_and_scale) {
  // Two pixels of 4 channels: (1, 2, 3, 4), mean 2.5, variance 1.25; (2, 2, 2, 6), mean 3,
  // variance 3. With eps 1 the deviations are 1.5 and 2. NCHW order: channel by channel.
  const Tensor x = tensor({1, 4, 1, 2}, {1, 2, 2, 2, 3, 2, 4, 6});
  Weights w;
  w["ln.weight"] = vec({2, 1, 0.5, -1});
  w["ln.bias"] = vec({0, 1, 0, 0.5});
  w["s.weight"] = vec({2, -1, 0.5, 3});
  w["sb.weight"] = vec({2, -1, 0.5, 3});
  w["sb.bias"] = vec({1, 0, -1, 0.25});
  auto out = run_text(R"(
name: t
input: [1, 4, 1, 2]
layers:
  - {name: ln, op: layer_norm, eps: 1}
  - {name: plain, op: layer_norm, inputs: input, eps: 1, affine: false}
  - {name: s, op: scale, inputs: input}
  - {name: sb, op: scale, inputs: input, bias: true}
  - {name: mid, op: slice, inputs: input, channels: [1, 3]}
)",
                      x, w);
  check_close(out.at("plain"), {1, 4, 1, 2}, {-1, -0.5, -1.0 / 3, -0.5, 1.0 / 3, -0.5, 1, 1.5});
  check_close(out.at("ln"), {1, 4, 1, 2}, {-2, -1, 2.0 / 3, 0.5, 1.0 / 6, -0.25, -0.5, -1});
  check_close(out.at("s"), {1, 4, 1, 2}, {2, 4, -2, -2, 1.5, 1, 12, 18});
  check_close(out.at("sb"), {1, 4, 1, 2}, {3, 5, -2, -2, 0.5, 0, 12.25, 18.25});
  check_close(out.at("mid"), {1, 2, 1, 2}, {2, 2, 3, 2});

  // Channel shuffle of 0..5 (one pixel, batch 2 adds 6): output j = input (j % g) * (6 / g) + j / g.
  auto shuffled = run_text(R"(
name: t
input: [2, 6, 1, 1]
layers:
  - {name: g2, op: channel_shuffle, groups: 2}
  - {name: g3, op: channel_shuffle, inputs: input, groups: 3}
  - {name: g6, op: channel_shuffle, inputs: input, groups: 6}
)",
                           ramp({2, 6, 1, 1}));
  check_close(shuffled.at("g2"), {2, 6, 1, 1}, {0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11});
  check_close(shuffled.at("g3"), {2, 6, 1, 1}, {0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11});
  check_close(shuffled.at("g6"), {2, 6, 1, 1}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
}

// --- the executor's contract --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(outputs_and_keep_all) {
  const char* spec = R"(
name: t
input: [1, 2, 3, 3]
layers:
  - {name: a, op: relu}
  - {name: b, op: sigmoid}
  - {name: c, op: add, inputs: [a, b]}
  - {name: side, op: tanh, inputs: a}
  - {name: flat, op: flatten, inputs: c}
)";
  Graph g = load_text(spec);
  Tensor x = ramp({1, 2, 3, 3});
  for (float& v : x.data) v -= 8.5f;
  auto outs = run_reference(g, {}, x);
  std::set<std::string> names;
  for (const auto& kv : outs) names.insert(kv.first);
  BOOST_TEST((names == std::set<std::string>{"side", "flat"}));
  auto all = run_reference(g, {}, x, true);
  BOOST_TEST(all.size() == g.layers.size());
  BOOST_TEST(all.at("input").data == x.data);
  BOOST_TEST(outs.at("flat").data == all.at("flat").data);
  BOOST_TEST(outs.at("side").data == all.at("side").data);
  BOOST_TEST(outs.at("flat").shape == (std::vector<int64_t>{1, 18, 1, 1}), boost::test_tools::per_element());
  // relu then sigmoid in place must not have clobbered a, which side still reads.
  for (size_t i = 0; i < x.data.size(); ++i) {
    const double a = std::max(0.0f, x.data[i]);
    BOOST_TEST(std::abs(all.at("side").data[i] - std::tanh(a)) < 1e-6);
    BOOST_TEST(std::abs(all.at("c").data[i] - (a + 1 / (1 + std::exp(-a)))) < 1e-6);
  }
}

BOOST_AUTO_TEST_CASE(errors) {
  Graph g = load_text(R"(
name: t
input: [1, 2, 3, 3]
layers:
  - {name: c, op: conv, out: 2, kernel: 1}
)");
  Tensor x(Shape{1, 2, 3, 3});
  Weights w;
  w["c.weight"] = Tensor(std::vector<int64_t>{2, 2, 1, 1});
  // No bias.
  BOOST_CHECK_EXCEPTION(run_reference(g, w, x), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()).find("c.bias") != std::string::npos;
  });
  w["c.bias"] = Tensor(std::vector<int64_t>{3});
  BOOST_CHECK_THROW(run_reference(g, w, x), RuntimeError);  // wrong shape
  w["c.bias"] = Tensor(std::vector<int64_t>{2});
  BOOST_CHECK_NO_THROW(run_reference(g, w, x));
  BOOST_CHECK_THROW(run_reference(g, w, Tensor(Shape{1, 2, 3, 4})), RuntimeError);  // wrong input
  BOOST_CHECK_THROW(run_reference(g, w, Tensor(std::vector<int64_t>{18})), RuntimeError);
}

// Zoo networks at small inputs with init_weights: every op the zoo uses runs, the outputs
// have the graph's shapes and are finite. (The numbers themselves are checked above.)
BOOST_AUTO_TEST_CASE(zoo_networks_run) {
  struct Net {
    std::string name;
    int64_t batch, size;
  };
  const std::vector<Net> nets = {
      {"googlenet", 1, 32}, {"efficientnet_b0", 1, 32}, {"mobilenet_v2", 2, 32}, {"resnet18", 1, 32}};
  for (const auto& [name, batch, size] : nets) {
    BOOST_TEST_CONTEXT(name << " at " << batch << "x3x" << size << "x" << size) {
      LoadOptions options;
      options.input = Shape{batch, 3, size, size};
      Graph g = load_spec(zoo_dir() / (name + ".yaml"), options);
      Tensor x(g.input().output);
      for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = std::sin(0.01f * static_cast<float>(i));
      auto outs = run_reference(g, init_weights(g, 7), x);
      BOOST_TEST(outs.size() == g.outputs().size());
      for (int i : g.outputs()) {
        const Layer& l = g.layers[static_cast<size_t>(i)];
        BOOST_REQUIRE(outs.count(l.name) == 1);
        const Tensor& t = outs.at(l.name);
        BOOST_TEST(t.shape == (std::vector<int64_t>{l.output.n, l.output.c, l.output.h, l.output.w}),
                   boost::test_tools::per_element());
        BOOST_TEST(std::all_of(t.data.begin(), t.data.end(), [](float v) { return std::isfinite(v); }));
      }
    }
  }
}

// --- PyTorch-checked fixtures -------------------------------------------------------------

// The cases tests/reference/make_reference_cases.py writes, one test each (the test below
// checks that this list and the folder agree).
// clang-format off
#define REFERENCE_CASES(X)                                                                       \
  X(conv_odd) X(conv_same_stride2) X(conv_stride4_rect) X(conv_dilated) X(conv_groups)          \
  X(conv_1x1_spatial) X(conv_asym_pad) X(conv_transpose) X(deform_conv) X(maxpool) X(avgpool)         \
  X(adaptive_pool) X(lrn) X(batchnorm) X(activations) X(softmax_large) X(merges) X(crop_pad) X(upsample_nearest) \
  X(upsample_bilinear) X(flatten_fc) X(se_resnet_tiny)
// clang-format on

namespace {

fs::path cases_dir() { return test_dir() / "fixtures" / "reference_cases"; }

// Every layer output PyTorch recorded (float32, eval mode) against the reference run with
// keep_all. Tolerance: max |reference - pytorch| <= 1e-5 * max(1, max |pytorch|) per tensor --
// PyTorch sums in float32 in its own order; the reference sums in double, so the gap is
// float32 accumulation error, a few 1e-7 relative to the output's magnitude in these cases.
// Then the run without keep_all (buffers freed and reused in place) must give exactly the
// same network outputs.
void check_pytorch_case(const std::string& name) {
  const fs::path dir = cases_dir();
  Graph g = load_spec(dir / (name + ".yaml"));
  Tensor input = read_npy(dir / (name + ".input.npy"));
  Weights weights;
  const fs::path wfile = dir / (name + ".weights.safetensors");
  if (fs::exists(wfile)) weights = read_safetensors(wfile);
  check_weights(g, weights, wfile.string());
  Weights expected = read_safetensors(dir / (name + ".expected.safetensors"));
  BOOST_REQUIRE(!expected.empty());

  auto all = run_reference(g, weights, input, true);
  for (const auto& [layer, want] : expected) {
    BOOST_TEST_CONTEXT("case " << name << ", layer " << layer) {
      BOOST_REQUIRE(all.count(layer) == 1);
      const Tensor& got = all.at(layer);
      BOOST_TEST(got.shape == want.shape, boost::test_tools::per_element());
      BOOST_REQUIRE_EQUAL(got.data.size(), want.data.size());
      double scale = 1, err = 0;
      for (float v : want.data) scale = std::max(scale, static_cast<double>(std::abs(v)));
      for (size_t i = 0; i < got.data.size(); ++i)
        err = std::max(err, std::abs(static_cast<double>(got.data[i]) - static_cast<double>(want.data[i])));
      BOOST_TEST_MESSAGE(name << "/" << layer << ": max abs error " << err << ", magnitude " << scale);
      BOOST_TEST(err <= 1e-5 * scale);
    }
  }

  auto outs = run_reference(g, weights, input, false);
  BOOST_TEST(outs.size() == g.outputs().size());
  for (int i : g.outputs()) {
    const std::string& layer = g.layers[static_cast<size_t>(i)].name;
    BOOST_TEST_CONTEXT("case " << name << ", output " << layer) {
      BOOST_REQUIRE(outs.count(layer) == 1);
      BOOST_TEST(outs.at(layer).shape == all.at(layer).shape, boost::test_tools::per_element());
      BOOST_TEST((outs.at(layer).data == all.at(layer).data));
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(pytorch_case_list_matches_the_fixtures) {
  std::set<std::string> on_disk;
  for (const auto& e : fs::directory_iterator(cases_dir()))
    if (e.path().extension() == ".yaml") on_disk.insert(e.path().stem().string());
#define CASE_NAME(name) #name,
  std::set<std::string> listed{REFERENCE_CASES(CASE_NAME)};
#undef CASE_NAME
  BOOST_TEST(on_disk == listed, boost::test_tools::per_element());
}

#define PYTORCH_CASE(name) \
  BOOST_AUTO_TEST_CASE(pytorch_##name) { check_pytorch_case(#name); }
REFERENCE_CASES(PYTORCH_CASE)
#undef PYTORCH_CASE

BOOST_AUTO_TEST_SUITE_END()
