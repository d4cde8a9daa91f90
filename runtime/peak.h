// This machine's fp32 peak, for percent-of-peak and roofline figures.
#pragma once

#include <string>

namespace archbench {

struct MachinePeak {
  double gflops = 0;  // fp32 fused multiply-add throughput, all threads
  double gbps = 0;    // memory bandwidth of a STREAM-style triad, all threads (reads + writes)
  int threads = 0;
  std::string isa;  // "avx512", "avx2" or "sse"
};

// Measures both: the FMA loop runs independent accumulator chains (enough to hide the FMA
// latency on two ports) for `seconds` per thread; the triad streams arrays of 64 MiB each.
// The best of `repetitions` runs is reported.
MachinePeak measure_peak(int threads = 0, double seconds = 0.5, int repetitions = 5);

}  // namespace archbench
