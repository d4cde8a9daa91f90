// Sweep files, sharding, the results database (schema, resume, merge, failures) and the
// report writer, with a fake measurement where timings must be known and the real runtime
// where the figures must be.
#include <sqlite3.h>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "helpers.h"
#include "reports/results_db.h"
#include "reports/results_report.h"
#include "runtime/executor.h"
#include "sweeps/sweep.h"

namespace fs = std::filesystem;
using namespace archbench;

namespace {

fs::path tiny_sweep() { return test::test_dir() / "fixtures/sweeps/tiny.yaml"; }

using test::scratch;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The error of loading a sweep file, its path made relative to the tests folder.
std::string sweep_error(const fs::path& file) {
  try {
    load_sweep(file);
  } catch (const SpecError& e) {
    std::string s = e.what();
    std::string dir = test::test_dir().string() + "/";
    for (size_t at; (at = s.find(dir)) != std::string::npos;) s.erase(at, dir.size());
    return s;
  }
  return "";
}

// Deterministic timings: samples base, base+1, ... ms with base from the case's position.
void fake_measure(const SweepCase& c, CaseRecord& r) {
  if (c.network.find("cycle") != std::string::npos) throw RuntimeError("fake failure of " + c.network);
  double base = 10.0 + c.position;
  for (int i = 0; i < c.repetitions; ++i) r.samples_ms.push_back(base + i);
  r.median_ms = base + (c.repetitions - 1) / 2.0;
  r.params = 1000, r.macs = 2'000'000, r.flops = 4'100'000;
  r.scratch_bytes = 4096;
  r.peak_gflops = 1, r.peak_gbps = 0.5;  // stem's roofline bound 4 ms (compute), pool's 0.1 ms
  r.kernels.push_back({"stem", "relu", "conv+bn+relu", "direct", r.median_ms * 0.75, 4'000'000, 10'000, 1, 1});
  r.kernels.push_back({"pool", "maxpool", "maxpool", "", r.median_ms * 0.25, 100'000, 5'000, 1, 1});
  r.layers.push_back({"input", "input", c.input, 0, 0, 0, 100, 0, 100, 1, 1, 1});
  r.layers.push_back({"stem", "conv", c.input, 2'000'000, 4'000'000, 1000, 100, 4100, 200, 3, 3, 1});
}

SweepOptions quiet(const fs::path& db) {
  SweepOptions o;
  o.db = db;
  o.progress = nullptr;
  o.measure = fake_measure;
  return o;
}

std::multiset<std::string> keys_in(const fs::path& db_path) {
  ResultsDb db = ResultsDb::open(db_path, false);
  std::multiset<std::string> keys;
  for (const CaseRecord& c : db.read_cases({}, false)) keys.insert(c.key + " " + c.status);
  return keys;
}

// One value of a query on the raw database, as text.
std::string query(const fs::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* s = nullptr;
  std::string out = "(error)";
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  sqlite3_close(h);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sweep_files)

BOOST_AUTO_TEST_CASE(cross_product_with_exclusions_and_own_inputs) {
  Sweep s = load_sweep(tiny_sweep());
  BOOST_TEST(s.name == "tiny");
  // tiny_backbone: 2 inputs x (cpu t1, cpu t2, cuda t1); cycle: its own 1 input x 3.
  BOOST_REQUIRE_EQUAL(s.cases.size(), 9u);
  std::vector<std::string> labels;
  for (const SweepCase& c : s.cases) labels.push_back(c.label());
  std::vector<std::string> expected = {"../tiny_backbone.yaml 1x3x16x16 cpu threads=1 schedule=default",
                                       "../tiny_backbone.yaml 1x3x16x16 cpu threads=2 schedule=default",
                                       "../tiny_backbone.yaml 1x3x16x16 cuda threads=1 schedule=default",
                                       "../tiny_backbone.yaml 2x3x24x20 cpu threads=1 schedule=default",
                                       "../tiny_backbone.yaml 2x3x24x20 cpu threads=2 schedule=default",
                                       "../tiny_backbone.yaml 2x3x24x20 cuda threads=1 schedule=default",
                                       "../../bad_specs/cycle.yaml 1x3x8x8 cpu threads=1 schedule=default",
                                       "../../bad_specs/cycle.yaml 1x3x8x8 cpu threads=2 schedule=default",
                                       "../../bad_specs/cycle.yaml 1x3x8x8 cuda threads=1 schedule=default"};
  BOOST_TEST(labels == expected, boost::test_tools::per_element());
  for (size_t i = 0; i < s.cases.size(); ++i) BOOST_TEST(s.cases[i].position == static_cast<int>(i));
  BOOST_TEST(s.cases[0].repetitions == 3);
  BOOST_TEST(s.cases[0].warmup == 0);
  // Keys differ between cases and are stable across loads.
  std::set<std::string> keys;
  for (const SweepCase& c : s.cases) keys.insert(c.key());
  BOOST_TEST(keys.size() == 9u);
  BOOST_TEST(load_sweep(tiny_sweep()).cases[4].key() == s.cases[4].key());
  // The same architecture hashes alike from the zoo and from its file.
  BOOST_TEST(s.cases[0].spec_hash.size() == 16u);
  BOOST_TEST(s.cases[6].spec_hash.rfind("text-", 0) == 0);  // the cycle does not load: its text is hashed
}

BOOST_AUTO_TEST_CASE(the_shipped_sweeps_load) {
  Sweep d = load_sweep(test::test_dir() / "../configs/sweeps/default.yaml");
  BOOST_TEST(d.cases.size() == zoo_networks().size());  // every zoo network once, at batch 1
  for (const SweepCase& c : d.cases) BOOST_TEST(c.input.n == 1);
  Sweep q = load_sweep(test::test_dir() / "../configs/sweeps/quick.yaml");
  BOOST_TEST(q.cases.size() == 8u);
}

BOOST_AUTO_TEST_CASE(bad_sweep_files_name_line_and_column) {
  const std::map<std::string, std::string> expected = {
      {"unknown_network",
       "bad_sweeps/unknown_network.yaml:2:22: error: unknown network 'resnet5O' (did you mean 'resnet50'?): not in "
       "the zoo (" +
           zoo_dir().string() + "), and not a .yaml or .onnx file"},
      {"unknown_key", "bad_sweeps/unknown_key.yaml:5:1: error: unknown key 'repetition' (did you mean 'repetitions'?)"},
      {"unknown_target",
       "bad_sweeps/unknown_target.yaml:4:16: error: unknown target 'cdua' (one of: cpu, cuda, "
       "opencl)"},
      {"bad_shape",
       "bad_sweeps/bad_shape.yaml:3:10: error: an input must be a list of 4 positive integers N, C, H, W, e.g. [1, "
       "3, 224, 224]"},
      {"zero_size", "bad_sweeps/zero_size.yaml:3:17: error: H must be at least 1, got 0"},
      {"negative_threads",
       "bad_sweeps/negative_threads.yaml:5:14: error: threads (0: all cores) must be at least 0, got -1"},
      {"unknown_schedule",
       "bad_sweeps/unknown_schedule.yaml:5:22: error: unknown schedule 'tiledd' (did you mean 'tiled'?) (one of: "
       "default, " +
           test::conv_schedules_listed() + ", tuned)"},
      {"schedule_not_compiled",  // the tuning grid: the test preset does not compile it
       "bad_sweeps/schedule_not_compiled.yaml:5:22: error: conv schedule 'direct-p4-r2' is not compiled into this "
       "build (configure with -DARCHBENCH_TUNING=ON)"},
      {"zero_repetitions", "bad_sweeps/zero_repetitions.yaml:5:14: error: repetitions must be at least 1, got 0"},
      {"empty_product",
       "bad_sweeps/empty_product.yaml:1:1: error: the sweep has no cases: every combination is excluded"},
      {"unknown_exclude_key",
       "bad_sweeps/unknown_exclude_key.yaml:6:6: error: unknown exclude key 'netwrk' (did you mean 'network'?) (one "
       "of: network, input, target, threads, schedule)"},
      {"syntax_error", "bad_sweeps/syntax_error.yaml:3:7: error: YAML syntax error: end of sequence flow not found"},
      {"overflow_shape", "bad_sweeps/overflow_shape.yaml:3:10: error: input shape overflows 64-bit element counts"},
      {"missing_spec", "bad_sweeps/missing_spec.yaml:2:12: error: no such spec file 'bad_sweeps/missing.yaml'"},
      {"no_name", "bad_sweeps/no_name.yaml:1:1: error: the sweep has no 'name'"},
      // Counts beyond what Halide's thread pool or Google Benchmark take, not wrapped or ignored.
      {"too_many_threads",
       "bad_sweeps/too_many_threads.yaml:5:14: error: threads (0: all cores) must be at most 256, got 500"},
      {"wrapping_threads",
       "bad_sweeps/wrapping_threads.yaml:5:11: error: threads (0: all cores) must be at most 256, got 4294967297"},
      {"exclude_too_many_threads",
       "bad_sweeps/exclude_too_many_threads.yaml:6:15: error: threads (0: all cores) must be at most 256, got 1000"},
      {"huge_repetitions",
       "bad_sweeps/huge_repetitions.yaml:5:14: error: repetitions must be at most 1000000, got 3000000000"},
      {"huge_warmup",
       "bad_sweeps/huge_warmup.yaml:5:9: error: warmup must be at most 1000000, got 9223372036854775807"},
      {"warmup_past_64_bits",
       "bad_sweeps/warmup_past_64_bits.yaml:5:9: error: warmup must be at most 1000000, got 99999999999999999999"},
  };
  for (const auto& [name, message] : expected) {
    BOOST_TEST_CONTEXT(name) { BOOST_TEST(sweep_error(test::test_dir() / "bad_sweeps" / (name + ".yaml")) == message); }
  }
  BOOST_TEST(sweep_error(test::test_dir() / "bad_sweeps/none.yaml") ==
             "bad_sweeps/none.yaml: error: cannot read the sweep file (missing or unreadable)");
  BOOST_TEST(sweep_error(test::test_dir() / "bad_sweeps") == "bad_sweeps: error: is a directory, not a sweep file");
  const std::string long_name(300, 'x');
  BOOST_TEST(sweep_error(long_name + ".yaml") ==
             long_name.substr(0, 60) + "... (305 characters): error: cannot read the sweep file: File name too long");
}

BOOST_AUTO_TEST_CASE(shards_partition_the_product) {
  BOOST_TEST(parse_shard("2/4").index == 2);
  BOOST_TEST(parse_shard("2/4").count == 4);
  for (const char* bad : {"4/4", "-1/2", "1/0", "a/b", "1", "1/2/3", ""}) {
    BOOST_TEST_CONTEXT(bad) {
      try {
        parse_shard(bad);
        BOOST_ERROR("accepted");
      } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()) ==
                   std::string("--shard '") + bad + "': expected I/N with N >= 1 and 0 <= I < N (e.g. 0/4 ... 3/4)");
      }
    }
  }
  Sweep s = load_sweep(tiny_sweep());
  std::multiset<int> seen;
  for (int i = 0; i < 4; ++i)
    for (const SweepCase& c : shard_cases(s.cases, {i, 4})) {
      BOOST_TEST(c.position % 4 == i);
      seen.insert(c.position);
    }
  BOOST_TEST(seen.size() == s.cases.size());
  BOOST_TEST(std::set<int>(seen.begin(), seen.end()).size() == s.cases.size());  // each exactly once
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(results_db)

BOOST_AUTO_TEST_CASE(schema_and_version) {
  fs::path dir = scratch("schema");
  fs::path db = dir / "r.sqlite";
  { ResultsDb::open(db, true); }
  BOOST_TEST(query(db, "PRAGMA user_version") == "2");
  BOOST_TEST(query(db, "SELECT value FROM meta WHERE key = 'schema_version'") == "2");
  BOOST_TEST(query(db, "PRAGMA journal_mode") == "wal");
  BOOST_TEST(query(db,
                   "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'table' "
                   "ORDER BY name)") == "case_kernels,case_layers,cases,meta,runs");
  // Not found, not SQLite, another schema version, a directory.
  auto error_of = [](const fs::path& p, bool create) {
    try {
      ResultsDb::open(p, create);
    } catch (const DatabaseError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  BOOST_TEST(error_of(dir / "none.sqlite", false) == (dir / "none.sqlite").string() + ": no such results database");
  std::ofstream(dir / "text.sqlite") << "hello, not a database\n";
  BOOST_TEST(error_of(dir / "text.sqlite", false) ==
             (dir / "text.sqlite").string() + ": not a results database (file is not a database)");
  {
    sqlite3* h = nullptr;
    sqlite3_open((dir / "v9.sqlite").c_str(), &h);
    sqlite3_exec(h, "CREATE TABLE runs(x); PRAGMA user_version = 9;", nullptr, nullptr, nullptr);
    sqlite3_exec(h, "CREATE TABLE other(x);", nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  BOOST_TEST(error_of(dir / "v9.sqlite", false) ==
             (dir / "v9.sqlite").string() + ": results schema version 9; this archbench reads versions 1 to 2");
  // A results database missing a table fails when opened, not at its first write.
  {
    sqlite3* h = nullptr;
    sqlite3_open((dir / "nokernels.sqlite").c_str(), &h);
    sqlite3_exec(h,
                 "CREATE TABLE meta(x); CREATE TABLE runs(x); CREATE TABLE cases(x); CREATE TABLE case_layers(x);"
                 "PRAGMA user_version = 2;",
                 nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  BOOST_TEST(error_of(dir / "nokernels.sqlite", true) ==
             (dir / "nokernels.sqlite").string() +
                 ": a damaged results database: it has no 'case_kernels' table (every results database has meta, "
                 "runs, cases, case_layers and case_kernels)");
  BOOST_TEST(error_of(dir, true) == dir.string() + ": is a directory, not a results database");
  BOOST_TEST(error_of("/nonexistent/dir/r.sqlite", true) ==
             "/nonexistent/dir/r.sqlite: cannot open: unable to open database file");
}

// A version-1 file (no cases.scratch_bytes, no case_kernels.schedule) is upgraded in place
// when opened: its cases keep their values, the new columns empty.
BOOST_AUTO_TEST_CASE(a_version_1_file_is_upgraded_when_opened) {
  fs::path db = scratch("upgrade") / "r.sqlite";
  run_sweep(load_sweep(tiny_sweep()), quiet(db));
  {
    sqlite3* h = nullptr;
    sqlite3_open(db.c_str(), &h);
    BOOST_REQUIRE(sqlite3_exec(h,
                               "ALTER TABLE cases DROP COLUMN scratch_bytes; ALTER TABLE case_kernels DROP COLUMN "
                               "schedule; PRAGMA user_version = 1; UPDATE meta SET value = '1' WHERE key = "
                               "'schema_version'",
                               nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
  }
  BOOST_TEST(query(db, "PRAGMA user_version") == "1");
  {
    ResultsDb rdb = ResultsDb::open(db, false);
    std::vector<CaseRecord> cases = rdb.read_cases({}, true);
    BOOST_REQUIRE_EQUAL(cases.size(), 9u);
    BOOST_TEST(!cases[4].scratch_bytes.has_value());
    BOOST_TEST(cases[4].median_ms == 15.0);
    BOOST_REQUIRE_EQUAL(cases[4].kernels.size(), 2u);
    BOOST_TEST(cases[4].kernels[0].kernel == "conv+bn+relu");
    BOOST_TEST(cases[4].kernels[0].schedule == "");
  }
  BOOST_TEST(query(db, "PRAGMA user_version") == "2");
  BOOST_TEST(query(db, "SELECT value FROM meta WHERE key = 'schema_version'") == "2");
  // New cases in the upgraded file have the new columns: the second run's 6 ok cases (its 3
  // cases of the cycle spec fail, with no measurement).
  run_sweep(load_sweep(tiny_sweep()), quiet(db));
  BOOST_TEST(query(db, "SELECT count(*) FROM cases WHERE scratch_bytes = 4096") == "6");
  BOOST_TEST(query(db, "SELECT count(*) FROM case_kernels WHERE schedule = 'direct'") == "6");
  BOOST_TEST(query(db, "SELECT count(*) FROM cases WHERE scratch_bytes IS NULL") == "12");
}

BOOST_AUTO_TEST_CASE(failures_are_recorded_and_the_sweep_goes_on) {
  fs::path db = scratch("failures") / "r.sqlite";
  Sweep s = load_sweep(tiny_sweep());
  SweepOptions o = quiet(db);
  o.measure = [](const SweepCase& c, CaseRecord& r) {
    if (c.target != "cpu") throw RuntimeError("target '" + c.target + "': no device");
    fake_measure(c, r);
  };
  SweepSummary r = run_sweep(s, o);
  BOOST_TEST(r.cases == 9);
  BOOST_TEST(r.ok == 4);
  BOOST_TEST(r.failed == 5);
  ResultsDb rdb = ResultsDb::open(db, false);
  std::vector<CaseRecord> cases = rdb.read_cases({}, true);
  BOOST_REQUIRE_EQUAL(cases.size(), 9u);
  BOOST_TEST(cases[2].status == "failed");
  BOOST_TEST(cases[2].error == "target 'cuda': no device");
  BOOST_TEST(cases[6].error == "fake failure of ../../bad_specs/cycle.yaml");
  BOOST_TEST(cases[4].status == "ok");
  BOOST_TEST(cases[4].samples_ms == std::vector<double>({14, 15, 16}), boost::test_tools::per_element());
  BOOST_TEST(cases[4].kernels.size() == 2u);
  BOOST_TEST(cases[4].layers.size() == 2u);
  BOOST_TEST(cases[4].input == (Shape{2, 3, 24, 20}));
  std::vector<RunRecord> runs = rdb.read_runs();
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  BOOST_TEST(runs[0].cases_ok == 4);
  BOOST_TEST(runs[0].cases_failed == 5);
  BOOST_TEST(!runs[0].finished_at.empty());
  BOOST_TEST(runs[0].machine.cores > 0);
  BOOST_TEST(runs[0].git_hash.size() >= 7u);
}

BOOST_AUTO_TEST_CASE(resume_skips_finished_cases) {
  fs::path db = scratch("resume") / "r.sqlite";
  Sweep s = load_sweep(tiny_sweep());
  // A first run stops after three cases (as if killed: the run is never finished).
  SweepOptions o = quiet(db);
  int calls = 0;
  struct Stop {};
  try {
    o.measure = [&](const SweepCase& c, CaseRecord& r) {
      if (++calls > 3) throw Stop{};  // not a std::exception: escapes run_sweep like a kill
      fake_measure(c, r);
    };
    run_sweep(s, o);
  } catch (const Stop&) {}
  BOOST_TEST(keys_in(db).size() == 3u);
  BOOST_TEST(query(db, "SELECT finished_at FROM runs") == "");
  SweepOptions again = quiet(db);
  again.resume = true;
  std::vector<int> measured;
  again.measure = [&](const SweepCase& c, CaseRecord& r) {
    measured.push_back(c.position);
    fake_measure(c, r);
  };
  SweepSummary r = run_sweep(s, again);
  BOOST_TEST(r.skipped == 3);
  BOOST_TEST(measured == std::vector<int>({3, 4, 5, 6, 7, 8}), boost::test_tools::per_element());
  BOOST_TEST(query(db, "SELECT count(*) FROM runs") == "1");
  BOOST_TEST(query(db, "SELECT count(*) FROM cases") == "9");
  BOOST_TEST(query(db, "SELECT count(DISTINCT case_key) FROM cases") == "9");
  BOOST_TEST(query(db, "SELECT finished_at != '' FROM runs") == "1");
  // Resuming a finished sweep measures nothing; --retry-failed re-runs the failures only.
  measured.clear();
  BOOST_TEST(run_sweep(s, again).skipped == 9);
  BOOST_TEST(measured.empty());
  again.retry_failed = true;
  run_sweep(s, again);
  BOOST_TEST(measured == std::vector<int>({6, 7, 8}), boost::test_tools::per_element());
  BOOST_TEST(query(db, "SELECT count(*) FROM cases") == "9");
  BOOST_TEST(query(db, "SELECT count(*) FROM case_layers") == "12");  // no rows left of the replaced failures
}

BOOST_AUTO_TEST_CASE(shards_merged_equal_the_whole_sweep) {
  fs::path dir = scratch("merge");
  Sweep s = load_sweep(tiny_sweep());
  run_sweep(s, quiet(dir / "whole.sqlite"));
  std::vector<fs::path> parts;
  for (int i = 0; i < 3; ++i) {
    SweepOptions o = quiet(dir / ("part" + std::to_string(i) + ".sqlite"));
    o.shard = {i, 3};
    run_sweep(s, o);
    parts.push_back(o.db);
  }
  ResultsDb all = ResultsDb::open(dir / "all.sqlite", true);
  int copied = 0;
  for (const fs::path& p : parts) {
    ResultsDb part = ResultsDb::open(p, false);
    copied += all.merge_from(part);
  }
  BOOST_TEST(copied == 9);
  BOOST_TEST(keys_in(dir / "all.sqlite") == keys_in(dir / "whole.sqlite"), boost::test_tools::per_element());
  // Merging the same parts again adds nothing.
  for (const fs::path& p : parts) {
    ResultsDb part = ResultsDb::open(p, false);
    BOOST_TEST(all.merge_from(part) == 0);
  }
  BOOST_TEST(all.read_runs().size() == 3u);
  BOOST_TEST(all.read_cases({}, false).size() == 9u);
  // Details travel with the cases.
  BOOST_TEST(query(dir / "all.sqlite", "SELECT count(*) FROM case_kernels") ==
             query(dir / "whole.sqlite", "SELECT count(*) FROM case_kernels"));
}

// A damaged samples column is named by database, case and column; merge's errors name its
// output, not the temporary database it builds beside it.
BOOST_AUTO_TEST_CASE(damaged_databases_and_merge_errors_name_what_the_user_gave) {
  fs::path dir = scratch("damaged");
  fs::path db = dir / "r.sqlite";
  run_sweep(load_sweep(tiny_sweep()), quiet(db));
  {
    sqlite3* h = nullptr;
    sqlite3_open(db.c_str(), &h);
    sqlite3_exec(h, "UPDATE cases SET samples_ms = '[1, \"x\"]' WHERE id = 3", nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  const std::string damaged =
      db.string() + ": samples_ms of case 3 is not a JSON array of numbers (a damaged results database)";
  try {
    ResultsDb::open(db, false).read_cases({}, false);
    BOOST_ERROR("a damaged samples column was read");
  } catch (const DatabaseError& e) {
    BOOST_TEST(e.what() == damaged);
  }
  try {
    merge_databases({db}, dir / "merged.sqlite");
    BOOST_ERROR("a damaged database was merged");
  } catch (const DatabaseError& e) {
    BOOST_TEST(e.what() == damaged);
  }
  BOOST_TEST(!fs::exists(dir / "merged.sqlite"));
  try {
    merge_databases({db}, "/proc/merged.sqlite");
    BOOST_ERROR("merged into /proc");
  } catch (const DatabaseError& e) {
    BOOST_TEST(e.what() == std::string("/proc/merged.sqlite: cannot open: unable to open database file"));
  }
}

BOOST_AUTO_TEST_CASE(a_real_case_through_the_runtime) {
  Sweep s = load_sweep(tiny_sweep());
  CaseRecord r;
  measure_case(s.cases[3], r);  // tiny_backbone, 2x3x24x20, cpu, 1 thread
  Graph g = load_spec(s.cases[3].spec, {.input = Shape{2, 3, 24, 20}});
  NetworkAnalysis a = analyse(g);
  BOOST_TEST(r.samples_ms.size() == 3u);
  BOOST_TEST(r.median_ms > 0);
  BOOST_TEST(r.macs == a.totals.macs);
  BOOST_TEST(r.params == a.totals.params);
  BOOST_TEST(r.peak_activation_bytes == a.totals.peak_activation_bytes);
  BOOST_TEST(r.layers.size() == g.layers.size());
  BOOST_TEST(r.layers.back().name == g.layers.back().name);
  BOOST_TEST(!r.kernels.empty());
  BOOST_TEST(r.peak_gflops > 0);
  BOOST_TEST(r.kernel_set.rfind("cpu", 0) == 0);
  // Refused before it runs when it cannot fit: 8 channels of 100000 x 100000 floats.
  SweepCase huge = s.cases[0];
  huge.input = {1, 3, 100000, 100000};
  CaseRecord big;
  try {
    measure_case(huge, big);
    BOOST_ERROR("the huge case ran");
  } catch (const RuntimeError& e) {
    const std::string what = e.what();
    BOOST_TEST(what.rfind("cannot allocate ", 0) == 0);
    BOOST_TEST(what.find(" at 1x3x100000x100000: the input 111.8 GiB, the activation arena ") != std::string::npos);
    BOOST_TEST(what.substr(what.size() - 43) == " to a timed run (90 % of it, swap left out)");
  }
  BOOST_TEST(big.macs > 0);  // the analysis figures are kept for the failed case
  // A cuda case where no CUDA device is: refused with the reason (on a GPU machine it runs).
  KernelSetStatus cuda = probe_kernel_set(KernelSet::Cuda);
  CaseRecord gpu;
  if (cuda.usable) {
    measure_case(s.cases[2], gpu);
    BOOST_TEST(gpu.kernel_set.rfind("cuda (", 0) == 0);
  } else {
    try {
      measure_case(s.cases[2], gpu);
      BOOST_ERROR("cuda ran");
    } catch (const RuntimeError& e) {
      BOOST_TEST(std::string(e.what()) == "target cuda cannot run here: " + cuda.reason);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(results_report)

BOOST_AUTO_TEST_CASE(report_files_and_ab_statistics) {
  fs::path dir = scratch("report");
  Sweep s = load_sweep(tiny_sweep());
  run_sweep(s, quiet(dir / "r.sqlite"));
  ResultsDb db = ResultsDb::open(dir / "r.sqlite", false);
  ReportOptions o;
  o.out_dir = dir / "out";
  o.compare = std::make_pair("threads=1", "threads=2");
  std::vector<fs::path> written = write_report(db, o);
  for (const char* f : {"report.md", "report.html", "cases.csv", "cases.json"}) BOOST_TEST(fs::exists(o.out_dir / f));
  // tiny_backbone's 4 cpu cases succeed (the cuda ones succeed too under the fake).
  std::string md = read_text(o.out_dir / "report.md");
  BOOST_TEST(md.find("| ../tiny_backbone.yaml | 2x3x24x20 | cpu    |       1 | default  |       0.00 | 0.002 |") !=
             std::string::npos);
  // Fake samples: case 3 (t1) = 13, 14, 15 ms; case 4 (t2) = 14, 15, 16 ms: medians 14 and 15,
  // speedup of B 14 / 15.
  // Mann-Whitney with ties (14 and 15 in both): U = 2, mean 4.5, tie-corrected variance
  // 9/12 * (7 - 12/30) = 4.95, z = (2.5 - 0.5) / sqrt(4.95) = 0.8989, two-sided p = 0.3687.
  BOOST_TEST(md.find("|      14.000 |      15.000 |       0.933x | 0.369 | same (within noise) (fewer than 9 "
                     "repetitions: unreliable) |") != std::string::npos);
  BOOST_TEST(md.find("![Latency against GMACs](charts/latency-vs-gmacs.svg)") != std::string::npos);
  // Findings over tiny_backbone's six cases (cycle.yaml's fail): medians 11 + position ms, 2 M
  // MACs and 4.1 M FLOPs each, so 5500 ms per GMAC at 11 ms (0.373 GFLOP/s) to 8000 at 16 ms;
  // activations all 0 (the first case wins the tie); no receptive field recorded; per case the
  // pool call (a quarter of the median against a 0.1 ms bound: 2.5-3.6 %) is under 30 % and
  // the stem (three quarters against 4 ms: 33-48 %) is not, 81 ms of kernel time in all.
  const std::string findings =
      "## Findings\n\nLeast time per GMAC: ../tiny_backbone.yaml 1x3x16x16 cpu threads=1 schedule=default (5500.00 ms "
      "per GMAC, 0.4 GFLOP/s); most: ../tiny_backbone.yaml 2x3x24x20 cuda threads=1 schedule=default (8000.00 ms per "
      "GMAC, 0.3 GFLOP/s), 1.5x as long per multiply-accumulate. Most activation memory at its peak: "
      "../tiny_backbone.yaml 1x3x16x16 cpu threads=1 schedule=default (0.0 MiB; 0.00 M parameters). 6 of 12 kernel "
      "calls (1 network) reach under 30 % of their roofline bound, 25.0 % of the kernel time; the longest of them: "
      "pool in ../tiny_backbone.yaml 2x3x24x20 cuda threads=1 schedule=default (maxpool, 4.000 ms, 2.5 % of its "
      "bound).\n\n## Runs";
  BOOST_TEST(md.substr(md.find("## Findings"), findings.size()) == findings);
  BOOST_TEST(fs::exists(o.out_dir / "charts/latency-vs-gmacs.svg"));
  BOOST_TEST(fs::exists(o.out_dir / "charts/roofline.svg"));
  std::string csv = read_text(o.out_dir / "cases.csv");
  BOOST_TEST(std::count(csv.begin(), csv.end(), '\n') == 10);  // header + 9 cases
  nlohmann::json j = nlohmann::json::parse(read_text(o.out_dir / "cases.json"));
  BOOST_TEST(j["schema_version"] == 2);
  BOOST_TEST(j["cases"][4]["memory"]["scratch_bytes"] == 4096);
  BOOST_TEST(j["cases"][4]["kernels"][0]["schedule"] == "direct");
  BOOST_TEST(j["cases"][4]["kernels"][1]["schedule"].is_null());
  BOOST_TEST(csv.find(",arena_bytes,scratch_bytes,max_rss_bytes,") != std::string::npos);
  BOOST_TEST(j["cases"].size() == 9u);
  BOOST_TEST(j["cases"][4]["latency_ms"]["samples"] == nlohmann::json({14.0, 15.0, 16.0}));
  // Roofline: bounds 4 + 0.1 ms against case 4's median of 15 ms, stem's 11.25 ms.
  BOOST_TEST(j["cases"][4]["roofline"]["bound_ms"].get<double>() == 4.1, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(j["cases"][4]["roofline"]["percent"].get<double>() == 410.0 / 15, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(j["cases"][4]["kernels"][0]["percent_of_roofline"].get<double>() == 400.0 / 11.25,
             boost::test_tools::tolerance(1e-9));
  BOOST_TEST(csv.find(",peak_gbps,roofline_bound_ms,percent_of_roofline,") != std::string::npos);
  // Case 4's row (median, cv, GFLOP/s, % peak, % roofline); the per-network section's first
  // case (median 11 ms, stem 8.25 ms).
  BOOST_TEST(md.find("|    15.000 |  0.0 |     0.3 |   27.3 |       27.3 |") != std::string::npos);
  BOOST_TEST(md.find("the network: 37.3 % of roofline, its calls' bounds summing to 4.100 ms") != std::string::npos);
  BOOST_TEST(md.find("| stem  | conv+bn+relu | direct   |     8.250 |    4.000 |       48.5 |          4.250 |") !=
             std::string::npos);
  std::string html = read_text(o.out_dir / "report.html");
  BOOST_TEST(html.find("<script") == std::string::npos);
  BOOST_TEST(html.find("http://") == html.find("http://www.w3.org/2000/svg"));  // no external reference
  BOOST_TEST(html.find("https://") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(networks_filter_the_report) {
  fs::path dir = scratch("networks");
  run_sweep(load_sweep(tiny_sweep()), quiet(dir / "r.sqlite"));
  ResultsDb db = ResultsDb::open(dir / "r.sqlite", false);
  ReportOptions o;
  o.out_dir = dir / "all";
  write_report(db, o);
  BOOST_TEST(read_text(o.out_dir / "report.md").find("## Failed cases") != std::string::npos);
  o.out_dir = dir / "tiny";
  o.networks = {"../tiny_backbone.yaml"};
  write_report(db, o);
  std::string md = read_text(o.out_dir / "report.md");
  BOOST_TEST(md.find("## Failed cases") == std::string::npos);  // cycle.yaml's three cases are left out
  BOOST_TEST(md.find("cycle.yaml") == std::string::npos);
  std::string csv = read_text(o.out_dir / "cases.csv");
  BOOST_TEST(std::count(csv.begin(), csv.end(), '\n') == 7);  // header + tiny_backbone's 6 cases
}

// Text columns are whatever a file held: a byte that is not UTF-8 (in a spec path, a layer name,
// an error message) is written to cases.json as U+FFFD, not thrown (a fuzzer's find).
BOOST_AUTO_TEST_CASE(text_that_is_not_utf8_is_replaced_in_json) {
  fs::path dir = scratch("not_utf8");
  run_sweep(load_sweep(tiny_sweep()), quiet(dir / "r.sqlite"));
  {
    sqlite3* h = nullptr;
    sqlite3_open((dir / "r.sqlite").c_str(), &h);
    BOOST_REQUIRE(sqlite3_exec(h, "UPDATE cases SET error = 'bad byte \xff here' WHERE position = 6", nullptr, nullptr,
                               nullptr) == SQLITE_OK);
    sqlite3_close(h);
  }
  ResultsDb db = ResultsDb::open(dir / "r.sqlite", false);
  ReportOptions o;
  o.out_dir = dir / "out";
  write_report(db, o);
  nlohmann::json j = nlohmann::json::parse(read_text(o.out_dir / "cases.json"));
  BOOST_TEST(j["cases"][6]["error"] == "bad byte \xef\xbf\xbd here");
}

BOOST_AUTO_TEST_CASE(bad_report_requests) {
  fs::path dir = scratch("bad_report");
  run_sweep(load_sweep(tiny_sweep()), quiet(dir / "r.sqlite"));
  ResultsDb db = ResultsDb::open(dir / "r.sqlite", false);
  auto error_of = [&](ReportOptions o) {
    try {
      write_report(db, o);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  ReportOptions o;
  o.out_dir = dir / "out";
  o.runs = {"7"};
  BOOST_TEST(error_of(o) ==
             "--run '7': no run with that id or uuid prefix (`archbench report --db DB --list-runs` lists them)");
  o.runs = {};
  o.compare = std::make_pair("threads=1", "shedule=x");
  BOOST_TEST(error_of(o) ==
             "--compare 'shedule=x': expected FIELD=VALUE[,FIELD=VALUE...] with fields run, network, input, target, "
             "threads, schedule (or a run id)");
  o.compare = std::make_pair("threads=1", "threads=8");
  BOOST_TEST(error_of(o) ==
             "--compare 'threads=1' 'threads=8': no successful case of A has a counterpart in B (cases pair up by the "
             "fields the selectors do not name)");
  BOOST_TEST(!fs::exists(dir / "out"));
  o.compare.reset();
  o.networks = {"tiny_backbone"};
  BOOST_TEST(error_of(o) ==
             "--networks: no case of 'tiny_backbone' in the selected runs (did you mean '../tiny_backbone.yaml'?) (they "
             "have: ../../bad_specs/cycle.yaml, ../tiny_backbone.yaml)");
  BOOST_TEST(!fs::exists(dir / "out"));
  o.networks.clear();
  std::ofstream(dir / "file") << "x";
  o.out_dir = dir / "file";
  BOOST_TEST(error_of(o) == (dir / "file").string() + ": cannot write the report: exists and is not a folder");
  o.out_dir = "/nonexistent/dir/out";
  BOOST_TEST(error_of(o) == "/nonexistent/dir/out: cannot write the report: No such file or directory");
  // Nothing staged is left behind.
  for (const auto& e : fs::directory_iterator(dir))
    BOOST_TEST(e.path().filename().string().rfind(".archbench", 0) != 0);
}

BOOST_AUTO_TEST_SUITE_END()
