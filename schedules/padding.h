// Zero padding shared by the generators that read windows of their input.
#pragma once

#include "Halide.h"

namespace archbench {

// `input` read at (c, x, y, n), zero outside its width and height. Clamp + select rather than
// BoundaryConditions, which keeps loop partitioning simple (HALIDE-NOTES.md).
template <typename Input>
Halide::Func zero_padded(const Input& input) {
  Halide::Var c("c"), x("x"), y("y"), n("n");
  Halide::Expr width = input.dim(1).extent(), height = input.dim(2).extent();
  Halide::Func padded("padded");
  Halide::Expr inside = x >= 0 && x < width && y >= 0 && y < height;
  padded(c, x, y, n) =
      Halide::select(inside, input(c, Halide::clamp(x, 0, width - 1), Halide::clamp(y, 0, height - 1), n), 0.0f);
  return padded;
}

}  // namespace archbench
