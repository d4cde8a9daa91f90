#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "networks/detail/values.h"
#include "networks/networks.h"
#include "networks/yaml_config.h"

#ifndef ARCHBENCH_SOURCE_DIR
#define ARCHBENCH_SOURCE_DIR "."
#endif

namespace archbench {

namespace {
std::string format_error(const SourceLoc& loc, const std::string& layer, const std::string& message) {
  std::string where = loc.line > 0 ? fmt::format("{}:{}:{}", loc.file, loc.line, loc.column) : loc.file;
  return layer.empty() ? fmt::format("{}: error: {}", where, message)
                       : fmt::format("{}: error: layer '{}': {}", where, layer, message);
}
}  // namespace

SpecError::SpecError(SourceLoc loc, std::string layer, std::string message)
    : std::runtime_error(format_error(loc, layer, message)),
      loc_(std::move(loc)),
      layer_(std::move(layer)),
      message_(std::move(message)) {}

std::string shape_text(const Shape& s) { return fmt::format("{}x{}x{}x{}", s.n, s.c, s.h, s.w); }

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string dims_text(const Shape& s) { return dims_text(std::vector<int64_t>{s.n, s.c, s.h, s.w}); }

int64_t Shape::elements() const {
  int64_t r = 1;
  for (int64_t d : {n, c, h, w})
    if (__builtin_mul_overflow(r, d, &r)) throw std::overflow_error("tensor element count overflows int64");
  return r;
}

int Graph::find(const std::string& layer_name) const {
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].name == layer_name) return static_cast<int>(i);
  return -1;
}

std::vector<std::vector<int>> Graph::consumers() const {
  std::vector<std::vector<int>> users(layers.size());
  for (size_t i = 0; i < layers.size(); ++i)
    for (int j : layers[i].inputs)
      if (std::find(users[j].begin(), users[j].end(), static_cast<int>(i)) == users[j].end())
        users[j].push_back(static_cast<int>(i));
  return users;
}

std::vector<int> Graph::outputs() const {
  std::vector<int> out;
  auto users = consumers();
  for (size_t i = 1; i < layers.size(); ++i)
    if (users[i].empty()) out.push_back(static_cast<int>(i));
  return out;
}

Shape parse_shape(const std::string& text) {
  std::vector<int64_t> dims;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      throw std::invalid_argument(fmt::format("--input '{}': '{}' is not an integer (expected N,C,H,W)", text, part));
    }
    if (used != part.size() || v <= 0)
      throw std::invalid_argument(
          fmt::format("--input '{}': '{}' must be a positive integer (expected N,C,H,W)", text, part));
    dims.push_back(v);
  }
  if (dims.size() != 4) throw std::invalid_argument(fmt::format("--input '{}': expected 4 sizes N,C,H,W", text));
  Shape s{dims[0], dims[1], dims[2], dims[3]};
  int64_t bytes;
  try {
    if (__builtin_mul_overflow(s.elements(), int64_t{4}, &bytes)) throw std::overflow_error("");
  } catch (const std::overflow_error&) {
    throw std::invalid_argument(fmt::format("--input '{}': the tensor has more bytes than 64 bits hold", text));
  }
  return s;
}

std::filesystem::path zoo_dir() {
  if (const char* env = std::getenv("ARCHBENCH_ZOO")) return env;
  return std::filesystem::path(ARCHBENCH_SOURCE_DIR) / "networks" / "zoo";
}

std::vector<std::string> zoo_networks() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(zoo_dir(), ec))
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace archbench

namespace archbench {

std::filesystem::path resolve_spec(const std::string& arg) {
  std::filesystem::path p(arg);
  if (std::filesystem::exists(p)) return p;
  std::filesystem::path zoo = zoo_dir() / (arg + ".yaml");
  if (p.extension() != ".yaml" && std::filesystem::exists(zoo)) return zoo;
  std::string hint = p.extension() == ".yaml" ? "" : closest_name(arg, zoo_networks());
  throw SpecError({arg, 0, 0}, "",
                  fmt::format("no such spec file, and no zoo network of that name{} (the zoo is in {})",
                              hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), zoo_dir().string()));
}

std::string closest_name(const std::string& word, const std::vector<std::string>& candidates) {
  return detail::nearest(word, candidates);
}

}  // namespace archbench

namespace archbench {

namespace {

// Config files are small; aliases of aliases could make a few lines stand for billions of nodes.
constexpr size_t kMaxConfigNodes = 1'000'000;

// Walks the document as its readers will, counting nodes (an alias as often as it is used) and
// refusing a mapping's repeated key: yaml-cpp keeps both entries and lookups take the first.
void check_config_node(const YAML::Node& node, const std::string& file, const std::string& what, size_t& visited) {
  if (++visited > kMaxConfigNodes)
    throw SpecError(yaml_loc(node, file), "",
                    fmt::format("the {} expands to more than {} YAML nodes (aliases?)", what, kMaxConfigNodes));
  if (node.IsSequence()) {
    for (const YAML::Node& item : node) check_config_node(item, file, what, visited);
  } else if (node.IsMap()) {
    std::set<std::string> keys;
    for (const auto& kv : node) {
      if (kv.first.IsScalar() && !keys.insert(kv.first.Scalar()).second)
        throw SpecError(yaml_loc(kv.first, file), "", fmt::format("duplicate key '{}'", kv.first.Scalar()));
      check_config_node(kv.second, file, what, visited);
    }
  }
}

}  // namespace

YAML::Node load_yaml_config(const std::filesystem::path& path, const std::string& what, std::string* text) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SpecError({file, 0, 0}, "", fmt::format("cannot read the {} (missing or unreadable)", what));
  std::stringstream bytes;
  bytes << in.rdbuf();
  if (text) *text = bytes.str();
  YAML::Node root;
  try {
    root = YAML::Load(bytes.str());
  } catch (const YAML::ParserException& e) {
    throw SpecError({file, e.mark.line + 1, e.mark.column + 1}, "", "YAML syntax error: " + e.msg);
  }
  size_t visited = 0;
  check_config_node(root, file, what, visited);
  return root;
}

SourceLoc yaml_loc(const YAML::Node& node, const std::string& file) {
  if (!node.IsDefined()) return {file, 0, 0};
  YAML::Mark m = node.Mark();
  if (m.is_null()) return {file, 0, 0};
  return {file, m.line + 1, m.column + 1};
}

}  // namespace archbench
