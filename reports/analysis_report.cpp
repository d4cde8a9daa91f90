#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "common/json_text.h"
#include "reports/detail/table.h"
#include "reports/reports.h"

namespace archbench {

namespace {

using detail::Table;

// Integers stay integers in JSON; fractional strides and paddings become doubles.
nlohmann::json number(const Rational& r) {
  if (r.is_integer()) return r.num();
  return r.to_double();
}

std::string rational_text(const Rational& r) {
  if (r.is_integer()) return std::to_string(r.num());
  return fmt::format("{:.4g}", r.to_double());
}

// "11x11" when the axes differ, "11" when they agree.
std::string axes(const Rational& h, const Rational& w) {
  return h == w ? rational_text(h) : rational_text(h) + "x" + rational_text(w);
}

// A data-dependent field (after a deformable conv) is the nominal one, marked "~".
std::string rf_size(const ReceptiveField& rf) { return (rf.data_dependent ? "~" : "") + axes(rf.h.size, rf.w.size); }

nlohmann::ordered_json rf_json(const ReceptiveField& rf, bool with_aligned) {
  nlohmann::ordered_json j = {{"size", {number(rf.h.size), number(rf.w.size)}},
                              {"stride", {number(rf.h.stride), number(rf.w.stride)}},
                              {"padding", {number(rf.h.padding), number(rf.w.padding)}}};
  if (with_aligned) j["aligned"] = rf.aligned;
  // Only where true: the analysis of a network without deformable convs (and so the spec hash
  // that sweeps key their cases by) stays what it was before the flag existed.
  if (rf.data_dependent) j["data_dependent"] = true;
  return j;
}

// The deformable convs' bilinear sampling over the network (zero when it has none).
struct SamplingTotals {
  int64_t layers = 0, samples = 0, gathers = 0, flops = 0;
};
SamplingTotals sampling_totals(const Graph& g) {
  SamplingTotals t;
  for (const Layer& l : g.layers) {
    if (l.op != OpKind::DeformConv) continue;
    DeformSampling s = deform_sampling(g, l);
    ++t.layers;
    t.samples += s.samples;  // bounded by the FLOPs total, which analyse checked
    t.gathers += s.gathers;
    t.flops += s.flops;
  }
  return t;
}

std::string mib(int64_t bytes) { return fmt::format("{:.2f}", static_cast<double>(bytes) / (1024.0 * 1024.0)); }
std::string giga(int64_t v) { return fmt::format("{:.3f}", static_cast<double>(v) / 1e9); }

const char* kConventions =
    "MACs: multiply-accumulates of conv, transposed conv and fc layers. "
    "FLOPs: 2 x MACs + bias, element-wise, pooling and normalisation work. "
    "Params: weights + biases (batch-norm scale/shift). "
    "RF: receptive field size / effective stride / effective padding per axis (HxW when they differ); "
    "'!' marks a merge of unaligned paths.";
// Added where a network has deformable convs.
const char* kDeformConventions =
    " '~' marks a data-dependent field (from a deformable conv on: the field for zero offsets, widened by "
    "offset_bound where given). Deformable convs: MACs as a conv's; their bilinear sampling is counted apart "
    "(samples, gathers) and in FLOPs.";

bool has_deformable(const Graph& g) {
  return std::any_of(g.layers.begin(), g.layers.end(), [](const Layer& l) { return l.op == OpKind::DeformConv; });
}

std::string conventions(bool deformable) { return std::string(kConventions) + (deformable ? kDeformConventions : ""); }

}  // namespace

std::string group_digits(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

Format parse_format(const std::string& name) {
  if (name == "table") return Format::Table;
  if (name == "json") return Format::Json;
  if (name == "csv") return Format::Csv;
  if (name == "markdown" || name == "md") return Format::Markdown;
  throw std::invalid_argument(fmt::format("unknown format '{}' (expected table, json, csv or markdown)", name));
}

nlohmann::ordered_json analysis_json(const Graph& g, const NetworkAnalysis& a) {
  using json = nlohmann::ordered_json;
  const Shape& in = g.input().output;
  const Totals& t = a.totals;
  const ReceptiveField& frf = a.layers[a.feature_layer].rf;
  json out = {
      {"network", g.name},
      {"input", {in.n, in.c, in.h, in.w}},
      {"conventions", conventions(has_deformable(g))},
      {"totals",
       {{"macs", t.macs},
        {"flops", t.flops},
        {"params", t.params},
        {"param_bytes", t.param_bytes},
        {"input_bytes", t.input_bytes},
        {"activation_bytes", t.activation_bytes},
        {"peak_activation_bytes", t.peak_activation_bytes},
        {"arena_bytes", t.arena_bytes},
        {"arithmetic_intensity", t.intensity},
        {"final_layer", g.layers[a.final_layer].name},
        {"feature_layer", g.layers[a.feature_layer].name},
        {"feature_receptive_field", rf_json(frf, false)}}},
  };
  if (SamplingTotals st = sampling_totals(g); st.layers > 0)
    out["totals"]["deform_sampling"] = {
        {"layers", st.layers}, {"samples", st.samples}, {"gathers", st.gathers}, {"flops", st.flops}};
  json layers = json::array();
  for (size_t i = 1; i < g.layers.size(); ++i) {
    const Layer& l = g.layers[i];
    const LayerAnalysis& la = a.layers[i];
    json inputs = json::array();
    for (int j : l.inputs) inputs.push_back(g.layers[j].name);
    layers.push_back({{"name", l.name},
                      {"op", op_name(l.op)},
                      {"inputs", inputs},
                      {"output_shape", {l.output.n, l.output.c, l.output.h, l.output.w}},
                      {"macs", la.cost.macs},
                      {"flops", la.cost.flops},
                      {"params", la.cost.params},
                      {"activation_bytes", la.activation_bytes},
                      {"arithmetic_intensity", la.intensity},
                      {"train_only", l.train_only},
                      {"receptive_field", rf_json(la.rf, true)}});
    if (l.op == OpKind::DenseCrf) {
      DenseCrfCost c = dense_crf_cost(g, l);
      layers.back()["dense_crf"] = {{"iterations", std::get<DenseCrfAttrs>(l.attrs).iterations},
                                    {"pixels", c.pixels},
                                    {"flops_per_iteration", c.flops_per_iteration},
                                    {"lattice_points_bound", {c.lattice_bound_gaussian, c.lattice_bound_bilateral}}};
    }
    if (l.op == OpKind::DeformConv) {
      DeformSampling s = deform_sampling(g, l);
      layers.back()["sampling"] = {{"samples", s.samples}, {"gathers", s.gathers}, {"flops", s.flops}};
    }
  }
  out["layers"] = layers;
  json endpoints = json::object();
  for (const auto& [name, layer] : g.endpoints) endpoints[name] = layer;
  out["endpoints"] = endpoints;
  return out;
}

std::string render_analysis(const Graph& g, const NetworkAnalysis& a, Format f,
                            const std::vector<LintWarning>& warnings) {
  if (f == Format::Json) {
    nlohmann::ordered_json j = analysis_json(g, a);
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const LintWarning& w : warnings)
      list.push_back({{"layer", w.layer},
                      {"kind", w.kind},
                      {"message", w.message},
                      {"file", w.loc.file},
                      {"line", w.loc.line},
                      {"column", w.loc.column}});
    j["warnings"] = list;
    return json_text(j, 2) + "\n";
  }
  std::map<std::string, std::vector<std::string>> endpoint_of;
  for (const auto& [name, layer] : g.endpoints) endpoint_of[layer].push_back(name);
  Table t;
  t.header = {"layer",   "op",        "output NxCxHxW", "MACs",      "FLOPs",   "params", "activation bytes",
              "RF size", "RF stride", "RF padding",     "FLOP/byte", "endpoint"};
  t.right = {false, false, false, true, true, true, true, true, true, true, true, false};
  bool csv = f == Format::Csv;
  auto num = [&](int64_t v) { return csv ? std::to_string(v) : group_digits(v); };
  for (size_t i = 1; i < g.layers.size(); ++i) {
    const Layer& l = g.layers[i];
    const LayerAnalysis& la = a.layers[i];
    std::string endpoints;
    for (const auto& e : endpoint_of[l.name]) endpoints += (endpoints.empty() ? "" : " ") + e;
    t.rows.push_back({l.name, op_name(l.op) + (la.rf.aligned ? "" : " !"), shape_text(l.output), num(la.cost.macs),
                      num(la.cost.flops), num(la.cost.params), num(la.activation_bytes), rf_size(la.rf),
                      axes(la.rf.h.stride, la.rf.w.stride), axes(la.rf.h.padding, la.rf.w.padding),
                      fmt::format("{:.2f}", la.intensity), endpoints});
  }
  const Totals& tt = a.totals;
  if (!csv)
    t.rows.push_back({"total", "", "", num(tt.macs), num(tt.flops), num(tt.params), num(tt.activation_bytes), "", "",
                      "", fmt::format("{:.2f}", tt.intensity), ""});
  std::string out;
  const Shape& in = g.input().output;
  if (f == Format::Markdown)
    out += fmt::format("## {} ({})\n\n", g.name, shape_text(in));
  else if (f == Format::Table)
    out += fmt::format("{}  input {}\n", g.name, shape_text(in));
  out += t.render(f);
  if (f == Format::Csv) return out;
  const ReceptiveField& frf = a.layers[a.feature_layer].rf;
  std::string summary = fmt::format(
      "\nMACs {} ({} G) | FLOPs {} ({} G) | params {} ({:.2f} MiB) | activations {:.2f} MiB | "
      "peak activations {:.2f} MiB (arena {:.2f} MiB, at '{}') | RF at '{}': {} / stride {} / padding {}\n",
      group_digits(tt.macs), giga(tt.macs), group_digits(tt.flops), giga(tt.flops), group_digits(tt.params),
      static_cast<double>(tt.param_bytes) / 1048576.0, static_cast<double>(tt.activation_bytes) / 1048576.0,
      static_cast<double>(tt.peak_activation_bytes) / 1048576.0, static_cast<double>(tt.arena_bytes) / 1048576.0,
      g.layers[a.memory.peak_step].name, g.layers[a.feature_layer].name, rf_size(frf), axes(frf.h.stride, frf.w.stride),
      axes(frf.h.padding, frf.w.padding));
  for (const Layer& l : g.layers) {
    if (l.op != OpKind::DenseCrf) continue;
    DenseCrfCost c = dense_crf_cost(g, l);
    summary += fmt::format(
        "dense CRF '{}': {} iterations over {} pixels x {} labels: {} FLOPs ({:.1f} % of FLOPs), {} per iteration, "
        "lattices of at most {} (d = 2) and {} (d = 5) points; its receptive field is the whole image\n",
        l.name, std::get<DenseCrfAttrs>(l.attrs).iterations, group_digits(c.pixels), l.output.c, group_digits(c.flops),
        tt.flops ? 100.0 * static_cast<double>(c.flops) / static_cast<double>(tt.flops) : 0.0,
        group_digits(c.flops_per_iteration), group_digits(c.lattice_bound_gaussian),
        group_digits(c.lattice_bound_bilateral));
  }
  if (SamplingTotals st = sampling_totals(g); st.layers > 0)
    summary += fmt::format(
        "deformable sampling ({} layer{}): {} samples, {} gathers, {} FLOPs ({:.1f} % of FLOPs; fvcore counts these "
        "layers as 0, mmcv only their offset conv)\n",
        st.layers, st.layers == 1 ? "" : "s", group_digits(st.samples), group_digits(st.gathers),
        group_digits(st.flops), tt.flops ? 100.0 * static_cast<double>(st.flops) / static_cast<double>(tt.flops) : 0.0);
  out += summary + (f == Format::Markdown ? "\n" : "") + conventions(has_deformable(g)) + "\n";
  if (!warnings.empty()) out += f == Format::Markdown ? "\n" : "";
  for (const LintWarning& w : warnings) out += (f == Format::Markdown ? "- " : "") + warning_text(w) + "\n";
  return out;
}

std::string render_comparison(const std::vector<AnalysedNetwork>& nets, Format f) {
  if (f == Format::Json) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& n : nets) {
      nlohmann::ordered_json j = analysis_json(n.graph, n.analysis);
      j.erase("layers");
      arr.push_back(j);
    }
    return json_text(arr, 2) + "\n";
  }
  Table t;
  t.header = {"network",  "input",   "params",    "GMACs",    "GFLOPs", "activations MiB",
              "peak MiB", "RF size", "RF stride", "at layer", "layers"};
  t.right = {false, false, true, true, true, true, true, true, true, false, true};
  bool csv = f == Format::Csv;
  for (const auto& n : nets) {
    const Totals& tt = n.analysis.totals;
    const ReceptiveField& rf = n.analysis.layers[n.analysis.feature_layer].rf;
    t.rows.push_back({n.graph.name, shape_text(n.graph.input().output),
                      csv ? std::to_string(tt.params) : group_digits(tt.params), giga(tt.macs), giga(tt.flops),
                      mib(tt.activation_bytes), mib(tt.peak_activation_bytes), rf_size(rf),
                      axes(rf.h.stride, rf.w.stride), n.graph.layers[n.analysis.feature_layer].name,
                      std::to_string(n.graph.layers.size() - 1)});
  }
  std::string out = t.render(f);
  if (f != Format::Csv)
    out += fmt::format("\n{}\nRF is taken at the last layer with spatial extent > 1 on the path to the output.\n",
                       conventions(std::any_of(nets.begin(), nets.end(),
                                               [](const AnalysedNetwork& n) { return has_deformable(n.graph); })));
  return out;
}

}  // namespace archbench
