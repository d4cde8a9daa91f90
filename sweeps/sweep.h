// sweeps: a sweep file names networks, inputs, targets, thread counts and schedules; the
// sweep runs their cross product (less `exclude:` rules), one case at a time, into the
// results database. The format is documented in the README ("Sweeps").
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "networks/networks.h"
#include "reports/results_db.h"

namespace archbench {

struct SweepCase {
  int position = 0;     // index in the full product, after exclusions
  std::string network;  // as the sweep file names it: a zoo name or a spec path
  std::filesystem::path spec;
  std::string spec_hash;  // of the network's analysis at its own input: same architecture, same hash
  Shape input;
  std::string target, schedule;
  int threads = 0;  // 0: all cores
  int repetitions = 5, warmup = 1;
  std::string key() const;    // hash of every field above except position
  std::string label() const;  // "resnet18 1x3x64x64 cpu t2 default"
};

struct Sweep {
  std::string name, file, hash;  // hash of the file's text
  std::vector<SweepCase> cases;
};

// Reads and checks a sweep file; errors are SpecError at the offending key's line and
// column: unknown keys, networks, targets or schedules, bad shapes, thread counts or
// repetitions, an exclude rule with an unknown key, and an empty product.
Sweep load_sweep(const std::filesystem::path& file);

// `--shard I/N`: the cases whose position % N == I (I in 0..N-1).
struct Shard {
  int index = 0, count = 1;
  std::string text() const;  // "I/N"
};
Shard parse_shard(const std::string& text);  // throws std::invalid_argument naming the text
std::vector<SweepCase> shard_cases(const std::vector<SweepCase>& cases, const Shard& shard);

// Measures one case into `record` (analysis figures, then timings); throws on failure, leaving
// what it filled in so far.
using CaseMeasure = std::function<void(const SweepCase&, CaseRecord&)>;
void measure_case(const SweepCase& c, CaseRecord& record);

struct SweepOptions {
  std::filesystem::path db;
  Shard shard;
  bool resume = false;                 // continue this sweep's latest run on this host, skipping finished cases
  bool retry_failed = false;           // with resume: run failed cases again
  FILE* progress = stderr;             // a bar when it is a terminal, one line per case otherwise
  CaseMeasure measure = measure_case;  // tests inject a fake
};

struct SweepSummary {
  int64_t run_id = 0;
  int cases = 0, skipped = 0, ok = 0, failed = 0;
};

// Opens (creating) the database only after the sweep file has been checked; a failing case
// is stored with status "failed" and its error, and the sweep goes on.
SweepSummary run_sweep(const Sweep& sweep, const SweepOptions& options);

}  // namespace archbench
