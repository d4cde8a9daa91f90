// The Halide executor: a Graph planned into kernel calls (fused where the kernels allow),
// weights prepared once, activations placed in one arena by the analyzer's memory plan.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/analysis.h"
#include "networks/networks.h"
#include "runtime/runtime.h"

namespace archbench {

// The kernel sets a build carries: cpu always; cuda and opencl unless configured without
// them (ARCHBENCH_GPU_KERNEL_SETS). `--target` on the CLI names one.
enum class KernelSet { Cpu, Cuda, OpenCL };
const std::string& kernel_set_name(KernelSet set);  // cpu, cuda, opencl
// RuntimeError "unknown target 'x' (one of: cpu, cuda, opencl)".
KernelSet parse_kernel_set(const std::string& name);
bool kernel_set_built(KernelSet set);

// The cpu kernel set carries each kernel for the x86-64 levels it was compiled for (all four in
// a portable build, the building CPU's by default) and dispatches each call to the highest
// this CPU supports. A cap (the ARCHBENCH_CPU_ISA environment variable: avx512, avx2,
// sse41 or x86-64) makes it dispatch to no level above the cap, so the other levels' code
// runs, and is tested, on one machine; the peak measurement and `archbench targets` follow
// it. It is read once, before the first kernel call: Halide's dispatch keeps each kernel's
// first choice for the process. An unknown name is a RuntimeError listing the four; so is a
// cap or a CPU below every compiled level (naming them).
enum class CpuIsa { Baseline, Sse41, Avx2, Avx512 };
CpuIsa parse_cpu_isa(const std::string& name);
const char* cpu_isa_name(CpuIsa isa);     // x86-64, sse41, avx2, avx512
const char* cpu_isa_db_name(CpuIsa isa);  // as tuning databases record it: x86-64, sse4.1, avx2, avx512
const char* cpu_isa_target(CpuIsa isa);   // the Halide target: x86-64, x86-64 sse41, ..., x86-64 avx512_skylake
CpuIsa detected_cpu_isa();                // what this CPU has
CpuIsa cpu_isa();                         // the level calls dispatch to: detected, capped
int64_t cpu_isa_refusals();               // dispatches the cap has refused so far

// Whether a kernel set can run here: built, and for a GPU set a driver and a device found
// (its name and memory); `reason` says why not.
struct KernelSetStatus {
  bool built = false, usable = false;
  std::string device;
  int64_t memory_bytes = 0;
  // The device's base address alignment in bytes: an OpenCL kernel argument at an offset in
  // its allocation (a view) must start at a multiple of it (CL_DEVICE_MEM_BASE_ADDR_ALIGN).
  int64_t base_alignment = 64;
  std::string reason;
};
KernelSetStatus probe_kernel_set(KernelSet set);

// Refuses, before anything is allocated, a network whose input, weights and activations
// cannot fit in this machine's memory: RuntimeError "cannot allocate 142.1 PiB for tiny at
// 1x1x100000000x100000000: the input 35.5 PiB, ...; 21.3 GiB of memory available".
// - Reference: every layer's output is kept, and the weights once.
// - Run: the activation arena, and the weights plus the largest layer's twice (an executor
//   given its weights with std::move prepares them layer by layer); swap counts as memory.
//   On a GPU set, first the device's memory against the arena and the weights, which it
//   holds as well: "cannot allocate ... on the opencl device (NAME): ...; the device has M".
// - Timed (bench, tune, sweep): as Run, within 90 % of the memory available without swap:
//   a timing that swaps is wrong.
enum class MemoryUse { Reference, Run, Timed };
void check_memory(const Graph& graph, MemoryUse use, KernelSet target);

struct ExecutorOptions {
  KernelSet target = KernelSet::Cpu;
  int threads = 0;  // kernel threads; 0: all cores
  // The conv family's schedule: one of conv_schedule_names(); RuntimeError for another.
  std::string conv_schedule = "default";
  // The depthwise family's: one of depthwise_schedule_names().
  std::string depthwise_schedule = "default";
  // Per conv layer (by name), a schedule of its family overriding the two above; a name
  // that is not a conv layer of the graph is a RuntimeError.
  std::map<std::string, std::string> layer_schedules;
  // Where set, asked once per conv or depthwise step (its step_signature() and family) after
  // planning; a name it returns overrides the choices above (a tuned database).
  std::function<std::optional<std::string>(const std::string& signature, const std::string& family)> schedule_for;
};

// The conv schedules compiled into this build: default (the runtime's choice per layer),
// tiled, narrow, blocked, direct, simple, the autoscheduled baselines auto-mullapudi2016,
// auto-adams2019 (where compiled), auto-li2018, the knob variants, and the GPU sets'.
std::vector<std::string> conv_schedule_names();
// For a known conv schedule this build did not compile, the error saying so and how to compile
// it: "conv schedule 'auto-adams2019' is not compiled into this build (configure with
// -DARCHBENCH_ADAMS2019=ON or -DARCHBENCH_PORTABLE=ON)"; empty for any other name.
std::string conv_schedule_not_compiled(const std::string& name);
// default, columns, staged.
std::vector<std::string> depthwise_schedule_names();

// One kernel call of the plan. A step covers one layer or a fused group (conv + batch-norm
// + add + activation); `layers` lists them, the last one is the layer whose output it writes.
struct Step {
  std::vector<int> layers;
  std::string kernel;  // e.g. "conv+bn+add+relu", "maxpool", "view"
  std::string family;  // "conv" or "depthwise" where the step has a schedule choice, else ""
};

// What identifies a step for tuning: its fused kernel, input and output shapes, and the
// conv window and groups ("conv+bn+relu in 1x64x56x56 out 1x64x56x56 k3x3 s1x1 d1x1
// p1,1,1,1 g1"). Steps with equal signatures run the same code on the same shapes.
std::string step_signature(const Graph& graph, const Step& step);

class Executor {
 public:
  // Prepares every kernel's weights (batch-norm folded, re-laid out). Throws RuntimeError on
  // weights that do not fit the graph.
  Executor(const Graph& graph, const Weights& weights, const ExecutorOptions& options = {});
  // Same, consuming `weights`: each layer's tensors are freed as soon as its step is prepared,
  // so the process never holds both forms of the whole network's weights (VGG16: 528 MiB of
  // them). `weights` is moved from.
  Executor(const Graph& graph, Weights&& weights, const ExecutorOptions& options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs the network on an NCHW input; returns the network outputs (NCHW), keyed by layer.
  std::map<std::string, Tensor> run(const Tensor& input);
  // Same, recording each step's wall time in seconds (parallel to steps()).
  std::map<std::string, Tensor> run(const Tensor& input, std::vector<double>& step_seconds);

  const std::vector<Step>& steps() const;

  // A conv or depthwise step's schedule from now on (a name of its family's list); throws
  // RuntimeError naming the layer for another step or an unknown name.
  void set_step_schedule(size_t step, const std::string& schedule);
  // The schedule the step's last run used ("direct", "simple+direct" for banded dilated
  // convs, "columns"): the asked one where its preconditions hold, else the default's choice.
  const std::string& step_schedule_ran(size_t step) const;
  // Runs one step `repetitions` times on what the arena holds (after a run()), returning
  // each call's wall time in seconds: what a tuner compares schedules by.
  std::vector<double> time_step(size_t step, int repetitions);
  // The last run's phases: on a GPU set, the copy of the input to the device and of the
  // outputs back (seconds; 0 on cpu), and between them the kernels.
  // compute_seconds: from the first kernel launch to the end of the last kernel (a device
  // synchronisation on a GPU set): the latency benchmarks report.
  struct Transfers {
    double upload_seconds = 0, compute_seconds = 0, download_seconds = 0;
  };
  const Transfers& last_transfers() const;
  KernelSet target() const;
  const MemoryPlan& memory_plan() const;
  int64_t arena_bytes() const;  // the bytes allocated for activations
  // The bytes of conv scratch the runs so far allocated (a zero-bordered input copy, a
  // whole-tile output: kernels.h, ConvScratch), outside the arena; the largest call's needs.
  int64_t scratch_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archbench
