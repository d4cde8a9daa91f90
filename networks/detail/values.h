// Internal to networks/: the values a spec's scalars evaluate to, the `${...}` expression
// language of blocks, and the typed reader every op uses for its attributes.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "networks/networks.h"

namespace archbench::detail {

struct Value;
using ValueList = std::vector<Value>;

// A spec value: null (a required block parameter), int, number, bool, string or list.
struct Value {
  std::variant<std::monostate, int64_t, double, bool, std::string, ValueList> v;
  SourceLoc loc;

  bool is_null() const { return std::holds_alternative<std::monostate>(v); }
  bool is_int() const { return std::holds_alternative<int64_t>(v); }
  bool is_number() const { return is_int() || std::holds_alternative<double>(v); }
  bool is_bool() const { return std::holds_alternative<bool>(v); }
  bool is_string() const { return std::holds_alternative<std::string>(v); }
  bool is_list() const { return std::holds_alternative<ValueList>(v); }
  int64_t as_int() const { return std::get<int64_t>(v); }
  double as_number() const { return is_int() ? static_cast<double>(as_int()) : std::get<double>(v); }
  bool as_bool() const { return std::get<bool>(v); }
  const std::string& as_string() const { return std::get<std::string>(v); }
  const ValueList& as_list() const { return std::get<ValueList>(v); }
};

// "integer 3", "string 'same'", "list of 2", ... for messages.
std::string describe(const Value& value);
// The value as it would be written back into a name: 3, 0.5, true, same.
std::string to_text(const Value& value);

using Env = std::map<std::string, Value>;

// Evaluates an expression such as `planes * 4`, `stride != 1 or cin != cout`,
// `i == 0 ? 2 : 1`, `max(1, c / 4)`. Integers stay integers (`/` floors); throws
// SpecError at `loc` for syntax errors, unknown names and type errors.
Value eval_expr(const std::string& expr, const Env& env, const SourceLoc& loc);

// Substitutes a scalar written in a spec: `$name` is the parameter's value, a scalar that is
// exactly `${expr}` is the expression's typed value, other `${expr}` parts interpolate into a
// string. Anything else is returned unchanged.
Value substitute(const Value& scalar, const Env& env);

// Typed, checked access to one layer's attributes. allow() first rejects attributes the op
// does not take, suggesting the nearest known name.
class AttrReader {
 public:
  static constexpr int64_t kNoLimit = INT64_MAX;

  AttrReader(std::map<std::string, Value> attrs, SourceLoc layer_loc, std::string layer, std::string op);

  bool has(const std::string& key) const { return attrs_.count(key) != 0; }
  const Value* peek(const std::string& key) const;
  // Integers from min_value to max_value; "KEY must be at most MAX" above it.
  int64_t integer(const std::string& key, int64_t fallback, int64_t min_value, int64_t max_value = kNoLimit);
  int64_t required_integer(const std::string& key, int64_t min_value, int64_t max_value = kNoLimit);
  // An int (both axes) or [h, w].
  std::pair<int64_t, int64_t> pair(const std::string& key, int64_t fallback, int64_t min_value,
                                   int64_t max_value = kNoLimit);
  double number(const std::string& key, double fallback);
  bool boolean(const std::string& key, bool fallback);
  std::string choice(const std::string& key, const std::vector<std::string>& allowed, const std::string& fallback);
  Value take(const std::string& key);  // null when absent
  void allow(const std::vector<std::string>& known) const;

  [[noreturn]] void fail(const std::string& message) const;
  [[noreturn]] void fail_at(const Value& value, const std::string& message) const;
  const std::string& layer() const { return layer_; }
  const SourceLoc& loc() const { return layer_loc_; }

 private:
  std::map<std::string, Value> attrs_;
  SourceLoc layer_loc_;
  std::string layer_, op_;
};

// The closest of `candidates` to `word` by edit distance, or "" when none is close.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

// Multiplies or adds with an overflow check; throws SpecError at `loc` naming `layer`.
int64_t checked_mul(int64_t a, int64_t b, const SourceLoc& loc, const std::string& layer);
int64_t checked_add(int64_t a, int64_t b, const SourceLoc& loc, const std::string& layer);

}  // namespace archbench::detail
