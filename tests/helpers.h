// Small helpers shared by the test suites.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include "analysis/analysis.h"
#include "networks/networks.h"

namespace archbench {
// For Boost.Test's messages.
inline std::ostream& operator<<(std::ostream& os, const Rational& r) { return os << r.str(); }
inline std::ostream& operator<<(std::ostream& os, const Shape& s) {
  return os << "[" << s.n << ", " << s.c << ", " << s.h << ", " << s.w << "]";
}
}  // namespace archbench

namespace archbench::test {

inline std::filesystem::path test_dir() { return ARCHBENCH_TEST_DIR; }

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

inline const Layer& layer(const Graph& g, const std::string& name) {
  int i = g.find(name);
  if (i < 0) throw std::runtime_error("no layer " + name);
  return g.layers[i];
}

}  // namespace archbench::test
