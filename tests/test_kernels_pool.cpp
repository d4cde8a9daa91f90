// Pooling, resampling and data-movement kernels (runtime/kernels_pool.h) against the
// reference executor on awkward shapes. Tolerances: max pooling, nearest upsampling, pad and
// crop move values and must match exactly; the averaging kernels (fp32 sums against double)
// and bilinear (fp32 weights) within 1e-5 x max(1, max |ref|) (inputs are in [-1, 1]).
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <functional>
#include <limits>

#include "helpers.h"
#include "runtime/kernels_pool.h"

using namespace archbench;
using namespace archbench::test;
namespace k = archbench::kernels;

namespace {

k::Buffer output_for(const Layer& l) {
  return k::Buffer(static_cast<int>(l.output.c), static_cast<int>(l.output.w), static_cast<int>(l.output.h),
                   static_cast<int>(l.output.n));
}

std::string net(const std::string& input, const std::string& layer) {
  return "name: t\ninput: " + input + "\nlayers:\n  - " + layer + "\n";
}

// Runs the spec's last layer through the kernel and the reference executor on a random
// input and returns the relative error.
double op_error(const std::string& spec, uint64_t seed = 11) {
  Graph g = load_text(spec);
  Tensor x = random_tensor(g.input().output, seed);
  auto ref = run_reference(g, init_weights(g, 7), x);
  const Layer& l = g.layers.back();
  k::Buffer in = k::to_halide(x), out = output_for(l);
  switch (l.op) {
    case OpKind::MaxPool:
    case OpKind::AvgPool:
      k::run_pool(std::get<PoolAttrs>(l.attrs), l.op == OpKind::MaxPool, in, out);
      break;
    case OpKind::GlobalAvgPool:
      k::run_global_avgpool(in, out);
      break;
    case OpKind::AdaptiveAvgPool:
      k::run_adaptive_avgpool(in, out);
      break;
    case OpKind::Upsample:
      k::run_upsample(std::get<UpsampleAttrs>(l.attrs), in, out);
      break;
    case OpKind::Pad:
      k::run_pad(std::get<PadAttrs>(l.attrs), in, out);
      break;
    case OpKind::Crop:
      k::run_crop(std::get<CropAttrs>(l.attrs), in, out);
      break;
    default:
      BOOST_FAIL("no kernel for op " + op_name(l.op));
  }
  return relative_error(k::to_nchw(out), ref.at(l.name));
}

struct Case {
  std::string what, spec;
};

void check_cases(const std::vector<Case>& cases, double tolerance) {
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) { BOOST_TEST(op_error(c.spec) <= tolerance); }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kernels_pool)

BOOST_AUTO_TEST_CASE(maxpool_matches_exactly) {
  check_cases(
      {
          {"3x3/2 pad 1 on 112 (ResNet stem), 20 channels",
           net("[1, 20, 112, 112]", "{name: p, op: maxpool, kernel: 3, stride: 2, padding: 1}")},
          {"3x3/2 ceil_mode on 112, no padding",
           net("[1, 20, 112, 112]", "{name: p, op: maxpool, kernel: 3, stride: 2, ceil_mode: true}")},
          {"3x3/2 ceil_mode pad 1 on 112 (last window starts in the input)",
           net("[1, 3, 112, 112]", "{name: p, op: maxpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true}")},
          {"3x3/2 ceil_mode on odd 13x15, 37 channels, batch 3",
           net("[3, 37, 13, 15]", "{name: p, op: maxpool, kernel: 3, stride: 2, ceil_mode: true}")},
          {"3x3/2 ceil_mode pad 1 on 14x9 (the dropped window rule)",
           net("[2, 20, 14, 9]", "{name: p, op: maxpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true}")},
          {"2x2/2 on odd 9x11, 37 channels", net("[1, 37, 9, 11]", "{name: p, op: maxpool, kernel: 2, stride: 2}")},
          {"2x2/2 ceil_mode on odd 9x11, batch 3",
           net("[3, 20, 9, 11]", "{name: p, op: maxpool, kernel: 2, stride: 2, ceil_mode: true}")},
          {"3x3/1 pad 1 (Inception branch), 3 channels",
           net("[2, 3, 10, 7]", "{name: p, op: maxpool, kernel: 3, stride: 1, padding: 1}")},
          {"dilation 2, pad 1",
           net("[1, 20, 17, 12]", "{name: p, op: maxpool, kernel: 3, stride: 2, dilation: 2, padding: 1}")},
          {"kernel [2, 3] stride [1, 2] asymmetric padding",
           net("[2, 37, 8, 11]", "{name: p, op: maxpool, kernel: [2, 3], stride: [1, 2], padding: [1, 0, 0, 1]}")},
          {"1x1 spatial, 3x3 pad 1", net("[3, 20, 1, 1]", "{name: p, op: maxpool, kernel: 3, stride: 2, padding: 1}")},
          {"5x5/3 ceil_mode pad 2",
           net("[1, 37, 16, 19]", "{name: p, op: maxpool, kernel: 5, stride: 3, padding: 2, ceil_mode: true}")},
          {"3x3/2 ceil_mode on 2x3 (the window longer than the input)",
           net("[2, 20, 2, 3]", "{name: p, op: maxpool, kernel: 3, stride: 2, ceil_mode: true}")},
      },
      0.0);
}

BOOST_AUTO_TEST_CASE(maxpool_of_negative_values_ignores_padding) {
  // All inputs below 0: a padded tap (0 in a zero-padded kernel) must never win.
  Graph g = load_text(net("[1, 20, 7, 7]", "{name: p, op: maxpool, kernel: 3, stride: 2, padding: 1}"));
  Tensor x = random_tensor(g.input().output, 5);
  for (float& v : x.data) v = -2.0f - std::abs(v);
  k::Buffer in = k::to_halide(x), out = output_for(g.layers.back());
  k::run_pool(std::get<PoolAttrs>(g.layers.back().attrs), true, in, out);
  BOOST_TEST(relative_error(k::to_nchw(out), run_reference(g, {}, x).at("p")) == 0.0);
}

BOOST_AUTO_TEST_CASE(avgpool_both_count_include_pad_rules) {
  std::vector<Case> cases;
  for (std::string include : {"true", "false"}) {
    auto add = [&](const std::string& what, const std::string& input, const std::string& layer) {
      cases.push_back(
          {what + ", count_include_pad " + include, net(input, layer + ", count_include_pad: " + include + "}")});
    };
    add("3x3/2 pad 1 ceil_mode on 112", "[1, 20, 112, 112]",
        "{name: p, op: avgpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true");
    add("3x3/2 ceil_mode on odd 13x15, batch 3", "[3, 37, 13, 15]",
        "{name: p, op: avgpool, kernel: 3, stride: 2, ceil_mode: true");
    add("3x3/1 pad 1 (Inception pool branch), 3 channels", "[2, 3, 10, 7]",
        "{name: p, op: avgpool, kernel: 3, stride: 1, padding: 1");
    add("3x3/2 ceil_mode on even 14x10 (the last window hangs past the input), batch 3", "[3, 20, 14, 10]",
        "{name: p, op: avgpool, kernel: 3, stride: 2, ceil_mode: true");
    add("2x2/2 ceil_mode pad 1 on 10x7 (a window starting in the padding is dropped)", "[1, 20, 10, 7]",
        "{name: p, op: avgpool, kernel: 2, stride: 2, padding: 1, ceil_mode: true");
    add("kernel [3, 2] asymmetric padding", "[2, 37, 9, 8]",
        "{name: p, op: avgpool, kernel: [3, 2], stride: [2, 1], padding: [1, 0, 0, 1]");
    add("4x4/3 pad 1 ceil_mode on 2x3 (the window longer than the padded input)", "[2, 20, 2, 3]",
        "{name: p, op: avgpool, kernel: 4, stride: 3, padding: 1, ceil_mode: true");
    add("5x5/3 pad 2 ceil_mode on 17x20 (windows hang past the padded input)", "[1, 20, 17, 20]",
        "{name: p, op: avgpool, kernel: 5, stride: 3, padding: 2, ceil_mode: true");
    add("1x1 spatial, 3x3 pad 1", "[3, 20, 1, 1]", "{name: p, op: avgpool, kernel: 3, stride: 2, padding: 1");
  }
  check_cases(cases, 1e-5);
}

BOOST_AUTO_TEST_CASE(global_and_adaptive_avgpool) {
  check_cases(
      {
          {"global 7x7, 37 channels, batch 3", net("[3, 37, 7, 7]", "{name: p, op: global_avgpool}")},
          {"global 1x1", net("[2, 20, 1, 1]", "{name: p, op: global_avgpool}")},
          {"global 13x6, 3 channels", net("[1, 3, 13, 6]", "{name: p, op: global_avgpool}")},
          // Rows in 16 bands (schedules/pool.cpp): 17 and 33 rows leave bands partly or wholly
          // empty; 145 channels end in a part vector.
          {"global 5x17, 145 channels, batch 2", net("[2, 145, 17, 5]", "{name: p, op: global_avgpool}")},
          {"global 33x1, 16 channels", net("[1, 16, 33, 1]", "{name: p, op: global_avgpool}")},
          {"global 56x56, 144 channels (EfficientNet)", net("[1, 144, 56, 56]", "{name: p, op: global_avgpool}")},
          {"adaptive 9 -> 1 (global)", net("[2, 37, 9, 9]", "{name: p, op: adaptive_avgpool, output: 1}")},
          {"adaptive 7 -> 3", net("[2, 20, 7, 7]", "{name: p, op: adaptive_avgpool, output: 3}")},
          {"adaptive 5 -> 2", net("[1, 37, 5, 5]", "{name: p, op: adaptive_avgpool, output: 2}")},
          {"adaptive 13 -> 6 (AlexNet), batch 3", net("[3, 20, 13, 13]", "{name: p, op: adaptive_avgpool, output: 6}")},
          {"adaptive 13x5 -> [6, 2]", net("[1, 3, 13, 5]", "{name: p, op: adaptive_avgpool, output: [6, 2]}")},
          {"adaptive 3 -> 5 (windows overlap)", net("[1, 20, 3, 3]", "{name: p, op: adaptive_avgpool, output: 5}")},
          {"adaptive 7 -> 7 (identity)", net("[1, 37, 7, 7]", "{name: p, op: adaptive_avgpool, output: 7}")},
      },
      1e-5);
}

BOOST_AUTO_TEST_CASE(upsample_nearest_matches_exactly) {
  check_cases(
      {
          {"scale 2, 37 channels, batch 3", net("[3, 37, 5, 7]", "{name: u, op: upsample, scale: 2}")},
          {"size 7 -> 12", net("[1, 20, 7, 7]", "{name: u, op: upsample, size: [12, 12]}")},
          {"size 7x5 -> 12x13", net("[2, 3, 7, 5]", "{name: u, op: upsample, size: [12, 13]}")},
          {"scale 1.7 on 4x9 (src uses 1 / 1.7, not in / out)",
           net("[1, 20, 4, 9]", "{name: u, op: upsample, scale: 1.7}")},
          {"scale [3, 0.5]", net("[1, 20, 4, 9]", "{name: u, op: upsample, scale: [3, 0.5]}")},
          {"size 13 -> 5 (downscale)", net("[1, 37, 13, 13]", "{name: u, op: upsample, size: [5, 5]}")},
          {"1x1 -> 4x3", net("[2, 20, 1, 1]", "{name: u, op: upsample, size: [4, 3]}")},
      },
      0.0);
}

BOOST_AUTO_TEST_CASE(upsample_bilinear_both_align_corners) {
  std::vector<Case> cases;
  for (std::string align : {"true", "false"}) {
    auto add = [&](const std::string& what, const std::string& input, const std::string& size) {
      cases.push_back(
          {what + ", align_corners " + align,
           net(input, "{name: u, op: upsample, mode: bilinear, align_corners: " + align + ", " + size + "}")});
    };
    add("5 -> 13, 37 channels, batch 3", "[3, 37, 5, 5]", "size: [13, 13]");
    add("13 -> 5 (downscale)", "[1, 20, 13, 13]", "size: [5, 5]");
    add("7x5 -> 12x13, 3 channels", "[2, 3, 7, 5]", "size: [12, 13]");
    add("scale 2", "[1, 20, 6, 9]", "scale: 2");
    add("scale 1.7", "[1, 20, 6, 9]", "scale: 1.7");
    add("1x1 -> 3x4", "[1, 20, 1, 1]", "size: [3, 4]");
    add("same size", "[1, 20, 6, 9]", "size: [6, 9]");
  }
  check_cases(cases, 1e-5);
}

BOOST_AUTO_TEST_CASE(pad_and_crop_copy_exactly) {
  check_cases(
      {
          {"pad asymmetric [1, 2, 3, 0] value 0.5, 37 channels, batch 3",
           net("[3, 37, 5, 7]", "{name: p, op: pad, padding: [1, 2, 3, 0], value: 0.5}")},
          {"pad 1 value 0, 3 channels", net("[1, 3, 6, 6]", "{name: p, op: pad, padding: 1}")},
          {"pad 1x1 spatial", net("[2, 20, 1, 1]", "{name: p, op: pad, padding: [0, 3, 2, 1], value: -1}")},
          {"crop copy with offset", net("[2, 37, 11, 13]", "{name: c, op: crop, size: [5, 7], offset: [3, 4]}")},
          {"crop copy centred", net("[1, 20, 12, 9]", "{name: c, op: crop, size: [7, 4], center: true}")},
      },
      0.0);
}

BOOST_AUTO_TEST_CASE(crop_is_a_view_without_a_copy) {
  Graph g = load_text(net("[3, 20, 11, 13]", "{name: c, op: crop, size: [5, 7], offset: [3, 4]}"));
  Tensor x = random_tensor(g.input().output, 3);
  k::Buffer in = k::to_halide(x);
  const auto& attrs = std::get<CropAttrs>(g.layers.back().attrs);
  k::Buffer view = k::crop_view(attrs, in);
  BOOST_TEST(view.dim(1).extent() == 7);
  BOOST_TEST(view.dim(2).extent() == 5);
  BOOST_TEST(view.dim(1).min() == 0);
  BOOST_TEST(view.data() == &in(0, 4, 3, 0));  // the input's memory
  BOOST_TEST(relative_error(k::to_nchw(view), run_reference(g, {}, x).at("c")) == 0.0);
  // A kernel reads the strided view: pad it by one pixel and compare with the crop padded.
  PadAttrs pad{1, 1, 1, 1, 0.25};
  k::Buffer padded(20, 9, 7, 3);
  k::run_pad(pad, view, padded);
  Tensor want = run_reference(g, {}, x).at("c");
  Tensor got = k::to_nchw(padded);
  double err = 0;
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 20; ++c)
      for (int64_t y = 0; y < 7; ++y)
        for (int64_t xx = 0; xx < 9; ++xx) {
          bool inside = y >= 1 && y <= 5 && xx >= 1 && xx <= 7;
          float w = inside ? want.at(n, c, y - 1, xx - 1) : 0.25f;
          err = std::max(err, static_cast<double>(std::abs(got.at(n, c, y, xx) - w)));
        }
  BOOST_TEST(err == 0.0);
}

BOOST_AUTO_TEST_CASE(shapes_that_do_not_fit_are_errors) {
  Graph g = load_text(net("[1, 20, 9, 9]", "{name: p, op: maxpool, kernel: 3, stride: 2}"));
  k::Buffer in(20, 9, 9, 1), wrong(20, 5, 4, 1), channels(21, 4, 4, 1);
  const auto& attrs = std::get<PoolAttrs>(g.layers.back().attrs);
  BOOST_CHECK_THROW(k::run_pool(attrs, true, in, wrong), RuntimeError);
  BOOST_CHECK_THROW(k::run_pool(attrs, true, in, channels), RuntimeError);
  BOOST_CHECK_THROW(k::crop_view(CropAttrs{5, 0, 5, 5, false}, in), RuntimeError);
  k::Buffer padded(20, 10, 10, 1);
  BOOST_CHECK_THROW(k::run_pad(PadAttrs{1, 1, 1, 1, 0.0}, in, padded), RuntimeError);
}

BOOST_AUTO_TEST_SUITE_END()
