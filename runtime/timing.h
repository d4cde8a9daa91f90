// Latency measurement of a network through the Halide executor, on Google Benchmark.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "networks/networks.h"
#include "runtime/executor.h"
#include "runtime/peak.h"
#include "runtime/runtime.h"

namespace archbench {

struct BenchOptions {
  ExecutorOptions executor;  // threads (0: all cores) and schedules
  int warmup = 2;            // untimed runs first (thread pool start-up, page faults, caches)
  int repetitions = 10;      // timed runs; statistics over them
};

struct LatencyStats {
  double median = 0, mean = 0, stddev = 0, min = 0, max = 0, cv = 0;  // milliseconds; cv = stddev / mean
};

struct LayerTime {
  std::string name;      // the step's last layer (fused groups are named by their output)
  std::string op;        // its op
  std::string kernel;    // the kernel the step ran, e.g. "conv+bn+relu"
  std::string schedule;  // the conv or depthwise schedule that ran ("direct", "framed"); else empty
  double median_ms = 0;
  int64_t flops = 0;        // of all layers in the step
  int64_t bytes_moved = 0;  // of all layers in the step (inputs, outputs, parameters once)
  double gflops = 0, percent_of_peak = 0;
  // The roofline bound on this call (analysis: roofline_bound_ms) and the median's distance
  // from it: 100 % is a call that runs at the machine's FMA peak or memory bandwidth.
  double bound_ms = 0, percent_of_roofline = 0;
};

struct BenchResult {
  std::string network, target = "cpu", kernel_set;
  Shape input;
  int threads = 0, repetitions = 0;
  std::string conv_schedule, depthwise_schedule;
  LatencyStats latency;
  std::vector<double> samples_ms;  // every timed repetition, in order
  std::vector<LayerTime> layers;
  // The sum of the calls' roofline bounds, and the median latency's distance from it.
  double bound_ms = 0, percent_of_roofline = 0;
  MachinePeak peak;  // the CPU's (on a GPU target: not measured, zero)
  // GPU targets: medians of the input's copy to the device and the outputs' copy back, timed
  // apart from the latency above (which ends with a device synchronisation).
  double upload_ms = 0, download_ms = 0;
  // arena: activations; scratch: conv scratch outside it (Executor::scratch_bytes).
  int64_t arena_bytes = 0, scratch_bytes = 0, planned_peak_bytes = 0, max_rss_bytes = 0;
};

// The cpu kernel set's variant this machine dispatches to: "cpu (x86-64 avx512_skylake)".
std::string cpu_kernel_set();

// Runs `options.warmup` untimed and `options.repetitions` timed inferences of one input.
// `weights` are consumed as they are prepared (pass them with std::move where the caller is
// done with them: the process then never holds the whole network's weights twice).
BenchResult benchmark_network(const Graph& graph, Weights weights, const BenchOptions& options,
                              const MachinePeak& peak);

// The `archbench bench --format json` contract (README).
nlohmann::ordered_json bench_json(const BenchResult& result);
std::string bench_table(const BenchResult& result, bool per_layer);

}  // namespace archbench
