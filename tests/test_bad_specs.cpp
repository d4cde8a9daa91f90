// Every file in tests/bad_specs/ must fail to load with exactly the message its first line
// states ("# expect: ..."; paths relative to the tests folder). Files in bad_specs/parts/ are
// pieces the others include.
#include <sys/stat.h>
#include <boost/test/unit_test.hpp>

#include <fstream>

#include "helpers.h"

using namespace archbench;
using namespace archbench::test;

BOOST_AUTO_TEST_SUITE(bad_specs)

BOOST_AUTO_TEST_CASE(each_bad_spec_gives_its_message) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(test_dir() / "bad_specs"))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  BOOST_TEST(files.size() >= 30u);
  for (const auto& file : files) {
    BOOST_TEST_CONTEXT(file.filename().string()) {
      std::ifstream in(file);
      std::string first;
      std::getline(in, first);
      const std::string tag = "# expect: ";
      BOOST_TEST_REQUIRE(first.rfind(tag, 0) == 0u);
      std::string expected = first.substr(tag.size());
      std::string got = "(it loaded)";
      try {
        load_spec(file);
      } catch (const SpecError& e) {
        got = e.what();
        std::string dir = test_dir().string() + "/";
        for (size_t p; (p = got.find(dir)) != std::string::npos;) got.erase(p, dir.size());
      }
      BOOST_TEST(got == expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(missing_spec_file) {
  try {
    load_spec(test_dir() / "bad_specs" / "no_such_spec.yaml");
    BOOST_FAIL("loaded a missing file");
  } catch (const SpecError& e) {
    std::string got = e.what();
    BOOST_TEST(got == (test_dir() / "bad_specs" / "no_such_spec.yaml").string() +
                          ": error: cannot open spec: No such file or directory");
  }
}

namespace {

// A one-layer spec whose layer line is line 4 of the text.
std::string one_layer(const std::string& layer) {
  return "name: t\ninput: [1, 3, 16, 16]\nlayers:\n  - " + layer + "\n";
}

// "inline.yaml:4:C" where C is the 1-based column of `value` on the layer line.
std::string at_value(const std::string& layer, const std::string& value) {
  return "inline.yaml:4:" + std::to_string(layer.find(value) + 5);
}

}  // namespace

// Scalars of user-chosen size are scanned by hand: the std::regex checks they replace
// recursed per character and overflowed the stack at about 30,000.
BOOST_AUTO_TEST_CASE(long_names_and_numbers_do_not_overflow_the_stack) {
  const std::string long_name(30000, 'a');
  Graph g = load_text(one_layer("{name: " + long_name + ", op: relu}"));
  BOOST_TEST(g.layers.back().name == long_name);

  std::string bad_name = long_name + "!";
  std::string layer = "{name: " + bad_name + ", op: relu}";
  BOOST_TEST(error_of(one_layer(layer)) == at_value(layer, bad_name) + ": error: layer '" + bad_name +
                                               "': a name may hold letters, digits and _ . - / only");

  std::string digits(30000, '7');
  layer = "{name: c, op: conv, kernel: 1, out: " + digits + "}";
  BOOST_TEST(error_of(one_layer(layer)) == at_value(layer, digits) + ": error: layer 'c': integer " +
                                               std::string(40, '7') + "... (30000 characters) does not fit in 64 bits");

  // A fraction too small for a double rounds to zero, as other YAML readers have it.
  std::string tiny = "0." + std::string(29998, '0') + "1";
  g = load_text(one_layer("{name: d, op: dropout, p: " + tiny + "}"));
  BOOST_TEST(std::get<DropoutAttrs>(g.layers.back().attrs).p == 0.0);
}

BOOST_AUTO_TEST_CASE(deeply_nested_expressions_are_refused) {
  for (const std::string& nest : {std::string(5000, '('), std::string(100000, '-')}) {
    std::string expr = "\"${" + nest + "1" + (nest[0] == '(' ? std::string(5000, ')') : "") + "}\"";
    std::string layer = "{name: c, op: conv, kernel: 1, out: " + expr + "}";
    BOOST_TEST(error_of(one_layer(layer)) ==
               at_value(layer, expr) + ": error: layer 'c': expression nested deeper than 200 levels");
  }
}

// Aliases of aliases: seven levels of ten make ten million list items from seven lines.
BOOST_AUTO_TEST_CASE(yaml_alias_bombs_are_refused) {
  std::string bomb = "[&a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]";
  for (int level = 1; level <= 7; ++level) {
    bomb += ", &a" + std::to_string(level) + " [";
    for (int k = 0; k < 10; ++k) bomb += (k ? ", *a" : "*a") + std::to_string(level - 1);
    bomb += "]";
  }
  bomb += "]";
  std::string layer = "{name: c, op: conv, out: 4, kernel: " + bomb + "}";
  BOOST_TEST(error_of(one_layer(layer)) ==
             at_value(layer, bomb) + ": error: layer 'c': the spec expands to more than 1000000 YAML nodes (aliases?)");
}

// Slice ranges and clip bounds written as expressions, and inside a block: the error is at the
// value (or the layer), names the layer and, in a block, where the block was used.
BOOST_AUTO_TEST_CASE(slice_and_clip_values_from_expressions_and_blocks) {
  std::string entry = "{name: s, op: slice, channels: [\"${2 - 3}\", 2]}";
  BOOST_TEST(error_of(one_layer(entry)) ==
             at_value(entry, "[") +
                 ": error: layer 's': channels [-1, 2) must satisfy 0 <= begin < end <= 3 (the input has 3 channels)");
  entry = "{name: c, op: clip, min: \"${1 + 1}\", max: 1}";
  BOOST_TEST(error_of(one_layer(entry)) == "inline.yaml:4:5: error: layer 'c': min 2 is greater than max 1");
  // ShuffleNet's split into halves as a block.
  const std::string spec = R"(name: t
input: [1, 6, 8, 8]
blocks:
  halves:
    params: {c: ~}
    layers:
      - {name: left, op: slice, channels: [0, "${c / 2}"]}
      - {name: right, op: slice, inputs: x, channels: ["${c / 2}", $c]}
layers:
  - {block: halves, name: split, args: {c: CHANNELS}}
)";
  auto with = [&](const std::string& channels) {
    std::string text = spec;
    text.replace(text.find("CHANNELS"), 8, channels);
    return text;
  };
  Graph g = load_text(with("6"));
  BOOST_TEST((layer(g, "split.left").output == Shape{1, 3, 8, 8}));
  BOOST_TEST((layer(g, "split.right").output == Shape{1, 3, 8, 8}));
  BOOST_TEST(error_of(with("8")) ==
             "inline.yaml:8:55: error: layer 'split.right': channels [4, 8) must satisfy 0 <= begin < end <= 6 (the "
             "input has 6 channels) (in block 'halves' used at inline.yaml:10:5)");
}

BOOST_AUTO_TEST_CASE(only_regular_files_are_read) {
  std::filesystem::path dir = scratch("bad_spec_files");
  try {
    load_spec(dir);
    BOOST_FAIL("loaded a directory");
  } catch (const SpecError& e) {
    BOOST_TEST(std::string(e.what()) == dir.string() + ": error: cannot open spec: Is a directory");
  }

  // A FIFO with no writer would block the include forever.
  BOOST_TEST_REQUIRE(::mkfifo((dir / "pipe.yaml").c_str(), 0600) == 0);
  {
    std::ofstream out(dir / "spec.yaml");
    out << "name: t\ninput: [1, 3, 16, 16]\ninclude: pipe.yaml\nlayers:\n  - {name: r, op: relu}\n";
  }
  try {
    load_spec(dir / "spec.yaml");
    BOOST_FAIL("included a FIFO");
  } catch (const SpecError& e) {
    BOOST_TEST(std::string(e.what()) == (dir / "spec.yaml").string() + ":3:10: error: cannot open included file " +
                                            "'pipe.yaml' (" + (dir / "pipe.yaml").string() +
                                            "): it is not a regular file");
  }

  // A spec named on the command line may be a pipe (`analyze <(generate)`), so it is read,
  // but not without end.
  try {
    load_spec("/dev/zero");
    BOOST_FAIL("loaded /dev/zero");
  } catch (const SpecError& e) {
    BOOST_TEST(std::string(e.what()) == "/dev/zero: error: the file is larger than 64 MiB; is it a spec?");
  }
}

BOOST_AUTO_TEST_SUITE_END()
