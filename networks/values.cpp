#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <limits>

#include "networks/detail/values.h"

namespace archbench::detail {

std::string describe(const Value& value) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>)
          return "nothing (null)";
        else if constexpr (std::is_same_v<T, int64_t>)
          return fmt::format("integer {}", x);
        else if constexpr (std::is_same_v<T, double>)
          return fmt::format("number {}", x);
        else if constexpr (std::is_same_v<T, bool>)
          return fmt::format("boolean {}", x);
        else if constexpr (std::is_same_v<T, std::string>)
          return fmt::format("string '{}'", x);
        else
          return fmt::format("a list of {}", x.size());
      },
      value.v);
}

std::string to_text(const Value& value) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>)
          return "null";
        else if constexpr (std::is_same_v<T, int64_t>)
          return std::to_string(x);
        else if constexpr (std::is_same_v<T, double>)
          return fmt::format("{}", x);
        else if constexpr (std::is_same_v<T, bool>)
          return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>)
          return x;
        else {
          std::string out = "[";
          for (size_t i = 0; i < x.size(); ++i) out += (i ? ", " : "") + to_text(x[i]);
          return out + "]";
        }
      },
      value.v);
}

int64_t checked_mul(int64_t a, int64_t b, const SourceLoc& loc, const std::string& layer) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    throw SpecError(loc, layer, fmt::format("size overflows 64 bits ({} x {})", a, b));
  return r;
}

int64_t checked_add(int64_t a, int64_t b, const SourceLoc& loc, const std::string& layer) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw SpecError(loc, layer, fmt::format("size overflows 64 bits ({} + {})", a, b));
  return r;
}

// ---------------------------------------------------------------------------------------
// Expressions: a small recursive-descent evaluator.
//   ternary := or ('?' ternary ':' ternary)?
//   or := and ('or' and)*        and := not ('and' not)*        not := 'not' not | cmp
//   cmp := sum (('=='|'!='|'<'|'<='|'>'|'>=') sum)?
//   sum := prod (('+'|'-') prod)*  prod := unary (('*'|'/'|'%') unary)*
//   unary := '-' unary | atom ('[' ternary ']')*
//   atom := number | 'string' | true | false | name
//                                          | name '(' args ')' | '(' ternary ')'
namespace {

// How deep parentheses, `not`, unary `-` and `? :` may nest. Each level is a few frames of
// this recursive parser; a limit keeps `((((...` written 100,000 deep from exhausting the stack.
constexpr int kMaxExprDepth = 200;

class ExprParser {
 public:
  ExprParser(const std::string& text, const Env& env, const SourceLoc& loc) : s_(text), env_(env), loc_(loc) {}

  Value parse() {
    Value v = ternary();
    skip();
    if (pos_ != s_.size()) error(fmt::format("unexpected '{}'", s_.substr(pos_)));
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    throw SpecError(loc_, "", fmt::format("in expression '{}': {}", s_, what));
  }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool eat(const std::string& tok) {
    skip();
    if (s_.compare(pos_, tok.size(), tok) != 0) return false;
    // Keywords must not be the prefix of a longer name.
    if (std::isalpha(static_cast<unsigned char>(tok[0])) && pos_ + tok.size() < s_.size() &&
        (std::isalnum(static_cast<unsigned char>(s_[pos_ + tok.size()])) || s_[pos_ + tok.size()] == '_'))
      return false;
    // "<" must not eat the first half of "<=", "=" must not match "==" partially, etc.
    if ((tok == "<" || tok == ">") && pos_ + 1 < s_.size() && s_[pos_ + 1] == '=') return false;
    pos_ += tok.size();
    return true;
  }
  Value make(decltype(Value::v) v) const { return Value{std::move(v), loc_}; }

  // One level of nesting, held while a nested part parses.
  class Nesting {
   public:
    explicit Nesting(ExprParser& p) : p_(p) {
      // Not via error(): quoting a 100,000-character expression helps no one.
      if (++p_.depth_ > kMaxExprDepth)
        throw SpecError(p_.loc_, "", fmt::format("expression nested deeper than {} levels", kMaxExprDepth));
    }
    ~Nesting() { --p_.depth_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;

   private:
    ExprParser& p_;
  };

  int64_t want_int(const Value& v, const char* op) const {
    if (!v.is_int()) error(fmt::format("'{}' needs integers, got {}", op, describe(v)));
    return v.as_int();
  }
  bool want_bool(const Value& v, const char* op) const {
    if (!v.is_bool()) error(fmt::format("'{}' needs booleans, got {}", op, describe(v)));
    return v.as_bool();
  }

  Value ternary() {
    Nesting nest(*this);
    Value c = logic_or();
    if (!eat("?")) return c;
    Value a = ternary();
    if (!eat(":")) error("expected ':' in 'cond ? a : b'");
    Value b = ternary();
    return want_bool(c, "?") ? a : b;
  }
  Value logic_or() {
    Value a = logic_and();
    while (eat("or")) {
      Value b = logic_and();
      a = make(want_bool(a, "or") || want_bool(b, "or"));
    }
    return a;
  }
  Value logic_and() {
    Value a = logic_not();
    while (eat("and")) {
      Value b = logic_not();
      a = make(want_bool(a, "and") && want_bool(b, "and"));
    }
    return a;
  }
  Value logic_not() {
    if (eat("not")) {
      Nesting nest(*this);
      return make(!want_bool(logic_not(), "not"));
    }
    return compare();
  }
  Value compare() {
    Value a = sum();
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (!eat(op)) continue;
      Value b = sum();
      std::string o = op;
      if (o == "==" || o == "!=") {
        bool eq;
        if (a.is_number() && b.is_number())
          eq = a.as_number() == b.as_number();
        else if (a.v.index() == b.v.index())
          eq = to_text(a) == to_text(b);
        else
          eq = false;
        return make(o == "==" ? eq : !eq);
      }
      if (!a.is_number() || !b.is_number())
        error(fmt::format("'{}' needs numbers, got {} and {}", o, describe(a), describe(b)));
      double x = a.as_number(), y = b.as_number();
      return make(o == "<" ? x < y : o == "<=" ? x <= y : o == ">" ? x > y : x >= y);
    }
    return a;
  }
  Value arith(const Value& a, const Value& b, char op) const {
    if (!a.is_number() || !b.is_number())
      error(fmt::format("'{}' needs numbers, got {} and {}", op, describe(a), describe(b)));
    if (a.is_int() && b.is_int()) {
      int64_t x = a.as_int(), y = b.as_int(), r = 0;
      bool overflow = false;
      switch (op) {
        case '+':
          overflow = __builtin_add_overflow(x, y, &r);
          break;
        case '-':
          overflow = __builtin_sub_overflow(x, y, &r);
          break;
        case '*':
          overflow = __builtin_mul_overflow(x, y, &r);
          break;
        case '/':
        case '%':
          if (y == 0) error("division by zero");
          if (x == INT64_MIN && y == -1)
            overflow = true;
          else {
            // Floor division and a modulo with the divisor's sign, as Python has them.
            r = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) --r;
            if (op == '%') r = x - r * y;
          }
          break;
      }
      if (overflow) error("integer overflow");
      return make(r);
    }
    double x = a.as_number(), y = b.as_number();
    switch (op) {
      case '+':
        return make(x + y);
      case '-':
        return make(x - y);
      case '*':
        return make(x * y);
      case '/':
        if (y == 0) error("division by zero");
        return make(x / y);
      default:
        error("'%' needs integers");
    }
  }
  Value sum() {
    Value a = product();
    for (;;) {
      if (eat("+"))
        a = arith(a, product(), '+');
      else if (eat("-"))
        a = arith(a, product(), '-');
      else
        return a;
    }
  }
  Value product() {
    Value a = unary();
    for (;;) {
      if (eat("*"))
        a = arith(a, unary(), '*');
      else if (eat("/"))
        a = arith(a, unary(), '/');
      else if (eat("%"))
        a = arith(a, unary(), '%');
      else
        return a;
    }
  }
  Value unary() {
    if (eat("-")) {
      Nesting nest(*this);
      return arith(make(int64_t{0}), unary(), '-');
    }
    Value v = atom();
    while (eat("[")) {  // list indexing: counts[2]
      Value idx = ternary();
      if (!eat("]")) error("expected ']'");
      if (!v.is_list()) error(fmt::format("only lists can be indexed, got {}", describe(v)));
      int64_t k = want_int(idx, "[]");
      if (k < 0 || k >= static_cast<int64_t>(v.as_list().size()))
        error(fmt::format("index {} is outside the list of {}", k, v.as_list().size()));
      Value item = v.as_list()[static_cast<size_t>(k)];
      v = item;
    }
    return v;
  }
  Value atom() {
    skip();
    if (pos_ >= s_.size()) error("unexpected end");
    char c = s_[pos_];
    if (eat("(")) {
      Value v = ternary();
      if (!eat(")")) error("expected ')'");
      return v;
    }
    if (c == '\'') {
      size_t end = s_.find('\'', pos_ + 1);
      if (end == std::string::npos) error("unterminated string");
      std::string text = s_.substr(pos_ + 1, end - pos_ - 1);
      pos_ = end + 1;
      return make(text);
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t start = pos_;
      while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.')) ++pos_;
      std::string num = s_.substr(start, pos_ - start);
      size_t dot = num.find('.');
      if (dot != std::string::npos) {
        if (num.find('.', dot + 1) != std::string::npos) error(fmt::format("malformed number '{}'", num));
        errno = 0;
        double v = std::strtod(num.c_str(), nullptr);
        if (errno == ERANGE && std::isinf(v)) error(fmt::format("number {} is too large for a double", num));
        return make(v);
      }
      errno = 0;
      long long v = std::strtoll(num.c_str(), nullptr, 10);
      if (errno == ERANGE) error(fmt::format("integer {} is out of range", num));
      return make(static_cast<int64_t>(v));
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = pos_;
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
      std::string name = s_.substr(start, pos_ - start);
      if (name == "true") return make(true);
      if (name == "false") return make(false);
      if (eat("(")) return call(name);
      auto it = env_.find(name);
      if (it == env_.end()) {
        std::vector<std::string> known;
        for (const auto& [k, _] : env_) known.push_back(k);
        std::string hint = nearest(name, known);
        error(fmt::format("unknown name '{}'{}", name, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
      }
      return it->second;
    }
    error(fmt::format("unexpected '{}'", s_.substr(pos_)));
  }
  Value call(const std::string& fn) {
    std::vector<Value> args;
    if (!eat(")")) {
      do args.push_back(ternary());
      while (eat(","));
      if (!eat(")")) error("expected ')' after arguments");
    }
    if ((fn == "min" || fn == "max") && args.empty()) error(fmt::format("{}() needs at least one argument", fn));
    if (fn == "min" || fn == "max") {
      Value best = args[0];
      for (const Value& a : args) {
        if (!a.is_number()) error(fmt::format("{}() needs numbers, got {}", fn, describe(a)));
        if (fn == "min" ? a.as_number() < best.as_number() : a.as_number() > best.as_number()) best = a;
      }
      return best;
    }
    error(fmt::format("unknown function '{}' (known: min, max)", fn));
  }

  const std::string& s_;
  const Env& env_;
  const SourceLoc& loc_;
  size_t pos_ = 0;
  int depth_ = -1;  // the expression itself is level 0
};

bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

}  // namespace

Value eval_expr(const std::string& expr, const Env& env, const SourceLoc& loc) {
  Value v = ExprParser(expr, env, loc).parse();
  v.loc = loc;
  return v;
}

Value substitute(const Value& scalar, const Env& env) {
  if (scalar.is_list()) {
    ValueList out;
    for (const Value& item : scalar.as_list()) out.push_back(substitute(item, env));
    return Value{std::move(out), scalar.loc};
  }
  if (!scalar.is_string()) return scalar;
  const std::string& s = scalar.as_string();
  if (s.size() > 1 && s[0] == '$' && is_identifier(s.substr(1))) {
    Value v = eval_expr(s.substr(1), env, scalar.loc);
    return v;
  }
  if (s.find("${") == std::string::npos) return scalar;
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t open = s.find("${", pos);
    if (open == std::string::npos) {
      out += s.substr(pos);
      break;
    }
    size_t close = s.find('}', open);
    if (close == std::string::npos) throw SpecError(scalar.loc, "", fmt::format("unterminated '${{' in '{}'", s));
    Value v = eval_expr(s.substr(open + 2, close - open - 2), env, scalar.loc);
    if (open == 0 && close == s.size() - 1) return v;  // the whole scalar: keep its type
    out += s.substr(pos, open - pos) + to_text(v);
    pos = close + 1;
  }
  return Value{out, scalar.loc};
}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const std::string& c : candidates) {
    std::vector<size_t> prev(c.size() + 1), cur(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= c.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (word[i - 1] == c[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    if (prev[c.size()] < best_d) best_d = prev[c.size()], best = c;
  }
  // Close means at most a third of the word changed (and at least one edit allowed).
  return best_d <= std::max<size_t>(1, word.size() / 3) ? best : "";
}

// ---------------------------------------------------------------------------------------

AttrReader::AttrReader(std::map<std::string, Value> attrs, SourceLoc layer_loc, std::string layer, std::string op)
    : attrs_(std::move(attrs)), layer_loc_(std::move(layer_loc)), layer_(std::move(layer)), op_(std::move(op)) {}

void AttrReader::fail(const std::string& message) const { throw SpecError(layer_loc_, layer_, message); }

void AttrReader::fail_at(const Value& value, const std::string& message) const {
  throw SpecError(value.loc.line ? value.loc : layer_loc_, layer_, message);
}

const Value* AttrReader::peek(const std::string& key) const {
  auto it = attrs_.find(key);
  return it == attrs_.end() ? nullptr : &it->second;
}

Value AttrReader::take(const std::string& key) {
  auto it = attrs_.find(key);
  if (it == attrs_.end()) return Value{};
  Value v = std::move(it->second);
  attrs_.erase(it);
  return v;
}

static int64_t check_range(const AttrReader& r, const Value& v, const std::string& key, int64_t min_value,
                           int64_t max_value) {
  if (!v.is_int()) r.fail_at(v, fmt::format("{} must be an integer, got {}", key, describe(v)));
  if (v.as_int() < min_value) r.fail_at(v, fmt::format("{} must be >= {}, got {}", key, min_value, v.as_int()));
  if (v.as_int() > max_value) r.fail_at(v, fmt::format("{} must be at most {}, got {}", key, max_value, v.as_int()));
  return v.as_int();
}

int64_t AttrReader::integer(const std::string& key, int64_t fallback, int64_t min_value, int64_t max_value) {
  Value v = take(key);
  return v.is_null() ? fallback : check_range(*this, v, key, min_value, max_value);
}

int64_t AttrReader::required_integer(const std::string& key, int64_t min_value, int64_t max_value) {
  Value v = take(key);
  if (v.is_null()) fail(fmt::format("op {} needs '{}'", op_, key));
  return check_range(*this, v, key, min_value, max_value);
}

std::pair<int64_t, int64_t> AttrReader::pair(const std::string& key, int64_t fallback, int64_t min_value,
                                             int64_t max_value) {
  Value v = take(key);
  if (v.is_null()) return {fallback, fallback};
  if (v.is_list()) {
    const ValueList& l = v.as_list();
    if (l.size() != 2) fail_at(v, fmt::format("{} must be an integer or [h, w], got {}", key, describe(v)));
    return {check_range(*this, l[0], key, min_value, max_value), check_range(*this, l[1], key, min_value, max_value)};
  }
  if (!v.is_int()) fail_at(v, fmt::format("{} must be an integer or [h, w], got {}", key, describe(v)));
  int64_t x = check_range(*this, v, key, min_value, max_value);
  return {x, x};
}

double AttrReader::number(const std::string& key, double fallback) {
  Value v = take(key);
  if (v.is_null()) return fallback;
  if (!v.is_number()) fail_at(v, fmt::format("{} must be a number, got {}", key, describe(v)));
  return v.as_number();
}

bool AttrReader::boolean(const std::string& key, bool fallback) {
  Value v = take(key);
  if (v.is_null()) return fallback;
  if (!v.is_bool()) fail_at(v, fmt::format("{} must be true or false, got {}", key, describe(v)));
  return v.as_bool();
}

std::string AttrReader::choice(const std::string& key, const std::vector<std::string>& allowed,
                               const std::string& fallback) {
  Value v = take(key);
  if (v.is_null()) return fallback;
  if (!v.is_string() || std::find(allowed.begin(), allowed.end(), v.as_string()) == allowed.end())
    fail_at(v, fmt::format("{} must be one of {}, got {}", key, fmt::join(allowed, ", "), describe(v)));
  return v.as_string();
}

void AttrReader::allow(const std::vector<std::string>& known) const {
  for (const auto& [key, value] : attrs_) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string hint = nearest(key, known);
    fail_at(value, fmt::format("unknown attribute '{}' for op {}{}", key, op_,
                               hint.empty() ? (known.empty() ? std::string(" (it takes none)")
                                                             : fmt::format(" (it takes: {})", fmt::join(known, ", ")))
                                            : fmt::format(" (did you mean '{}'?)", hint)));
  }
}

}  // namespace archbench::detail
