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

std::string mib(int64_t bytes) { return fmt::format("{:.2f}", static_cast<double>(bytes) / (1024.0 * 1024.0)); }
std::string giga(int64_t v) { return fmt::format("{:.3f}", static_cast<double>(v) / 1e9); }

const char* kConventions =
    "MACs: multiply-accumulates of conv, transposed conv and fc layers. "
    "FLOPs: 2 x MACs + bias, element-wise, pooling and normalisation work. "
    "Params: weights + biases (batch-norm scale/shift). "
    "RF: receptive field size / effective stride / effective padding per axis (HxW when they differ); "
    "'!' marks a merge of unaligned paths.";

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
      {"conventions", kConventions},
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
        {"feature_receptive_field",
         {{"size", {number(frf.h.size), number(frf.w.size)}},
          {"stride", {number(frf.h.stride), number(frf.w.stride)}},
          {"padding", {number(frf.h.padding), number(frf.w.padding)}}}}}},
  };
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
                      {"receptive_field",
                       {{"size", {number(la.rf.h.size), number(la.rf.w.size)}},
                        {"stride", {number(la.rf.h.stride), number(la.rf.w.stride)}},
                        {"padding", {number(la.rf.h.padding), number(la.rf.w.padding)}},
                        {"aligned", la.rf.aligned}}}});
  }
  out["layers"] = layers;
  json endpoints = json::object();
  for (const auto& [name, layer] : g.endpoints) endpoints[name] = layer;
  out["endpoints"] = endpoints;
  return out;
}

std::string render_analysis(const Graph& g, const NetworkAnalysis& a, Format f) {
  if (f == Format::Json) return json_text(analysis_json(g, a), 2) + "\n";
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
                      num(la.cost.flops), num(la.cost.params), num(la.activation_bytes),
                      axes(la.rf.h.size, la.rf.w.size), axes(la.rf.h.stride, la.rf.w.stride),
                      axes(la.rf.h.padding, la.rf.w.padding), fmt::format("{:.2f}", la.intensity), endpoints});
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
      g.layers[a.memory.peak_step].name, g.layers[a.feature_layer].name, axes(frf.h.size, frf.w.size),
      axes(frf.h.stride, frf.w.stride), axes(frf.h.padding, frf.w.padding));
  out += summary + (f == Format::Markdown ? "\n" : "") + kConventions + "\n";
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
                      mib(tt.activation_bytes), mib(tt.peak_activation_bytes), axes(rf.h.size, rf.w.size),
                      axes(rf.h.stride, rf.w.stride), n.graph.layers[n.analysis.feature_layer].name,
                      std::to_string(n.graph.layers.size() - 1)});
  }
  std::string out = t.render(f);
  if (f != Format::Csv)
    out += fmt::format("\n{}\nRF is taken at the last layer with spatial extent > 1 on the path to the output.\n",
                       kConventions);
  return out;
}

}  // namespace archbench
