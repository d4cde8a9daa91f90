// The analyzer's lints (analysis/lint.h): exact messages, where they fire and where not, and
// the input sizes at which U-Net drops nothing.
#include <boost/test/unit_test.hpp>

#include "analysis/lint.h"
#include "helpers.h"
#include "reports/reports.h"

using namespace archbench;
using namespace archbench::test;

namespace {

// The warnings' lines, with the tests folder's path left out.
std::vector<std::string> texts(const std::vector<LintWarning>& ws) {
  const std::string dir = test_dir().string() + "/";
  std::vector<std::string> out;
  for (const LintWarning& w : ws) {
    std::string t = warning_text(w);
    if (t.rfind(dir, 0) == 0) t.erase(0, dir.size());
    out.push_back(t);
  }
  return out;
}

Graph unet_at(int64_t size) {
  LoadOptions o;
  o.input = Shape{1, 1, size, size};
  return load_spec(zoo_dir() / "unet.yaml", o);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lint_suite)

BOOST_AUTO_TEST_CASE(uneven_transposed_convs_are_named_with_their_phase_counts) {
  Graph g = load_text(R"(name: up
input: [1, 4, 8, 8]
layers:
  - {name: k3s2, op: conv_transpose, out: 4, kernel: 3, stride: 2, padding: 1}
  - {name: k4s2, op: conv_transpose, inputs: input, out: 4, kernel: 4, stride: 2, padding: 1}
  - {name: k4s2d2, op: conv_transpose, inputs: input, out: 4, kernel: [2, 4], stride: 2, dilation: [1, 2]}
  - {name: k2s2, op: conv_transpose, inputs: input, out: 4, kernel: 2, stride: 2}
)");
  const std::vector<std::string> want = {
      "inline.yaml:4:5: warning: layer 'k3s2': transposed conv with kernel 3x3 and stride 2x2 overlaps unevenly: its "
      "output phases receive along height 1, 2 and along width 1, 2 taps (the checkerboard pattern, Odena et al. "
      "2016); an upsample followed by a conv gives every output pixel the same number of taps",
      "inline.yaml:6:5: warning: layer 'k4s2d2': transposed conv with kernel 2x4 and stride 2x2 overlaps unevenly: "
      "its output phases receive along width 4, 0 taps (the checkerboard pattern, Odena et al. 2016); an upsample "
      "followed by a conv gives every output pixel the same number of taps"};
  std::vector<LintWarning> ws = lint(g);
  BOOST_TEST(texts(ws) == want, boost::test_tools::per_element());
  BOOST_TEST(ws.front().kind == "checkerboard");
}

BOOST_AUTO_TEST_CASE(unet_at_an_odd_level_size_names_the_pools_and_the_nearest_sizes) {
  // At 570 the pools after the second, third and fourth levels see 279, 135 and 63 rows (at
  // 572: 280, 136, 64). 556 and 572 are the nearest sizes without drops.
  std::vector<LintWarning> ws = lint(unet_at(570));
  BOOST_TEST_REQUIRE(ws.size() == 3u);
  const std::string at = (zoo_dir() / "common/segmentation.yaml").string() + ":78:9: warning: layer ";
  BOOST_TEST(warning_text(ws[0]) ==
             at + "'encoder.2.pool': stride-2 maxpool drops the last row of its 279 input rows and the last column "
                  "of its 279 input columns before 'decoder.0.concat' merges this level with an upsampled path; the "
                  "nearest input sizes without such drops: 556 and 572");
  BOOST_TEST(ws[1].layer == "encoder.3.pool");
  BOOST_TEST(ws[2].layer == "encoder.4.pool");
  BOOST_TEST(ws[0].kind == "odd_size");
  BOOST_TEST(lint(unet_at(572)).empty());
  // In every format: JSON's warnings array, the table's closing lines.
  Graph g = unet_at(570);
  NetworkAnalysis a = analyse(g);
  auto j = nlohmann::json::parse(render_analysis(g, a, Format::Json, ws));
  BOOST_TEST(j["warnings"].size() == 3u);
  BOOST_TEST(j["warnings"][0]["layer"] == "encoder.2.pool");
  BOOST_TEST(j["warnings"][0]["kind"] == "odd_size");
  BOOST_TEST(j["warnings"][0]["line"] == 78);
  BOOST_TEST(render_analysis(g, a, Format::Table, ws).find(warning_text(ws[2]) + "\n") != std::string::npos);
  BOOST_TEST(render_analysis(g, a, Format::Markdown, ws).find("- " + warning_text(ws[0])) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unet_valid_sizes_are_every_16th) {
  ValidSizes v = valid_input_sizes(zoo_dir() / "unet.yaml", {}, 530, 610);
  BOOST_TEST(v.square);
  BOOST_TEST(v.heights == (std::vector<int64_t>{540, 556, 572, 588, 604}), boost::test_tools::per_element());
  BOOST_TEST(sizes_text(v.heights) == "540, 556, 572, 588, 604");
  BOOST_TEST(sizes_text({1, 2, 3, 4, 9, 11, 12}) == "1-4, 9, 11, 12");
}

BOOST_AUTO_TEST_CASE(only_drops_before_a_merge_with_an_upsampled_path_count) {
  // The same odd pool: alone (no merge), and before a skip fusion with an upsampled path.
  // Ceil mode and windows narrower than their stride (1x1 stride 2) drop nothing to warn of.
  const std::string head =
      "name: skip\ninput: [1, 3, 9, 9]\nlayers:\n"
      "  - {name: pool, op: maxpool, kernel: 2}\n";
  BOOST_TEST(lint(load_text(head)).empty());
  const std::string fused = head +
                            "  - {name: up, op: upsample, scale: 2}\n"
                            "  - {name: low, op: conv, inputs: input, out: 3, kernel: 1}\n"
                            "  - {name: crop, op: crop, inputs: [low, up]}\n"
                            "  - {name: fuse, op: add, inputs: [crop, up]}\n";
  std::vector<LintWarning> ws = lint(load_text(fused));
  BOOST_TEST(texts(ws) == std::vector<std::string>{"inline.yaml:4:5: warning: layer 'pool': stride-2 maxpool drops "
                                                   "the last row of its 9 input rows and the last column of its 9 "
                                                   "input columns before 'fuse' merges this level with an upsampled "
                                                   "path"},
             boost::test_tools::per_element());
  std::string ceil = fused;
  ceil.replace(ceil.find("kernel: 2}"), 10, "kernel: 2, ceil_mode: true}");
  BOOST_TEST(lint(load_text(ceil.replace(ceil.find("scale: 2"), 8, "size: [8, 8]"))).empty());
  std::string strided = fused;
  strided.replace(strided.find("op: maxpool, kernel: 2"), 22, "op: conv, out: 3, kernel: 1, stride: 2");
  strided.replace(strided.find("scale: 2"), 8, "size: [8, 8]");
  BOOST_TEST(lint(load_text(strided)).empty());
}

BOOST_AUTO_TEST_SUITE_END()
