// FNV-1a, 64 bits: stable across platforms and standard libraries (std::hash is not), for
// seeds, case keys and spec hashes that must agree between machines.
#pragma once

#include <cstdint>
#include <string_view>

namespace archbench {

constexpr uint64_t fnv1a64(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace archbench
