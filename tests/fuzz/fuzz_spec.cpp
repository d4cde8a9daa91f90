// libFuzzer harness: a spec loaded from arbitrary bytes, as if it were FUZZ_DIR/spec.yaml, so
// that its includes resolve against the seed corpus's folder (tests/bad_specs/parts and the
// zoo's blocks are reachable as ../...). Only SpecError may come out; anything else (another
// exception, a crash, a leak, undefined behaviour) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "networks/networks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path where =
      std::filesystem::path(std::getenv("ARCHBENCH_FUZZ_DIR") ? std::getenv("ARCHBENCH_FUZZ_DIR") : ".") / "spec.yaml";
  try {
    archbench::load_spec_text(std::string(reinterpret_cast<const char*>(data), size), where);
  } catch (const archbench::SpecError&) {}
  return 0;
}
