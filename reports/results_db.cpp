#include "reports/results_db.h"

#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

namespace archbench {

namespace {

// Version 2. Columns are documented in docs/results-schema.md; change both together, bump
// kSchemaVersion and upgrade older files in open_once (kUpgrades).
constexpr const char* kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs(
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  sweep TEXT NOT NULL,
  sweep_hash TEXT NOT NULL,
  shard TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL DEFAULT '',
  archbench_version TEXT NOT NULL,
  git_hash TEXT NOT NULL,
  kernel_sets TEXT NOT NULL,
  hostname TEXT NOT NULL,
  cpu_model TEXT NOT NULL,
  cores INTEGER NOT NULL,
  memory_bytes INTEGER NOT NULL,
  gpu_name TEXT NOT NULL,
  peak_gflops REAL NOT NULL,
  peak_gbps REAL NOT NULL,
  peak_isa TEXT NOT NULL);
CREATE TABLE cases(
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  case_key TEXT NOT NULL,
  position INTEGER NOT NULL,
  network TEXT NOT NULL,
  spec TEXT NOT NULL,
  spec_hash TEXT NOT NULL,
  input_n INTEGER NOT NULL, input_c INTEGER NOT NULL, input_h INTEGER NOT NULL, input_w INTEGER NOT NULL,
  batch INTEGER NOT NULL,
  target TEXT NOT NULL,
  threads INTEGER NOT NULL,
  schedule TEXT NOT NULL,
  repetitions INTEGER NOT NULL,
  status TEXT NOT NULL CHECK(status IN ('ok', 'failed')),
  error TEXT NOT NULL,
  kernel_set TEXT NOT NULL,
  started_at TEXT NOT NULL,
  seconds REAL NOT NULL,
  median_ms REAL, mean_ms REAL, stddev_ms REAL, min_ms REAL, max_ms REAL, cv REAL,
  samples_ms TEXT NOT NULL,
  params INTEGER, macs INTEGER, flops INTEGER,
  peak_activation_bytes INTEGER, arena_bytes INTEGER, max_rss_bytes INTEGER,
  rf_h REAL, rf_w REAL,
  peak_gflops REAL, peak_gbps REAL,
  scratch_bytes INTEGER,
  UNIQUE(run_id, case_key));
CREATE TABLE case_layers(
  case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  name TEXT NOT NULL, op TEXT NOT NULL,
  out_n INTEGER NOT NULL, out_c INTEGER NOT NULL, out_h INTEGER NOT NULL, out_w INTEGER NOT NULL,
  macs INTEGER NOT NULL, flops INTEGER NOT NULL, params INTEGER NOT NULL,
  activation_bytes INTEGER NOT NULL, bytes_moved INTEGER NOT NULL, live_bytes INTEGER NOT NULL,
  rf_h REAL NOT NULL, rf_w REAL NOT NULL, rf_stride_h REAL NOT NULL,
  PRIMARY KEY(case_id, idx));
CREATE TABLE case_kernels(
  case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  name TEXT NOT NULL, op TEXT NOT NULL, kernel TEXT NOT NULL,
  median_ms REAL NOT NULL, flops INTEGER NOT NULL, bytes_moved INTEGER NOT NULL,
  gflops REAL NOT NULL, percent_of_peak REAL NOT NULL,
  schedule TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(case_id, idx));
CREATE INDEX cases_by_network ON cases(network, target, threads, schedule);
)sql";

// kUpgrades[v - 1] takes a version-v file to version v + 1 (columns are only ever added, at
// the end, so a reader's column positions hold).
constexpr const char* kUpgrades[] = {
    "ALTER TABLE cases ADD COLUMN scratch_bytes INTEGER;"
    "ALTER TABLE case_kernels ADD COLUMN schedule TEXT NOT NULL DEFAULT '';",
};
static_assert(std::size(kUpgrades) == kSchemaVersion - 1);

// How long a write waits for another process's lock: ARCHBENCH_DB_WAIT seconds (default 60).
int db_wait_seconds() {
  const char* text = std::getenv("ARCHBENCH_DB_WAIT");
  if (!text || !*text) return 60;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (*end || errno || v < 0 || v > 86400)
    throw DatabaseError(fmt::format("ARCHBENCH_DB_WAIT='{}': expected whole seconds from 0 to 86400", text));
  return static_cast<int>(v);
}

// "PATH: REASON" for the last failed call on `db` (REASON: `message`, else SQLite's); a lock
// another process held past the wait says so, and what to do.
DatabaseError db_error(sqlite3* db, const std::filesystem::path& path, const char* message = nullptr) {
  std::string why = message ? message : sqlite3_errmsg(db);
  const bool locked = (sqlite3_extended_errcode(db) & 0xff) == SQLITE_BUSY;
  if (locked)
    why += fmt::format(
        ": another process held it for over {} s (a sweep, merge or report writing it; ARCHBENCH_DB_WAIT=SECONDS "
        "waits longer)",
        db_wait_seconds());
  return DatabaseError(fmt::format("{}: {}", path.string(), why), locked);
}

// One prepared statement; binds by 1-based position, steps, finalises on destruction.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, const std::filesystem::path& path) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) throw db_error(db, path);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, double v) { return check(sqlite3_bind_double(stmt_, i, v)); }
  Statement& bind(int i, const std::optional<int64_t>& v) {
    return v ? bind(i, *v) : check(sqlite3_bind_null(stmt_, i));
  }
  Statement& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  // Binds each argument in order, from position 1.
  template <typename... Args>
  Statement& bind_all(const Args&... args) {
    int i = 0;
    (bind(++i, args), ...);
    return *this;
  }
  bool step() {  // true while a row is available
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw db_error(db_, path_);
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<int64_t> optional_i64(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return i64(col);
  }
  int i32(int col) const { return static_cast<int>(sqlite3_column_int64(stmt_, col)); }
  double f64(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }

 private:
  Statement& check(int rc) {
    if (rc != SQLITE_OK) throw db_error(db_, path_);
    return *this;
  }
  sqlite3* db_;
  std::filesystem::path path_;
  sqlite3_stmt* stmt_ = nullptr;
};

std::string new_uuid() {
  std::random_device rd;
  std::mt19937_64 g((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                    static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  uint64_t a = g(), b = g();
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                     0x8000 | (b >> 48 & 0x3fff), b & 0xffffffffffffull);
}

constexpr const char* kRunColumns =
    "uuid, sweep, sweep_hash, shard, started_at, finished_at, archbench_version, git_hash, kernel_sets, hostname, "
    "cpu_model, cores, memory_bytes, gpu_name, peak_gflops, peak_gbps, peak_isa";

constexpr const char* kCaseColumns =
    "run_id, case_key, position, network, spec, spec_hash, input_n, input_c, input_h, input_w, batch, target, "
    "threads, schedule, repetitions, status, error, kernel_set, started_at, seconds, median_ms, mean_ms, stddev_ms, "
    "min_ms, max_ms, cv, samples_ms, params, macs, flops, peak_activation_bytes, arena_bytes, max_rss_bytes, rf_h, "
    "rf_w, peak_gflops, peak_gbps, scratch_bytes";

std::string placeholders(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += i ? ", ?" : "?";
  return s;
}

RunRecord run_from(const Statement& s) {  // columns: id, then kRunColumns
  RunRecord r;
  r.id = s.i64(0);
  r.uuid = s.text(1), r.sweep = s.text(2), r.sweep_hash = s.text(3), r.shard = s.text(4);
  r.started_at = s.text(5), r.finished_at = s.text(6), r.archbench_version = s.text(7), r.git_hash = s.text(8);
  r.kernel_sets = s.text(9);
  r.machine = {s.text(10), s.text(11), s.text(14), s.i32(12), s.i64(13), ""};
  r.peak_gflops = s.f64(15), r.peak_gbps = s.f64(16), r.peak_isa = s.text(17);
  return r;
}

// A case's samples_ms column: a JSON array of numbers (what insert_case writes); anything
// else is a damaged database, named with the case.
std::vector<double> samples_from(const std::string& text, int64_t case_id, const std::filesystem::path& path) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);  // no exceptions: discarded on error
  bool ok = j.is_array();
  std::vector<double> out;
  if (ok)
    for (const auto& v : j) {
      if (!v.is_number()) {
        ok = false;
        break;
      }
      out.push_back(v.get<double>());
    }
  if (!ok)
    throw DatabaseError(
        fmt::format("{}: samples_ms of case {} is not a JSON array of numbers (a damaged results database)",
                    path.string(), case_id));
  return out;
}

CaseRecord case_from(const Statement& s, const std::filesystem::path& path) {  // columns: id, then kCaseColumns
  CaseRecord c;
  c.id = s.i64(0), c.run_id = s.i64(1), c.key = s.text(2), c.position = s.i32(3);
  c.network = s.text(4), c.spec = s.text(5), c.spec_hash = s.text(6);
  c.input = {s.i64(7), s.i64(8), s.i64(9), s.i64(10)};
  c.target = s.text(12), c.threads = s.i32(13), c.schedule = s.text(14), c.repetitions = s.i32(15);
  c.status = s.text(16), c.error = s.text(17), c.kernel_set = s.text(18), c.started_at = s.text(19);
  c.seconds = s.f64(20);
  c.median_ms = s.f64(21), c.mean_ms = s.f64(22), c.stddev_ms = s.f64(23), c.min_ms = s.f64(24);
  c.max_ms = s.f64(25), c.cv = s.f64(26);
  c.samples_ms = samples_from(s.text(27), c.id, path);
  c.params = s.i64(28), c.macs = s.i64(29), c.flops = s.i64(30), c.peak_activation_bytes = s.i64(31);
  c.arena_bytes = s.i64(32), c.max_rss_bytes = s.i64(33), c.rf_h = s.f64(34), c.rf_w = s.f64(35);
  c.peak_gflops = s.f64(36), c.peak_gbps = s.f64(37), c.scratch_bytes = s.optional_i64(38);
  return c;
}

// Rolls back unless committed: a thrown error mid-write leaves the database as it was.
class Transaction {
 public:
  Transaction(sqlite3* db, const std::filesystem::path& path) : db_(db), path_(path) { run("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    run("COMMIT");
    done_ = true;
  }

 private:
  void run(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string m = msg ? msg : "unknown error";
      sqlite3_free(msg);
      throw db_error(db_, path_, m.c_str());
    }
  }
  sqlite3* db_;
  std::filesystem::path path_;
  bool done_ = false;
};

}  // namespace

std::string utc_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string case_label(const std::string& network, const Shape& input, const std::string& target, int threads,
                       const std::string& schedule) {
  return fmt::format("{} {}x{}x{}x{} {} threads={} schedule={}", network, input.n, input.c, input.h, input.w, target,
                     threads == 0 ? "all" : std::to_string(threads), schedule);
}

MachineInfo this_machine() {
  MachineInfo m;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) m.hostname = host;
  std::ifstream cpuinfo("/proc/cpuinfo");
  // Each key's first line (the first processor's); "cpu family" and "model" (x86) tell apart
  // CPUs that a hypervisor names alike.
  std::string family, model_number;
  for (std::string line; std::getline(cpuinfo, line);) {
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    size_t from = line.find_first_not_of(' ', colon + 1);
    std::string value = from == std::string::npos ? "" : line.substr(from);
    std::string* field = key == "model name"   ? &m.cpu_model
                         : key == "cpu family" ? &family
                         : key == "model"      ? &model_number
                                               : nullptr;
    if (field && field->empty()) *field = value;
  }
  if (!family.empty() && !model_number.empty()) m.cpu_id = "family " + family + " model " + model_number;
  if (m.cpu_model.empty()) m.cpu_model = "unknown CPU";
  // NVIDIA's driver lists its GPUs here; no driver, no entry (and no CUDA target either).
  std::error_code ec;
  for (const auto& gpu : std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    std::ifstream info(gpu.path() / "information");
    for (std::string line; std::getline(info, line);)
      if (line.rfind("Model:", 0) == 0) {
        std::string model = line.substr(line.find_first_not_of(" \t", 6));
        m.gpu_name += (m.gpu_name.empty() ? "" : ", ") + model;
      }
  }
  m.cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  m.memory_bytes = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  return m;
}

ResultsDb::ResultsDb(std::filesystem::path path) : path_(std::move(path)) {}

ResultsDb::ResultsDb(ResultsDb&& other) noexcept : path_(std::move(other.path_)), db_(other.db_) {
  other.db_ = nullptr;
}

ResultsDb::~ResultsDb() {
  if (db_) sqlite3_close_v2(db_);
}

void ResultsDb::fail(const std::string& what) const {
  throw DatabaseError(fmt::format("{}: {}", path_.string(), what));
}

void ResultsDb::upgrade(int64_t from) {
  try {
    Transaction t(db_, path_);
    Statement v(db_, "PRAGMA user_version", path_);
    v.step();
    // Another process may have upgraded the file while this one waited for the write lock.
    for (int64_t version = v.i64(0); version < kSchemaVersion; ++version) exec(kUpgrades[version - 1]);
    exec(fmt::format("PRAGMA user_version = {}; UPDATE meta SET value = '{}' WHERE key = 'schema_version'",
                     kSchemaVersion, kSchemaVersion));
    t.commit();
  } catch (const DatabaseError& e) {
    if (e.locked()) throw;
    std::string why = e.what(), prefix = path_.string() + ": ";
    if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
    fail(fmt::format("results schema version {} is upgraded in place to version {} when opened, which failed: {}", from,
                     kSchemaVersion, why));
  }
}

void ResultsDb::exec(const std::string& sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : sqlite3_errmsg(db_);
    sqlite3_free(msg);
    throw db_error(db_, path_, m.c_str());
  }
}

ResultsDb ResultsDb::open(const std::filesystem::path& path, bool create) {
  // Two processes creating one new database at once (sweep shards started together): while
  // one switches it to WAL and writes the schema, the other's first reads can get SQLITE_BUSY
  // without the busy handler being asked; it opens again after a pause, for as long as a write
  // waits (ARCHBENCH_DB_WAIT).
  const int wait_ms = 1000 * db_wait_seconds();
  for (int waited = 0;; waited += 100) {
    try {
      return open_once(path, create);
    } catch (const DatabaseError& e) {
      if (waited >= wait_ms || !e.locked()) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

ResultsDb ResultsDb::open_once(const std::filesystem::path& path, bool create) {
  ResultsDb db(path);
  std::error_code ec;
  bool exists = std::filesystem::exists(path, ec);
  if (!exists && !create) db.fail("no such results database");
  if (exists && std::filesystem::is_directory(path, ec)) db.fail("is a directory, not a results database");
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path.c_str(), &db.db_, flags, nullptr) != SQLITE_OK) {
    std::string why = db.db_ ? sqlite3_errmsg(db.db_) : "out of memory";
    db.fail(fmt::format("cannot open: {}", why));
  }
  sqlite3_extended_result_codes(db.db_, 1);
  sqlite3_busy_timeout(db.db_, 1000 * db_wait_seconds());
  // Reading the schema is the first real access: a file that is not SQLite fails here.
  int64_t tables = 0;
  try {
    Statement s(db.db_, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", path);
    if (s.step()) tables = s.i64(0);
  } catch (const DatabaseError& e) {
    if (e.locked()) throw;
    db.fail(fmt::format("not a results database ({})", sqlite3_errmsg(db.db_)));
  }
  if (tables == 0) {
    if (!create) db.fail("empty file, not a results database");
    db.exec("PRAGMA journal_mode = WAL");
    Transaction t(db.db_, path);
    // Another process may have created the schema while we waited for the write lock.
    Statement again(db.db_, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", path);
    again.step();
    if (again.i64(0) == 0) {
      db.exec(kSchema);
      db.exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion));
      Statement meta(db.db_, "INSERT INTO meta(key, value) VALUES ('schema_version', ?), ('created_at', ?)", path);
      meta.bind_all(std::to_string(kSchemaVersion), utc_now()).step();
    }
    t.commit();
  }
  Statement v(db.db_, "PRAGMA user_version", path);
  v.step();
  int64_t version = v.i64(0);
  // Every table the schema has: one missing would fail only when first written (a sweep would
  // run its first case, then fail, leaving an unfinished run behind).
  auto has_table = [&](const char* name) {
    Statement s(db.db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", path);
    s.bind(1, std::string(name));
    return s.step();
  };
  if (!has_table("runs")) db.fail("an SQLite database, but not an archbench results database (no 'runs' table)");
  if (version < 1 || version > kSchemaVersion)
    db.fail(fmt::format("results schema version {}; this archbench reads versions 1 to {}", version, kSchemaVersion));
  for (const char* table : {"meta", "cases", "case_layers", "case_kernels"})
    if (!has_table(table))
      db.fail(
          fmt::format("a damaged results database: it has no '{}' table (every results database has meta, "
                      "runs, cases, case_layers and case_kernels)",
                      table));
  if (version < kSchemaVersion) db.upgrade(version);
  db.exec("PRAGMA foreign_keys = ON");
  return db;
}

int64_t ResultsDb::add_run(RunRecord& r) {
  if (r.uuid.empty()) r.uuid = new_uuid();
  Transaction t(db_, path_);
  Statement s(db_, fmt::format("INSERT INTO runs({}) VALUES ({})", kRunColumns, placeholders(17)), path_);
  s.bind_all(r.uuid, r.sweep, r.sweep_hash, r.shard, r.started_at, r.finished_at, r.archbench_version, r.git_hash,
             r.kernel_sets, r.machine.hostname, r.machine.cpu_model, r.machine.cores, r.machine.memory_bytes,
             r.machine.gpu_name, r.peak_gflops, r.peak_gbps, r.peak_isa);
  s.step();
  r.id = sqlite3_last_insert_rowid(db_);
  t.commit();
  return r.id;
}

void ResultsDb::finish_run(int64_t run_id, const std::string& finished_at) {
  Statement s(db_, "UPDATE runs SET finished_at = ? WHERE id = ?", path_);
  s.bind_all(finished_at, run_id).step();
}

void ResultsDb::insert_case(CaseRecord& c) {
  nlohmann::json samples = c.samples_ms;
  Statement s(db_, fmt::format("INSERT INTO cases({}) VALUES ({})", kCaseColumns, placeholders(38)), path_);
  s.bind_all(c.run_id, c.key, c.position, c.network, c.spec, c.spec_hash, c.input.n, c.input.c, c.input.h, c.input.w,
             c.input.n, c.target, c.threads, c.schedule, c.repetitions, c.status, c.error, c.kernel_set, c.started_at,
             c.seconds, c.median_ms, c.mean_ms, c.stddev_ms, c.min_ms, c.max_ms, c.cv, samples.dump(), c.params, c.macs,
             c.flops, c.peak_activation_bytes, c.arena_bytes, c.max_rss_bytes, c.rf_h, c.rf_w, c.peak_gflops,
             c.peak_gbps, c.scratch_bytes);
  s.step();
  c.id = sqlite3_last_insert_rowid(db_);
  Statement l(db_, fmt::format("INSERT INTO case_layers VALUES ({})", placeholders(17)), path_);
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const LayerRecord& r = c.layers[i];
    l.bind_all(c.id, static_cast<int64_t>(i), r.name, r.op, r.output.n, r.output.c, r.output.h, r.output.w, r.macs,
               r.flops, r.params, r.activation_bytes, r.bytes_moved, r.live_bytes, r.rf_h, r.rf_w, r.rf_stride_h);
    l.step();
    l.reset();
  }
  Statement k(db_, fmt::format("INSERT INTO case_kernels VALUES ({})", placeholders(11)), path_);
  for (size_t i = 0; i < c.kernels.size(); ++i) {
    const KernelRecord& r = c.kernels[i];
    k.bind_all(c.id, static_cast<int64_t>(i), r.name, r.op, r.kernel, r.median_ms, r.flops, r.bytes_moved, r.gflops,
               r.percent_of_peak, r.schedule);
    k.step();
    k.reset();
  }
}

int64_t ResultsDb::add_case(CaseRecord& c) {
  Transaction t(db_, path_);
  Statement old(db_, "DELETE FROM cases WHERE run_id = ? AND case_key = ?", path_);  // a retried case
  old.bind_all(c.run_id, c.key).step();
  insert_case(c);
  t.commit();
  return c.id;
}

std::vector<RunRecord> ResultsDb::read_runs() {
  std::vector<RunRecord> runs;
  Statement s(db_, fmt::format("SELECT id, {} FROM runs ORDER BY id", kRunColumns), path_);
  while (s.step()) runs.push_back(run_from(s));
  Statement n(db_, "SELECT run_id, status, count(*) FROM cases GROUP BY run_id, status", path_);
  while (n.step())
    for (RunRecord& r : runs)
      if (r.id == n.i64(0)) (n.text(1) == "ok" ? r.cases_ok : r.cases_failed) = n.i32(2);
  return runs;
}

std::vector<CaseRecord> ResultsDb::read_cases(const std::vector<int64_t>& run_ids, bool with_details) {
  std::string where;
  for (int64_t id : run_ids) where += (where.empty() ? " WHERE run_id IN (" : ", ") + std::to_string(id);
  if (!where.empty()) where += ")";
  std::vector<CaseRecord> cases;
  Statement s(db_, fmt::format("SELECT id, {} FROM cases{} ORDER BY run_id, position, id", kCaseColumns, where), path_);
  while (s.step()) cases.push_back(case_from(s, path_));
  if (!with_details) return cases;
  Statement l(db_, "SELECT * FROM case_layers WHERE case_id = ? ORDER BY idx", path_);
  Statement k(db_, "SELECT * FROM case_kernels WHERE case_id = ? ORDER BY idx", path_);
  for (CaseRecord& c : cases) {
    l.bind(1, c.id);
    while (l.step())
      c.layers.push_back({l.text(2),
                          l.text(3),
                          {l.i64(4), l.i64(5), l.i64(6), l.i64(7)},
                          l.i64(8),
                          l.i64(9),
                          l.i64(10),
                          l.i64(11),
                          l.i64(12),
                          l.i64(13),
                          l.f64(14),
                          l.f64(15),
                          l.f64(16)});
    l.reset();
    k.bind(1, c.id);
    while (k.step())
      c.kernels.push_back(
          {k.text(2), k.text(3), k.text(4), k.text(10), k.f64(5), k.i64(6), k.i64(7), k.f64(8), k.f64(9)});
    k.reset();
  }
  return cases;
}

std::set<std::string> ResultsDb::case_keys(int64_t run_id) {
  std::set<std::string> keys;
  Statement s(db_, "SELECT case_key FROM cases WHERE run_id = ?", path_);
  s.bind(1, run_id);
  while (s.step()) keys.insert(s.text(0));
  return keys;
}

std::optional<RunRecord> ResultsDb::latest_run(const std::string& sweep, const std::string& shard,
                                               const std::string& hostname) {
  Statement s(db_,
              fmt::format("SELECT id, {} FROM runs WHERE sweep = ? AND shard = ? AND hostname = ? ORDER BY id DESC "
                          "LIMIT 1",
                          kRunColumns),
              path_);
  s.bind_all(sweep, shard, hostname);
  if (!s.step()) return std::nullopt;
  return run_from(s);
}

ResultsDb::Snapshot::Snapshot(ResultsDb& db) : db_(db) {
  db_.exec("BEGIN");
  try {
    Statement first(db_.db_, "SELECT count(*) FROM runs", db_.path_);  // the read that fixes the view
    first.step();
  } catch (...) {
    sqlite3_exec(db_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

ResultsDb::Snapshot::~Snapshot() { sqlite3_exec(db_.db_, "COMMIT", nullptr, nullptr, nullptr); }

int ResultsDb::merge_from(ResultsDb& other) {
  Snapshot view(other);  // a sweep may be writing it: its cases as they stand now, whole
  std::vector<RunRecord> runs = other.read_runs();
  Transaction t(db_, path_);
  int copied = 0;
  for (RunRecord& r : runs) {
    int64_t id = 0;
    {
      Statement find(db_, "SELECT id FROM runs WHERE uuid = ?", path_);
      find.bind(1, r.uuid);
      if (find.step()) id = find.i64(0);
    }
    std::set<std::string> have;
    if (id == 0) {
      Statement s(db_, fmt::format("INSERT INTO runs({}) VALUES ({})", kRunColumns, placeholders(17)), path_);
      s.bind_all(r.uuid, r.sweep, r.sweep_hash, r.shard, r.started_at, r.finished_at, r.archbench_version, r.git_hash,
                 r.kernel_sets, r.machine.hostname, r.machine.cpu_model, r.machine.cores, r.machine.memory_bytes,
                 r.machine.gpu_name, r.peak_gflops, r.peak_gbps, r.peak_isa);
      s.step();
      id = sqlite3_last_insert_rowid(db_);
    } else {
      have = case_keys(id);
      if (!r.finished_at.empty()) {  // a later copy of a resumed run may have finished it
        Statement s(db_, "UPDATE runs SET finished_at = ? WHERE id = ? AND finished_at < ?", path_);
        s.bind_all(r.finished_at, id, r.finished_at).step();
      }
    }
    for (CaseRecord& c : other.read_cases({r.id}, true)) {
      if (have.count(c.key)) continue;
      c.run_id = id;
      insert_case(c);
      ++copied;
    }
  }
  t.commit();
  return copied;
}

MergeSummary merge_databases(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& out) {
  namespace fs = std::filesystem;
  bool out_is_input = false;
  for (const fs::path& in : inputs) {
    std::error_code ec;
    if (fs::exists(in, ec) && fs::exists(out, ec) && fs::equivalent(in, out, ec)) out_is_input = true;
    ResultsDb::open(in, false);  // each input is a results database of this schema, or an error now
  }
  if (fs::is_directory(out))
    throw DatabaseError(fmt::format("{}: is a directory; merge writes one results database file", out.string()));
  if (fs::exists(out) && !out_is_input)
    throw DatabaseError(
        fmt::format("{}: exists; name it among the inputs to merge into it, or remove it", out.string()));
  MergeSummary m;
  size_t before = out_is_input ? ResultsDb::open(out, false).read_cases({}, false).size() : 0;
  fs::path tmp = out;
  tmp += fmt::format(".merging-{}", ::getpid());
  try {
    {
      ResultsDb target = ResultsDb::open(tmp, true);
      for (const fs::path& in : inputs) {
        ResultsDb source = ResultsDb::open(in, false);
        target.merge_from(source);
      }
    }
    fs::rename(tmp, out);
  } catch (const std::exception& e) {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(tmp.string() + suffix, ec);
    // The temporary database is ours, not the user's: its errors name the output it stands for.
    std::string why;
    bool locked = false;
    if (const auto* f = dynamic_cast<const fs::filesystem_error*>(&e))
      why = tmp.string() + ": cannot write: " + f->code().message();
    else if (const auto* d = dynamic_cast<const DatabaseError*>(&e))
      why = e.what(), locked = d->locked();
    else
      throw;
    for (size_t at; (at = why.find(tmp.string())) != std::string::npos;)
      why.replace(at, tmp.string().size(), out.string());
    throw DatabaseError(why, locked);
  }
  ResultsDb merged = ResultsDb::open(out, false);
  m.runs = merged.read_runs().size();
  m.cases = merged.read_cases({}, false).size();
  m.added = m.cases - before;
  return m;
}

}  // namespace archbench
