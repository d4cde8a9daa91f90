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
    case Activation::Swish: {
      // v * sigmoid(v) = v / (1 + e^-v). With Halide::exp that was 25 vector instructions
      // and the divide per vector at AVX-512 (a floor the target splits into two halves,
      // range checks, 8 FMAs of polynomials); in a 1x1 conv from 16 channels or a depthwise
      // conv, more than the conv itself. This form is 17 and the divide: e^-v = 2^t,
      // t = -v log2(e) clamped to +-126 (beyond it the result is v or 0 to float precision),
      // t = n + f with n = round(t) read from the mantissa of t + 1.5 * 2^23 and |f| <= 1/2;
      // 2^f by a degree-5 polynomial fitted for relative error (2.3e-7 in float arithmetic),
      // 2^n added to its exponent bits.
      // (n << 23 is what the shifted bits of t + 1.5 * 2^23 hold: the constant's own bits
      // shift out of the word.)
      Halide::Expr t = Halide::clamp(v * -1.44269504f, -126.0f, 126.0f);
      Halide::Expr r = t + 12582912.0f;
      Halide::Expr f = t - Halide::cast<float>(Halide::reinterpret<int32_t>(r) - 0x4B400000);
      Halide::Expr p = 0.00132763037f;
      for (float c : {0.00967549067f, 0.0555071346f, 0.240221202f, 0.693146944f, 1.00000012f}) {
        p = p * f + c;
      }
      Halide::Expr e =
          Halide::reinterpret<float>(Halide::reinterpret<uint32_t>(p) + (Halide::reinterpret<uint32_t>(r) << 23));
      return v / (1.0f + e);
    }
    case Activation::None:
      break;
  }
  return v;
}

}  // namespace archbench
