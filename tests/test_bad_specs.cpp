// Every file in tests/bad_specs/ must fail to load with exactly the message its first line
// states ("# expect: ..."; paths relative to the tests folder). Files in bad_specs/parts/ are
// pieces the others include.
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

BOOST_AUTO_TEST_SUITE_END()
