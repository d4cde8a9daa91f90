// The tuner with injected timings (winners, ties, failing candidates, interruption and
// resume), the tuned database (round trip, fingerprints, bad files), prediction, and a tuned
// network's outputs against the default's.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "helpers.h"
#include "runtime/executor.h"
#include "tuning/tuned_db.h"
#include "tuning/tuner.h"

namespace fs = std::filesystem;
using namespace archbench;

namespace {

// 3x3 convs with 64 channels on a 16x16 map (every conv schedule applies; the default's choice
// is Winograd), the second one twice (one signature, two steps), and a 1x1 conv.
const char* kNet = R"(name: tunable
input: [1, 64, 16, 16]
layers:
  - {name: a, op: conv, out: 64, kernel: 3, padding: 1}
  - {name: a_bn, op: batchnorm}
  - {name: a_relu, op: relu}
  - {name: b1, op: conv, out: 64, kernel: 3, padding: 1}
  - {name: b1_relu, op: relu}
  - {name: b2, op: conv, out: 64, kernel: 3, padding: 1}
  - {name: b2_relu, op: relu}
  - {name: c, op: conv, out: 128, kernel: 1}
)";

// The schedule each conv or depthwise step ran last, in step order.
std::vector<std::string> schedules_ran(const Executor& e) {
  std::vector<std::string> ran;
  for (size_t s = 0; s < e.steps().size(); ++s)
    if (!e.steps()[s].family.empty()) ran.push_back(e.step_schedule_ran(s));
  return ran;
}

// The schedules the default runs for the network's conv steps, in step order.
std::vector<std::string> default_choices(const Graph& g, const Weights& w) {
  ExecutorOptions o;
  o.threads = 1;
  Executor e(g, Weights(w), o);
  e.run(test::random_tensor(g.input().output, 2));
  return schedules_ran(e);
}

// kNet on a 12x12 map, where the default's choice for the 3x3 convs is direct convolution.
std::string narrow_net() {
  std::string text = kNet;
  text.replace(text.find("16, 16"), 6, "12, 12");
  return text;
}

using test::scratch;

// Injected timings in ms per (first layer of the step, schedule that ran); 300 ms for the rest.
struct FakeClock {
  struct Interrupt {};
  const Graph* graph;
  std::map<std::pair<std::string, std::string>, double> ms;
  std::map<std::string, int> calls;  // per layer
  std::string stop_at;               // throw an Interrupt when asked to time this layer
  // A step's injected time in seconds, as the schedule that ran it was set.
  double seconds(Executor& e, size_t step) {
    std::string layer = graph->layers[static_cast<size_t>(e.steps()[step].layers.front())].name;
    if (layer == stop_at) throw Interrupt{};
    ++calls[layer];
    auto it = ms.find({layer, e.step_schedule_ran(step)});
    if (it != ms.end() && it->second < 0) throw RuntimeError("injected failure");
    return (it == ms.end() ? 300.0 : it->second) / 1e3;
  }
  // One step alone (tune --isolated, and the untimed first call of each candidate).
  std::vector<double> operator()(Executor& e, size_t step, int n) {
    e.time_step(step, 1);  // really run it, so step_schedule_ran is what ran
    return std::vector<double>(static_cast<size_t>(n), seconds(e, step));
  }
  // One network run (tune in place): each step with a schedule choice takes its injected time.
  std::vector<double> network(Executor& e, const Tensor& x) {
    std::vector<double> times;
    e.run(x, times);  // really run it, so step_schedule_ran is what ran
    for (size_t s = 0; s < e.steps().size(); ++s)
      if (!e.steps()[s].family.empty()) times[s] = seconds(e, s);
    return times;
  }
};

TuneOptions quiet(const fs::path& db, FakeClock& clock) {
  TuneOptions o;
  o.threads = 1;
  o.db = db;
  o.progress = nullptr;
  o.timer = [&clock](Executor& e, size_t s, int n) { return clock(e, s, n); };
  o.network_timer = [&clock](Executor& e, const Tensor& x) { return clock.network(e, x); };
  return o;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string db_error(const std::string& text) {
  fs::path f = scratch("bad") / "db.yaml";
  std::ofstream(f) << text;
  try {
    read_tuned_db(f);
  } catch (const SpecError& e) {
    std::string s = e.what();
    return s.substr(s.find("db.yaml"));
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tuning)

BOOST_AUTO_TEST_CASE(the_winner_is_the_fastest_and_ties_go_to_the_default) {
  std::vector<std::string> order = {"direct", "tiled", "narrow"};
  BOOST_TEST(pick_winner({{"direct", 2.0}, {"tiled", 1.0}, {"narrow", 3.0}}, "direct", order) == "tiled");
  BOOST_TEST(pick_winner({{"direct", 1.004}, {"tiled", 1.0}}, "direct", order) == "direct");  // within 0.5 %
  BOOST_TEST(pick_winner({{"direct", 1.006}, {"tiled", 1.0}}, "direct", order) == "tiled");
  BOOST_TEST(pick_winner({{"narrow", 1.0}, {"tiled", 1.0}}, "direct", order) == "tiled");  // then the order
  BOOST_TEST(pick_winner({}, "direct", order) == "");
}

// Both methods: isolated (each signature's first step timed alone) and in place (within
// network runs, a signature's time the mean over its steps: b2 is slower than b1).
BOOST_AUTO_TEST_CASE(tune_with_injected_timings) {
  Graph g = test::load_text(kNet);
  Weights w = init_weights(g, 1);
  const std::vector<std::string> defaults = default_choices(g, w);
  const std::string d3 = defaults.at(0), d1 = defaults.back();
  BOOST_TEST(d3 == "winograd-m4-ch-t48-p8");
  // c's 16-wide map: at AVX2 the 4-pixel tile (16 pixels against 18 for direct's 6; kernels.cpp).
  BOOST_TEST(d1 == (cpu_isa() == CpuIsa::Avx2 ? "direct-c64-p4" : "direct"));
  for (bool in_network : {false, true}) BOOST_TEST_CONTEXT("in_network " << in_network) {
      FakeClock clock{&g, {}, {}, ""};
      clock.ms[{"a", d3}] = 10;
      clock.ms[{"a", "direct-p7-r4"}] = 4;
      clock.ms[{"a", "tiled"}] = 6;
      clock.ms[{"b1", d3}] = 8;
      clock.ms[{"b1", "narrow"}] = 3;
      clock.ms[{"b2", d3}] = 8;
      clock.ms[{"b2", "narrow"}] = 5;
      clock.ms[{"b1", "tiled"}] = -1;  // fails
      clock.ms[{"c", d1}] = 2;
      clock.ms[{"c", "blocked"}] = 2.005;  // a tie: the default's choice stays
      fs::path db = scratch(in_network ? "tune-in-place" : "tune") / "tuned.yaml";
      TuneOptions o = quiet(db, clock);
      o.in_network = in_network;
      TuneSummary t = tune_network(g, w, o);
      BOOST_TEST(t.signatures == 3);
      BOOST_TEST(t.tuned == 3);
      BOOST_REQUIRE_EQUAL(t.entries.size(), 3u);
      BOOST_TEST(t.entries[0].layer == "a");
      BOOST_TEST(t.entries[0].schedule == "direct-p7-r4");
      BOOST_TEST(t.entries[0].default_schedule == d3);
      BOOST_TEST(t.entries[0].signature == "conv+bn+relu in 1x64x16x16 out 1x64x16x16 k3x3 s1x1 d1x1 p1,1,1,1 g1");
      BOOST_TEST(t.entries[1].layer == "b1");  // b2 has the same signature
      BOOST_TEST(t.entries[1].schedule == "narrow");
      BOOST_TEST(t.entries[1].failed.at("tiled") == "injected failure");
      BOOST_TEST(!t.entries[1].median_ms.count("tiled"));
      // Alone, b1 is timed for the signature; in place, b1 and b2 in the same runs.
      BOOST_TEST(t.entries[1].median_ms.at("narrow") == (in_network ? 4.0 : 3.0), boost::test_tools::tolerance(1e-9));
      BOOST_TEST(clock.calls.count("b2") == (in_network ? 1u : 0u));
      BOOST_TEST(t.entries[2].schedule == d1);
      BOOST_TEST(t.entries[2].failed.empty());
      // All apply to the 1x1 conv but the Winograd variants (3x3 only).
      std::vector<std::string> for_1x1 = tuning_candidates("conv");
      std::erase_if(for_1x1, [](const std::string& c) { return c.rfind("winograd-", 0) == 0; });
      BOOST_TEST(t.entries[2].median_ms.size() == for_1x1.size());
      // End to end at the medians: a 10 -> 4, b1 and b2 8 -> 3 (in place 4), c 2 -> 2.
      BOOST_TEST(t.default_ms == 28.0, boost::test_tools::tolerance(1e-9));
      BOOST_TEST(t.tuned_ms == (in_network ? 14.0 : 12.0), boost::test_tools::tolerance(1e-9));
      // In place: 3 rounds, each of a sample per candidate of the signature with the most, a's
      // 3x3 conv, where every conv candidate applies (tiled failed on b1, so b has one fewer);
      // a sample is 5 runs, as the default's steps take 10 + 8 + 8 + 2 ms (5 x 28 < 250).
      if (in_network) {
        BOOST_TEST(t.rounds == 3);
        BOOST_TEST(t.network_runs == 3 * 5 * static_cast<int>(tuning_candidates("conv").size()));
      }

      // The database round trip.
      TunedDb back = read_tuned_db(db);
      BOOST_REQUIRE_EQUAL(back.targets.size(), 1u);
      BOOST_TEST((back.targets[0].fingerprint == this_cpu_target(1)));
      BOOST_REQUIRE_EQUAL(back.targets[0].entries.size(), 3u);
      BOOST_TEST(back.targets[0].entries[1].schedule == "narrow");
      BOOST_TEST(back.targets[0].entries[1].failed.at("tiled") == "injected failure");
      BOOST_TEST(back.targets[0].entries[0].median_ms.at("direct-p7-r4") == 4.0, boost::test_tools::tolerance(1e-9));
      fs::path again = db.parent_path() / "again.yaml";
      write_tuned_db(again, back);
      BOOST_TEST(read_text(again) == read_text(db));
    }
}

// A dilated conv split into tap bands (a 2-wide band on each side of an 8-wide one: 11 % of
// the taps fall in the padding) runs different schedules in different bands by default; that
// mix is then the candidate "default", timed like the others, so a single schedule replaces
// it only where it is faster.
BOOST_AUTO_TEST_CASE(a_default_that_mixes_schedules_across_tap_bands_is_a_candidate) {
  Graph g = test::load_text(R"(name: banded
input: [1, 32, 12, 12]
layers:
  - {name: d, op: conv, out: 32, kernel: 3, padding: 2, dilation: 2}
)");
  Weights w = init_weights(g, 1);
  const std::string mix = default_choices(g, w).at(0);
  BOOST_TEST(mix.find('+') != std::string::npos, mix);
  for (bool in_network : {false, true}) BOOST_TEST_CONTEXT("in_network " << in_network) {
      for (double simple_ms : {2.0, 9.0}) {
        FakeClock clock{&g, {}, {}, ""};
        clock.ms[{"d", mix}] = 5;
        clock.ms[{"d", "simple"}] = simple_ms;
        fs::path db = scratch(in_network ? "tune-banded-in-place" : "tune-banded") / "tuned.yaml";
        fs::remove(db);
        TuneOptions o = quiet(db, clock);
        o.in_network = in_network;
        TuneSummary t = tune_network(g, w, o);
        BOOST_REQUIRE_EQUAL(t.entries.size(), 1u);
        BOOST_TEST(t.entries[0].default_schedule == "default");
        BOOST_TEST(t.entries[0].median_ms.at("default") == 5.0, boost::test_tools::tolerance(1e-9));
        BOOST_TEST(t.entries[0].schedule == (simple_ms < 5 ? "simple" : "default"));
      }
    }
}

// A winner other than the default's choice is checked by running the network with it: Winograd
// (whose rounding differs from direct convolution's) passes the default tolerance, and is refused
// with the difference recorded where none is allowed; the next fastest then wins.
BOOST_AUTO_TEST_CASE(a_winner_that_changes_the_outputs_is_refused) {
  Graph g = test::load_text(narrow_net());
  Weights w = init_weights(g, 1);
  for (double tolerance : {kTunedTolerance, 0.0}) BOOST_TEST_CONTEXT("tolerance " << tolerance) {
      FakeClock clock{&g, {}, {}, ""};
      clock.ms[{"a", "winograd-m4-rows-t24"}] = 1;
      clock.ms[{"a", "direct"}] = 10;
      clock.ms[{"a", "narrow"}] = 12;
      TuneOptions o = quiet(scratch("refuse") / "tuned.yaml", clock);
      o.tolerance = tolerance;
      TuneSummary t = tune_network(g, w, o);
      BOOST_REQUIRE(!t.entries.empty());
      const TunedEntry& a = t.entries[0];
      BOOST_TEST(a.layer == "a");
      if (tolerance > 0) {
        BOOST_TEST(a.schedule == "winograd-m4-rows-t24");
        BOOST_TEST(a.failed.empty());
      } else {
        BOOST_TEST(a.schedule == "direct");
        BOOST_REQUIRE(a.failed.count("winograd-m4-rows-t24"));
        const std::string why = a.failed.at("winograd-m4-rows-t24");
        BOOST_TEST(why.rfind("the network's output differs from the default schedule's by ", 0) == 0);
        BOOST_TEST(why.substr(why.size() - 30) == "of its magnitude (more than 0)");
        BOOST_TEST(!a.median_ms.count("winograd-m4-rows-t24"));
      }
    }
}

BOOST_AUTO_TEST_CASE(an_interrupted_tune_keeps_finished_layers_and_resumes) {
  Graph g = test::load_text(kNet);
  Weights w = init_weights(g, 1);
  fs::path db = scratch("resume") / "tuned.yaml";
  // Isolated, signatures are tuned one at a time, each written when done.
  FakeClock first{&g, {}, {}, "c"};
  TuneOptions o = quiet(db, first);
  o.in_network = false;
  BOOST_CHECK_THROW(tune_network(g, w, o), FakeClock::Interrupt);
  BOOST_TEST(read_tuned_db(db).targets.at(0).entries.size() == 2u);  // a and b1 were written
  // In place the timing is shared: a resumed run (either way) times only what is left.
  FakeClock second{&g, {}, {}, ""};
  TuneSummary t = tune_network(g, w, quiet(db, second));
  BOOST_TEST(t.already == 2);
  BOOST_TEST(t.tuned == 1);
  BOOST_REQUIRE_EQUAL(t.entries.size(), 1u);
  BOOST_TEST(t.entries[0].layer == "c");
  // Only c's candidates were timed: a round is one run per candidate of the 1x1 conv (one run
  // a sample: the default's steps take 4 x 300 ms).
  std::vector<std::string> for_1x1 = tuning_candidates("conv");
  std::erase_if(for_1x1, [](const std::string& c) { return c.rfind("winograd-", 0) == 0; });
  BOOST_TEST(t.network_runs == 3 * static_cast<int>(for_1x1.size()));
  BOOST_TEST(read_tuned_db(db).targets.at(0).entries.size() == 3u);
}

BOOST_AUTO_TEST_CASE(foreign_fingerprints_are_not_used) {
  Graph g = test::load_text(kNet);
  Weights w = init_weights(g, 1);
  fs::path dir = scratch("foreign");
  // Writes `db` as dir/NAME.yaml and builds the network with --schedule tuned from it.
  auto tuned_from = [&](const TunedDb& db, const std::string& name) {
    write_tuned_db(dir / (name + ".yaml"), db);
    TunedChoice c = tuned_choice(dir / (name + ".yaml"), 1);
    ExecutorOptions o;
    o.threads = 1;
    o.schedule_for = c.hook;
    Executor exec(g, w, o);
    return c;
  };
  TunedDb db;
  TargetFingerprint other = this_cpu_target(1);
  other.cpu = "Another CPU";
  TunedEntry e;
  e.signature = "conv+bn+relu in 1x64x16x16 out 1x64x16x16 k3x3 s1x1 d1x1 p1,1,1,1 g1";
  e.schedule = "narrow";
  db.targets.push_back({other, {e}});
  TunedChoice c = tuned_from(db, "other");
  BOOST_TEST(*c.found == 0);
  BOOST_TEST(*c.predicted == 0);
  BOOST_TEST(*c.missing == 4);
  BOOST_TEST(c.note().find("no entries for this target") != std::string::npos);
  // Nor is one of a CPU of this name with another family and model.
  other = this_cpu_target(1);
  other.cpu_id = "family 0 model 0";
  db.targets[0].fingerprint = other;
  TunedChoice sibling = tuned_from(db, "sibling");
  BOOST_TEST(*sibling.found == 0);
  BOOST_TEST(*sibling.missing == 4);
  // One of this name that records no family and model (tuned before they were recorded) is
  // used where this CPU has no target of its own, and the note names it; this CPU's own wins.
  other.cpu_id.clear();
  db.targets[0].fingerprint = other;
  TunedChoice unrecorded = tuned_from(db, "unrecorded");
  BOOST_TEST(read_text(dir / "unrecorded.yaml").find("cpu_id") == std::string::npos);
  BOOST_TEST(*unrecorded.found == 1);
  if (!this_cpu_target(1).cpu_id.empty()) {
    BOOST_TEST(unrecorded.note().find("(" + other.text() + ")") != std::string::npos);
    TunedDb both = db;
    both.targets.push_back({this_cpu_target(1), {}});  // this CPU's own, with no entries
    TunedChoice own = tuned_from(both, "both");
    BOOST_TEST(read_text(dir / "both.yaml").find("    cpu_id: \"" + this_cpu_target(1).cpu_id + "\"\n") !=
               std::string::npos);
    BOOST_TEST(*own.found == 0);
    BOOST_TEST(*own.missing == 4);
    BOOST_TEST(own.note().find("(" + this_cpu_target(1).text() + ")") != std::string::npos);
  }
  // The same entry under this machine's fingerprint is used, and predicts the other 3x3 conv.
  db.targets[0].fingerprint = this_cpu_target(1);
  TunedChoice mine = tuned_from(db, "mine");
  BOOST_TEST(*mine.found == 1);
  BOOST_TEST(*mine.predicted == 0);  // b1, b2 (conv+relu) and c (conv): other fused kernels
  BOOST_TEST(*mine.missing == 3);
  // A winner another build compiles (the tuning grid's direct-p4-r2; the test preset has no
  // -DARCHBENCH_TUNING) loads, with timings of such schedules, and its step runs the default.
  if (!conv_schedule_not_compiled("direct-p4-r2").empty()) {
    db.targets[0].entries[0].schedule = "direct-p4-r2";
    db.targets[0].entries[0].median_ms = {{"direct-p4-r2", 1.0}, {"auto-adams2019", 2.0}, {"direct", 3.0}};
    TunedChoice absent = tuned_from(db, "absent");
    BOOST_TEST(*absent.found == 0);
    BOOST_TEST(*absent.missing == 4);
  }
}

BOOST_AUTO_TEST_CASE(prediction_from_the_nearest_signature) {
  TunedTarget t{this_cpu_target(1), {}};
  auto entry = [](const std::string& sig, const std::string& s) {
    TunedEntry e;
    e.signature = sig;
    e.schedule = s;
    return e;
  };
  t.entries = {entry("conv+relu in 1x64x56x56 out 1x64x56x56 k3x3 s1x1 d1x1 p1,1,1,1 g1", "direct-p14-r8"),
               entry("conv+relu in 1x256x14x14 out 1x256x14x14 k3x3 s1x1 d1x1 p1,1,1,1 g1", "direct"),
               entry("conv+relu in 1x512x7x7 out 1x512x7x7 k3x3 s1x1 d1x1 p1,1,1,1 g1", "direct"),
               entry("conv+relu in 1x64x56x56 out 1x256x56x56 k1x1 s1x1 d1x1 p0,0,0,0 g1", "blocked")};
  auto l = lookup(t, "conv+relu in 1x128x28x28 out 1x128x28x28 k3x3 s1x1 d1x1 p1,1,1,1 g1", "conv");
  BOOST_REQUIRE(l.has_value());
  BOOST_TEST(l->predicted);
  // log distances: to 64x56x56: 2 ln 2 + ln 4 = 4 ln 2; to 256x14x14: 2 ln 2 + ln 4 = 4 ln 2
  // (a tie: the first listed); to 512x7x7: 4 ln 2 + ln 16 = 8 ln 2.
  BOOST_TEST(l->schedule == "direct-p14-r8");
  BOOST_TEST(lookup(t, "conv+relu in 1x256x14x14 out 1x256x14x14 k3x3 s1x1 d1x1 p1,1,1,1 g1", "conv")->predicted ==
             false);
  BOOST_TEST(!lookup(t, "conv+bn+add+relu in 1x64x56x56 out 1x64x56x56 k3x3 s1x1 d1x1 p1,1,1,1 g1", "conv"));
  // Leave-one-out: 64x56 <- 256x14 (direct: wrong), 256x14 <- 512x7 (right), 512x7 <- 256x14
  // (right), the 1x1 <- a 3x3 with the window penalty (wrong).
  PredictionCheck p = check_predictions(t);
  BOOST_TEST(p.entries == 4);
  BOOST_TEST(p.predictable == 4);
  BOOST_TEST(p.correct == 2);
}

BOOST_AUTO_TEST_CASE(bad_tuned_databases_name_the_line) {
  const std::string head =
      "version: 1\ntargets:\n  - cpu: X\n    isa: avx2\n    kernel_set: k\n    threads: 2\n    layers:\n";
  const std::string sig = "      - signature: \"conv in 1x8x8x8 out 1x8x8x8 k3x3 s1x1 d1x1 p1,1,1,1 g1\"\n";
  BOOST_TEST(db_error(head + sig + "        schedule: fastest\n") ==
             "db.yaml:9:19: error: unknown conv schedule 'fastest' (one of: " + test::conv_schedules_listed() + ")");
  BOOST_TEST(db_error(head + sig + "        schedule: direct\n        shedule: x\n") ==
             "db.yaml:10:9: error: unknown key 'shedule' in a layer entry (did you mean 'schedule'?)");
  BOOST_TEST(db_error(head + sig + "        schedule: direct\n" + sig + "        schedule: simple\n") ==
             "db.yaml:10:20: error: this signature is listed twice for the target");
  BOOST_TEST(db_error(head + sig + "        schedule: direct\n        ms: {direct: -3}\n") ==
             "db.yaml:10:22: error: 'direct' must be a positive number of milliseconds");
  BOOST_TEST(db_error(head + "      - signature: hello\n        schedule: direct\n") ==
             "db.yaml:8:20: error: 'hello' is not a layer signature (archbench tune writes them)");
  BOOST_TEST(db_error("version: 2\n") == "db.yaml:1:10: error: tuned database version must be 1");
  BOOST_TEST(db_error(head + "      - schedule: direct\n") == "db.yaml:8:9: error: a layer entry has no 'signature'");
  BOOST_TEST(db_error("version: 1\ntargets:\n  - cpu: X\n    isa: avx2\n    kernel_set: k\n    threads: two\n") ==
             "db.yaml:6:14: error: threads must be a positive integer, got 'two'");
  // Timings and failures are of the family's schedules too.
  const std::string conv_schedules = test::conv_schedules_listed();
  BOOST_TEST(db_error(head + sig + "        schedule: direct\n        ms: {direct: 1, bogus: 2}\n") ==
             "db.yaml:10:25: error: unknown conv schedule 'bogus' in 'ms' (one of: " + conv_schedules + ")");
  BOOST_TEST(db_error(head + sig + "        schedule: direct\n        failed:\n          drect: oops\n") ==
             "db.yaml:11:11: error: unknown conv schedule 'drect' in 'failed' (did you mean 'direct'?) (one of: " +
                 conv_schedules + ")");
  // A signature's window numbers: groups, extents and strides of at least 1, within 32 bits.
  for (const std::string bad : {"conv in 1x8x8x8 out 1x8x8x8 k3x3 s1x1 d1x1 p1,1,1,1 g0",
                                "conv in 1x8x8x8 out 1x8x8x8 k3x3 s1x1 d1x1 p1,1,1,1 g99999999999999999999",
                                "conv in 1x8x8x8 out 1x8x8x8 k3x3 s0x1 d1x1 p1,1,1,1 g1",
                                "conv in 1x8x8x8 out 1x8x8x8 k3x3 s1x1 d1x1 p-1,1,1,1 g1",
                                "conv in 1x8x8x8 out 1x0x8x8 k3x3 s1x1 d1x1 p1,1,1,1 g1",
                                "conv in 1x8x8x8 out 1x8x8x8 k3x3 s1x1 d1x1 p1,1,1 g1",
                                "conv in 1x8x8x8 out 1x8x8x8 k3x3 s1x1 d1x1 p1,1,1,1 g1 extra"})
    BOOST_TEST_CONTEXT(bad) {
      BOOST_TEST(db_error(head + "      - signature: \"" + bad + "\"\n        schedule: direct\n") ==
                 "db.yaml:8:20: error: '" + bad + "' is not a layer signature (archbench tune writes them)");
    }
}

BOOST_AUTO_TEST_CASE(a_tuned_network_computes_what_the_default_does) {
  Graph g = test::load_text(kNet);
  Weights w = init_weights(g, 3);
  Tensor x = default_input(g.input().output);
  ExecutorOptions o;
  o.threads = 1;
  Executor plain(g, w, o);
  Tensor want = plain.run(x).at("c");
  TunedTarget t{this_cpu_target(1), {}};
  for (const auto& [layer, schedule] : std::vector<std::pair<std::string, std::string>>{
           {"a", "direct-p7-r4"}, {"b1", "winograd-m4-rows-t24"}, {"c", "blocked"}}) {
    TunedEntry e;
    size_t step = 0;
    for (size_t s = 0; s < plain.steps().size(); ++s)
      if (g.layers[static_cast<size_t>(plain.steps()[s].layers.front())].name == layer) step = s;
    e.signature = step_signature(g, plain.steps()[step]);
    e.schedule = schedule;
    t.entries.push_back(e);
  }
  fs::path dir = scratch("same");
  write_tuned_db(dir / "t.yaml", TunedDb{{t}});
  TunedChoice c = tuned_choice(dir / "t.yaml", 1);
  o.schedule_for = c.hook;
  Executor tuned(g, w, o);
  Tensor got = tuned.run(x).at("c");
  BOOST_TEST(*c.found == 4);
  std::vector<std::string> ran = schedules_ran(tuned);
  BOOST_TEST(
      ran == std::vector<std::string>({"direct-p7-r4", "winograd-m4-rows-t24", "winograd-m4-rows-t24", "blocked"}),
      boost::test_tools::per_element());
  BOOST_TEST(test::relative_error(got, want) <= 1e-5);
}

// A GPU kernel set tunes between its own schedules (gpu-tiled / gpu-simple / gpu-c8 /
// gpu-auto-li2018), with injected
// timings; its entries sit under the device's fingerprint, and the tuned network computes
// what the default does. Runs on the opencl set (PoCL in CI); skipped where it cannot run.
BOOST_AUTO_TEST_CASE(a_gpu_set_tunes_its_own_schedules) {
  KernelSetStatus opencl = probe_kernel_set(KernelSet::OpenCL);
  if (!opencl.usable) {
    BOOST_TEST_MESSAGE("skipped: opencl cannot run here: " << opencl.reason);
    return;
  }
  BOOST_TEST(tuning_candidates("conv", KernelSet::OpenCL) ==
                 std::vector<std::string>({"gpu-tiled", "gpu-simple", "gpu-c8", "gpu-auto-li2018"}),
             boost::test_tools::per_element());
  BOOST_TEST(tuning_candidates("depthwise", KernelSet::OpenCL) == std::vector<std::string>({"columns", "staged"}),
             boost::test_tools::per_element());
  // (interior and framed are the cpu set's alone.)
  BOOST_TEST(tuning_candidates("depthwise", KernelSet::Cpu) ==
                 std::vector<std::string>({"columns", "staged", "interior", "framed"}),
             boost::test_tools::per_element());
  Graph g = test::load_text(kNet);
  Weights w = init_weights(g, 3);
  FakeClock clock{&g, {}, {}, ""};
  clock.ms[{"a", "gpu-simple"}] = 1;  // the default's choice on a 16x16 map is gpu-tiled
  clock.ms[{"b1", "gpu-tiled"}] = 2;
  clock.ms[{"c", "gpu-c8"}] = 3;
  fs::path dir = scratch("gpu");
  TuneOptions o;
  o.target = KernelSet::OpenCL;
  o.db = dir / "gpu.yaml";
  o.progress = nullptr;
  o.timer = std::ref(clock);
  o.network_timer = [&clock](Executor& e, const Tensor& x) { return clock.network(e, x); };
  TuneSummary t = tune_network(g, w, o);
  BOOST_TEST_REQUIRE(t.entries.size() == 3u);
  BOOST_TEST(t.entries[0].schedule == "gpu-simple");
  BOOST_TEST(t.entries[0].default_schedule == "gpu-tiled");
  BOOST_TEST(t.entries[1].schedule == "gpu-tiled");
  BOOST_TEST(t.entries[2].schedule == "gpu-c8");
  for (const TunedEntry& e : t.entries) BOOST_TEST(e.median_ms.size() == 4u);  // every gpu-* applies
  TunedDb db = read_tuned_db(o.db);
  BOOST_TEST_REQUIRE(db.targets.size() == 1u);
  BOOST_TEST(db.targets[0].fingerprint.cpu == opencl.device);
  BOOST_TEST(db.targets[0].fingerprint.isa == "opencl");
  // The cpu set finds nothing under the device's fingerprint.
  BOOST_TEST(*tuned_choice(o.db, 1).found == 0);

  Tensor x = default_input(g.input().output);
  ExecutorOptions eo;
  eo.target = KernelSet::OpenCL;
  Tensor want = Executor(g, w, eo).run(x).at("c");
  TunedChoice c = use_tuned(eo, o.db);
  Executor tuned(g, w, eo);
  Tensor got = tuned.run(x).at("c");
  BOOST_TEST(*c.found == 4);
  std::vector<std::string> ran = schedules_ran(tuned);
  BOOST_TEST(ran == std::vector<std::string>({"gpu-simple", "gpu-tiled", "gpu-tiled", "gpu-c8"}),
             boost::test_tools::per_element());
  BOOST_TEST(test::relative_error(got, want) <= 1e-5);
}

BOOST_AUTO_TEST_SUITE_END()
