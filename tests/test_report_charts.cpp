// SVG charts: marks, axes and escaping.
#include <boost/test/unit_test.hpp>
