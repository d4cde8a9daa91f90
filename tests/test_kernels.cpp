// Halide kernel families against the reference executor (runtime/reference.cpp) on awkward
// shapes. Tolerance: fp32 accumulation against double, max |error| <= 1e-4 x max(1, max |ref|).
#include <boost/test/unit_test.hpp>
#include <cmath>

#include <fmt/format.h>

#include "helpers.h"
#include "runtime/kernels.h"

using namespace archbench;
using namespace archbench::test;
namespace k = archbench::kernels;

namespace {

// Runs the network's conv (layer "conv", optionally followed by "bn", then "add" reading
// "skip", then an activation named "act") through the Halide kernel and the reference, and
// returns the relative error of the last layer. `in_place`: the output buffer is the skip;
// `ran`, where given, receives the schedule that ran; `depthwise`: a depthwise conv's schedule;
// `channel_view`: the output is channels [19, 19 + C) of a wider buffer of 5s, and a write
// outside them makes the error infinite.
double conv_error(const std::string& spec, k::ConvSchedule schedule = k::kDefaultConvSchedule, bool in_place = false,
                  std::string* ran = nullptr, k::DepthwiseSchedule depthwise = k::DepthwiseSchedule::Default,
                  bool channel_view = false, size_t* reduction_parts = nullptr) {
  Graph g = load_text(spec);
  Weights w = init_weights(g, 7);
  Tensor x = random_tensor(g.input().output, 11);
  auto ref = run_reference(g, w, x, true);
  const Layer& conv = layer(g, "conv");
  const auto& attrs = std::get<ConvAttrs>(conv.attrs);
  std::optional<k::BatchNormParams> bn;
  if (g.find("bn") >= 0)
    bn = k::BatchNormParams{&w.at("bn.weight"), &w.at("bn.bias"), &w.at("bn.running_mean"), &w.at("bn.running_var"),
                            std::get<BatchNormAttrs>(layer(g, "bn").attrs).eps};
  k::PreparedConv p = k::prepare_conv(attrs, w.at("conv.weight"), attrs.bias ? &w.at("conv.bias") : nullptr, bn);
  k::Buffer in = k::to_halide(x);
  const int channels = static_cast<int>(conv.output.c), offset = channel_view ? 19 : 0;
  k::Buffer wide(channels + (channel_view ? 25 : 0), static_cast<int>(conv.output.w), static_cast<int>(conv.output.h),
                 static_cast<int>(conv.output.n));
  k::fill(wide, 5.0f);
  k::Buffer out = k::at_origin(wide.cropped(0, offset, channels));
  std::optional<k::Buffer> skip;
  if (g.find("add") >= 0) skip = k::to_halide(ref.at(g.layers[layer(g, "add").inputs[1]].name));
  k::Activation act = k::Activation::None;
  if (g.find("act") >= 0) {
    OpKind op = layer(g, "act").op;
    act = op == OpKind::ReLU6 ? k::Activation::ReLU6 : op == OpKind::Swish ? k::Activation::Swish : k::Activation::ReLU;
  }
  if (skip && in_place) {
    // The add written over its skip input, as the executor does when the skip dies there.
    out.copy_contents_from(*skip);
    std::string name = k::run_conv(p, in, &out, out, act, schedule);
    if (ran) *ran = name;
  } else {
    std::string name = k::run_conv(p, in, skip ? &*skip : nullptr, out, act, schedule, depthwise);
    if (ran) *ran = name;
  }
  if (reduction_parts) *reduction_parts = p.reduction_parts.size();
  bool kept = true;
  wide.for_each_element([&](int c, int px, int py, int n) {
    kept = kept && ((c >= offset && c < offset + channels) || wide(c, px, py, n) == 5.0f);
  });
  if (!kept) return std::numeric_limits<double>::infinity();
  return relative_error(k::to_nchw(out), ref.at(g.layers.back().name));
}

std::string net(const std::string& input, const std::string& layers) {
  return "name: t\ninput: " + input + "\nlayers:\n" + layers;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kernels)

BOOST_AUTO_TEST_CASE(conv_awkward_shapes) {
  struct Case {
    const char* what;
    std::string spec;
  };
  const Case cases[] = {
      {"3->5, odd sizes", net("[1, 3, 7, 9]", "  - {name: conv, op: conv, out: 5, kernel: 3, padding: 1}\n")},
      {"asymmetric padding, stride 2, 40 channels",
       net("[1, 16, 13, 29]", "  - {name: conv, op: conv, out: 40, kernel: 3, stride: 2, padding: [1, 0, 2, 1]}\n")},
      {"same padding on an even size",
       net("[2, 8, 16, 16]", "  - {name: conv, op: conv, out: 36, kernel: 3, stride: 2, padding: same}\n")},
      {"dilation 2",
       net("[1, 8, 20, 21]", "  - {name: conv, op: conv, out: 33, kernel: 3, dilation: 2, padding: 2}\n")},
      {"dilation 6",
       net("[1, 8, 40, 40]", "  - {name: conv, op: conv, out: 33, kernel: 3, dilation: 6, padding: 6}\n")},
      {"dilation 18",
       net("[1, 4, 45, 45]", "  - {name: conv, op: conv, out: 48, kernel: 3, dilation: 18, padding: 18}\n")},
      {"stride 4, 11x11 (AlexNet conv1)",
       net("[1, 3, 35, 35]", "  - {name: conv, op: conv, out: 64, kernel: 11, stride: 4, padding: 2}\n")},
      {"groups 2", net("[1, 6, 15, 15]", "  - {name: conv, op: conv, out: 64, kernel: 5, groups: 2, padding: 2}\n")},
      {"depthwise",
       net("[1, 24, 11, 10]", "  - {name: conv, op: conv, out: 24, kernel: 3, groups: 24, padding: 1, bias: false}\n")},
      {"1x1 spatial", net("[1, 64, 1, 1]", "  - {name: conv, op: conv, out: 70, kernel: 1}\n")},
      {"batch 3", net("[3, 5, 9, 14]", "  - {name: conv, op: conv, out: 32, kernel: [1, 3], padding: [0, 1]}\n")},
      {"conv + bn + relu", net("[1, 16, 14, 14]",
                               "  - {name: conv, op: conv, out: 48, kernel: 3, padding: 1, bias: false}\n"
                               "  - {name: bn, op: batchnorm}\n  - {name: act, op: relu}\n")},
      {"conv + bn + add + relu", net("[2, 32, 13, 17]",
                                     "  - {name: conv, op: conv, out: 32, kernel: 3, padding: 1, bias: false}\n"
                                     "  - {name: bn, op: batchnorm}\n  - {name: add, op: add, inputs: [bn, input]}\n"
                                     "  - {name: act, op: relu}\n")},
      {"conv + relu6", net("[1, 8, 12, 12]",
                           "  - {name: conv, op: conv, out: 40, kernel: 3, padding: 1}\n  - {name: act, op: relu6}\n")},
      {"1x1 conv + bn + swish", net("[1, 16, 14, 13]",
                                    "  - {name: conv, op: conv, out: 96, kernel: 1, bias: false}\n"
                                    "  - {name: bn, op: batchnorm}\n  - {name: act, op: swish}\n")},
      {"depthwise stride 2, 20 channels, + bn + relu6",
       net("[2, 20, 15, 16]",
           "  - {name: conv, op: conv, out: 20, kernel: 3, stride: 2, groups: 20, padding: 1, bias: false}\n"
           "  - {name: bn, op: batchnorm}\n  - {name: act, op: relu6}\n")},
      {"depthwise 5x5 dilation 2 + swish",
       net("[1, 37, 19, 9]",
           "  - {name: conv, op: conv, out: 37, kernel: 5, dilation: 2, groups: 37, padding: 4}\n"
           "  - {name: act, op: swish}\n")},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) { BOOST_TEST(conv_error(c.spec) <= 1e-4); }
  }
}

// A filter slice of one output channel tile past 1 MiB (32 x Cin x kh x kw floats: FCN's head,
// 2048 channels x 3x3) runs as partial convs over input-channel ranges of at most 640 KiB,
// summed: two, three parts, at least a channel each; bias and batch-norm shift once; the relu and the residual add on
// the last part, also with the add written over its skip; in a channel view. Swish (no fused
// add) and a slice that fits run whole.
BOOST_AUTO_TEST_CASE(long_reductions_run_as_summed_parts) {
  struct Case {
    const char* what;
    std::string spec;
    bool in_place, channel_view;
    size_t parts;  // 0: not split
  };
  const std::string skip_net =
      "  - {name: s, op: conv, out: 40, kernel: 1}\n"
      "  - {name: conv, op: conv, inputs: input, out: 40, kernel: 3, dilation: 2, padding: 2, bias: false}\n"
      "  - {name: bn, op: batchnorm}\n  - {name: add, op: add, inputs: [bn, s]}\n  - {name: act, op: relu}\n";
  const Case cases[] = {
      {"1000 channels + relu",
       net("[1, 1000, 9, 11]",
           "  - {name: conv, op: conv, out: 40, kernel: 3, padding: 1}\n"
           "  - {name: act, op: relu}\n"),
       false, false, 2},
      {"1500 channels, stride 2, batch 2, + bn",
       net("[2, 1500, 10, 9]",
           "  - {name: conv, op: conv, out: 33, kernel: 3, stride: 2, padding: 1, bias: false}\n"
           "  - {name: bn, op: batchnorm}\n"),
       false, true, 3},
      {"1000 channels, dilation 2, + bn + add + relu", net("[1, 1000, 12, 10]", skip_net), false, false, 2},
      {"the same, written over its skip", net("[1, 1000, 12, 10]", skip_net), true, false, 2},
      {"1000 channels + swish",
       net("[1, 1000, 6, 7]",
           "  - {name: conv, op: conv, out: 40, kernel: 3, padding: 1}\n"
           "  - {name: act, op: swish}\n"),
       false, false, 0},
      {"2 channels, a 101x101 filter (2.6 MB a slice): a part per channel",
       net("[1, 2, 103, 101]", "  - {name: conv, op: conv, out: 32, kernel: 101}\n  - {name: act, op: relu}\n"), false,
       false, 2},
      {"900 channels (1,036,800 bytes a slice)",
       net("[1, 900, 6, 7]", "  - {name: conv, op: conv, out: 40, kernel: 3, padding: 1}\n"), false, false, 0},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      size_t parts = 99;
      BOOST_TEST(conv_error(c.spec, k::kDefaultConvSchedule, c.in_place, nullptr, k::DepthwiseSchedule::Default,
                            c.channel_view, &parts) <= 1e-4);
      BOOST_TEST(parts == c.parts);
    }
  }
}

// Every depthwise schedule forced on awkward shapes, and which one ran: framed needs 16+
// channels and 4+ output columns, interior 16+ channels and an all-inside region at least 4
// outputs wide. The default takes framed for undilated filters where stride_x x stride_y is
// at most a quarter of kw x kh, else interior on maps of 20x20 outputs or more; where the one it wants cannot
// run, the fallback: staged up to 64 channels and columns above. The others take any shape.
BOOST_AUTO_TEST_CASE(depthwise_schedules_on_awkward_shapes) {
  struct Case {
    const char* what;
    std::string spec;
    const char* interior_runs;  // what a forced interior runs
    const char* framed_runs;    // what a forced framed runs
    const char* default_runs;
  };
  auto dw = [](const char* input, int channels, const char* window) {
    return net(input, fmt::format("  - {{name: conv, op: conv, out: {0}, kernel: {1}, groups: {0}}}\n"
                                  "  - {{name: act, op: relu6}}\n",
                                  channels, window));
  };
  const Case cases[] = {
      {"16 channels, 13x9, pad 1", dw("[1, 16, 9, 13]", 16, "3, padding: 1"), "interior", "framed", "framed"},
      {"17 channels (a shifted channel tile), inside exactly 4 wide", dw("[1, 17, 7, 6]", 17, "3, padding: 1"),
       "interior", "framed", "framed"},
      {"inside 3 wide, output 5 wide", dw("[1, 40, 7, 5]", 40, "3, padding: 1"), "staged", "framed", "framed"},
      {"inside 3 wide, 65 channels", dw("[1, 65, 7, 5]", 65, "3, padding: 1"), "columns", "framed", "framed"},
      {"output 3 wide: the fallback", dw("[1, 32, 6, 3]", 32, "3, padding: 1"), "staged", "staged", "staged"},
      {"output 3 wide, 80 channels: the fallback", dw("[1, 80, 6, 3]", 80, "3, padding: 1"), "columns", "columns",
       "columns"},
      {"15 channels: the fallback", dw("[1, 15, 21, 21]", 15, "3, padding: 1"), "staged", "staged", "staged"},
      {"20x20 outputs, 17 channels", dw("[1, 17, 20, 20]", 17, "3, padding: 1"), "interior", "framed", "framed"},
      {"dilation 2, output exactly 4 wide, batch 2", dw("[2, 16, 5, 4]", 16, "3, dilation: 2, padding: 2"), "staged",
       "framed", "staged"},
      {"dilation 2, 22x21 outputs", dw("[1, 24, 21, 22]", 24, "3, dilation: 2, padding: 2"), "interior", "framed",
       "interior"},
      {"stride 2 on an even size, batch 2", dw("[2, 144, 16, 16]", 144, "3, stride: 2, padding: 1"), "interior",
       "framed", "columns"},
      {"stride 2, 21x20 outputs, 70 channels", dw("[1, 70, 41, 40]", 70, "3, stride: 2, padding: 1"), "interior",
       "framed", "interior"},
      {"asymmetric padding", dw("[1, 20, 13, 29]", 20, "3, stride: 2, padding: [1, 0, 2, 1]"), "interior", "framed",
       "staged"},
      {"5x5 dilation 2, one inside row", dw("[1, 37, 9, 19]", 37, "5, dilation: 2, padding: 4"), "interior", "framed",
       "staged"},
      {"5x5 stride 2 (EfficientNet), 23x22 outputs", dw("[1, 40, 45, 43]", 40, "5, stride: 2, padding: 2"), "interior",
       "framed", "framed"},
      {"no padding: no border strips", dw("[1, 32, 23, 22]", 32, "3"), "interior", "framed", "framed"},
      {"1x3 filter, padding [0, 1]: too few taps for framed", dw("[1, 24, 5, 12]", 24, "[1, 3], padding: [0, 1]"),
       "interior", "framed", "staged"},
      {"7x7 map, 960 channels (MobileNet-V2's last)", dw("[1, 960, 7, 7]", 960, "3, padding: 1"), "interior", "framed",
       "framed"},
      {"7x7 map, 5x5, 1152 channels (EfficientNet's last)", dw("[1, 1152, 7, 7]", 1152, "5, padding: 2"), "columns",
       "framed", "framed"},
  };
  for (const Case& c : cases) {
    for (auto [name, schedule] : k::depthwise_schedules()) {
      BOOST_TEST_CONTEXT(c.what << ", " << name) {
        std::string ran;
        BOOST_TEST(conv_error(c.spec, k::kDefaultConvSchedule, false, &ran, schedule) <= 1e-4);
        BOOST_TEST(ran == (schedule == k::DepthwiseSchedule::Default    ? std::string(c.default_runs)
                           : schedule == k::DepthwiseSchedule::Interior ? std::string(c.interior_runs)
                           : schedule == k::DepthwiseSchedule::Framed   ? std::string(c.framed_runs)
                                                                        : name));
      }
    }
  }
}

// Framed, and interior with its border strips, write only the output's channel view.
BOOST_AUTO_TEST_CASE(depthwise_interior_and_framed_write_a_channel_view) {
  const std::string spec =
      net("[1, 20, 9, 10]", "  - {name: conv, op: conv, out: 20, kernel: 3, groups: 20, padding: 1}\n");
  for (auto [schedule, name] :
       {std::pair{k::DepthwiseSchedule::Interior, "interior"}, std::pair{k::DepthwiseSchedule::Framed, "framed"}}) {
    std::string ran;
    BOOST_TEST(conv_error(spec, k::kDefaultConvSchedule, false, &ran, schedule, true) <= 1e-4);
    BOOST_TEST(ran == name);
  }
}

// The default's choice of register tile: 64 channels x 4 pixels (direct-c64-p4) on maps at
// least 32 wide whose output channels come in whole 64-channel tiles, with 8+ tasks; else 32
// x 7 (direct). A residual added in place runs on a copy of the skip (the edge tiles of a
// 45-wide map shift inwards and compute some outputs twice).
BOOST_AUTO_TEST_CASE(the_default_runs_64_channel_tiles_on_wide_maps) {
  struct Case {
    const char* what;
    std::string spec;
    bool in_place;
    std::string expected;
  };
  // (Only AVX-512 code has the 64-channel tile; AVX2's tiles are 16 channels x 4, 5 or 6
  // pixels, the default's the one that computes the fewest pixels per row, 5 on 45-wide maps
  // and 4 on 28-wide ones (kernels.cpp, avx2_direct_default); below AVX2, direct.)
  const std::string wide = cpu_isa() == CpuIsa::Avx512 ? "direct-c64-p4" : test::direct_at(45);
  const std::string residual =
      "  - {name: skip, op: conv, out: 128, kernel: 1}\n"
      "  - {name: conv, op: conv, inputs: input, out: 128, kernel: 3, padding: 1}\n"
      "  - {name: add, op: add, inputs: [conv, skip]}\n  - {name: act, op: relu}\n";
  const Case cases[] = {
      {"128 channels, 45 wide", net("[1, 24, 33, 45]", "  - {name: conv, op: conv, out: 128, kernel: 3, padding: 1}\n"),
       false, wide},
      {"+ residual in place", net("[1, 24, 33, 45]", residual), true, wide},
      {"+ residual", net("[1, 24, 33, 45]", residual), false, wide},
      {"28 wide", net("[1, 24, 33, 28]", "  - {name: conv, op: conv, out: 128, kernel: 3, padding: 1}\n"), false,
       test::direct_at(28)},
      {"96 channels", net("[1, 24, 33, 45]", "  - {name: conv, op: conv, out: 96, kernel: 3, padding: 1}\n"), false,
       test::direct_at(45)},
      {"4 tasks", net("[1, 24, 9, 45]", "  - {name: conv, op: conv, out: 128, kernel: 3, padding: 1}\n"), false,
       test::direct_at(45)},
  };
  for (const Case& c : cases) BOOST_TEST_CONTEXT(c.what) {
      std::string ran;
      BOOST_TEST(conv_error(c.spec, k::kDefaultConvSchedule, c.in_place, &ran) <= 1e-4);
      BOOST_TEST(ran == c.expected);
    }
}

// Under 64 output channels, not whole 32-channel tiles, on outputs 14+ wide, the default runs
// the 16-channel tile (AVX-512; residual adds too). Under 32 channels elsewhere it runs direct
// over a whole 32-channel tile in a scratch buffer and copies the real channels out, and a
// forced register-tiled schedule runs there too: one group, no residual add, outputs 7+ wide.
// Elsewhere, and when simple is forced, simple runs. At AVX2, whose direct tiles are 16
// channels, 16 to 31 output channels run the AVX2 direct default in place (residual adds too),
// and fewer are widened to 32.
BOOST_AUTO_TEST_CASE(the_default_runs_few_output_channels_as_a_whole_tile) {
  struct Case {
    const char* what;
    std::string spec;
    k::ConvSchedule schedule;
    const char* expected;
    int avx2_width = 0;  // where AVX2 runs another: the output's width, whose tile it runs (direct_at)
  };
  k::ConvSchedule simple = k::kDefaultConvSchedule, tiled = k::kDefaultConvSchedule, direct = k::kDefaultConvSchedule;
  for (const auto& [name, schedule] : k::conv_schedules()) {
    if (name == "simple") simple = schedule;
    if (name == "tiled") tiled = schedule;
    if (name == "direct") direct = schedule;
  }
  // AVX-512 only: AVX2 runs its own 16-channel tiles (avx2_width), below it the default keeps the
  // widened 32-channel tile.
  const char* narrow16 = cpu_isa() == CpuIsa::Avx512 ? "direct-c16-p14" : "direct";
  const std::string residual =
      "  - {name: skip, op: conv, out: 16, kernel: 1}\n"
      "  - {name: conv, op: conv, inputs: input, out: 16, kernel: 1}\n"
      "  - {name: add, op: add, inputs: [conv, skip]}\n  - {name: act, op: relu}\n";
  const Case cases[] = {
      {"1x1 to 16 channels, 13 wide", net("[1, 32, 9, 13]", "  - {name: conv, op: conv, out: 16, kernel: 1}\n"),
       k::kDefaultConvSchedule, "direct", 13},
      {"3x3 / 2 to 24 channels, batch 2, + relu6",
       net("[2, 20, 17, 19]",
           "  - {name: conv, op: conv, out: 24, kernel: 3, stride: 2, padding: 1}\n  - {name: act, op: relu6}\n"),
       k::kDefaultConvSchedule, "direct", 10},
      // 14+ wide on AVX-512: the 16-channel tile, in place, its edge tile guarded.
      {"dilation 2 to 16 channels (tap bands), 22 wide",
       net("[1, 8, 21, 22]", "  - {name: conv, op: conv, out: 16, kernel: 3, dilation: 2, padding: 2}\n"),
       k::kDefaultConvSchedule, narrow16},
      {"1x1 to 24 channels, 29 wide, batch 2, + relu6",
       net("[2, 40, 5, 29]", "  - {name: conv, op: conv, out: 24, kernel: 1}\n  - {name: act, op: relu6}\n"),
       k::kDefaultConvSchedule, narrow16},
      {"3x3 to 40 channels, 17 wide, + swish",
       net("[1, 19, 6, 17]",
           "  - {name: conv, op: conv, out: 40, kernel: 3, padding: 1}\n  - {name: act, op: swish}\n"),
       k::kDefaultConvSchedule, narrow16},
      {"3x3 / 2 to 24 channels + residual, 15 wide",
       net("[1, 24, 30, 30]",
           "  - {name: skip, op: conv, out: 24, kernel: 3, stride: 2, padding: 1}\n"
           "  - {name: conv, op: conv, inputs: input, out: 24, kernel: 3, stride: 2, padding: 1}\n"
           "  - {name: add, op: add, inputs: [conv, skip]}\n  - {name: act, op: relu}\n"),
       k::kDefaultConvSchedule, narrow16, 15},
      {"forced simple", net("[1, 32, 9, 13]", "  - {name: conv, op: conv, out: 16, kernel: 1}\n"), simple, "simple"},
      {"forced tiled, 3x3", net("[1, 32, 9, 13]", "  - {name: conv, op: conv, out: 16, kernel: 3, padding: 1}\n"),
       tiled, "tiled"},
      {"+ residual", net("[1, 32, 9, 13]", residual), k::kDefaultConvSchedule, "simple", 13},
      {"6 wide", net("[1, 32, 9, 6]", "  - {name: conv, op: conv, out: 16, kernel: 1}\n"), k::kDefaultConvSchedule,
       "simple", 6},
      {"2 groups of 8", net("[1, 32, 9, 13]", "  - {name: conv, op: conv, out: 16, kernel: 1, groups: 2}\n"),
       k::kDefaultConvSchedule, "simple"},
      {"1 channel, 3x3 / 2, batch 3, 13 wide",
       net("[3, 5, 31, 25]", "  - {name: conv, op: conv, out: 1, kernel: 3, stride: 2, padding: 1}\n"),
       k::kDefaultConvSchedule, "direct", 13},
      {"1 channel, 3x3 / 2, batch 3, 15 wide",
       net("[3, 5, 31, 29]", "  - {name: conv, op: conv, out: 1, kernel: 3, stride: 2, padding: 1}\n"),
       k::kDefaultConvSchedule, narrow16, 15},
      {"forced direct, 16 channels, 20 wide (widened)",
       net("[1, 32, 9, 20]", "  - {name: conv, op: conv, out: 16, kernel: 1}\n"), direct, "direct"},
      // A forced tile runs where its pixels at this ISA fit: 6 at AVX2 (else 7: simple runs).
      {"forced direct, 32 channels, 6 wide", net("[1, 32, 9, 6]", "  - {name: conv, op: conv, out: 32, kernel: 1}\n"),
       direct, "simple", 6},
  };
  for (const Case& c : cases) BOOST_TEST_CONTEXT(c.what) {
      std::string ran;
      BOOST_TEST(conv_error(c.spec, c.schedule, false, &ran) <= 1e-4);
      BOOST_TEST(ran == (cpu_isa() == CpuIsa::Avx2 && c.avx2_width ? test::direct_at(c.avx2_width) : c.expected));
    }
  // Into a channel view: only its channels are written.
  std::string ran;
  BOOST_TEST(conv_error(net("[1, 32, 9, 13]", "  - {name: conv, op: conv, out: 16, kernel: 1}\n"),
                        k::kDefaultConvSchedule, false, &ran, k::DepthwiseSchedule::Default, true) <= 1e-4);
  BOOST_TEST(ran == test::direct_at(13));
}

// Every conv variant the runtime can be told to use (the tuner's candidates), on shapes where
// each applies (run_conv's preconditions; elsewhere the default runs instead).
BOOST_AUTO_TEST_CASE(every_conv_schedule_agrees_with_the_reference) {
  const std::string specs[] = {
      net("[1, 128, 18, 31]", "  - {name: conv, op: conv, out: 67, kernel: 3, stride: [1, 2], padding: 1}\n"),
      net("[1, 64, 20, 33]",
          "  - {name: conv, op: conv, out: 40, kernel: 3, dilation: 3, padding: [2, 1, 3, 0]}\n  - {name: act, op: "
          "relu}\n"),
      net("[2, 64, 14, 15]",
          "  - {name: conv, op: conv, out: 64, kernel: 3, padding: 1, bias: false}\n"
          "  - {name: bn, op: batchnorm}\n  - {name: add, op: add, inputs: [bn, input]}\n"
          "  - {name: act, op: relu}\n"),
      net("[1, 192, 13, 27]",
          "  - {name: conv, op: conv, out: 96, kernel: 1, stride: 2}\n  - {name: act, op: swish}\n"),
      // dilated with wide padding: rows split into bands of valid taps, columns padded
      net("[1, 64, 40, 15]", "  - {name: conv, op: conv, out: 48, kernel: 3, dilation: [12, 1], padding: [12, 1]}\n"),
      // both dimensions split, stride 2, batch 2, a fused residual
      net("[2, 32, 30, 31]",
          "  - {name: conv, op: conv, out: 32, kernel: 3, stride: 2, dilation: 5, padding: 6}\n"
          "  - {name: side, op: conv, inputs: input, out: 32, kernel: 1, stride: 2, padding: 1}\n"
          "  - {name: add, op: add, inputs: [conv, side]}\n  - {name: act, op: relu}\n"),
      // the smallest output every schedule but tiled takes (7x7, as ResNet's last stage)
      net("[1, 96, 7, 7]", "  - {name: conv, op: conv, out: 40, kernel: 3, padding: 1}\n  - {name: act, op: relu6}\n"),
  };
  // Every compiled conv schedule: the hand-written ones, the knob variants, the autoscheduled.
  std::vector<std::pair<k::ConvSchedule, std::string>> schedules;
  for (const auto& [name, schedule] : k::conv_schedules())
    if (name != "default") schedules.emplace_back(schedule, name);
  for (const auto& [schedule, name] : schedules)
    for (size_t i = 0; i < std::size(specs); ++i) BOOST_TEST_CONTEXT(name << " on case " << i) {
        BOOST_TEST(conv_error(specs[i], schedule) <= 1e-4);
      }

  // A residual added in place (output = skip buffer), with widths that leave a partial edge
  // tile, and 40 channels (a partial channel tile: the default runs instead): no schedule may
  // compute an output twice.
  for (int channels : {64, 40}) {
    std::string residual = net("[1, 64, 9, 17]", fmt::format("  - {{name: skip, op: conv, out: {0}, kernel: 1}}\n"
                                                             "  - {{name: conv, op: conv, inputs: input, out: {0}, "
                                                             "kernel: 3, padding: 1}}\n"
                                                             "  - {{name: add, op: add, inputs: [conv, skip]}}\n"
                                                             "  - {{name: act, op: relu}}\n",
                                                             channels));
    for (const auto& [schedule, name] : schedules)
      BOOST_TEST_CONTEXT(name << " in place, " << channels << " channels") {
        BOOST_TEST(conv_error(residual, schedule, true) <= 1e-4);
      }
  }
}

// Winograd F(2x2, 3x3) and F(4x4, 3x3), every compiled knob variant, on shapes where it runs
// (asserted): fewer input channels than a vector, output channels leaving a partial tile,
// widths and heights that are not multiples of m, valid (unpadded) convs as U-Net's, right
// padding smaller than the left, rows shorter than a register tile, batch 2, a residual
// added in place, and dilated convs (run on a mosaic of their sub-grids). Where its
// preconditions fail it hands over to the default.
BOOST_AUTO_TEST_CASE(winograd_runs_on_awkward_shapes_and_agrees_with_the_reference) {
  const std::string runs[] = {
      net("[1, 3, 6, 9]", "  - {name: conv, op: conv, out: 33, kernel: 3}\n  - {name: act, op: relu}\n"),
      net("[1, 5, 11, 13]", "  - {name: conv, op: conv, out: 37, kernel: 3, padding: 1}\n"),
      net("[2, 40, 9, 7]", "  - {name: conv, op: conv, out: 70, kernel: 3, padding: [1, 2, 0, 1]}\n"),
      net("[1, 96, 30, 50]",
          "  - {name: conv, op: conv, out: 64, kernel: 3, bias: false}\n  - {name: bn, op: batchnorm}\n"
          "  - {name: act, op: relu}\n"),
      net("[2, 64, 14, 15]",
          "  - {name: conv, op: conv, out: 64, kernel: 3, padding: 1, bias: false}\n"
          "  - {name: bn, op: batchnorm}\n  - {name: add, op: add, inputs: [bn, input]}\n"
          "  - {name: act, op: relu}\n"),
      // dilated, on a mosaic of the sub-grids (kernels.cpp): even and odd sizes, batch 2; in one
      // row of cells, and in 5 x 5 and 9 x 4 cells of unequal sizes (a row of cells holding
      // sub-grids of two rows of the map)
      net("[1, 32, 40, 40]", "  - {name: conv, op: conv, out: 32, kernel: 3, dilation: 2, padding: 2}\n"),
      net("[2, 40, 26, 25]",
          "  - {name: conv, op: conv, out: 37, kernel: 3, dilation: 3, padding: 3}\n  - {name: act, op: relu}\n"),
      net("[1, 40, 29, 31]", "  - {name: conv, op: conv, out: 33, kernel: 3, dilation: 5, padding: 5}\n"),
      net("[2, 24, 37, 40]",
          "  - {name: conv, op: conv, out: 48, kernel: 3, dilation: 6, padding: 6}\n  - {name: act, op: relu}\n"),
  };
  // Shapes Winograd does not take, and their outputs' widths: among them a dilated conv that
  // fuses a residual add.
  const std::pair<std::string, int> falls_back[] = {
      {net("[1, 32, 20, 20]", "  - {name: conv, op: conv, out: 32, kernel: 3, stride: 2, padding: 1}\n"), 10},
      {net("[1, 32, 40, 40]",
           "  - {name: conv, op: conv, out: 32, kernel: 3, dilation: 2, padding: 2}\n"
           "  - {name: add, op: add, inputs: [conv, input]}\n  - {name: act, op: relu}\n"),
       40},
      {net("[1, 32, 12, 12]", "  - {name: conv, op: conv, out: 32, kernel: 3, padding: [1, 0, 1, 2]}\n"), 11},
      {net("[1, 32, 12, 12]", "  - {name: conv, op: conv, out: 32, kernel: 5, padding: 2}\n"), 12},
  };
  int variants = 0;
  for (const auto& [name, schedule] : k::conv_schedules()) {
    if (name.rfind("winograd-", 0) != 0) continue;
    ++variants;
    for (size_t i = 0; i < std::size(runs); ++i) BOOST_TEST_CONTEXT(name << " on case " << i) {
        std::string ran;
        BOOST_TEST(conv_error(runs[i], schedule, false, &ran) <= 1e-5);
        BOOST_TEST(ran == name);
      }
    BOOST_TEST_CONTEXT(name << " in place") {
      std::string ran;
      BOOST_TEST(conv_error(runs[4], schedule, true, &ran) <= 1e-5);
      BOOST_TEST(ran == name);
    }
    for (size_t i = 0; i < std::size(falls_back); ++i) BOOST_TEST_CONTEXT(name << " on fallback case " << i) {
        std::string ran;
        BOOST_TEST(conv_error(falls_back[i].first, schedule, false, &ran) <= 1e-4);
        BOOST_TEST(ran == test::direct_at(falls_back[i].second));
      }
    // A dilated conv whose sub-grids are 2-3 pixels a side: its mosaic would be twice the
    // output, so it runs direct, its padded taps skipped in bands.
    BOOST_TEST_CONTEXT(name << " on 2-pixel sub-grids") {
      std::string ran;
      BOOST_TEST(conv_error(net("[1, 32, 20, 20]",
                                "  - {name: conv, op: conv, out: 32, kernel: 3, dilation: 8, "
                                "padding: 8}\n"),
                            schedule, false, &ran) <= 1e-4);
      BOOST_TEST(ran.find("winograd") == std::string::npos);
    }
  }
  BOOST_TEST(variants >= 2);  // F(2x2) and F(4x4)
}

// The default picks Winograd F(4x4, 3x3) for 3x3 convs at stride 1 with 64+ input channels
// on maps 13+ wide (bands of tiles from 56 wide, channel tasks below, where it also needs 64+
// outputs), and for dilated ones on a mosaic of their sub-grids, else a direct schedule, and
// agrees with the reference within the bound the Winograd variants are held to.
BOOST_AUTO_TEST_CASE(the_default_picks_winograd_where_it_pays) {
  const std::pair<std::string, std::string> cases[] = {
      {net("[1, 64, 56, 56]",
           "  - {name: conv, op: conv, out: 64, kernel: 3, padding: 1}\n  - {name: act, op: relu}\n"),
       "winograd-m4-rows-t96"},
      {net("[1, 128, 13, 13]", "  - {name: conv, op: conv, out: 96, kernel: 3, padding: 1}\n"),
       "winograd-m4-ch-t48-p8"},
      {net("[1, 96, 30, 29]", "  - {name: conv, op: conv, out: 512, kernel: 3, padding: 1}\n"),
       "winograd-m4-ch-t48-p8"},
      {net("[1, 128, 28, 28]", "  - {name: conv, op: conv, out: 32, kernel: 3, padding: 1}\n"),
       test::direct_at(28)},  // 32 out
      {net("[1, 128, 57, 56]", "  - {name: conv, op: conv, out: 32, kernel: 3, padding: 1}\n"), "winograd-m4-rows-t96"},
      {net("[1, 512, 7, 7]", "  - {name: conv, op: conv, out: 64, kernel: 3, padding: 1}\n"),
       test::direct_at(7)},  // 7 wide
      {net("[1, 48, 28, 28]", "  - {name: conv, op: conv, out: 64, kernel: 3, padding: 1}\n"),
       test::direct_at(28)},  // 48 in
      {net("[1, 64, 28, 28]", "  - {name: conv, op: conv, out: 64, kernel: 3, stride: 2, padding: 1}\n"),
       test::direct_at(14)},
      {net("[1, 64, 28, 28]",
           "  - {name: conv, op: conv, out: 64, kernel: 3, padding: 1}\n  - {name: act, op: relu6}\n"),
       test::direct_at(28)},  // no Winograd variant has the relu6 epilogue
      // dilated 3x3 convs with padding d: on a mosaic of their sub-grids, 207, 36 and 47 wide
      // here (a row of 16 cells, 2 x 2 cells, 5 x 2; bands from 56 wide, channel tasks below)
      {net("[1, 64, 48, 48]",
           "  - {name: conv, op: conv, out: 64, kernel: 3, dilation: 4, padding: 4}\n  - {name: act, op: relu}\n"),
       "winograd-m4-rows-t96"},
      {net("[1, 64, 34, 35]",
           "  - {name: conv, op: conv, out: 64, kernel: 3, dilation: 2, padding: 2}\n  - {name: act, op: relu}\n"),
       "winograd-m4-ch-t48-p8"},
      {net("[2, 96, 26, 25]",
           "  - {name: conv, op: conv, out: 72, kernel: 3, dilation: 3, padding: 3, bias: false}\n"
           "  - {name: bn, op: batchnorm}\n"),
       "winograd-m4-ch-t48-p8"},
  };
  for (const auto& [spec, want] : cases) BOOST_TEST_CONTEXT(spec) {
      std::string ran;
      BOOST_TEST(conv_error(spec, k::kDefaultConvSchedule, false, &ran) <= 1e-5);
      BOOST_TEST(ran == want);
    }
}

BOOST_AUTO_TEST_SUITE_END()
