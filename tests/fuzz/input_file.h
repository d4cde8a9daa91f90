// The harnesses whose parser reads a path: the fuzzer's bytes written to a file first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>

namespace archbench::fuzz {

// Writes `size` bytes to `file` (replacing it); false where the file cannot be written.
inline bool write_input(const std::filesystem::path& file, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(file.c_str(), "wb");
  if (!f) return false;
  const bool whole = std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && whole;
}

}  // namespace archbench::fuzz
