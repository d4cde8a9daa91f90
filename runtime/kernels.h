// Internal to runtime/: the C++ side of the Halide kernel families — weight preparation
// (batch-norm folding, re-layout) and calls into the ahead-of-time compiled variants.
#pragma once

#include <HalideBuffer.h>

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "networks/networks.h"
#include "runtime/device_buffer.h"
#include "runtime/executor.h"
#include "runtime/runtime.h"

namespace archbench::kernels {

// --- kernel sets ---------------------------------------------------------------------------
// Every wrapper calls the kernel of the current kernel set (per thread; the executor sets it
// for its preparation and runs). The cpu set's libraries are archbench_<name>, the GPU sets'
// archbench_<set>_<name> (schedules/CMakeLists.txt).
KernelSet current_kernel_set();
class KernelSetScope {
 public:
  explicit KernelSetScope(KernelSet set);
  ~KernelSetScope();
  KernelSetScope(const KernelSetScope&) = delete;
  KernelSetScope& operator=(const KernelSetScope&) = delete;

 private:
  KernelSet previous_;
};

// The current set's function among the three (null where the build lacks the set: a
// RuntimeError "this build has no cuda kernel set").
[[noreturn]] void no_kernel_set(KernelSet set);
template <typename F>
F for_set(F cpu, std::type_identity_t<F> cuda, std::type_identity_t<F> opencl) {
  KernelSet set = current_kernel_set();
  F f = set == KernelSet::Cpu ? cpu : set == KernelSet::Cuda ? cuda : opencl;
  if (!f) no_kernel_set(set);
  return f;
}
#ifdef ARCHBENCH_HAS_CUDA
#define ARCHBENCH_CUDA_FN(name) archbench_cuda_##name
#else
#define ARCHBENCH_CUDA_FN(name) nullptr
#endif
#ifdef ARCHBENCH_HAS_OPENCL
#define ARCHBENCH_OPENCL_FN(name) archbench_opencl_##name
#else
#define ARCHBENCH_OPENCL_FN(name) nullptr
#endif
// The kernel library `name` (e.g. maxpool) of the current set.
#define ARCHBENCH_KERNEL(name) \
  ::archbench::kernels::for_set(archbench_##name, ARCHBENCH_CUDA_FN(name), ARCHBENCH_OPENCL_FN(name))

// The GPU buffer protocol lives in DeviceArray (device_buffer.h): activations stay on the
// device between kernels (the executor's arena views carry device crops); host-side data
// (weights, tables) is uploaded once where it is prepared.
//   device_interface: the current set's Halide device interface (null for cpu);
//   launch_alignment: the alignment (bytes) of an OpenCL sub-buffer's start; 1 on the others.
const halide_device_interface_t* device_interface();
int64_t launch_alignment();

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

// Scratch memory of cpu conv calls, in three slots because one call can use all three at
// once: the direct variant's zero-bordered copy of its input, an in-place residual add's copy
// of its skip input, and the whole-tile output of a conv under kConvChannelTile channels. A
// slot only grows; a call gets a dense (c, x, y, n) view of its start, contents undefined. An
// executor gives one to all its convs (its steps run one at a time), so the memory is the
// largest call's, not a sum over layers; a PreparedConv on its own has its own.
class ConvScratch {
 public:
  enum Slot { PaddedInput, SkipCopy, WideOutput, PartialSum, PartialTerm, MosaicOutput, kSlots };
  Buffer view(Slot slot, const std::array<int, 4>& extents);
  int64_t bytes() const;  // allocated in all slots

 private:
  std::array<Buffer, kSlots> slots_;  // 1-D
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
  std::shared_ptr<ConvScratch> scratch = std::make_shared<ConvScratch>();
  // Per Winograd tile size m, the filters transformed for it (per group), made on first use.
  mutable std::map<int, std::vector<Buffer>> winograd_filters;
  // On the cpu set, a conv whose filter slice for one output channel tile outgrows L2 runs as
  // partial convs over ranges of input channels, summed (kernels.cpp, run_reduction_parts):
  // views of this filter, made on first use (the first part has the bias, the others zeros).
  mutable std::vector<PreparedConv> reduction_parts;
};

// weight: PyTorch [Cout, Cin/groups, kh, kw]; bias may be null.
// `allow_depthwise` false keeps the per-group tiled layout for depthwise shapes too (the
// deformable conv kernel reads only that layout).
PreparedConv prepare_conv(const ConvAttrs& attrs, const Tensor& weight, const Tensor* bias,
                          const std::optional<BatchNormParams>& bn, bool allow_depthwise = true);

// A conv schedule: an index into the compiled variants of schedules/conv.cmake (the schedule
// space: hand-written schedules, knob variants named by their knob values, autoscheduled
// baselines), or the default — the runtime's choice per layer. A forced one runs where its
// preconditions hold (see run_conv).
using ConvSchedule = int;
constexpr ConvSchedule kDefaultConvSchedule = -1;

// Names as the CLI takes them: default, tiled, narrow, blocked, direct, simple,
// auto-mullapudi2016, auto-adams2019, auto-li2018 (autoscheduled baselines), then the knob
// variants (direct-p14-r8: 14 pixels per register tile, 8 rows per task; winograd-m4-rows-t24:
// Winograd F(4x4, 3x3), tasks of about 24 tiles).
const std::vector<std::pair<std::string, ConvSchedule>>& conv_schedules();
// Known conv schedules this build did not compile (schedules/conv.cmake), each with the CMake
// option that compiles it: {"auto-adams2019", "-DARCHBENCH_ADAMS2019=ON or ..."}.
const std::vector<std::pair<std::string, std::string>>& absent_conv_schedules();

// The depthwise family's: columns (4-pixel tiles, bounds-tested reads) and staged (row bands
// staging their padded input, all channels at once) take any shape. The cpu set's alone:
// framed (each channel tile's row band staged with its zero border, then read with no
// bounds tests) and interior (the outputs whose taps all fall inside the input, with no
// bounds tests, and the border strips around them with columns). Both need
// kDepthwiseInteriorChannels channels and kDepthwiseInteriorPixels output columns, interior
// that many inside ones. Default on the cpu set: framed for undilated filters where the input
// a tap stages is small (stride_x x stride_y at most a quarter of kw x kh), else interior on
// maps of 20x20 outputs or more; where neither, staged up to 64 channels and columns above
// (kernels.cpp, run_depthwise and depthwise_fallback, has the figures); on a GPU set,
// columns. A forced framed or interior that cannot run falls back the same way.
enum class DepthwiseSchedule { Default, Columns, Staged, Interior, Framed };
// Framed and interior: built for the cpu set only (a GPU set runs the fallback for them).
inline bool cpu_set_only(DepthwiseSchedule s) {
  return s == DepthwiseSchedule::Interior || s == DepthwiseSchedule::Framed;
}
const std::vector<std::pair<std::string, DepthwiseSchedule>>& depthwise_schedules();

// output = act(conv(input) + bias [+ skip]). `output` has its final size allocated.
// A forced schedule runs where its preconditions hold, else the default choice does:
//   tiled needs >= kConvChannelTile output channels (per group) and a 12-pixel-wide output;
//   narrow and direct the same with 7 pixels (knob variants: their register tile's width);
//   a knob variant also needs the epilogue compiled; winograd-* a 3x3 filter at stride and
//   dilation 1, the right padding at most the left, and an output at least m wide (its
//   fp32 results differ from direct convolution's by up to about 1e-6 relative for m = 2 and
//   1e-5 for m = 4: run_conv's callers that compare outputs allow for it); blocked also
//   input channels in multiples of kConvInputBlock; the autoscheduled ones 7x7 pixels and
//   Halide accepting their tiles for these buffers (the tiles differ by x86-64 level).
//   Default: direct (7+ pixels wide, 32+ output channels), else simple. Under
//   kConvChannelTile output channels (one group, no skip, 7+ pixels wide), the default and a
//   forced register-tiled or autoscheduled schedule run a whole tile into a scratch buffer
//   (PreparedConv::wide_output) whose real channels are copied out. The CPU variants'
//   edge tiles shift inwards, so a skip input aliasing the output is read from a copy.
//   Direct and blocked read a zero-padded copy of the input (kept in the PreparedConv).
//   Throws RuntimeError.
// Returns the name of the schedule that ran ("direct"; "simple+direct" where bands of a
// dilated conv ran different ones; "interior" for depthwise, its border strips included).
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
// sets every element of `b` (any strides) to `value`. Not Buffer::fill or Buffer::copy_from
// (Buffer hides both): Halide 14's for_each_value now and then advances its pointer by a
// garbage stride, which UBSan catches (weights, scratch copies, 1-channel inputs). A copy
// between buffers is run_copy, or Buffer::copy_contents_from where channels are strided.
void fill(Buffer& b, float value);
// the view of `b` with every dimension starting at 0, as the kernels index them.
Buffer at_origin(Buffer b);
// `in` copied into `out` of the same extents (both at any origin, channels dense: a concat's
// channel range, a whole-tile conv's real channels): on the cpu set, from 64K elements, the pad kernel, which runs on
// all threads (Halide's buffer copy runs on one: 9.5 ms for U-Net's last concat on 2 cores, 5.9 ms on the pool); else,
// and on a GPU set, Halide's buffer copy (which takes views at any offset).
void run_copy(const Buffer& in, Buffer& out);
// The pad kernel (all threads, vectorised): out(c, x, y, n) = in(c, x - left, y - top, n)
// inside `in`, else `value`; `name` is the caller's, for errors. Channels dense in both.
void copy_with_border(const Buffer& in, Buffer& out, int left, int top, float value, const char* name);
// "(c, x, y, n)" extents of a buffer, for the kernels' error messages.
std::string extents(const Buffer& b);
// int64 -> int, throwing RuntimeError when a size exceeds the kernels' 32-bit range.
int to_int(int64_t v);

}  // namespace archbench::kernels
