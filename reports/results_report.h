// results_report: `archbench report` — the architecture comparison, charts, failed cases and
// A/B comparisons of a results database, as report.md (+ charts/*.svg), a self-contained
// report.html, cases.csv and cases.json.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "reports/results_db.h"

namespace archbench {

// Which cases one side of an A/B comparison holds. The text is a run id ("3"), a run uuid
// prefix ("5f2c"), or comma-separated case fields: "schedule=tuned", "threads=1,target=cpu"
// (fields: run, network, input NxCxHxW, target, threads, schedule).
struct CaseSelector {
  std::string text;
  std::optional<int64_t> run;
  std::vector<std::pair<std::string, std::string>> fields;
};
// Throws std::invalid_argument naming `option` and the text for an unknown field or a run it
// cannot find.
CaseSelector parse_selector(const std::string& text, const std::vector<RunRecord>& runs, const std::string& option);

struct ReportOptions {
  std::vector<std::string> runs;                               // run ids or uuid prefixes; empty: every run
  std::vector<std::string> networks;                           // only these networks' cases; empty: all
  std::optional<std::pair<std::string, std::string>> compare;  // selectors A and B
  std::filesystem::path out_dir;
};

// Everything a report shows, gathered from the database before any file is written.
struct ReportData;

// The report's files by name relative to out_dir (report.md, report.html, cases.csv,
// cases.json, charts/*.svg), made but not written; throws as write_report does.
std::map<std::string, std::string> render_report(ResultsDb& db, const ReportOptions& options);

// Writes the four files and charts/ into out_dir, all or none: they are written in a
// temporary folder beside it first. Throws on a bad selection (a run it cannot find, a network
// with no case in the selected runs) or an unwritable folder.
// Returns the paths written.
std::vector<std::filesystem::path> write_report(ResultsDb& db, const ReportOptions& options);

}  // namespace archbench
