// SVG charts: marks, axes and escaping.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <regex>
#include <string>
#include <vector>

#include "reports/charts.h"

using namespace archbench;

namespace {

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t i = s.find(needle); i != std::string::npos; i = s.find(needle, i + needle.size())) ++n;
  return n;
}

std::string attribute(const std::string& svg, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(svg, m, std::regex(" " + name + "=\"([^\"]*)\""))) return "(missing)";
  return m[1];
}

// The text of every <text class="CLASS" ...>TEXT</text>, in document order.
std::vector<std::string> texts(const std::string& svg, const std::string& cls) {
  std::vector<std::string> out;
  const std::regex re("<text class=\"" + cls + "\"[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

// Marks whose attributes include `paint`.
long marks_painted(const std::string& svg, const std::string& paint) {
  const std::regex re("class=\"mark\"[^>]* " + paint);
  return std::distance(std::sregex_iterator(svg.begin(), svg.end(), re), std::sregex_iterator());
}

// Well-formed enough for our output: one <svg> root, every start tag closed in order or self-closed, quotes paired
// inside tags, every '&' starting one of the five entities, no '<' or '>' left raw in text.
std::string xml_problem(const std::string& s) {
  std::vector<std::string> open;
  size_t roots = 0, i = 0;
  while (i < s.size()) {
    if (s[i] == '>') return "raw '>' in text at " + std::to_string(i);
    if (s[i] == '&') {
      static const std::regex entity("^&(amp|lt|gt|quot|apos);");
      if (!std::regex_search(s.substr(i, 8), entity)) return "bare '&' at " + std::to_string(i);
    }
    if (s[i] != '<') {
      if (open.empty() && s[i] != '\n') return "text outside the root at " + std::to_string(i);
      ++i;
      continue;
    }
    const size_t end = s.find('>', i);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
    const std::string tag = s.substr(i + 1, end - i - 1);
    if (tag.empty() || tag.find('<') != std::string::npos) return "bad tag at " + std::to_string(i);
    if (count(tag, "\"") % 2 != 0) return "unpaired quote in <" + tag + ">";
    const std::string name = tag.substr(tag[0] == '/' ? 1 : 0, tag.find_first_of(" /", 1) - (tag[0] == '/' ? 1 : 0));
    if (tag[0] == '/') {
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes " + (open.empty() ? "nothing" : open.back());
      open.pop_back();
    } else {
      if (open.empty() && ++roots > 1) return "second root <" + name + ">";
      if (open.empty() && name != "svg") return "root is <" + name + ">";
      if (tag.back() != '/') open.push_back(name);
    }
    i = end + 1;
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return roots == 1 ? "" : "no root";
}

// What every chart must satisfy: well-formed, one mark per data-marks, a tooltip on each mark, nothing external.
void check_chart(const std::string& svg, size_t marks) {
  BOOST_TEST(xml_problem(svg) == "");
  BOOST_TEST(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=", 0) == 0);
  BOOST_TEST(attribute(svg, "data-marks") == std::to_string(marks));
  BOOST_TEST(count(svg, "class=\"mark\"") == marks);
  const std::regex with_tooltip("class=\"mark\"[^>]*><title>[^<]+</title>");
  BOOST_TEST(static_cast<size_t>(std::distance(std::sregex_iterator(svg.begin(), svg.end(), with_tooltip),
                                               std::sregex_iterator())) == marks);
  for (const char* external : {"<script", "href", "url(", "@import", "<style"}) {
    BOOST_TEST(svg.find(external) == std::string::npos, "found " << external);
  }
  // No coordinate or number went through NaN or infinity.
  BOOST_TEST(!std::regex_search(svg, std::regex("(=\"|[ML,])-?(nan|inf)", std::regex::icase)));
}

Chart two_networks() {
  Chart c;
  c.id = "latency-vs-macs";
  c.title = "Latency against work";
  c.x.title = "GMACs";
  c.y.title = "latency (ms)";
  c.series = {{"cpu", {{4.1, 30, "resnet50"}, {1.8, 12, "resnet18"}, {0.3, 3, "mobilenet_v2"}}},
              {"gpu", {{4.1, 2.5, "resnet50"}, {1.8, 1.1, "resnet18"}}}};
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(charts)

BOOST_AUTO_TEST_CASE(scatter_draws_one_mark_per_point_and_a_legend_for_two_series) {
  const std::string svg = scatter_svg(two_networks());
  check_chart(svg, 5);
  BOOST_TEST(attribute(svg, "data-chart") == "latency-vs-macs");
  BOOST_TEST(count(svg, "<g class=\"legend\">") == 1u);
  BOOST_TEST(svg.find(">cpu</text>") != std::string::npos);
  BOOST_TEST(svg.find(">gpu</text>") != std::string::npos);
  // Colour per series: the first two of the Okabe-Ito palette as we order it.
  BOOST_TEST(count(svg, "class=\"mark\" cx") == 5u);
  BOOST_TEST(marks_painted(svg, "fill=\"#0072B2\"") == 3);
  BOOST_TEST(marks_painted(svg, "fill=\"#E69F00\"") == 2);
  BOOST_TEST(svg.find("<title>resnet50 (cpu): GMACs 4.1, latency (ms) 30</title>") != std::string::npos);
  // Point labels only on request.
  BOOST_TEST(texts(svg, "point-label").empty());
  Chart labelled = two_networks();
  labelled.label_points = true;
  BOOST_TEST(texts(scatter_svg(labelled), "point-label") ==
                 (std::vector<std::string>{"resnet50", "resnet18", "mobilenet_v2", "resnet50", "resnet18"}),
             boost::test_tools::per_element());
  // Past the 8 colours, series 9 to 16 reuse them hollow.
  Chart many;
  many.id = "many";
  for (int i = 0; i < 9; ++i) many.series.push_back({"s" + std::to_string(i), {{1.0 * i, 1.0 * i, ""}}});
  const std::string nine = scatter_svg(many);
  check_chart(nine, 9);
  BOOST_TEST(marks_painted(nine, "fill=\"#0072B2\"") == 1);
  BOOST_TEST(marks_painted(nine, "fill=\"#ffffff\" stroke=\"#0072B2\"") == 1);
  // One series: no legend.
  Chart one = two_networks();
  one.series.resize(1);
  const std::string single = scatter_svg(one);
  check_chart(single, 3);
  BOOST_TEST(count(single, "class=\"legend\"") == 0u);
}

BOOST_AUTO_TEST_CASE(line_draws_a_path_per_series_and_breaks_it_at_undrawable_points) {
  Chart c;
  c.id = "rf";
  c.x.title = "layer";
  c.y.title = "receptive field (px)";
  c.series = {{"resnet18", {{0, 7, ""}, {1, 11, ""}, {2, 19, ""}, {3, 35, ""}}}, {"vgg16", {{0, 3, ""}, {1, 5, ""}}}};
  const std::string svg = line_svg(c);
  check_chart(svg, 6);
  BOOST_TEST(count(svg, "<path class=\"line\"") == 2u);

  c.series[0].points[1].y = std::numeric_limits<double>::quiet_NaN();
  const std::string gap = line_svg(c);
  check_chart(gap, 5);
  BOOST_TEST(attribute(gap, "data-skipped") == "1");
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(gap, m, std::regex("<path class=\"line\" d=\"([^\"]*)\"")));
  const std::string d = m[1];
  BOOST_TEST(count(d, "M") == 2u);  // 7 alone, then 19 -> 35
  BOOST_TEST(count(d, "L") == 1u);
  BOOST_TEST(texts(gap, "note") == std::vector<std::string>{"1 point not drawn (NaN or infinite)"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(linear_axis_ticks_are_nice_and_start_at_zero) {
  Chart c;
  c.id = "ticks";
  c.series = {{"", {{0, 0, ""}, {1500, 47, ""}}}};
  const std::string svg = scatter_svg(c);
  check_chart(svg, 2);
  BOOST_TEST(texts(svg, "y-tick") == (std::vector<std::string>{"0", "10", "20", "30", "40", "50"}),
             boost::test_tools::per_element());
  BOOST_TEST(texts(svg, "x-tick") == (std::vector<std::string>{"0", "500", "1k", "1.5k"}),
             boost::test_tools::per_element());

  // Values far from zero keep their own range; ticks close together keep enough digits to differ.
  c.series = {{"", {{100000, 0.21, ""}, {100480, 0.29, ""}}}};
  const std::string narrow = scatter_svg(c);
  BOOST_TEST(
      texts(narrow, "x-tick") == (std::vector<std::string>{"100k", "100.1k", "100.2k", "100.3k", "100.4k", "100.5k"}),
      boost::test_tools::per_element());
  BOOST_TEST(texts(narrow, "y-tick") == (std::vector<std::string>{"0.2", "0.22", "0.24", "0.26", "0.28", "0.3"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(log_axis_labels_powers_of_ten_and_subticks_on_short_ranges) {
  Chart c;
  c.id = "log";
  c.x.log = true;
  c.y.log = true;
  c.series = {{"", {{0.3, 3, ""}, {2000, 40, ""}}}};
  const std::string svg = scatter_svg(c);
  check_chart(svg, 2);
  BOOST_TEST(texts(svg, "x-tick") == (std::vector<std::string>{"1", "10", "100", "1k"}),
             boost::test_tools::per_element());
  // 3..40 spans just over a decade: 2 and 5 times the powers of ten are labelled too.
  BOOST_TEST(texts(svg, "y-tick") == (std::vector<std::string>{"5", "10", "20"}), boost::test_tools::per_element());

  // A range inside one decade with no power of ten in it still gets labels.
  c.series = {{"", {{31, 31, ""}, {39, 39, ""}}}};
  const std::string narrow = scatter_svg(c);
  check_chart(narrow, 2);
  BOOST_TEST(texts(narrow, "x-tick") == (std::vector<std::string>{"30", "32", "34", "36", "38", "40"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(log_axis_skips_points_it_cannot_draw_and_counts_them) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Chart c;
  c.id = "skips";
  c.y.log = true;
  c.series = {{"", {{1, -1, ""}, {2, 0, ""}, {3, nan, ""}, {4, inf, ""}, {5, 5, ""}, {6, 50, ""}, {nan, 7, ""}}}};
  const std::string svg = scatter_svg(c);
  check_chart(svg, 2);
  BOOST_TEST(attribute(svg, "data-skipped") == "5");
  BOOST_TEST(texts(svg, "note") ==
                 std::vector<std::string>{"5 points not drawn (NaN, infinite, or not above 0 on a log axis)"},
             boost::test_tools::per_element());

  // Nothing drawable at all is the empty chart.
  c.series = {{"", {{1, -1, ""}, {2, 0, ""}}}};
  const std::string none = line_svg(c);
  check_chart(none, 0);
  BOOST_TEST(count(none, ">no data</text>") == 1u);
}

BOOST_AUTO_TEST_CASE(empty_chart_draws_a_frame_saying_no_data) {
  Chart c;
  c.id = "empty";
  c.title = "Nothing yet";
  for (const std::string& svg : {scatter_svg(c), line_svg(c), roofline_svg(c, {})}) {
    check_chart(svg, 0);
    BOOST_TEST(count(svg, ">no data</text>") == 1u);
    BOOST_TEST(count(svg, "<rect class=\"frame\"") == 1u);
    BOOST_TEST(attribute(svg, "data-skipped") == "0");
  }
  const std::string bars = bar_svg("no-bars", "Nothing", "ms", {});
  check_chart(bars, 0);
  BOOST_TEST(count(bars, ">no data</text>") == 1u);
}

BOOST_AUTO_TEST_CASE(one_point_sits_inside_a_non_degenerate_range) {
  Chart c;
  c.id = "one";
  c.series = {{"", {{5, 5, "only"}}}};
  for (bool log : {false, true}) {
    c.x.log = c.y.log = log;
    const std::string svg = scatter_svg(c);
    check_chart(svg, 1);
    BOOST_TEST(texts(svg, "x-tick").size() >= 2u);
    BOOST_TEST(texts(svg, "y-tick").size() >= 2u);
    std::smatch frame, mark;
    BOOST_REQUIRE(std::regex_search(
        svg, frame,
        std::regex("class=\"frame\" x=\"([-0-9.]+)\" y=\"([-0-9.]+)\" width=\"([0-9.]+)\" height=\"([0-9.]+)\"")));
    BOOST_REQUIRE(std::regex_search(svg, mark, std::regex("class=\"mark\" cx=\"([-0-9.]+)\" cy=\"([-0-9.]+)\"")));
    // Centred: the range is symmetric about the value (in log space on a log axis).
    BOOST_TEST(std::stod(mark[1]) == std::stod(frame[1]) + std::stod(frame[3]) / 2, boost::test_tools::tolerance(0.2));
    BOOST_TEST(std::stod(mark[2]) == std::stod(frame[2]) + std::stod(frame[4]) / 2, boost::test_tools::tolerance(0.2));
  }
  // All-equal values: same thing.
  c.x.log = c.y.log = false;
  c.series = {{"", {{3, 0.5, ""}, {3, 0.5, ""}, {3, 0.5, ""}}}};
  const std::string equal = scatter_svg(c);
  check_chart(equal, 3);
  BOOST_TEST(texts(equal, "x-tick") == (std::vector<std::string>{"2.7", "2.8", "2.9", "3", "3.1", "3.2", "3.3"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(text_is_escaped_everywhere) {
  const std::string nasty = "a<b&\"c\"'";
  const std::string escaped = "a&lt;b&amp;&quot;c&quot;&apos;";
  Chart c;
  c.id = nasty;
  c.title = nasty;
  c.x.title = nasty;
  c.y.title = nasty;
  c.label_points = true;
  c.series = {{nasty, {{1, 2, nasty}}}, {"second", {{2, 3, "x"}}}};
  for (const std::string& svg : {scatter_svg(c), line_svg(c), roofline_svg(c, {100, 10})}) {
    check_chart(svg, 2);
    BOOST_TEST(svg.find("a<b") == std::string::npos);
    BOOST_TEST(svg.find("&\"") == std::string::npos);
    BOOST_TEST(count(svg, escaped) >= 6u);  // title, heading, axis titles, legend, tooltip, point label
    BOOST_TEST(attribute(svg, "data-chart") == escaped);
    // Element ids stay XML names: the chart id with other characters replaced.
    BOOST_TEST(svg.find("<title id=\"a-b--c---title\">") != std::string::npos);
  }
  const std::string bars = bar_svg(nasty, nasty, nasty, {{nasty, 1, nasty}});
  check_chart(bars, 1);
  BOOST_TEST(bars.find("a<b") == std::string::npos);
  BOOST_TEST(count(bars, escaped) >= 5u);
}

BOOST_AUTO_TEST_CASE(bars_beyond_the_limit_are_summed_into_other) {
  std::vector<Bar> bars;
  for (int i = 1; i <= 30; ++i)
    bars.push_back({"layer" + std::to_string(i), static_cast<double>(i), i % 2 ? "conv" : "relu"});
  const std::string svg = bar_svg("time", "Time per layer", "ms", bars);  // max_bars = 25
  check_chart(svg, 25);
  const auto labels = texts(svg, "bar-label");
  BOOST_REQUIRE(labels.size() == 25u);
  BOOST_TEST(labels.front() == "layer1");
  BOOST_TEST(labels[23] == "layer24");
  BOOST_TEST(labels.back() == "other (6 layers)");
  // 25 + 26 + ... + 30 = 165 of a total 465.
  BOOST_TEST(svg.find("<title>other (6 layers): 165 ms (35% of total)</title>") != std::string::npos);
  BOOST_TEST(texts(svg, "bar-value").back() == "165 ms (35%)");
  BOOST_TEST(svg.find("fill=\"#999999\" data-value=\"165\"") != std::string::npos);
  // A legend entry per group, coloured in order of first appearance.
  BOOST_TEST(svg.find(">conv</text>") != std::string::npos);
  BOOST_TEST(svg.find(">relu</text>") != std::string::npos);
  BOOST_TEST(svg.find("fill=\"#0072B2\" data-value=\"1\"") != std::string::npos);
  BOOST_TEST(svg.find("fill=\"#E69F00\" data-value=\"2\"") != std::string::npos);

  // Exactly at the limit: no "other"; NaN bars are left out and counted.
  bars.resize(25);
  bars.push_back({"broken", std::numeric_limits<double>::quiet_NaN(), "conv"});
  const std::string exact = bar_svg("time", "", "ms", bars);
  check_chart(exact, 25);
  BOOST_TEST(texts(exact, "bar-label").back() == "layer25");
  BOOST_TEST(attribute(exact, "data-skipped") == "1");
  BOOST_TEST(texts(exact, "note") == std::vector<std::string>{"1 bar not drawn (NaN or infinite)"},
             boost::test_tools::per_element());
  BOOST_TEST(texts(exact, "x-tick") == (std::vector<std::string>{"0", "5", "10", "15", "20", "25"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(roofline_draws_the_roof_through_its_ridge) {
  Chart c;
  c.id = "roof";
  c.title = "Roofline";
  c.series = {{"resnet50", {{100, 500, "layer4.0.conv2"}, {1, 40, "layer1.0.relu"}, {0, 10, "reshape"}}}};
  const Roofline machine{1000, 80};  // ridge at 1000 / 80 = 12.5 FLOP/byte
  const std::string svg = roofline_svg(c, machine);
  check_chart(svg, 2);
  BOOST_TEST(attribute(svg, "data-skipped") == "1");  // intensity 0 has no place on a log axis
  BOOST_TEST(attribute(svg, "data-intensity") == "12.5");
  BOOST_TEST(texts(svg, "x-tick") == (std::vector<std::string>{"1", "10", "100"}), boost::test_tools::per_element());
  BOOST_TEST(svg.find(">ridge 12.5 FLOP/byte</text>") != std::string::npos);
  // Efficiency against the roof in the tooltip: 40 of 80 GFLOP/s memory-bound, 500 of 1000 compute-bound.
  BOOST_TEST(svg.find("<title>layer1.0.relu: arithmetic intensity (FLOP/byte) 1, performance (GFLOP/s) 40, 50% of "
                      "roof</title>") != std::string::npos);
  BOOST_TEST(svg.find(", performance (GFLOP/s) 500, 50% of roof</title>") != std::string::npos);

  // The roof's middle corner is the ridge, on the ridge line, at the height of the flat part.
  std::smatch roof, ridge;
  const std::string n = "([-0-9.]+)";
  BOOST_REQUIRE(std::regex_search(
      svg, roof, std::regex("class=\"roof\" d=\"M" + n + "," + n + " L" + n + "," + n + " L" + n + "," + n + "\"")));
  BOOST_REQUIRE(std::regex_search(svg, ridge, std::regex("class=\"ridge\"[^>]*><line x1=\"" + n + "\" y1=\"" + n)));
  BOOST_TEST(std::stod(roof[3]) == std::stod(ridge[1]));
  BOOST_TEST(std::stod(roof[4]) == std::stod(ridge[2]));
  BOOST_TEST(std::stod(roof[6]) == std::stod(roof[4]));
  BOOST_TEST(std::stod(roof[2]) > std::stod(roof[4]));  // rising (smaller y) up to the ridge
  // ... and it sits at log10(12.5) / 2 of the way from the tick at 1 to the tick at 100.
  std::smatch one, hundred;
  BOOST_REQUIRE(std::regex_search(svg, one, std::regex("class=\"x-tick\" x=\"" + n + "\"[^>]*>1<")));
  BOOST_REQUIRE(std::regex_search(svg, hundred, std::regex("class=\"x-tick\" x=\"" + n + "\"[^>]*>100<")));
  const double x1 = std::stod(one[1]), x100 = std::stod(hundred[1]);
  BOOST_TEST(std::stod(ridge[1]) == x1 + std::log10(12.5) / 2 * (x100 - x1), boost::test_tools::tolerance(0.001));

  // Unknown peaks: points only.
  const std::string bare = roofline_svg(c, {});
  check_chart(bare, 2);
  BOOST_TEST(count(bare, "class=\"roof\"") == 0u);
  BOOST_TEST(count(bare, "class=\"ridge\"") == 0u);
}

BOOST_AUTO_TEST_CASE(output_is_deterministic_and_ids_are_prefixed_by_the_chart_id) {
  Chart c = two_networks();
  c.id = "Latency vs MACs";
  const std::string a = scatter_svg(c), b = scatter_svg(c);
  BOOST_TEST(a == b);
  BOOST_TEST(attribute(a, "data-chart") == "Latency vs MACs");
  const std::regex id(" id=\"([^\"]*)\"");
  std::vector<std::string> ids;
  for (auto it = std::sregex_iterator(a.begin(), a.end(), id); it != std::sregex_iterator(); ++it)
    ids.push_back((*it)[1]);
  BOOST_TEST(ids == (std::vector<std::string>{"Latency-vs-MACs-title", "Latency-vs-MACs-desc"}),
             boost::test_tools::per_element());
  BOOST_TEST(attribute(a, "aria-labelledby") == "Latency-vs-MACs-title Latency-vs-MACs-desc");
  BOOST_TEST(attribute(a, "font-family") == "sans-serif");
  BOOST_TEST(attribute(bar_svg("9 lives", "", "", {{"x", 1, ""}}), "aria-labelledby") ==
             "chart-9-lives-title chart-9-lives-desc");
}

BOOST_AUTO_TEST_SUITE_END()
