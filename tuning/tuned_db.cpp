#include "tuning/tuned_db.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "common/atomic_file.h"
#include "networks/networks.h"
#include "networks/yaml_config.h"
#include "reports/results_db.h"
#include "runtime/executor.h"
#include "runtime/timing.h"

#ifndef ARCHBENCH_SOURCE_DIR
#define ARCHBENCH_SOURCE_DIR "."
#endif

namespace archbench {

namespace {

constexpr int kVersion = 1;

[[noreturn]] void fail(const YAML::Node& n, const std::string& file, const std::string& message) {
  throw SpecError(yaml_loc(n, file), "", message);
}

void only_keys(const YAML::Node& map, const std::vector<std::string>& keys, const std::string& file,
               const std::string& what) {
  if (!map.IsMap()) fail(map, file, fmt::format("{} must be a mapping", what));
  for (const auto& kv : map) {
    std::string k = kv.first.Scalar();
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
      std::string hint = closest_name(k, keys);
      fail(kv.first, file,
           fmt::format("unknown key '{}' in {}{}", k, what,
                       hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    }
  }
}

std::string text(const YAML::Node& map, const char* key, const std::string& file, const std::string& what) {
  YAML::Node n = map[key];
  if (!n) fail(map, file, fmt::format("{} has no '{}'", what, key));
  if (!n.IsScalar()) fail(n, file, fmt::format("'{}' must be a single value", key));
  return n.Scalar();
}

std::string family_of(const std::string& signature) {
  return signature.rfind("depthwise", 0) == 0 ? "depthwise" : "conv";
}

std::vector<std::string> schedules_of(const std::string& family) {
  std::vector<std::string> names = family == "depthwise" ? depthwise_schedule_names() : conv_schedule_names();
  names.erase(std::remove(names.begin(), names.end(), "default"), names.end());
  return names;
}

// YAML double-quoted scalar.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// The parts of a signature that prediction compares.
struct Parsed {
  std::string kernel, window;
  double n = 1, cin = 1, cout = 1, pixels = 1;
  bool ok = false;
};

// One number of a signature: digits only, within [min, max] (so that "g0" or a count past
// 64 bits is not a signature, rather than a wrapped or zero figure).
bool number(const std::string& text, int64_t min, int64_t max, int64_t& out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out >= min && out <= max;
}

// Numbers separated by `sep`, `count` of them, after `prefix` ("k3x3": prefix "k", sep 'x').
bool numbers(const std::string& word, const std::string& prefix, char sep, size_t count, int64_t min,
             std::vector<int64_t>& out) {
  if (word.rfind(prefix, 0) != 0) return false;
  out.clear();
  std::string rest = word.substr(prefix.size());
  for (size_t start = 0;;) {
    size_t end = rest.find(sep, start);
    int64_t v = 0;
    if (!number(rest.substr(start, end == std::string::npos ? std::string::npos : end - start), min,
                std::numeric_limits<int32_t>::max(), v))
      return false;
    out.push_back(v);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out.size() == count;
}

// step_signature()'s form: "KERNEL in NxCxHxW out NxCxHxW kHxW sHxW dHxW pT,L,B,R gG", every
// extent, stride, dilation and group count at least 1 and padding at least 0.
Parsed parse_signature(const std::string& sig) {
  Parsed p;
  std::istringstream in(sig);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  if (words.size() != 10 || words[1] != "in" || words[3] != "out") return p;
  std::vector<int64_t> a, b, v;
  if (!numbers(words[2], "", 'x', 4, 1, a) || !numbers(words[4], "", 'x', 4, 1, b) ||
      !numbers(words[5], "k", 'x', 2, 1, v) || !numbers(words[6], "s", 'x', 2, 1, v) ||
      !numbers(words[7], "d", 'x', 2, 1, v) || !numbers(words[8], "p", ',', 4, 0, v) ||
      !numbers(words[9], "g", ',', 1, 1, v))
    return p;
  p.kernel = words[0];
  p.window = " " + words[5] + " " + words[6] + " " + words[7] + " " + words[8] + " " + words[9];
  p.n = static_cast<double>(a[0]), p.cin = static_cast<double>(a[1]), p.cout = static_cast<double>(b[1]);
  p.pixels = static_cast<double>(b[2]) * static_cast<double>(b[3]);
  p.ok = true;
  return p;
}

}  // namespace

std::string TargetFingerprint::text() const {
  return fmt::format("{}{}, {}, {}, {} threads", cpu, cpu_id.empty() ? "" : " (" + cpu_id + ")", isa, kernel_set,
                     threads);
}

TargetFingerprint this_cpu_target(int threads) {
  TargetFingerprint f;
  MachineInfo m = this_machine();
  f.cpu = m.cpu_model;
  f.cpu_id = m.cpu_id;
  // The level the cpu set dispatches to (ARCHBENCH_CPU_ISA may cap what this CPU has).
  f.isa = cpu_isa_db_name(cpu_isa());
  f.kernel_set = cpu_kernel_set();
  f.threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return f;
}

TargetFingerprint this_target(KernelSet set, int threads) {
  if (set == KernelSet::Cpu) return this_cpu_target(threads);
  KernelSetStatus s = probe_kernel_set(set);
  if (!s.usable) throw RuntimeError(fmt::format("target {} cannot run here: {}", kernel_set_name(set), s.reason));
  return {s.device, kernel_set_name(set), kernel_set_name(set), 1, ""};
}

const TunedEntry* TunedTarget::find(const std::string& signature) const {
  for (const TunedEntry& e : entries)
    if (e.signature == signature) return &e;
  return nullptr;
}

TunedTarget* TunedDb::target(const TargetFingerprint& f) {
  for (TunedTarget& t : targets)
    if (t.fingerprint == f) return &t;
  return nullptr;
}

const TunedTarget* TunedDb::target(const TargetFingerprint& f) const { return const_cast<TunedDb*>(this)->target(f); }

const TunedTarget* TunedDb::target_for(const TargetFingerprint& f) const {
  if (const TunedTarget* t = target(f)) return t;
  TargetFingerprint unrecorded = f;
  unrecorded.cpu_id.clear();
  return target(unrecorded);
}

TunedDb read_tuned_db(const std::filesystem::path& path) {
  const std::string file = path.string();
  YAML::Node root = load_yaml_config(path, "tuned database");
  TunedDb db;
  if (!root || root.IsNull()) return db;
  only_keys(root, {"version", "targets"}, file, "a tuned database");
  if (!root["version"] || root["version"].Scalar() != std::to_string(kVersion))
    fail(root["version"] ? root["version"] : root, file, fmt::format("tuned database version must be {}", kVersion));
  YAML::Node targets = root["targets"];
  if (!targets) return db;
  if (!targets.IsSequence()) fail(targets, file, "'targets' must be a list");
  for (const YAML::Node& t : targets) {
    only_keys(t, {"cpu", "cpu_id", "isa", "kernel_set", "threads", "layers"}, file, "a target");
    TunedTarget target;
    target.fingerprint.cpu = text(t, "cpu", file, "a target");
    if (t["cpu_id"]) target.fingerprint.cpu_id = text(t, "cpu_id", file, "a target");
    target.fingerprint.isa = text(t, "isa", file, "a target");
    target.fingerprint.kernel_set = text(t, "kernel_set", file, "a target");
    std::string threads = text(t, "threads", file, "a target");
    try {
      size_t used = 0;
      target.fingerprint.threads = std::stoi(threads, &used);
      if (used != threads.size() || target.fingerprint.threads < 1) throw std::invalid_argument(threads);
    } catch (const std::exception&) {
      fail(t["threads"], file, fmt::format("threads must be a positive integer, got '{}'", threads));
    }
    if (db.target(target.fingerprint)) fail(t, file, "this target is listed twice");
    YAML::Node layers = t["layers"];
    if (layers && !layers.IsSequence()) fail(layers, file, "'layers' must be a list");
    if (layers)
      for (const YAML::Node& l : layers) {
        only_keys(l, {"signature", "schedule", "default", "network", "layer", "ms", "failed"}, file, "a layer entry");
        TunedEntry e;
        e.signature = text(l, "signature", file, "a layer entry");
        e.schedule = text(l, "schedule", file, "a layer entry");
        if (l["default"]) e.default_schedule = text(l, "default", file, "a layer entry");
        if (l["network"]) e.network = text(l, "network", file, "a layer entry");
        if (l["layer"]) e.layer = text(l, "layer", file, "a layer entry");
        std::string family = family_of(e.signature);
        std::vector<std::string> known = schedules_of(family);
        // A schedule another build compiles (the Adams2019 baseline, the tuning grid) is a
        // name a database may hold too: it runs as the default here (tuned_choice). So is
        // "default" itself, where the default runs different tiles in a conv's tap bands
        // (tune times that mix as one candidate).
        auto is_known = [&](const std::string& name) {
          return name == "default" || std::find(known.begin(), known.end(), name) != known.end() ||
                 (family == "conv" && !conv_schedule_not_compiled(name).empty());
        };
        if (!parse_signature(e.signature).ok)
          fail(l["signature"], file,
               fmt::format("'{}' is not a layer signature (archbench tune writes them)", e.signature));
        if (!is_known(e.schedule))
          fail(l["schedule"], file,
               fmt::format("unknown {} schedule '{}' (one of: {})", family, e.schedule, fmt::join(known, ", ")));
        if (target.find(e.signature)) fail(l["signature"], file, "this signature is listed twice for the target");
        // A timing or failure is of one of the family's schedules, like the winner.
        auto known_schedule = [&](const YAML::Node& key, const char* where) {
          const std::string name = key.Scalar();
          if (!is_known(name))
            fail(key, file,
                 fmt::format("unknown {} schedule '{}' in '{}'{} (one of: {})", family, name, where,
                             closest_name(name, known).empty()
                                 ? ""
                                 : fmt::format(" (did you mean '{}'?)", closest_name(name, known)),
                             fmt::join(known, ", ")));
        };
        if (YAML::Node ms = l["ms"]) {
          if (!ms.IsMap()) fail(ms, file, "'ms' must map schedules to milliseconds");
          for (const auto& kv : ms) {
            known_schedule(kv.first, "ms");
            double v = 0;
            try {
              size_t used = 0;
              v = std::stod(kv.second.Scalar(), &used);
              if (used != kv.second.Scalar().size()) v = -1;
            } catch (const std::exception&) {
              v = -1;
            }
            if (!(v > 0))
              fail(kv.second, file, fmt::format("'{}' must be a positive number of milliseconds", kv.first.Scalar()));
            e.median_ms[kv.first.Scalar()] = v;
          }
        }
        if (YAML::Node f = l["failed"]) {
          if (!f.IsMap()) fail(f, file, "'failed' must map schedules to their errors");
          for (const auto& kv : f) {
            known_schedule(kv.first, "failed");
            e.failed[kv.first.Scalar()] = kv.second.Scalar();
          }
        }
        target.entries.push_back(std::move(e));
      }
    db.targets.push_back(std::move(target));
  }
  return db;
}

TunedDb read_tuned_dir(const std::filesystem::path& dir) {
  TunedDb all;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return all;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files)
    for (TunedTarget& t : read_tuned_db(f).targets) {
      TunedTarget* have = all.target(t.fingerprint);
      if (!have) {
        all.targets.push_back(std::move(t));
        continue;
      }
      for (TunedEntry& e : t.entries)  // the first file naming a signature wins
        if (!have->find(e.signature)) have->entries.push_back(std::move(e));
    }
  return all;
}

void write_tuned_db(const std::filesystem::path& file, const TunedDb& db) {
  std::string out =
      "# archbench tuned schedules: the fastest compiled schedule per layer signature, per target.\n"
      "# Written by `archbench tune`; read by --schedule tuned. ms: median per candidate.\n";
  out += fmt::format("version: {}\ntargets:\n", kVersion);
  for (const TunedTarget& t : db.targets) {
    out += fmt::format("  - cpu: {}\n", quoted(t.fingerprint.cpu));
    if (!t.fingerprint.cpu_id.empty()) out += fmt::format("    cpu_id: {}\n", quoted(t.fingerprint.cpu_id));
    // A target with no entries yet (a tune interrupted before its first) is an empty list.
    out += fmt::format("    isa: {}\n    kernel_set: {}\n    threads: {}\n    layers:{}\n", quoted(t.fingerprint.isa),
                       quoted(t.fingerprint.kernel_set), t.fingerprint.threads, t.entries.empty() ? " []" : "");
    for (const TunedEntry& e : t.entries) {
      out += fmt::format("      - signature: {}\n        schedule: {}\n", quoted(e.signature), e.schedule);
      if (!e.default_schedule.empty()) out += fmt::format("        default: {}\n", quoted(e.default_schedule));
      if (!e.network.empty()) out += fmt::format("        network: {}\n", quoted(e.network));
      if (!e.layer.empty()) out += fmt::format("        layer: {}\n", quoted(e.layer));
      if (!e.median_ms.empty()) {
        out += "        ms: {";
        bool first = true;
        for (const auto& [k, v] : e.median_ms) {
          out += fmt::format("{}{}: {:.6g}", first ? "" : ", ", k, v);
          first = false;
        }
        out += "}\n";
      }
      if (!e.failed.empty()) {
        out += "        failed:\n";
        for (const auto& [k, v] : e.failed) out += fmt::format("          {}: {}\n", k, quoted(v));
      }
    }
  }
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  write_file_atomically(file, out);
}

std::filesystem::path tuned_dir() { return std::filesystem::path(ARCHBENCH_SOURCE_DIR) / "configs" / "tuned"; }

std::filesystem::path default_tuned_file(const TargetFingerprint& f) {
  std::string slug;
  for (char c : f.cpu) {
    unsigned char u = static_cast<unsigned char>(c);
    slug += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-';
  }
  return tuned_dir() / (slug + ".yaml");
}

std::optional<Lookup> lookup(const TunedTarget& target, const std::string& signature, const std::string& family) {
  if (const TunedEntry* e = target.find(signature)) return Lookup{e->schedule, e, false};
  Parsed want = parse_signature(signature);
  if (!want.ok) return std::nullopt;
  const TunedEntry* best = nullptr;
  double best_distance = 0;
  for (const TunedEntry& e : target.entries) {
    if (family_of(e.signature) != family) continue;
    Parsed have = parse_signature(e.signature);
    if (!have.ok || have.kernel != want.kernel) continue;
    double d = std::abs(std::log(have.cin / want.cin)) + std::abs(std::log(have.cout / want.cout)) +
               std::abs(std::log(have.pixels / want.pixels)) + std::abs(std::log(have.n / want.n));
    if (have.window != want.window) d += 100;  // another kernel size, stride or dilation: a weaker guess
    if (!best || d < best_distance) best = &e, best_distance = d;
  }
  if (!best) return std::nullopt;
  return Lookup{best->schedule, best, true};
}

PredictionCheck check_predictions(const TunedTarget& target) {
  PredictionCheck c;
  for (size_t i = 0; i < target.entries.size(); ++i) {
    ++c.entries;
    TunedTarget others = target;
    others.entries.erase(others.entries.begin() + static_cast<std::ptrdiff_t>(i));
    const TunedEntry& e = target.entries[i];
    std::optional<Lookup> p = lookup(others, e.signature, family_of(e.signature));
    if (!p) continue;
    ++c.predictable;
    c.correct += p->schedule == e.schedule;
  }
  return c;
}

}  // namespace archbench
