// The deformable conv family's C++ side: preparation (the conv family's filter layout) and the
// choice of register tile and row band (schedules/deform.cpp).
#include <HalideRuntime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>

#include "archbench_deform_p1.h"
#include "archbench_deform_p12.h"
#include "archbench_deform_p14.h"
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

// The most bytes of sampled columns a task's band of rows holds (all of the group's channels
// and taps of its pixels): about L2 (1 MiB on Zen 5). Bands of up to 512 KiB, which left L2
// room for a channel tile's filter slice, cost ResNet's 14x14 deformable convs an uneven split
// (bands of 4, 4, 4 and 2 rows on 2 threads): 0.81-0.86 ms each against 0.70-0.75 ms for
// two bands of 7 rows (903 KiB).
constexpr int64_t kBandBytes = 1 << 20;

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
    // Edge tiles shift inwards, computing some pixels twice: take the tile with the least work,
    // a pixel of a wider tile costing less (more FMAs per filter load): 0.97 of a 7-pixel
    // tile's at 14 (measured on resnet50_dcnv2's ten 28- and 14-wide steps: 7.21-8.99 against
    // 7.35-9.09 ms, 6 alternating rounds), 0.85 at 12 and about 3 times as much at 1
    // (estimates). ResNet's 28- and 14-wide maps take 14 (no waste), its 7-wide ones 7.
    struct Tile {
      int pixels;
      double cost;
      Fn fn;
    };
    const Tile tiles[] = {
        {14, 0.97, archbench_deform_p14}, {12, 0.85, archbench_deform_p12}, {7, 1.0, archbench_deform_p7}};
    fn = archbench_deform_p1;
    ran = "deform p1";
    double least = 3.0 * width;  // the 1-pixel tile's
    for (const Tile& t : tiles) {
      if (width < t.pixels) continue;
      const double work = static_cast<double>((width + t.pixels - 1) / t.pixels * t.pixels) * t.cost;
      if (work < least) {
        least = work;
        fn = t.fn;
        ran = fmt::format("deform p{}", t.pixels);
      }
    }
  } else {
    fn = for_set<Fn>(nullptr, ARCHBENCH_CUDA_FN(deform), ARCHBENCH_OPENCL_FN(deform));
  }
  // Tasks: bands of rows, each split into groups of channel tiles. Each task samples its
  // band's columns (all channels and taps of its pixels, within kBandBytes), then runs its
  // tiles over them, streaming each tile's filter slice. The band and group sizes are those
  // whose tasks finish soonest on the threads, counted in pixel passes of one tile:
  //   rounds of ceil(tasks / threads) x (tiles x (pixels + 8) + pixels / 2),
  // the 8 an estimate of the filter slice's stream from L3 (about half a 14-pixel row's FMAs on
  // Zen 5, by bandwidth and peak), the half pixel one of the sampling (a few loads and FMAs per
  // channel vector against a tile's 32). ResNet's 28- and 14-wide maps take bands of 7 rows,
  // its 7x7 ones the whole image in 2 groups (2 equal tasks, where bands of 3 rows had left a
  // thread idle).
  const int64_t row_bytes = int64_t{width} * cin_g * win.kh * win.kw * 4;
  const int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  const int64_t tiles = (cout_g + 31) / 32;
  int64_t rows = 1, group = tiles;
  double soonest = INFINITY;
  for (int64_t r = height; r >= 1; --r) {
    if (r > 1 && r * row_bytes > kBandBytes) continue;
    const double pixels = static_cast<double>(r * width);
    for (int64_t g = 1; g <= tiles; g *= 2) {
      const int64_t per_group = (tiles + g - 1) / g;
      const int64_t tasks = (height + r - 1) / r * images * g;
      const double finish = static_cast<double>((tasks + threads - 1) / threads) *
                            (static_cast<double>(per_group) * (pixels + 8) + pixels / 2);
      if (finish < soonest) {
        soonest = finish;
        rows = r;
        group = per_group;
      }
    }
  }

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
           to_int(win.dh), to_int(win.pad_left), to_int(win.pad_top), to_int(rows), to_int(group), out.raw_buffer());
    check(result, "deform_conv");
    if (out.data() != out_view.data()) out_view.copy_contents_from(out);
  }
  output.mark_written();
  return ran;
}

}  // namespace archbench::kernels
