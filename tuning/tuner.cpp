#include "tuning/tuner.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "common/progress.h"
#include "runtime/kernels.h"

namespace archbench {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// max |got - want| / max |want| over every output of the network (0 where both are zero).
double max_relative_difference(const std::map<std::string, Tensor>& got, const std::map<std::string, Tensor>& want) {
  double worst = 0;
  for (const auto& [name, w] : want) {
    const Tensor& g = got.at(name);
    double err = 0, scale = 0;
    for (size_t i = 0; i < w.data.size(); ++i) {
      double d = std::abs(static_cast<double>(g.data[i]) - w.data[i]);
      err = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(err, d);
      scale = std::max(scale, std::abs(static_cast<double>(w.data[i])));
    }
    if (err > 0) worst = std::max(worst, scale > 0 ? err / scale : std::numeric_limits<double>::infinity());
  }
  return worst;
}

void set_schedule(Executor& exec, const std::vector<size_t>& steps, const std::string& schedule) {
  for (size_t s : steps) exec.set_step_schedule(s, schedule);
}

// Why `schedule` on `steps` may not replace the default's choice: the network's outputs with
// it differ from `want` (the default's) by more than `tolerance`, or the run failed (its
// error); empty where they agree.
std::string disagreement(Executor& exec, const std::vector<size_t>& steps, const std::string& schedule,
                         const Tensor& input, const std::map<std::string, Tensor>& want, double tolerance) {
  set_schedule(exec, steps, schedule);
  double diff = 0;
  std::string failure;
  try {
    diff = max_relative_difference(exec.run(input), want);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  set_schedule(exec, steps, "default");
  if (!failure.empty()) return failure;
  if (diff <= tolerance) return "";
  return fmt::format(
      "the network's output differs from the default schedule's by {:.2g} of its magnitude (more "
      "than {:g})",
      diff, tolerance);
}

// One signature: the steps that share it (the first one is timed) and what the default chose.
struct Group {
  std::string signature, family, layer, default_schedule;
  std::vector<size_t> steps;
};

}  // namespace

std::vector<std::string> tuning_candidates(const std::string& family, KernelSet set) {
  std::vector<std::string> names = family == "depthwise" ? depthwise_schedule_names() : conv_schedule_names();
  // Conv schedules are per set: the GPU sets' gpu-* ones, the cpu set's others; depthwise
  // interior and framed are the cpu set's (a schedule of another set would only fall back).
  const bool gpu = set != KernelSet::Cpu;
  auto cpu_only = [](const std::string& n) {
    for (const auto& [name, s] : kernels::depthwise_schedules())
      if (name == n) return kernels::cpu_set_only(s);
    return false;
  };
  std::erase_if(names, [&](const std::string& n) {
    return n == "default" || (family == "conv" && (n.rfind("gpu-", 0) == 0) != gpu) ||
           (family == "depthwise" && gpu && cpu_only(n));
  });
  return names;
}

std::string pick_winner(const std::map<std::string, double>& median_ms, const std::string& default_schedule,
                        const std::vector<std::string>& order) {
  if (median_ms.empty()) return "";
  double best = std::numeric_limits<double>::infinity();
  for (const auto& [name, ms] : median_ms) best = std::min(best, ms);
  auto tied = [&](const std::string& name) {
    auto it = median_ms.find(name);
    return it != median_ms.end() && it->second <= best * 1.005;
  };
  if (tied(default_schedule)) return default_schedule;
  for (const std::string& name : order)
    if (tied(name)) return name;
  for (const auto& [name, ms] : median_ms)
    if (tied(name)) return name;
  return "";
}

TuneSummary tune_network(const Graph& graph, Weights weights, const TuneOptions& options) {
  // The database is one file, written after each signature: a folder would fail only then,
  // after the first signature's timing.
  std::error_code ec;
  if (!options.db.empty() && std::filesystem::is_directory(options.db, ec))
    throw RuntimeError(fmt::format("{}: is a directory; the tuned database tune writes is one YAML file (e.g. {})",
                                   options.db.string(), (options.db / "tuned.yaml").string()));
  double start = now_seconds();
  ExecutorOptions eo;
  eo.target = options.target;
  eo.threads = options.threads;
  Executor exec(graph, std::move(weights), eo);
  const Tensor input = default_input(graph.input().output);
  // Fills the arena every step reads; the outputs a winner must reproduce.
  const std::map<std::string, Tensor> want = exec.run(input);

  std::vector<Group> groups;
  for (size_t s = 0; s < exec.steps().size(); ++s) {
    const Step& step = exec.steps()[s];
    if (step.family.empty()) continue;
    std::string sig = step_signature(graph, step);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.signature == sig; });
    if (it == groups.end()) {
      // A conv split into tap bands may run different tiles in different bands
      // ("direct+direct-c64-p4"): the default's own choice is then "default" itself, a
      // candidate like the others, so a single schedule for all bands wins only if it is faster.
      std::string ran = exec.step_schedule_ran(s);
      if (ran.find('+') != std::string::npos) ran = "default";
      groups.push_back({sig, step.family, graph.layers[static_cast<size_t>(step.layers.front())].name, ran, {}});
      it = groups.end() - 1;
    }
    it->steps.push_back(s);
  }

  TargetFingerprint fp = this_target(options.target, options.threads);
  TunedDb db;
  if (!options.db.empty() && std::filesystem::exists(options.db)) db = read_tuned_db(options.db);
  if (!db.target(fp)) db.targets.push_back({fp, {}});
  auto timer =
      options.timer ? options.timer : [](Executor& e, size_t step, int calls) { return e.time_step(step, calls); };

  TuneSummary summary;
  summary.signatures = static_cast<int>(groups.size());
  std::vector<const Group*> todo;
  for (const Group& g : groups)
    if (db.target(fp)->find(g.signature))
      ++summary.already;
    else
      todo.push_back(&g);

  // A signature being tuned: its entry, its candidates (the default's choice first: ties go
  // to it) and those that apply to its steps, and their timings in ms.
  struct Trial {
    const Group* group;
    TunedEntry entry;
    std::vector<std::string> order, applicable;
    std::map<std::string, std::vector<double>> samples;
    double single = 0;  // the slowest candidate's untimed call, seconds
  };
  // Runs every candidate once untimed on the signature's first step: those whose
  // preconditions do not hold fall back (and are left out), those that throw are recorded.
  auto prepare = [&](const Group& g) {
    Trial t{&g, {}, {}, {}, {}, 0};
    t.entry.signature = g.signature;
    t.entry.default_schedule = g.default_schedule;
    t.entry.network = graph.name;
    t.entry.layer = g.layer;
    std::vector<std::string> all = tuning_candidates(g.family, options.target);
    if (g.default_schedule == "default" || std::find(all.begin(), all.end(), g.default_schedule) != all.end())
      t.order.push_back(g.default_schedule);
    for (const std::string& c : all)
      if (c != g.default_schedule) t.order.push_back(c);
    size_t s = g.steps.front();
    for (const std::string& c : t.order) {
      try {
        exec.set_step_schedule(s, c);
        std::vector<double> warm = timer(exec, s, 1);
        if (c != "default" && exec.step_schedule_ran(s) != c) continue;  // fell back: not a candidate here
        t.applicable.push_back(c);
        t.single = std::max(t.single, warm.empty() ? 0.0 : warm.front());
      } catch (const std::exception& e) {
        t.entry.failed[c] = e.what();
      }
    }
    exec.set_step_schedule(s, "default");
    return t;
  };
  // The medians, the winner (checked against the default's outputs), the database.
  auto conclude = [&](Trial& t) {
    const Group& g = *t.group;
    for (const auto& [c, v] : t.samples)
      if (!v.empty()) t.entry.median_ms[c] = median(v);
    TunedEntry& entry = t.entry;
    entry.schedule = pick_winner(entry.median_ms, g.default_schedule, t.order);
    // A winner other than the default's choice must compute what the default does (Winograd's
    // rounding differs): else it is recorded as failed and the next fastest is checked.
    while (!entry.schedule.empty() && entry.schedule != g.default_schedule) {
      std::string why = disagreement(exec, g.steps, entry.schedule, input, want, options.tolerance);
      if (why.empty()) break;
      entry.failed[entry.schedule] = why;
      entry.median_ms.erase(entry.schedule);
      entry.schedule = pick_winner(entry.median_ms, g.default_schedule, t.order);
    }
    if (entry.schedule.empty()) return std::string("no candidate ran");
    db.target(fp)->entries.push_back(entry);
    if (!options.db.empty()) write_tuned_db(options.db, db);  // a kill keeps every finished signature
    summary.entries.push_back(entry);
    ++summary.tuned;
    double def = entry.median_ms.count(g.default_schedule) ? entry.median_ms.at(g.default_schedule) : 0;
    double win = entry.median_ms.at(entry.schedule);
    return def > 0 ? fmt::format("{} {:.3f} ms (default {} {:.3f} ms, {:+.1f} %)", entry.schedule, win,
                                 g.default_schedule, def, 100.0 * (def - win) / def)
                   : fmt::format("{} {:.3f} ms", entry.schedule, win);
  };
  auto label_of = [](const Group& g) {
    return fmt::format("{} ({} step{})", g.layer, g.steps.size(), g.steps.size() == 1 ? "" : "s");
  };

  Progress progress(options.progress, static_cast<int>(todo.size()));
  int done = 0;
  if (!options.in_network) {
    // Isolated: one signature at a time, its first step repeated alone.
    for (const Group* g : todo) {
      if (now_seconds() - start > options.budget_seconds) {
        summary.left = static_cast<int>(todo.size()) - done;
        break;
      }
      const std::string label = label_of(*g);
      progress.start(done, label);
      double t0 = now_seconds();
      Trial t = prepare(*g);
      size_t s = g->steps.front();
      // Calls per candidate and round: about 50 ms of the slowest, 1 to 5.
      int calls = t.single > 0 ? std::clamp(static_cast<int>(0.05 / t.single), 1, 5) : 3;
      for (int r = 0; r < options.rounds; ++r)
        for (const std::string& c : t.applicable) {
          if (t.entry.failed.count(c)) continue;
          try {
            exec.set_step_schedule(s, c);
            for (double x : timer(exec, s, calls)) t.samples[c].push_back(x * 1e3);
          } catch (const std::exception& e) {
            t.entry.failed[c] = e.what();
            t.samples.erase(c);
          }
        }
      exec.set_step_schedule(s, "default");
      std::string result = conclude(t);
      progress.finish(++done, label, result, now_seconds() - t0);
    }
    summary.rounds = options.rounds;
  } else {
    // In place: every signature's candidates found first, then whole network runs. Run k of a
    // round gives signature i its candidate (k + i) mod n_i (none once k >= n_i: the default),
    // so each run mixes candidates, and each round times every candidate of every signature
    // once; a candidate's sample is the mean over the signature's steps of their time in the
    // run; a round gives each candidate `runs` runs, each a sample. Rounds alternate, as the
    // machine's speed drifts; the budget stops new rounds after the first.
    std::vector<Trial> trials;
    for (const Group* g : todo) trials.push_back(prepare(*g));
    auto network_timer = options.network_timer ? options.network_timer : [](Executor& e, const Tensor& x) {
      std::vector<double> seconds;
      e.run(x, seconds);
      return seconds;
    };
    size_t most = 0;
    for (const Trial& t : trials) most = std::max(most, t.applicable.size());
    // Runs per sample: as many as fill about 0.25 s of the default's steps, 1 to 5.
    double default_seconds = 0;
    if (most > 0)
      for (double x : network_timer(exec, input)) default_seconds += x;
    const int runs = default_seconds > 0 ? std::clamp(static_cast<int>(0.25 / default_seconds), 1, 5) : 1;
    Progress rounds(options.progress, options.rounds);
    for (int r = 0; r < options.rounds && most > 0; ++r) {
      if (r > 0 && now_seconds() - start > options.budget_seconds) break;
      const std::string label = fmt::format("timing {} signatures in place, round {}", trials.size(), r + 1);
      rounds.start(r, label);
      const double round_start = now_seconds();
      const int runs_before = summary.network_runs;
      for (size_t k = 0; k < most; ++k) {
        std::vector<const std::string*> chosen(trials.size(), nullptr);
        for (size_t i = 0; i < trials.size(); ++i) {
          const std::vector<std::string>& a = trials[i].applicable;
          if (k < a.size()) chosen[i] = &a[(k + i) % a.size()];
          set_schedule(exec, trials[i].group->steps, chosen[i] ? *chosen[i] : "default");
        }
        for (int n = 0; n < runs; ++n) {
          std::vector<double> step_seconds = network_timer(exec, input);
          ++summary.network_runs;
          for (size_t i = 0; i < trials.size(); ++i) {
            if (!chosen[i]) continue;
            double sum = 0;
            for (size_t s : trials[i].group->steps) sum += step_seconds.at(s);
            trials[i].samples[*chosen[i]].push_back(sum / static_cast<double>(trials[i].group->steps.size()) * 1e3);
          }
        }
      }
      summary.rounds = r + 1;
      rounds.finish(r + 1, label, fmt::format("{} network runs", summary.network_runs - runs_before),
                    now_seconds() - round_start);
    }
    for (const Trial& t : trials) set_schedule(exec, t.group->steps, "default");
    for (Trial& t : trials) {
      const std::string label = label_of(*t.group);
      progress.start(done, label);
      double t0 = now_seconds();
      std::string result = conclude(t);
      progress.finish(++done, label, result, now_seconds() - t0);
    }
  }
  // The estimated gain over the whole network: each step at its signature's medians.
  for (const Group& g : groups)
    if (const TunedEntry* e = db.target(fp)->find(g.signature))
      if (e->median_ms.count(e->default_schedule) && e->median_ms.count(e->schedule)) {
        summary.default_ms += e->median_ms.at(e->default_schedule) * static_cast<double>(g.steps.size());
        summary.tuned_ms += e->median_ms.at(e->schedule) * static_cast<double>(g.steps.size());
      }
  summary.prediction = check_predictions(*db.target(fp));
  summary.seconds = now_seconds() - start;
  return summary;
}

std::string TunedChoice::note() const {
  return fmt::format("tuned schedules from {}: {} steps found, {} predicted from the nearest signature, {} default",
                     source, *found, *predicted, *missing);
}

TunedChoice tuned_choice(const std::filesystem::path& db_path, int threads, KernelSet target_set) {
  std::filesystem::path path = db_path.empty() ? tuned_dir() : db_path;
  TunedDb db;
  if (std::filesystem::is_directory(path))
    db = read_tuned_dir(path);
  else
    db = read_tuned_db(path);
  TargetFingerprint fp = this_target(target_set, threads);
  TunedChoice c;
  c.found = std::make_shared<int>(0);
  c.predicted = std::make_shared<int>(0);
  c.missing = std::make_shared<int>(0);
  // The note names the target read: this CPU's own, or one of its name that records no family and model.
  const TunedTarget* target = db.target_for(fp);
  c.source = fmt::format("{} ({}{})", path.string(), target ? target->fingerprint.text() : fp.text(),
                         target ? "" : ": no entries for this target");
  auto shared = std::make_shared<TunedTarget>(target ? *target : TunedTarget{fp, {}});
  c.hook = [shared, found = c.found, predicted = c.predicted, missing = c.missing](
               const std::string& signature, const std::string& family) -> std::optional<std::string> {
    std::optional<Lookup> l = lookup(*shared, signature, family);
    // A winner this build did not compile (the tuning grid, Adams2019) runs as the default.
    if (l && !conv_schedule_not_compiled(l->schedule).empty()) l.reset();
    if (!l) {
      ++*missing;
      return std::nullopt;
    }
    ++*(l->predicted ? predicted : found);
    return l->schedule;
  };
  return c;
}

TunedChoice use_tuned(ExecutorOptions& options, const std::filesystem::path& db_path) {
  TunedChoice c = tuned_choice(db_path, options.threads, options.target);
  options.conv_schedule = "default";
  options.schedule_for = c.hook;
  return c;
}

}  // namespace archbench
