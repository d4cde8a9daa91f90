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

// One output per thread: blocks of 32 channels (threads, coalesced) x `pixels` columns of a row
// (threads). The fused rows of every image, the largest count, take the first grid dimension
// (the only one not capped at 65535 blocks). Returns the channel thread variable, where a
// per-output reduction is computed.
inline Halide::Var channel_tiles_on_gpu(Halide::Func output, const Halide::Var& c, const Halide::Var& x,
                                        const Halide::Var& y, const Halide::Var& n, int pixels) {
  Halide::Var co("co"), ci("ci"), xo("xo"), xi("xi"), yn("yn");
  output.split(c, co, ci, 32, Halide::TailStrategy::GuardWithIf)
      .split(x, xo, xi, pixels, Halide::TailStrategy::GuardWithIf)
      .fuse(y, n, yn)
      .reorder(ci, xi, yn, xo, co)
      .gpu_blocks(yn, xo, co)
      .gpu_threads(ci, xi);
  return ci;
}

}  // namespace archbench
