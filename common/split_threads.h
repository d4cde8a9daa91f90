// Splitting a range of work over the cores with plain threads, for the preparation work that runs
// outside the kernels (weight initialisation, weight layouts), where Halide's thread pool is not
// at hand.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace archbench {

// Runs body(first, last) on [0, n) cut into contiguous parts, one per core (at most 16; one
// part in all unless `worth_threads`): the first on the calling thread, the rest on threads
// started for the call. Returns when every part is done. `body` must not throw.
template <typename Body>
void split_over_threads(int64_t n, bool worth_threads, const Body& body) {
  const int64_t threads =
      worth_threads ? std::clamp<int64_t>(std::thread::hardware_concurrency(), 1, std::clamp<int64_t>(n, 1, 16)) : 1;
  std::vector<std::thread> workers;
  for (int64_t t = 1; t < threads; ++t) workers.emplace_back(body, n * t / threads, n * (t + 1) / threads);
  body(int64_t{0}, n / threads);
  for (std::thread& w : workers) w.join();
}

}  // namespace archbench
