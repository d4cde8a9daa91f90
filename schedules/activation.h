// The activations a kernel's epilogue can fuse, shared by the generators.
#pragma once

#include <map>
#include <string>

#include "Halide.h"

namespace archbench {

enum class Activation { None, ReLU, ReLU6, Swish };

inline std::map<std::string, Activation> activation_names() {
  return {{"none", Activation::None},
          {"relu", Activation::ReLU},
          {"relu6", Activation::ReLU6},
          {"swish", Activation::Swish}};
}

inline Halide::Expr activate(Activation a, Halide::Expr v) {
  switch (a) {
    case Activation::ReLU:
      return Halide::max(v, 0.0f);
    case Activation::ReLU6:
      return Halide::clamp(v, 0.0f, 6.0f);
    case Activation::Swish:
      return v / (1.0f + Halide::exp(-v));
    case Activation::None:
      break;
  }
  return v;
}

}  // namespace archbench
