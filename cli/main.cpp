// The archbench command: each subcommand wires library calls together, nothing more.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <fmt/ranges.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <new>
#include <optional>

#include "analysis/analysis.h"
#include "analysis/lint.h"
#include "common/atomic_file.h"
#include "common/json_text.h"
#include "common/limits.h"
#include "networks/networks.h"
#include "networks/onnx_export.h"
#include "networks/onnx_import.h"
#include "reports/reports.h"
#include "reports/results_db.h"
#include "reports/results_report.h"
#include "runtime/executor.h"
#include "runtime/peak.h"
#include "runtime/runtime.h"
#include "runtime/timing.h"
#include "sweeps/sweep.h"
#include "tuning/tuner.h"

namespace {

using namespace archbench;

// --strict with lint warnings: their lines, as errors, printed as they are.
class LintFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AnalyzeArgs {
  std::vector<std::string> specs;
  std::string input, format = "table", out;
  bool zoo = false, include_train_only = false, strict = false, valid_inputs = false;
};

// The lints of one network: on stderr where the output has no place for them (CSV, or written
// to a file); with --strict, errors (nothing is written, exit 1).
void report_lints(const std::vector<LintWarning>& warnings, const AnalyzeArgs& args, bool in_band) {
  if (args.strict && !warnings.empty()) {
    std::string text;
    for (const LintWarning& w : warnings) text += warning_text(w, "error") + " (--strict)\n";
    throw LintFailure(text);
  }
  if (!in_band || (!args.out.empty() && args.out != "-"))
    for (const LintWarning& w : warnings) std::fprintf(stderr, "%s\n", warning_text(w).c_str());
}

// A spec argument the file system cannot even look up (a name too long, a loop of links) is
// reported as such, shortened, before resolve_spec() would throw a raw filesystem_error.
std::filesystem::path spec_path(const std::string& arg) {
  std::error_code ec;
  (void)std::filesystem::status(arg, ec);  // a missing file is no error here: resolve_spec says what it is
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw RuntimeError(fmt::format("cannot read {}: {}", shown_path(arg), ec.message()));
  return resolve_spec(arg);
}

void emit(const std::string& text, const std::string& out) {
  if (out.empty() || out == "-")
    std::fwrite(text.data(), 1, text.size(), stdout);
  else
    write_file_atomically(out, text);
}

int analyze(const AnalyzeArgs& args, bool compare) {
  Format format = parse_format(args.format);
  LoadOptions options;
  options.include_train_only = args.include_train_only;
  if (!args.input.empty()) options.input = parse_shape(args.input);
  std::vector<std::string> specs = args.specs;
  if (args.zoo || (compare && specs.empty())) {
    if (!specs.empty()) throw std::invalid_argument("give spec files or --zoo, not both");
    specs = zoo_networks();
    if (specs.empty()) throw std::invalid_argument(fmt::format("no specs found in {}", zoo_dir().string()));
  }
  if (specs.empty()) throw std::invalid_argument("analyze needs a spec (a file or a zoo name) or --zoo");
  if (args.valid_inputs) {
    if (specs.size() != 1 || compare || args.zoo) throw std::invalid_argument("--valid-inputs takes one spec");
    const std::filesystem::path spec = spec_path(specs[0]);
    const Shape in = load_spec(spec, options).input().output;
    const int64_t hi = std::max<int64_t>(1024, 2 * std::max(in.h, in.w));
    ValidSizes v = valid_input_sizes(spec, options, 1, hi);
    std::string text;
    if (v.square)
      text = fmt::format(
          "input sizes (square) in [1, {}] at which the network loads and no downsampling layer "
          "before a merge with an upsampled path drops a row or column: {}\n",
          hi, sizes_text(v.heights));
    else
      text = fmt::format(
          "input heights in [1, {}] (width {}) without such drops: {}\n"
          "input widths in [1, {}] (height {}) without such drops: {}\n",
          hi, in.w, sizes_text(v.heights), hi, in.h, sizes_text(v.widths));
    emit(text, args.out);
    return 0;
  }
  if (specs.size() == 1 && !compare && !args.zoo) {
    Graph g = load_spec(spec_path(specs[0]), options);
    std::vector<LintWarning> warnings = lint(g, options);
    report_lints(warnings, args, format != Format::Csv);
    emit(render_analysis(g, analyse(g), format, warnings), args.out);
    return 0;
  }
  std::vector<AnalysedNetwork> nets;
  std::vector<LintWarning> warnings;
  for (const std::string& s : specs) {
    Graph g = load_spec(spec_path(s), options);
    NetworkAnalysis a = analyse(g);
    for (LintWarning& w : lint(g, options)) warnings.push_back(std::move(w));
    nets.push_back({std::move(g), std::move(a)});
  }
  report_lints(warnings, args, false);
  emit(render_comparison(nets, format), args.out);
  return 0;
}

struct RunArgs {
  std::string spec, input, weights, input_file, output_file, format = "table", out, tuned_db, target = "cpu";
  double budget_seconds = 600;
  int64_t rounds = 3;
  ExecutorOptions executor;
  std::vector<std::string> layer_schedules;  // LAYER=SCHEDULE, parsed into executor
  uint64_t seed = 0;
  bool reference = false, include_train_only = false, per_layer = false, isolated = false;
  int64_t repetitions = 10, warmup = 2;
};

// The network of run, bench, tune and export; an ONNX model brings its weights unless
// --weights replaces them.
LoadedNetwork load_for_run(const RunArgs& r) {
  LoadOptions options;
  options.include_train_only = r.include_train_only;
  if (!r.input.empty()) options.input = parse_shape(r.input);
  return load_network(spec_path(r.spec), options, r.weights.empty());
}

// The executor's options from the command line. With --schedule tuned, `tuned` receives the
// tuned database's choices (reported with tuned_note once the executor exists).
ExecutorOptions executor_options(const RunArgs& r, std::optional<TunedChoice>& tuned) {
  ExecutorOptions o = r.executor;
  o.target = parse_kernel_set(r.target);
  if (o.conv_schedule == "tuned")
    tuned = use_tuned(o, r.tuned_db);
  else if (!r.tuned_db.empty())
    throw RuntimeError("--tuned-db is read with --schedule tuned only");
  for (const std::string& entry : r.layer_schedules) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size())
      throw RuntimeError(fmt::format("--layer-schedule '{}': expected LAYER=SCHEDULE", entry));
    o.layer_schedules[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return o;
}

void tuned_note(const std::optional<TunedChoice>& tuned) {
  if (tuned) fmt::print(stderr, "{}\n", tuned->note());
}

Weights weights_for_run(LoadedNetwork& n, const RunArgs& r) {
  const Graph& g = n.graph;
  if (n.weights) return std::move(*n.weights);
  if (r.weights.empty()) return init_weights(g, r.seed);
  Weights w = read_safetensors(r.weights);
  check_weights(g, w, r.weights);
  return w;
}

// `archbench run`: one inference, through the Halide kernels or the reference executor.
int run(const RunArgs& r) {
  LoadedNetwork n = load_for_run(r);
  const Graph& g = n.graph;
  check_memory(g, r.reference ? MemoryUse::Reference : MemoryUse::Run, parse_kernel_set(r.target));
  Weights w = weights_for_run(n, r);
  Tensor x = r.input_file.empty() ? default_input(g.input().output) : read_input(r.input_file, g.input().output);
  auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, Tensor> outputs;
  if (r.reference) {
    outputs = run_reference(g, w, x);
  } else {
    std::optional<TunedChoice> tuned;
    Executor e(g, std::move(w), executor_options(r, tuned));
    tuned_note(tuned);
    outputs = e.run(x);
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const std::string& main_output = g.layers[analyse(g).final_layer].name;
  const Tensor& y = outputs.at(main_output);
  if (!r.output_file.empty()) write_npy(r.output_file, y);
  double sum = 0, lo = y.data.empty() ? 0 : y.data[0], hi = lo;
  for (float v : y.data) sum += v, lo = std::min<double>(lo, v), hi = std::max<double>(hi, v);
  fmt::print(
      "{}: output '{}' [{}], min {:.6g}, max {:.6g}, mean {:.6g} ({} executor, {:.1f} ms including preparation)\n",
      g.name, main_output, fmt::join(y.shape, ", "), lo, hi, sum / static_cast<double>(y.data.size()),
      r.reference ? "reference" : "Halide", ms);
  return 0;
}

int bench(const RunArgs& r) {
  Format format = parse_format(r.format);
  LoadedNetwork n = load_for_run(r);
  const Graph& g = n.graph;
  check_memory(g, MemoryUse::Timed, parse_kernel_set(r.target));
  Weights w = weights_for_run(n, r);
  BenchOptions o;
  std::optional<TunedChoice> tuned;
  o.executor = executor_options(r, tuned);
  o.repetitions = static_cast<int>(r.repetitions);  // (range-checked in main)
  o.warmup = static_cast<int>(r.warmup);
  BenchResult result = benchmark_network(
      g, std::move(w), o, r.target == "cpu" ? measure_peak(peak_threads(r.executor.threads)) : MachinePeak{});
  tuned_note(tuned);
  if (tuned) result.conv_schedule = "tuned";
  emit(format == Format::Json ? json_text(bench_json(result), 2) + "\n" : bench_table(result, r.per_layer), r.out);
  return 0;
}

// `archbench tune`: every distinct layer signature's schedules timed, the winners kept.
int tune(const RunArgs& r) {
  LoadedNetwork n = load_for_run(r);
  const Graph& g = n.graph;
  check_memory(g, MemoryUse::Timed, parse_kernel_set(r.target));
  Weights w = weights_for_run(n, r);
  TuneOptions o;
  o.target = parse_kernel_set(r.target);
  o.threads = r.executor.threads;
  o.budget_seconds = r.budget_seconds;
  o.rounds = static_cast<int>(r.rounds);
  o.in_network = !r.isolated;
  o.db = r.tuned_db.empty() ? default_tuned_file(this_target(o.target, o.threads)) : std::filesystem::path(r.tuned_db);
  TuneSummary t = tune_network(g, std::move(w), o);
  fmt::print(
      "{}: {} layer signatures, {} tuned now, {} already in {}{} ({:.1f} s)\n", g.name, t.signatures, t.tuned,
      t.already, o.db.string(),
      t.left ? fmt::format(", {} left: the budget of {:.0f} s ran out (run again to go on)", t.left, r.budget_seconds)
             : "",
      t.seconds);
  if (o.in_network && t.tuned > 0)
    fmt::print("timed in place: {} round{}, {} network runs\n", t.rounds, t.rounds == 1 ? "" : "s", t.network_runs);
  if (t.default_ms > 0)
    fmt::print(
        "kernel time of the steps with a choice, at their signatures' medians: default {:.3f} ms, tuned {:.3f} ms "
        "({:.1f} % less)\n",
        t.default_ms, t.tuned_ms, 100.0 * (t.default_ms - t.tuned_ms) / t.default_ms);
  fmt::print("prediction from the nearest signature, each entry against the others: {} of {} right ({} entries)\n",
             t.prediction.correct, t.prediction.predictable, t.prediction.entries);
  return 0;
}

// `archbench targets`: the kernel sets this build has, and which of them can run here.
int targets() {
  for (KernelSet set : {KernelSet::Cpu, KernelSet::Cuda, KernelSet::OpenCL}) {
    KernelSetStatus s = probe_kernel_set(set);
    if (!s.built)
      fmt::print("{:<7} not built, cannot run here: {}\n", kernel_set_name(set), s.reason);
    else if (!s.usable)
      fmt::print("{:<7} built, cannot run here: {}\n", kernel_set_name(set), s.reason);
    else
      fmt::print("{:<7} built, runs here: {}, {:.1f} GiB\n", kernel_set_name(set), s.device,
                 static_cast<double>(s.memory_bytes) / (1024.0 * 1024.0 * 1024.0));
  }
  return 0;
}

int peak(const RunArgs& r) {
  MachinePeak p = measure_peak(peak_threads(r.executor.threads));
  if (r.executor.threads > p.threads)
    fmt::print(stderr, "peak: measured with {} threads, one per core (more cannot compute faster)\n", p.threads);
  if (parse_format(r.format) == Format::Json)
    emit(
        json_text(
            nlohmann::ordered_json{{"gflops", p.gflops}, {"gbps", p.gbps}, {"threads", p.threads}, {"isa", p.isa}}, 2) +
            "\n",
        r.out);
  else
    emit(fmt::format("fp32 peak: {:.1f} GFLOP/s ({} FMA, {} threads); memory bandwidth (triad): {:.1f} GB/s\n",
                     p.gflops, p.isa, p.threads, p.gbps),
         r.out);
  return 0;
}

struct SweepArgs {
  std::string file, db = "results.sqlite", shard = "0/1", out;
  std::vector<std::string> inputs, runs, compare, networks;
  bool resume = false, retry_failed = false, list = false;
};

// `archbench sweep`: the sweep file is checked whole before the database is touched.
int sweep(const SweepArgs& a) {
  Sweep s = load_sweep(a.file);
  Shard shard = parse_shard(a.shard);
  std::vector<SweepCase> mine = shard_cases(s.cases, shard);
  if (a.list) {
    for (const SweepCase& c : mine) fmt::print("{:>4}  {}  {}\n", c.position, c.key(), c.label());
    return 0;
  }
  SweepOptions o;
  o.db = a.db;
  o.shard = shard;
  o.resume = a.resume;
  o.retry_failed = a.retry_failed;
  SweepSummary r = run_sweep(s, o);
  fmt::print("sweep '{}' (shard {}): {} cases into {} run {}: {} ok, {} failed, {} already done\n", s.name,
             shard.text(), r.cases, a.db, r.run_id, r.ok, r.failed, r.skipped);
  return 0;
}

// `archbench merge A B ... -o OUT`.
int merge(const SweepArgs& a) {
  std::vector<std::filesystem::path> inputs(a.inputs.begin(), a.inputs.end());
  MergeSummary m = merge_databases(inputs, a.out);
  fmt::print("merged {} databases into {}: {} runs, {} cases ({} new)\n", a.inputs.size(), a.out, m.runs, m.cases,
             m.added);
  return 0;
}

int report(const SweepArgs& a) {
  ResultsDb db = ResultsDb::open(a.db, false);
  if (a.list) {
    for (const RunRecord& r : db.read_runs())
      fmt::print("run {}  {}  sweep '{}' shard {}  started {}  {}  {} ok, {} failed{}\n", r.id, r.uuid.substr(0, 8),
                 r.sweep, r.shard, r.started_at, r.machine.hostname, r.cases_ok, r.cases_failed,
                 r.finished_at.empty() ? "  (unfinished)" : "");
    return 0;
  }
  if (a.out.empty())
    throw RuntimeError("report needs -o DIR (the folder to write report.md, report.html, cases.csv, cases.json)");
  ReportOptions o;
  o.runs = a.runs;
  o.networks = a.networks;
  o.out_dir = a.out;
  if (!a.compare.empty()) o.compare = std::make_pair(a.compare[0], a.compare[1]);
  for (const auto& path : write_report(db, o))
    if (path.extension() != ".svg") fmt::print("wrote {}\n", path.string());
  fmt::print("charts in {}\n", (std::filesystem::path(a.out) / "charts").string());
  return 0;
}

struct ImportArgs {
  std::string model, out, weights_out, input;
};

// `archbench import`: an ONNX model as a spec (and its weights). The spec is loaded before
// anything is written, and nothing is left behind where a write fails.
int import_model(const ImportArgs& a) {
  LoadOptions options;
  if (!a.input.empty()) options.input = parse_shape(a.input);
  const std::filesystem::path model(a.model);
  if (!is_onnx_path(model))
    throw RuntimeError(fmt::format("{}: import reads ONNX models (a .onnx file)", shown_path(a.model)));
  const auto t0 = std::chrono::steady_clock::now();
  const LoadedNetwork n = load_network(model, options, !a.weights_out.empty());
  const Graph& g = n.graph;
  const OnnxImport& m = *n.model;
  if (n.weights) write_safetensors(a.weights_out, *n.weights);
  try {
    emit(m.spec, a.out);
  } catch (...) {
    if (!a.weights_out.empty()) std::filesystem::remove(a.weights_out);
    throw;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(stderr, "imported {}: {} nodes (opset {}) as {} layers in {:.2f} s{}\n", shown_path(a.model), m.nodes,
             m.opset, g.layers.size() - 1, seconds,
             a.weights_out.empty() ? "" : fmt::format("; weights in {}", shown_path(a.weights_out)));
  return 0;
}

// `archbench export`: a spec as an ONNX model (opset 13) with the run's weights.
int export_model(const RunArgs& r) {
  if (r.out.empty()) throw RuntimeError("export needs -o FILE.onnx");
  LoadedNetwork n = load_for_run(r);
  const Graph& g = n.graph;
  check_exportable(g);
  const std::string bytes = export_onnx(g, arrays_from_weights(weights_for_run(n, r)));
  write_file_atomically(r.out, bytes);
  fmt::print(stderr, "exported {} ({} layers, opset {}) to {}\n", g.name, g.layers.size() - 1, kExportOpset,
             shown_path(r.out));
  return 0;
}

// A value the command line gives that is out of range for its flag.
class CommandLineError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

void check_range(const std::string& flag, int64_t value, int64_t lo, int64_t hi, const std::string& meaning = "") {
  if (value < lo || value > hi)
    throw CommandLineError(fmt::format("{} {}: must be {} to {}{}", flag, value, lo, hi, meaning));
}

// What a command writes: its --format must be one of these.
void check_format(const std::string& command, const std::string& format, const std::vector<std::string>& known) {
  if (std::find(known.begin(), known.end(), format) == known.end())
    throw CommandLineError(fmt::format("--format '{}': {} writes {}", format, command, fmt::join(known, " or ")));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"archbench: describe CNN architectures in YAML, analyse them, run and benchmark them."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("archbench 0.1.0"));

  // Options naming a file or folder: given empty, each would quietly mean something else (stdout,
  // the default database, SQLite's temporary one), so an empty one is an error.
  std::vector<std::pair<CLI::Option*, std::string>> paths;
  auto path = [&](CLI::Option* o, const std::string& name) {
    paths.emplace_back(o, name);
    return o;
  };

  AnalyzeArgs a;
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--input", a.input, "input shape N,C,H,W (overrides the spec's)");
    cmd->add_flag("--include-train-only", a.include_train_only, "keep branches marked train_only");
    cmd->add_option("--format", a.format, "table | json | csv | markdown")->capture_default_str();
    cmd->add_flag("--strict", a.strict, "make the lints' warnings (uneven transposed convs, dropped rows) errors");
    path(cmd->add_option("-o,--out", a.out, "write to this file (whole or not at all) instead of stdout"), "-o");
  };
  CLI::App* analyze_cmd =
      app.add_subcommand("analyze", "per-layer shapes, MACs/FLOPs, params, memory, receptive field");
  path(analyze_cmd->add_option("spec", a.specs, "spec file(s) or zoo network name(s)"), "SPEC");
  analyze_cmd->add_flag("--zoo", a.zoo, "analyse every zoo network and print one row each");
  analyze_cmd->add_flag("--valid-inputs", a.valid_inputs,
                        "list the input sizes at which no downsampling layer before a merge with an upsampled "
                        "path drops a row or column");
  add_common(analyze_cmd);
  CLI::App* compare_cmd = app.add_subcommand("compare", "one row per network, side by side (default: the zoo)");
  path(compare_cmd->add_option("spec", a.specs, "spec file(s) or zoo network name(s)"), "SPEC");
  add_common(compare_cmd);
  CLI::App* zoo_cmd = app.add_subcommand("zoo", "list the zoo's networks");

  RunArgs ra;
  auto add_run_common = [&](CLI::App* cmd) {
    path(cmd->add_option("spec", ra.spec, "spec file or zoo network name")->required(), "SPEC");
    cmd->add_option("--input", ra.input, "input shape N,C,H,W (overrides the spec's)");
    path(cmd->add_option("--weights", ra.weights, "weights in PyTorch layouts (.safetensors), keyed by layer name"),
         "--weights");
    cmd->add_option("--seed", ra.seed, "seed of the deterministic He-initialised weights")->capture_default_str();
    cmd->add_option("--threads", ra.executor.threads, "kernel threads (0: all cores, at most 256)")
        ->capture_default_str();
    cmd->add_option("--target", ra.target, "kernel set: cpu | cuda | opencl (archbench targets lists them)")
        ->capture_default_str();
    cmd->add_option(
           "--schedule", ra.executor.conv_schedule,
           "conv schedule: the runtime's choice per layer, one forced where it applies, or an autoscheduled baseline")
        ->capture_default_str()
        ->check(CLI::Validator([](std::string& name) { return conv_schedule_not_compiled(name); }, "", "compiled"))
        ->check(CLI::IsMember([] {
          std::vector<std::string> names = conv_schedule_names();
          names.push_back("tuned");
          return names;
        }()));
    path(cmd->add_option("--tuned-db", ra.tuned_db,
                         "with --schedule tuned: a tuned database (file or folder; default: configs/tuned/)"),
         "--tuned-db");
    cmd->add_option("--depthwise-schedule", ra.executor.depthwise_schedule, "depthwise conv schedule")
        ->capture_default_str()
        ->check(CLI::IsMember(depthwise_schedule_names()));
    cmd->add_option("--layer-schedule", ra.layer_schedules,
                    "LAYER=SCHEDULE: one conv layer's schedule (repeatable; overrides the two above)");
    cmd->add_flag("--include-train-only", ra.include_train_only, "keep branches marked train_only");
  };
  CLI::App* run_cmd = app.add_subcommand("run", "run one inference through the Halide kernels (or the reference)");
  add_run_common(run_cmd);
  path(run_cmd->add_option("--input-file", ra.input_file, "input tensor (.npy, float32, N,C,H,W)"), "--input-file");
  path(run_cmd->add_option("--output-file", ra.output_file, "write the output tensor here (.npy)"), "--output-file");
  run_cmd->add_flag("--reference", ra.reference, "use the naive reference executor");
  CLI::App* bench_cmd = app.add_subcommand("bench", "latency per layer and end to end (Google Benchmark)");
  add_run_common(bench_cmd);
  bench_cmd->add_flag("--per-layer", ra.per_layer, "print each kernel call's median time");
  bench_cmd->add_option("--repetitions", ra.repetitions, "timed runs (1 to 1000000)")->capture_default_str();
  bench_cmd->add_option("--warmup", ra.warmup, "untimed runs first (0 to 1000000)")->capture_default_str();
  bench_cmd->add_option("--format", ra.format, "table | json")->capture_default_str();
  path(bench_cmd->add_option("-o,--out", ra.out, "write to this file (whole or not at all)"), "-o");
  CLI::App* tune_cmd = app.add_subcommand("tune", "find each layer signature's fastest schedule on this machine");
  path(tune_cmd->add_option("spec", ra.spec, "spec file or zoo network name")->required(), "SPEC");
  tune_cmd->add_option("--input", ra.input, "input shape N,C,H,W (overrides the spec's)");
  tune_cmd->add_option("--target", ra.target, "cpu | cuda | opencl")->capture_default_str();
  tune_cmd->add_option("--threads", ra.executor.threads, "kernel threads (0: all cores, at most 256)")
      ->capture_default_str();
  tune_cmd
      ->add_option("--budget-seconds", ra.budget_seconds,
                   "start no new layer (--isolated) or timing round after this (seconds, > 0)")
      ->capture_default_str();
  tune_cmd->add_flag("--isolated", ra.isolated,
                     "time each signature's first step alone, repeated, instead of in place in network runs");
  tune_cmd->add_option("--rounds", ra.rounds, "alternating rounds of timing per candidate (1 to 1000)")
      ->capture_default_str();
  path(tune_cmd->add_option("--db", ra.tuned_db, "tuned database to update (default: configs/tuned/<cpu model>.yaml)"),
       "--db");
  CLI::App* targets_cmd =
      app.add_subcommand("targets", "the kernel sets this build has and whether each can run here (device, memory)");
  CLI::App* peak_cmd = app.add_subcommand("peak", "this machine's fp32 FMA peak and memory bandwidth");
  peak_cmd->add_option("--threads", ra.executor.threads, "threads (0: all cores, at most 256)");
  peak_cmd->add_option("--format", ra.format, "table | json")->capture_default_str();

  SweepArgs sa;
  CLI::App* sweep_cmd = app.add_subcommand("sweep", "run a sweep file's cases into a results database");
  path(sweep_cmd->add_option("file", sa.file, "sweep file (configs/sweeps/NAME.yaml)")->required(), "SWEEP");
  path(sweep_cmd->add_option("--db", sa.db, "results database (SQLite; created when missing)")->capture_default_str(),
       "--db");
  sweep_cmd->add_option("--shard", sa.shard, "I/N: run only the cases whose position % N == I")->capture_default_str();
  sweep_cmd->add_flag("--resume", sa.resume, "continue this sweep's latest run on this host, skipping finished cases");
  sweep_cmd->add_flag("--retry-failed", sa.retry_failed, "with --resume: run failed cases again");
  sweep_cmd->add_flag("--list", sa.list, "print the cases (of this shard) and exit");
  CLI::App* merge_cmd = app.add_subcommand("merge", "combine results databases without duplicates");
  path(merge_cmd->add_option("inputs", sa.inputs, "results databases")->required(), "DATABASE");
  path(merge_cmd->add_option("-o,--out", sa.out, "the merged database (may be one of the inputs)")->required(), "-o");
  CLI::App* export_cmd = app.add_subcommand("export", "a spec as an ONNX model (opset 13) for Netron or ONNX Runtime");
  path(export_cmd->add_option("spec", ra.spec, "spec file or zoo network name")->required(), "SPEC");
  path(export_cmd->add_option("-o,--out", ra.out, "the .onnx file to write (whole or not at all)")->required(), "-o");
  export_cmd->add_option("--input", ra.input, "input shape N,C,H,W (overrides the spec's)");
  path(export_cmd->add_option("--weights", ra.weights, "weights (.safetensors, keyed by layer name; default: He init)"),
       "--weights");
  export_cmd->add_option("--seed", ra.seed, "seed of the deterministic He-initialised weights")->capture_default_str();

  ImportArgs ia;
  CLI::App* import_cmd = app.add_subcommand("import", "an ONNX model as a spec (and its weights as .safetensors)");
  path(import_cmd->add_option("model", ia.model, "the .onnx file")->required(), "MODEL");
  path(
      import_cmd->add_option("-o,--out", ia.out, "write the spec to this file (whole or not at all) instead of stdout"),
      "-o");
  path(import_cmd->add_option("--weights-out", ia.weights_out,
                              "write the initializers as the spec's weights (.safetensors, keyed by layer name)"),
       "--weights-out");
  import_cmd->add_option("--input", ia.input, "input shape N,C,H,W (needed where the model's is dynamic)");

  CLI::App* report_cmd = app.add_subcommand("report", "comparison report of a results database");
  path(report_cmd->add_option("--db", sa.db, "results database")->capture_default_str(), "--db");
  report_cmd->add_option("--run", sa.runs, "only these runs (ids or uuid prefixes; repeatable)");
  report_cmd->add_option("--compare", sa.compare, "A B: an A/B table (each a run id, uuid prefix or FIELD=VALUE,...)")
      ->expected(2);
  path(report_cmd->add_option("-o,--out", sa.out, "folder for report.md, report.html, cases.csv, cases.json, charts/"),
       "-o");
  report_cmd->add_option("--networks", sa.networks, "only these networks (comma-separated, as the sweep names them)")
      ->delimiter(',');
  report_cmd->add_flag("--list-runs", sa.list, "print the database's runs and exit");

  // Every error exits with status 1, the command line's too (CLI11's own codes are 100 and up);
  // --help and --version print and exit 0.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    fmt::print(stderr, "archbench: error: {}\n", e.what());
    return 1;
  }
  // What the command was doing, for the message when memory runs out.
  std::string doing = "starting";
  try {
    // The values CLI11 parsed, checked before any work (the peak measurement alone takes
    // seconds): paths not empty, counts in range, a format the command writes.
    for (const auto& [option, name] : paths)
      for (const std::string& value : option->results())
        if (value.empty()) throw CommandLineError(name + ": empty path");
    const std::string threads_meaning =
        fmt::format(" (0: all cores; {}: the size of Halide's thread pool)", kMaxThreads);
    if (*run_cmd || *bench_cmd || *tune_cmd || *peak_cmd)
      check_range("--threads", ra.executor.threads, 0, kMaxThreads, threads_meaning);
    if (*bench_cmd) {
      check_range("--repetitions", ra.repetitions, 1, kMaxRepetitions);
      check_range("--warmup", ra.warmup, 0, kMaxWarmup);
      check_format("bench", ra.format, {"table", "json"});
    }
    if (*peak_cmd) check_format("peak", ra.format, {"table", "json"});
    if (*tune_cmd) {
      check_range("--rounds", ra.rounds, 1, kMaxTuneRounds);
      if (!std::isfinite(ra.budget_seconds) || ra.budget_seconds <= 0)
        throw CommandLineError(
            fmt::format("--budget-seconds {}: must be a positive number of seconds", ra.budget_seconds));
    }
    const std::string& spec = ra.spec;
    if (*analyze_cmd || *compare_cmd) doing = "analysing the networks";
    if (*run_cmd) doing = fmt::format("running {}", shown_path(spec));
    if (*bench_cmd) doing = fmt::format("benchmarking {}", shown_path(spec));
    if (*tune_cmd) doing = fmt::format("tuning {}", shown_path(spec));
    if (*peak_cmd) doing = "measuring the peak";
    if (*sweep_cmd) doing = fmt::format("running the sweep {}", shown_path(sa.file));
    if (*merge_cmd) doing = "merging the databases";
    if (*report_cmd) doing = "writing the report";
    if (*import_cmd) doing = fmt::format("importing {}", shown_path(ia.model));
    if (*export_cmd) doing = fmt::format("exporting {}", shown_path(ra.spec));

    if (*analyze_cmd) return analyze(a, false);
    if (*compare_cmd) return analyze(a, true);
    if (*run_cmd) return run(ra);
    if (*bench_cmd) return bench(ra);
    if (*peak_cmd) return peak(ra);
    if (*targets_cmd) return targets();
    if (*tune_cmd) return tune(ra);
    if (*sweep_cmd) return sweep(sa);
    if (*merge_cmd) return merge(sa);
    if (*report_cmd) return report(sa);
    if (*import_cmd) return import_model(ia);
    if (*export_cmd) return export_model(ra);
    if (*zoo_cmd) {
      for (const auto& n : zoo_networks()) fmt::print("{}\n", n);
      return 0;
    }
  } catch (const RuntimeError& e) {
    fmt::print(stderr, "archbench: error: {}\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "archbench: error: out of memory while {}\n", doing);
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    // A path the file system refused outright (a name too long, a loop of links): the path,
    // shortened, and why; not the library's message echoing every character.
    if (e.path1().empty())
      fmt::print(stderr, "archbench: error: {}\n", e.code().message());
    else
      fmt::print(stderr, "archbench: error: cannot access {}: {}\n", shown_path(e.path1().string()),
                 e.code().message());
    return 1;
  } catch (const SpecError& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
  } catch (const LintFailure& e) {
    fmt::print(stderr, "{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "archbench: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
