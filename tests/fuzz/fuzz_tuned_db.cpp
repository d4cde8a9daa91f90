// libFuzzer harness: arbitrary bytes as a tuned-schedule database (configs/tuned/*.yaml), read,
// then every target's signatures looked up and predicted as `--schedule tuned` and `tune
// --check` do. Only SpecError may come out of the reader; anything else is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/fuzz/input_file.h"
#include "tuning/tuned_db.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path file = "/tmp/archbench-fuzz-tuned-" + std::to_string(getpid()) + ".yaml";
  if (!archbench::fuzz::write_input(file, data, size)) return 0;
  try {
    archbench::TunedDb db = archbench::read_tuned_db(file);
    for (const archbench::TunedTarget& t : db.targets) {
      (void)archbench::check_predictions(t);
      for (const archbench::TunedEntry& e : t.entries) (void)archbench::lookup(t, e.signature + " ", "conv");
    }
  } catch (const archbench::SpecError&) {}
  std::filesystem::remove(file);
  return 0;
}
