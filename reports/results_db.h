// results_db: the SQLite results database of sweeps — one row per run (a sweep invocation on
// one machine) and one per measured case, with per-layer analysis and per-kernel timings.
// The schema is documented in docs/results-schema.md; its version is kSchemaVersion.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "networks/networks.h"

struct sqlite3;

namespace archbench {

constexpr int kSchemaVersion = 2;

// A database that cannot be opened, has a foreign schema, or fails a statement.
class DatabaseError : public std::runtime_error {
 public:
  explicit DatabaseError(const std::string& what, bool locked = false) : std::runtime_error(what), locked_(locked) {}
  // SQLite said another process holds the database's lock (SQLITE_BUSY), as opposed to a
  // message that only reads so (a damaged file's text can say anything).
  bool locked() const { return locked_; }

 private:
  bool locked_ = false;
};

struct MachineInfo {
  std::string hostname, cpu_model, gpu_name;  // gpu_name: "" when none was found
  int cores = 0;
  int64_t memory_bytes = 0;
  std::string cpu_id;  // "family 25 model 17" where /proc/cpuinfo has them, else ""; not stored in the database
};
MachineInfo this_machine();  // from /proc/cpuinfo, sysconf, the host name and NVIDIA's /proc entries

struct RunRecord {
  int64_t id = 0;                       // row id in this database (merging renumbers it)
  std::string uuid;                     // unique across databases: the merge key
  std::string sweep;                    // the sweep's name
  std::string sweep_hash, shard;        // shard "I/N"
  std::string started_at, finished_at;  // ISO 8601 UTC; finished_at "" while running or if killed
  std::string archbench_version, git_hash, kernel_sets;
  MachineInfo machine;
  double peak_gflops = 0, peak_gbps = 0;  // measured with all cores at the start of the run
  std::string peak_isa;
  int cases_ok = 0, cases_failed = 0;  // filled by read_runs()
};

// One layer of the analysed graph, as the analyzer sees it.
struct LayerRecord {
  std::string name, op;
  Shape output;
  int64_t macs = 0, flops = 0, params = 0, activation_bytes = 0, bytes_moved = 0;
  int64_t live_bytes = 0;  // activation bytes live at this step of the memory plan
  double rf_h = 0, rf_w = 0, rf_stride_h = 0;
};

// One kernel call of the runtime (a fused group is named by its last layer).
struct KernelRecord {
  std::string name, op, kernel;
  std::string schedule;  // a conv's schedule that ran ("direct", "framed"); '' for other kernels
  double median_ms = 0;
  int64_t flops = 0, bytes_moved = 0;
  double gflops = 0, percent_of_peak = 0;
};

struct CaseRecord {
  int64_t id = 0, run_id = 0;
  std::string key;   // hash of the parameters below: what --resume and merge compare
  int position = 0;  // index in the sweep's full product
  std::string network, spec, spec_hash;
  Shape input;
  std::string target, schedule;
  int threads = 0, repetitions = 0;
  std::string status = "ok", error;  // status "ok" or "failed"
  std::string kernel_set, started_at;
  double seconds = 0;  // wall time of the whole case (load, prepare, warm-up, timing)
  double median_ms = 0, mean_ms = 0, stddev_ms = 0, min_ms = 0, max_ms = 0, cv = 0;
  std::vector<double> samples_ms;  // every timed repetition
  int64_t params = 0, macs = 0, flops = 0, peak_activation_bytes = 0, arena_bytes = 0, max_rss_bytes = 0;
  std::optional<int64_t> scratch_bytes;   // conv scratch outside the arena; unknown in a version-1 file
  double rf_h = 0, rf_w = 0;              // receptive field of the final feature layer
  double peak_gflops = 0, peak_gbps = 0;  // the peak percentages were computed against
  std::vector<LayerRecord> layers;
  std::vector<KernelRecord> kernels;
};

class ResultsDb {
 public:
  // Opens (creating with `create`) a database; WAL journal. A write waits up to
  // ARCHBENCH_DB_WAIT seconds (default 60) for another process's lock, then fails with
  // "PATH: database is locked: another process held it for over N s (...)". Throws DatabaseError "PATH: REASON" for a
  // missing file without `create`, an unwritable location, a file that is not SQLite, or a schema version it does not
  // know. A file of an older version is upgraded in place (its new columns empty for the cases it has).
  static ResultsDb open(const std::filesystem::path& path, bool create);
  ResultsDb(ResultsDb&&) noexcept;
  ~ResultsDb();

  const std::filesystem::path& path() const { return path_; }

  // While it lives, every read sees the database as it was at its start (a read transaction),
  // though another process writes meanwhile: runs and their cases agree.
  class Snapshot {
   public:
    explicit Snapshot(ResultsDb& db);
    ~Snapshot();
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;

   private:
    ResultsDb& db_;
  };

  int64_t add_run(RunRecord& run);  // assigns run.id (and run.uuid when empty)
  void finish_run(int64_t run_id, const std::string& finished_at);
  // The case, its layers and kernels in one transaction: all of it is stored or none. It
  // replaces a case of the same run and key (a retried failure).
  int64_t add_case(CaseRecord& c);

  std::vector<RunRecord> read_runs();
  // Cases of the given runs (all runs when empty), with layers and kernels when asked.
  std::vector<CaseRecord> read_cases(const std::vector<int64_t>& run_ids, bool with_details);
  std::set<std::string> case_keys(int64_t run_id);
  // The latest run of this sweep and shard on this host, for --resume.
  std::optional<RunRecord> latest_run(const std::string& sweep, const std::string& shard, const std::string& hostname);

  // Copies the runs and cases of `other` that this database lacks (runs matched by uuid,
  // cases by run and key), in one transaction. Returns the number of cases copied.
  int merge_from(ResultsDb& other);

 private:
  explicit ResultsDb(std::filesystem::path path);
  static ResultsDb open_once(const std::filesystem::path& path, bool create);
  void exec(const std::string& sql);
  void upgrade(int64_t from);  // an older schema version's file to kSchemaVersion, in place
  [[noreturn]] void fail(const std::string& what) const;
  void insert_case(CaseRecord& c);
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

// `archbench merge`: the runs and cases of `inputs` in `out`, which may be one of them; built
// as a new database beside `out` and renamed over it when complete. An existing `out` that
// is not an input is refused (DatabaseError), as is an input that is not a results database.
struct MergeSummary {
  size_t runs = 0, cases = 0, added = 0;  // in the result; added: cases `out` did not hold
};
MergeSummary merge_databases(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& out);

// "resnet18 1x3x64x64 cpu threads=2 schedule=default": how progress lines and reports name a case.
std::string case_label(const std::string& network, const Shape& input, const std::string& target, int threads,
                       const std::string& schedule);

// "2026-11-28T07:51:40Z"
std::string utc_now();

}  // namespace archbench
