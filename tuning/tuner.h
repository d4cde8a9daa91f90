// tuner: `archbench tune` — for each distinct layer signature of a network, time every
// compiled schedule of its family on this machine and keep the fastest in a tuned database.
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "networks/networks.h"
#include "runtime/executor.h"
#include "runtime/runtime.h"
#include "tuning/tuned_db.h"

namespace archbench {

// The candidates of a family on a kernel set: every schedule compiled for it (cpu: the
// hand-written, knob and autoscheduled ones; cuda/opencl: gpu-tiled, gpu-simple, gpu-auto-li2018; depthwise
// columns and staged on every set).
std::vector<std::string> tuning_candidates(const std::string& family, KernelSet set = KernelSet::Cpu);

// The winner: the lowest median; a tie (within 0.5 %) goes to the default's choice, then to
// the earlier candidate in `order`. Empty when nothing ran.
std::string pick_winner(const std::map<std::string, double>& median_ms, const std::string& default_schedule,
                        const std::vector<std::string>& order);

// How far a tuned network's outputs may be from the default schedules' (max |difference| over
// max |default|): a winner other than the default's choice is checked by running the network
// with it, and one further off is recorded as failed (fp32 in another order differs by about
// 1e-7; Winograd F(4x4, 3x3) by about 1e-6 per layer).
constexpr double kTunedTolerance = 1e-4;

struct TuneOptions {
  KernelSet target = KernelSet::Cpu;
  int threads = 0;
  double budget_seconds = 600;         // no new signature is started after this
  int rounds = 3;                      // candidates alternate round by round (the machine's speed drifts)
  double tolerance = kTunedTolerance;  // a winner's outputs against the default's
  std::filesystem::path db;            // read first (signatures tuned there are skipped), written after each signature
  FILE* progress = stderr;
  // In place (the default): candidates are timed inside whole runs of the network, each
  // signature's steps with one candidate per run, so that a step meets the weights, inputs
  // and thread pool as the network leaves them (its weights streamed from memory, its input
  // just written by the step before). Else each signature's first step is timed alone,
  // repeated, on what a run left in the arena (`tune --isolated`).
  bool in_network = true;
  // Times `calls` runs of the step with the schedule the executor has set for it; tests
  // inject a fake. Default: Executor::time_step. In place it runs each candidate once
  // untimed, to find those that apply and fail early.
  std::function<std::vector<double>(Executor&, size_t step, int calls)> timer;
  // One run of the network, returning each step's wall time in seconds (in place). Default:
  // Executor::run with step times.
  std::function<std::vector<double>(Executor&, const Tensor& input)> network_timer;
};

struct TuneSummary {
  int signatures = 0, already = 0, tuned = 0, left = 0;  // left: not started within the budget
  double seconds = 0;
  // In place: the timing rounds run (fewer than options.rounds where the budget ran out) and
  // the network runs they took (not counting the one with the default's schedules that sets
  // how many runs a candidate gets per round).
  int rounds = 0, network_runs = 0;
  // Per step of the network with a choice: the default's and the winner's median (where tuned
  // in this run or found in the database), for the estimated end-to-end gain.
  double default_ms = 0, tuned_ms = 0;
  std::vector<TunedEntry> entries;  // tuned in this run, in order
  PredictionCheck prediction;       // over the target's entries after this run
};

// Throws on a bad network or weights; a candidate that throws, or that wins but changes the
// network's outputs by more than kTunedTolerance, is recorded in the entry's `failed` and
// skipped; one whose preconditions do not hold for the step is left out.
// `weights` are consumed as they are prepared, like benchmark_network's.
TuneSummary tune_network(const Graph& graph, Weights weights, const TuneOptions& options);

// For --schedule tuned: the schedule_for hook of ExecutorOptions backed by a target's entries
// (with prediction), counting what it found for the note run/bench/sweep print.
struct TunedChoice {
  std::function<std::optional<std::string>(const std::string&, const std::string&)> hook;
  std::shared_ptr<int> found, predicted, missing;
  std::string note() const;  // "tuned schedules: 18 found, 2 predicted, 0 default (FILE, fingerprint)"
  std::string source;
};
// From `db_path` (a file or a folder; empty: configs/tuned/) for this machine's `target` with
// `threads`. With no entries for the fingerprint, every step runs the default and the note
// says so.
TunedChoice tuned_choice(const std::filesystem::path& db_path, int threads, KernelSet target = KernelSet::Cpu);
// `--schedule tuned` on options: the default schedules, overridden per step by the database
// for options.target and options.threads. Returns the choice, whose counts fill as an
// Executor is built.
TunedChoice use_tuned(ExecutorOptions& options, const std::filesystem::path& db_path);

}  // namespace archbench
