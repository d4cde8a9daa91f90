#include "sweeps/sweep.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <tuple>

#include "analysis/analysis.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/limits.h"
#include "common/progress.h"
#include "common/version.h"
#include "networks/onnx_import.h"
#include "networks/yaml_config.h"
#include "reports/reports.h"
#include "runtime/executor.h"
#include "runtime/peak.h"
#include "runtime/timing.h"
#include "tuning/tuner.h"

namespace archbench {

namespace {

const std::vector<std::string> kTargets = {"cpu", "cuda", "opencl"};
const std::vector<std::string> kKeys = {"name",      "networks",    "inputs", "targets", "threads",
                                        "schedules", "repetitions", "warmup", "exclude"};
const std::vector<std::string> kExcludeKeys = {"network", "input", "target", "threads", "schedule"};

std::string hex(uint64_t h) { return fmt::format("{:016x}", h); }

[[noreturn]] void fail(const YAML::Node& node, const std::string& file, const std::string& message) {
  throw SpecError(yaml_loc(node, file), "", message);
}

std::string hint_for(const std::string& word, const std::vector<std::string>& known) {
  std::string h = closest_name(word, known);
  return h.empty() ? "" : fmt::format(" (did you mean '{}'?)", h);
}

std::string scalar(const YAML::Node& node, const std::string& file, const std::string& what) {
  if (!node.IsScalar()) fail(node, file, fmt::format("{} must be a single value", what));
  return node.Scalar();
}

// An integer in [min, max]; one past 64 bits is out of range too, not a non-integer.
int64_t integer(const YAML::Node& node, const std::string& file, const std::string& what, int64_t min,
                int64_t max = std::numeric_limits<int64_t>::max()) {
  std::string s = scalar(node, file, what);
  size_t used = 0;
  int64_t v = 0;
  bool too_far = false;
  try {
    v = std::stoll(s, &used);
  } catch (const std::out_of_range&) {
    too_far = true, used = s.size();
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size()) fail(node, file, fmt::format("{} must be an integer, got '{}'", what, s));
  if (too_far && s.find('-') != std::string::npos)
    fail(node, file, fmt::format("{} must be at least {}, got {}", what, min, s));
  if (too_far || v > max) fail(node, file, fmt::format("{} must be at most {}, got {}", what, max, s));
  if (v < min) fail(node, file, fmt::format("{} must be at least {}, got {}", what, min, v));
  return v;
}

// Thread counts, in `threads:` and in exclude rules: 0 (all cores) up to Halide's pool size.
int threads_of(const YAML::Node& node, const std::string& file) {
  return static_cast<int>(integer(node, file, "threads (0: all cores)", 0, kMaxThreads));
}

// A list, or one value standing for a list of one.
std::vector<YAML::Node> items(const YAML::Node& node) {
  std::vector<YAML::Node> out;
  if (node.IsSequence())
    for (const YAML::Node& n : node) out.push_back(n);
  else
    out.push_back(node);
  return out;
}

Shape shape_of(const YAML::Node& node, const std::string& file) {
  if (!node.IsSequence() || node.size() != 4)
    fail(node, file, "an input must be a list of 4 positive integers N, C, H, W, e.g. [1, 3, 224, 224]");
  Shape s{integer(node[0], file, "N", 1), integer(node[1], file, "C", 1), integer(node[2], file, "H", 1),
          integer(node[3], file, "W", 1)};
  try {
    (void)s.elements();
  } catch (const std::overflow_error&) {
    fail(node, file, "input shape overflows 64-bit element counts");
  }
  return s;
}

// The architecture's hash: its analysis at the spec's own input (layers, ops, shapes, costs),
// so the same network in two files hashes alike. A spec that does not load hashes its text.
std::string spec_hash_uncached(const std::filesystem::path& spec) {
  try {
    Graph g = load_spec(spec);
    return hex(fnv1a64(json_text(analysis_json(g, analyse(g)))));
  } catch (const std::exception&) {
    std::ifstream in(spec, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return "text-" + hex(fnv1a64(text.str()));
  }
}

// Remembered per file, size and modification time: a sweep naming one network many times (or
// a process loading many sweeps) analyses it once. (Files it includes are not looked at: one
// process takes them as unchanged.)
std::string spec_hash(const std::filesystem::path& spec) {
  static std::mutex m;
  static std::map<std::tuple<std::string, uintmax_t, int64_t>, std::string> cache;
  std::error_code ec;
  auto size = std::filesystem::file_size(spec, ec);
  if (ec) return spec_hash_uncached(spec);
  auto time = std::filesystem::last_write_time(spec, ec);
  if (ec) return spec_hash_uncached(spec);
  auto key = std::make_tuple(std::filesystem::absolute(spec, ec).lexically_normal().string(), size,
                             static_cast<int64_t>(time.time_since_epoch().count()));
  std::lock_guard<std::mutex> lock(m);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, spec_hash_uncached(spec)).first;
  return it->second;
}

struct Rule {
  std::map<std::string, YAML::Node> fields;
};

bool excluded(const SweepCase& c, const std::vector<Rule>& rules, const std::string& file) {
  for (const Rule& r : rules) {
    bool all = true;
    for (const auto& [key, value] : r.fields) {
      if (key == "network")
        all = all && value.Scalar() == c.network;
      else if (key == "input")
        all = all && shape_of(value, file) == c.input;
      else if (key == "target")
        all = all && value.Scalar() == c.target;
      else if (key == "threads")
        all = all && threads_of(value, file) == c.threads;
      else if (key == "schedule")
        all = all && value.Scalar() == c.schedule;
    }
    if (all) return true;
  }
  return false;
}

}  // namespace

std::string SweepCase::key() const {
  return hex(fnv1a64(fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", network, spec_hash, shape_text(input), target, threads,
                                 schedule, repetitions, warmup)));
}

std::string SweepCase::label() const { return case_label(network, input, target, threads, schedule); }

Sweep load_sweep(const std::filesystem::path& path) {
  const std::string file = path.string();
  // A folder, or a name the file system refuses (too long), is said as such; the name shortened.
  std::error_code ec;
  std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw SpecError({shown_path(file), 0, 0}, "", "cannot read the sweep file: " + ec.message());
  if (std::filesystem::is_directory(st)) throw SpecError({file, 0, 0}, "", "is a directory, not a sweep file");
  std::string text;
  YAML::Node root = load_yaml_config(path, "sweep file", &text);
  if (!root.IsMap())
    throw SpecError({file, 1, 1}, "", "a sweep must be a mapping with 'name', 'networks', 'inputs' and 'targets'");
  for (const auto& kv : root) {
    std::string key = kv.first.Scalar();
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end())
      fail(kv.first, file, fmt::format("unknown key '{}'{}", key, hint_for(key, kKeys)));
  }
  for (const char* required : {"name", "networks", "inputs", "targets"})
    if (!root[required]) fail(root, file, fmt::format("the sweep has no '{}'", required));

  Sweep sweep;
  sweep.file = file;
  sweep.hash = hex(fnv1a64(text));
  sweep.name = scalar(root["name"], file, "name");
  if (sweep.name.empty()) fail(root["name"], file, "name must not be empty");

  std::vector<Shape> inputs;
  auto read_inputs = [&](const YAML::Node& node) {
    std::vector<Shape> out;
    if (node.IsSequence() && node.size() > 0 && node[0].IsScalar())
      out.push_back(shape_of(node, file));  // one shape written without the outer list
    else
      for (const YAML::Node& n : items(node)) out.push_back(shape_of(n, file));
    if (out.empty()) fail(node, file, "inputs is empty");
    return out;
  };
  inputs = read_inputs(root["inputs"]);

  // A network is a zoo name or a spec path (relative to the sweep file), or a mapping
  // {network: NAME, inputs: [...]} with its own inputs instead of the sweep's.
  struct Net {
    std::string name;
    std::filesystem::path spec;
    std::string hash;
    std::vector<Shape> inputs;
  };
  std::vector<Net> networks;
  std::vector<std::string> zoo = zoo_networks();
  for (const YAML::Node& entry : items(root["networks"])) {
    YAML::Node n = entry;
    std::vector<Shape> own = inputs;
    if (entry.IsMap()) {
      for (const auto& kv : entry)
        if (kv.first.Scalar() != "network" && kv.first.Scalar() != "inputs")
          fail(kv.first, file, fmt::format("unknown key '{}' in a network entry (network, inputs)", kv.first.Scalar()));
      if (!entry["network"]) fail(entry, file, "a network entry needs 'network: NAME'");
      n.reset(entry["network"]);  // (plain assignment would write into the entry: yaml-cpp nodes are references)
      if (entry["inputs"]) own = read_inputs(entry["inputs"]);
    }
    std::string name = scalar(n, file, "a network");
    std::filesystem::path spec = name;
    const bool onnx = is_onnx_path(spec);  // a model file, imported (docs/ONNX.md)
    if (spec.is_relative() && (spec.extension() == ".yaml" || onnx)) spec = path.parent_path() / spec;  // beside the sweep
    bool is_file = spec.extension() == ".yaml" || onnx;
    std::error_code spec_ec;
    bool found = std::filesystem::exists(is_file ? spec : zoo_dir() / (name + ".yaml"), spec_ec);
    if (spec_ec) fail(n, file, fmt::format("cannot read the spec '{}': {}", shown_path(name), spec_ec.message()));
    if (!found)
      fail(n, file,
           is_file ? fmt::format("no such spec file '{}'", spec.string())
                   : fmt::format("unknown network '{}'{}: not in the zoo ({}), and not a .yaml or .onnx file", name,
                                 hint_for(name, zoo), zoo_dir().string()));
    if (!is_file) spec = zoo_dir() / (name + ".yaml");
    networks.push_back({name, spec, spec_hash(spec), own});
  }
  std::vector<std::string> targets;
  for (const YAML::Node& n : items(root["targets"])) {
    std::string t = scalar(n, file, "a target");
    if (std::find(kTargets.begin(), kTargets.end(), t) == kTargets.end())
      fail(n, file, fmt::format("unknown target '{}'{} (one of: cpu, cuda, opencl)", t, hint_for(t, kTargets)));
    targets.push_back(t);
  }
  std::vector<int> threads{0};
  if (root["threads"]) {
    threads.clear();
    for (const YAML::Node& n : items(root["threads"])) threads.push_back(threads_of(n, file));
  }
  std::vector<std::string> schedules{"default"};
  if (root["schedules"]) {
    schedules.clear();
    std::vector<std::string> known = conv_schedule_names();
    known.push_back("tuned");  // per layer from configs/tuned/ (archbench tune)
    for (const YAML::Node& n : items(root["schedules"])) {
      std::string s = scalar(n, file, "a schedule");
      if (std::string absent = conv_schedule_not_compiled(s); !absent.empty()) fail(n, file, absent);
      if (std::find(known.begin(), known.end(), s) == known.end())
        fail(n, file,
             fmt::format("unknown schedule '{}'{} (one of: {})", s, hint_for(s, known),
                         fmt::format("{}", fmt::join(known, ", "))));
      schedules.push_back(s);
    }
  }
  int repetitions = 5, warmup = 1;
  if (root["repetitions"])
    repetitions = static_cast<int>(integer(root["repetitions"], file, "repetitions", 1, kMaxRepetitions));
  if (root["warmup"]) warmup = static_cast<int>(integer(root["warmup"], file, "warmup", 0, kMaxWarmup));
  if (networks.empty()) fail(root["networks"], file, "networks is empty");
  if (targets.empty()) fail(root["targets"], file, "targets is empty");
  if (threads.empty()) fail(root["threads"], file, "threads is empty");
  if (schedules.empty()) fail(root["schedules"], file, "schedules is empty");

  std::vector<Rule> rules;
  if (root["exclude"]) {
    for (const YAML::Node& r : items(root["exclude"])) {
      if (!r.IsMap())
        fail(r, file, "an exclude rule must be a mapping, e.g. {network: vgg16, input: [8, 3, 224, 224]}");
      Rule rule;
      for (const auto& kv : r) {
        std::string key = kv.first.Scalar();
        if (std::find(kExcludeKeys.begin(), kExcludeKeys.end(), key) == kExcludeKeys.end())
          fail(kv.first, file,
               fmt::format("unknown exclude key '{}'{} (one of: network, input, target, threads, schedule)", key,
                           hint_for(key, kExcludeKeys)));
        if (key == "input")
          (void)shape_of(kv.second, file);
        else if (key == "threads")
          (void)threads_of(kv.second, file);
        else
          (void)scalar(kv.second, file, key);
        rule.fields[key] = kv.second;
      }
      rules.push_back(std::move(rule));
    }
  }

  int position = 0;
  for (const Net& net : networks)
    for (const Shape& input : net.inputs)
      for (const std::string& target : targets)
        for (int t : threads)
          for (const std::string& schedule : schedules) {
            SweepCase c{0, net.name, net.spec, net.hash, input, target, schedule, t, repetitions, warmup};
            if (excluded(c, rules, file)) continue;
            c.position = position++;
            sweep.cases.push_back(std::move(c));
          }
  if (sweep.cases.empty()) fail(root, file, "the sweep has no cases: every combination is excluded");
  return sweep;
}

std::string Shard::text() const { return fmt::format("{}/{}", index, count); }

Shard parse_shard(const std::string& text) {
  Shard s;
  size_t slash = text.find('/');
  auto number = [&](const std::string& part, int& out) {
    size_t used = 0;
    try {
      out = std::stoi(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    return used > 0 && used == part.size();
  };
  if (slash == std::string::npos || !number(text.substr(0, slash), s.index) ||
      !number(text.substr(slash + 1), s.count) || s.count < 1 || s.index < 0 || s.index >= s.count)
    throw std::invalid_argument(
        fmt::format("--shard '{}': expected I/N with N >= 1 and 0 <= I < N (e.g. 0/4 ... 3/4)", text));
  return s;
}

std::vector<SweepCase> shard_cases(const std::vector<SweepCase>& cases, const Shard& shard) {
  std::vector<SweepCase> out;
  for (const SweepCase& c : cases)
    if (c.position % shard.count == shard.index) out.push_back(c);
  return out;
}

namespace {

// Peak figures per thread count, measured once per process.
const MachinePeak& peak_for(int threads) {
  static std::mutex m;
  static std::map<int, MachinePeak> cache;
  std::lock_guard<std::mutex> lock(m);
  auto it = cache.find(threads);
  if (it == cache.end()) it = cache.emplace(threads, measure_peak(peak_threads(threads), 0.25, 3)).first;
  return it->second;
}

}  // namespace

void measure_case(const SweepCase& c, CaseRecord& r) {
  const KernelSet target = parse_kernel_set(c.target);  // a set that cannot run here: the executor says why
  LoadOptions lo;
  lo.input = c.input;
  Graph g = load_spec(c.spec, lo);
  NetworkAnalysis a = analyse(g);
  r.params = a.totals.params, r.macs = a.totals.macs, r.flops = a.totals.flops;
  r.peak_activation_bytes = a.totals.peak_activation_bytes;
  const ReceptiveField& rf = a.layers[static_cast<size_t>(a.feature_layer)].rf;
  r.rf_h = rf.h.size.to_double(), r.rf_w = rf.w.size.to_double();
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const Layer& l = g.layers[i];
    const LayerAnalysis& la = a.layers[i];
    r.layers.push_back({l.name, op_name(l.op), l.output, la.cost.macs, la.cost.flops, la.cost.params,
                        la.activation_bytes, la.bytes_moved, a.memory.live_bytes[i], la.rf.h.size.to_double(),
                        la.rf.w.size.to_double(), la.rf.h.stride.to_double()});
  }
  // Refused rather than killed by the kernel's OOM killer mid-sweep.
  check_memory(g, MemoryUse::Timed, target);
  Weights w = init_weights(g, 0);
  BenchOptions o;
  o.executor.target = target;
  o.executor.threads = c.threads;
  o.executor.conv_schedule = c.schedule;
  if (c.schedule == "tuned") use_tuned(o.executor, "");  // configs/tuned/; the default where it has nothing
  o.repetitions = c.repetitions;
  o.warmup = c.warmup;
  // A GPU case has no CPU peak to compare with (its kernels' % of peak stays 0).
  const MachinePeak peak = target == KernelSet::Cpu ? peak_for(c.threads) : MachinePeak{};
  BenchResult b = benchmark_network(g, std::move(w), o, peak);
  r.kernel_set = b.kernel_set;
  r.median_ms = b.latency.median, r.mean_ms = b.latency.mean, r.stddev_ms = b.latency.stddev;
  r.min_ms = b.latency.min, r.max_ms = b.latency.max, r.cv = b.latency.cv;
  r.samples_ms = b.samples_ms;
  r.arena_bytes = b.arena_bytes, r.scratch_bytes = b.scratch_bytes, r.max_rss_bytes = b.max_rss_bytes;
  r.peak_gflops = peak.gflops, r.peak_gbps = peak.gbps;
  for (const LayerTime& t : b.layers)
    r.kernels.push_back(
        {t.name, t.op, t.kernel, t.schedule, t.median_ms, t.flops, t.bytes_moved, t.gflops, t.percent_of_peak});
}

SweepSummary run_sweep(const Sweep& sweep, const SweepOptions& options) {
  std::vector<SweepCase> cases = shard_cases(sweep.cases, options.shard);
  ResultsDb db = ResultsDb::open(options.db, true);
  MachineInfo machine = this_machine();
  SweepSummary summary;
  summary.cases = static_cast<int>(cases.size());
  RunRecord run;
  std::set<std::string> done;
  std::optional<RunRecord> previous;
  if (options.resume) previous = db.latest_run(sweep.name, options.shard.text(), machine.hostname);
  if (previous) {
    run = *previous;
    for (const CaseRecord& c : db.read_cases({run.id}, false))
      if (c.status == "ok" || !options.retry_failed) done.insert(c.key);
  } else {
    if (options.resume && options.progress)
      fmt::print(options.progress, "sweep '{}': no earlier run of shard {} on {} in {}; starting a new run\n",
                 sweep.name, options.shard.text(), machine.hostname, options.db.string());
    const MachinePeak& peak = peak_for(0);
    run.sweep = sweep.name, run.sweep_hash = sweep.hash, run.shard = options.shard.text();
    run.started_at = utc_now();
    run.archbench_version = kArchbenchVersion, run.git_hash = kArchbenchGitHash;
    run.kernel_sets = "cpu";
    for (KernelSet set : {KernelSet::Cuda, KernelSet::OpenCL})
      if (kernel_set_built(set)) run.kernel_sets += "," + kernel_set_name(set);
    run.machine = machine;
    run.peak_gflops = peak.gflops, run.peak_gbps = peak.gbps, run.peak_isa = peak.isa;
    db.add_run(run);
  }
  summary.run_id = run.id;
  Progress progress(options.progress, summary.cases);
  int finished = 0;
  for (const SweepCase& c : cases) {
    std::string key = c.key();
    if (done.count(key)) {
      ++summary.skipped, ++finished;
      continue;
    }
    progress.start(finished, c.label());
    CaseRecord r;
    r.run_id = run.id, r.key = key, r.position = c.position;
    r.network = c.network, r.spec = c.spec.string(), r.spec_hash = c.spec_hash;
    r.input = c.input, r.target = c.target, r.threads = c.threads, r.schedule = c.schedule;
    r.repetitions = c.repetitions, r.started_at = utc_now();
    auto t0 = std::chrono::steady_clock::now();
    try {
      options.measure(c, r);
      r.status = "ok";
    } catch (const std::bad_alloc&) {
      r.status = "failed", r.error = "out of memory";
    } catch (const std::exception& e) {
      r.status = "failed", r.error = e.what();
    }
    if (r.status == "failed") r.kernels.clear(), r.samples_ms.clear();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    db.add_case(r);
    ++finished;
    (r.status == "ok" ? summary.ok : summary.failed) += 1;
    progress.finish(finished, c.label(),
                    r.status == "ok" ? fmt::format("ok, median {:.3f} ms", r.median_ms) : "FAILED: " + r.error,
                    r.seconds);
  }
  db.finish_run(run.id, utc_now());
  return summary;
}

}  // namespace archbench
