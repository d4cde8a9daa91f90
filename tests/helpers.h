// Small helpers shared by the test suites.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>
#include <system_error>

#include <unistd.h>

#include "analysis/analysis.h"
#include "networks/networks.h"
#include "runtime/executor.h"
#include "runtime/runtime.h"

namespace archbench {
// For Boost.Test's messages.
inline std::ostream& operator<<(std::ostream& os, const Rational& r) { return os << r.str(); }
inline std::ostream& operator<<(std::ostream& os, const Shape& s) {
  return os << "[" << s.n << ", " << s.c << ", " << s.h << ", " << s.w << "]";
}
}  // namespace archbench

namespace archbench::test {

// "auto-adams2019, " where this build compiled the Adams2019 baseline (ARCHBENCH_ADAMS2019; the
// test preset does not), else "": for schedule lists in expected messages.
inline std::string adams_listed() {
  return conv_schedule_not_compiled("auto-adams2019").empty() ? "auto-adams2019, " : "";
}

// The conv schedules as an unknown-schedule error lists them, in the runtime's order: written
// out here (not derived from the runtime, so that the tests check the list), once for every
// test that expects such a message.
inline std::string conv_schedules_listed() {
  return "tiled, narrow, blocked, direct, simple, auto-mullapudi2016, " + adams_listed() +
         "auto-li2018, direct-p7-r4, direct-p7-r16, direct-p5, direct-c64-p4, direct-c16-p14, winograd-m4-rows-t24, "
         "winograd-m4-rows-t96, winograd-m4-ch-t48-p8, winograd-m2-rows-t24, gpu-tiled, gpu-simple, gpu-c8, "
         "gpu-auto-li2018";
}

// The direct tile the default runs on a map `width` wide where AVX-512 runs `direct`: at AVX2
// the one of 6, 5 and 4 pixels (direct, direct-p5, direct-c64-p4) that computes the fewest
// pixels per row, a pixel of the narrower tiles counted 2 and 4 % dearer (kernels.cpp,
// avx2_direct_default), worked out by hand for the widths the tests use; below AVX2, direct.
inline std::string direct_at(int width) {
  if (cpu_isa() != CpuIsa::Avx2) return "direct";
  switch (width) {
    case 7:   // 4 px: 8 computed (x 1.04), against 10 (x 1.02) and 12
    case 28:  // 28 x 1.04 = 29.1, against 30 x 1.02 and 30
      return "direct-c64-p4";
    case 10:  // 10 x 1.02, against 12 and 12 x 1.04
    case 13:  // 15 x 1.02 = 15.3, against 18 and 16 x 1.04 = 16.6
    case 14:
    case 15:
    case 40:  // 40 x 1.02 = 40.8, against 42 and 40 x 1.04
    case 45:  // 45 x 1.02 = 45.9, against 48 and 48 x 1.04
      return "direct-p5";
    case 6:   // 6, against 10 x 1.02 and 8 x 1.04
    case 11:  // 12, against 15 x 1.02 and 12 x 1.04
    case 12:
      return "direct";
  }
  throw std::logic_error("direct_at: no expectation for width " + std::to_string(width));
}

// The tests folder: the source tree's, or $ARCHBENCH_TEST_DIR (a checkout elsewhere, e.g. on
// the GPU machine bench/gpu/check.sh runs on).
inline std::filesystem::path test_dir() {
  const char* env = std::getenv("ARCHBENCH_TEST_DIR");
  return env && *env ? env : ARCHBENCH_TEST_DIR;
}

// A fresh, empty folder `name` under this test process's own folder in the system's temporary
// folder (archbench-test-<pid>), which is removed with everything in it when the process exits.
inline std::filesystem::path scratch(const std::string& name) {
  struct Root {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("archbench-test-" + std::to_string(::getpid()));
    ~Root() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Root root;
  std::filesystem::path p = root.path / name;
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

// Loads spec text; `name` is the file name used in messages (and for includes, relative to
// the tests folder).
inline Graph load_text(const std::string& text, const std::string& name = "inline.yaml", LoadOptions options = {}) {
  return load_spec_text(text, test_dir() / name, options);
}

// The message of the SpecError that loading `text` throws, with the tests folder stripped
// from its path; "" if it loads.
inline std::string error_of(const std::string& text, const std::string& name = "inline.yaml") {
  try {
    load_text(text, name);
  } catch (const SpecError& e) {
    std::string s = e.what();
    std::string dir = test_dir().string() + "/";
    for (size_t p; (p = s.find(dir)) != std::string::npos;) s.erase(p, dir.size());
    return s;
  }
  return "";
}

// Uniform in [offset - amplitude, offset + amplitude), from a xorshift generator seeded by `seed`.
inline Tensor random_tensor(const Shape& s, uint64_t seed, double amplitude = 1.0, double offset = 0.0) {
  Tensor t(s);
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (float& v : t.data) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    double u = static_cast<double>(state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
    v = static_cast<float>(offset + amplitude * u);
  }
  return t;
}

// max |got - want| / max(1, max |want|); infinity where the shapes differ or a NaN appears.
inline double relative_error(const Tensor& got, const Tensor& want) {
  if (got.shape != want.shape) return std::numeric_limits<double>::infinity();
  double err = 0, scale = 1;
  for (size_t i = 0; i < want.data.size(); ++i) {
    double d = std::abs(static_cast<double>(got.data[i]) - want.data[i]);
    if (std::isnan(d)) return std::numeric_limits<double>::infinity();
    err = std::max(err, d);
    scale = std::max(scale, std::abs(static_cast<double>(want.data[i])));
  }
  return err / scale;
}

// Where a memory plan's arena is wrong: two buffers live at the same step that overlap in
// the arena, a buffer past the arena's end, or a live step's bytes off; "" where none is.
inline std::string placement_error(const MemoryPlan& m) {
  const size_t nb = m.buffer_bytes.size();
  for (size_t a = 0; a < nb; ++a) {
    if (m.buffer_bytes[a] == 0) continue;
    if (m.offset[a] < 0 || m.offset[a] + m.buffer_bytes[a] > m.arena_bytes)
      return "buffer " + std::to_string(a) + " lies outside the arena";
    for (size_t b = a + 1; b < nb; ++b)
      if (m.buffer_bytes[b] > 0 && m.first_step[a] <= m.last_step[b] && m.first_step[b] <= m.last_step[a] &&
          m.offset[a] < m.offset[b] + m.buffer_bytes[b] && m.offset[b] < m.offset[a] + m.buffer_bytes[a])
        return "buffers " + std::to_string(a) + " and " + std::to_string(b) + " are live together and overlap";
  }
  int64_t peak = 0;
  for (size_t s = 0; s < m.live_bytes.size(); ++s) {
    int64_t live = 0;
    for (size_t b = 0; b < nb; ++b)
      if (m.first_step[b] <= static_cast<int>(s) && static_cast<int>(s) <= m.last_step[b]) live += m.buffer_bytes[b];
    if (live != m.live_bytes[s]) return "step " + std::to_string(s) + "'s live bytes are off";
    peak = std::max(peak, live);
  }
  return peak == m.peak_bytes ? "" : "the peak is off";
}

inline const Layer& layer(const Graph& g, const std::string& name) {
  int i = g.find(name);
  if (i < 0) throw std::runtime_error("no layer " + name);
  return g.layers[i];
}

}  // namespace archbench::test
