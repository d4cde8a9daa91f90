// Mann-Whitney U and the A/B verdict on synthetic data with known answers.
#include <boost/test/unit_test.hpp>
