#include <boost/test/unit_test.hpp>

#include "analysis/analysis.h"
#include "helpers.h"
#include "reports/reports.h"

using namespace archbench;
using namespace archbench::test;

namespace {
struct Expect {
  const char* layer;
  int64_t size, stride, padding;
};

// VGG-16's feature extractor written out, independent of the zoo spec.
const char* kVgg16 = R"(
name: vgg16_features
input: [1, 3, 224, 224]
blocks:
  stage:
    params: {n: ~, c: ~, s: ~}
    layers:
      - {block: conv, repeat: $n, name: "conv${s}_${i + 1}", args: {c: $c}}
      - {name: "pool${s}", op: maxpool, kernel: 2, stride: 2}
  conv:
    params: {c: ~}
    layers:
      - {name: conv, op: conv, out: $c, kernel: 3, padding: 1}
      - {name: relu, op: relu}
layers:
  - {block: stage, args: {n: 2, c: 64, s: 1}}
  - {block: stage, args: {n: 2, c: 128, s: 2}}
  - {block: stage, args: {n: 3, c: 256, s: 3}}
  - {block: stage, args: {n: 3, c: 512, s: 4}}
  - {block: stage, args: {n: 3, c: 512, s: 5}}
)";

ReceptiveField rf_of(const Graph& g, const std::string& name) { return receptive_fields(g)[g.find(name)]; }
}  // namespace

BOOST_AUTO_TEST_SUITE(receptive_field)

BOOST_AUTO_TEST_CASE(deformable_fields_are_nominal_and_flagged) {
  // A 3x3 deformable conv reads, for zero offsets, what a 3x3 conv reads; every layer from it
  // on is flagged. offset_bound b widens its window by b on each side (2b in input pixels;
  // 2b x 2 after the stride-2 stem).
  const char* spec = R"(
name: dcn
input: [1, 3, 32, 32]
layers:
  - {name: stem, op: conv, out: 8, kernel: 3, stride: 2, padding: 1}
  - {name: off, op: conv, out: 18, kernel: 3, padding: 1}
  - {name: dc, op: deform_conv, inputs: [stem, off], out: 8, kernel: 3, padding: 1}
  - {name: off_b, op: conv, inputs: stem, out: 18, kernel: 3, padding: 1}
  - {name: dc_bound, op: deform_conv, inputs: [stem, off_b], out: 8, kernel: 3, padding: 1, offset_bound: 4}
  - {name: plain, op: conv, inputs: stem, out: 8, kernel: 3, padding: 1}
  - {name: after, op: relu, inputs: dc}
)";
  Graph g = load_text(spec);
  const ReceptiveField plain = rf_of(g, "plain"), dc = rf_of(g, "dc"), bound = rf_of(g, "dc_bound");
  BOOST_TEST(dc.h.size == plain.h.size);
  BOOST_TEST(dc.h.size == Rational(7));
  BOOST_TEST(dc.data_dependent);
  BOOST_TEST(!plain.data_dependent);
  BOOST_TEST(!rf_of(g, "off").data_dependent);
  BOOST_TEST(rf_of(g, "after").data_dependent);
  BOOST_TEST(bound.h.size == Rational(7 + 2 * 4 * 2));
  BOOST_TEST(bound.h.padding == plain.h.padding + Rational(4 * 2));
  BOOST_TEST(bound.w.stride == Rational(2));
  // Every format says so: '~' before the size in the tables, data_dependent in JSON.
  NetworkAnalysis a = analyse(g);
  const std::string table = render_analysis(g, a, Format::Table);
  BOOST_TEST(table.find("~7 ") != std::string::npos);
  BOOST_TEST(table.find("~23 ") != std::string::npos);
  BOOST_TEST(render_analysis(g, a, Format::Csv).find(",~7,") != std::string::npos);
  auto j = analysis_json(g, a);
  BOOST_TEST(j["layers"][2]["receptive_field"]["data_dependent"] == true);
  BOOST_TEST(!j["layers"][0]["receptive_field"].contains("data_dependent"));  // only where true
  // The sampling: 8 channels x 9 taps x 16 x 16 pixels, 4 gathers each; FLOPs 7 per sample and
  // 12 per tap and pixel, added to the conv's 2 x MACs + bias.
  BOOST_TEST(j["layers"][2]["sampling"]["samples"] == 8 * 9 * 256);
  BOOST_TEST(j["layers"][2]["sampling"]["gathers"] == 4 * 8 * 9 * 256);
  BOOST_TEST(j["layers"][2]["sampling"]["flops"] == 7 * 8 * 9 * 256 + 12 * 9 * 256);
  BOOST_TEST(j["layers"][2]["flops"] == 2 * (8 * 256 * 8 * 9) + 8 * 256 + 7 * 8 * 9 * 256 + 12 * 9 * 256);
  BOOST_TEST(j["layers"][2]["macs"] == j["layers"][5]["macs"]);
}

BOOST_AUTO_TEST_CASE(vgg16_matches_the_published_table_layer_by_layer) {
  // ../shared/reference/published-numbers.md: r / S / P after each layer.
  const Expect table[] = {{"conv1_1.conv", 3, 1, 1},     {"conv1_2.conv", 5, 1, 2},     {"pool1", 6, 2, 2},
                          {"conv2_1.conv", 10, 2, 4},    {"conv2_2.conv", 14, 2, 6},    {"pool2", 16, 4, 6},
                          {"conv3_1.conv", 24, 4, 10},   {"conv3_2.conv", 32, 4, 14},   {"conv3_3.conv", 40, 4, 18},
                          {"pool3", 44, 8, 18},          {"conv4_1.conv", 60, 8, 26},   {"conv4_2.conv", 76, 8, 34},
                          {"conv4_3.conv", 92, 8, 42},   {"pool4", 100, 16, 42},        {"conv5_1.conv", 132, 16, 58},
                          {"conv5_2.conv", 164, 16, 74}, {"conv5_3.conv", 196, 16, 90}, {"pool5", 212, 32, 90}};
  Graph g = load_text(kVgg16);
  auto rf = receptive_fields(g);
  for (const Expect& e : table) {
    BOOST_TEST_CONTEXT(e.layer) {
      const ReceptiveField& f = rf[g.find(e.layer)];
      BOOST_TEST(f.h.size == Rational(e.size));
      BOOST_TEST(f.h.stride == Rational(e.stride));
      BOOST_TEST(f.h.padding == Rational(e.padding));
      BOOST_TEST(f.w.size == Rational(e.size));
      BOOST_TEST(f.aligned);
    }
  }
}

BOOST_AUTO_TEST_CASE(dilation_widens_the_kernel) {
  Graph g = load_text(R"(
name: atrous
input: [1, 8, 65, 65]
layers:
  - {name: d2, op: conv, out: 8, kernel: 3, dilation: 2, padding: 2}
  - {name: d6, op: conv, out: 8, kernel: 3, dilation: 6, padding: 6}
  - {name: d18, op: conv, out: 8, kernel: 3, dilation: [18, 1], padding: [18, 1]}
)");
  BOOST_TEST(rf_of(g, "d2").h.size == Rational(5));
  BOOST_TEST(rf_of(g, "d6").h.size == Rational(17));   // + 2*6
  BOOST_TEST(rf_of(g, "d18").h.size == Rational(53));  // + 2*18
  BOOST_TEST(rf_of(g, "d18").w.size == Rational(19));  // widths: 5, 17, then + 2 (dilation 1)
  BOOST_TEST(rf_of(g, "d18").h.padding == Rational(26));
}

BOOST_AUTO_TEST_CASE(merges_take_the_widest_path_not_the_first) {
  // An inception-like module: a walk along each layer's first input sees only the 1x1 branch.
  Graph g = load_text(R"(
name: branches
input: [1, 8, 32, 32]
layers:
  - {name: b1, op: conv, out: 4, kernel: 1}
  - {name: b2a, op: conv, inputs: input, out: 4, kernel: 3, padding: 1}
  - {name: b2b, op: conv, out: 4, kernel: 3, padding: 1}
  - {name: b3, op: maxpool, inputs: input, kernel: 3, stride: 1, padding: 1}
  - {name: b3p, op: conv, out: 4, kernel: 1}
  - {name: cat, op: concat, inputs: [b1, b2b, b3p]}
  - {name: after, op: conv, out: 4, kernel: 3, padding: 1}
)");
  BOOST_TEST(rf_of(g, "cat").h.size == Rational(5));
  BOOST_TEST(rf_of(g, "cat").h.padding == Rational(2));
  BOOST_TEST(rf_of(g, "cat").aligned);
  BOOST_TEST(rf_of(g, "after").h.size == Rational(7));
}

BOOST_AUTO_TEST_CASE(unaligned_merges_are_reported) {
  Graph g = load_text(R"(
name: skew
input: [1, 4, 8, 8]
layers:
  - {name: even, op: conv, out: 4, kernel: 2, padding: [0, 0, 1, 1]}
  - {name: sum, op: add, inputs: [even, input]}
  - {name: strided, op: conv, inputs: input, out: 4, kernel: 1, stride: 2}
  - {name: pooled, op: maxpool, inputs: input, kernel: 2}
  - {name: same_stride, op: add, inputs: [strided, pooled]}
)");
  ReceptiveField sum = rf_of(g, "sum");
  BOOST_TEST(!sum.aligned);  // centres 1/2 and 0
  BOOST_TEST(sum.h.size == Rational(2));
  BOOST_TEST(sum.h.padding == Rational(0));
  ReceptiveField s2 = rf_of(g, "same_stride");
  BOOST_TEST(!s2.aligned);  // both stride 2, centres 0 and 1/2
  BOOST_TEST(s2.h.size == Rational(2));
  BOOST_TEST(s2.h.stride == Rational(2));
  // The table marks the unaligned merge; JSON carries the flag.
  NetworkAnalysis a = analyse(g);
  BOOST_TEST(analysis_json(g, a)["layers"][1]["receptive_field"]["aligned"] == false);
  BOOST_TEST(render_analysis(g, a, Format::Table).find("add !") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(upsampling_makes_the_stride_fractional_and_exact) {
  Graph g = load_text(R"(
name: up
input: [1, 4, 32, 32]
layers:
  - {name: down, op: conv, out: 4, kernel: 3, stride: 2, padding: 1}
  - {name: up, op: conv_transpose, out: 4, kernel: 4, stride: 2, padding: 1}
  - {name: up4, op: upsample, scale: 4, mode: nearest}
)");
  ReceptiveField up = rf_of(g, "up");
  BOOST_TEST(up.h.stride == Rational(1));
  BOOST_TEST(up.h.size == Rational(6));  // 3 + (4-1)/2 * 2
  BOOST_TEST(up.h.padding == Rational(3));
  ReceptiveField up4 = rf_of(g, "up4");
  BOOST_TEST(up4.h.stride == Rational(1, 4));
  BOOST_TEST(up4.h.size == Rational(6));
  BOOST_TEST(up4.h.padding == Rational(27, 8));  // centre kept: sample at (x + 1/2)/4 - 1/2
  nlohmann::ordered_json j = analysis_json(g, analyse(g));
  BOOST_TEST(j["layers"][2]["receptive_field"]["stride"][0].get<double>() == 0.25);
}

BOOST_AUTO_TEST_SUITE_END()
