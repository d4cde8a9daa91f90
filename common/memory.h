// How much memory this process can still get, for refusing work that cannot fit before
// allocating it (rather than dying of std::bad_alloc or the kernel's OOM killer halfway).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include <fmt/format.h>

namespace archbench {

// MemAvailable from /proc/meminfo, plus SwapFree with `count_swap`, in bytes; 0 when unknown.
// (A sweep leaves swap out: a case that swaps would not fail, but its timings would be wrong.)
inline int64_t available_memory_bytes(bool count_swap = true) {
  std::ifstream in("/proc/meminfo");
  int64_t kib = 0;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("MemAvailable:", 0) == 0 || (count_swap && line.rfind("SwapFree:", 0) == 0))
      kib += std::stoll(line.substr(line.find(':') + 1));
  return kib * 1024;
}

// Starts the process's resident-set high-water mark (VmHWM, getrusage's ru_maxrss) afresh
// from its present size (Linux: "5" written to /proc/self/clear_refs), so that a later
// reading covers what ran since and not an earlier, larger, transient allocation (bench's
// peak measurement, a sweep's previous case). False where the system does not allow it.
inline bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  return static_cast<bool>(out << "5" << std::flush);
}

// "896 bytes", "3.2 MiB", "111.8 PiB".
inline std::string bytes_text(int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} bytes", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024.0;
  int u = 0;
  while (v >= 1024.0 && u < 5) v /= 1024.0, ++u;
  return fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace archbench
