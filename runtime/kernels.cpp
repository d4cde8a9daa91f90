#include "runtime/kernels.h"
#include "runtime/thread_pool.h"

#include <HalideRuntime.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>

#include "archbench_depthwise_columns.h"
#include "archbench_depthwise_columns_relu.h"
#include "archbench_depthwise_columns_relu6.h"
#include "archbench_depthwise_columns_swish.h"
#include "archbench_depthwise_framed.h"
#include "archbench_depthwise_framed_relu.h"
#include "archbench_depthwise_framed_relu6.h"
#include "archbench_depthwise_framed_swish.h"
#include "archbench_depthwise_interior.h"
#include "archbench_depthwise_interior_relu.h"
#include "archbench_depthwise_interior_relu6.h"
#include "archbench_depthwise_interior_swish.h"
#include "archbench_depthwise_staged.h"
#include "archbench_depthwise_staged_relu.h"
#include "archbench_depthwise_staged_relu6.h"
#include "archbench_depthwise_staged_swish.h"
#include "conv_variants_includes.inc"
#ifdef ARCHBENCH_HAS_CUDA
#include "kernels_cuda_includes.inc"
#endif
#ifdef ARCHBENCH_HAS_OPENCL
#include "kernels_opencl_includes.inc"
#endif
#include "runtime/kernels_misc.h"
#include "schedules/tiles.h"
#include "schedules/winograd.h"

namespace archbench::kernels {

namespace {

// Halide reports errors through a process-wide handler; keep the last message per thread so
// a failing call becomes a RuntimeError instead of text on stderr.
thread_local std::string last_halide_error;

extern "C" void record_halide_error(void*, const char* message) { last_halide_error = message; }

}  // namespace

void install_error_handler() {
  static std::once_flag once;
  std::call_once(once, [] { halide_set_error_handler(record_halide_error); });
}

void check(int result, const char* kernel) {
  if (result != 0) {
    std::string msg = last_halide_error.empty() ? "unknown error" : last_halide_error;
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    KernelSet set = current_kernel_set();
    throw RuntimeError(fmt::format("kernel {}{} failed (Halide error {}): {}", kernel,
                                   set == KernelSet::Cpu ? "" : " on " + kernel_set_name(set), result, msg));
  }
}

void fill(Buffer& b, float value) {
  if (b.size_in_bytes() == b.number_of_elements() * sizeof(float)) {
    std::fill_n(b.begin(), b.number_of_elements(), value);  // dense: no gaps between elements
  } else {
    if (b.dimensions() != 4) throw RuntimeError(fmt::format("fill: a {}-D view", b.dimensions()));
    for (int n = b.dim(3).min(); n <= b.dim(3).max(); ++n)
      for (int y = b.dim(2).min(); y <= b.dim(2).max(); ++y)
        for (int x = b.dim(1).min(); x <= b.dim(1).max(); ++x)
          for (int c = b.dim(0).min(); c <= b.dim(0).max(); ++c) b(c, x, y, n) = value;
  }
  b.host_written();
}

Buffer at_origin(Buffer b) {
  // The coordinates only: the host pointer and any device handle still address the first
  // element. (Buffer::translate would also drop the device allocation.)
  for (int d = 0; d < b.dimensions(); ++d) b.raw_buffer()->dim[d].min = 0;
  return b;
}

int to_int(int64_t v) {
  if (v > INT32_MAX || v < INT32_MIN) throw RuntimeError(fmt::format("size {} exceeds the kernels' 32-bit range", v));
  return static_cast<int>(v);
}

namespace {

using ConvFn = int (*)(halide_buffer_t*, halide_buffer_t*, halide_buffer_t*, halide_buffer_t*, int, int, int, int, int,
                       int, halide_buffer_t*);

struct ConvVariant {
  const char* name;
  ConvFn fn;
};

// The runtime's preconditions of a conv schedule (kernels.h, run_conv).
enum class ConvKind { Tiled, Narrow, Direct, Blocked, Simple, Auto, Winograd };

// A compiled conv schedule (schedules/conv.cmake): its name, kind, register tile width on
// AVX-512 (Winograd's: its output tile m) and output channels (it runs on multiples of them),
// and its fused epilogues (none, relu, relu6, swish, add_relu; null where a knob variant was
// not compiled with one).
struct ConvVariantSet {
  const char* name;
  ConvKind kind;
  int pixels;
  int channels;
  ConvFn fns[5];
};

#define ARCHBENCH_CONV_VARIANT(name, kind, pixels, channels, none, relu, relu6, swish, add_relu) \
  {name, ConvKind::kind, pixels, channels, {none, relu, relu6, swish, add_relu}},
const ConvVariantSet kConvVariants[] = {
#include "conv_variants_table.inc"
};
#undef ARCHBENCH_CONV_VARIANT

constexpr int kConvVariantCount = static_cast<int>(std::size(kConvVariants));

int epilogue_index(bool residual, Activation act) {
  if (residual) return act == Activation::ReLU ? 4 : -1;
  switch (act) {
    case Activation::None:
      return 0;
    case Activation::ReLU:
      return 1;
    case Activation::ReLU6:
      return 2;
    case Activation::Swish:
      return 3;
  }
  return -1;
}

ConvSchedule named(const char* name) {
  for (int i = 0; i < kConvVariantCount; ++i)
    if (std::string(kConvVariants[i].name) == name) return i;
  throw RuntimeError(fmt::format("no conv schedule '{}' compiled", name));
}

bool compiled(ConvSchedule s, bool residual, Activation act) {
  int e = epilogue_index(residual, act);
  return s >= 0 && s < kConvVariantCount && e >= 0 && kConvVariants[s].fns[e] != nullptr;
}

// Per variant of a table (kConvVariants, kGpuConvVariants) and epilogue, the name errors give
// its library, as conv.cmake names them: "conv direct-p14-r8 (relu)".
template <typename Variant, size_t N>
std::vector<std::array<std::string, 5>> library_names(const Variant (&variants)[N]) {
  std::vector<std::array<std::string, 5>> names;
  for (const Variant& v : variants) {
    std::array<std::string, 5> row;
    const char* epilogues[] = {"none", "relu", "relu6", "swish", "add+relu"};
    for (size_t e = 0; e < 5; ++e) row[e] = fmt::format("conv {} ({})", v.name, epilogues[e]);
    names.push_back(row);
  }
  return names;
}

ConvVariant pick(ConvSchedule schedule, bool residual, Activation act) {
  static const std::vector<std::array<std::string, 5>> names = library_names(kConvVariants);
  if (!compiled(schedule, residual, act))
    throw RuntimeError(residual ? "a fused residual add is compiled with relu only"
                                : "no conv variant for this activation");
  size_t e = static_cast<size_t>(epilogue_index(residual, act));
  return {names[static_cast<size_t>(schedule)][e].c_str(), kConvVariants[schedule].fns[e]};
}

using DepthwiseFn = int (*)(halide_buffer_t*, halide_buffer_t*, halide_buffer_t*, int, int, int, int, int, int,
                            halide_buffer_t*);

struct DepthwiseEntry {
  DepthwiseSchedule schedule;
  Activation act;
  const char* name;
  DepthwiseFn fns[3];  // by KernelSet
  DepthwiseFn fn() const { return for_set(fns[0], fns[1], fns[2]); }
};

// Per entry the kernel of each set (cpu, cuda, opencl; null where not built). `fns` makes
// the three from a library name: every set's, or the cpu set's alone.
// clang-format off
#define ARCHBENCH_DEPTHWISE_FNS(name) {archbench_##name, ARCHBENCH_CUDA_FN(name), ARCHBENCH_OPENCL_FN(name)}
#define ARCHBENCH_DEPTHWISE_CPU_FNS(name) {archbench_##name, nullptr, nullptr}
#define ARCHBENCH_DEPTHWISE_SCHEDULE(S, sched, fns)                                                       \
  {DepthwiseSchedule::S, Activation::None, "depthwise_" #sched, fns(depthwise_##sched)},                  \
  {DepthwiseSchedule::S, Activation::ReLU, "depthwise_" #sched "_relu", fns(depthwise_##sched##_relu)},    \
  {DepthwiseSchedule::S, Activation::ReLU6, "depthwise_" #sched "_relu6", fns(depthwise_##sched##_relu6)}, \
  {DepthwiseSchedule::S, Activation::Swish, "depthwise_" #sched "_swish", fns(depthwise_##sched##_swish)}
// clang-format on

const DepthwiseEntry kDepthwiseVariants[] = {
    ARCHBENCH_DEPTHWISE_SCHEDULE(Columns, columns, ARCHBENCH_DEPTHWISE_FNS),
    ARCHBENCH_DEPTHWISE_SCHEDULE(Staged, staged, ARCHBENCH_DEPTHWISE_FNS),
    ARCHBENCH_DEPTHWISE_SCHEDULE(Interior, interior, ARCHBENCH_DEPTHWISE_CPU_FNS),
    ARCHBENCH_DEPTHWISE_SCHEDULE(Framed, framed, ARCHBENCH_DEPTHWISE_CPU_FNS),
};
#undef ARCHBENCH_DEPTHWISE_SCHEDULE
#undef ARCHBENCH_DEPTHWISE_CPU_FNS
#undef ARCHBENCH_DEPTHWISE_FNS

// The GPU sets' conv schedules (schedules/conv.cmake, conv.cpp's generate_gpu): gpu-tiled, a
// register tile of 1 channel x 4 x 2 pixels per thread, gpu-simple, one pixel per thread, and
// gpu-c8, 8 channels x 4 x 2 pixels per thread. All take any shape and read their padding by
// bounds tests, so no band splitting or padded copies.
struct GpuConvVariant {
  const char* name;
  int pixels;
  bool autoscheduled;         // Li2018's: its tiles may shift inwards (see run_conv_gpu)
  ConvFn cuda[5], opencl[5];  // by epilogue (none, relu, relu6, swish, add_relu)
};
#define ARCHBENCH_GPU_CONV_VARIANT(name, pixels, autoscheduled, a, b, c, d, e)                                     \
  {name,                                                                                                           \
   pixels,                                                                                                         \
   autoscheduled,                                                                                                  \
   {ARCHBENCH_CUDA_FN(a), ARCHBENCH_CUDA_FN(b), ARCHBENCH_CUDA_FN(c), ARCHBENCH_CUDA_FN(d), ARCHBENCH_CUDA_FN(e)}, \
   {ARCHBENCH_OPENCL_FN(a), ARCHBENCH_OPENCL_FN(b), ARCHBENCH_OPENCL_FN(c), ARCHBENCH_OPENCL_FN(d),                \
    ARCHBENCH_OPENCL_FN(e)}},
const GpuConvVariant kGpuConvVariants[] = {
#include "conv_gpu_variants_table.inc"
};
#undef ARCHBENCH_GPU_CONV_VARIANT
constexpr int kGpuConvVariantCount = static_cast<int>(std::size(kGpuConvVariants));

// The entry of a resolved schedule (not Default) for `act`.
const DepthwiseEntry& depthwise_entry(DepthwiseSchedule schedule, Activation act) {
  for (const DepthwiseEntry& e : kDepthwiseVariants)
    if (e.schedule == schedule && e.act == act) return e;
  throw RuntimeError("no depthwise variant for this activation");
}

// The schedule where interior cannot run. On the cpu set by channel count: each kernel alone
// (3x3, min of 300 calls, 2 threads, AVX-512), staged was 1.4-2.7x faster than columns up to
// 64 channels at every map size tried (16 channels at 112x112: 0.09 ms against 0.25), about
// equal at 96-240 channels, and slower at 384 on 14x14 and 960 on 7x7, where its 8-row bands
// leave too few tasks. On a GPU set: columns (not timed there yet).
DepthwiseSchedule depthwise_fallback(DepthwiseSchedule schedule, int channels) {
  constexpr int kStagedMaxChannels = 64;
  if (schedule != DepthwiseSchedule::Default && !cpu_set_only(schedule)) return schedule;
  return current_kernel_set() == KernelSet::Cpu && channels <= kStagedMaxChannels ? DepthwiseSchedule::Staged
                                                                                  : DepthwiseSchedule::Columns;
}

// Output positions [first, end) along one dimension whose valid taps (inside the input) are
// [first_tap, end_tap).
struct TapBand {
  int first, end, first_tap, end_tap;
  int taps() const { return end_tap - first_tap; }
};

// The bands along a dimension of `out` outputs over `in` inputs (kernel k, stride s, dilation
// d, padding pad before); empty if some output has no valid tap at all.
std::vector<TapBand> tap_bands(int out, int in, int64_t k, int64_t s, int64_t d, int64_t pad) {
  std::vector<TapBand> bands;
  for (int o = 0; o < out; ++o) {
    int64_t at = o * s - pad;  // input index of tap 0
    int64_t lo = at >= 0 ? 0 : (-at + d - 1) / d;
    int64_t hi = at > in - 1 ? 0 : std::min<int64_t>(k, (in - 1 - at) / d + 1);
    if (lo >= hi) return {};
    if (!bands.empty() && bands.back().first_tap == lo && bands.back().end_tap == hi)
      bands.back().end = o + 1;
    else
      bands.push_back({o, o + 1, static_cast<int>(lo), static_cast<int>(hi)});
  }
  return bands;
}

// Splitting pays when at least a tenth of the taps fall in the padding (each band is a kernel
// call, and narrow edge bands run slower schedules).
bool worth_splitting(const std::vector<TapBand>& bands, int64_t k) {
  if (bands.size() < 2) return false;
  int64_t skipped = 0, total = 0;
  for (const TapBand& b : bands) {
    skipped += (k - (b.end_tap - b.first_tap)) * (b.end - b.first);
    total += k * (b.end - b.first);
  }
  return skipped * 10 >= total;
}

// One kernel call's window: the padding as the kernel sees it and the filter taps it uses.
struct ConvCall {
  int pad_x, pad_y;
  int first_kx, kw, first_ky, kh;
};

// Runs variant `v` once per group on channel views (and the call's filter taps of `filters`,
// one per group: p.filters, or Winograd's transformed ones). Returns false where `may_refuse`
// and Halide refused the first call because the variant's tiles reach outside the buffers
// (its bounds checks run before anything is computed, so nothing was written); throws
// RuntimeError for any other failure.
bool run_groups(const PreparedConv& p, const std::vector<Buffer>& filters, const ConvVariant& v, const Buffer& input,
                const Buffer* skip, const Buffer& output, const ConvCall& call, bool may_refuse = false) {
  int cin_g = input.dim(0).extent() / to_int(p.groups);
  int cout_g = output.dim(0).extent() / to_int(p.groups);
  // A 1-element stand-in for the skip input of variants that do not read it.
  static const Buffer unused(1, 1, 1, 1);
  for (int g = 0; g < to_int(p.groups); ++g) {
    // Channel views of group g, translated so that channel 0 of the group is index 0.
    // (On OpenCL a group's channel view may start off the device's alignment: it is then
    // copied through an aligned buffer.)
    Buffer in = at_origin(input.cropped(0, input.dim(0).min() + g * cin_g, cin_g)).launchable_copy(true);
    Buffer out_view = at_origin(output.cropped(0, output.dim(0).min() + g * cout_g, cout_g));
    Buffer out = out_view.launchable_copy(false);
    Buffer sk =
        skip ? at_origin(skip->cropped(0, skip->dim(0).min() + g * cout_g, cout_g)).launchable_copy(true) : unused;
    const Buffer& all_taps = filters[static_cast<size_t>(g)];
    Buffer filter = at_origin(all_taps.cropped(2, call.first_kx, call.kw).cropped(3, call.first_ky, call.kh));
    int result =
        v.fn(in.raw_buffer(), filter.raw_buffer(), const_cast<Buffer&>(p.biases[static_cast<size_t>(g)]).raw_buffer(),
             sk.raw_buffer(), to_int(p.win.sw), to_int(p.win.sh), to_int(p.win.dw), to_int(p.win.dh), call.pad_x,
             call.pad_y, out.raw_buffer());
    if (may_refuse && g == 0 && result == halide_error_code_access_out_of_bounds) return false;
    check(result, v.name);
    if (out.data() != out_view.data()) out_view.copy_contents_from(out);
  }
  return true;
}

// A variant's register tile at this machine's ISA: at AVX2 every register-tiled variant's
// tile is 16 channels (2 vectors of 8, and a task of 16 channels) by at most
// kConvPixelTileAvx2 pixels (schedules/conv.cpp); elsewhere the variant's own.
bool avx2_register_tile(const ConvVariantSet& v) {
  return cpu_isa() == CpuIsa::Avx2 &&
         (v.kind == ConvKind::Tiled || v.kind == ConvKind::Narrow || v.kind == ConvKind::Direct);
}
int tile_channels(const ConvVariantSet& v) { return avx2_register_tile(v) ? 16 : v.channels; }
int tile_pixels(const ConvVariantSet& v) {
  return avx2_register_tile(v) ? std::min(v.pixels, kConvPixelTileAvx2) : v.pixels;
}

// The AVX2 default's direct tile: direct's 7 pixels are 6 there, direct-p5's 5 and
// direct-c64-p4's 4 (its 64 channels are AVX-512's). It takes the one that computes the fewest
// pixels per row, the edge tile shifted inwards counted, a pixel of a 5- or 4-pixel tile
// counted 2 or 4 % dearer (fewer accumulators per filter load): 4 pixels on 7-, 28- and
// 56-wide maps, 5 on 14-wide ones, 6 on 112-wide ones. On this project's AVX2 host (Zen 4 with
// AVX-512 hidden) the 6-pixel tile computed 12 pixels per 7-wide row, and ResNet-50's layer4
// convs ran 1.2-1.4x slower than with 4 (docs/PERFORMANCE.md, section 11). Seven pixels (14
// accumulators) spill: ResNet-50 with every direct conv at 7 ran 109 ms against 58. Returns -1
// where no tile fits the width.
ConvSchedule avx2_direct_default(int width, bool residual, Activation act) {
  static const ConvSchedule candidates[] = {named("direct"), named("direct-p5"), named("direct-c64-p4")};
  ConvSchedule best = -1;
  int64_t cheapest = std::numeric_limits<int64_t>::max();
  for (ConvSchedule s : candidates) {
    int px = tile_pixels(kConvVariants[s]);
    int64_t cost = int64_t{(width + px - 1) / px * px} * (100 + 2 * (kConvPixelTileAvx2 - px));
    if (width >= px && cost < cheapest && compiled(s, residual, act)) {
      best = s;
      cheapest = cost;
    }
  }
  return best;
}

// Outputs of under 64 channels per group that are not whole 32-channel tiles (MobileNet-V2's
// and EfficientNet-B0's projections to 16, 24 and 40 channels, FCN's 21 classes), at least 14
// wide: at AVX-512 the default runs them in tiles of 16 channels x 14 pixels (direct-c16-p14).
// Against the 32-channel tile (widened into a scratch buffer and copied out under 32
// channels) they compute a third to a half fewer lanes in vain. At AVX2, where every direct
// tile is 16 channels, those of 16 to 31 channels run the AVX2 direct default unwidened
// (MobileNet-V2's 32 -> 16 at 112x112: docs/PERFORMANCE.md, section 11); 32 to 63 take
// the deep convs' way. Returns the variant where that holds, else -1.
ConvSchedule narrow_tile_default(int cout_g, int width, bool residual, Activation act) {
  if (cout_g % kConvChannelTile == 0 || cout_g >= 2 * kConvChannelTile) return -1;
  if (cpu_isa() == CpuIsa::Avx2)
    return cout_g >= 16 && cout_g < kConvChannelTile ? avx2_direct_default(width, residual, act) : -1;
  static const ConvSchedule narrow16 = named("direct-c16-p14");
  bool fits =
      cpu_isa() == CpuIsa::Avx512 && width >= kConvVariants[narrow16].pixels && compiled(narrow16, residual, act);
  return fits ? narrow16 : -1;
}

// The schedule that runs: `requested` where its preconditions hold (kernels.h) and it was
// compiled with this epilogue, else the default choice.
ConvSchedule choose(ConvSchedule requested, const Window& w, const Buffer& input, const Buffer* skip,
                    const Buffer& output, int64_t groups, Activation act) {
  int cin_g = input.dim(0).extent() / to_int(groups);
  int cout_g = output.dim(0).extent() / to_int(groups);
  int width = output.dim(1).extent();
  bool deep = cout_g >= kConvChannelTile;
  // A variant whose register tile spans several channel tiles runs on whole tiles only.
  auto whole_tiles = [&](const ConvVariantSet& v) {
    return tile_channels(v) <= kConvChannelTile || cout_g % tile_channels(v) == 0;
  };
  bool blockable = cin_g % kConvInputBlock == 0;
  if (requested >= 0 && compiled(requested, skip != nullptr, act)) {
    const ConvVariantSet& v = kConvVariants[requested];
    switch (v.kind) {
      case ConvKind::Tiled:
      case ConvKind::Narrow:
      case ConvKind::Direct:
        // A 16-channel tile (direct-c16-p14) runs on any channel count: its edge tile is guarded.
        if ((deep || tile_channels(v) < kConvChannelTile) && width >= tile_pixels(v) && whole_tiles(v))
          return requested;
        break;
      case ConvKind::Blocked:
        if (deep && width >= v.pixels && blockable) return requested;
        break;
      case ConvKind::Auto:
        // Their tiles (up to the estimates' 28 pixels) shift inwards too; measured to run on
        // 7x7 outputs with 32+ channels on AVX-512, not on 1-pixel or 5-channel ones (where
        // Halide still refuses a call, run_conv runs the default).
        if (deep && width >= v.pixels && output.dim(2).extent() >= kConvNarrowPixels) return requested;
        break;
      case ConvKind::Simple:
        return requested;
      case ConvKind::Winograd:
        // 3x3 at stride and dilation 1, the right padding at most the left (the generator
        // numbers its tiles from the output width that padding gives: winograd.cpp).
        if (w.kw == 3 && w.kh == 3 && w.sw == 1 && w.sh == 1 && w.dw == 1 && w.dh == 1 &&
            output.dim(1).extent() <= input.dim(1).extent() + 2 * w.pad_left - 2 && width >= v.pixels)
          return requested;
        break;
    }
  }
  // Direct: the 7-pixel tile reading a zero-padded copy of the input measured faster than
  // staging each tile's padded window (narrow, tiled), most of all for dilated convs, whose
  // windows are (k-1)*dilation wider than the tile (docs/ARCHITECTURE.md has the figures).
  // Blocked (64-channel reduction blocks) used to be the default for 512+ input channels; since
  // the filter is laid out by 32-channel tiles, direct beats it on every such layer measured:
  // `archbench tune` on U-Net and VGG-16, 8 signatures, by 0-40 % (U-Net's 1024->1024 3x3:
  // 84 ms direct, 142 blocked), and forcing direct on FCN-ResNet50 and DeepLabV3 at 512x512 was
  // 0.1-3 % faster end to end in 6 alternating runs. Blocked stays a candidate for tuning.
  // On maps at least 32 wide with outputs in whole 64-channel tiles, direct-c64-p4 (64
  // channels x 4 pixels a register tile) where that leaves 8+ tasks: 5-20 % faster than direct
  // on DeepLabV3's and FCN's 64x64 maps and VGG's 224x224 ones; narrower maps waste its
  // shifted edge tiles (14x14: 20 % slower) and 64-channel ones on 56 rows leave too few tasks.
  // Only AVX-512 code has the 64-channel tile: below it the variant's tile is direct's with
  // fewer pixels (AVX2: 16 channels x 4 pixels against 6; VGG-16 at AVX2 ran 183 ms with it,
  // 175 with direct).
  static const ConvSchedule simple = named("simple"), direct = named("direct"), wide = named("direct-c64-p4");
  if (ConvSchedule narrow = narrow_tile_default(cout_g, width, skip != nullptr, act); narrow >= 0) return narrow;
  if (!deep) return simple;
  // Winograd F(4x4, 3x3) for 3x3 convs at stride and dilation 1 with 64+ input channels on
  // maps at least 13 wide: 2.25x fewer multiplies, and in `archbench tune` on this machine it
  // beat the direct default on every such signature of the zoo (44 of 44: by 1.09-2.52x, VGG-16
  // and U-Net about 2x, ResNet-50's 56/28/14 maps 1.64/1.46/1.30x); on 7x7 maps and with
  // fewer channels the transforms cost more than they save. Its rounding differs from direct
  // convolution's by about 1e-6 of a layer's output (tests/test_kernels.cpp bounds it);
  // `--schedule direct` keeps direct everywhere. Tiles: bands of 96 on maps 56+ wide, tasks per
  // channel tile below (the tuner's winners: rows-t96 on 56-68 wide maps, ch-t48-p8 on 13-32).
  // Below 56 wide, only for 64+ outputs: DenseNet-121's 128->32 3x3 convs ran in 0.165 ms
  // direct against 0.195-0.218 Winograd on its 28-wide maps, 0.047-0.051 against 0.073-0.091
  // on the 14-wide ones (best of 3 interleaved runs per layer, 2 threads); on its 56-wide maps
  // Winograd's bands stay ahead (0.49-0.58 against 0.64-0.68 ms). Bands of 24 tiles on 28-wide
  // maps, which the tuned database prefers for 96-192 outputs, were tried in the networks and
  // not kept: faster in ResNet-18's layer2 (1.65 -> 1.48 ms), slower in ResNet-50's (1.09 ->
  // 1.46) and GoogLeNet's 3a/3b (0.76 -> 0.91), the same signatures measuring differently in
  // a network than alone.
  static const ConvSchedule wino_rows = named("winograd-m4-rows-t96"), wino_channels = named("winograd-m4-ch-t48-p8");
  const ConvSchedule wino = width >= 56 ? wino_rows : wino_channels;
  if (w.kw == 3 && w.kh == 3 && w.sw == 1 && w.sh == 1 && w.dw == 1 && w.dh == 1 && cin_g >= 64 &&
      (cout_g >= 64 || width >= 56) && width >= 13 &&
      output.dim(1).extent() <= input.dim(1).extent() + 2 * w.pad_left - 2 && compiled(wino, skip != nullptr, act))
    return wino;
  // Below 32 wide, direct-c64-p4 also where its 4-pixel tiles compute fewer pixels per row
  // than direct's 7 (the edge tile shifted inwards counted): the bands that DeepLabV3's ASPP
  // convs are split into (12, 16, 24 and 8 wide beside the map's 64; run_groups) computed
  // 17-75 % more pixels than they have with 7, and the three convs took 170, 138 and 87 ms
  // against 145, 105 and 73 with 4 (one 2048 -> 256 conv alone at dilation 12, 24, 36 on a
  // 64x64 map, 2 threads, best of 2 alternating rounds). On the zoo's undilated maps (7, 14,
  // 28, 56 wide; AlexNet's 13) 7 computes as few or fewer, and the rule keeps direct there.
  const ConvVariantSet& c64 = kConvVariants[wide];
  int64_t tasks = cout_g / c64.channels * ((output.dim(2).extent() + kConvRowBand - 1) / kConvRowBand);
  const int direct_px = kConvVariants[direct].pixels;
  auto computed = [&](int px) { return width < px ? std::numeric_limits<int>::max() : (width + px - 1) / px * px; };
  bool fewer_pixels = computed(c64.pixels) < computed(direct_px);
  if (cpu_isa() == CpuIsa::Avx512 && width >= c64.pixels && (width >= 32 || fewer_pixels) && whole_tiles(c64) &&
      tasks >= 8 && compiled(wide, skip != nullptr, act))
    return wide;
  if (width < direct_px) return simple;
  if (cpu_isa() == CpuIsa::Avx2)
    if (ConvSchedule tile = avx2_direct_default(width, skip != nullptr, act); tile >= 0) return tile;
  return direct;
}

// The filters transformed for Winograd F(m x m, 3 x 3), U = G g G^T per output and input
// channel (schedules/winograd.h), laid out (co % 32, ci, a, b, co / 32) like p.filters; made
// from p.filters on first use and kept in the PreparedConv.
const std::vector<Buffer>& winograd_filters(const PreparedConv& p, int m) {
  std::vector<Buffer>& made = p.winograd_filters[m];
  if (!made.empty()) return made;
  const int A = winograd::alpha(m), K = winograd::kTaps;
  for (const Buffer& f : p.filters) {
    if (f.dim(2).extent() != K || f.dim(3).extent() != K) throw RuntimeError("winograd needs a 3x3 filter");
    Buffer u(f.dim(0).extent(), f.dim(1).extent(), A, A, f.dim(4).extent());
    for (int tile = 0; tile < f.dim(4).extent(); ++tile)
      for (int ci = 0; ci < f.dim(1).extent(); ++ci)
        for (int lane = 0; lane < f.dim(0).extent(); ++lane)
          for (int a = 0; a < A; ++a)
            for (int b = 0; b < A; ++b) {
              double sum = 0;
              for (int kx = 0; kx < K; ++kx)
                for (int ky = 0; ky < K; ++ky)
                  sum += winograd::g(m, a, kx) * f(lane, ci, kx, ky, tile) * winograd::g(m, b, ky);
              u(lane, ci, a, b, tile) = static_cast<float>(sum);
            }
    made.push_back(std::move(u));
  }
  return made;
}

}  // namespace

Buffer ConvScratch::view(Slot slot, const std::array<int, 4>& extents) {
  int64_t elements = 1;
  for (int e : extents) elements *= e;
  Buffer& memory = slots_.at(static_cast<size_t>(slot));
  if (memory.dimensions() == 0 || memory.number_of_elements() < static_cast<size_t>(elements))
    memory = Buffer(to_int(elements));
  return Buffer(memory.data(), extents[0], extents[1], extents[2], extents[3]);
}

int64_t ConvScratch::bytes() const {
  int64_t total = 0;
  for (const Buffer& memory : slots_)
    if (memory.dimensions() > 0) total += static_cast<int64_t>(memory.size_in_bytes());
  return total;
}

namespace {

// `input` as the direct conv variant needs it: every tap of every output pixel inside. The
// input itself where the window needs no padding; else a copy with zero borders, in the conv
// scratch.
Buffer padded_input(const PreparedConv& p, const Buffer& input, const Buffer& output) {
  const Window& w = p.win;
  auto needed = [](int64_t out, int64_t stride, int64_t dil, int64_t k) {
    return (out - 1) * stride + dil * (k - 1) + 1;
  };
  int64_t need_w = needed(output.dim(1).extent(), w.sw, w.dw, w.kw);
  int64_t need_h = needed(output.dim(2).extent(), w.sh, w.dh, w.kh);
  int width = input.dim(1).extent(), height = input.dim(2).extent();
  if (w.pad_left == 0 && w.pad_top == 0 && need_w <= width && need_h <= height) return input;
  int pw = to_int(std::max(need_w, w.pad_left + width)), ph = to_int(std::max(need_h, w.pad_top + height));
  Buffer scratch = p.scratch->view(ConvScratch::PaddedInput, {input.dim(0).extent(), pw, ph, input.dim(3).extent()});
  // The pad kernel: vectorised, on all threads.
  copy_with_border(input, scratch, to_int(w.pad_left), to_int(w.pad_top), 0.0f, "conv (zero-padded input)");
  return scratch;
}

// A GPU set's conv: one call per group with the whole window; `schedule` a GPU variant
// (indices after the cpu ones), else the default: gpu-tiled where the output has room for its
// 8 x 4-pixel blocks, gpu-simple on small maps (7x7, 14x14: more, smaller blocks). The
// autoscheduled baseline splits input and output channels by 64 with its tails shifted
// inwards (read off its generated code), so it runs with 64+ of each per group and no skip
// input aliasing the output (a shifted tile computes some outputs twice); else the default.
std::string run_conv_gpu(const PreparedConv& p, const Buffer& input, const Buffer* skip, Buffer& output, Activation act,
                         ConvSchedule schedule) {
  static const std::vector<std::array<std::string, 5>> names = library_names(kGpuConvVariants);
  int v = schedule - kConvVariantCount;
  if (v >= 0 && v < kGpuConvVariantCount && kGpuConvVariants[v].autoscheduled) {
    bool aliased = skip && skip->data() == output.data();
    constexpr int kLi2018ChannelSplit = 64;
    if (aliased || output.dim(0).extent() / to_int(p.groups) < kLi2018ChannelSplit ||
        input.dim(0).extent() / to_int(p.groups) < kLi2018ChannelSplit)
      v = -1;
  }
  if (v < 0 || v >= kGpuConvVariantCount) {
    bool roomy = output.dim(1).extent() >= 16 && output.dim(2).extent() >= 8;
    v = roomy ? 0 : 1;  // gpu-tiled, gpu-simple (conv.cmake's order)
  }
  int e = epilogue_index(skip != nullptr, act);
  if (e < 0) throw RuntimeError("a fused residual add is compiled with relu only");
  const GpuConvVariant& var = kGpuConvVariants[v];
  ConvFn fn = for_set<ConvFn>(nullptr, var.cuda[e], var.opencl[e]);
  const Window& w = p.win;
  ConvCall call{to_int(w.pad_left), to_int(w.pad_top), 0, to_int(w.kw), 0, to_int(w.kh)};
  run_groups(p, p.filters, {names[static_cast<size_t>(v)][static_cast<size_t>(e)].c_str(), fn}, input, skip, output,
             call);
  output.mark_written();
  return var.name;
}

}  // namespace

const std::vector<std::pair<std::string, ConvSchedule>>& conv_schedules() {
  static const std::vector<std::pair<std::string, ConvSchedule>> names = [] {
    std::vector<std::pair<std::string, ConvSchedule>> n{{"default", kDefaultConvSchedule}};
    for (int i = 0; i < kConvVariantCount; ++i) n.emplace_back(kConvVariants[i].name, i);
    for (int i = 0; i < kGpuConvVariantCount; ++i) n.emplace_back(kGpuConvVariants[i].name, kConvVariantCount + i);
    return n;
  }();
  return names;
}

const std::vector<std::pair<std::string, std::string>>& absent_conv_schedules() {
  static const std::vector<std::pair<std::string, std::string>> absent = {
#define ARCHBENCH_ABSENT_CONV_VARIANT(name, how) {name, how},
#include "conv_variants_absent.inc"
#undef ARCHBENCH_ABSENT_CONV_VARIANT
  };
  return absent;
}

const std::vector<std::pair<std::string, DepthwiseSchedule>>& depthwise_schedules() {
  static const std::vector<std::pair<std::string, DepthwiseSchedule>> names = {
      {"default", DepthwiseSchedule::Default},
      {"columns", DepthwiseSchedule::Columns},
      {"staged", DepthwiseSchedule::Staged},
      {"interior", DepthwiseSchedule::Interior},
      {"framed", DepthwiseSchedule::Framed}};
  return names;
}

Buffer to_halide(const Tensor& t) {
  Shape s = t.nchw();
  Buffer b(to_int(s.c), to_int(s.w), to_int(s.h), to_int(s.n));
  from_nchw(t, b);
  return b;
}

void from_nchw(const Tensor& t, Buffer& b) {
  Shape s = t.nchw();
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t y = 0; y < s.h; ++y)
        for (int64_t x = 0; x < s.w; ++x)
          b(b.dim(0).min() + static_cast<int>(c), b.dim(1).min() + static_cast<int>(x),
            b.dim(2).min() + static_cast<int>(y), b.dim(3).min() + static_cast<int>(n)) = t.at(n, c, y, x);
  b.host_written();
}

Tensor to_nchw(const Buffer& b) {
  Tensor t(Shape{b.dim(3).extent(), b.dim(0).extent(), b.dim(2).extent(), b.dim(1).extent()});
  for (int n = 0; n < b.dim(3).extent(); ++n)
    for (int c = 0; c < b.dim(0).extent(); ++c)
      for (int y = 0; y < b.dim(2).extent(); ++y)
        for (int x = 0; x < b.dim(1).extent(); ++x)
          t.at(n, c, y, x) = b(b.dim(0).min() + c, b.dim(1).min() + x, b.dim(2).min() + y, b.dim(3).min() + n);
  return t;
}

PreparedConv prepare_conv(const ConvAttrs& a, const Tensor& weight, const Tensor* bias,
                          const std::optional<BatchNormParams>& bn, bool allow_depthwise) {
  PreparedConv p;
  p.win = a.win;
  p.groups = a.groups;
  int64_t cout = weight.shape.at(0), cin_g = weight.shape.at(1), kh = weight.shape.at(2), kw = weight.shape.at(3);
  int64_t cout_g = cout / a.groups;
  std::vector<double> scale(static_cast<size_t>(cout), 1.0), shift(static_cast<size_t>(cout), 0.0);
  for (int64_t co = 0; co < cout; ++co) {
    size_t i = static_cast<size_t>(co);
    double b = bias ? bias->data[i] : 0.0;
    if (bn) {
      scale[i] = bn->gamma->data[i] / std::sqrt(static_cast<double>(bn->var->data[i]) + bn->eps);
      shift[i] = (b - bn->mean->data[i]) * scale[i] + bn->beta->data[i];
    } else {
      shift[i] = b;
    }
  }
  p.depthwise = allow_depthwise && a.groups > 1 && cin_g == 1 && cout_g == 1;
  auto folded = [&](int64_t o, int64_t ci, int64_t ky, int64_t kx) {
    double w = weight.data[static_cast<size_t>(((o * cin_g + ci) * kh + ky) * kw + kx)];
    return static_cast<float>(w * scale[static_cast<size_t>(o)]);
  };
  if (p.depthwise) {
    Buffer f(to_int(cout), to_int(kw), to_int(kh));
    Buffer b(to_int(cout));
    for (int64_t c = 0; c < cout; ++c) {
      b(static_cast<int>(c)) = static_cast<float>(shift[static_cast<size_t>(c)]);
      for (int64_t ky = 0; ky < kh; ++ky)
        for (int64_t kx = 0; kx < kw; ++kx)
          f(static_cast<int>(c), static_cast<int>(kx), static_cast<int>(ky)) = folded(c, 0, ky, kx);
    }
    f.upload();
    b.upload();
    p.filters.push_back(std::move(f));
    p.biases.push_back(std::move(b));
    return p;
  }
  for (int64_t g = 0; g < a.groups; ++g) {
    // Filter (co % T, ci, kx, ky, co / T) and bias, zero-padded to whole channel tiles plus
    // one: the kernels compute whole tiles (and Halide's bounds for the last one are loose).
    int tiles = to_int((cout_g + kConvChannelTile - 1) / kConvChannelTile) + 1;
    Buffer f(kConvChannelTile, to_int(cin_g), to_int(kw), to_int(kh), tiles);
    Buffer b(kConvChannelTile * tiles);
    fill(f, 0.0f);
    fill(b, 0.0f);
    for (int64_t co = 0; co < cout_g; ++co) {
      int64_t o = g * cout_g + co;
      int lane = static_cast<int>(co % kConvChannelTile), tile = static_cast<int>(co / kConvChannelTile);
      b(static_cast<int>(co)) = static_cast<float>(shift[static_cast<size_t>(o)]);
      for (int64_t ci = 0; ci < cin_g; ++ci)
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = 0; kx < kw; ++kx)
            f(lane, static_cast<int>(ci), static_cast<int>(kx), static_cast<int>(ky), tile) = folded(o, ci, ky, kx);
    }
    f.upload();
    b.upload();
    p.filters.push_back(std::move(f));
    p.biases.push_back(std::move(b));
  }
  return p;
}

namespace {

template <typename Schedule>
const std::string& name_of(const std::vector<std::pair<std::string, Schedule>>& known, Schedule s) {
  for (const auto& [n, v] : known)
    if (v == s) return n;
  return known.front().first;
}

// The output band along one dimension whose every tap falls inside the input (empty: none).
TapBand inside_band(int out, int in, int64_t k, int64_t s, int64_t d, int64_t pad) {
  for (const TapBand& b : tap_bands(out, in, k, s, d, pad))
    if (b.first_tap == 0 && b.end_tap == k) return b;
  return {0, 0, 0, 0};
}

// Whether a conv of under kConvChannelTile output channels runs as a whole tile (run_conv):
// for the default and the schedules that need whole tiles (not simple or Winograd, which run
// on any channel count), on the cpu set, without a residual add, one group, on outputs at
// least kConvNarrowPixels wide (direct's tile). The default then runs direct; against
// simple, each 1x1 conv alone (bench --per-layer, the best median of 3 alternating rounds,
// 2 threads, AVX-512), the copy included: 32 -> 16 at 112x112 0.87x, 96 -> 24 and 144 -> 24
// at 56x56 0.55x and 0.49x, 64 -> 8 at 56x56 0.63x, 512 -> 21 at 64x64 0.39x, 64 -> 2 at
// 388x388 0.57x. In MobileNet-V2 the 112x112 one's gain went to the next kernels (its
// scratch is twice its output): the kernels summed, 2.548 -> 2.525 ms.
bool widen_output(const PreparedConv& p, const Buffer* skip, const Buffer& output, ConvSchedule schedule,
                  Activation act) {
  // A GPU set's schedule (past the cpu variants) runs the default here.
  const bool cpu_variant = schedule >= 0 && schedule < kConvVariantCount;
  const bool whole_tiles = !cpu_variant || (kConvVariants[schedule].kind != ConvKind::Simple &&
                                            kConvVariants[schedule].kind != ConvKind::Winograd);
  // Not where a 16-channel tile runs (requested, or the default's pick): it needs no widening.
  const bool narrow_tile =
      cpu_variant ? tile_channels(kConvVariants[schedule]) < kConvChannelTile
                  : schedule == kDefaultConvSchedule &&
                        narrow_tile_default(output.dim(0).extent(), output.dim(1).extent(), false, act) >= 0;
  return whole_tiles && !narrow_tile && current_kernel_set() == KernelSet::Cpu && !skip && p.groups == 1 &&
         output.dim(0).extent() < kConvChannelTile && output.dim(1).extent() >= kConvNarrowPixels;
}

// Depthwise on the cpu set, from kDepthwiseInteriorChannels channels and
// kDepthwiseInteriorPixels output columns: framed stages each task's input with its zero
// border and reads it with no bounds tests, in one call; interior runs the outputs whose
// taps all fall inside the input with no bounds tests, and the border strips around them (at
// most four) with columns. The default takes framed for undilated filters where its staging
// is small next to the taps (stride_x x stride_y at most a quarter of kw x kh: stride 1, and
// 5x5 at stride 2); otherwise (3x3 at stride 2, dilated filters) interior on maps of
// kInteriorMinPixels outputs or more; the fallback elsewhere and on a GPU set.
std::string run_depthwise(const PreparedConv& p, const Buffer& input, Buffer& output, Activation act,
                          DepthwiseSchedule schedule) {
  const Window& w = p.win;
  const int channels = output.dim(0).extent(), out_w = output.dim(1).extent(), out_h = output.dim(2).extent();
  // Runs `entry` on output rows [y0, y1) x columns [x0, x1) (translated to the origin, the
  // padding shifted to match).
  auto run = [&](const DepthwiseEntry& e, int y0, int y1, int x0, int x1) {
    if (y0 >= y1 || x0 >= x1) return;
    Buffer in = at_origin(input);
    Buffer out =
        at_origin(output.cropped(1, output.dim(1).min() + x0, x1 - x0).cropped(2, output.dim(2).min() + y0, y1 - y0));
    check(e.fn()(in.raw_buffer(), const_cast<Buffer&>(p.filters[0]).raw_buffer(),
                 const_cast<Buffer&>(p.biases[0]).raw_buffer(), to_int(w.sw), to_int(w.sh), to_int(w.dw), to_int(w.dh),
                 to_int(w.pad_left - x0 * w.sw), to_int(w.pad_top - y0 * w.sh), out.raw_buffer()),
          e.name);
  };
  const bool tiles_fit = current_kernel_set() == KernelSet::Cpu && channels >= kDepthwiseInteriorChannels &&
                         out_w >= kDepthwiseInteriorPixels;
  // Each kernel alone (bench --per-layer, the best median of 3 alternating rounds, 2 threads,
  // AVX-512), framed against interior / columns: 3x3 at stride 1 0.80-1.03x / 0.26-0.85x on
  // 7x7 to 112x112 maps, 5x5 0.54-0.74x / 0.34-0.64x, 5x5 at stride 2 0.85x / 0.63x; 3x3 at
  // stride 2, where it stages about half an input per tap, 1.1-1.55x / 0.87-1.06x. Dilated
  // 3x3 (144 channels, 56x56), where a band stages 2 x dilation more rows: dilation 2 0.99x
  // interior's time, 4 1.17x, 8 1.22x.
  if (schedule == DepthwiseSchedule::Default && tiles_fit && w.dw == 1 && w.dh == 1 && 4 * w.sw * w.sh <= w.kw * w.kh)
    schedule = DepthwiseSchedule::Framed;
  // The default runs interior on maps of kInteriorMinPixels outputs or more. Each kernel call
  // in MobileNet-V2 against columns (bench --per-layer, medians, 2 threads, AVX-512): 3.4-5.3x
  // faster at 112x112, 1.3-2.8x at 56x56 and 28x28; at 14x14 and 7x7, where its five calls
  // cost more than the bounds tests they save, 0.8-1.1x and 0.7x.
  constexpr int kInteriorMinPixels = 20 * 20;
  const bool wanted = schedule == DepthwiseSchedule::Interior ||
                      (schedule == DepthwiseSchedule::Default && out_w * out_h >= kInteriorMinPixels);
  TapBand rows{0, 0, 0, 0}, cols{0, 0, 0, 0};  // empty: the fallback runs
  if (wanted && tiles_fit) {
    rows = inside_band(out_h, input.dim(2).extent(), w.kh, w.sh, w.dh, w.pad_top);
    cols = inside_band(out_w, input.dim(1).extent(), w.kw, w.sw, w.dw, w.pad_left);
  }
  if (schedule == DepthwiseSchedule::Framed && tiles_fit) {
    run(depthwise_entry(DepthwiseSchedule::Framed, act), 0, out_h, 0, out_w);
  } else if (rows.end <= rows.first || cols.end - cols.first < kDepthwiseInteriorPixels) {
    schedule = depthwise_fallback(schedule, channels);
    run(depthwise_entry(schedule, act), 0, out_h, 0, out_w);
  } else {
    schedule = DepthwiseSchedule::Interior;
    run(depthwise_entry(DepthwiseSchedule::Interior, act), rows.first, rows.end, cols.first, cols.end);
    const DepthwiseEntry& border = depthwise_entry(DepthwiseSchedule::Columns, act);
    run(border, 0, rows.first, 0, out_w);                // top
    run(border, rows.end, out_h, 0, out_w);              // bottom
    run(border, rows.first, rows.end, 0, cols.first);    // left
    run(border, rows.first, rows.end, cols.end, out_w);  // right
  }
  output.mark_written();
  return name_of(depthwise_schedules(), schedule);
}

}  // namespace

namespace {

// A filter slice of one output channel tile (kConvChannelTile x Cin x kh x kw floats) past
// this many bytes is split by input channels into parts of at most kReductionPartBytes. The
// 3x3 conv 2048 -> 512 on a 64x64 map (FCN's head) ran at 64-66 % of peak, the same conv with
// 1024 input channels at 70-73 % and with 512 at 75-83 % (this machine: 1 MiB of L2 a core).
// Split into 4 parts FCN's head went from 238 to 202 ms, DeepLabV3's ASPP 3x3 convs (2048
// input channels, dilated) to 0.81-0.93 of their time (best of 3 alternating rounds).
constexpr int64_t kReductionSplitBytes = int64_t{1} << 20;
constexpr int64_t kReductionPartBytes = int64_t{640} << 10;

// How many input-channel parts `p` runs as on the cpu set: 1 where it is not split (grouped or
// depthwise convs, activations other than relu, which has a fused add epilogue, and filter
// slices that fit).
int reduction_parts(const PreparedConv& p, Activation act) {
  if (p.depthwise || p.groups != 1 || (act != Activation::None && act != Activation::ReLU)) return 1;
  const int cin = p.filters.front().dim(1).extent();
  const int64_t slice = int64_t{kConvChannelTile} * cin * p.win.kh * p.win.kw * int64_t{sizeof(float)};
  if (slice <= kReductionSplitBytes) return 1;
  // At least one input channel a part (a wide filter on few channels), and no empty last part.
  const int wanted = to_int(std::min<int64_t>((slice + kReductionPartBytes - 1) / kReductionPartBytes, cin));
  const int per_part = (cin + wanted - 1) / wanted;
  return (cin + per_part - 1) / per_part;
}

// The conv as `parts` partial convs over input-channel ranges: the first (with the bias) into
// a partial sum, each next one added to it, the skip too, and the last with the add (and relu)
// fused into the output. Each part's filter is a view of the whole filter's channel range.
std::string run_reduction_parts(const PreparedConv& p, int parts, const Buffer& input, const Buffer* skip,
                                Buffer& output, Activation act, ConvSchedule schedule) {
  const int cin = input.dim(0).extent();
  const int per_part = (cin + parts - 1) / parts;
  if (p.reduction_parts.size() != static_cast<size_t>(parts)) {
    p.reduction_parts.clear();
    Buffer zeros(p.biases.front().dim(0).extent());  // the bias of every part after the first
    fill(zeros, 0.0f);
    for (int k = 0; k < parts; ++k) {
      const int first = k * per_part, count = std::min(per_part, cin - first);
      PreparedConv part;
      part.win = p.win;
      part.scratch = p.scratch;
      part.filters = {at_origin(p.filters.front().cropped(1, first, count))};
      part.biases = {k == 0 ? p.biases.front() : zeros};
      p.reduction_parts.push_back(std::move(part));
    }
  }
  auto channels = [&](int k) {
    return input.cropped(0, input.dim(0).min() + k * per_part, std::min(per_part, cin - k * per_part));
  };
  const std::array<int, 4> extents{output.dim(0).extent(), output.dim(1).extent(), output.dim(2).extent(),
                                   output.dim(3).extent()};
  Buffer sum = p.scratch->view(ConvScratch::PartialSum, extents);
  Buffer term = p.scratch->view(ConvScratch::PartialTerm, extents);
  std::string ran =
      run_conv(p.reduction_parts[0], channels(0), nullptr, sum, Activation::None, schedule, DepthwiseSchedule::Default);
  for (int k = 1; k + 1 < parts; ++k) {
    run_conv(p.reduction_parts[static_cast<size_t>(k)], channels(k), nullptr, term, Activation::None, schedule,
             DepthwiseSchedule::Default);
    run_add(sum, term, sum, false);
  }
  if (skip) run_add(sum, at_origin(*skip), sum, false);
  const PreparedConv& last = p.reduction_parts.back();
  if (act == Activation::ReLU) {
    run_conv(last, channels(parts - 1), &sum, output, Activation::ReLU, schedule, DepthwiseSchedule::Default);
  } else {
    run_conv(last, channels(parts - 1), nullptr, term, Activation::None, schedule, DepthwiseSchedule::Default);
    run_add(sum, term, output, false);
  }
  output.mark_written();
  return ran;
}

// --- atrous convs as one undilated conv on a mosaic of their sub-grids -------------------
//
// A 3x3 conv at dilation d (stride 1) reads, for an output pixel (a + d i, b + d j), only
// inputs on the same sub-grid (a + d i', b + d j'): on each of the d x d sub-grids it is an
// undilated 3x3 conv with padding 1 where the dilated one has padding d. So it can run as
// Winograd F(4x4, 3x3), which the zoo's undilated 3x3 convs run 1.3-2.5x faster than direct.
// DeepLabV3's and FCN's layer3 (d = 2) and layer4 (d = 4) 3x3 convs are a quarter of those
// networks' time. One call per sub-grid would read the whole transformed filter (37 MB for
// 512 -> 512) once per 16x16 sub-image, so the sub-grids are copied into the cells of one
// image, a mosaic with one zero column and row between neighbouring cells (their padding;
// the conv's own padding of 1 borders the mosaic), which runs as one undilated conv, and the
// mosaic's output is copied back to the sub-grids. Between cells it computes garbage that is
// dropped; the layout is the one that computes the fewest pixels in whole 4x4 tiles.

// A mosaic: sub-grid s = b d + a in cell (s % columns, s / columns); a cell as wide as the
// widest sub-grid in its column and as tall as the tallest in its row.
struct Mosaic {
  int d = 0, columns = 0;
  std::vector<int> x, y;  // per column and row of cells: its offset in the mosaic
  int width = 0, height = 0;
  int64_t tiled_pixels(int m) const { return int64_t{(width + m - 1) / m * m} * ((height + m - 1) / m * m); }
  // Sub-grid s's cell: its first column and row, and where the next cell begins (or the
  // mosaic ends), so that [x0, x1) x [y0, y1) includes the zero column and row after it.
  struct Cell {
    int x0, y0, x1, y1;
  };
  Cell cell(int s) const {
    const size_t col = static_cast<size_t>(s % columns), row = static_cast<size_t>(s / columns);
    return {x[col], y[row], col + 1 < x.size() ? x[col + 1] : width, row + 1 < y.size() ? y[row + 1] : height};
  }
};

int sub_grid_extent(int extent, int d, int first) { return (extent - first + d - 1) / d; }

Mosaic mosaic_layout(int d, int width, int height, int columns) {
  Mosaic m;
  m.d = d;
  m.columns = columns;
  const int cells = d * d, rows = (cells + columns - 1) / columns;
  std::vector<int> cell_w(static_cast<size_t>(columns), 0), cell_h(static_cast<size_t>(rows), 0);
  for (int s = 0; s < cells; ++s) {
    int& w = cell_w[static_cast<size_t>(s % columns)];
    int& h = cell_h[static_cast<size_t>(s / columns)];
    w = std::max(w, sub_grid_extent(width, d, s % d));
    h = std::max(h, sub_grid_extent(height, d, s / d));
  }
  for (int w : cell_w) m.x.push_back(m.width + static_cast<int>(m.x.size() > 0)), m.width = m.x.back() + w;
  for (int h : cell_h) m.y.push_back(m.height + static_cast<int>(m.y.size() > 0)), m.height = m.y.back() + h;
  return m;
}

// Of the layouts at least as wide as tall, the one with the fewest pixels in whole m x m
// tiles (ties: more columns). Wide, as the default's Winograd wants its maps (13+ wide; bands
// of tile rows from 56): a 1-column stack of 30x27's sub-grids at dilation 4 would be 8 wide.
Mosaic best_mosaic(int d, int width, int height, int m) {
  Mosaic best;
  for (int columns = d * d; columns >= 1; --columns) {
    Mosaic c = mosaic_layout(d, width, height, columns);
    if (c.width < c.height) continue;
    if (best.columns == 0 || c.tiled_pixels(m) < best.tiled_pixels(m)) best = std::move(c);
  }
  return best;
}

// The fraction of a 3-tap window's taps at dilation d and padding d that fall inside a
// `size`-long input, over its `size` outputs (the work of direct convolution split into tap
// bands).
double valid_tap_fraction(int size, int d) {
  int64_t valid = 0;
  for (const TapBand& b : tap_bands(size, size, 3, 1, d, d)) valid += (b.end_tap - b.first_tap) * (b.end - b.first);
  return static_cast<double>(valid) / (3.0 * size);
}

// Winograd F(4x4, 3x3) against direct convolution on the same pixels, at least (the tuner's
// measured 1.3-2.5x on the zoo's undilated 3x3 convs), for the choice below.
constexpr double kWinogradGain = 2.0;

// The mosaic for a width x height map at dilation d, where Winograd's work on it, its pixels
// in whole 4x4 tiles over the map's divided by kWinogradGain, is less than the fraction of
// taps direct convolution computes (the rest fall in the padding, which its tap bands skip);
// else none. Sub-grids under 3 pixels a side are not tried: DeepLabV3's ASPP convs on 64x64
// at dilation 24 and 36 (sub-grids 2-3 and 1-2 wide; at 24 the mosaic would be 1.89 times
// the map against 56 % of the taps; a 1-row strip took 223-235 ms at dilation 36, direct
// 83-86). The search is O(d^4), so the answer is kept per shape (a dilated conv asks on every
// run; DeepLabV3's d = 12 searches 144 layouts).
const std::optional<Mosaic>& mosaic_for(int d, int width, int height) {
  thread_local std::map<std::tuple<int, int, int>, std::optional<Mosaic>> known;
  auto [it, fresh] = known.try_emplace({d, width, height});
  if (fresh && width >= 3 * d && height >= 3 * d && d <= 32) {
    Mosaic m = best_mosaic(d, width, height, 4);
    const double winograd = static_cast<double>(m.tiled_pixels(4)) / (static_cast<double>(width) * height);
    if (winograd / kWinogradGain < valid_tap_fraction(width, d) * valid_tap_fraction(height, d))
      it->second = std::move(m);
  }
  return it->second;
}

// The mosaic `p` (with this input, output and fused add) runs on, if any: 3x3 at stride 1 and
// one dilation d > 1 in both directions, padding d on every side (the output's size is the
// input's), one group, no fused add (the skip would need its own mosaic), the cpu set, and a
// mosaic that pays (mosaic_for).
const std::optional<Mosaic>& atrous_mosaic(const PreparedConv& p, const Buffer& input, const Buffer* skip,
                                           const Buffer& output) {
  static const std::optional<Mosaic> none;
  const Window& w = p.win;
  const int width = input.dim(1).extent(), height = input.dim(2).extent();
  if (current_kernel_set() != KernelSet::Cpu || p.depthwise || p.groups != 1 || skip || w.kw != 3 || w.kh != 3 ||
      w.sw != 1 || w.sh != 1 || w.dw < 2 || w.dh != w.dw || w.pad_left != w.dw || w.pad_right != w.dw ||
      w.pad_top != w.dh || w.pad_bottom != w.dh || output.dim(1).extent() != width || output.dim(2).extent() != height)
    return none;
  return mosaic_for(to_int(w.dw), width, height);
}

// The sub-grid (a, b) of a (c, x, y, n) buffer with dilation d: elements (c, a + d i, b + d j, n),
// as a view with d-fold strides.
Buffer sub_grid(const Buffer& buf, int d, int a, int b) {
  halide_dimension_t dims[4];
  for (int k = 0; k < 4; ++k) dims[k] = buf.raw_buffer()->dim[k];
  for (int k : {1, 2}) {
    dims[k].extent = sub_grid_extent(buf.dim(k).extent(), d, k == 1 ? a : b);
    dims[k].stride *= d;
  }
  for (auto& dim : dims) dim.min = 0;
  float* origin = const_cast<float*>(buf.data()) + int64_t{a} * buf.dim(1).stride() + int64_t{b} * buf.dim(2).stride();
  return Buffer(origin, 4, dims);
}

// Runs `p` on mosaic `m` as described above with `schedule` (a Winograd variant, or the
// default: what the default picks for the mosaic); nullopt where that is not a Winograd
// variant (the caller runs the dilated conv as it is).
std::optional<std::string> run_atrous_mosaic(const PreparedConv& p, const Mosaic& m, const Buffer& input,
                                             Buffer& output, Activation act, ConvSchedule schedule) {
  const int channels = input.dim(0).extent(), out_channels = output.dim(0).extent(), batch = input.dim(3).extent();
  Window undilated = p.win;
  undilated.dw = undilated.dh = 1;
  undilated.pad_left = undilated.pad_right = undilated.pad_top = undilated.pad_bottom = 1;
  // The choice reads extents only: shapes without data, so nothing is allocated for a conv
  // that then runs as it is.
  const ConvSchedule chosen = choose(schedule, undilated, Buffer(nullptr, channels, m.width, m.height, batch), nullptr,
                                     Buffer(nullptr, out_channels, m.width, m.height, batch), 1, act);
  if (kConvVariants[chosen].kind != ConvKind::Winograd) return std::nullopt;
  Buffer in_mosaic = p.scratch->view(ConvScratch::PaddedInput, {channels, m.width, m.height, batch});
  Buffer out_mosaic = p.scratch->view(ConvScratch::MosaicOutput, {out_channels, m.width, m.height, batch});
  // Each sub-grid into its cell, up to the next cell: the pad kernel writes the zero column
  // and row after it (and zeros past a sub-grid smaller than its cell).
  for (int s = 0; s < m.d * m.d; ++s) {
    const Mosaic::Cell c = m.cell(s);
    Buffer block = in_mosaic.cropped(1, c.x0, c.x1 - c.x0).cropped(2, c.y0, c.y1 - c.y0);
    copy_with_border(sub_grid(input, m.d, s % m.d, s / m.d), block, 0, 0, 0.0f, "conv (atrous mosaic)");
  }
  const std::vector<Buffer>& filters = winograd_filters(p, kConvVariants[chosen].pixels);
  ConvCall call{1, 1, 0, filters.front().dim(2).extent(), 0, filters.front().dim(3).extent()};
  run_groups(p, filters, pick(chosen, false, act), in_mosaic, nullptr, out_mosaic, call);
  for (int s = 0; s < m.d * m.d; ++s) {
    Buffer target = sub_grid(output, m.d, s % m.d, s / m.d);
    const Mosaic::Cell c = m.cell(s);
    run_copy(out_mosaic.cropped(1, c.x0, target.dim(1).extent()).cropped(2, c.y0, target.dim(2).extent()), target);
  }
  output.mark_written();
  return name_of(conv_schedules(), chosen);
}

}  // namespace

std::string run_conv(const PreparedConv& p, const Buffer& input, const Buffer* skip, Buffer& output, Activation act,
                     ConvSchedule schedule, DepthwiseSchedule depthwise) {
  install_error_handler();
  if (p.depthwise) {
    if (skip) throw RuntimeError("a depthwise conv has no fused residual add");
    return run_depthwise(p, input, output, act, depthwise);
  }
  if (current_kernel_set() != KernelSet::Cpu) return run_conv_gpu(p, input, skip, output, act, schedule);
  // Under kConvChannelTile output channels (MobileNet's and EfficientNet's projections to 16
  // and 24 channels, classifiers) no register-tiled variant could run and the default was
  // simple. They run as a whole tile instead (the filter and bias are zero past the real
  // channels), into a scratch buffer whose first channels are then copied out.
  if (widen_output(p, skip, output, schedule, act)) {
    Buffer wide = p.scratch->view(ConvScratch::WideOutput, {kConvChannelTile, output.dim(1).extent(),
                                                            output.dim(2).extent(), output.dim(3).extent()});
    std::string ran = run_conv(p, input, nullptr, wide, act, schedule, depthwise);
    run_copy(wide.cropped(0, 0, output.dim(0).extent()), output);
    output.mark_written();
    return ran;
  }
  if (int parts = reduction_parts(p, act); parts > 1)
    return run_reduction_parts(p, parts, input, skip, output, act, schedule);
  if (schedule < 0 || schedule >= kConvVariantCount || kConvVariants[schedule].kind == ConvKind::Winograd)
    if (const std::optional<Mosaic>& m = atrous_mosaic(p, input, skip, output))
      if (std::optional<std::string> ran = run_atrous_mosaic(p, *m, input, output, act, schedule)) return *ran;
  // The CPU variants' edge tiles shift inwards and compute a few outputs twice: a skip input
  // that is the output itself (an in-place add) would be added twice there, so they read a
  // copy of it (in the conv scratch).
  Buffer skip_copy;
  if (skip && skip->data() == output.data()) {
    Buffer& copy = skip_copy = p.scratch->view(ConvScratch::SkipCopy, {skip->dim(0).extent(), skip->dim(1).extent(),
                                                                       skip->dim(2).extent(), skip->dim(3).extent()});
    copy.set_min({skip->dim(0).min(), skip->dim(1).min(), skip->dim(2).min(), skip->dim(3).min()});
    run_copy(*skip, copy);
    skip = &copy;
  }
  // Dilated convs with wide padding (DeepLab's ASPP) read zeros for many taps: split the
  // output into bands of rows and of columns that share their valid taps, and run each band
  // with just those (a cropped filter), so no work is spent on padding.
  const Window& w = p.win;
  bool dilated = w.dh > 1 || w.dw > 1;
  std::vector<TapBand> rows =
      dilated ? tap_bands(output.dim(2).extent(), input.dim(2).extent(), w.kh, w.sh, w.dh, w.pad_top)
              : std::vector<TapBand>{};
  std::vector<TapBand> cols =
      dilated ? tap_bands(output.dim(1).extent(), input.dim(1).extent(), w.kw, w.sw, w.dw, w.pad_left)
              : std::vector<TapBand>{};
  bool split_rows = worth_splitting(rows, w.kh), split_cols = worth_splitting(cols, w.kw);
  if (!split_rows) rows = {{0, output.dim(2).extent(), 0, to_int(w.kh)}};
  if (!split_cols) cols = {{0, output.dim(1).extent(), 0, to_int(w.kw)}};
  std::optional<Buffer> padded_copy;  // made once, for the first band that needs it
  std::vector<ConvSchedule> ran;
  for (const TapBand& r : rows)
    for (const TapBand& c : cols) {
      // The band's pixels of a (c, x, y, n) buffer.
      auto band = [&](const Buffer& b) {
        return b.cropped({{b.dim(0).min(), b.dim(0).extent()},
                          {b.dim(1).min() + c.first, c.end - c.first},
                          {b.dim(2).min() + r.first, r.end - r.first},
                          {b.dim(3).min(), b.dim(3).extent()}});
      };
      Buffer out = band(output);
      std::optional<Buffer> sk;
      if (skip) sk = band(*skip);
      // Runs the band with `chosen`; false where an autoscheduled variant was refused.
      auto run_band = [&](ConvSchedule chosen) {
        // The direct variants read every tap in place: where a band's taps may still fall in
        // the padding, they read a zero-padded copy of the input.
        bool in_place = split_rows && split_cols;
        ConvKind kind = kConvVariants[chosen].kind;
        bool padded = (kind == ConvKind::Direct || kind == ConvKind::Blocked) && !in_place;
        if (padded && !padded_copy) padded_copy = padded_input(p, input, output);
        const Buffer& source = padded ? *padded_copy : input;
        int64_t offset_x = padded ? w.pad_left : 0, offset_y = padded ? w.pad_top : 0;
        // Output index o of the band, tap t of its range: input o*s + t*d - pad, shifted.
        ConvCall call{to_int(w.pad_left - c.first * w.sw - c.first_tap * w.dw - offset_x),
                      to_int(w.pad_top - r.first * w.sh - r.first_tap * w.dh - offset_y),
                      c.first_tap,
                      c.end_tap - c.first_tap,
                      r.first_tap,
                      r.end_tap - r.first_tap};
        const std::vector<Buffer>& filters =
            kind == ConvKind::Winograd ? winograd_filters(p, kConvVariants[chosen].pixels) : p.filters;
        if (kind == ConvKind::Winograd) {  // every transformed tap (an undilated conv has one band)
          call.kw = filters.front().dim(2).extent();
          call.kh = filters.front().dim(3).extent();
        }
        return run_groups(p, filters, pick(chosen, skip != nullptr, act), source, sk ? &*sk : nullptr, out, call,
                          kind == ConvKind::Auto);
      };
      ConvSchedule chosen = choose(schedule, w, input, sk ? &*sk : nullptr, out, p.groups, act);
      // The autoscheduled baselines' tiles differ by target (Adams2019's for AVX2 and below
      // take 64+ channels and 14+ rows, AVX-512's 7): where Halide refuses one, the default runs.
      if (!run_band(chosen)) {
        chosen = choose(kDefaultConvSchedule, w, input, sk ? &*sk : nullptr, out, p.groups, act);
        run_band(chosen);
      }
      if (std::find(ran.begin(), ran.end(), chosen) == ran.end()) ran.push_back(chosen);
    }
  output.mark_written();
  std::string names;
  for (ConvSchedule c : ran) names += (names.empty() ? "" : "+") + name_of(conv_schedules(), c);
  return names;
}

void set_threads(int threads) {
  halide_set_num_threads(threads);  // Halide's pool: for nested loops and other threads' (thread_pool.h)
  if (!std::getenv("ARCHBENCH_HALIDE_POOL")) use_spinning_pool(threads);
}

}  // namespace archbench::kernels
