#include "runtime/kernels_pool.h"

#include "networks/ops.h"

#include <fmt/format.h>

#include "archbench_adaptive_avgpool.h"
#include "archbench_avgpool.h"
#include "archbench_global_avgpool.h"
#include "archbench_maxpool.h"
#include "archbench_pad.h"
#include "archbench_upsample_bilinear.h"
#include "archbench_upsample_nearest.h"
#ifdef ARCHBENCH_HAS_CUDA
#include "kernels_cuda_includes.inc"
#endif
#ifdef ARCHBENCH_HAS_OPENCL
#include "kernels_opencl_includes.inc"
#endif

namespace archbench::kernels {

namespace {

// Dims (c, x, y, n) of both, with the same channels and batch.
void require_same_nc(const Buffer& in, const Buffer& out, const char* op) {
  if (in.dimensions() != 4 || out.dimensions() != 4)
    throw RuntimeError(fmt::format("{}: activations must have 4 dimensions (c, x, y, n)", op));
  if (in.dim(0).extent() != out.dim(0).extent() || in.dim(3).extent() != out.dim(3).extent())
    throw RuntimeError(fmt::format("{}: input has {} channels x batch {}, output {} x {}", op, in.dim(0).extent(),
                                   in.dim(3).extent(), out.dim(0).extent(), out.dim(3).extent()));
}

void require_extent(const Buffer& out, int dim, int64_t want, const char* op) {
  if (out.dim(dim).extent() != want)
    throw RuntimeError(fmt::format("{}: output {} is {}, expected {}", op, dim == 1 ? "width" : "height",
                                   out.dim(dim).extent(), want));
}

// PyTorch's float scales (reference.cpp's nearest_index / bilinear_taps). Nearest: 1 / factor
// when a factor was given, even where the size comes out unchanged or doubled (a factor of 1.1
// on 5 rows keeps 5 rows but reads rows floor(y / 1.1)), in / out otherwise. Bilinear: the
// identity when the size is unchanged; else the same, or with align_corners
// (in - 1) / (out - 1).
float nearest_scale(int in, int out, double factor) {
  return factor > 0 ? static_cast<float>(1.0 / factor) : static_cast<float>(in) / static_cast<float>(out);
}

float bilinear_scale(int in, int out, bool align_corners, double factor) {
  if (out == in) return 1.0f;
  if (align_corners) return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
  return factor > 0 ? static_cast<float>(1.0 / factor) : static_cast<float>(in) / static_cast<float>(out);
}

}  // namespace

void copy_with_border(const Buffer& input, Buffer& output, int left, int top, float value, const char* name) {
  install_error_handler();
  Buffer in = at_origin(input), out = at_origin(output);
  check(ARCHBENCH_KERNEL(pad)(in.raw_buffer(), left, top, value, out.raw_buffer()), name);
  output.mark_written();
}

void run_pool(const PoolAttrs& a, bool max, const Buffer& input, Buffer& output) {
  const char* name = max ? "maxpool" : "avgpool";
  require_same_nc(input, output, name);
  const Window& w = a.win;
  if (!max && (w.dh != 1 || w.dw != 1)) throw RuntimeError("avgpool: no dilation");
  if (w.kh < 1 || w.kw < 1 || w.sh < 1 || w.sw < 1 || w.dh < 1 || w.dw < 1)
    throw RuntimeError(fmt::format("{}: kernel, stride and dilation must be positive", name));
  require_extent(
      output, 1,
      window_output(input.dim(1).extent(), w.pad_left, w.pad_right, w.dw * (w.kw - 1) + 1, w.sw, a.ceil_mode), name);
  require_extent(
      output, 2,
      window_output(input.dim(2).extent(), w.pad_top, w.pad_bottom, w.dh * (w.kh - 1) + 1, w.sh, a.ceil_mode), name);
  install_error_handler();
  Buffer in = at_origin(input), out = at_origin(output);
  int result = max ? ARCHBENCH_KERNEL(maxpool)(in.raw_buffer(), to_int(w.kw), to_int(w.kh), to_int(w.sw), to_int(w.sh),
                                               to_int(w.dw), to_int(w.dh), to_int(w.pad_left), to_int(w.pad_top),
                                               out.raw_buffer())
                   : ARCHBENCH_KERNEL(avgpool)(in.raw_buffer(), to_int(w.kw), to_int(w.kh), to_int(w.sw), to_int(w.sh),
                                               to_int(w.pad_left), to_int(w.pad_top), to_int(w.pad_right),
                                               to_int(w.pad_bottom), a.count_include_pad, out.raw_buffer());
  check(result, name);
  output.mark_written();
}

void run_adaptive_avgpool(const Buffer& input, Buffer& output) {
  // A 1x1 output is global pooling, which has a kernel of its own (schedules/pool.cpp).
  if (output.dim(1).extent() == 1 && output.dim(2).extent() == 1) return run_global_avgpool(input, output);
  require_same_nc(input, output, "adaptive_avgpool");
  install_error_handler();
  Buffer in = at_origin(input), out = at_origin(output);
  check(ARCHBENCH_KERNEL(adaptive_avgpool)(in.raw_buffer(), out.dim(1).extent(), out.dim(2).extent(), out.raw_buffer()),
        "adaptive_avgpool");
  output.mark_written();
}

void run_global_avgpool(const Buffer& input, Buffer& output) {
  require_same_nc(input, output, "global_avgpool");
  require_extent(output, 1, 1, "global_avgpool");
  require_extent(output, 2, 1, "global_avgpool");
  install_error_handler();
  Buffer in = at_origin(input), out = at_origin(output);
  check(ARCHBENCH_KERNEL(global_avgpool)(in.raw_buffer(), out.raw_buffer()), "global_avgpool");
  output.mark_written();
}

void run_upsample(const UpsampleAttrs& a, const Buffer& input, Buffer& output) {
  require_same_nc(input, output, "upsample");
  int in_w = input.dim(1).extent(), in_h = input.dim(2).extent();
  int out_w = output.dim(1).extent(), out_h = output.dim(2).extent();
  install_error_handler();
  Buffer in = at_origin(input), out = at_origin(output);
  if (a.mode == UpsampleMode::Nearest) {
    check(ARCHBENCH_KERNEL(upsample_nearest)(in.raw_buffer(), nearest_scale(in_w, out_w, a.scale_w),
                                             nearest_scale(in_h, out_h, a.scale_h), false, out.raw_buffer()),
          "upsample_nearest");
  } else {
    check(ARCHBENCH_KERNEL(upsample_bilinear)(in.raw_buffer(), bilinear_scale(in_w, out_w, a.align_corners, a.scale_w),
                                              bilinear_scale(in_h, out_h, a.align_corners, a.scale_h), a.align_corners,
                                              out.raw_buffer()),
          "upsample_bilinear");
  }
  output.mark_written();
}

void run_pad(const PadAttrs& a, const Buffer& input, Buffer& output) {
  require_same_nc(input, output, "pad");
  if (a.left < 0 || a.top < 0 || a.right < 0 || a.bottom < 0) throw RuntimeError("pad: padding must be >= 0");
  require_extent(output, 1, input.dim(1).extent() + a.left + a.right, "pad");
  require_extent(output, 2, input.dim(2).extent() + a.top + a.bottom, "pad");
  copy_with_border(input, output, to_int(a.left), to_int(a.top), static_cast<float>(a.value), "pad");
}

Buffer crop_view(const CropAttrs& a, const Buffer& input) {
  if (input.dimensions() != 4) throw RuntimeError("crop: activations must have 4 dimensions (c, x, y, n)");
  if (a.off_w < 0 || a.off_h < 0 || a.size_w < 1 || a.size_h < 1 || a.off_w + a.size_w > input.dim(1).extent() ||
      a.off_h + a.size_h > input.dim(2).extent())
    throw RuntimeError(fmt::format("crop: window {}x{} at ({}, {}) does not fit the input {}x{}", a.size_h, a.size_w,
                                   a.off_h, a.off_w, input.dim(2).extent(), input.dim(1).extent()));
  Buffer view = input.cropped(1, input.dim(1).min() + to_int(a.off_w), to_int(a.size_w));
  view.crop(2, input.dim(2).min() + to_int(a.off_h), to_int(a.size_h));
  return at_origin(std::move(view));
}

void run_crop(const CropAttrs& a, const Buffer& input, Buffer& output) {
  Buffer view = crop_view(a, input);  // checks the window
  require_same_nc(view, output, "crop");
  require_extent(output, 1, a.size_w, "crop");
  require_extent(output, 2, a.size_h, "crop");
  copy_with_border(input, output, to_int(-a.off_w), to_int(-a.off_h), 0.0f, "crop");
}

void run_slice(const SliceAttrs& a, const Buffer& input, Buffer& output) {
  if (input.dimensions() != 4 || output.dimensions() != 4)
    throw RuntimeError("slice: activations must have 4 dimensions (c, x, y, n)");
  const int channels = input.dim(0).extent();
  if (a.begin < 0 || a.begin >= a.end || a.end > channels)
    throw RuntimeError(
        fmt::format("slice: channels [{}, {}) are not a range of the input's {}", a.begin, a.end, channels));
  if (output.dim(0).extent() != a.end - a.begin || output.dim(1).extent() != input.dim(1).extent() ||
      output.dim(2).extent() != input.dim(2).extent() || output.dim(3).extent() != input.dim(3).extent())
    throw RuntimeError(fmt::format("slice: output {} does not hold channels [{}, {}) of input {}", extents(output),
                                   a.begin, a.end, extents(input)));
  run_copy(input.cropped(0, input.dim(0).min() + to_int(a.begin), to_int(a.end - a.begin)), output);
}

// Below this many elements one thread copies faster than the thread pool starts (DenseNet's
// 7x7 concats: 16 copies 0.14 ms on one thread, 0.26 ms on the pool).
constexpr int64_t kParallelCopyElements = int64_t{1} << 16;

void run_copy(const Buffer& input, Buffer& output) {
  Buffer in = at_origin(input), out = at_origin(output);
  for (int d = 0; d < 4; ++d)
    if (in.dim(d).extent() != out.dim(d).extent()) throw RuntimeError("copy: the tensors differ in shape");
  const int64_t elements =
      static_cast<int64_t>(out.dim(0).extent()) * out.dim(1).extent() * out.dim(2).extent() * out.dim(3).extent();
  if (current_kernel_set() == KernelSet::Cpu && elements >= kParallelCopyElements)
    copy_with_border(in, out, 0, 0, 0.0f, "copy");
  else
    out.copy_contents_from(in);
}

}  // namespace archbench::kernels
