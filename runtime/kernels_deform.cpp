// The deformable conv family's C++ side: preparation (the conv family's filter layout) and the
// choice of register tile and row band (schedules/deform.cpp).
#include <HalideRuntime.h>
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <thread>

#include "archbench_deform_p1.h"
#include "archbench_deform_p12.h"
#include "archbench_deform_p7.h"
#include "runtime/kernels_misc.h"
#ifdef ARCHBENCH_HAS_CUDA
#include "archbench_cuda_deform.h"
#endif
#ifdef ARCHBENCH_HAS_OPENCL
#include "archbench_opencl_deform.h"
#endif

namespace archbench::kernels {

namespace {

// The bytes of sampled columns a task's band of rows holds (all of the group's channels and
// taps of its pixels): within L2 (1 MiB on Zen 5) beside the filter slice of one channel tile.
constexpr int64_t kBandBytes = 512 << 10;

}  // namespace

PreparedDeform prepare_deform_conv(const DeformConvAttrs& a, const Tensor& weight, const Tensor* bias,
                                   const std::optional<BatchNormParams>& bn, bool masked, const Shape& out) {
  PreparedDeform p;
  ConvAttrs conv;
  conv.out_channels = a.out_channels;
  conv.groups = a.groups;
  conv.win = a.win;
  conv.bias = a.bias;
  p.conv = prepare_conv(conv, weight, bias, bn, false);
  p.offset_groups = a.offset_groups;
  p.sigmoid = a.sigmoid;
  if (!masked) {
    p.ones = Buffer(to_int(a.offset_groups * a.win.kh * a.win.kw), to_int(out.w), to_int(out.h), to_int(out.n));
    fill(p.ones, 1.0f);
    p.ones.upload();
  }
  return p;
}

std::string run_deform_conv(const PreparedDeform& p, const Buffer& input, const Buffer& offset, const Buffer* mask,
                            Buffer& output, bool relu) {
  install_error_handler();
  const Window& win = p.conv.win;
  const int groups = to_int(p.conv.groups);
  const int cin_g = p.conv.filters[0].dim(1).extent();
  const int cin = cin_g * groups, cout = output.dim(0).extent(), cout_g = cout / groups;
  const int taps = to_int(p.offset_groups * win.kh * win.kw);
  const int width = output.dim(1).extent(), height = output.dim(2).extent(), images = output.dim(3).extent();
  if (input.dimensions() != 4 || output.dimensions() != 4 || offset.dimensions() != 4 || input.dim(0).extent() != cin ||
      cout % groups != 0 || input.dim(3).extent() != images)
    throw RuntimeError(fmt::format("deform_conv: input {} and output {} do not fit {} groups of {} input channels",
                                   extents(input), extents(output), groups, cin_g));
  const int offset_channels = (p.sigmoid ? 3 : 2) * taps;
  if (offset.dim(0).extent() != offset_channels || offset.dim(1).extent() != width ||
      offset.dim(2).extent() != height || offset.dim(3).extent() != images)
    throw RuntimeError(fmt::format("deform_conv: offsets {} do not fit the output {} ({} channels)", extents(offset),
                                   extents(output), offset_channels));
  if (mask && (mask->dimensions() != 4 || mask->dim(0).extent() != taps || mask->dim(1).extent() != width ||
               mask->dim(2).extent() != height || mask->dim(3).extent() != images))
    throw RuntimeError(fmt::format("deform_conv: the mask {} does not fit the output {} ({} channels)", extents(*mask),
                                   extents(output), taps));
  if (!mask && !p.sigmoid && p.ones.dimensions() == 0)
    throw RuntimeError("deform_conv: prepared with a mask, run without one");
  if (input.data() == output.data()) throw RuntimeError("deform_conv: the output may not be the input");

  using Fn = decltype(&archbench_deform_p12);
  const bool cpu = current_kernel_set() == KernelSet::Cpu;
  Fn fn = nullptr;
  std::string ran = "deform";
  if (cpu) {
    // Edge tiles shift inwards, computing some pixels twice: take the 12-pixel tile only where
    // it wastes little (its pixels cost about 0.85 of a 7-pixel tile's: more FMAs per load).
    // ResNet's 28-, 14- and 7-wide maps take 7 (no waste); 56 takes 12 (60 computed).
    const int64_t tiles12 = (width + 11) / 12 * 12, tiles7 = (width + 6) / 7 * 7;
    const bool wide = width >= 12 && static_cast<double>(tiles12) * 0.85 < static_cast<double>(tiles7);
    fn = wide ? archbench_deform_p12 : width >= 7 ? archbench_deform_p7 : archbench_deform_p1;
    ran = wide ? "deform p12" : width >= 7 ? "deform p7" : "deform p1";
  } else {
    fn = for_set<Fn>(nullptr, ARCHBENCH_CUDA_FN(deform), ARCHBENCH_OPENCL_FN(deform));
  }
  // Rows per task: the band's columns within kBandBytes, and a task per thread at least where
  // the image has the rows (each band reads the whole filter once).
  const int64_t row_bytes = int64_t{width} * cin_g * win.kh * win.kw * 4;
  const int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  int64_t rows = std::clamp<int64_t>(kBandBytes / std::max<int64_t>(row_bytes, 1), 1, height);
  rows = std::min<int64_t>(rows, std::max<int64_t>(1, int64_t{height} * images / threads));

  Buffer offsets = at_origin(offset.cropped(0, offset.dim(0).min(), 2 * taps)).launchable_copy(true);
  Buffer masks = p.sigmoid ? at_origin(offset.cropped(0, offset.dim(0).min() + 2 * taps, taps)).launchable_copy(true)
                 : mask    ? at_origin(*mask).launchable_copy(true)
                           : p.ones;
  for (int g = 0; g < groups; ++g) {
    Buffer in = at_origin(input.cropped(0, input.dim(0).min() + g * cin_g, cin_g)).launchable_copy(true);
    Buffer out_view = at_origin(output.cropped(0, output.dim(0).min() + g * cout_g, cout_g));
    Buffer out = out_view.launchable_copy(false);
    const size_t i = static_cast<size_t>(g);
    int result =
        fn(in.raw_buffer(), const_cast<Buffer&>(p.conv.filters[i]).raw_buffer(),
           const_cast<Buffer&>(p.conv.biases[i]).raw_buffer(), offsets.raw_buffer(), masks.raw_buffer(), p.sigmoid,
           relu, g * cin_g, to_int(cin / p.offset_groups), to_int(win.sw), to_int(win.sh), to_int(win.dw),
           to_int(win.dh), to_int(win.pad_left), to_int(win.pad_top), to_int(rows), out.raw_buffer());
    check(result, "deform_conv");
    if (out.data() != out_view.data()) out_view.copy_contents_from(out);
  }
  output.mark_written();
  return ran;
}

}  // namespace archbench::kernels
