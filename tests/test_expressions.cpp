#include <boost/test/unit_test.hpp>

#include "networks/detail/values.h"

using namespace archbench;
using namespace archbench::detail;

namespace {
Value eval(const std::string& expr, Env env = {}) { return eval_expr(expr, env, {"x.yaml", 3, 7}); }
std::string error(const std::string& expr, Env env = {}) {
  try {
    eval(expr, env);
  } catch (const SpecError& e) {
    return e.what();
  }
  return "";
}
Env params() {
  Env env;
  env["planes"] = Value{int64_t{64}, {}};
  env["stride"] = Value{int64_t{2}, {}};
  env["unit"] = Value{std::string("bottleneck"), {}};
  env["counts"] = Value{ValueList{Value{int64_t{3}, {}}, Value{int64_t{4}, {}}}, {}};
  env["down"] = Value{true, {}};
  return env;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(expressions)

BOOST_AUTO_TEST_CASE(integer_arithmetic_floors_like_python) {
  BOOST_TEST(eval("planes * 4", params()).as_int() == 256);
  BOOST_TEST(eval("7 / 2").as_int() == 3);
  BOOST_TEST(eval("-7 / 2").as_int() == -4);
  BOOST_TEST(eval("-7 % 3").as_int() == 2);
  BOOST_TEST(eval("2 + 3 * 4 - (1 + 1)").as_int() == 12);
  BOOST_TEST(eval("1.5 * 2").as_number() == 3.0);
}

BOOST_AUTO_TEST_CASE(logic_comparison_ternary_and_calls) {
  Env env = params();
  BOOST_TEST(eval("stride != 1 or planes != 64", env).as_bool() == true);
  BOOST_TEST(eval("not down", env).as_bool() == false);
  BOOST_TEST(eval("unit == 'bottleneck' and stride >= 2", env).as_bool() == true);
  BOOST_TEST(eval("down ? 'downsample.1' : 'x'", env).as_string() == "downsample.1");
  BOOST_TEST(eval("stride == 1 ? 1 : stride == 2 ? 20 : 30", env).as_int() == 20);
  BOOST_TEST(eval("max(1, planes / 100)", env).as_int() == 1);
  BOOST_TEST(eval("min(8, planes, 16)", env).as_int() == 8);
  BOOST_TEST(eval("counts[1] * 2", env).as_int() == 8);
}

BOOST_AUTO_TEST_CASE(substitution_keeps_types_and_interpolates) {
  Env env = params();
  BOOST_TEST(substitute(Value{std::string("$planes"), {}}, env).as_int() == 64);
  BOOST_TEST(substitute(Value{std::string("${planes * 2}"), {}}, env).as_int() == 128);
  BOOST_TEST(substitute(Value{std::string("layer${stride}.${planes / 32}"), {}}, env).as_string() == "layer2.2");
  BOOST_TEST(substitute(Value{std::string("plain"), {}}, env).as_string() == "plain");
  BOOST_TEST(substitute(Value{std::string("$counts"), {}}, env).as_list().size() == 2u);
}

BOOST_AUTO_TEST_CASE(errors_name_the_place_and_the_problem) {
  BOOST_TEST(error("planez * 2", params()) ==
             "x.yaml:3:7: error: in expression 'planez * 2': unknown name 'planez' (did you mean 'planes'?)");
  BOOST_TEST(error("1 / 0") == "x.yaml:3:7: error: in expression '1 / 0': division by zero");
  BOOST_TEST(error("9223372036854775807 + 1") ==
             "x.yaml:3:7: error: in expression '9223372036854775807 + 1': integer overflow");
  BOOST_TEST(error("unit * 2", params()) ==
             "x.yaml:3:7: error: in expression 'unit * 2': '*' needs numbers, got string 'bottleneck' and integer 2");
  BOOST_TEST(error("(1 + 2") == "x.yaml:3:7: error: in expression '(1 + 2': expected ')'");
  BOOST_TEST(error("counts[5]", params()) ==
             "x.yaml:3:7: error: in expression 'counts[5]': index 5 is outside the list of 2");
  BOOST_TEST(error("down ? 1", params()) ==
             "x.yaml:3:7: error: in expression 'down ? 1': expected ':' in 'cond ? a : b'");
}

BOOST_AUTO_TEST_CASE(functions_need_arguments_and_numbers_one_point) {
  BOOST_TEST(error("min()") == "x.yaml:3:7: error: in expression 'min()': min() needs at least one argument");
  BOOST_TEST(error("max( )") == "x.yaml:3:7: error: in expression 'max( )': max() needs at least one argument");
  BOOST_TEST(error("mean(1)") ==
             "x.yaml:3:7: error: in expression 'mean(1)': unknown function 'mean' (known: min, max)");
  BOOST_TEST(error("1.2.3") == "x.yaml:3:7: error: in expression '1.2.3': malformed number '1.2.3'");
  BOOST_TEST(eval("max(7)").as_int() == 7);
}

// The parser recurses once per level; a limit keeps a 100,000-deep expression from exhausting
// the stack. The message does not quote such an expression back.
BOOST_AUTO_TEST_CASE(nesting_is_limited_to_200_levels) {
  auto repeat = [](const std::string& part, int n) {
    std::string out;
    for (int k = 0; k < n; ++k) out += part;
    return out;
  };
  const std::string too_deep = "x.yaml:3:7: error: expression nested deeper than 200 levels";
  BOOST_TEST(eval(repeat("(", 200) + "1" + repeat(")", 200)).as_int() == 1);
  BOOST_TEST(error(repeat("(", 201) + "1" + repeat(")", 201)) == too_deep);
  BOOST_TEST(eval(repeat("not ", 200) + "true").as_bool() == true);
  BOOST_TEST(error(repeat("not ", 100000) + "true") == too_deep);
  BOOST_TEST(eval(repeat("-", 199) + "1").as_int() == -1);
  BOOST_TEST(error(repeat("-", 100000) + "1") == too_deep);
  BOOST_TEST(eval(repeat("true ? ", 200) + "1" + repeat(" : 0", 200)).as_int() == 1);
  BOOST_TEST(error("counts[" + repeat("(", 200) + "0" + repeat(")", 200) + "]", params()) == too_deep);
}

BOOST_AUTO_TEST_SUITE_END()
