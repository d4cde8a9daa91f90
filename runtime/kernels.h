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
// Writes an NCHW tensor into an allocated (c, x, y, n) buffer or view of its shape. (Not
// Buffer::copy_from: Halide 14's for_each_value advances a pointer past a 1-channel view's
// end, which UBSan reports as a pointer overflow: U-Net's 1-channel input.)
void from_nchw(const Tensor& nchw, Buffer& cxyn);

enum class Activation { None, ReLU, ReLU6, Swish };

// Folded batch-norm after a conv: y = (x - mean) / sqrt(var + eps) * gamma + beta.
struct BatchNormParams {
  const Tensor *gamma, *beta, *mean, *var;
  double eps;
};

// A convolution ready to run, the bias with any batch-norm folded in. Dense and grouped:
// one filter per group, laid out (co % 32, ci, kx, ky, co / 32): a tile of 32 output channels
// innermost and contiguous, zero-padded to whole tiles plus one (so is the bias). Depthwise
// (groups = input channels = output channels): one filter laid out (c, kx, ky).
struct PreparedConv {
  Window win;
  int64_t groups = 1;
  bool depthwise = false;
  std::vector<Buffer> filters;  // per group (one when depthwise)
  std::vector<Buffer> biases;   // per group (one when depthwise)
  mutable Buffer padded_input;  // scratch of the direct variant: the input with zero borders
};

// weight: PyTorch [Cout, Cin/groups, kh, kw]; bias may be null.
PreparedConv prepare_conv(const ConvAttrs& attrs, const Tensor& weight, const Tensor* bias,
                          const std::optional<BatchNormParams>& bn);

// A conv schedule: an index into the compiled variants of schedules/conv.cmake (the schedule
// space: hand-written schedules, knob variants named by their knob values, autoscheduled
// baselines), or the default — the runtime's choice per layer. A forced one runs where its
// preconditions hold (see run_conv).
using ConvSchedule = int;
constexpr ConvSchedule kDefaultConvSchedule = -1;

// Names as the CLI takes them: default, tiled, narrow, blocked, direct, simple,
// auto-mullapudi2016, auto-adams2019, auto-li2018 (autoscheduled baselines), then the knob
// variants (direct-p14-r8: 14 pixels per register tile, 8 rows per task).
const std::vector<std::pair<std::string, ConvSchedule>>& conv_schedules();

// The depthwise family's: columns (4-pixel tiles, bounds-tested reads) and staged (row bands
// staging their padded input); both take any shape. Default: columns.
enum class DepthwiseSchedule { Default, Columns, Staged };
const std::vector<std::pair<std::string, DepthwiseSchedule>>& depthwise_schedules();

// output = act(conv(input) + bias [+ skip]). `output` has its final size allocated.
// A forced schedule runs where its preconditions hold, else the default choice does:
//   tiled needs >= kConvChannelTile output channels (per group) and a 12-pixel-wide output;
//   narrow and direct the same with 7 pixels (knob variants: their register tile's width);
//   a knob variant also needs the epilogue compiled; blocked also input channels in multiples of
//   kConvInputBlock; the autoscheduled ones 7x7 pixels and no `skip` aliasing the output
//   (their edge tiles may be recomputed; the hand-written residual variants test bounds
//   instead). Default: direct (7+ pixels wide, 32+ output
//   channels), else simple. Direct and blocked read a zero-padded copy of the input (kept
//   in the PreparedConv). Throws RuntimeError.
// Returns the name of the schedule that ran ("direct"; "simple+direct" where bands of a
// dilated conv ran different ones; "columns" for depthwise).
std::string run_conv(const PreparedConv& conv, const Buffer& input, const Buffer* skip, Buffer& output, Activation act,
                     ConvSchedule schedule = kDefaultConvSchedule,
                     DepthwiseSchedule depthwise = DepthwiseSchedule::Default);

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
