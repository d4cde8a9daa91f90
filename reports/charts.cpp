// SVG charts written by hand: a few hundred lines of layout instead of a plotting dependency, and output that is
// deterministic (fixed-precision coordinates, no random ids), self-contained (presentation attributes, no <style>
// that would leak into the HTML page, no script, no external reference) and small enough to inline.
#include "reports/charts.h"

#include <fmt/format.h>
#include "reports/detail/markup.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <numbers>
#include <string_view>
#include <utility>

namespace archbench {
namespace {

constexpr double kWidth = 720;
constexpr double kHeight = 400;
constexpr double kFont = 11;       // tick labels, legend, bar labels (the root's font-size)
constexpr double kTitleFont = 15;  // chart heading
constexpr double kAxisFont = 12;   // axis titles
constexpr double kSmallFont = 10;  // point labels, bar values, notes
constexpr double kGlyph = 0.6;     // average sans-serif glyph width in ems, on the generous side so text fits
constexpr double kBarRow = 18;     // px per bar in bar_svg

// Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies.
// Blue first; yellow last because it is faint on white.
constexpr std::string_view kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                         "#CC79A7", "#56B4E9", "#000000", "#F0E442"};
constexpr std::string_view kInk = "#222222";    // titles
constexpr std::string_view kMuted = "#555555";  // tick marks and labels, notes
constexpr std::string_view kGrid = "#e8e8e8";
constexpr std::string_view kFrame = "#999999";
constexpr std::string_view kOther = "#999999";    // the "other (N layers)" bar
constexpr std::string_view kNoGroup = "#666666";  // a bar without a group when other bars have one
constexpr std::string_view kRoof = "#333333";

// Series (or bar group) i: a palette colour, drawn hollow in the palette's second round so 16 stay distinct.
struct Style {
  std::string_view colour;
  bool hollow = false;
};
Style style(size_t i) { return {kPalette[i % std::size(kPalette)], (i / std::size(kPalette)) % 2 == 1}; }

// Fill and stroke attributes of a filled mark in style s; `opacity` lets overlapping circles show through.
std::string paint(const Style& s, std::string_view opacity = "1") {
  if (s.hollow) return fmt::format("fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"1.5\"", s.colour);
  return fmt::format("fill=\"{}\" fill-opacity=\"{}\" stroke=\"{}\" stroke-width=\"0.6\"", s.colour, opacity, kInk);
}

using detail::escape;

// Element ids are XML names: the chart id with characters outside [A-Za-z0-9_.-] replaced by '-'.
std::string id_prefix(std::string_view id) {
  std::string out;
  for (char ch : id) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                    ch == '.' || ch == '-';
    out += ok ? ch : '-';
  }
  if (out.empty() || !((out[0] >= 'a' && out[0] <= 'z') || (out[0] >= 'A' && out[0] <= 'Z') || out[0] == '_')) {
    out = "chart-" + out;
  }
  return out;
}

size_t codepoints(std::string_view s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

// At most max_cp UTF-8 code points, the last one an ellipsis when something was cut.
std::string truncate(std::string_view s, size_t max_cp) {
  if (codepoints(s) <= max_cp) return std::string(s);
  if (max_cp == 0) return "";
  size_t kept = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (kept + 1 == max_cp) break;
    ++kept;
  }
  return std::string(s.substr(0, i)) + "\u2026";
}

double text_width(std::string_view s, double font) { return static_cast<double>(codepoints(s)) * font * kGlyph; }

// "1.2e-05" -> "1.2e-5", "1e+18" -> "1e18".
std::string tidy_exponent(const std::string& s) {
  const size_t e = s.find('e');
  if (e == std::string::npos) return s;
  std::string out = s.substr(0, e + 1);
  size_t i = e + 1;
  if (s[i] == '-') out += '-';
  if (s[i] == '-' || s[i] == '+') ++i;
  while (i + 1 < s.size() && s[i] == '0') ++i;
  return out + s.substr(i);
}

// `digits` significant digits, trailing zeros dropped, SI suffixes k..P: 1500 -> "1.5k", 0.25 -> "0.25".
std::string compact(double v, int digits = 3) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return "0";
  double a = std::fabs(v);
  if (a >= 1e18) return tidy_exponent(fmt::format("{:.{}g}", v, digits));  // past P: 1.5e21, not 1500000P
  static constexpr std::string_view kSuffix[] = {"", "k", "M", "G", "T", "P"};
  size_t k = 0;
  while (a >= 1000 && k + 1 < std::size(kSuffix)) {
    a /= 1000;
    ++k;
  }
  std::string s = fmt::format("{:.{}g}", a, digits);
  if (std::strtod(s.c_str(), nullptr) >= 1000 && k + 1 < std::size(kSuffix)) {  // 999.96 rounded up to 1000
    a /= 1000;
    ++k;
    s = fmt::format("{:.{}g}", a, digits);
  }
  std::string out = v < 0 ? "-" : "";
  out += tidy_exponent(s);
  out += kSuffix[k];
  return out;
}

// Shares of a total: "35%", "2.5%", "<0.1%".
std::string percent(double fraction) {
  const double p = 100 * fraction;
  if (p == 0) return "0%";
  if (p > 0 && p < 0.1) return "<0.1%";
  std::string s = std::fabs(p) < 10 ? fmt::format("{:.1f}", p) : fmt::format("{:.0f}", p);
  if (s.ends_with(".0")) s.resize(s.size() - 2);
  return s + "%";
}

// "1 point", "2 points".
std::string counted(size_t n, std::string_view noun) { return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s"); }

// Coordinates to 0.1 px, below what a screen shows; "-0" never appears.
std::string px(double v) {
  if (std::fabs(v) < 0.05) return "0";
  std::string s = fmt::format("{:.1f}", v);
  if (s.ends_with(".0")) s.resize(s.size() - 2);
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Axes

struct Tick {
  double value = 0;
  std::string label;  // empty: a minor tick, with no label and no grid line
};

struct Axis {
  bool log = false;
  double lo = 0, hi = 1;  // the domain; lo < hi, both > 0 on a log axis
  std::vector<Tick> ticks;

  // Position along the axis, 0 at lo and 1 at hi.
  double frac(double v) const {
    if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }
};

// The "nice" step of Heckbert ("Nice numbers for graph labels", Graphics Gems, 1990): 1, 2 or 5 times 10^k,
// whichever is nearest to `raw` on his thresholds.
double nice_step(double raw) {
  const double e = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / e;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * e;
}

// Enough significant digits to tell ticks `step` apart, at least 3: 100000 and 100500 need "100k" and "100.5k".
int tick_digits(double max_abs, double step) {
  if (!(max_abs > 0) || !(step > 0)) return 3;
  const double d = std::floor(std::log10(max_abs)) - std::floor(std::log10(step)) + 1;
  return static_cast<int>(std::clamp(d, 3.0, 15.0));
}

// Ticks at the multiples of `step` in [lo, hi] (with a little tolerance for rounding).
std::vector<Tick> multiples(double lo, double hi, double step) {
  const double first = std::ceil(lo / step - 1e-6), last = std::floor(hi / step + 1e-6);
  const int digits = tick_digits(std::max(std::fabs(lo), std::fabs(hi)), step);
  std::vector<Tick> ticks;
  for (double k = first; k <= last && ticks.size() < 100; ++k) {  // the bound only guards against a bad step
    double v = k * step;
    if (k == 0) v = 0;
    ticks.push_back({v, compact(v, digits)});
  }
  return ticks;
}

// Linear axis over the values, widened to the nice ticks around them (about 5 intervals). Ratio quantities (time,
// MACs, bytes) read best from zero, so the axis starts there unless the data sit far from it (Excel's rule of
// thumb: the smallest value is more than half the largest).
Axis linear_axis(const std::vector<double>& values) {
  double lo = 0, hi = 1;
  if (!values.empty()) {
    const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
    lo = *mn;
    hi = *mx;
    if (lo > 0 && lo <= hi / 2) lo = 0;
    if (hi < 0 && hi >= lo / 2) hi = 0;
    if (lo == 0 && hi == 0) {
      hi = 1;
    } else if (hi - lo <= std::max(1e-9 * std::max(std::fabs(lo), std::fabs(hi)), 1e-290)) {
      // One value (or values equal to double precision): a range of 10% either side of it.
      const double mid = lo / 2 + hi / 2, d = std::max(0.1 * std::fabs(mid), 1e-290);
      lo = mid - d;
      hi = mid + d;
    }
  }
  const double step = nice_step((hi - lo) / 5);
  Axis a;
  a.lo = std::floor(lo / step + 1e-6) * step;
  a.hi = std::ceil(hi / step - 1e-6) * step;
  a.ticks = multiples(a.lo, a.hi, step);
  return a;
}

// Log axis over positive values, padded by 5% of its span in decades. Labels at powers of 10 (every n-th power
// past 10 decades, so about 10 labels at most), and at 2 and 5 times them when the axis spans under 2 decades or
// holds fewer than 3 powers of 10; unlabelled minor ticks at 2..9 up to 6 decades. An axis too short to hold two
// such labels gets nice linear labels instead.
Axis log_axis(const std::vector<double>& values) {
  double l0 = 0, l1 = 1;
  if (!values.empty()) {
    const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
    l0 = std::log10(*mn);
    l1 = std::log10(*mx);
    if (l1 - l0 < 1e-9) {
      l0 -= 0.5;
      l1 += 0.5;
    } else {
      const double pad = std::max(0.05 * (l1 - l0), 0.02);
      l0 -= pad;
      l1 += pad;
    }
    // 10^+-305 keeps the domain's ends normal doubles.
    l0 = std::max(l0, -305.0);
    l1 = std::min(l1, 305.0);
  }
  Axis a;
  a.log = true;
  a.lo = std::pow(10.0, l0);
  a.hi = std::pow(10.0, l1);
  const double span = l1 - l0;
  const double powers = std::floor(l1 + 1e-9) - std::ceil(l0 - 1e-9) + 1;
  const bool sublabels = span < 2 || powers < 3;
  const double stride = std::max(1.0, std::ceil(span / 10));
  size_t labelled = 0;
  for (double k = std::floor(l0); k <= std::ceil(l1); ++k) {
    const double decade = std::pow(10.0, k);
    for (int m = 1; m <= 9; ++m) {
      const double v = m * decade;
      if (v < a.lo * (1 - 1e-9) || v > a.hi * (1 + 1e-9)) continue;
      const bool label = (m == 1 && std::fmod(k, stride) == 0) || (sublabels && (m == 2 || m == 5));
      if (!label && m > 1 && span > 6) continue;
      a.ticks.push_back({v, label ? compact(v) : ""});
      labelled += label ? 1 : 0;
    }
  }
  if (labelled < 2) a.ticks = multiples(a.lo, a.hi, nice_step((a.hi - a.lo) / 4));
  return a;
}

Axis make_axis(const std::vector<double>& values, bool log) { return log ? log_axis(values) : linear_axis(values); }

std::string describe(const Axis& a, std::string_view title, std::string_view name) {
  return fmt::format("{}: {}, {}, {} to {}", name, title.empty() ? name : title, a.log ? "log scale" : "linear",
                     compact(a.lo), compact(a.hi));
}

// ---------------------------------------------------------------------------------------------------------------
// Drawing

struct Writer {
  std::string out;
  template <typename... Args>
  void operator()(fmt::format_string<Args...> f, Args&&... args) {
    fmt::format_to(std::back_inserter(out), f, std::forward<Args>(args)...);
  }
};

struct Plot {
  double left = 0, top = 0, right = 0, bottom = 0;
  double x(const Axis& a, double v) const { return left + a.frac(v) * (right - left); }
  double y(const Axis& a, double v) const { return bottom - a.frac(v) * (bottom - top); }
};

void open_svg(Writer& w, std::string_view id, std::string_view title, std::string_view desc, double height,
              size_t marks, size_t skipped) {
  const std::string p = id_prefix(id);
  w("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" height=\"{1}\" role=\"img\" "
    "class=\"chart\" data-chart=\"{2}\" data-marks=\"{3}\" data-skipped=\"{4}\" version=\"1.1\" "
    "aria-labelledby=\"{5}-title {5}-desc\" font-family=\"sans-serif\" font-size=\"{6}\">\n",
    px(kWidth), px(height), escape(id), marks, skipped, p, kFont);
  w("<title id=\"{}-title\">{}</title>\n", p, escape(title.empty() ? id : title));
  w("<desc id=\"{}-desc\">{}</desc>\n", p, escape(desc));
  w("<rect class=\"background\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", px(kWidth), px(height));
  if (!title.empty()) {
    const auto fit = static_cast<size_t>((kWidth - 24) / (kTitleFont * kGlyph));
    w("<text class=\"heading\" x=\"12\" y=\"24\" font-size=\"{}\" font-weight=\"bold\" fill=\"{}\">{}</text>\n",
      kTitleFont, kInk, escape(truncate(title, fit)));
  }
}

// A note under the chart saying how many inputs were left out, so nothing disappears silently.
void skipped_note(Writer& w, size_t skipped, std::string_view noun, std::string_view why, double height) {
  if (skipped == 0) return;
  w("<text class=\"note\" x=\"12\" y=\"{}\" font-size=\"{}\" fill=\"{}\">{} not drawn ({})</text>\n", px(height - 6),
    kSmallFont, kMuted, counted(skipped, noun), why);
}

void no_data(Writer& w, const Plot& p) {
  w("<text class=\"no-data\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\" fill=\"{}\">no data</text>\n",
    px((p.left + p.right) / 2), px((p.top + p.bottom) / 2), kMuted);
}

// Text with a tooltip carrying the whole of it when it had to be shortened.
std::string shortened(std::string_view s, size_t max_cp) {
  const std::string t = truncate(s, max_cp);
  if (t.size() == s.size()) return escape(t);
  return fmt::format("<title>{}</title>{}", escape(s), escape(t));
}

// Point labels placed so that no two overlap, none covers a point and all stay inside the plot:
// most crowded points first, each at the nearest free spot of eight directions at growing
// distances, joined to its point by a leader line when it sits away from it. A label with no
// free spot is not drawn; the chart lists those under it (their points keep their tooltips).
struct LabelAnchor {
  double x = 0, y = 0;  // the point, in pixels
  std::string text;
};
struct PlacedLabel {
  std::string text;
  bool placed = false;
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // the text's box
  bool leader = false;
  double lx0 = 0, ly0 = 0, lx1 = 0, ly1 = 0;  // the leader line, point edge to box
};

constexpr double kLabelAscent = 0.95, kLabelDescent = 0.3;  // of the font size, as browsers' boxes measure
constexpr double kLabelGlyph = 0.64;                         // ems per glyph: DejaVu Sans digits are 0.636

std::vector<PlacedLabel> place_labels(const std::vector<LabelAnchor>& anchors, const Plot& p, double radius) {
  struct Box {
    double x0, y0, x1, y1;
    bool hits(const Box& o, double gap) const {
      return x0 < o.x1 + gap && o.x0 < x1 + gap && y0 < o.y1 + gap && o.y0 < y1 + gap;
    }
  };
  std::vector<Box> taken;  // every point's circle, then each label placed
  for (const auto& a : anchors) taken.push_back({a.x - radius, a.y - radius, a.x + radius, a.y + radius});
  // Most neighbours within 80 px first: crowded points have the fewest free spots.
  std::vector<size_t> order(anchors.size());
  std::vector<int> crowd(anchors.size(), 0);
  for (size_t i = 0; i < anchors.size(); ++i) {
    order[i] = i;
    for (const auto& b : anchors)
      crowd[i] += std::hypot(anchors[i].x - b.x, anchors[i].y - b.y) < 80 ? 1 : 0;
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return crowd[a] > crowd[b]; });
  constexpr double kDistances[] = {2, 8, 16, 26, 38, 52, 70, 92, 118};
  constexpr double kDirections[][2] = {{1, 0}, {-1, 0}, {0.7, -0.7}, {-0.7, -0.7}, {0.7, 0.7}, {-0.7, 0.7}, {0, -1}, {0, 1}};
  // A label reads as its nearest point's: a spot about as near another point is taken only
  // where no other is free (the second pass), and then with a leader line.
  auto nearest_is_own = [&](const Box& box, size_t own) {
    auto gap = [&](const LabelAnchor& a) {
      return std::hypot(std::max({box.x0 - a.x, 0.0, a.x - box.x1}), std::max({box.y0 - a.y, 0.0, a.y - box.y1}));
    };
    const double mine = gap(anchors[own]) + 6;  // and clearly: other points 6 px further off
    for (size_t j = 0; j < anchors.size(); ++j)
      if (j != own && gap(anchors[j]) < mine) return false;
    return true;
  };
  std::vector<PlacedLabel> out(anchors.size());
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i : order) {
      const LabelAnchor& a = anchors[i];
      PlacedLabel& l = out[i];
      l.text = a.text;
      if (a.text.empty() || l.placed) continue;
      const double w = static_cast<double>(codepoints(a.text)) * kSmallFont * kLabelGlyph;
      const double h = (kLabelAscent + kLabelDescent) * kSmallFont;
      for (double d : kDistances) {
        for (const auto& u : kDirections) {
          const double ex = a.x + u[0] * (radius + d), ey = a.y + u[1] * (radius + d);  // the box's near edge
          const double x0 = u[0] > 0 ? ex : u[0] < 0 ? ex - w : ex - w / 2;
          const double y0 = u[1] > 0 ? ey : u[1] < 0 ? ey - h : ey - h / 2;
          const Box box{x0, y0, x0 + w, y0 + h};
          if (box.x0 < p.left + 2 || box.x1 > p.right - 2 || box.y0 < p.top + 2 || box.y1 > p.bottom - 2) continue;
          if (std::any_of(taken.begin(), taken.end(), [&](const Box& t) { return box.hits(t, 1.5); })) continue;
          if (pass == 0 && !nearest_is_own(box, i)) continue;
          taken.push_back(box);
          l.placed = true;
          l.x0 = box.x0, l.y0 = box.y0, l.x1 = box.x1, l.y1 = box.y1;
          if (d > kDistances[1] || pass == 1) {
            l.leader = true;
            l.lx0 = a.x + u[0] * radius, l.ly0 = a.y + u[1] * radius;
            l.lx1 = std::clamp(a.x, box.x0, box.x1), l.ly1 = std::clamp(a.y, box.y0, box.y1);
          }
          break;
        }
        if (l.placed) break;
      }
    }
  }
  return out;
}

enum class Swatch { Dot, Line, Square };

struct LegendEntry {
  std::string name;
  Style style;
};

constexpr size_t kLegendChars = 24;

double legend_width(const std::vector<LegendEntry>& entries) {
  if (entries.empty()) return 0;
  double text = 0;
  for (const auto& e : entries) text = std::max(text, text_width(truncate(e.name, kLegendChars), kFont));
  return 22 + text + 8;
}

// Entries top-down from (x, top); those that do not fit above `bottom` are counted in a last "+N more" line.
void legend(Writer& w, const std::vector<LegendEntry>& entries, Swatch swatch, double x, double top, double bottom) {
  if (entries.empty()) return;
  constexpr double kRow = 16;
  const auto fit = static_cast<size_t>(std::max(1.0, std::floor((bottom - top) / kRow)));
  const size_t shown = entries.size() <= fit ? entries.size() : fit - 1;
  w("<g class=\"legend\">\n");
  for (size_t i = 0; i < shown; ++i) {
    const double y = top + 8 + kRow * static_cast<double>(i);
    const auto& e = entries[i];
    if (swatch == Swatch::Square) {
      w("<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" {}/>", px(x + 1), px(y - 5), paint(e.style));
    } else {
      if (swatch == Swatch::Line) {
        w("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"{}/>", px(x), px(y),
          px(x + 12), px(y), e.style.colour, e.style.hollow ? " stroke-dasharray=\"3 2\"" : "");
      }
      w("<circle cx=\"{}\" cy=\"{}\" r=\"4\" {}/>", px(x + 6), px(y), paint(e.style));
    }
    w("<text x=\"{}\" y=\"{}\">{}</text>\n", px(x + 18), px(y + 4), shortened(e.name, kLegendChars));
  }
  if (shown < entries.size()) {
    w("<text x=\"{}\" y=\"{}\" fill=\"{}\">+{} more</text>\n", px(x + 18),
      px(top + 12 + kRow * static_cast<double>(shown)), kMuted, entries.size() - shown);
  }
  w("</g>\n");
}

void x_ticks(Writer& w, const Axis& a, const Plot& p) {
  for (const auto& t : a.ticks) {
    const double x = p.x(a, t.value);
    w("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\"/>", px(x), px(p.bottom),
      px(p.bottom + (t.label.empty() ? 3 : 5)), kMuted);
    if (!t.label.empty()) {
      w("<text class=\"x-tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\">{}</text>", px(x),
        px(p.bottom + 17), kMuted, escape(t.label));
    }
    w("\n");
  }
}

void y_ticks(Writer& w, const Axis& a, const Plot& p) {
  for (const auto& t : a.ticks) {
    const double y = p.y(a, t.value);
    w("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\"/>", px(p.left), px(y),
      px(p.left - (t.label.empty() ? 3 : 5)), kMuted);
    if (!t.label.empty()) {
      w("<text class=\"y-tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{}\">{}</text>", px(p.left - 7), px(y + 4),
        kMuted, escape(t.label));
    }
    w("\n");
  }
}

void x_grid(Writer& w, const Axis& a, const Plot& p) {
  for (const auto& t : a.ticks) {
    if (t.label.empty()) continue;
    const double x = p.x(a, t.value);
    w("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", px(x), px(p.top), px(p.bottom));
  }
}

void y_grid(Writer& w, const Axis& a, const Plot& p) {
  for (const auto& t : a.ticks) {
    if (t.label.empty()) continue;
    const double y = p.y(a, t.value);
    w("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>\n", px(p.left), px(y), px(p.right));
  }
}

double widest_label(const Axis& a, double font) {
  double width = 0;
  for (const auto& t : a.ticks) width = std::max(width, text_width(t.label, font));
  return width;
}

// ---------------------------------------------------------------------------------------------------------------
// x/y charts

enum class Kind { Scatter, Line, Roofline };

// What an axis can place: a finite value within 1e+-300 (past that its arithmetic would overflow, so we treat it
// as infinite), above 0 on a log axis.
bool on_axis(double v, bool log) { return std::isfinite(v) && std::fabs(v) <= 1e300 && (!log || v >= 1e-300); }

// The attainable performance under the roof at intensity x; infinity where no part of the roof is known.
double roof_at(const Roofline& r, double x) {
  double y = std::numeric_limits<double>::infinity();
  if (on_axis(r.peak_gflops, true)) y = r.peak_gflops;
  if (on_axis(r.peak_gbps, true)) y = std::min(y, r.peak_gbps * x);
  return y;
}

std::string xy_chart(const Chart& c, Kind kind, const Roofline& roof) {
  const bool roofline = kind == Kind::Roofline;
  const bool xlog = roofline || c.x.log, ylog = roofline || c.y.log;
  // Axis titles; untitled axes are drawn without one and called x and y in tooltips.
  const std::string xtitle = !c.x.title.empty() ? c.x.title : roofline ? "arithmetic intensity (FLOP/byte)" : "";
  const std::string ytitle = !c.y.title.empty() ? c.y.title : roofline ? "performance (GFLOP/s)" : "";
  const std::string xname = xtitle.empty() ? "x" : xtitle, yname = ytitle.empty() ? "y" : ytitle;
  const auto drawable = [&](const ChartPoint& p) { return on_axis(p.x, xlog) && on_axis(p.y, ylog); };

  std::vector<double> xs, ys;
  size_t skipped = 0;
  for (const auto& s : c.series) {
    for (const auto& p : s.points) {
      if (drawable(p)) {
        xs.push_back(p.x);
        ys.push_back(p.y);
      } else {
        ++skipped;
      }
    }
  }
  const size_t marks = xs.size();

  const bool has_gflops = on_axis(roof.peak_gflops, true), has_gbps = on_axis(roof.peak_gbps, true);
  const double ridge = roofline && has_gflops && has_gbps ? roof.peak_gflops / roof.peak_gbps : 0;
  const bool ridge_known = on_axis(ridge, true);
  if (ridge_known) xs.push_back(ridge);
  const Axis xa = make_axis(xs, xlog);
  // The roof spans the x axis; the y axis stretches to hold it.
  const bool roof_known = roofline && (has_gflops || has_gbps) && on_axis(roof_at(roof, xa.lo), true) &&
                          on_axis(roof_at(roof, xa.hi), true);
  if (roof_known) {
    for (double x : {xa.lo, xa.hi}) ys.push_back(roof_at(roof, x));
  }
  const Axis ya = make_axis(ys, ylog);

  std::vector<LegendEntry> entries;
  if (c.series.size() > 1) {
    for (size_t i = 0; i < c.series.size(); ++i) {
      const auto& name = c.series[i].name;
      entries.push_back({name.empty() ? fmt::format("series {}", i + 1) : name, style(i)});
    }
  }
  const double height = kHeight + (skipped > 0 ? 14 : 0);
  const double ylabels = widest_label(ya, kFont);
  Plot p;
  p.left = 12 + kAxisFont + 8 + ylabels + 8;
  p.top = c.title.empty() ? 16 : 40;
  const double last_x_label = xa.ticks.empty() ? 0 : text_width(xa.ticks.back().label, kFont) / 2;
  p.right = kWidth - (entries.empty() ? std::max(16.0, last_x_label + 6) : 16 + legend_width(entries));
  p.bottom = kHeight - 48;

  const double radius = kind == Kind::Line ? 2.5 : 4;
  std::vector<PlacedLabel> labels;
  std::vector<std::string> unlabelled;
  if (c.label_points) {
    std::vector<LabelAnchor> anchors;
    for (const auto& s : c.series)
      for (const auto& pt : s.points)
        if (drawable(pt)) anchors.push_back({p.x(xa, pt.x), p.y(ya, pt.y), pt.tag.empty() ? pt.label : pt.tag});
    labels = place_labels(anchors, p, radius);
    for (const auto& l : labels)
      if (!l.placed && !l.text.empty()) unlabelled.push_back(l.text);
  }
  const double notes_height = height + (unlabelled.empty() ? 0 : 14);

  const char* kind_name = kind == Kind::Scatter ? "Scatter" : kind == Kind::Line ? "Line" : "Roofline";
  std::string desc = fmt::format("{} chart of {} in {} series; {}; {}", kind_name, counted(marks, "point"),
                                 c.series.size(), describe(xa, xname, "x"), describe(ya, yname, "y"));
  if (roofline) {
    desc += fmt::format("; peak {} GFLOP/s, {} GB/s", has_gflops ? compact(roof.peak_gflops) : "unknown",
                        has_gbps ? compact(roof.peak_gbps) : "unknown");
    if (ridge_known) desc += fmt::format(", ridge at {} FLOP/byte", compact(ridge));
  }
  if (skipped > 0) desc += fmt::format("; {} not drawn", counted(skipped, "point"));

  Writer w;
  open_svg(w, c.id, c.title, desc, notes_height, marks, skipped);
  w("<g class=\"grid\" stroke=\"{}\">\n", kGrid);
  x_grid(w, xa, p);
  y_grid(w, ya, p);
  w("</g>\n");
  w("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"{}\"/>\n", px(p.left),
    px(p.top), px(p.right - p.left), px(p.bottom - p.top), kFrame);
  w("<g class=\"x-axis\">\n");
  x_ticks(w, xa, p);
  if (!xtitle.empty()) {
    w("<text class=\"x-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{}\" fill=\"{}\">{}</text>\n",
      px((p.left + p.right) / 2), px(p.bottom + 36), kAxisFont, kInk,
      shortened(xtitle, static_cast<size_t>((p.right - p.left) / (kAxisFont * kGlyph))));
  }
  w("</g>\n<g class=\"y-axis\">\n");
  y_ticks(w, ya, p);
  if (!ytitle.empty()) {
    const double ty = (p.top + p.bottom) / 2, tx = 12 + kAxisFont;
    w("<text class=\"y-title\" x=\"{0}\" y=\"{1}\" transform=\"rotate(-90 {0} {1})\" text-anchor=\"middle\" "
      "font-size=\"{2}\" fill=\"{3}\">{4}</text>\n",
      px(tx), px(ty), kAxisFont, kInk,
      shortened(ytitle, static_cast<size_t>((p.bottom - p.top) / (kAxisFont * kGlyph))));
  }
  w("</g>\n");

  if (roof_known) {
    // Straight in log-log on either side of the ridge, so its corners are all the path needs.
    w("<g class=\"roofline\">\n");
    std::vector<double> corners = {xa.lo};
    if (ridge_known && ridge > xa.lo && ridge < xa.hi) corners.push_back(ridge);
    corners.push_back(xa.hi);
    std::string d;
    for (size_t i = 0; i < corners.size(); ++i) {
      d += fmt::format("{}{},{}", i == 0 ? "M" : " L", px(p.x(xa, corners[i])), px(p.y(ya, roof_at(roof, corners[i]))));
    }
    w("<path class=\"roof\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linejoin=\"round\"/>\n", d,
      kRoof);
    if (has_gflops) {
      w("<text class=\"roof-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"{}\" fill=\"{}\">peak {} "
        "GFLOP/s</text>\n",
        px(p.right - 4), px(p.y(ya, roof.peak_gflops) - 6), kSmallFont, kRoof, compact(roof.peak_gflops));
    }
    const double slope_end = ridge_known ? std::min(ridge, xa.hi) : xa.hi;
    if (has_gbps && slope_end > xa.lo) {
      // Along the sloped roof, a third of the way up, turned to its angle on screen.
      const double x0 = std::pow(10.0, (2 * std::log10(xa.lo) + std::log10(slope_end)) / 3);
      const double sx = p.x(xa, x0), sy = p.y(ya, roof_at(roof, x0));
      const double angle =
          std::atan2(p.y(ya, roof_at(roof, slope_end)) - sy, p.x(xa, slope_end) - sx) * 180 / std::numbers::pi;
      w("<text class=\"roof-label\" x=\"{0}\" y=\"{1}\" transform=\"rotate({2:.1f} {0} {1})\" font-size=\"{3}\" "
        "fill=\"{4}\">{5} GB/s</text>\n",
        px(sx), px(sy - 5), angle, kSmallFont, kRoof, compact(roof.peak_gbps));
    }
    if (ridge_known && ridge > xa.lo && ridge < xa.hi) {
      const double rx = p.x(xa, ridge), ry = p.y(ya, roof.peak_gflops);
      w("<g class=\"ridge\" data-intensity=\"{}\" data-gflops=\"{}\">", ridge, roof.peak_gflops);
      w("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\" stroke-dasharray=\"4 3\"/>", px(rx), px(ry),
        px(p.bottom), kFrame);
      w("<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{}\"><title>ridge point: {} FLOP/byte, {} "
        "GFLOP/s</title></circle>",
        px(rx), px(ry), kRoof, compact(ridge, 4), compact(roof.peak_gflops, 4));
      w("<text x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{}\">ridge {} FLOP/byte</text></g>\n", px(rx + 4),
        px(p.bottom - 6), kSmallFont, kMuted, compact(ridge));
    }
    w("</g>\n");
  }

  for (size_t si = 0; si < c.series.size(); ++si) {
    const auto& s = c.series[si];
    const Style look = style(si);
    w("<g class=\"series\" data-series=\"{}\">\n", escape(s.name));
    if (kind == Kind::Line) {
      std::string d;
      size_t segment = 0;  // points in the current unbroken run
      size_t lines = 0;
      for (const auto& pt : s.points) {
        if (!drawable(pt)) {
          segment = 0;
          continue;
        }
        d += fmt::format("{}{}{},{}", d.empty() ? "" : " ", segment == 0 ? "M" : "L", px(p.x(xa, pt.x)),
                         px(p.y(ya, pt.y)));
        lines += segment > 0 ? 1 : 0;
        ++segment;
      }
      if (lines > 0) {
        w("<path class=\"line\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" "
          "stroke-linejoin=\"round\"{}/>\n",
          d, look.colour, look.hollow ? " stroke-dasharray=\"5 3\"" : "");
      }
    }
    for (const auto& pt : s.points) {
      if (!drawable(pt)) continue;
      std::string tip = pt.label;
      if (c.series.size() > 1 && !s.name.empty()) tip += tip.empty() ? s.name : " (" + s.name + ")";
      tip += fmt::format("{}{} {}, {} {}", tip.empty() ? "" : ": ", xname, compact(pt.x, 4), yname, compact(pt.y, 4));
      if (roof_known) tip += fmt::format(", {} of roof", percent(pt.y / roof_at(roof, pt.x)));
      w("<circle class=\"mark\" cx=\"{}\" cy=\"{}\" r=\"{}\" {}><title>{}</title></circle>\n", px(p.x(xa, pt.x)),
        px(p.y(ya, pt.y)), radius, paint(look, "0.85"), escape(tip));
    }
    w("</g>\n");
  }

  if (!labels.empty()) {
    w("<g class=\"point-labels\">\n");
    for (const auto& l : labels) {
      if (!l.placed) continue;
      if (l.leader)
        w("<line class=\"leader\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"0.7\"/>\n",
          px(l.lx0), px(l.ly0), px(l.lx1), px(l.ly1), kFrame);
      w("<text class=\"point-label\" x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{}\">{}</text>\n", px(l.x0),
        px(l.y1 - kLabelDescent * kSmallFont), kSmallFont, kInk, escape(l.text));
    }
    w("</g>\n");
  }

  legend(w, entries, kind == Kind::Line ? Swatch::Line : Swatch::Dot, p.right + 16, p.top, p.bottom);
  if (marks == 0) no_data(w, p);
  skipped_note(w, skipped, "point", xlog || ylog ? "NaN, infinite, or not above 0 on a log axis" : "NaN or infinite",
               height);
  if (!unlabelled.empty()) {
    const auto fit = static_cast<size_t>((kWidth - 24) / (kSmallFont * kGlyph));
    w("<text class=\"note unlabelled\" x=\"12\" y=\"{}\" font-size=\"{}\" fill=\"{}\">{}</text>\n",
      px(notes_height - 6), kSmallFont, kMuted,
      shortened(fmt::format("not labelled for want of room (hover for names): {}", fmt::join(unlabelled, ", ")), fit));
  }
  w("</svg>\n");
  return std::move(w.out);
}

}  // namespace

std::string scatter_svg(const Chart& c) { return xy_chart(c, Kind::Scatter, {}); }

std::string line_svg(const Chart& c) { return xy_chart(c, Kind::Line, {}); }

std::string roofline_svg(const Chart& c, const Roofline& roof) { return xy_chart(c, Kind::Roofline, roof); }

std::string bar_svg(const std::string& id, const std::string& title, const std::string& unit,
                    const std::vector<Bar>& bars, size_t max_bars) {
  struct Row {
    std::string label;
    double value = 0;
    std::string group;
    bool other = false;
  };
  std::vector<const Bar*> finite;
  for (const auto& b : bars) {
    if (on_axis(b.value, false)) finite.push_back(&b);
  }
  const size_t skipped = bars.size() - finite.size();
  double total = 0;
  bool shares = true;  // shares of the total mean something only when no value is negative
  for (const Bar* b : finite) {
    total += b->value;
    shares = shares && b->value >= 0;
  }
  shares = shares && total > 0;

  const size_t limit = std::max<size_t>(max_bars, 1);
  const size_t kept = finite.size() > limit ? limit - 1 : finite.size();
  std::vector<Row> rows;
  for (size_t i = 0; i < kept; ++i) rows.push_back({finite[i]->label, finite[i]->value, finite[i]->group});
  if (kept < finite.size()) {
    double rest = 0;
    for (size_t i = kept; i < finite.size(); ++i) rest += finite[i]->value;
    rows.push_back({fmt::format("other ({} layers)", finite.size() - kept), rest, "", true});
  }

  std::vector<std::string> groups;  // in order of first appearance
  for (const auto& r : rows) {
    if (!r.other && !r.group.empty() && std::find(groups.begin(), groups.end(), r.group) == groups.end()) {
      groups.push_back(r.group);
    }
  }
  std::vector<LegendEntry> entries;
  for (size_t i = 0; i < groups.size(); ++i) entries.push_back({groups[i], style(i)});
  const auto paint_bar = [&](const Row& r) {
    Style s{groups.empty() ? style(0).colour : kNoGroup, false};
    if (r.other) s.colour = kOther;
    const auto g = std::find(groups.begin(), groups.end(), r.group);
    if (!r.other && g != groups.end()) s = style(static_cast<size_t>(g - groups.begin()));
    if (s.hollow) return fmt::format("fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"1.5\"", s.colour);
    return fmt::format("fill=\"{}\"", s.colour);
  };
  const auto value_text = [&](double v) {
    std::string s = compact(v);
    if (!unit.empty()) s += " " + unit;
    if (shares) s += " (" + percent(v / total) + ")";
    return s;
  };

  constexpr size_t kLabelChars = 40;
  double labels = 0, values = 0;
  std::vector<double> xs = {0};
  for (const auto& r : rows) {
    labels = std::max(labels, text_width(truncate(r.label, kLabelChars), kFont));
    values = std::max(values, text_width(value_text(r.value), kSmallFont));
    xs.push_back(r.value);
  }
  const Axis xa = linear_axis(xs);

  Plot p;
  p.top = title.empty() ? 14 : 40;
  p.bottom = p.top + kBarRow * static_cast<double>(rows.empty() ? 3 : rows.size());
  p.left = 12 + std::min(labels, 260.0) + 8;
  p.right = kWidth - 12 - (entries.empty() ? 0 : legend_width(entries) + 8) - values - 6;
  const double height = p.bottom + 44 + (skipped > 0 ? 14 : 0);

  std::string desc = fmt::format("Bar chart of {}; {}", counted(rows.size(), "bar"), describe(xa, unit, "value"));
  if (shares) desc += fmt::format("; total {}{}", compact(total), unit.empty() ? "" : " " + unit);
  if (skipped > 0) desc += fmt::format("; {} not drawn", counted(skipped, "bar"));

  Writer w;
  open_svg(w, id, title, desc, height, rows.size(), skipped);
  w("<g class=\"grid\" stroke=\"{}\">\n", kGrid);
  x_grid(w, xa, p);
  w("</g>\n<g class=\"x-axis\">\n");
  x_ticks(w, xa, p);
  if (!unit.empty()) {
    w("<text class=\"x-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{}\" fill=\"{}\">{}</text>\n",
      px((p.left + p.right) / 2), px(p.bottom + 36), kAxisFont, kInk, escape(unit));
  }
  w("</g>\n");

  const double zero = p.x(xa, 0);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    const double top = p.top + kBarRow * static_cast<double>(i);
    const double end = p.x(xa, r.value);
    std::string tip = r.label;
    if (!r.group.empty()) tip += " [" + r.group + "]";
    tip += ": " + compact(r.value, 4) + (unit.empty() ? "" : " " + unit);
    if (shares) tip += " (" + percent(r.value / total) + " of total)";
    w("<g class=\"bar\">");
    w("<text class=\"bar-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{}\">{}</text>", px(p.left - 6),
      px(top + 13), r.other ? kMuted : kInk, shortened(r.label, kLabelChars));
    w("<rect class=\"mark\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"12\" {} data-value=\"{}\"><title>{}</title></rect>",
      px(std::min(zero, end)), px(top + 3), px(std::fabs(end - zero)), paint_bar(r), r.value, escape(tip));
    // Right of the bar's end, or right of zero for a negative bar, where its row is empty.
    w("<text class=\"bar-value\" x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{}\">{}</text></g>\n",
      px(std::max(zero, end) + 4), px(top + 12.5), kSmallFont, kMuted, escape(value_text(r.value)));
  }
  // The zero line, and the value axis's line along the bottom.
  w("<line class=\"baseline\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\"/>\n", px(zero), px(p.top),
    px(p.bottom), kMuted);
  w("<line x1=\"{0}\" y1=\"{2}\" x2=\"{1}\" y2=\"{2}\" stroke=\"{3}\"/>\n", px(p.left), px(p.right), px(p.bottom),
    kFrame);
  legend(w, entries, Swatch::Square, kWidth - 12 - legend_width(entries), p.top, p.bottom);
  if (rows.empty()) no_data(w, p);
  skipped_note(w, skipped, "bar", "NaN or infinite", height);
  w("</svg>\n");
  return std::move(w.out);
}

}  // namespace archbench
