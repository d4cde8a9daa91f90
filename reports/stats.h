// stats: significance of a difference between two sets of repetitions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace archbench {

// Both samples at or below this size and no ties: exact null distribution of U (counts stay below 2^53).
constexpr std::size_t kMannWhitneyExactMaxSize = 25;
// Fewer repetitions than this in either sample and the A/B verdict is unreliable (Google Benchmark's advice).
constexpr std::size_t kMinReliableRepetitions = 9;

// Two-sided Mann-Whitney U test of "a and b come from the same distribution".
struct MannWhitney {
  double u = 0;        // U statistic of sample a: pairs with a_i > b_j, ties count 1/2
  double p_value = 1;  // two-sided; 1 when a sample is empty or every value is the same
  bool exact = false;  // exact null distribution (small samples, no ties) or normal approximation
};

// Throws std::invalid_argument when a sample holds NaN.
MannWhitney mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b);

// Latency of run A against run B, with the verdict of the test.
struct AbComparison {
  double median_a = 0, median_b = 0;  // 0 for an empty sample
  double ratio = 0;                   // median_b / median_a: < 1 means B is faster; 0 unless both medians > 0
  double speedup = 0;                 // median_a / median_b: > 1 means B is faster; 0 unless both medians > 0
  MannWhitney test;                   // the test over all repetitions
  bool significant = false;           // test.p_value < alpha, with at least 2 repetitions in each sample
  bool enough_samples = false;        // both samples have >= kMinReliableRepetitions (else mark the verdict unreliable)
  // For B: "faster", "slower", "same (within noise)", or "too few repetitions" (< 2 values in a sample).
  std::string verdict;
};

// Compares timings of A and B at level alpha in (0, 1); throws std::invalid_argument on NaN or a bad alpha.
AbComparison compare_samples(const std::vector<double>& a, const std::vector<double>& b, double alpha = 0.05);

// Median (mean of the middle two for an even count); throws std::invalid_argument when empty or holding NaN.
double median_of(std::vector<double> v);

}  // namespace archbench
