// Shape rules and cost formulas of single ops, on awkward sizes, against hand-computed values.
#include <fmt/format.h>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <limits>

#include "helpers.h"
#include "networks/ops.h"

using namespace archbench;
using namespace archbench::test;

namespace {
// A network with one layer (plus optional extra lines) on the given input.
Graph one(const std::string& input, const std::string& layers) {
  return load_text("name: t\ninput: " + input + "\nlayers:\n" + layers);
}
LayerCost cost(const Graph& g, const std::string& name) { return layer_cost(g, layer(g, name)); }
}  // namespace

BOOST_AUTO_TEST_SUITE(ops)

BOOST_AUTO_TEST_CASE(conv_same_padding_follows_tensorflow) {
  Graph g = one("[1, 3, 7, 8]", "  - {name: c, op: conv, out: 5, kernel: 3, stride: 2, padding: same}\n");
  const auto& w = std::get<ConvAttrs>(layer(g, "c").attrs).win;
  BOOST_TEST((layer(g, "c").output == Shape{1, 5, 4, 4}));
  BOOST_TEST(w.pad_top == 1);  // height 7: total 2 -> 1 + 1
  BOOST_TEST(w.pad_bottom == 1);
  BOOST_TEST(w.pad_left == 0);  // width 8: total 1 -> 0 + 1, the odd pixel at the right
  BOOST_TEST(w.pad_right == 1);
}

BOOST_AUTO_TEST_CASE(conv_asymmetric_padding_dilation_and_groups) {
  Graph g = one(
      "[2, 32, 5, 5]",
      "  - {name: a, op: conv, out: 8, kernel: 3, padding: [1, 0, 2, 3]}\n"
      "  - {name: d, op: conv, inputs: input, out: 8, kernel: 3, dilation: 2, padding: 2}\n"
      "  - {name: g, op: conv, inputs: input, out: 64, kernel: 3, groups: 4, padding: 1}\n"
      "  - {name: dw, op: conv, inputs: input, out: 32, kernel: [3, 1], groups: 32, stride: [2, 1], bias: false}\n");
  BOOST_TEST((layer(g, "a").output == Shape{2, 8, 6, 6}));  // h: 5+1+2-3+1, w: 5+0+3-3+1
  BOOST_TEST((layer(g, "d").output == Shape{2, 8, 5, 5}));
  BOOST_TEST((layer(g, "g").output == Shape{2, 64, 5, 5}));
  BOOST_TEST(cost(g, "g").params == 64 * 8 * 9 + 64);
  BOOST_TEST(cost(g, "g").macs == 2 * 64 * 25 * 8 * 9);
  BOOST_TEST(cost(g, "g").flops == 2 * cost(g, "g").macs + 2 * 64 * 25);
  BOOST_TEST((layer(g, "dw").output == Shape{2, 32, 2, 5}));
  BOOST_TEST(cost(g, "dw").params == 32 * 3);
  BOOST_TEST(cost(g, "dw").macs == 2 * 32 * 2 * 5 * 3);
  BOOST_TEST(cost(g, "dw").flops == 2 * cost(g, "dw").macs);
}

BOOST_AUTO_TEST_CASE(pooling_ceil_mode_drops_windows_starting_in_padding) {
  Graph g =
      one("[1, 2, 112, 5]",
          "  - {name: floor, op: maxpool, kernel: [3, 2], stride: 2}\n"
          "  - {name: ceil, op: maxpool, inputs: input, kernel: [3, 2], stride: 2, padding: [0, 1], ceil_mode: true}\n"
          "  - {name: avg, op: avgpool, inputs: input, kernel: 2}\n");
  BOOST_TEST((layer(g, "floor").output == Shape{1, 2, 55, 2}));
  // h: ceil((112-3)/2)+1 = 56; w: ceil((5+2-2)/2)+1 = 4, but window 3 would start at 6 >= 5+1.
  BOOST_TEST((layer(g, "ceil").output == Shape{1, 2, 56, 3}));
  BOOST_TEST((layer(g, "avg").output == Shape{1, 2, 56, 2}));
  BOOST_TEST(cost(g, "floor").flops == 2 * 55 * 2 * 5);  // 3*2-1 comparisons per output
  BOOST_TEST(cost(g, "avg").flops == 2 * 56 * 2 * 4);
  // A window longer than the (padded) input: PyTorch's floor((span + stride - 1) / stride) + 1
  // with span = 2 - 3 = -1 gives one output in ceil mode, none without (GoogLeNet at 17x17
  // reaches its ceil-mode 3x3 / 2 pools with 2x2 maps).
  BOOST_TEST(window_output(2, 0, 0, 3, 2, true) == 1);
  BOOST_TEST(window_output(2, 0, 0, 3, 2, false) == 0);
  BOOST_TEST(window_output(1, 0, 0, 5, 2, true) == -1);  // span -4: floor(-3 / 2) + 1, reported as an error
  BOOST_TEST(window_output(2, 1, 1, 5, 3, true) == 1);
  LoadOptions at17;
  at17.input = Shape{1, 3, 17, 17};
  Graph small = load_spec(zoo_dir() / "googlenet.yaml", at17);
  BOOST_TEST((small.layers.back().output == Shape{1, 1000, 1, 1}));
}

BOOST_AUTO_TEST_CASE(transposed_conv_shape_and_cost) {
  Graph g = one(
      "[1, 6, 7, 7]",
      "  - {name: up, op: conv_transpose, out: 4, kernel: 4, stride: 2, padding: 1, output_padding: 1, groups: 2}\n");
  BOOST_TEST((layer(g, "up").output == Shape{1, 4, 15, 15}));  // (7-1)*2 - 2 + 3 + 1 + 1
  BOOST_TEST(cost(g, "up").params == 6 * 2 * 16 + 4);
  BOOST_TEST(cost(g, "up").macs == 6 * 49 * 2 * 16);  // every input pixel scatters (Cout/g) x k x k
}

BOOST_AUTO_TEST_CASE(upsample_crop_pad_and_broadcast_multiply) {
  Graph g = one("[1, 16, 7, 64]",
                "  - {name: up, op: upsample, scale: 2, mode: bilinear}\n"
                "  - {name: up2, op: upsample, inputs: [input, up], mode: nearest}\n"
                "  - {name: half, op: upsample, inputs: input, size: [3, 5]}\n"
                "  - {name: crop, op: crop, inputs: up, size: [10, 56], center: true}\n"
                "  - {name: padded, op: pad, inputs: input, padding: [1, 2, 3, 4]}\n"
                "  - {name: gate, op: global_avgpool, inputs: input}\n"
                "  - {name: scaled, op: multiply, inputs: [gate, input]}\n");
  BOOST_TEST((layer(g, "up").output == Shape{1, 16, 14, 128}));
  BOOST_TEST(cost(g, "up").flops == 9 * 16 * 14 * 128);
  BOOST_TEST((layer(g, "up2").output == Shape{1, 16, 14, 128}));
  BOOST_TEST((layer(g, "half").output == Shape{1, 16, 3, 5}));
  const auto& crop = std::get<CropAttrs>(layer(g, "crop").attrs);
  BOOST_TEST(crop.off_h == 2);
  BOOST_TEST(crop.off_w == 36);
  BOOST_TEST((layer(g, "padded").output == Shape{1, 16, 11, 70}));
  BOOST_TEST((layer(g, "scaled").output == Shape{1, 16, 7, 64}));
}

BOOST_AUTO_TEST_CASE(fc_flattens_and_small_ops_cost) {
  Graph g = one("[2, 4, 3, 3]",
                "  - {name: fc, op: fc, out: 10}\n"
                "  - {name: bn, op: batchnorm, inputs: input}\n"
                "  - {name: lrn, op: lrn, inputs: input, size: 5}\n"
                "  - {name: ad, op: adaptive_avgpool, inputs: input, output: [2, 1]}\n"
                "  - {name: flat, op: flatten, inputs: input}\n"
                "  - {name: sm, op: softmax, inputs: fc}\n");
  BOOST_TEST((layer(g, "fc").output == Shape{2, 10, 1, 1}));
  BOOST_TEST(cost(g, "fc").macs == 2 * 36 * 10);
  BOOST_TEST(cost(g, "fc").params == 36 * 10 + 10);
  BOOST_TEST(cost(g, "bn").params == 8);
  BOOST_TEST(cost(g, "bn").flops == 2 * 72);
  BOOST_TEST(cost(g, "lrn").flops == 13 * 72);
  // rows: output 0 averages [0, 2), output 1 averages [1, 3): 4 rows; columns: all 3.
  BOOST_TEST(cost(g, "ad").flops == 2 * 4 * 4 * 3);
  BOOST_TEST((layer(g, "flat").output == Shape{2, 36, 1, 1}));
  BOOST_TEST(cost(g, "sm").flops == 5 * 20);
}

// The cost and the widest window are closed forms (an output of 10^9 columns must not loop);
// here they meet PyTorch's definition, window i = [floor(i*in/out), ceil((i+1)*in/out)), for
// outputs smaller and larger than the input.
BOOST_AUTO_TEST_CASE(adaptive_pool_cost_and_window_follow_the_definition) {
  for (int64_t in = 1; in <= 13; ++in)
    for (int64_t out = 1; out <= 17; ++out) {
      BOOST_TEST_CONTEXT("input " << in << ", output " << out) {
        int64_t total = 0, widest = 0;
        for (int64_t i = 0; i < out; ++i) {
          int64_t size = ((i + 1) * in + out - 1) / out - (i * in) / out;
          total += size;
          widest = std::max(widest, size);
        }
        Graph g = one(fmt::format("[1, 2, {}, 1]", in),
                      fmt::format("  - {{name: ad, op: adaptive_avgpool, output: [{}, 1]}}\n", out));
        BOOST_TEST(cost(g, "ad").flops == 2 * total);
        BOOST_TEST(spatial_map(g, layer(g, "ad")).h.span == Rational(widest - 1));
      }
    }
}

// Kernel, stride, dilation and padding are bounded so that no shape or cost formula can wrap
// around 64 bits; the largest allowed still gives exact answers.
BOOST_AUTO_TEST_CASE(window_attributes_are_bounded_and_exact_at_the_bound) {
  Graph g = one("[1, 1, 4294967296, 1]",
                "  - {name: p, op: maxpool, kernel: [2147483647, 1], stride: 2147483647, padding: 0}\n");
  BOOST_TEST((layer(g, "p").output == Shape{1, 1, 2, 1}));  // (2^32 - (2^31 - 1)) / (2^31 - 1) + 1
  BOOST_TEST(cost(g, "p").flops == int64_t{2} * (2147483647 - 1));
  g = one(
      "[1, 1, 1, 1]",
      "  - {name: t, op: conv_transpose, out: 1, kernel: [2147483647, 1], dilation: [1073741824, 1], bias: false}\n");
  BOOST_TEST((layer(g, "t").output == Shape{1, 1, int64_t{1073741824} * 2147483646 + 1, 1}));
  BOOST_CHECK_EXCEPTION(one("[1, 1, 8, 8]", "  - {name: p, op: avgpool, kernel: 2, stride: [1, 2147483648]}\n"),
                        SpecError, [](const SpecError& e) {
                          return std::string(e.what()).ends_with(
                              "inline.yaml:4:51: error: layer 'p': stride must be at most 2147483647, got 2147483648");
                        });
}

// The ops an ONNX import needs: attributes and their defaults, shapes, costs (no MACs; FLOPs per
// element as docs/ARCHITECTURE.md lists them), parameters, and receptive fields that pass
// through unchanged.
BOOST_AUTO_TEST_CASE(pointwise_and_channel_ops_for_imports) {
  Graph g = one("[2, 12, 5, 3]",
                "  - {name: hs, op: hardswish}\n"
                "  - {name: hsig, op: hardsigmoid}\n"
                "  - {name: hsig_onnx, op: hardsigmoid, alpha: 0.2, beta: 0.25}\n"
                "  - {name: ge, op: gelu}\n"
                "  - {name: ge_tanh, op: gelu, approximate: tanh}\n"
                "  - {name: clip2, op: clip, min: -1, max: 2.5}\n"
                "  - {name: clip_lo, op: clip, min: 0}\n"
                "  - {name: clip_hi, op: clip, max: 6}\n"
                "  - {name: ln, op: layer_norm}\n"
                "  - {name: ln_plain, op: layer_norm, eps: 1e-6, affine: false}\n"
                "  - {name: shuffle, op: channel_shuffle, groups: 3}\n"
                "  - {name: half, op: slice, channels: [6, 12]}\n"
                "  - {name: ls, op: scale, inputs: shuffle}\n"
                "  - {name: ls_bias, op: scale, bias: true}\n");
  const int64_t out = 2 * 12 * 5 * 3, positions = 2 * 5 * 3;
  const auto& hsig = std::get<HardSigmoidAttrs>(layer(g, "hsig").attrs);
  BOOST_TEST(hsig.alpha == 1.0 / 6.0);  // PyTorch's
  BOOST_TEST(hsig.beta == 0.5);
  BOOST_TEST(std::get<HardSigmoidAttrs>(layer(g, "hsig_onnx").attrs).alpha == 0.2);
  BOOST_TEST(std::get<HardSigmoidAttrs>(layer(g, "hsig_onnx").attrs).beta == 0.25);
  BOOST_TEST(!std::get<GeluAttrs>(layer(g, "ge").attrs).tanh);
  BOOST_TEST(std::get<GeluAttrs>(layer(g, "ge_tanh").attrs).tanh);
  BOOST_TEST(std::get<ClipAttrs>(layer(g, "clip2").attrs).min == -1.0);
  BOOST_TEST(std::get<ClipAttrs>(layer(g, "clip2").attrs).max == 2.5);
  BOOST_TEST(std::isinf(std::get<ClipAttrs>(layer(g, "clip_lo").attrs).max));
  BOOST_TEST(std::get<ClipAttrs>(layer(g, "clip_hi").attrs).min == -std::numeric_limits<double>::infinity());
  BOOST_TEST(std::get<LayerNormAttrs>(layer(g, "ln").attrs).eps == 1e-5);
  BOOST_TEST(std::get<LayerNormAttrs>(layer(g, "ln").attrs).affine);
  BOOST_TEST(std::get<LayerNormAttrs>(layer(g, "ln_plain").attrs).eps == 1e-6);
  BOOST_TEST(!std::get<LayerNormAttrs>(layer(g, "ln_plain").attrs).affine);
  BOOST_TEST(std::get<ChannelShuffleAttrs>(layer(g, "shuffle").attrs).groups == 3);
  BOOST_TEST(std::get<SliceAttrs>(layer(g, "half").attrs).begin == 6);
  BOOST_TEST(std::get<SliceAttrs>(layer(g, "half").attrs).end == 12);
  BOOST_TEST(!std::get<ScaleAttrs>(layer(g, "ls").attrs).bias);

  for (const char* name : {"hs", "hsig", "ge", "clip2", "ln", "shuffle", "ls"}) BOOST_TEST_CONTEXT(name) {
      BOOST_TEST((layer(g, name).output == Shape{2, 12, 5, 3}));
      BOOST_TEST(cost(g, name).macs == 0);
    }
  BOOST_TEST((layer(g, "half").output == Shape{2, 6, 5, 3}));
  BOOST_TEST(cost(g, "hs").flops == 5 * out);
  BOOST_TEST(cost(g, "hsig").flops == 4 * out);
  BOOST_TEST(cost(g, "ge").flops == 9 * out);
  BOOST_TEST(cost(g, "ge_tanh").flops == 13 * out);
  BOOST_TEST(cost(g, "clip2").flops == 2 * out);
  BOOST_TEST(cost(g, "clip_lo").flops == out);
  BOOST_TEST(cost(g, "clip_hi").flops == out);
  BOOST_TEST(cost(g, "ln").flops == 7 * out + 4 * positions);
  BOOST_TEST(cost(g, "ln").params == 24);
  BOOST_TEST(cost(g, "ln_plain").flops == 5 * out + 4 * positions);
  BOOST_TEST(cost(g, "ln_plain").params == 0);
  BOOST_TEST(cost(g, "shuffle").flops == 0);
  BOOST_TEST(cost(g, "half").flops == 0);
  BOOST_TEST(cost(g, "ls").flops == out);
  BOOST_TEST(cost(g, "ls").params == 12);
  BOOST_TEST(cost(g, "ls_bias").flops == 2 * out);
  BOOST_TEST(cost(g, "ls_bias").params == 24);
  for (const Layer& l : g.layers) {
    if (l.name == "input") continue;
    BOOST_TEST_CONTEXT(l.name) {
      SpatialMap m = spatial_map(g, l);
      BOOST_TEST(m.h.scale == Rational(1));
      BOOST_TEST(m.h.offset == Rational(0));
      BOOST_TEST(m.h.span == Rational(0));
      BOOST_TEST(m.w.scale == Rational(1));
      BOOST_TEST(m.w.span == Rational(0));
    }
  }
}

BOOST_AUTO_TEST_CASE(known_ops_are_documented) {
  std::vector<std::string> ops = known_ops();
  BOOST_TEST(ops.size() == 33u);
  BOOST_TEST(op_name(OpKind::FullyConnected) == "fc");
  BOOST_TEST(op_name(OpKind::ConvTranspose) == "conv_transpose");
  BOOST_TEST(op_name(OpKind::DeformConv) == "deform_conv");
  BOOST_TEST(op_name(OpKind::LayerNorm) == "layer_norm");
  BOOST_TEST(op_name(OpKind::ChannelShuffle) == "channel_shuffle");
  // Each in the spec format's table of ops.
  std::ifstream doc(test_dir() / "../docs/SPEC-FORMAT.md");
  const std::string text((std::istreambuf_iterator<char>(doc)), std::istreambuf_iterator<char>());
  for (const std::string& op : ops) BOOST_TEST_CONTEXT(op) {
      BOOST_TEST(text.find("`" + op + "`") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
