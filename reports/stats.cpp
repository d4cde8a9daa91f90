// Mann-Whitney U (Mann & Whitney 1947) over benchmark repetitions, written from the textbook definitions:
// U from mid-ranks, the exact null distribution by counting arrangements, the normal approximation with the tie
// correction of the variance and a continuity correction of 1/2 (as in Lehmann, "Nonparametrics", ch. 1).
#include "reports/stats.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace archbench {
namespace {

void require_numbers(const std::vector<double>& v, const std::string& name) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) {
      throw std::invalid_argument(name + " has NaN at repetition " + std::to_string(i) +
                                  "; every repetition must be a number");
    }
  }
}

// Ranks of the pooled sample, summarised for the test.
struct PooledRanks {
  double rank_sum_a = 0;  // sum of a's mid-ranks (ranks start at 1; tied values share their mean rank)
  double tie_term = 0;    // sum over tie groups of t^3 - t
};

PooledRanks pooled_ranks(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<std::pair<double, bool>> pooled;  // (value, belongs to a)
  pooled.reserve(a.size() + b.size());
  for (double x : a) pooled.emplace_back(x, true);
  for (double x : b) pooled.emplace_back(x, false);
  std::sort(pooled.begin(), pooled.end(), [](const auto& l, const auto& r) { return l.first < r.first; });

  PooledRanks ranks;
  for (std::size_t first = 0; first < pooled.size();) {
    std::size_t last = first;  // one past the tie group
    double in_a = 0;
    while (last < pooled.size() && pooled[last].first == pooled[first].first) {
      if (pooled[last].second) in_a += 1;
      ++last;
    }
    // Positions first..last-1 hold ranks first+1..last, whose mean is (first + 1 + last) / 2.
    const double mid_rank = (static_cast<double>(first) + 1 + static_cast<double>(last)) / 2;
    const double t = static_cast<double>(last - first);
    ranks.rank_sum_a += mid_rank * in_a;
    ranks.tie_term += t * t * t - t;
    first = last;
  }
  return ranks;
}

// Number of arrangements of n1 a's and n2 b's giving each value of U (index u = 0..n1*n2), under the null
// hypothesis that every one of the C(n1+n2, n1) arrangements is equally likely.
// Recurrence on the largest value: if it is an a it exceeds all n2 b's, else it adds nothing:
//   N(n1, n2, u) = N(n1 - 1, n2, u - n2) + N(n1, n2 - 1, u).
// Counts are integers at most C(50, 25) ~ 1.3e14 < 2^53 for the sizes we allow, so doubles hold them exactly.
std::vector<double> u_null_counts(std::size_t n1, std::size_t n2) {
  // by_n2[j] = counts for (i, j) as i grows from 0 to n1; with i = 0 only U = 0 is possible.
  std::vector<std::vector<double>> by_n2(n2 + 1, std::vector<double>{1.0});
  for (std::size_t i = 1; i <= n1; ++i) {
    // by_n2[0] for (i, 0) stays {1}; fill j = 1..n2 in order so by_n2[j-1] already holds (i, j-1).
    for (std::size_t j = 1; j <= n2; ++j) {
      std::vector<double> counts(i * j + 1, 0.0);
      const std::vector<double>& a_last = by_n2[j];      // (i-1, j), shifted by j
      const std::vector<double>& b_last = by_n2[j - 1];  // (i, j-1)
      for (std::size_t u = 0; u < a_last.size(); ++u) counts[u + j] += a_last[u];
      for (std::size_t u = 0; u < b_last.size(); ++u) counts[u] += b_last[u];
      by_n2[j] = std::move(counts);
    }
  }
  return by_n2[n2];
}

double exact_two_sided_p(double u, std::size_t n1, std::size_t n2) {
  const std::vector<double> counts = u_null_counts(n1, n2);
  const auto observed = static_cast<std::size_t>(std::llround(u));
  double total = 0, at_most = 0, at_least = 0;
  for (std::size_t k = 0; k < counts.size(); ++k) {
    total += counts[k];
    if (k <= observed) at_most += counts[k];
    if (k >= observed) at_least += counts[k];
  }
  return std::min(1.0, 2 * std::min(at_most, at_least) / total);
}

}  // namespace

MannWhitney mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b) {
  require_numbers(a, "sample a");
  require_numbers(b, "sample b");
  MannWhitney result;
  if (a.empty() || b.empty()) return result;  // nothing to compare: U = 0, p = 1

  const double n1 = static_cast<double>(a.size()), n2 = static_cast<double>(b.size()), n = n1 + n2;
  const PooledRanks ranks = pooled_ranks(a, b);
  result.u = ranks.rank_sum_a - n1 * (n1 + 1) / 2;

  if (ranks.tie_term == 0 && a.size() <= kMannWhitneyExactMaxSize && b.size() <= kMannWhitneyExactMaxSize) {
    result.exact = true;
    result.p_value = exact_two_sided_p(result.u, a.size(), b.size());
    return result;
  }

  // Under the null, E[U] = n1 n2 / 2 and Var[U] = n1 n2 / 12 * ((n + 1) - sum(t^3 - t) / (n (n - 1))).
  const double mean = n1 * n2 / 2;
  const double variance = n1 * n2 / 12 * ((n + 1) - ranks.tie_term / (n * (n - 1)));
  if (!(variance > 0)) return result;  // every value the same: no evidence of a difference, p = 1
  const double z = (std::abs(result.u - mean) - 0.5) / std::sqrt(variance);
  // Two-sided: 2 * (1 - Phi(z)) = erfc(z / sqrt(2)); a negative z (|U - mean| < 1/2) gives more than 1, so clip.
  result.p_value = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
  return result;
}

AbComparison compare_samples(const std::vector<double>& a, const std::vector<double>& b, double alpha) {
  if (!(alpha > 0 && alpha < 1)) {
    throw std::invalid_argument("alpha must be in (0, 1), got " + std::to_string(alpha));
  }
  require_numbers(a, "sample a");
  require_numbers(b, "sample b");

  AbComparison c;
  if (!a.empty()) c.median_a = median_of(a);
  if (!b.empty()) c.median_b = median_of(b);
  if (c.median_a > 0 && c.median_b > 0) {
    c.ratio = c.median_b / c.median_a;
    c.speedup = c.median_a / c.median_b;
  }
  c.test = mann_whitney_u(a, b);
  c.enough_samples = a.size() >= kMinReliableRepetitions && b.size() >= kMinReliableRepetitions;

  if (a.size() < 2 || b.size() < 2) {
    c.verdict = "too few repetitions";
    return c;
  }
  c.significant = c.test.p_value < alpha;
  // The direction comes from the tested statistic: U above its mean n1 n2 / 2 means A's times tend to be larger.
  const double u_mean = static_cast<double>(a.size()) * static_cast<double>(b.size()) / 2;
  if (!c.significant) {
    c.verdict = "same (within noise)";
  } else {
    c.verdict = c.test.u > u_mean ? "faster" : "slower";
  }
  return c;
}

double median_of(std::vector<double> v) {
  if (v.empty()) throw std::invalid_argument("median_of: the sample is empty; expected at least one value");
  require_numbers(v, "median_of: sample");
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  if (v.size() % 2 == 1) return v[mid];
  const double upper = v[mid];
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return lower + (upper - lower) / 2;
}

}  // namespace archbench
