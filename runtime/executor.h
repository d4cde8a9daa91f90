// The Halide executor: a Graph planned into kernel calls (fused where the kernels allow),
// weights prepared once, activations placed in one arena by the analyzer's memory plan.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "analysis/analysis.h"
#include "networks/networks.h"
#include "runtime/runtime.h"

namespace archbench {

struct ExecutorOptions {
  int threads = 0;  // kernel threads; 0: all cores
  // The conv family's schedule: one of conv_schedule_names(); RuntimeError for another.
  std::string conv_schedule = "default";
  // The depthwise family's: one of depthwise_schedule_names().
  std::string depthwise_schedule = "default";
  // Per conv layer (by name), a schedule of its family overriding the two above; a name
  // that is not a conv layer of the graph is a RuntimeError.
  std::map<std::string, std::string> layer_schedules;
};

// default (the runtime's choice per layer), tiled, narrow, blocked, direct, simple, and the
// autoscheduled baselines auto-mullapudi2016, auto-adams2019, auto-li2018.
std::vector<std::string> conv_schedule_names();
// default, columns, staged.
std::vector<std::string> depthwise_schedule_names();

// One kernel call of the plan. A step covers one layer or a fused group (conv + batch-norm
// + add + activation); `layers` lists them, the last one is the layer whose output it writes.
struct Step {
  std::vector<int> layers;
  std::string kernel;  // e.g. "conv+bn+add+relu", "maxpool", "view"
};

class Executor {
 public:
  // Prepares every kernel's weights (batch-norm folded, re-laid out). Throws RuntimeError on
  // weights that do not fit the graph.
  Executor(const Graph& graph, const Weights& weights, const ExecutorOptions& options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs the network on an NCHW input; returns the network outputs (NCHW), keyed by layer.
  std::map<std::string, Tensor> run(const Tensor& input);
  // Same, recording each step's wall time in seconds (parallel to steps()).
  std::map<std::string, Tensor> run(const Tensor& input, std::vector<double>& step_seconds);

  const std::vector<Step>& steps() const;
  const MemoryPlan& memory_plan() const;
  int64_t arena_bytes() const;  // the bytes allocated for activations

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archbench
