// tuned_db: tuned schedule databases (configs/tuned/*.yaml) — per target fingerprint, the
// measured winner of each layer signature — and how a network's steps are looked up in them,
// with a prediction from the nearest tuned signature where one is missing.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/executor.h"

namespace archbench {

// What a tuned choice is valid for: the same CPU model and ISA, kernel set and thread count.
// For a GPU kernel set: `cpu` holds the device's name, `isa` the set (cuda, opencl) and
// `threads` 1 (the host threads do not run its kernels).
// `cpu_id` tells CPUs apart whose model name does not: a hypervisor may show two generations
// as the same "AMD EPYC" ("family 25 model 17", from /proc/cpuinfo; "" where it has none, and
// in a target written before it was recorded).
struct TargetFingerprint {
  std::string cpu, isa, kernel_set;
  int threads = 0;
  std::string cpu_id;
  bool operator==(const TargetFingerprint&) const = default;
  std::string text() const;  // "AMD EPYC (family 25 model 17), avx512, cpu (x86-64 avx512_skylake), 2 threads"
};
// This machine's cpu target with `threads` kernel threads (0: all cores, resolved).
TargetFingerprint this_cpu_target(int threads);
// The fingerprint of a kernel set here: this_cpu_target for cpu, else the set's device
// (RuntimeError where it cannot run).
TargetFingerprint this_target(KernelSet set, int threads);

struct TunedEntry {
  std::string signature;                      // step_signature(): fused kernel, shapes, window, groups
  std::string schedule;                       // the winner
  std::string default_schedule;               // what the default chose for this step
  std::string network, layer;                 // where it was first seen
  std::map<std::string, double> median_ms;    // per candidate that ran
  std::map<std::string, std::string> failed;  // per candidate that threw: its error
};

struct TunedTarget {
  TargetFingerprint fingerprint;
  std::vector<TunedEntry> entries;
  const TunedEntry* find(const std::string& signature) const;
};

struct TunedDb {
  std::vector<TunedTarget> targets;
  TunedTarget* target(const TargetFingerprint& f);  // exactly this fingerprint; nullptr when absent
  const TunedTarget* target(const TargetFingerprint& f) const;
  // What --schedule tuned reads for `f`: its own target, else one that differs only in
  // recording no cpu_id (tuned on a CPU of the same name before cpu_id was recorded).
  const TunedTarget* target_for(const TargetFingerprint& f) const;
};

// Reads a database; errors are SpecError at the offending line and column (unknown keys,
// missing fields, a schedule its family does not have, a timing that is not a positive
// number, a signature listed twice for one target, another version).
TunedDb read_tuned_db(const std::filesystem::path& file);
// Reads every *.yaml of a folder (a missing folder holds none), in name order.
TunedDb read_tuned_dir(const std::filesystem::path& dir);
// Writes the whole database, whole or not at all.
void write_tuned_db(const std::filesystem::path& file, const TunedDb& db);

// The folder of the tuned databases shipped with this build (configs/tuned/), and the file
// `tune` writes by default for a fingerprint: configs/tuned/<cpu model>.yaml.
std::filesystem::path tuned_dir();
std::filesystem::path default_tuned_file(const TargetFingerprint& f);

// A signature's schedule from a target's entries: its own entry, else the entry of the
// nearest signature of the same fused kernel and family (same window and groups first;
// distance: |log| ratios of input channels, output channels and output pixels), else none.
struct Lookup {
  std::string schedule;
  const TunedEntry* from = nullptr;  // the entry it came from
  bool predicted = false;
};
std::optional<Lookup> lookup(const TunedTarget& target, const std::string& signature, const std::string& family);

// How often the prediction matches the measured winner: each entry predicted from the others.
struct PredictionCheck {
  int entries = 0, predictable = 0, correct = 0;
};
PredictionCheck check_predictions(const TunedTarget& target);

}  // namespace archbench
