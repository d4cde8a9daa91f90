// reports: render analyses as tables, JSON, CSV and Markdown.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/analysis.h"
#include "analysis/lint.h"
#include "networks/networks.h"

namespace archbench {

enum class Format { Table, Json, Csv, Markdown };

// "table" | "json" | "csv" | "markdown"; throws std::invalid_argument otherwise.
Format parse_format(const std::string& name);

// The JSON contract of `archbench analyze --format json` (README, "JSON output").
nlohmann::ordered_json analysis_json(const Graph& graph, const NetworkAnalysis& analysis);

// Per-layer report with totals, in any format.
// `warnings` (analysis/lint.h) go after the summary in the table and markdown formats and in a
// "warnings" array in JSON; CSV has no place for them (the CLI prints them on stderr).
std::string render_analysis(const Graph& graph, const NetworkAnalysis& analysis, Format format,
                            const std::vector<LintWarning>& warnings = {});

// One row per network, side by side.
struct AnalysedNetwork {
  Graph graph;
  NetworkAnalysis analysis;
};
std::string render_comparison(const std::vector<AnalysedNetwork>& networks, Format format);

// 25557032 -> "25,557,032"
std::string group_digits(int64_t value);

}  // namespace archbench
