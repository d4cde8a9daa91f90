// libFuzzer harness: arbitrary bytes as a sweep file in FUZZ_DIR (scripts/fuzz.sh points it at a
// copy of tests/fixtures/sweeps, so that the seeds' spec paths, ../tiny_backbone.yaml and
// ../../bad_specs/cycle.yaml, resolve), then its cases sharded and keyed as `sweep` does. Only
// SpecError may come out of the loader; anything else is a finding. Every zoo network is hashed
// once before the first input (a sweep loader hashes each network's analysis, remembered per
// file), so that an input naming them is timed for the parser, not the analyzer.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "sweeps/sweep.h"
#include "tests/fuzz/input_file.h"

namespace {

std::filesystem::path input_file() {
  const char* dir = std::getenv("ARCHBENCH_FUZZ_DIR");
  return std::filesystem::path(dir ? dir : "/tmp") / ("fuzz-sweep-" + std::to_string(getpid()) + ".yaml");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string all = "name: zoo\ninputs: [[1, 3, 64, 64]]\ntargets: [cpu]\nnetworks:\n";
  for (const std::string& n : archbench::zoo_networks()) all += "  - " + n + "\n";
  archbench::fuzz::write_input(input_file(), reinterpret_cast<const uint8_t*>(all.data()), all.size());
  archbench::load_sweep(input_file());
  std::filesystem::remove(input_file());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path file = input_file();
  if (!archbench::fuzz::write_input(file, data, size)) return 0;
  try {
    archbench::Sweep sweep = archbench::load_sweep(file);
    for (const archbench::SweepCase& c : archbench::shard_cases(sweep.cases, archbench::parse_shard("1/3")))
      (void)c.key(), (void)c.label();
  } catch (const archbench::SpecError&) {}
  std::filesystem::remove(file);
  return 0;
}
