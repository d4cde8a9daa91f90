#include "analysis/lint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>
#include <variant>

#include "networks/ops.h"

namespace archbench {

namespace {

bool upsamples(OpKind op) { return op == OpKind::Upsample || op == OpKind::ConvTranspose; }

// The window of a layer that can downsample (conv, deformable conv, pooling); null otherwise.
const Window* window_of(const Layer& l, bool& ceil_mode) {
  ceil_mode = false;
  if (const auto* c = std::get_if<ConvAttrs>(&l.attrs)) return &c->win;
  if (const auto* d = std::get_if<DeformConvAttrs>(&l.attrs)) return &d->win;
  if (const auto* p = std::get_if<PoolAttrs>(&l.attrs)) {
    ceil_mode = p->ceil_mode;
    return &p->win;
  }
  return nullptr;
}

// Input rows (not padding) that no window reads, at the bottom/right: what floor rounding
// leaves of (size + pads - extent) beyond the bottom padding.
int64_t dropped(int64_t size, int64_t pad_lo, int64_t pad_hi, int64_t k, int64_t s, int64_t d) {
  const int64_t span = size + pad_lo + pad_hi - (d * (k - 1) + 1);
  if (span < 0 || s <= 1) return 0;
  return std::max<int64_t>(0, span % s - pad_hi);
}

struct Drop {
  int layer = 0, merge = 0;
  int64_t rows = 0, cols = 0;
};

// The inputs whose data a layer reads: a crop's or an upsample's second input gives only its
// size (U-Net's crop to the up-convolution's size).
std::vector<int> data_inputs(const Layer& l) {
  if ((l.op == OpKind::Crop || l.op == OpKind::Upsample) && l.inputs.size() > 1) return {l.inputs[0]};
  return l.inputs;
}

// Downsampling layers that drop rows or columns upstream of a merge whose inputs mix an
// upsampled path with one that is not, each with the first such merge it feeds. Only windows
// that cover their input (extent >= stride) count: a 1x1 stride-2 conv skips every other row
// by design, at any size.
std::vector<Drop> odd_drops(const Graph& g) {
  const size_t n = g.layers.size();
  std::vector<bool> up(n, false);
  std::vector<int> merge_of(n, -1);
  for (size_t i = 0; i < n; ++i) {
    const Layer& l = g.layers[i];
    up[i] = upsamples(l.op);
    for (int j : data_inputs(l)) up[i] = up[i] || up[static_cast<size_t>(j)];
  }
  for (size_t i = 0; i < n; ++i) {
    const Layer& l = g.layers[i];
    if (!is_merge(l.op)) continue;
    bool any_up = false, any_plain = false;
    for (int j : l.inputs) (up[static_cast<size_t>(j)] ? any_up : any_plain) = true;
    if (!any_up || !any_plain) continue;
    std::vector<int> stack(l.inputs.begin(), l.inputs.end());
    while (!stack.empty()) {
      const size_t j = static_cast<size_t>(stack.back());
      stack.pop_back();
      if (merge_of[j] >= 0) continue;
      merge_of[j] = static_cast<int>(i);
      for (int k : data_inputs(g.layers[j])) stack.push_back(k);
    }
  }
  std::vector<Drop> out;
  for (size_t i = 1; i < n; ++i) {
    if (merge_of[i] < 0) continue;
    const Layer& l = g.layers[i];
    bool ceil_mode = false;
    const Window* w = window_of(l, ceil_mode);
    if (!w || ceil_mode) continue;
    const Shape& in = g.layers[static_cast<size_t>(l.inputs[0])].output;
    const bool covers_h = w->dh * (w->kh - 1) + 1 >= w->sh, covers_w = w->dw * (w->kw - 1) + 1 >= w->sw;
    Drop d{static_cast<int>(i), merge_of[i],
           covers_h ? dropped(in.h, w->pad_top, w->pad_bottom, w->kh, w->sh, w->dh) : 0,
           covers_w ? dropped(in.w, w->pad_left, w->pad_right, w->kw, w->sw, w->dw) : 0};
    if (d.rows > 0 || d.cols > 0) out.push_back(d);
  }
  return out;
}

// The graph of `spec` at input height h and width w, or nothing where it does not load.
std::optional<Graph> load_at(const std::filesystem::path& spec, LoadOptions options, const Shape& base, int64_t h,
                             int64_t w) {
  options.input = Shape{base.n, base.c, h, w};
  try {
    return load_spec(spec, options);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Whether the spec loads at (h, w) with no drop along the axes asked about.
bool clean_at(const std::filesystem::path& spec, const LoadOptions& options, const Shape& base, int64_t h, int64_t w,
              bool rows, bool cols) {
  std::optional<Graph> g = load_at(spec, options, base, h, w);
  if (!g) return false;
  for (const Drop& d : odd_drops(*g))
    if ((rows && d.rows > 0) || (cols && d.cols > 0)) return false;
  return true;
}

// The nearest sizes below and above `size` (within 256) at which the axis drops nothing.
std::string nearest_text(const std::filesystem::path& spec, const LoadOptions& options, const Shape& base, bool rows,
                         bool cols, bool square) {
  const int64_t size = rows ? base.h : base.w;
  auto clean = [&](int64_t s) {
    const int64_t h = rows || square ? s : base.h, w = cols || square ? s : base.w;
    return clean_at(spec, options, base, h, w, rows || square, cols || square);
  };
  std::optional<int64_t> below, above;
  for (int64_t s = size - 1; s >= std::max<int64_t>(1, size - 256) && !below; --s)
    if (clean(s)) below = s;
  for (int64_t s = size + 1; s <= size + 256 && !above; ++s)
    if (clean(s)) above = s;
  if (!below && !above) return "";
  std::string what = square ? "input sizes" : rows ? "input heights" : "input widths";
  std::string sizes =
      below && above ? fmt::format("{} and {}", *below, *above) : fmt::format("{}", below ? *below : *above);
  return fmt::format("; the nearest {} without such drops: {}", what, sizes);
}

// Taps per output phase of a transposed conv along one axis: output o = i * s - pad + j * d
// receives tap j where (j * d - pad) mod s = o mod s.
std::vector<int64_t> phase_taps(int64_t k, int64_t s, int64_t d, int64_t pad) {
  std::vector<int64_t> counts(static_cast<size_t>(s), 0);
  for (int64_t j = 0; j < k; ++j) ++counts[static_cast<size_t>((((j * d - pad) % s) + s) % s)];
  return counts;
}

}  // namespace

std::vector<LintWarning> lint(const Graph& g, const LoadOptions& options) {
  std::vector<LintWarning> out;
  for (const Layer& l : g.layers) {
    const auto* t = std::get_if<ConvTransposeAttrs>(&l.attrs);
    if (!t || t->win.sh * t->win.sw > 4096) continue;  // (a table per phase; no real stride is near)
    const Window& w = t->win;
    std::vector<int64_t> ph = phase_taps(w.kh, w.sh, w.dh, w.pad_top), pw = phase_taps(w.kw, w.sw, w.dw, w.pad_left);
    auto uneven = [](const std::vector<int64_t>& c) {
      return *std::min_element(c.begin(), c.end()) != *std::max_element(c.begin(), c.end());
    };
    std::vector<std::string> axes;
    if (uneven(ph)) axes.push_back(fmt::format("along height {}", fmt::join(ph, ", ")));
    if (uneven(pw)) axes.push_back(fmt::format("along width {}", fmt::join(pw, ", ")));
    if (axes.empty()) continue;
    out.push_back(
        {l.name, "checkerboard",
         fmt::format("transposed conv with kernel {}x{} and stride {}x{} overlaps unevenly: its output phases receive "
                     "{} taps (the checkerboard pattern, Odena et al. 2016); an upsample followed by a conv gives "
                     "every output pixel the same number of taps",
                     w.kh, w.kw, w.sh, w.sw, fmt::join(axes, " and ")),
         l.loc});
  }
  const std::vector<Drop> drops = odd_drops(g);
  const Shape& base = g.input().output;
  const bool loadable = !g.file.empty() && std::filesystem::is_regular_file(g.file);
  const bool square = base.h == base.w;
  for (const Drop& d : drops) {
    const Layer& l = g.layers[static_cast<size_t>(d.layer)];
    const Shape& in = g.layers[static_cast<size_t>(l.inputs[0])].output;
    bool ceil_mode = false;
    const Window& w = *window_of(l, ceil_mode);
    std::vector<std::string> parts;
    auto last = [](int64_t count, const char* what) {
      return count == 1 ? fmt::format("the last {}", what) : fmt::format("the last {} {}s", count, what);
    };
    if (d.rows > 0) parts.push_back(fmt::format("{} of its {} input rows", last(d.rows, "row"), in.h));
    if (d.cols > 0) parts.push_back(fmt::format("{} of its {} input columns", last(d.cols, "column"), in.w));
    std::string stride = w.sh == w.sw ? std::to_string(w.sh) : fmt::format("{}x{}", w.sh, w.sw);
    std::string message =
        fmt::format("stride-{} {} drops {} before '{}' merges this level with an upsampled path", stride, op_name(l.op),
                    fmt::join(parts, " and "), g.layers[static_cast<size_t>(d.merge)].name);
    if (loadable) message += nearest_text(g.file, options, base, d.rows > 0, d.cols > 0, square);
    out.push_back({l.name, "odd_size", message, l.loc});
  }
  return out;
}

std::string warning_text(const LintWarning& w, const char* severity) {
  return fmt::format("{}:{}:{}: {}: layer '{}': {}", w.loc.file, w.loc.line, w.loc.column, severity, w.layer,
                     w.message);
}

ValidSizes valid_input_sizes(const std::filesystem::path& spec, const LoadOptions& options, int64_t lo, int64_t hi) {
  Graph g = load_spec(spec, options);
  const Shape base = g.input().output;
  ValidSizes v;
  v.square = base.h == base.w;
  for (int64_t s = std::max<int64_t>(1, lo); s <= hi; ++s) {
    if (v.square) {
      if (clean_at(spec, options, base, s, s, true, true)) v.heights.push_back(s), v.widths.push_back(s);
      continue;
    }
    if (clean_at(spec, options, base, s, base.w, true, false)) v.heights.push_back(s);
    if (clean_at(spec, options, base, base.h, s, false, true)) v.widths.push_back(s);
  }
  return v;
}

std::string sizes_text(const std::vector<int64_t>& sizes) {
  if (sizes.empty()) return "none";
  // Each size listed (U-Net's are every 16th), runs of three or more consecutive ones as "a-b".
  std::vector<std::string> parts;
  for (size_t i = 0; i < sizes.size();) {
    size_t j = i;
    while (j + 1 < sizes.size() && sizes[j + 1] == sizes[j] + 1) ++j;
    if (j >= i + 2) {
      parts.push_back(fmt::format("{}-{}", sizes[i], sizes[j]));
    } else {
      for (size_t k = i; k <= j; ++k) parts.push_back(std::to_string(sizes[k]));
    }
    i = j + 1;
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace archbench
