// libFuzzer harness: arbitrary bytes read as a .npy file and as a .safetensors file (the first
// byte chooses). Only RuntimeError may come out; anything else is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "runtime/runtime.h"
#include "tests/fuzz/input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string base = "/tmp/archbench-fuzz-" + std::to_string(getpid());
  const bool npy = data[0] & 1;
  const std::filesystem::path file = base + (npy ? ".npy" : ".safetensors");
  if (!archbench::fuzz::write_input(file, data + 1, size - 1)) return 0;
  try {
    if (npy)
      archbench::read_npy(file);
    else
      archbench::read_safetensors(file);
  } catch (const archbench::RuntimeError&) {}
  std::filesystem::remove(file);
  return 0;
}
