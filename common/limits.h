// Limits on what the command line and sweep files accept, in one place so that both check
// the same bounds (README, "Commands", documents them).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>

namespace archbench {

// Kernel threads: 0 (all cores) up to the size of Halide's thread pool (MAX_THREADS in
// Halide 14's runtime/thread_pool_common.h; asking for more is silently clamped there, and
// the peak measurement would start that many spinning threads).
constexpr int kMaxThreads = 256;
// The threads a peak measurement (runtime/peak.h) runs for `threads` kernel threads: at most
// one per core. More cannot compute faster, and each of its threads does a fixed amount of
// work, so its wall time grows with threads / cores (256 threads on 2 cores: minutes).
inline int peak_threads(int threads) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return threads <= 0 || threads > cores ? cores : threads;
}

// Timed and untimed inferences per measurement: at least one timed; a million is far beyond
// any useful run and well inside Google Benchmark's int.
constexpr int64_t kMaxRepetitions = 1000000;
constexpr int64_t kMaxWarmup = 1000000;
// The tuner's alternating timing rounds per candidate.
constexpr int64_t kMaxTuneRounds = 1000;

// A path shortened for a message: a name too long for the file system is shown by its
// first 60 characters and its length, not echoed whole.
inline std::string shown_path(const std::string& path) {
  if (path.size() <= 80) return path;
  return path.substr(0, 60) + "... (" + std::to_string(path.size()) + " characters)";
}

}  // namespace archbench
