// YAML spec -> Graph: read files and includes, expand blocks and repeats into plain layers,
// resolve names, drop train-only branches, order topologically, then type-check every op and
// infer every shape (ops.cpp).
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <queue>
#include <set>
#include <sstream>
#include <string_view>

#include "networks/detail/build.h"
#include "networks/detail/values.h"
#include "networks/networks.h"
#include "networks/ops.h"
#include "networks/onnx_import.h"
#include "networks/yaml_config.h"

namespace archbench {

using detail::Env;
using detail::Value;
using detail::ValueList;

namespace {

constexpr size_t kMaxLayers = 1'000'000;  // a spec that expands further is surely a mistake
// YAML aliases let a few lines stand for billions of nodes (the "billion laughs"); the zoo's
// largest spec turns about a hundred list items into values.
constexpr size_t kMaxNodes = 1'000'000;
// The longest spec file read: a device such as /dev/zero would otherwise be read forever.
constexpr size_t kMaxSpecBytes = size_t{64} << 20;

SourceLoc loc_of(const YAML::Node& node, const std::string& file) { return yaml_loc(node, file); }

std::string loc_text(const SourceLoc& loc) { return fmt::format("{}:{}:{}", loc.file, loc.line, loc.column); }

// A scalar as messages quote it: a 30,000-digit number is not worth echoing whole.
std::string quoted_text(const std::string& s) {
  constexpr size_t kShown = 40;
  return s.size() <= kShown ? s : fmt::format("{}... ({} characters)", s.substr(0, kShown), s.size());
}

// The scalar scanners below are written by hand: std::regex matches by recursion, a stack
// frame or more per character, and a 30,000-character scalar overflows the stack.
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_ascii_digit); }

std::string_view without_sign(std::string_view s) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  return s;
}

// YAML 1.2 core schema int: [-+]?[0-9]+
bool is_int_text(std::string_view s) { return all_digits(without_sign(s)); }

// YAML 1.2 core schema float, without .inf and .nan: [-+]?([0-9]+[.][0-9]*|[.][0-9]+|[0-9]+)([eE][-+]?[0-9]+)?
bool is_float_text(std::string_view s) {
  s = without_sign(s);
  size_t e = s.find_first_of("eE");
  if (e != std::string_view::npos && !all_digits(without_sign(s.substr(e + 1)))) return false;
  std::string_view mantissa = s.substr(0, e);
  size_t dot = mantissa.find('.');
  if (dot == std::string_view::npos) return all_digits(mantissa);
  std::string_view whole = mantissa.substr(0, dot), fraction = mantissa.substr(dot + 1);
  if (whole.empty() && fraction.empty()) return false;
  return (whole.empty() || all_digits(whole)) && (fraction.empty() || all_digits(fraction));
}

// Layer, block and endpoint names: [A-Za-z0-9_][A-Za-z0-9_./-]*
bool is_name_text(std::string_view s) {
  auto word = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_ascii_digit(c) || c == '_'; };
  if (s.empty() || !word(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return word(c) || c == '.' || c == '-' || c == '/'; });
}

// Counts the list items turned into values while one spec loads, aliases as often as they are
// used. Only lists can multiply (to_value rejects mappings), so scalars are not counted: a
// spec of a million plain layers stays within the budget.
struct NodeBudget {
  size_t used = 0;
};

// A YAML scalar's type: quoted scalars are strings; plain ones may be ints, numbers, bools.
// `outer` is where the value being converted was written, the place to blame for an alias
// that expands without end.
Value to_value(const YAML::Node& node, const std::string& file, NodeBudget& budget, const SourceLoc* outer = nullptr) {
  SourceLoc loc = loc_of(node, file);
  const SourceLoc& where = outer ? *outer : loc;
  if (!node.IsDefined() || node.IsNull()) return Value{std::monostate{}, loc};
  if (node.IsSequence()) {
    ValueList items;
    for (const YAML::Node& item : node) {
      if (++budget.used > kMaxNodes)
        throw SpecError(where, "", fmt::format("the spec expands to more than {} YAML nodes (aliases?)", kMaxNodes));
      items.push_back(to_value(item, file, budget, &where));
    }
    return Value{std::move(items), loc};
  }
  if (node.IsMap()) throw SpecError(loc, "", "expected a value or a list, got a mapping");
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return Value{s, loc};
  if (is_int_text(s)) {
    errno = 0;
    long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno == ERANGE) throw SpecError(loc, "", fmt::format("integer {} does not fit in 64 bits", quoted_text(s)));
    return Value{static_cast<int64_t>(v), loc};
  }
  if (is_float_text(s)) {
    errno = 0;
    double v = std::strtod(s.c_str(), nullptr);
    // An underflow rounds to zero or a subnormal, as in any YAML reader; an overflow is an error.
    if (errno == ERANGE && std::isinf(v))
      throw SpecError(loc, "", fmt::format("number {} is too large for a double", quoted_text(s)));
    return Value{v, loc};
  }
  if (s == "true" || s == "True") return Value{true, loc};
  if (s == "false" || s == "False") return Value{false, loc};
  return Value{s, loc};
}

// A mapping's keys must be distinct: yaml-cpp keeps both entries of a repeated key, and a
// lookup would silently take the first.
void check_unique_keys(const YAML::Node& map, const std::string& file, const std::string& layer = "") {
  std::set<std::string> seen;
  for (const auto& kv : map)
    if (kv.first.IsScalar() && !seen.insert(kv.first.Scalar()).second)
      throw SpecError(loc_of(kv.first, file), layer, fmt::format("duplicate key '{}'", kv.first.Scalar()));
}

void check_keys(const YAML::Node& map, const std::string& file, const std::vector<std::string>& known,
                const std::string& what, const std::string& layer = "") {
  check_unique_keys(map, file, layer);
  for (const auto& kv : map) {
    std::string key = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string hint = detail::nearest(key, known);
    throw SpecError(loc_of(kv.first, file), layer,
                    fmt::format("unknown key '{}' in {}{}", key, what,
                                hint.empty() ? fmt::format(" (expected one of: {})", fmt::join(known, ", "))
                                             : fmt::format(" (did you mean '{}'?)", hint)));
  }
}

// A spec file's bytes. Pipes stay readable (`analyze <(generate)`), but reading stops at
// kMaxSpecBytes, so that a device like /dev/zero gives an error instead of a hang.
std::string read_spec_text(std::istream& in, const SourceLoc& where) {
  std::string text;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxSpecBytes)
      throw SpecError(where, "", fmt::format("the file is larger than {} MiB; is it a spec?", kMaxSpecBytes >> 20));
  }
  if (in.bad()) throw SpecError(where, "", "cannot read spec");
  return text;
}

struct BlockDef {
  std::string name, file;
  SourceLoc loc;
  std::vector<std::pair<std::string, YAML::Node>> params;  // in written order; null = required
  std::vector<std::string> ports;
  YAML::Node output;  // optional local layer name
  YAML::Node layers;
};

struct RawInput {
  std::string name;  // full name, alias or endpoint (resolved after expansion)
  SourceLoc loc;
};

struct RawLayer {
  std::string name, op;
  std::map<std::string, Value> attrs;
  std::vector<RawInput> inputs;
  SourceLoc loc;
  bool train_only = false;
  std::string via;  // ", in block 'x' instantiated at file:l:c" for messages
};

struct Scope {
  std::string prefix;
  std::map<std::string, std::string> local;  // names visible in this scope -> full names
  bool top_level = false;
  Env env;
  std::string via;
};

class Loader {
 public:
  explicit Loader(const LoadOptions& options) : options_(options) {}

  Graph load(const std::string& text, const std::filesystem::path& file) {
    YAML::Node root = parse(text, file.string());
    std::string f = file.string();
    if (!root.IsMap())
      throw SpecError(loc_of(root, f), "", "a spec must be a mapping with 'name', 'input' and 'layers'");
    stack_.push_back(canonical(file));
    check_keys(root, f, {"name", "description", "reference", "input", "include", "blocks", "layers", "endpoints"},
               "the spec");
    read_includes(root, file);
    read_blocks(root, f);
    stack_.pop_back();

    Graph g;
    g.file = f;
    g.name = required_string(root, "name", f);
    if (!root["layers"]) throw SpecError(loc_of(root, f), "", "the spec has no 'layers'");
    Shape input = options_.input ? *options_.input : read_input(root, f);

    Scope top;
    top.top_level = true;
    top.local["input"] = "input";
    raw_.push_back(RawLayer{"input", "input", {}, {}, loc_of(root["input"], f), false, ""});
    index_["input"] = 0;
    expand_items(root["layers"], f, top, "input", false);
    // Every consumer of a graph (the memory plan, `run`) needs a layer after the input.
    if (raw_.size() == 1) throw SpecError(loc_of(root["layers"], f), "", "the spec has no layers");
    read_endpoints(root, f);
    return finish(g, input, loc_of(root["layers"], f));
  }

 private:
  // -- files ------------------------------------------------------------------------------
  static std::string canonical(const std::filesystem::path& p) {
    std::error_code ec;
    auto c = std::filesystem::weakly_canonical(p, ec);
    return ec ? p.string() : c.string();
  }

  YAML::Node parse(const std::string& text, const std::string& file) {
    try {
      YAML::Node root = YAML::Load(text);
      docs_.push_back(root);
      return root;
    } catch (const YAML::Exception& e) {
      throw SpecError({file, e.mark.line + 1, e.mark.column + 1}, "", "YAML syntax error: " + e.msg);
    }
  }

  void read_includes(const YAML::Node& root, const std::filesystem::path& file) {
    YAML::Node inc = root["include"];
    if (!inc) return;
    std::string f = file.string();
    std::vector<YAML::Node> items;
    if (inc.IsScalar())
      items.push_back(inc);
    else if (inc.IsSequence())
      for (const YAML::Node& n : inc) items.push_back(n);
    else
      throw SpecError(loc_of(inc, f), "", "include must be a file name or a list of file names");
    for (const YAML::Node& n : items) {
      if (!n.IsScalar()) throw SpecError(loc_of(n, f), "", "include must be a file name or a list of file names");
      if (n.Scalar().empty()) throw SpecError(loc_of(n, f), "", "include needs a file name, got an empty string");
      std::filesystem::path path = file.parent_path() / n.Scalar();
      std::string key = canonical(path);
      if (std::find(stack_.begin(), stack_.end(), key) != stack_.end()) {
        std::string chain;
        auto start = std::find(stack_.begin(), stack_.end(), key);
        for (auto it = start; it != stack_.end(); ++it)
          chain += std::filesystem::path(*it).filename().string() + " -> ";
        throw SpecError(loc_of(n, f), "", fmt::format("include loop: {}{}", chain, path.filename().string()));
      }
      if (included_.count(key)) continue;  // a diamond of includes reads each file once
      auto cannot_open = [&](const std::string& why) {
        return SpecError(loc_of(n, f), "",
                         fmt::format("cannot open included file '{}' ({}): {}", n.Scalar(), path.string(), why));
      };
      // Only regular files: a FIFO or /dev/zero would block or be read forever.
      std::error_code ec;
      std::filesystem::file_status st = std::filesystem::status(path, ec);
      if (std::filesystem::is_directory(st)) throw cannot_open("it is a directory");
      if (std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
        throw cannot_open("it is not a regular file");
      std::ifstream in(path, std::ios::binary);
      if (!in) throw cannot_open(std::strerror(errno));
      std::string text = read_spec_text(in, {path.string(), 0, 0});
      included_.insert(key);
      std::string pf = path.string();
      YAML::Node sub = parse(text, pf);
      if (!sub.IsMap()) throw SpecError(loc_of(sub, pf), "", "an included file must be a mapping");
      check_keys(sub, pf, {"name", "description", "reference", "input", "include", "blocks", "layers", "endpoints"},
                 "an included file");
      stack_.push_back(key);
      read_includes(sub, path);
      read_blocks(sub, pf);
      stack_.pop_back();
      if (sub["layers"]) {  // a whole network is also a block, named by its name, port 'input'
        BlockDef b;
        b.name = required_string(sub, "name", pf);
        b.file = pf;
        b.loc = loc_of(sub, pf);
        b.ports = {"input"};
        b.layers.reset(sub["layers"]);
        add_block(std::move(b));
      }
    }
  }

  void add_block(BlockDef b) {
    auto it = blocks_.find(b.name);
    if (it != blocks_.end())
      throw SpecError(b.loc, "",
                      fmt::format("block '{}' is defined twice (first at {})", b.name, loc_text(it->second.loc)));
    std::string name = b.name;
    blocks_.emplace(name, std::move(b));
  }

  void read_blocks(const YAML::Node& root, const std::string& f) {
    YAML::Node blocks = root["blocks"];
    if (!blocks) return;
    if (!blocks.IsMap()) throw SpecError(loc_of(blocks, f), "", "blocks must be a mapping of block name to definition");
    check_unique_keys(blocks, f);
    for (const auto& kv : blocks) {
      BlockDef b;
      b.name = kv.first.Scalar();
      b.file = f;
      b.loc = loc_of(kv.first, f);
      const YAML::Node& def = kv.second;
      if (!def.IsMap()) throw SpecError(loc_of(def, f), "", fmt::format("block '{}' must be a mapping", b.name));
      check_keys(def, f, {"params", "inputs", "output", "layers", "description"}, fmt::format("block '{}'", b.name));
      if (YAML::Node p = def["params"]) {
        if (!p.IsMap())
          throw SpecError(loc_of(p, f), "", fmt::format("params of block '{}' must be a mapping", b.name));
        check_unique_keys(p, f);
        for (const auto& pkv : p) b.params.emplace_back(pkv.first.Scalar(), pkv.second);
      }
      if (YAML::Node in = def["inputs"]) {
        if (!in.IsSequence() || in.size() == 0)
          throw SpecError(loc_of(in, f), "", fmt::format("inputs of block '{}' must be a list of port names", b.name));
        for (const YAML::Node& n : in) b.ports.push_back(n.Scalar());
      } else {
        b.ports = {"x"};
      }
      if (def["output"]) b.output.reset(def["output"]);  // Node::operator= writes through; reset rebinds
      if (def["layers"]) b.layers.reset(def["layers"]);
      if (!b.layers || !b.layers.IsSequence())
        throw SpecError(b.loc, "", fmt::format("block '{}' needs a list of 'layers'", b.name));
      add_block(std::move(b));
    }
  }

  // -- small readers ----------------------------------------------------------------------
  static std::string required_string(const YAML::Node& map, const char* key, const std::string& f) {
    YAML::Node n = map[key];
    if (!n) throw SpecError(loc_of(map, f), "", fmt::format("missing '{}'", key));
    if (!n.IsScalar() || n.Scalar().empty())
      throw SpecError(loc_of(n, f), "", fmt::format("'{}' must be a non-empty string", key));
    return n.Scalar();
  }

  Shape read_input(const YAML::Node& root, const std::string& f) {
    YAML::Node n = root["input"];
    if (!n) throw SpecError(loc_of(root, f), "", "missing 'input' (a list [N, C, H, W])");
    Value v = to_value(n, f, nodes_);
    if (!v.is_list() || v.as_list().size() != 4)
      throw SpecError(v.loc, "input", fmt::format("input must be [N, C, H, W], got {}", detail::describe(v)));
    int64_t d[4];
    for (int i = 0; i < 4; ++i) {
      const Value& x = v.as_list()[i];
      if (!x.is_int() || x.as_int() <= 0)
        throw SpecError(x.loc, "input",
                        fmt::format("input {} must be a positive integer, got {}", "NCHW"[i], detail::describe(x)));
      d[i] = x.as_int();
    }
    Shape s{d[0], d[1], d[2], d[3]};
    try {
      detail::checked_mul(s.elements(), 4, v.loc, "input");
    } catch (const std::overflow_error&) {
      throw SpecError(v.loc, "input", "input tensor has more elements than 64 bits hold");
    }
    return s;
  }

  Value eval(const YAML::Node& node, const std::string& f, const Env& env, const std::string& layer) {
    try {
      return detail::substitute(to_value(node, f, nodes_), env);
    } catch (const SpecError& e) {
      if (!e.layer().empty() || layer.empty()) throw;
      throw SpecError(e.loc(), layer, e.message());
    }
  }

  std::string eval_name(const YAML::Node& node, const std::string& f, const Env& env) {
    Value v = eval(node, f, env, "");
    if (!(v.is_string() || v.is_int()) || detail::to_text(v).empty())
      throw SpecError(v.loc, "", fmt::format("a name must be a non-empty string, got {}", detail::describe(v)));
    std::string s = detail::to_text(v);
    if (!is_name_text(s)) throw SpecError(v.loc, s, "a name may hold letters, digits and _ . - / only");
    return s;
  }

  bool eval_bool(const YAML::Node& node, const std::string& f, const Env& env, const char* key,
                 const std::string& layer) {
    Value v = eval(node, f, env, layer);
    if (!v.is_bool())
      throw SpecError(v.loc, layer, fmt::format("{} must be true or false, got {}", key, detail::describe(v)));
    return v.as_bool();
  }

  // Names a layer's `inputs:` may use, resolved in its scope.
  std::string resolve_in_scope(const std::string& name, const Scope& scope) {
    auto it = scope.local.find(name);
    if (it != scope.local.end()) return it->second;
    if (scope.top_level) return name;  // any full name, alias or endpoint; checked later
    return scope.prefix + name;        // a local layer written further down the block
  }

  // -- expansion ----------------------------------------------------------------------------
  std::string expand_items(const YAML::Node& items, const std::string& f, Scope& scope, std::string prev,
                           bool train_only) {
    if (!items.IsSequence()) throw SpecError(loc_of(items, f), "", "'layers' must be a list");
    std::string side;  // the end of a run of train-only entries (a side branch)
    for (const YAML::Node& item : items) {
      if (!item.IsMap())
        throw SpecError(loc_of(item, f), "", "each entry of 'layers' must be a mapping (a layer or a block use)");
      bool item_train_only = train_only;
      if (YAML::Node t = item["train_only"])
        item_train_only = eval_bool(t, f, scope.env, "train_only", "") || train_only;
      // Train-only entries chain among themselves; the main chain goes on from the entry
      // before the branch.
      bool side_entry = item_train_only && !train_only;
      const std::string& from = side_entry && !side.empty() ? side : prev;
      std::string out = item["block"] ? expand_block_use(item, f, scope, from, item_train_only)
                                      : expand_layer(item, f, scope, from, item_train_only);
      if (side_entry) {
        if (!out.empty()) side = out;
      } else {
        side.clear();
        if (!out.empty()) prev = out;
      }
    }
    return prev;
  }

  std::vector<RawInput> read_inputs(const YAML::Node& item, const std::string& f, Scope& scope, const std::string& prev,
                                    const std::string& layer, const Env* env = nullptr) {
    std::vector<RawInput> inputs;
    if (YAML::Node in = item["inputs"]) {
      Value v = eval(in, f, env ? *env : scope.env, layer);
      ValueList names = v.is_list() ? v.as_list() : ValueList{v};
      if (names.empty()) throw SpecError(v.loc, layer, "inputs must name at least one layer");
      for (const Value& n : names) {
        if (!n.is_string())
          throw SpecError(n.loc, layer, fmt::format("inputs must be layer names, got {}", detail::describe(n)));
        inputs.push_back({resolve_in_scope(n.as_string(), scope), n.loc});
      }
    } else {
      if (prev.empty()) throw SpecError(loc_of(item, f), layer, "has no input: name one with 'inputs'");
      inputs.push_back({prev, loc_of(item, f)});
    }
    return inputs;
  }

  void add_raw(RawLayer layer) {
    auto [it, fresh] = index_.emplace(layer.name, raw_.size());
    if (!fresh)
      throw SpecError(layer.loc, layer.name,
                      fmt::format("duplicate layer name (first defined at {})", loc_text(raw_[it->second].loc)));
    if (raw_.size() >= kMaxLayers)
      throw SpecError(layer.loc, layer.name, fmt::format("the network expands to more than {} layers", kMaxLayers));
    raw_.push_back(std::move(layer));
  }

  std::string expand_layer(const YAML::Node& item, const std::string& f, Scope& scope, const std::string& prev,
                           bool train_only) {
    SourceLoc loc = loc_of(item, f);
    // `when` first: a dropped layer's name may be meaningless.
    if (YAML::Node w = item["when"]; w && !eval_bool(w, f, scope.env, "when", "")) {
      check_unique_keys(item, f);
      return "";
    }
    if (!item["name"]) throw SpecError(loc, "", "layer has no 'name'");
    std::string short_name = eval_name(item["name"], f, scope.env);
    std::string name = scope.prefix + short_name;
    check_unique_keys(item, f, name);
    if (!item["op"]) throw SpecError(loc, name, "layer has no 'op'");
    Value op = eval(item["op"], f, scope.env, name);
    if (!op.is_string() || !detail::op_exists(op.as_string())) {
      std::string hint = op.is_string() ? detail::nearest(op.as_string(), known_ops()) : "";
      throw SpecError(op.loc, name,
                      fmt::format("unknown op {}{}", op.is_string() ? "'" + op.as_string() + "'" : detail::describe(op),
                                  hint.empty() ? fmt::format(" (known ops: {})", fmt::join(known_ops(), ", "))
                                               : fmt::format(" (did you mean '{}'?)", hint)));
    }
    if (short_name == "input") throw SpecError(loc, name, "'input' is the network input's name; pick another");
    RawLayer raw{name, op.as_string(), {}, read_inputs(item, f, scope, prev, name), loc, train_only, scope.via};
    for (const auto& kv : item) {
      std::string key = kv.first.Scalar();
      if (key == "name" || key == "op" || key == "inputs" || key == "when" || key == "train_only") continue;
      if (key == "endpoint") {
        endpoint_uses_.push_back({scope.prefix + eval_name(kv.second, f, scope.env), name, loc_of(kv.second, f)});
        continue;
      }
      if (kv.second.IsMap()) {
        // A group of attributes (dense_crf's `gaussian: {weight: 3, sxy: 3}`): read as
        // `gaussian.weight`, `gaussian.sxy`.
        for (const auto& sub : kv.second)
          raw.attrs[key + "." + sub.first.Scalar()] = eval(sub.second, f, scope.env, name);
        continue;
      }
      raw.attrs[key] = eval(kv.second, f, scope.env, name);
    }
    add_raw(std::move(raw));
    scope.local[short_name] = name;
    return name;
  }

  std::string expand_block_use(const YAML::Node& item, const std::string& f, Scope& scope, const std::string& prev,
                               bool train_only) {
    SourceLoc loc = loc_of(item, f);
    check_keys(item, f, {"block", "name", "args", "inputs", "repeat", "overrides", "train_only", "endpoint", "when"},
               "a block use");
    std::string block_name = eval_name(item["block"], f, scope.env);
    auto bit = blocks_.find(block_name);
    if (bit == blocks_.end()) {
      std::vector<std::string> names;
      for (const auto& [k, _] : blocks_) names.push_back(k);
      std::string hint = detail::nearest(block_name, names);
      throw SpecError(
          loc_of(item["block"], f), "",
          fmt::format("unknown block '{}'{}", block_name,
                      hint.empty() ? fmt::format(" (blocks: {})",
                                                 names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")))
                                   : fmt::format(" (did you mean '{}'?)", hint)));
    }
    const BlockDef& block = bit->second;
    if (std::find(active_blocks_.begin(), active_blocks_.end(), block_name) != active_blocks_.end())
      throw SpecError(
          loc, "",
          fmt::format("block '{}' uses itself ({} -> {})", block_name, fmt::join(active_blocks_, " -> "), block_name));

    int64_t count = 1;
    if (YAML::Node r = item["repeat"]) {
      Value v = eval(r, f, scope.env, "");
      if (!v.is_int() || v.as_int() < 0 || v.as_int() > static_cast<int64_t>(kMaxLayers))
        throw SpecError(v.loc, "",
                        fmt::format("repeat must be an integer from 0 to {}, got {}", kMaxLayers, detail::describe(v)));
      count = v.as_int();
    }
    std::map<int64_t, YAML::Node> overrides;
    if (YAML::Node o = item["overrides"]) {
      if (!o.IsMap()) throw SpecError(loc_of(o, f), "", "overrides must map a repeat index to arguments");
      check_unique_keys(o, f);
      for (const auto& kv : o) {
        Value idx = to_value(kv.first, f, nodes_);
        if (!idx.is_int() || idx.as_int() < 0 || idx.as_int() >= count)
          throw SpecError(idx.loc, "",
                          fmt::format("override index must be from 0 to {}, got {}", count - 1, detail::describe(idx)));
        overrides.emplace(idx.as_int(), kv.second);
      }
    }

    std::string out = prev;
    std::string last_instance;
    for (int64_t i = 0; i < count; ++i) {
      Env caller = scope.env;
      caller["i"] = Value{i, loc};
      if (YAML::Node w = item["when"]; w && !eval_bool(w, f, caller, "when", "")) continue;
      std::string instance = item["name"] ? eval_name(item["name"], f, caller) : "";
      Env env = bind_args(block, item["args"], overrides.count(i) ? overrides[i] : YAML::Node(), f, caller, loc);
      Scope child;
      child.prefix = scope.prefix + (instance.empty() ? "" : instance + ".");
      child.env = std::move(env);
      child.via = fmt::format(" (in block '{}' used at {}){}", block_name, loc_text(loc), scope.via);
      // Ports: the first takes the previous instance in a repeat; the others keep their sources.
      std::vector<RawInput> sources =
          read_inputs(item, f, scope, out, child.prefix.empty() ? block_name : instance, &caller);
      if (i > 0 && !out.empty()) sources[0] = {out, loc};
      if (sources.size() != block.ports.size())
        throw SpecError(loc, instance,
                        fmt::format("block '{}' takes {} input{} ({}), got {}", block_name, block.ports.size(),
                                    block.ports.size() == 1 ? "" : "s", fmt::join(block.ports, ", "), sources.size()));
      for (size_t p = 0; p < block.ports.size(); ++p) child.local[block.ports[p]] = sources[p].name;
      active_blocks_.push_back(block_name);
      std::string result = expand_items(block.layers, block.file, child, sources[0].name, train_only);
      active_blocks_.pop_back();
      if (block.output.IsDefined() && !block.output.IsNull()) {
        std::string local = eval_name(block.output, block.file, child.env);
        auto it = child.local.find(local);
        if (it == child.local.end())
          throw SpecError(loc_of(block.output, block.file), "",
                          fmt::format("block '{}' has no layer '{}' to output", block_name, local));
        result = it->second;
      }
      if (!instance.empty()) {
        std::string full = scope.prefix + instance;
        aliases_[full] = result;
        scope.local[instance] = result;
        last_instance = full;
      }
      out = result;
    }
    if (YAML::Node e = item["endpoint"]; e && out != prev)
      endpoint_uses_.push_back({scope.prefix + eval_name(e, f, scope.env), out, loc_of(e, f)});
    return out == prev ? "" : out;
  }

  // Parameters: the block's defaults, then `args`, then this repeat's `overrides` entry.
  Env bind_args(const BlockDef& block, const YAML::Node& args, const YAML::Node& override_args, const std::string& f,
                const Env& caller, const SourceLoc& use_loc) {
    std::map<std::string, Value> given;
    for (const YAML::Node* source : {&args, &override_args}) {
      if (!source->IsDefined() || source->IsNull()) continue;
      if (!source->IsMap()) throw SpecError(loc_of(*source, f), "", "args must be a mapping of parameter to value");
      check_unique_keys(*source, f);
      for (const auto& kv : *source) {
        std::string key = kv.first.Scalar();
        bool known =
            std::any_of(block.params.begin(), block.params.end(), [&](const auto& p) { return p.first == key; });
        if (!known) {
          std::vector<std::string> names;
          for (const auto& p : block.params) names.push_back(p.first);
          std::string hint = detail::nearest(key, names);
          throw SpecError(loc_of(kv.first, f), "",
                          fmt::format("block '{}' has no parameter '{}'{}", block.name, key,
                                      hint.empty() ? fmt::format(" (it takes: {})", fmt::join(names, ", "))
                                                   : fmt::format(" (did you mean '{}'?)", hint)));
        }
        given[key] = eval(kv.second, f, caller, "");
      }
    }
    Env env;
    for (const auto& [name, def] : block.params) {
      auto it = given.find(name);
      if (it != given.end())
        env[name] = it->second;
      else if (!def || def.IsNull())
        throw SpecError(use_loc, "", fmt::format("block '{}' needs argument '{}'", block.name, name));
      else
        env[name] = eval(def, block.file, env, "");  // defaults may use earlier parameters
    }
    return env;
  }

  void read_endpoints(const YAML::Node& root, const std::string& f) {
    YAML::Node e = root["endpoints"];
    if (!e) return;
    if (!e.IsMap()) throw SpecError(loc_of(e, f), "", "endpoints must map an endpoint name to a layer name");
    check_unique_keys(e, f);
    for (const auto& kv : e) endpoint_uses_.push_back({kv.first.Scalar(), kv.second.Scalar(), loc_of(kv.second, f)});
  }

  // -- graph ------------------------------------------------------------------------------
  int lookup(const std::string& name) const {
    auto it = index_.find(name);
    if (it != index_.end()) return static_cast<int>(it->second);
    auto a = aliases_.find(name);
    if (a != aliases_.end()) return lookup(a->second);
    for (const auto& use : endpoint_uses_)
      if (use.name == name && use.target != name) return lookup(use.target);
    return -1;
  }

  [[noreturn]] void unknown_input(const RawLayer& l, const RawInput& in) const {
    std::vector<std::string> names;
    for (const auto& [k, _] : index_) names.push_back(k);
    std::string hint = detail::nearest(in.name, names);
    throw SpecError(
        in.loc, l.name,
        fmt::format("unknown input '{}'{}", in.name, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
  }

  Graph finish(Graph g, const Shape& input, const SourceLoc& layers_loc) {
    size_t n = raw_.size();
    std::vector<std::vector<int>> inputs(n);
    for (size_t i = 0; i < n; ++i)
      for (const RawInput& in : raw_[i].inputs) {
        int j = lookup(in.name);
        if (j < 0) unknown_input(raw_[i], in);
        if (static_cast<size_t>(j) == i) throw SpecError(in.loc, raw_[i].name, "cycle: the layer reads its own output");
        inputs[i].push_back(j);
      }

    std::vector<bool> keep(n, true);
    if (!options_.include_train_only) {
      for (size_t i = 0; i < n; ++i) keep[i] = !raw_[i].train_only;
      for (size_t i = 0; i < n; ++i)
        if (keep[i])
          for (size_t k = 0; k < inputs[i].size(); ++k)
            if (!keep[inputs[i][k]])
              throw SpecError(
                  raw_[i].inputs[k].loc, raw_[i].name,
                  fmt::format("reads '{}', which is train-only: mark this layer train_only too, or the other not",
                              raw_[inputs[i][k]].name));
    }

    if (std::count(keep.begin(), keep.end(), true) == 1)
      throw SpecError(layers_loc, "",
                      "the spec has no layers outside train-only branches (--include-train-only keeps them)");
    std::vector<int> order = topological_order(inputs, keep);
    std::vector<int> position(n, -1);
    for (size_t k = 0; k < order.size(); ++k) position[order[k]] = static_cast<int>(k);

    g.layers.reserve(order.size());
    for (int idx : order) {
      const RawLayer& r = raw_[idx];
      Layer layer;
      layer.name = r.name;
      layer.loc = r.loc;
      layer.train_only = r.train_only;
      if (idx == 0) {
        layer.op = OpKind::Input;
        layer.attrs = InputAttrs{};
        layer.output = input;
        g.layers.push_back(std::move(layer));
        continue;
      }
      std::vector<const Layer*> ins;
      for (int j : inputs[idx]) {
        layer.inputs.push_back(position[j]);
        ins.push_back(&g.layers[position[j]]);
      }
      detail::AttrReader reader(r.attrs, r.loc, r.name, r.op);
      try {
        detail::build_layer(layer, r.op, reader, ins);
      } catch (const SpecError& e) {
        if (r.via.empty()) throw;
        throw SpecError(e.loc(), e.layer(), e.message() + r.via);
      }
      g.layers.push_back(std::move(layer));
    }

    for (const auto& use : endpoint_uses_) {
      int j = lookup(use.target);
      if (j < 0)
        throw SpecError(use.loc, "", fmt::format("endpoint '{}' names an unknown layer '{}'", use.name, use.target));
      if (!keep[j]) continue;  // a train-only endpoint exists only with --include-train-only
      auto [it, fresh] = g.endpoints.emplace(use.name, raw_[j].name);
      if (!fresh && it->second != raw_[j].name)
        throw SpecError(use.loc, use.target, fmt::format("endpoint '{}' is defined twice", use.name));
    }
    return g;
  }

  // Kahn's algorithm, always taking the earliest-written ready layer, so the order is the
  // written one wherever the written one is valid.
  std::vector<int> topological_order(const std::vector<std::vector<int>>& inputs, const std::vector<bool>& keep) const {
    size_t n = inputs.size();
    std::vector<int> pending(n, 0);
    std::vector<std::vector<int>> users(n);
    for (size_t i = 0; i < n; ++i) {
      if (!keep[i]) continue;
      std::set<int> distinct(inputs[i].begin(), inputs[i].end());
      pending[i] = static_cast<int>(distinct.size());
      for (int j : distinct) users[j].push_back(static_cast<int>(i));
    }
    std::priority_queue<int, std::vector<int>, std::greater<>> ready;
    size_t kept = 0;
    for (size_t i = 0; i < n; ++i)
      if (keep[i]) {
        ++kept;
        if (pending[i] == 0) ready.push(static_cast<int>(i));
      }
    std::vector<int> order;
    while (!ready.empty()) {
      int i = ready.top();
      ready.pop();
      order.push_back(i);
      for (int u : users[i])
        if (--pending[u] == 0) ready.push(u);
    }
    if (order.size() == kept) return order;
    // Walk back along unfinished inputs until a layer repeats: that is a cycle.
    int start = -1;
    for (size_t i = 0; i < n; ++i)
      if (keep[i] && pending[i] > 0) {
        start = static_cast<int>(i);
        break;
      }
    std::vector<int> path;
    std::vector<int> seen(n, -1);
    int cur = start;
    while (seen[cur] < 0) {
      seen[cur] = static_cast<int>(path.size());
      path.push_back(cur);
      for (int j : inputs[cur])
        if (pending[j] > 0) {
          cur = j;
          break;
        }
    }
    std::vector<std::string> names;
    for (size_t k = seen[cur]; k < path.size(); ++k) names.push_back(raw_[path[k]].name);
    std::reverse(names.begin(), names.end());
    names.push_back(names.front());
    const RawLayer& first = raw_[path[seen[cur]]];
    throw SpecError(first.loc, first.name, fmt::format("cycle: {}", fmt::join(names, " -> ")));
  }

  struct EndpointUse {
    std::string name, target;
    SourceLoc loc;
  };

  LoadOptions options_;
  NodeBudget nodes_;
  std::vector<YAML::Node> docs_;
  std::vector<std::string> stack_;
  std::set<std::string> included_;
  std::map<std::string, BlockDef> blocks_;
  std::vector<std::string> active_blocks_;
  std::vector<RawLayer> raw_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> aliases_;
  std::vector<EndpointUse> endpoint_uses_;
};

}  // namespace

Graph load_spec_text(const std::string& text, const std::filesystem::path& file, const LoadOptions& options) {
  return Loader(options).load(text, file);
}

Graph load_imported_spec(const std::string& text, const std::filesystem::path& model, const LoadOptions& options) {
  try {
    return load_spec_text(text, model, options);
  } catch (const SpecError& e) {
    // The line and column are the imported spec's, which the user has not seen: name the
    // model and the layer only (`archbench import` prints the spec).
    throw SpecError(SourceLoc{model.string(), 0, 0}, e.layer(), e.message());
  }
}

Graph load_spec(const std::filesystem::path& file, const LoadOptions& options) {
  if (is_onnx_path(file)) return load_imported_spec(import_onnx(file, options, false).spec, file, options);
  SourceLoc where{file.string(), 0, 0};
  // A directory opens like a file on Linux and fails only at the first read.
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    throw SpecError(where, "", fmt::format("cannot open spec: {}", std::strerror(EISDIR)));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw SpecError(where, "", fmt::format("cannot open spec: {}", std::strerror(errno)));
  return load_spec_text(read_spec_text(in, where), file, options);
}

}  // namespace archbench
