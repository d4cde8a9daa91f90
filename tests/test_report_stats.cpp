// Mann-Whitney U and the A/B verdict on synthetic data with known answers.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "reports/stats.h"

using namespace archbench;

namespace {

// Exact two-sided p by brute force: every one of the C(n1+n2, n1) ways to give the pooled ranks to a, each
// equally likely under the null. A different algorithm from the library's recurrence, so an independent check.
// Needs distinct values.
double enumerated_p(const std::vector<double>& a, const std::vector<double>& b) {
  double observed = 0;
  for (double x : a) {
    for (double y : b) observed += x > y ? 1 : 0;
  }
  const unsigned n = static_cast<unsigned>(a.size() + b.size());
  double total = 0, at_most = 0, at_least = 0;
  for (std::uint32_t mask = 0; mask < (std::uint32_t{1} << n); ++mask) {
    if (static_cast<std::size_t>(std::popcount(mask)) != a.size()) continue;
    // Bit k set: the k-th smallest pooled value is a's; it exceeds every b below it.
    double u = 0, b_below = 0;
    for (unsigned k = 0; k < n; ++k) {
      if (mask & (std::uint32_t{1} << k)) {
        u += b_below;
      } else {
        b_below += 1;
      }
    }
    total += 1;
    if (u <= observed) at_most += 1;
    if (u >= observed) at_least += 1;
  }
  return std::min(1.0, 2 * std::min(at_most, at_least) / total);
}

std::vector<double> ramp(double start, double step, int count) {
  std::vector<double> v;
  for (int i = 0; i < count; ++i) v.push_back(start + step * i);
  return v;
}

std::string message_of(const std::invalid_argument& e) { return e.what(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(stats)

BOOST_AUTO_TEST_CASE(exact_p_for_separated_samples) {
  // a entirely below b: U = 0, and only 1 of the C(n1+n2, n1) arrangements is as extreme on each side.
  MannWhitney t = mann_whitney_u({1, 2, 3}, {4, 5, 6});
  BOOST_TEST(t.exact);
  BOOST_TEST(t.u == 0.0);
  BOOST_TEST(t.p_value == 2.0 / 20, boost::test_tools::tolerance(1e-14));  // C(6,3) = 20

  t = mann_whitney_u({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  BOOST_TEST(t.exact);
  BOOST_TEST(t.u == 0.0);
  BOOST_TEST(t.p_value == 2.0 / 252, boost::test_tools::tolerance(1e-14));  // C(10,5) = 252

  // The largest exact case: 25 + 25, C(50,25) = 126410606437752 arrangements, counted without rounding.
  t = mann_whitney_u(ramp(0, 1, 25), ramp(100, 1, 25));
  BOOST_TEST(t.exact);
  BOOST_TEST(t.u == 0.0);
  BOOST_TEST(t.p_value == 2.0 / 126410606437752.0, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(exact_p_worked_by_hand) {
  // a = {1,3,5}, b = {2,4,6}: U = (3>2) + (5>2) + (5>4) = 3. The null counts of U = 0..9 for 3 + 3 are
  // 1,1,2,3,3,3,3,2,1,1 (partitions in a 3x3 box), so P(U <= 3) = 7/20 and p = 14/20.
  MannWhitney t = mann_whitney_u({1, 3, 5}, {2, 4, 6});
  BOOST_TEST(t.exact);
  BOOST_TEST(t.u == 3.0);
  BOOST_TEST(t.p_value == 0.7, boost::test_tools::tolerance(1e-14));

  // a = {1,4}, b = {2,3}: U = 2 = n1 n2 / 2, the centre; both tails hold 4 of 6 arrangements, p clipped to 1.
  t = mann_whitney_u({1, 4}, {2, 3});
  BOOST_TEST(t.u == 2.0);
  BOOST_TEST(t.p_value == 1.0);
}

BOOST_AUTO_TEST_CASE(exact_p_matches_enumeration) {
  // 6 + 7, U = 12 below the mean 21: P(U <= 12) = 201/1716, p = 402/1716 = 0.234265734...
  const std::vector<double> a1 = {1.1, 3.4, 5.0, 7.2, 2.2, 9.9}, b1 = {4.1, 6.3, 8.8, 0.5, 10.2, 11.7, 12.0};
  // 4 + 9, U = 28 above the mean 18: P(U >= 28) = 53/715, p = 0.148251748...
  const std::vector<double> a2 = {30, 31, 2, 33}, b2 = {1, 3, 4, 5, 6, 7, 8, 9, 10};
  // 10 + 10 interleaved, U = 0 + 1 + ... + 9 = 45: p = 2 * 68301 / 184756 = 0.739364350...
  const std::vector<double> a3 = ramp(1, 2, 10), b3 = ramp(2, 2, 10);
  // 1 + 12: a single value in the middle, above 0..5, U = 6.
  const std::vector<double> a4 = {5.5}, b4 = ramp(0, 1, 12);

  const double expected_u[] = {12, 28, 45, 6};
  const double expected_p[] = {402.0 / 1716, 106.0 / 715, 2 * 68301.0 / 184756, -1};
  const std::vector<double>* samples[][2] = {{&a1, &b1}, {&a2, &b2}, {&a3, &b3}, {&a4, &b4}};
  for (int k = 0; k < 4; ++k) {
    const MannWhitney t = mann_whitney_u(*samples[k][0], *samples[k][1]);
    BOOST_TEST_CONTEXT("case " << k) {
      BOOST_TEST(t.exact);
      BOOST_TEST(t.u == expected_u[k]);
      BOOST_TEST(t.p_value == enumerated_p(*samples[k][0], *samples[k][1]), boost::test_tools::tolerance(1e-12));
      if (expected_p[k] >= 0) BOOST_TEST(t.p_value == expected_p[k], boost::test_tools::tolerance(1e-12));
    }
  }
}

BOOST_AUTO_TEST_CASE(normal_approximation_with_ties) {
  // a = {1,2,2,3,4}, b = {2,3,3,5,6,6}; n1 = 5, n2 = 6, n = 11. Pooled and ranked:
  //   1a | 2a 2a 2b | 3a 3b 3b | 4a | 5b | 6b 6b   ->  mid-ranks 1 | 3 | 6 | 8 | 9 | 10.5
  // R_a = 1 + 3 + 3 + 6 + 8 = 21, U = R_a - n1 (n1 + 1) / 2 = 21 - 15 = 6 (pairs: 0 + 0.5 + 0.5 + 2 + 3).
  // Mean n1 n2 / 2 = 15. Tie groups of 3, 3, 2: sum(t^3 - t) = 24 + 24 + 6 = 54.
  // Var = n1 n2 / 12 * ((n + 1) - 54 / (n (n - 1))) = 2.5 * (12 - 54/110) = 633/22 = 28.7727..., sd = 5.364021558.
  // z = (|6 - 15| - 0.5) / sd = 1.584631961, p = 2 (1 - Phi(z)) = erfc(z / sqrt 2) = 0.113049978856.
  // (scipy.stats.mannwhitneyu(a, b, alternative='two-sided', method='asymptotic') uses this same formula.)
  const MannWhitney t = mann_whitney_u({1, 2, 2, 3, 4}, {2, 3, 3, 5, 6, 6});
  BOOST_TEST(!t.exact);  // ties rule out the exact distribution
  BOOST_TEST(t.u == 6.0);
  BOOST_TEST(t.p_value == 0.11304997885632297, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(normal_approximation_for_large_samples) {
  // 1000 + 1000, evens against odds: U = 0 + 1 + ... + 999 = 499500, mean 500000, no ties:
  // Var = n1 n2 (n + 1) / 12 = 166750000, z = 499.5 / 12913.17157 = 0.038681434, p = 0.969144375470.
  const MannWhitney t = mann_whitney_u(ramp(0, 2, 1000), ramp(1, 2, 1000));
  BOOST_TEST(!t.exact);
  BOOST_TEST(t.u == 499500.0);
  BOOST_TEST(t.p_value == 0.969144375470434, boost::test_tools::tolerance(1e-10));

  // Fully separated: z ~ 38.7, a p far below any alpha (it may underflow to 0), never negative or NaN.
  const MannWhitney s = mann_whitney_u(ramp(0, 1, 1000), ramp(1000, 1, 1000));
  BOOST_TEST(s.u == 0.0);
  BOOST_TEST(s.p_value >= 0.0);
  BOOST_TEST(s.p_value < 1e-300);

  // Just above the exact limit (26 values) the approximation takes over even without ties.
  BOOST_TEST(!mann_whitney_u(ramp(0, 1, 26), ramp(0.5, 1, 5)).exact);
}

BOOST_AUTO_TEST_CASE(symmetric_in_the_samples) {
  const std::vector<std::vector<double>> as = {{1.1, 3.4, 5.0, 7.2, 2.2, 9.9}, {1, 2, 2, 3, 4}, ramp(0, 2, 40)};
  const std::vector<std::vector<double>> bs = {
      {4.1, 6.3, 8.8, 0.5, 10.2, 11.7, 12.0}, {2, 3, 3, 5, 6, 6}, ramp(5, 3, 30)};
  for (std::size_t k = 0; k < as.size(); ++k) {
    const MannWhitney ab = mann_whitney_u(as[k], bs[k]), ba = mann_whitney_u(bs[k], as[k]);
    BOOST_TEST_CONTEXT("case " << k) {
      BOOST_TEST(ab.p_value == ba.p_value, boost::test_tools::tolerance(1e-14));
      BOOST_TEST(ab.u + ba.u == static_cast<double>(as[k].size() * bs[k].size()));
      BOOST_TEST(ab.exact == ba.exact);
    }
  }
}

BOOST_AUTO_TEST_CASE(degenerate_samples) {
  // Empty: nothing to compare.
  MannWhitney t = mann_whitney_u({}, {1, 2});
  BOOST_TEST(t.u == 0.0);
  BOOST_TEST(t.p_value == 1.0);
  BOOST_TEST(mann_whitney_u({}, {}).p_value == 1.0);

  // Every value the same: variance 0 after the tie correction, U at its mean 3, p = 1.
  t = mann_whitney_u({3, 3, 3}, {3, 3});
  BOOST_TEST(!t.exact);
  BOOST_TEST(t.u == 3.0);
  BOOST_TEST(t.p_value == 1.0);

  const double nan = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(mann_whitney_u({1, 2}, {3, nan, 4}), std::invalid_argument, [](const auto& e) {
    return message_of(e) == "sample b has NaN at repetition 1; every repetition must be a number";
  });
}

BOOST_AUTO_TEST_CASE(median) {
  BOOST_TEST(median_of({5, 1, 3}) == 3.0);
  BOOST_TEST(median_of({4, 1, 3, 2}) == 2.5);
  BOOST_TEST(median_of({7}) == 7.0);
  BOOST_CHECK_THROW(median_of({}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(compare_clearly_slower_b) {
  // A: 10.00 .. 10.09, B: 12.00 .. 12.09. Medians 10.045 and 12.045; U = 0, exact p = 2 / C(20,10) = 1.0825e-5.
  const AbComparison c = compare_samples(ramp(10.0, 0.01, 10), ramp(12.0, 0.01, 10));
  BOOST_TEST(c.median_a == 10.045, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(c.median_b == 12.045, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(c.speedup == 10.045 / 12.045, boost::test_tools::tolerance(1e-12));  // 0.83396...
  BOOST_TEST(c.ratio == 12.045 / 10.045, boost::test_tools::tolerance(1e-12));    // 1.19910...
  BOOST_TEST(c.test.exact);
  BOOST_TEST(c.test.u == 0.0);
  BOOST_TEST(c.test.p_value == 2.0 / 184756, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(c.significant);
  BOOST_TEST(c.enough_samples);
  BOOST_TEST(c.verdict == "slower");

  // The same runs the other way round: B is faster.
  const AbComparison r = compare_samples(ramp(12.0, 0.01, 10), ramp(10.0, 0.01, 10));
  BOOST_TEST(r.speedup == 12.045 / 10.045, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(r.verdict == "faster");
}

BOOST_AUTO_TEST_CASE(compare_within_noise) {
  // Interleaved: A = 1, 3, ..., 19 and B = 2, 4, ..., 20; U = 45, exact p = 0.7394 (see exact_p_matches_enumeration).
  const AbComparison c = compare_samples(ramp(1, 2, 10), ramp(2, 2, 10));
  BOOST_TEST(c.test.p_value == 2 * 68301.0 / 184756, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(!c.significant);
  BOOST_TEST(c.enough_samples);
  BOOST_TEST(c.verdict == "same (within noise)");
  BOOST_TEST(c.median_a == 10.0);
  BOOST_TEST(c.median_b == 11.0);
}

BOOST_AUTO_TEST_CASE(compare_few_repetitions) {
  // 5 + 5 fully separated: p = 2/252 = 0.0079 < 0.05, but below 9 repetitions the verdict is flagged unreliable.
  AbComparison c = compare_samples({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  BOOST_TEST(c.significant);
  BOOST_TEST(!c.enough_samples);
  BOOST_TEST(c.verdict == "slower");

  // A stricter alpha turns the same data into noise.
  c = compare_samples({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}, 0.005);
  BOOST_TEST(!c.significant);
  BOOST_TEST(c.verdict == "same (within noise)");

  // Fewer than 2 values in a sample: no verdict at all.
  c = compare_samples({}, {1, 2, 3});
  BOOST_TEST(c.verdict == "too few repetitions");
  BOOST_TEST(c.test.p_value == 1.0);
  BOOST_TEST(!c.significant);
  BOOST_TEST(c.median_a == 0.0);
  BOOST_TEST(c.median_b == 2.0);
  BOOST_TEST(c.speedup == 0.0);  // undefined without both medians
  c = compare_samples({4}, {1, 2, 3});
  BOOST_TEST(c.verdict == "too few repetitions");
  BOOST_TEST(c.speedup == 2.0);
}

BOOST_AUTO_TEST_CASE(compare_rejects_bad_input) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(compare_samples({1, 2, nan}, {1, 2, 3}), std::invalid_argument, [](const auto& e) {
    return message_of(e) == "sample a has NaN at repetition 2; every repetition must be a number";
  });
  BOOST_CHECK_EXCEPTION(compare_samples({1, 2}, {1, 2}, 1.5), std::invalid_argument,
                        [](const auto& e) { return message_of(e).rfind("alpha must be in (0, 1)", 0) == 0; });
}

BOOST_AUTO_TEST_SUITE_END()
