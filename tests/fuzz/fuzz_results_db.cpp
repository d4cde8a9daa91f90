// libFuzzer harness: arbitrary bytes as a results database, opened as `report` and `merge` open
// one (an older schema is upgraded in place), then a whole report made from it (render_report: every file, not
// written). Only DatabaseError, and invalid_argument for a database with no runs, may come out; anything else (another
// exception, a crash, a hang in a chart, a leak, undefined behaviour) is a finding. scripts/fuzz.sh seeds it with small
// real databases.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "reports/results_report.h"
#include "tests/fuzz/input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  static const fs::path dir = "/tmp/archbench-fuzz-results-" + std::to_string(getpid());
  static const fs::path file = dir / "results.sqlite";
  fs::create_directories(dir);
  if (!archbench::fuzz::write_input(file, data, size)) return 0;
  try {
    archbench::ResultsDb db = archbench::ResultsDb::open(file, false);
    archbench::ReportOptions options;
    options.out_dir = dir / "report";
    (void)archbench::render_report(db, options);
  } catch (const archbench::DatabaseError&) {
  } catch (const std::invalid_argument&) {}
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
