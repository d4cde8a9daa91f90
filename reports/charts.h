// charts: SVG charts for the HTML and Markdown reports (written by hand: see charts.cpp).
//
// Each function returns one standalone SVG 1.1 document (no script, no external reference) that can be
// written to charts/ID.svg or inlined into HTML as is. The root carries data-chart="ID", data-marks (the
// number of elements with class="mark": one per drawn point or bar) and data-skipped (points not drawn:
// NaN, infinite, or <= 0 on a log axis). Element ids start with the chart id, so several charts share a page.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace archbench {

// One data point; `label` is its tooltip and, with Chart::label_points, the text drawn beside it
// (`tag` instead where set: a shorter name for the same point).
struct ChartPoint {
  double x = 0, y = 0;
  std::string label;
  std::string tag = {};
};

// Points in one colour (Okabe-Ito palette, in series order); `name` is the legend entry.
struct ChartSeries {
  std::string name;
  std::vector<ChartPoint> points;
};

// Axis title, unit included ("latency (ms)"); log: base 10, ticks at powers of 10 (also 2 and 5 under 2 decades).
struct ChartAxis {
  std::string title;
  bool log = false;
};

// An x/y chart: `id` names it (data-chart, element ids, charts/ID.svg), `title` is its heading and accessible name.
struct Chart {
  std::string id, title;
  ChartAxis x, y;
  std::vector<ChartSeries> series;
  // Draw every point's label (or tag) beside it, none overlapping another or a point; those
  // that find no room are listed under the chart. For a few dozen points, not hundreds.
  bool label_points = false;
};

// One circle per point, a colour per series, a legend when there is more than one series. 720x400.
std::string scatter_svg(const Chart& c);

// Per series a line through its points in the given order (broken where a point cannot be drawn) and a dot each.
std::string line_svg(const Chart& c);

// One horizontal bar; `group` (e.g. the op kind) picks its colour and legend entry.
struct Bar {
  std::string label;
  double value = 0;
  std::string group;
};

// Horizontal bars in the given order, labelled "value unit (share of total)"; with more than max_bars bars the
// first max_bars-1 are drawn and the rest summed into one "other (N layers)" bar. 720 wide, 18 px per bar.
std::string bar_svg(const std::string& id, const std::string& title, const std::string& unit,
                    const std::vector<Bar>& bars, size_t max_bars = 25);

// Machine peaks for a roofline; a peak <= 0 is unknown and its part of the roof is not drawn.
struct Roofline {
  double peak_gflops = 0, peak_gbps = 0;
};

// Log-log roofline (Williams, Waterman & Patterson 2009) whatever c.x.log and c.y.log say: x = FLOP/byte,
// y = GFLOP/s; the roof min(peak_gflops, peak_gbps * x) (class "roof"), its ridge point and the points. 720x400.
std::string roofline_svg(const Chart& c, const Roofline& roof);

}  // namespace archbench
