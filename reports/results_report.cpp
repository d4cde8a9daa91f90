#include "reports/results_report.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "analysis/analysis.h"
#include "common/atomic_file.h"
#include "common/json_text.h"
#include "networks/networks.h"
#include "reports/charts.h"
#include "reports/detail/table.h"
#include "reports/stats.h"

namespace archbench {

using detail::html_escape;
using detail::Table;

namespace {

const std::vector<std::string> kSelectorFields = {"run", "network", "input", "target", "threads", "schedule"};

std::string mib_short(int64_t bytes) { return fmt::format("{:.1f}", static_cast<double>(bytes) / 1048576.0); }
std::string threads_text(int t) { return t == 0 ? "all" : std::to_string(t); }

std::string field_of(const CaseRecord& c, const std::string& field) {
  if (field == "run") return std::to_string(c.run_id);
  if (field == "network") return c.network;
  if (field == "input") return shape_text(c.input);
  if (field == "target") return c.target;
  if (field == "threads") return std::to_string(c.threads);
  return c.schedule;
}

// The fields that tell apart the cases of one sweep; `skip` leaves some out (those an A/B
// comparison varies).
std::string dims_key(const CaseRecord& c, const std::set<std::string>& skip = {}) {
  std::string key;
  for (const std::string& f : kSelectorFields)
    if (f != "run" && !skip.count(f)) key += field_of(c, f) + "|";
  return key;
}

std::string case_label(const CaseRecord& c) {
  return archbench::case_label(c.network, c.input, c.target, c.threads, c.schedule);
}

double achieved_gflops(const CaseRecord& c) {
  return c.median_ms > 0 ? static_cast<double>(c.flops) / (c.median_ms * 1e-3) / 1e9 : 0;
}

// A kernel call's roofline bound under its case's measured peaks (analysis: roofline_bound_ms).
double bound_ms(const CaseRecord& c, const KernelRecord& k) {
  return roofline_bound_ms(k.flops, k.bytes_moved, c.peak_gflops, c.peak_gbps);
}

// The case's kernel calls' bounds summed, and its median latency as a percentage of the way
// to that sum (0 where no peak was measured: GPU targets).
double case_bound_ms(const CaseRecord& c) {
  double sum = 0;
  for (const KernelRecord& k : c.kernels) sum += bound_ms(c, k);
  return sum;
}
double case_percent_of_roofline(const CaseRecord& c) { return percent_of_roofline(case_bound_ms(c), c.median_ms); }
std::string percent_text(double p) { return p > 0 ? fmt::format("{:.1f}", p) : "-"; }

std::string slug(const std::string& s) {
  std::string out;
  for (char ch : s) {
    unsigned char u = static_cast<unsigned char>(ch);
    out += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-';
  }
  return out;
}

// One line for a Markdown table cell.
std::string md_cell(std::string s) {
  for (char& ch : s)
    if (ch == '\n' || ch == '\r') ch = ' ';
  std::string out;
  for (char ch : s) out += ch == '|' ? std::string("\\|") : std::string(1, ch);
  return out;
}

bool matches(const CaseRecord& c, const CaseSelector& s) {
  if (s.run && c.run_id != *s.run) return false;
  for (const auto& [field, value] : s.fields)
    if (field_of(c, field) != value) return false;
  return true;
}

std::string kernel_family(const std::string& kernel) { return kernel.substr(0, kernel.find('+')); }

struct Chart2 {
  std::string id, title, svg;
};

struct AbRow {
  const CaseRecord *a = nullptr, *b = nullptr;
  AbComparison cmp;
};

}  // namespace

CaseSelector parse_selector(const std::string& text, const std::vector<RunRecord>& runs, const std::string& option) {
  CaseSelector s;
  s.text = text;
  if (text.empty()) throw std::invalid_argument(option + ": an empty selector");
  if (text.find('=') == std::string::npos) {
    bool digits =
        std::all_of(text.begin(), text.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
    for (const RunRecord& r : runs)
      if ((digits && std::to_string(r.id) == text) || (!digits && r.uuid.rfind(text, 0) == 0)) {
        if (s.run && !digits)
          throw std::invalid_argument(fmt::format("{} '{}': the uuid prefix names several runs", option, text));
        s.run = r.id;
      }
    if (!s.run)
      throw std::invalid_argument(
          fmt::format("{} '{}': no run with that id or uuid prefix (`archbench report --db DB --list-runs` lists them)",
                      option, text));
    return s;
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t eq = part.find('=');
    std::string field = eq == std::string::npos ? part : part.substr(0, eq);
    if (eq == std::string::npos || eq + 1 == part.size() ||
        std::find(kSelectorFields.begin(), kSelectorFields.end(), field) == kSelectorFields.end())
      throw std::invalid_argument(fmt::format(
          "{} '{}': expected FIELD=VALUE[,FIELD=VALUE...] with fields run, network, input, target, threads, "
          "schedule (or a run id)",
          option, text));
    s.fields.emplace_back(field, part.substr(eq + 1));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return s;
}

struct ReportData {
  std::filesystem::path db_path;
  std::vector<RunRecord> runs;                 // selected
  std::vector<CaseRecord> cases;               // of the selected runs, with details
  std::vector<const CaseRecord*> table;        // the latest ok case per network/input/target/threads/schedule
  std::vector<const CaseRecord*> failed;       // failed cases without a later success
  std::vector<const CaseRecord*> per_network;  // one representative case per network: the first in `table`
  std::optional<std::pair<CaseSelector, CaseSelector>> compare;
  std::vector<AbRow> ab;
  std::string generated_at;
};

namespace {

ReportData gather(ResultsDb& db, const ReportOptions& options) {
  ReportData d;
  d.db_path = db.path();
  d.generated_at = utc_now();
  ResultsDb::Snapshot view(db);  // a sweep may be writing it
  std::vector<RunRecord> all = db.read_runs();
  if (options.runs.empty()) {
    d.runs = all;
  } else {
    for (const std::string& text : options.runs) {
      CaseSelector s = parse_selector(text, all, "--run");
      if (!s.fields.empty())
        throw std::invalid_argument(fmt::format("--run '{}': expected a run id or uuid prefix", text));
      for (const RunRecord& r : all)
        if (r.id == *s.run &&
            std::none_of(d.runs.begin(), d.runs.end(), [&](const RunRecord& x) { return x.id == r.id; }))
          d.runs.push_back(r);
    }
  }
  if (d.runs.empty()) throw std::invalid_argument(fmt::format("{}: the database has no runs yet", db.path().string()));
  std::vector<int64_t> ids;
  for (const RunRecord& r : d.runs) ids.push_back(r.id);
  d.cases = db.read_cases(ids, true);
  if (!options.networks.empty()) {
    std::set<std::string> present;
    for (const CaseRecord& c : d.cases) present.insert(c.network);
    for (const std::string& n : options.networks)
      if (!present.count(n)) {
        // A spec file's network is named by its path: "tiny" finds "../specs/tiny.yaml".
        std::string near;
        for (const std::string& p : present)
          if (std::filesystem::path(p).stem() == n) near = p;
        if (near.empty()) near = closest_name(n, {present.begin(), present.end()});
        throw std::invalid_argument(fmt::format("--networks: no case of '{}' in the selected runs{} (they have: {})", n,
                                                near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near),
                                                fmt::join(present, ", ")));
      }
    std::set<std::string> wanted(options.networks.begin(), options.networks.end());
    std::erase_if(d.cases, [&](const CaseRecord& c) { return !wanted.count(c.network); });
  }

  std::map<std::string, const CaseRecord*> latest_ok, latest_failed;
  std::vector<std::string> order;
  for (const CaseRecord& c : d.cases) {  // ordered by run, then position: later runs win
    std::string k = dims_key(c);
    if (!latest_ok.count(k) && !latest_failed.count(k)) order.push_back(k);
    (c.status == "ok" ? latest_ok : latest_failed)[k] = &c;
  }
  std::set<std::string> networks_seen;
  for (const std::string& k : order) {
    if (latest_ok.count(k)) {
      const CaseRecord* c = latest_ok[k];
      d.table.push_back(c);
      if (networks_seen.insert(c->network).second) d.per_network.push_back(c);
    }
    if (latest_failed.count(k) && (!latest_ok.count(k) || latest_failed[k]->id > latest_ok[k]->id))
      d.failed.push_back(latest_failed[k]);
  }

  if (options.compare) {
    CaseSelector a = parse_selector(options.compare->first, all, "--compare"),
                 b = parse_selector(options.compare->second, all, "--compare");
    std::set<std::string> varied;
    for (const CaseSelector* s : {&a, &b})
      for (const auto& f : s->fields) varied.insert(f.first);
    std::map<std::string, const CaseRecord*> in_a, in_b;
    std::vector<std::string> pair_order;
    for (const CaseRecord& c : d.cases) {
      if (c.status != "ok") continue;
      std::string k = dims_key(c, varied);
      if (matches(c, a)) {
        if (!in_a.count(k) && !in_b.count(k)) pair_order.push_back(k);
        in_a[k] = &c;
      }
      if (matches(c, b)) {
        if (!in_a.count(k) && !in_b.count(k)) pair_order.push_back(k);
        in_b[k] = &c;
      }
    }
    for (const std::string& k : pair_order)
      if (in_a.count(k) && in_b.count(k) && in_a[k] != in_b[k])
        d.ab.push_back({in_a[k], in_b[k], compare_samples(in_a[k]->samples_ms, in_b[k]->samples_ms)});
    if (d.ab.empty())
      throw std::invalid_argument(fmt::format(
          "--compare '{}' '{}': no successful case of A has a counterpart in B (cases pair up by the fields the "
          "selectors do not name)",
          a.text, b.text));
    d.compare = std::make_pair(a, b);
  }
  return d;
}

Table runs_table(const ReportData& d) {
  Table t{{"run", "sweep", "shard", "started (UTC)", "finished", "host", "CPU", "cores", "peak GFLOP/s", "GB/s",
           "archbench", "ok", "failed"},
          {true, false, false, false, false, false, false, true, true, true, false, true, true},
          {}};
  for (const RunRecord& r : d.runs)
    t.rows.push_back({std::to_string(r.id), r.sweep, r.shard, r.started_at,
                      r.finished_at.empty() ? "no (interrupted or running)" : r.finished_at, r.machine.hostname,
                      r.machine.cpu_model, std::to_string(r.machine.cores), fmt::format("{:.1f}", r.peak_gflops),
                      fmt::format("{:.1f}", r.peak_gbps), r.archbench_version + " " + r.git_hash,
                      std::to_string(r.cases_ok), std::to_string(r.cases_failed)});
  return t;
}

Table architecture_table(const ReportData& d) {
  Table t{{"network", "input", "target", "threads", "schedule", "params (M)", "GMACs", "peak act. MiB", "RF",
           "median ms", "cv %", "GFLOP/s", "% peak", "% roofline"},
          {false, false, false, true, false, true, true, true, true, true, true, true, true, true},
          {}};
  for (const CaseRecord* c : d.table) {
    double gf = achieved_gflops(*c);
    std::string rf = c->rf_h == c->rf_w ? fmt::format("{:g}", c->rf_h) : fmt::format("{:g}x{:g}", c->rf_h, c->rf_w);
    t.rows.push_back({c->network, shape_text(c->input), c->target, threads_text(c->threads), c->schedule,
                      fmt::format("{:.2f}", static_cast<double>(c->params) / 1e6),
                      fmt::format("{:.3f}", static_cast<double>(c->macs) / 1e9), mib_short(c->peak_activation_bytes),
                      rf, fmt::format("{:.3f}", c->median_ms), fmt::format("{:.1f}", 100 * c->cv),
                      fmt::format("{:.1f}", gf),
                      c->peak_gflops > 0 ? fmt::format("{:.1f}", 100 * gf / c->peak_gflops) : "-",
                      percent_text(case_percent_of_roofline(*c))});
  }
  return t;
}

Table failed_table(const ReportData& d) {
  Table t{{"run", "network", "input", "target", "threads", "schedule", "error"},
          {true, false, false, false, true, false, false},
          {}};
  for (const CaseRecord* c : d.failed)
    t.rows.push_back({std::to_string(c->run_id), c->network, shape_text(c->input), c->target, threads_text(c->threads),
                      c->schedule, c->error});
  return t;
}

Table ab_table(const ReportData& d) {
  Table t{{"network", "input", "target", "threads", "schedule", "A median ms", "B median ms", "speedup of B", "p",
           "verdict"},
          {false, false, false, true, false, true, true, true, true, false},
          {}};
  for (const AbRow& row : d.ab) {
    const CaseRecord& a = *row.a;
    const CaseRecord& b = *row.b;
    auto both = [](const std::string& x, const std::string& y) { return x == y ? x : x + " / " + y; };
    std::string verdict = row.cmp.verdict;
    if (!row.cmp.enough_samples && verdict != "too few repetitions")
      verdict += fmt::format(" (fewer than {} repetitions: unreliable)", kMinReliableRepetitions);
    t.rows.push_back({both(a.network, b.network), both(shape_text(a.input), shape_text(b.input)),
                      both(a.target, b.target), both(threads_text(a.threads), threads_text(b.threads)),
                      both(a.schedule, b.schedule), fmt::format("{:.3f}", row.cmp.median_a),
                      fmt::format("{:.3f}", row.cmp.median_b), fmt::format("{:.3f}x", row.cmp.speedup),
                      fmt::format("{:.3g}", row.cmp.test.p_value), verdict});
  }
  return t;
}

// The case's kernel calls that lose the most time against their roofline bound (median minus
// bound), at most `limit`: where a network's time goes beyond what the machine needs.
Table roofline_table(const CaseRecord& c, size_t limit) {
  Table t{{"layer", "kernel", "schedule", "median ms", "bound ms", "% roofline", "ms above bound"},
          {false, false, false, true, true, true, true},
          {}};
  std::vector<const KernelRecord*> calls;
  for (const KernelRecord& k : c.kernels)
    if (bound_ms(c, k) > 0) calls.push_back(&k);
  auto lost = [&](const KernelRecord* k) { return k->median_ms - bound_ms(c, *k); };
  std::stable_sort(calls.begin(), calls.end(),
                   [&](const KernelRecord* x, const KernelRecord* y) { return lost(x) > lost(y); });
  for (size_t i = 0; i < calls.size() && i < limit; ++i) {
    const KernelRecord& k = *calls[i];
    t.rows.push_back({k.name, k.kernel, k.schedule.empty() ? "-" : k.schedule, fmt::format("{:.3f}", k.median_ms),
                      fmt::format("{:.3f}", bound_ms(c, k)),
                      percent_text(percent_of_roofline(bound_ms(c, k), k.median_ms)), fmt::format("{:.3f}", lost(&k))});
  }
  return t;
}

// Kernel calls of B against A's by name, the largest absolute differences first.
Table ab_layers_table(const AbRow& row, size_t limit) {
  Table t{{"layer", "kernel", "schedule", "A ms", "B ms", "speedup of B"}, {false, false, false, true, true, true}, {}};
  std::map<std::string, const KernelRecord*> in_b;
  for (const KernelRecord& k : row.b->kernels) in_b[k.name] = &k;
  std::vector<std::pair<const KernelRecord*, const KernelRecord*>> pairs;
  for (const KernelRecord& k : row.a->kernels)
    if (in_b.count(k.name)) pairs.emplace_back(&k, in_b[k.name]);
  std::stable_sort(pairs.begin(), pairs.end(), [](const auto& x, const auto& y) {
    return std::abs(x.first->median_ms - x.second->median_ms) > std::abs(y.first->median_ms - y.second->median_ms);
  });
  for (size_t i = 0; i < pairs.size() && i < limit; ++i) {
    const auto& [ka, kb] = pairs[i];
    auto both = [](const std::string& a, const std::string& b) {
      if (a.empty() && b.empty()) return std::string("-");
      return a == b ? a : (a.empty() ? "-" : a) + " / " + (b.empty() ? "-" : b);
    };
    t.rows.push_back({ka->name, both(ka->kernel, kb->kernel), both(ka->schedule, kb->schedule),
                      fmt::format("{:.3f}", ka->median_ms), fmt::format("{:.3f}", kb->median_ms),
                      kb->median_ms > 0 ? fmt::format("{:.2f}x", ka->median_ms / kb->median_ms) : "-"});
  }
  return t;
}

// The report's opening findings, computed from the architecture table's cases: the networks
// using the least and most time per multiply-accumulate, the one with the most activation
// memory at its peak, the largest receptive field per GMAC, and the kernel calls under 30 % of
// their roofline bound. A case is named by its network alone where the table has one case of it.
std::vector<std::string> findings(const ReportData& d) {
  std::vector<std::string> out;
  std::map<std::string, int> cases_of;
  for (const CaseRecord* c : d.table) ++cases_of[c->network];
  auto name = [&](const CaseRecord* c) { return cases_of[c->network] == 1 ? c->network : case_label(*c); };
  auto gmacs = [](const CaseRecord* c) { return static_cast<double>(c->macs) / 1e9; };
  std::vector<const CaseRecord*> timed;
  for (const CaseRecord* c : d.table)
    if (c->macs > 0 && c->median_ms > 0) timed.push_back(c);
  auto per_gmac = [&](const CaseRecord* c) { return c->median_ms / gmacs(c); };
  if (timed.size() >= 2) {
    auto [lo, hi] = std::minmax_element(timed.begin(), timed.end(), [&](const CaseRecord* a, const CaseRecord* b) {
      return per_gmac(a) < per_gmac(b);
    });
    out.push_back(fmt::format(
        "Least time per GMAC: {} ({:.2f} ms per GMAC, {:.1f} GFLOP/s); most: {} ({:.2f} ms per GMAC, {:.1f} GFLOP/s), "
        "{:.1f}x as long per multiply-accumulate.",
        name(*lo), per_gmac(*lo), achieved_gflops(**lo), name(*hi), per_gmac(*hi), achieved_gflops(**hi),
        per_gmac(*hi) / per_gmac(*lo)));
  }
  if (!d.table.empty()) {
    const CaseRecord* m = *std::max_element(
        d.table.begin(), d.table.end(),
        [](const CaseRecord* a, const CaseRecord* b) { return a->peak_activation_bytes < b->peak_activation_bytes; });
    out.push_back(fmt::format("Most activation memory at its peak: {} ({} MiB; {:.2f} M parameters).", name(m),
                              mib_short(m->peak_activation_bytes), static_cast<double>(m->params) / 1e6));
  }
  std::vector<const CaseRecord*> with_rf;
  for (const CaseRecord* c : d.table)
    if (c->macs > 0 && std::max(c->rf_h, c->rf_w) > 0) with_rf.push_back(c);
  if (!with_rf.empty()) {
    auto rf_per_gmac = [&](const CaseRecord* c) { return std::max(c->rf_h, c->rf_w) / gmacs(c); };
    const CaseRecord* r =
        *std::max_element(with_rf.begin(), with_rf.end(),
                          [&](const CaseRecord* a, const CaseRecord* b) { return rf_per_gmac(a) < rf_per_gmac(b); });
    out.push_back(fmt::format("Largest receptive field per GMAC: {} ({:g} input pixels across for {:.3f} GMACs).",
                              name(r), std::max(r->rf_h, r->rf_w), gmacs(r)));
  }
  size_t calls = 0, slow = 0;
  double time = 0, slow_time = 0;
  const CaseRecord* worst_case = nullptr;
  const KernelRecord* worst = nullptr;
  std::set<std::string> slow_networks;
  for (const CaseRecord* c : d.table)
    for (const KernelRecord& k : c->kernels) {
      double bound = bound_ms(*c, k);
      if (bound <= 0 || k.median_ms <= 0) continue;
      ++calls;
      time += k.median_ms;
      if (percent_of_roofline(bound, k.median_ms) >= 30) continue;
      ++slow;
      slow_time += k.median_ms;
      slow_networks.insert(c->network);
      if (!worst || k.median_ms > worst->median_ms) worst = &k, worst_case = c;
    }
  if (calls > 0 && slow == 0)
    out.push_back(fmt::format("Every one of the {} kernel calls reaches 30 % of its roofline bound or more.", calls));
  else if (slow > 0)
    out.push_back(fmt::format(
        "{} of {} kernel calls ({} network{}) reach under 30 % of their roofline bound, {:.1f} % of the kernel "
        "time; the longest of them: {} in {} ({}, {:.3f} ms, {} % of its bound).",
        slow, calls, slow_networks.size(), slow_networks.size() == 1 ? "" : "s", 100 * slow_time / time, worst->name,
        name(worst_case), worst->kernel, worst->median_ms,
        percent_text(percent_of_roofline(bound_ms(*worst_case, *worst), worst->median_ms))));
  return out;
}

std::vector<Chart2> overview_charts(const ReportData& d) {
  std::vector<Chart2> out;
  Chart scatter{"latency-vs-gmacs", "Latency against GMACs", {"GMACs", true}, {"median latency (ms)", true}, {}, false};
  std::map<std::string, size_t> series_of;
  std::map<std::string, int> cases_of;  // per network: a network with one case is tagged by its name alone
  for (const CaseRecord* c : d.table) ++cases_of[c->network];
  for (const CaseRecord* c : d.table) {
    std::string name =
        fmt::format("{} batch {} threads {} {}", c->target, c->input.n, threads_text(c->threads), c->schedule);
    if (!series_of.count(name)) {
      series_of[name] = scatter.series.size();
      scatter.series.push_back({name, {}});
    }
    scatter.series[series_of[name]].points.push_back({static_cast<double>(c->macs) / 1e9, c->median_ms,
                                                      fmt::format("{} {}", c->network, shape_text(c->input)),
                                                      cases_of[c->network] == 1 ? c->network : ""});
  }
  scatter.label_points = d.table.size() <= 40;
  out.push_back({scatter.id, scatter.title, scatter_svg(scatter)});

  Chart roof{"roofline",
             "Roofline: every kernel call of each network's first case",
             {"arithmetic intensity (FLOP/byte)", true},
             {"achieved GFLOP/s", true},
             {},
             false};
  Roofline peaks;
  std::map<std::string, size_t> family_of;
  for (const CaseRecord* c : d.per_network) {
    peaks.peak_gflops = std::max(peaks.peak_gflops, c->peak_gflops);
    peaks.peak_gbps = std::max(peaks.peak_gbps, c->peak_gbps);
    for (const KernelRecord& k : c->kernels) {
      if (k.flops <= 0 || k.bytes_moved <= 0 || k.median_ms <= 0) continue;
      std::string family = kernel_family(k.kernel);
      if (!family_of.count(family)) {
        family_of[family] = roof.series.size();
        roof.series.push_back({family, {}});
      }
      roof.series[family_of[family]].points.push_back(
          {static_cast<double>(k.flops) / static_cast<double>(k.bytes_moved), k.gflops,
           fmt::format("{}: {} ({})", c->network, k.name, k.kernel)});
    }
  }
  out.push_back({roof.id, roof.title, roofline_svg(roof, peaks)});
  return out;
}

std::vector<Chart2> network_charts(const CaseRecord& c, const std::string& id) {
  std::vector<Chart2> out;
  std::vector<const KernelRecord*> by_time;
  for (const KernelRecord& k : c.kernels) by_time.push_back(&k);
  std::stable_sort(by_time.begin(), by_time.end(),
                   [](const KernelRecord* x, const KernelRecord* y) { return x->median_ms > y->median_ms; });
  std::vector<Bar> bars;
  for (const KernelRecord* k : by_time) bars.push_back({k->name, k->median_ms, kernel_family(k->kernel)});
  std::string title = fmt::format("{}: time per kernel call ({})", c.network, case_label(c));
  out.push_back({"layers-" + id, title, bar_svg("layers-" + id, title, "ms", bars)});

  Chart rf{"rf-" + id,
           fmt::format("{}: receptive field growth", c.network),
           {"layer (execution order)", false},
           {"receptive field (input pixels)", true},
           {{"height", {}}, {"width", {}}},
           false};
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const LayerRecord& l = c.layers[i];
    std::string label = fmt::format("{} ({}): {:g}", l.name, l.op, l.rf_h);
    rf.series[0].points.push_back({static_cast<double>(i), l.rf_h, label});
    rf.series[1].points.push_back({static_cast<double>(i), l.rf_w, fmt::format("{} ({}): {:g}", l.name, l.op, l.rf_w)});
  }
  if (std::all_of(c.layers.begin(), c.layers.end(), [](const LayerRecord& l) { return l.rf_h == l.rf_w; }))
    rf.series.pop_back(), rf.series[0].name = "height = width";
  out.push_back({rf.id, rf.title, line_svg(rf)});

  Chart mem{"memory-" + id,
            fmt::format("{}: live activations over the execution order", c.network),
            {"layer (execution order)", false},
            {"live activation memory (MiB)", false},
            {{"live buffers", {}}},
            false};
  for (size_t i = 0; i < c.layers.size(); ++i)
    mem.series[0].points.push_back({static_cast<double>(i), static_cast<double>(c.layers[i].live_bytes) / 1048576.0,
                                    fmt::format("{}: {} MiB", c.layers[i].name, mib_short(c.layers[i].live_bytes))});
  out.push_back({mem.id, mem.title, line_svg(mem)});
  return out;
}

std::string inline_svg(const std::string& svg) {  // drop an XML prolog: not allowed inside HTML
  if (svg.rfind("<?xml", 0) == 0) return svg.substr(svg.find("?>") + 2);
  return svg;
}

nlohmann::ordered_json case_json(const CaseRecord& c) {
  nlohmann::ordered_json kernels = nlohmann::ordered_json::array(), layers = nlohmann::ordered_json::array();
  for (const KernelRecord& k : c.kernels)
    kernels.push_back({{"name", k.name},
                       {"op", k.op},
                       {"kernel", k.kernel},
                       {"schedule", k.schedule.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(k.schedule)},
                       {"median_ms", k.median_ms},
                       {"flops", k.flops},
                       {"bytes_moved", k.bytes_moved},
                       {"gflops", k.gflops},
                       {"percent_of_peak", k.percent_of_peak},
                       {"roofline_bound_ms", bound_ms(c, k)},
                       {"percent_of_roofline", percent_of_roofline(bound_ms(c, k), k.median_ms)}});
  for (const LayerRecord& l : c.layers)
    layers.push_back({{"name", l.name},
                      {"op", l.op},
                      {"output", {l.output.n, l.output.c, l.output.h, l.output.w}},
                      {"macs", l.macs},
                      {"flops", l.flops},
                      {"params", l.params},
                      {"activation_bytes", l.activation_bytes},
                      {"bytes_moved", l.bytes_moved},
                      {"live_bytes", l.live_bytes},
                      {"rf", {l.rf_h, l.rf_w}},
                      {"rf_stride", l.rf_stride_h}});
  return {{"id", c.id},
          {"run", c.run_id},
          {"key", c.key},
          {"network", c.network},
          {"spec", c.spec},
          {"spec_hash", c.spec_hash},
          {"input", {c.input.n, c.input.c, c.input.h, c.input.w}},
          {"target", c.target},
          {"threads", c.threads},
          {"schedule", c.schedule},
          {"repetitions", c.repetitions},
          {"status", c.status},
          {"error", c.error},
          {"kernel_set", c.kernel_set},
          {"started_at", c.started_at},
          {"seconds", c.seconds},
          {"latency_ms",
           {{"median", c.median_ms},
            {"mean", c.mean_ms},
            {"stddev", c.stddev_ms},
            {"min", c.min_ms},
            {"max", c.max_ms},
            {"cv", c.cv},
            {"samples", c.samples_ms}}},
          {"params", c.params},
          {"macs", c.macs},
          {"flops", c.flops},
          {"gflops", achieved_gflops(c)},
          {"memory",
           {{"peak_activation_bytes", c.peak_activation_bytes},
            {"arena_bytes", c.arena_bytes},
            {"scratch_bytes", c.scratch_bytes ? nlohmann::ordered_json(*c.scratch_bytes) : nlohmann::ordered_json()},
            {"max_rss_bytes", c.max_rss_bytes}}},
          {"receptive_field", {c.rf_h, c.rf_w}},
          {"peak", {{"gflops", c.peak_gflops}, {"gbps", c.peak_gbps}}},
          {"roofline", {{"bound_ms", case_bound_ms(c)}, {"percent", case_percent_of_roofline(c)}}},
          {"kernels", kernels},
          {"layers", layers}};
}

std::string cases_csv(const ReportData& d) {
  Table t{{"id",
           "run",
           "network",
           "spec_hash",
           "input",
           "batch",
           "target",
           "threads",
           "schedule",
           "repetitions",
           "status",
           "error",
           "median_ms",
           "mean_ms",
           "stddev_ms",
           "min_ms",
           "max_ms",
           "cv",
           "params",
           "macs",
           "flops",
           "gflops",
           "peak_activation_bytes",
           "arena_bytes",
           "scratch_bytes",
           "max_rss_bytes",
           "rf_h",
           "rf_w",
           "peak_gflops",
           "peak_gbps",
           "roofline_bound_ms",
           "percent_of_roofline",
           "kernel_set",
           "started_at",
           "seconds"},
          std::vector<bool>(35, false),
          {}};
  for (const CaseRecord& c : d.cases) {
    auto num = [](double v) { return fmt::format("{:.6g}", v); };
    t.rows.push_back({std::to_string(c.id),
                      std::to_string(c.run_id),
                      c.network,
                      c.spec_hash,
                      shape_text(c.input),
                      std::to_string(c.input.n),
                      c.target,
                      std::to_string(c.threads),
                      c.schedule,
                      std::to_string(c.repetitions),
                      c.status,
                      c.error,
                      num(c.median_ms),
                      num(c.mean_ms),
                      num(c.stddev_ms),
                      num(c.min_ms),
                      num(c.max_ms),
                      num(c.cv),
                      std::to_string(c.params),
                      std::to_string(c.macs),
                      std::to_string(c.flops),
                      num(achieved_gflops(c)),
                      std::to_string(c.peak_activation_bytes),
                      std::to_string(c.arena_bytes),
                      c.scratch_bytes ? std::to_string(*c.scratch_bytes) : "",
                      std::to_string(c.max_rss_bytes),
                      num(c.rf_h),
                      num(c.rf_w),
                      num(c.peak_gflops),
                      num(c.peak_gbps),
                      num(case_bound_ms(c)),
                      num(case_percent_of_roofline(c)),
                      c.kernel_set,
                      c.started_at,
                      num(c.seconds)});
  }
  return t.render(Format::Csv);
}

std::string cases_json(const ReportData& d) {
  nlohmann::ordered_json runs = nlohmann::ordered_json::array(), cases = nlohmann::ordered_json::array();
  for (const RunRecord& r : d.runs)
    runs.push_back({{"id", r.id},
                    {"uuid", r.uuid},
                    {"sweep", r.sweep},
                    {"sweep_hash", r.sweep_hash},
                    {"shard", r.shard},
                    {"started_at", r.started_at},
                    {"finished_at", r.finished_at},
                    {"archbench_version", r.archbench_version},
                    {"git_hash", r.git_hash},
                    {"kernel_sets", r.kernel_sets},
                    {"machine",
                     {{"hostname", r.machine.hostname},
                      {"cpu_model", r.machine.cpu_model},
                      {"cores", r.machine.cores},
                      {"memory_bytes", r.machine.memory_bytes},
                      {"gpu_name", r.machine.gpu_name}}},
                    {"peak", {{"gflops", r.peak_gflops}, {"gbps", r.peak_gbps}, {"isa", r.peak_isa}}},
                    {"cases_ok", r.cases_ok},
                    {"cases_failed", r.cases_failed}});
  for (const CaseRecord& c : d.cases) cases.push_back(case_json(c));
  nlohmann::ordered_json j{{"schema_version", kSchemaVersion},
                           {"generated_at", d.generated_at},
                           {"database", d.db_path.string()},
                           {"runs", runs},
                           {"cases", cases}};
  return json_text(j, 1) + "\n";
}

const char* kMethod =
    "Latency: median of the timed repetitions after warm-up runs, one inference per repetition, on Google "
    "Benchmark; cv = stddev / mean. GMACs: multiply-accumulates of conv, transposed conv and fully connected layers. "
    "GFLOP/s: the analyzer's FLOPs (2 x MACs + element-wise, pooling and normalisation work) over the median. "
    "% peak: against the fp32 FMA peak measured on the machine with the case's thread count. % roofline: the sum "
    "over kernel calls of max(FLOPs / FMA peak, bytes moved / triad bandwidth), the fastest the calls could run, as "
    "a percentage of the median (100: at the machine's limits). Peak act.: the analyzer's peak of live activation "
    "memory under the runtime's plan. RF: receptive field of the last spatial "
    "layer, in input pixels.";

const char* kCss = R"css(
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1, h2, h3 { font-weight: 600; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; }
details { margin: 0.5em 0 1em; }
summary { cursor: pointer; font-weight: 600; }
p.note { color: #555; font-size: 13px; }
)css";

struct Section {
  std::string md, html;
  void heading(int level, const std::string& text) {
    md += std::string(static_cast<size_t>(level), '#') + " " + text + "\n\n";
    html += fmt::format("<h{0}>{1}</h{0}>\n", level, html_escape(text));
  }
  void para(const std::string& text, bool note = false) {
    md += text + "\n\n";
    html += fmt::format("<p{}>{}</p>\n", note ? " class=\"note\"" : "", html_escape(text));
  }
  void table(Table t) {
    html += detail::html_table(t);
    for (auto& row : t.rows)
      for (auto& cell : row) cell = md_cell(cell);
    md += t.render(Format::Markdown) + "\n";
  }
  void chart(const Chart2& c) {
    md += fmt::format("![{}](charts/{}.svg)\n\n", c.title, c.id);
    html += fmt::format("<figure id=\"fig-{}\">{}</figure>\n", c.id, inline_svg(c.svg));
  }
};

// Writes `files` (relative path -> content) into `dir` all or none: staged in a temporary
// folder beside it, then renamed into place.
void write_all(const std::filesystem::path& dir, const std::map<std::string, std::string>& files) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw std::runtime_error(fmt::format("{}: cannot write the report: exists and is not a folder", dir.string()));
  fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  std::string pattern = (parent / ".archbench-report-XXXXXX").string();
  if (!mkdtemp(pattern.data()))
    throw std::runtime_error(fmt::format("{}: cannot write the report: {}", dir.string(), std::strerror(errno)));
  fs::path stage = pattern;
  try {
    fs::create_directories(stage / "charts");
    for (const auto& [name, text] : files) write_file_atomically(stage / name, text);
    if (!fs::exists(dir)) {
      fs::rename(stage, dir);
      return;
    }
    fs::create_directories(dir / "charts");
    for (const auto& entry : fs::directory_iterator(dir / "charts"))  // charts of an earlier report
      if (entry.path().extension() == ".svg" && !files.count("charts/" + entry.path().filename().string()))
        fs::remove(entry.path());
    for (const auto& [name, text] : files) fs::rename(stage / name, dir / name);
    fs::remove_all(stage);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(stage, ec);
    throw std::runtime_error(fmt::format("{}: cannot write the report: {}", dir.string(), e.code().message()));
  } catch (...) {
    fs::remove_all(stage, ec);
    throw;
  }
}

}  // namespace

std::map<std::string, std::string> render_report(ResultsDb& db, const ReportOptions& options) {
  ReportData d = gather(db, options);
  std::map<std::string, std::string> files;
  Section s;
  s.heading(1, "archbench report");
  int ok = 0;
  for (const CaseRecord& c : d.cases) ok += c.status == "ok";
  s.para(fmt::format("From {}: {} run{}, {} case{} ({} ok, {} failed). Generated {}.", d.db_path.string(),
                     d.runs.size(), d.runs.size() == 1 ? "" : "s", d.cases.size(), d.cases.size() == 1 ? "" : "s", ok,
                     d.cases.size() - static_cast<size_t>(ok), d.generated_at));
  if (std::vector<std::string> f = findings(d); !f.empty()) {
    s.heading(2, "Findings");
    s.para(fmt::format("{}", fmt::join(f, " ")));
  }
  s.heading(2, "Runs");
  s.table(runs_table(d));
  s.heading(2, "Architectures");
  s.para(
      "One row per network, input, target, thread count and schedule: the latest successful case of the selected "
      "runs.",
      false);
  s.table(architecture_table(d));
  s.para(kMethod, true);

  std::vector<Chart2> charts = overview_charts(d);
  s.heading(2, "Charts");
  for (const Chart2& c : charts) s.chart(c);
  s.heading(2, "Networks");
  std::set<std::string> ids;
  for (const CaseRecord* c : d.per_network) {
    std::string id = slug(c->network);
    while (!ids.insert(id).second) id += "-x";
    s.heading(3, case_label(*c));
    std::vector<Chart2> nc = network_charts(*c, id);
    for (const Chart2& chart : nc) s.chart(chart);
    Table furthest = roofline_table(*c, 10);
    if (!furthest.rows.empty()) {
      s.para(
          fmt::format("The kernel calls furthest from the roofline (the network: {} % of roofline, its calls' "
                      "bounds summing to {:.3f} ms):",
                      percent_text(case_percent_of_roofline(*c)), case_bound_ms(*c)));
      s.table(std::move(furthest));
    }
    charts.insert(charts.end(), nc.begin(), nc.end());
  }
  if (!d.failed.empty()) {
    s.heading(2, "Failed cases");
    s.table(failed_table(d));
  }
  if (d.compare) {
    s.heading(2, "A/B comparison");
    s.para(fmt::format(
        "A: {}; B: {}. Speedup of B = A's median / B's median (above 1: B is faster). p: two-sided Mann-Whitney U "
        "test over the repetitions; a difference is called beyond the noise when p < 0.05.",
        d.compare->first.text, d.compare->second.text));
    s.table(ab_table(d));
    for (const AbRow& row : d.ab) {
      s.heading(3, fmt::format("Per layer: {} (A) against {} (B)", case_label(*row.a), case_label(*row.b)));
      s.table(ab_layers_table(row, 15));
    }
  }
  for (const Chart2& c : charts) files["charts/" + c.id + ".svg"] = c.svg;
  files["report.md"] = s.md;
  files["report.html"] = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>archbench report</title>\n"
      "<style>{}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
      kCss, s.html);
  files["cases.csv"] = cases_csv(d);
  files["cases.json"] = cases_json(d);
  return files;
}

std::vector<std::filesystem::path> write_report(ResultsDb& db, const ReportOptions& options) {
  std::map<std::string, std::string> files = render_report(db, options);
  write_all(options.out_dir, files);
  std::vector<std::filesystem::path> written;
  for (const auto& entry : files) written.push_back(options.out_dir / entry.first);
  return written;
}

}  // namespace archbench
