// GPU schedule pieces shared by the generators.
#pragma once

#include "Halide.h"

namespace archbench {

// One output per thread: the channels and columns of a row fused and dealt out `threads` to a
// block, channels innermost (coalesced loads and stores, and no idle threads when the channel
// count is small or odd: 3, 21, 33); rows x batch are the second block dimension. Returns the
// thread variable, where a per-output reduction is computed.
inline Halide::Var rows_on_gpu(Halide::Func output, const Halide::Var& c, const Halide::Var& x, const Halide::Var& y,
                               const Halide::Var& n, int threads) {
  Halide::Var cx("cx"), cxo("cxo"), cxi("cxi"), yn("yn");
  output.fuse(c, x, cx)
      .split(cx, cxo, cxi, threads, Halide::TailStrategy::GuardWithIf)
      .fuse(y, n, yn)
      .gpu_blocks(cxo, yn)
      .gpu_threads(cxi);
  return cxi;
}

}  // namespace archbench
