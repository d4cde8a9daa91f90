#include "runtime/peak.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "runtime/executor.h"

namespace archbench {

namespace {

using Clock = std::chrono::steady_clock;

// Each function runs `iters` rounds of 12 independent FMA chains and returns a value that
// depends on all of them, so the compiler keeps the work. FLOPs per round: 12 x lanes x 2.
__attribute__((target("avx512f"))) float fma_avx512(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-6f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
  __m512 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm512_add_ps(sum, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

__attribute__((target("avx2,fma"))) float fma_avx2(int64_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-6f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
  __m256 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm256_add_ps(sum, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

float mul_add_sse(int64_t iters) {  // no FMA: a multiply and an add count as 2 FLOPs
  __m128 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m128 mul = _mm_set1_ps(0.999999f), add = _mm_set1_ps(1e-6f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], mul), add);
  __m128 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm_add_ps(sum, acc[i]);
  float lanes[4];
  _mm_storeu_ps(lanes, sum);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

// Runs `work(thread)` on `threads` threads started together; returns the wall seconds.
template <typename Work>
double parallel_seconds(int threads, Work work) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      work(t);
    });
  while (ready.load() < threads) std::this_thread::yield();
  auto t0 = Clock::now();
  go.store(true);
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

MachinePeak measure_peak(int threads, double seconds, int repetitions) {
  MachinePeak p;
  p.threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int lanes;
  float (*kernel)(int64_t);
  // The level the cpu kernel set dispatches to (ARCHBENCH_CPU_ISA may cap it).
  const CpuIsa isa = cpu_isa();
  if (isa == CpuIsa::Avx512) {
    p.isa = "avx512", lanes = 16, kernel = fma_avx512;
  } else if (isa == CpuIsa::Avx2) {
    p.isa = "avx2", lanes = 8, kernel = fma_avx2;
  } else {
    p.isa = "sse", lanes = 4, kernel = mul_add_sse;
  }
  // Calibrate the iteration count for `seconds` on one thread.
  int64_t iters = 1 << 16;
  for (;;) {
    auto t0 = Clock::now();
    volatile float sink = kernel(iters);
    (void)sink;
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > seconds / 4 || iters > (int64_t{1} << 40)) {
      iters = static_cast<int64_t>(static_cast<double>(iters) * seconds / std::max(s, 1e-9));
      break;
    }
    iters *= 4;
  }
  std::vector<float> sinks(static_cast<size_t>(p.threads));
  for (int r = 0; r < repetitions; ++r) {
    double s = parallel_seconds(p.threads, [&](int t) { sinks[static_cast<size_t>(t)] = kernel(iters); });
    double flops = static_cast<double>(iters) * 12.0 * lanes * 2.0 * p.threads;
    p.gflops = std::max(p.gflops, flops / s / 1e9);
  }

  // Triad a = b + s * c over per-thread slices: 12 bytes moved per element.
  const size_t n = (size_t{64} << 20) / sizeof(float);
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  size_t chunk = n / static_cast<size_t>(p.threads);
  for (int r = 0; r < repetitions + 1; ++r) {  // the first run faults the pages in
    double s = parallel_seconds(p.threads, [&](int t) {
      size_t lo = chunk * static_cast<size_t>(t), hi = t + 1 == p.threads ? n : lo + chunk;
      for (size_t i = lo; i < hi; ++i) a[i] = b[i] + 3.0f * c[i];
    });
    if (r > 0) p.gbps = std::max(p.gbps, 12.0 * static_cast<double>(n) / s / 1e9);
  }
  volatile float keep = a[n / 2] + sinks[0];
  (void)keep;
  return p;
}

}  // namespace archbench
