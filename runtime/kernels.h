// Internal to runtime/: the C++ side of the Halide kernel families — weight preparation
// (batch-norm folding, re-layout) and calls into the ahead-of-time compiled variants.
#pragma once

#include <HalideBuffer.h>

#include <optional>
#include <string>
#include <vector>

#include "networks/networks.h"
#include "runtime/runtime.h"

namespace archbench::kernels {

using Buffer = Halide::Runtime::Buffer<float>;

// Activations as Halide sees them: dims (c, x, y, n), channels innermost.
Buffer to_halide(const Tensor& nchw);
Tensor to_nchw(const Buffer& cxyn);

enum class Activation { None, ReLU, ReLU6, Swish };

// Folded batch-norm after a conv: y = (x - mean) / sqrt(var + eps) * gamma + beta.
struct BatchNormParams {
  const Tensor *gamma, *beta, *mean, *var;
  double eps;
};

// A convolution ready to run, the bias with any batch-norm folded in. Dense and grouped:
// one filter per group, laid out (co, ci, kx, ky) with output channels innermost. Depthwise
// (groups = input channels = output channels): one filter laid out (c, kx, ky).
struct PreparedConv {
  Window win;
  int64_t groups = 1;
  bool depthwise = false;
  std::vector<Buffer> filters;  // per group (one when depthwise)
  std::vector<Buffer> biases;   // per group (one when depthwise)
};

// weight: PyTorch [Cout, Cin/groups, kh, kw]; bias may be null.
PreparedConv prepare_conv(const ConvAttrs& attrs, const Tensor& weight, const Tensor* bias,
                          const std::optional<BatchNormParams>& bn);

enum class ConvSchedule { Auto, Tiled, Narrow, Simple };

// output = act(conv(input) + bias [+ skip]). `output` has its final size allocated. Auto
// picks the tiled variant where the output is at least one register tile in channels and
// width (schedules/tiles.h), the narrow one for 7..11-wide outputs, else simple (and for
// dilations past kConvMaxTiledDilation); a `skip`
// aliasing the output always runs simple (ShiftInwards recomputes edge tiles). Throws
// RuntimeError.
void run_conv(const PreparedConv& conv, const Buffer& input, const Buffer* skip, Buffer& output, Activation act,
              ConvSchedule schedule = ConvSchedule::Auto);

// Kernel threads (0: all cores).
void set_threads(int threads);

// For every family's wrapper (kernels_<family>.cpp):
// call before a kernel; installs the Halide error handler once.
void install_error_handler();
// throws RuntimeError "kernel NAME failed (Halide error N): MESSAGE" for a non-zero result.
void check(int result, const char* kernel);
// the view of `b` with every dimension starting at 0, as the kernels index them.
Buffer at_origin(Buffer b);
// int64 -> int, throwing RuntimeError when a size exceeds the kernels' 32-bit range.
int to_int(int64_t v);

}  // namespace archbench::kernels
