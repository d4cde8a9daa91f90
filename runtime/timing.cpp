#include "runtime/timing.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "analysis/analysis.h"
#include "common/memory.h"
#include "runtime/executor.h"

namespace archbench {

namespace {

// Collects Google Benchmark's per-repetition runs instead of printing them.
class Collector : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred) error = r.error_message;
      if (r.run_type == Run::RT_Iteration) seconds.push_back(r.GetAdjustedRealTime());
    }
  }
  std::vector<double> seconds;  // in the benchmark's time unit (set to milliseconds)
  std::string error;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace

std::string cpu_kernel_set() { return fmt::format("cpu ({})", cpu_isa_target(cpu_isa())); }

BenchResult benchmark_network(const Graph& graph, Weights weights, const BenchOptions& options,
                              const MachinePeak& peak) {
  reset_peak_rss();  // max RSS: this network's, from its loaded weights on
  Executor exec(graph, std::move(weights), options.executor);
  Tensor input = default_input(graph.input().output);

  std::vector<double> step_seconds;
  for (int w = 0; w < options.warmup; ++w) exec.run(input);
  std::vector<std::vector<double>> per_step(exec.steps().size());
  std::vector<double> upload_ms, download_ms;
  // The iteration time is the kernels' (Executor::Transfers::compute_seconds). On the cpu set
  // each run also times its steps; on a GPU set per-step times need a synchronisation after
  // every step, so they come from separate runs after the timed ones.
  const bool gpu = options.executor.target != KernelSet::Cpu;
  auto* b = benchmark::RegisterBenchmark(graph.name.c_str(), [&](benchmark::State& state) {
    for (auto _ : state) {
      if (gpu) {
        exec.run(input);
      } else {
        exec.run(input, step_seconds);
        for (size_t s = 0; s < step_seconds.size(); ++s) per_step[s].push_back(step_seconds[s]);
      }
      const Executor::Transfers& t = exec.last_transfers();
      state.SetIterationTime(t.compute_seconds);
      upload_ms.push_back(t.upload_seconds * 1e3);
      download_ms.push_back(t.download_seconds * 1e3);
    }
  });
  b->Iterations(1)->Repetitions(options.repetitions)->UseManualTime()->Unit(benchmark::kMillisecond);
  Collector collector;
  benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::ClearRegisteredBenchmarks();
  if (!collector.error.empty()) throw RuntimeError("benchmark failed: " + collector.error);
  if (gpu)
    for (int rep = 0; rep < options.repetitions; ++rep) {
      exec.run(input, step_seconds);
      for (size_t s = 0; s < step_seconds.size(); ++s) per_step[s].push_back(step_seconds[s]);
    }

  BenchResult r;
  r.network = graph.name;
  r.target = kernel_set_name(options.executor.target);
  if (gpu) {
    KernelSetStatus device = probe_kernel_set(options.executor.target);
    r.kernel_set = fmt::format("{} ({})", r.target, device.device);
    r.upload_ms = median(upload_ms);
    r.download_ms = median(download_ms);
  } else {
    r.kernel_set = cpu_kernel_set();
  }
  r.input = graph.input().output;
  r.threads = options.executor.threads > 0 ? options.executor.threads : peak.threads;
  r.conv_schedule = options.executor.conv_schedule;
  r.depthwise_schedule = options.executor.depthwise_schedule;
  r.repetitions = options.repetitions;
  if (!gpu) r.peak = peak;
  const std::vector<double>& ms = collector.seconds;
  r.samples_ms = ms;
  LatencyStats& l = r.latency;
  l.median = median(ms);
  l.min = *std::min_element(ms.begin(), ms.end());
  l.max = *std::max_element(ms.begin(), ms.end());
  double sum = 0, sq = 0;
  for (double v : ms) sum += v;
  l.mean = sum / static_cast<double>(ms.size());
  for (double v : ms) sq += (v - l.mean) * (v - l.mean);
  l.stddev = ms.size() > 1 ? std::sqrt(sq / static_cast<double>(ms.size() - 1)) : 0;
  l.cv = l.mean > 0 ? l.stddev / l.mean : 0;

  NetworkAnalysis a = analyse(graph);
  for (size_t s = 0; s < exec.steps().size(); ++s) {
    const Step& step = exec.steps()[s];
    const Layer& last = graph.layers[static_cast<size_t>(step.layers.back())];
    LayerTime t{last.name, op_name(last.op), step.kernel, exec.step_schedule_ran(s), median(per_step[s]) * 1e3};
    // A fused step reads its outside inputs and parameters and writes its last output once;
    // the tensors between its layers never reach memory.
    t.bytes_moved = last.output.elements() * kBytesPerElement;
    for (int i : step.layers) {
      const Layer& member = graph.layers[static_cast<size_t>(i)];
      t.flops += a.layers[static_cast<size_t>(i)].cost.flops;
      t.bytes_moved += a.layers[static_cast<size_t>(i)].cost.params * kBytesPerElement;
      for (int j : member.inputs)
        if (std::find(step.layers.begin(), step.layers.end(), j) == step.layers.end())
          t.bytes_moved += graph.layers[static_cast<size_t>(j)].output.elements() * kBytesPerElement;
    }
    if (t.median_ms > 0) t.gflops = static_cast<double>(t.flops) / (t.median_ms * 1e-3) / 1e9;
    if (r.peak.gflops > 0) t.percent_of_peak = 100.0 * t.gflops / r.peak.gflops;
    t.bound_ms = roofline_bound_ms(t.flops, t.bytes_moved, r.peak.gflops, r.peak.gbps);
    t.percent_of_roofline = percent_of_roofline(t.bound_ms, t.median_ms);
    r.bound_ms += t.bound_ms;
    r.layers.push_back(std::move(t));
  }
  r.percent_of_roofline = percent_of_roofline(r.bound_ms, l.median);
  r.arena_bytes = exec.arena_bytes();
  r.scratch_bytes = exec.scratch_bytes();
  r.planned_peak_bytes = a.totals.peak_activation_bytes;
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  r.max_rss_bytes = static_cast<int64_t>(usage.ru_maxrss) * 1024;
  return r;
}

nlohmann::ordered_json bench_json(const BenchResult& r) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const LayerTime& t : r.layers)
    layers.push_back({{"name", t.name},
                      {"op", t.op},
                      {"kernel", t.kernel},
                      {"schedule", t.schedule.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(t.schedule)},
                      {"median_ms", t.median_ms},
                      {"flops", t.flops},
                      {"bytes_moved", t.bytes_moved},
                      {"gflops", t.gflops},
                      {"percent_of_peak", t.percent_of_peak},
                      {"roofline_bound_ms", t.bound_ms},
                      {"percent_of_roofline", t.percent_of_roofline}});
  return {{"network", r.network},
          {"target", r.target},
          {"kernel_set", r.kernel_set},
          {"input", {r.input.n, r.input.c, r.input.h, r.input.w}},
          {"threads", r.threads},
          {"schedules", {{"conv", r.conv_schedule}, {"depthwise", r.depthwise_schedule}}},
          {"latency_ms",
           {{"median", r.latency.median},
            {"mean", r.latency.mean},
            {"stddev", r.latency.stddev},
            {"min", r.latency.min},
            {"max", r.latency.max},
            {"cv", r.latency.cv}}},
          {"repetitions", r.repetitions},
          {"transfers_ms", {{"upload", r.upload_ms}, {"download", r.download_ms}}},
          {"layers", layers},
          {"roofline", {{"bound_ms", r.bound_ms}, {"percent", r.percent_of_roofline}}},
          {"peak", {{"gflops", r.peak.gflops}, {"gbps", r.peak.gbps}, {"isa", r.peak.isa}}},
          {"memory",
           {{"arena_bytes", r.arena_bytes},
            {"scratch_bytes", r.scratch_bytes},
            {"planned_peak_bytes", r.planned_peak_bytes},
            {"max_rss_bytes", r.max_rss_bytes}}}};
}

std::string bench_table(const BenchResult& r, bool per_layer) {
  std::string out;
  if (per_layer) {
    size_t w = 5, ws = 8;
    for (const LayerTime& t : r.layers) {
      w = std::max(w, t.name.size());
      ws = std::max(ws, t.schedule.size());
    }
    out += fmt::format("{:<{}}  {:<24}  {:<{}}  {:>9}  {:>8}  {:>7}  {:>10}\n", "layer", w, "kernel", "schedule", ws,
                       "median ms", "GFLOP/s", "% peak", "% roofline");
    for (const LayerTime& t : r.layers)
      out += fmt::format("{:<{}}  {:<24}  {:<{}}  {:>9.3f}  {:>8.1f}  {:>7.1f}  {:>10.1f}\n", t.name, w, t.kernel,
                         t.schedule.empty() ? "-" : t.schedule, ws, t.median_ms, t.gflops, t.percent_of_peak,
                         t.percent_of_roofline);
    out += "\n";
  }
  for (const LayerTime& t : r.layers)
    if (t.op == "dense_crf")
      out += fmt::format("dense CRF '{}': {:.3f} ms of the {:.3f} ms median ({:.1f} %); {} points (smoothness + "
                         "appearance)\n",
                         t.name, t.median_ms, r.latency.median,
                         r.latency.median > 0 ? 100.0 * t.median_ms / r.latency.median : 0.0, t.schedule);
  out += fmt::format(
      "{} {}x{}x{}x{} on {}{}: median {:.3f} ms, mean {:.3f} ms, stddev {:.3f} ms (cv {:.1f}%), min {:.3f} "
      "ms, max {:.3f} ms over {} repetitions\n",
      r.network, r.input.n, r.input.c, r.input.h, r.input.w, r.kernel_set,
      r.target == "cpu" ? fmt::format(" ({} threads)", r.threads) : "", r.latency.median, r.latency.mean,
      r.latency.stddev, 100 * r.latency.cv, r.latency.min, r.latency.max, r.repetitions);
  out +=
      fmt::format("memory: arena {:.2f} MiB (planned peak {:.2f} MiB), conv scratch {:.2f} MiB, max RSS {:.2f} MiB; ",
                  static_cast<double>(r.arena_bytes) / 1048576.0, static_cast<double>(r.planned_peak_bytes) / 1048576.0,
                  static_cast<double>(r.scratch_bytes) / 1048576.0, static_cast<double>(r.max_rss_bytes) / 1048576.0);
  if (r.target == "cpu")
    out += fmt::format(
        "peak {:.1f} GFLOP/s, {:.1f} GB/s ({})\nroofline bound {:.3f} ms (each call's max(FLOPs / peak, bytes / "
        "bandwidth), summed): the median runs at {:.1f} % of roofline\n",
        r.peak.gflops, r.peak.gbps, r.peak.isa, r.bound_ms, r.percent_of_roofline);
  else
    out += fmt::format(
        "no peak measured on {} (no % of peak)\ntransfers (not in the latency): input to the device {:.3f} ms, "
        "outputs back {:.3f} ms\n",
        r.target, r.upload_ms, r.download_ms);
  return out;
}

}  // namespace archbench
