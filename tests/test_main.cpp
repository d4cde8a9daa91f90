#define BOOST_TEST_MODULE archbench
#include <boost/test/unit_test.hpp>
