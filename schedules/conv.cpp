// Convolution: the dense conv family (any kernel, stride, dilation, padding; groups are run by
// the runtime as one call per group on channel views) with its epilogue fused: bias (with
// batch-norm folded in at preparation), an optional residual add, and an activation.
//
// Layouts (Halide dims, innermost first): activations (c, x, y, n); the prepared filter
// (co % 32, ci, kx, ky, co / 32): a tile of 32 output channels is one contiguous slice and a
// vector of them one load.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "Halide.h"
#include "schedules/activation.h"
#include "schedules/padding.h"
#include "schedules/register_tile.h"
#include "schedules/tiles.h"

namespace {

using namespace Halide;
using namespace archbench;

class Conv2D : public Generator<Conv2D> {
 public:
  GeneratorParam<Activation> activation{"activation", Activation::None, activation_names()};
  GeneratorParam<bool> residual{"residual", false};
  // tiled: a register tile of kConvChannelTile output channels x a few pixels (needs the
  //        output to be at least one tile wide and deep: see tiles.h);
  // narrow: the same with at most kConvNarrowPixels pixels per tile, for 7..11-wide outputs;
  // direct: the narrow tile reading the input in place: needs every tap inside the input;
  // simple: output channels vectorised, one pixel at a time; any shape.
  GeneratorParam<std::string> schedule{"schedule", "tiled"};
  // Built with auto_schedule=true (the autoscheduled baselines), the schedule above is ignored
  // and only the estimates below are given. beam_size caps Adams2019's beam search (its
  // HL_BEAM_SIZE, read when it runs after generate()); 0 leaves its default of 32.
  GeneratorParam<int> beam_size{"beam_size", 0};
  // The schedule space's knobs (conv.cmake names the variants by them): pixels per register
  // tile of the tiled/narrow/direct schedules (0: the schedule's own, by target), and output
  // rows per parallel task (the grain of parallelism and of filter reuse).
  GeneratorParam<int> pixels{"pixels", 0};
  GeneratorParam<int> row_band{"row_band", kConvRowBand};
  // Output channel tiles (of kConvChannelTile) per register tile of the tiled/narrow/direct
  // schedules, on AVX-512 (one below it: AVX2's 16 registers hold one tile of a few pixels).
  // Two tiles of 4 pixels load 4 filter vectors and 4 inputs per 16 FMAs, against 2 and 7 per
  // 14 for one tile of 7: on 64x64 maps 5-20 % faster (DeepLabV3's layer3 3x3: 23.6 -> 21.5
  // ms, 96 % of peak). The runtime gives it output channels in multiples of the whole tile.
  GeneratorParam<int> channel_tiles{"channel_tiles", 1};
  // 16: on AVX-512, a register tile of one vector of 16 output channels x `pixels` pixels of
  // the direct schedule, for convs with few output channels (MobileNet's and EfficientNet's
  // projections to 16, 24 and 40 channels), which a 32-channel tile computes half or more in
  // vain. 0: kConvChannelTile.
  GeneratorParam<int> channel_lanes{"channel_lanes", 0};

  Input<Buffer<float, 4>> input{"input"};  // c, x, y, n
  // co % kConvChannelTile, ci, kx, ky, co / kConvChannelTile: a channel tile's filter slice is
  // contiguous (with co innermost across all channels, a 512-channel conv read its slice at a
  // 2 KB stride and ran at 36-48 % of peak, against 89-91 % for 32 or 64 channels).
  Input<Buffer<float, 5>> filter{"filter"};
  Input<Buffer<float, 1>> bias{"bias"};  // co
  Input<Buffer<float, 4>> skip{"skip"};  // co, x, y, n; read only when residual
  Input<int> stride_x{"stride_x"}, stride_y{"stride_y"};
  Input<int> dilation_x{"dilation_x"}, dilation_y{"dilation_y"};
  Input<int> pad_x{"pad_x"}, pad_y{"pad_y"};  // left and top; right/bottom follow from sizes
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c");
    if (get_target().has_gpu_feature()) {
      generate_gpu(c);
      return;
    }
    // direct: no zero padding and no staging; the runtime passes an input that every tap reads
    // inside of (an unpadded conv, or one it padded itself), so a tile loads straight from it.
    const bool direct = std::string(schedule) == "direct" || std::string(schedule) == "blocked";
    Func padded("source");
    if (direct) {
      padded(c, x, y, n) = input(c, x, y, n);
    } else if (get_auto_schedule()) {
      // The autoschedulers tile the input's reader too, shifting tails inwards: clamp its
      // channels and images as well, so a tile past the last channel reads valid memory.
      Expr inside = x >= 0 && x < input.dim(1).extent() && y >= 0 && y < input.dim(2).extent();
      padded(c, x, y, n) = select(inside,
                                  input(clamp(c, 0, input.dim(0).extent() - 1), clamp(x, 0, input.dim(1).extent() - 1),
                                        clamp(y, 0, input.dim(2).extent() - 1), clamp(n, 0, input.dim(3).extent() - 1)),
                                  0.0f);
    } else
      padded = zero_padded(input);

    // Accumulators indexed (lane, tile, x, y, n), output channel = tile * L + lane. L is the
    // filter's own tile, T = kConvChannelTile, or with AVX2 for the register-tiled schedules
    // half of it (2 vectors: see `lanes` below); a tile reads its weights densely.
    const int T = kConvChannelTile;
    const bool blocked = std::string(schedule) == "blocked";
    const bool avx512 = get_target().has_feature(Target::AVX512_Skylake);
    const bool register_tiled =
        std::string(schedule) == "tiled" || std::string(schedule) == "narrow" || std::string(schedule) == "direct";
    const int vec = natural_vector_size<float>();
    const bool avx2 = !avx512 && get_target().has_feature(Target::AVX2);
    // A task of 16 channels: AVX-512's 16-channel tile, and every register tile at AVX2, whose
    // 2 vectors of 8 are 16 channels (a task of 32 ran them as two halves, one after the other:
    // on 7x7 and 14x14 maps, twice the tasks balance the cores better).
    const bool lanes16 = register_tiled && ((avx512 && channel_lanes == 16) || avx2);
    const int L = lanes16 ? 16 : T, parts = T / L;  // at AVX2, 16 = 2 vectors
    Func acc("acc"), partial("partial");
    acc(lane, tile, x, y, n) = bias(tile * L + lane);
    if (blocked) {
      // Input channels in blocks of kConvInputBlock (the runtime guarantees a multiple): the
      // partial sums of block b, added into the accumulators one block at a time.
      Var b("b");
      RDom r(0, kConvInputBlock, 0, filter.dim(2).extent(), 0, filter.dim(3).extent(), "r");
      Expr ci = b * kConvInputBlock + r.x;
      partial(lane, tile, x, y, n, b) = 0.0f;
      partial(lane, tile, x, y, n, b) +=
          filter(lane, ci, r.y, r.z, tile) *
          padded(ci, x * stride_x + r.y * dilation_x - pad_x, y * stride_y + r.z * dilation_y - pad_y, n);
      RDom rb(0, input.dim(0).extent() / kConvInputBlock, "rb");
      acc(lane, tile, x, y, n) += partial(lane, tile, x, y, n, rb);
      blocked_r = r;
      blocks_r = rb;
    } else {
      RDom r(0, input.dim(0).extent(), 0, filter.dim(2).extent(), 0, filter.dim(3).extent(), "r");
      acc(lane, tile, x, y, n) +=
          filter(tile % parts * L + lane, r.x, r.y, r.z, tile / parts) *
          padded(r.x, x * stride_x + r.y * dilation_x - pad_x, y * stride_y + r.z * dilation_y - pad_y, n);
      plain_r = r;
    }

    Expr value = acc(c % L, c / L, x, y, n);
    if (residual) value += skip(c, x, y, n);
    output(c, x, y, n) = activate(activation.value(), value);
    // The runtime passes every buffer at origin 0 (kernels.cpp: at_origin).
    output.dim(0).set_min(0);

    set_estimates();
    if (get_auto_schedule()) {
      if (beam_size > 0) setenv("HL_BEAM_SIZE", std::to_string(beam_size.value()).c_str(), 1);
      return;
    }

    // One channel tile's accumulators at a time, of constant size (so they live in registers):
    // every schedule below walks the output in whole, aligned tiles.
    const int tiles = avx512 ? channel_tiles.value() : 1;
    // With AVX2 a register tile is half a channel tile: 2 vectors of 8 channels x 6 pixels,
    // the shape of the classic 6 x 16 AVX2 sgemm kernel: 12 accumulators, the 2 filter vectors
    // and the input broadcast fill the 16 registers. A whole 32-channel tile (4 vectors x 3
    // pixels) left no register for the filter: ResNet-50's convs ran at 34-46 % of the AVX2
    // peak, now 47-78 % (end to end 102 -> 69 ms, VGG-16 342 -> 205 ms, 2 threads). With SSE4.1
    // (no FMA: every product needs a register copy) the half tile (2 x 4 pixels) was 1.26x
    // slower than the whole one (8 vectors x 1 pixel), which it keeps.
    const int lanes = L;
    acc.bound_extent(lane, lanes).bound_extent(tile, tiles);
    if (register_tiled) {
      // One tile: `lanes` x `tiles` channels (several vectors) x px pixels of accumulators,
      // sized to the register file: 32 registers with AVX-512, 16 below it.
      int px = avx2 ? px_limit(get_target(), lanes, tiles)
               : std::string(schedule) != "tiled" ? std::min(kConvNarrowPixels, conv_pixel_tile(get_target()))
                                                  : conv_pixel_tile(get_target());
      if (pixels > 0) px = std::min<int>(pixels, px_limit(get_target(), lanes, tiles));
      // Each task takes one channel tile over a band of kConvRowBand rows, so the tile's filter
      // slice is reused across the whole band while it is in cache. Channel tiles are tasks too:
      // a 7x7 or 14x14 output has only one or two row bands, too few to keep the cores busy.
      Var co("co"), ci("ci"), xo("xo"), xi("xi"), yo("yo"), yi("yi"), band("band"), task("task");
      output.split(c, co, ci, lanes16 ? L : kConvChannelTile * tiles, TailStrategy::GuardWithIf)
          // Edge tiles along x shift inwards (recomputing a few outputs) rather than test
          // bounds, with a residual too: the runtime never passes a skip input that is the
          // output itself (kernels.cpp, run_conv), which a recomputed output would add twice.
          // Guarding made the accumulators' size dynamic and tested every pixel: residual 1x1
          // convs on 64x64-128x128 maps ran 4-22 % slower guarded than shifted.
          .split(x, xo, xi, px, TailStrategy::ShiftInwards)
          .split(y, yo, yi, row_band, TailStrategy::GuardWithIf);
      output.reorder(ci, xi, xo, yi, co, yo, n)
          .vectorize(ci, vec)
          .unroll(ci)
          .unroll(xi)
          .fuse(co, yo, band)
          .fuse(band, n, task)
          .parallel(task);
      in_registers(acc, plain_r, LoopLevel(output, xo));
      // Stems (RGB input): with 3 input channels the reduction's innermost loop made 3 trips
      // of one tile's FMAs, its overhead included (MobileNet-V2's 3x3/2 stem ran at 11 % of
      // peak, ResNet's 7x7/2 at 54 %). Unrolled, a tap is one straight run of 3 x the tile.
      acc.update().specialize(input.dim(0).extent() == 3).unroll(plain_r.x);
      // Stage the padded input rows the tile reads, so the inner loop does no bounds tests.
      if (!direct) padded.compute_at(output, xo);
    } else if (blocked) {
      // A task: one channel tile over a band of rows. Per row, the accumulators of the whole
      // row (32 channels x width, in L1) take one block of input channels at a time across all
      // the row's 7-pixel tiles, so a block's filter slice stays in L1/L2 for the row.
      Var co("co"), ci("ci"), yo("yo"), yi("yi"), band("band"), task("task");
      output.split(c, co, ci, kConvChannelTile, TailStrategy::GuardWithIf)
          .split(y, yo, yi, row_band, TailStrategy::GuardWithIf)
          .reorder(ci, x, yi, co, yo, n)
          .vectorize(ci, vec)
          .fuse(co, yo, band)
          .fuse(band, n, task)
          .parallel(task);
      acc.compute_at(output, yi).vectorize(lane, vec).unroll(lane).unroll(tile);
      Var xo("xo"), xi("xi");
      acc.update()
          .split(x, xo, xi, kConvNarrowPixels, TailStrategy::GuardWithIf)
          .reorder(lane, tile, xi, y, n, xo, blocks_r.x)
          .vectorize(lane, vec)
          .unroll(lane)
          .unroll(tile);
      in_registers(partial, blocked_r, LoopLevel(acc, xo));
    } else {
      // One channel tile at a time, a vector of channels per pixel.
      Var co("co"), ci("ci");
      output.split(c, co, ci, T, TailStrategy::GuardWithIf)
          .reorder(ci, x, co, y, n)
          .vectorize(ci, vec, TailStrategy::GuardWithIf)
          .parallel(y);
      acc.compute_at(output, x).vectorize(lane, vec, TailStrategy::GuardWithIf);
      acc.update().reorder(lane, tile, plain_r.x, plain_r.y, plain_r.z).vectorize(lane, vec, TailStrategy::GuardWithIf);
    }
    if (std::string(schedule) != "simple") {
      // The hot cases get code of their own, a specialize() cascade before the generic code:
      // 3x3 and 1x1 taps at unit stride and dilation. Taps and strides become constants, so
      // the address arithmetic folds and the tap loops have constant trip counts.
      Expr unit = stride_x == 1 && stride_y == 1 && dilation_x == 1 && dilation_y == 1;
      output.specialize(unit && filter.dim(2).extent() == 3 && filter.dim(3).extent() == 3);
      output.specialize(unit && filter.dim(2).extent() == 1 && filter.dim(3).extent() == 1);
      // Then any window at stride 1 with one dilation (DeepLab's atrous 3x3 convs and the tap
      // bands the runtime cuts from them) and at stride 2 undilated (downsampling convs, the
      // 7x7 stem). In the fully generic code LLVM computes the tile's pixel addresses with
      // vector instructions on every input channel; with the strides known they are pointers
      // bumped once per channel: 15-25 % faster (DeepLabV3's layer4 3x3 at dilation 4: 116 ->
      // 97 ms; a stride-2 1x1 512 -> 1024: 8.7 -> 7.3 ms; 2 threads).
      output.specialize(stride_x == 1 && stride_y == 1 && dilation_x == dilation_y);
      output.specialize(stride_x == 2 && stride_y == 2 && dilation_x == 1 && dilation_y == 1);
      // And stride 4 undilated, AlexNet's 11x11/4 stem: 0.403-0.425 -> 0.366-0.400 ms (the
      // fastest of 300 runs, 5 alternating rounds, 2 threads), the register-tiled ones only.
      if (register_tiled) output.specialize(stride_x == 4 && stride_y == 4 && dilation_x == 1 && dilation_y == 1);
    }
  }

 private:
  RDom plain_r, blocked_r, blocks_r;

  // Estimates for the autoschedulers: a ResNet-50 3x3 conv (layer2).
  void set_estimates() {
    input.set_estimates({{0, 128}, {0, 30}, {0, 30}, {0, 1}});
    filter.set_estimates({{0, kConvChannelTile}, {0, 128}, {0, 3}, {0, 3}, {0, 128 / kConvChannelTile + 1}});
    bias.set_estimates({{0, 128}});
    skip.set_estimates({{0, 128}, {0, 28}, {0, 28}, {0, 1}});
    stride_x.set_estimate(1);
    stride_y.set_estimate(1);
    dilation_x.set_estimate(1);
    dilation_y.set_estimate(1);
    pad_x.set_estimate(1);
    pad_y.set_estimate(1);
    output.set_estimates({{0, 128}, {0, 28}, {0, 28}, {0, 1}});
  }

  // The GPU kernel sets (cuda, opencl). Channels on the innermost thread dimension (a warp
  // reads one filter tile coalesced; the input value its lanes share is a broadcast load),
  // each thread a register tile of channels x pixels:
  //   gpu_tiled:  1 channel x 4 x 2 pixels (the filter value read once for 8 outputs);
  //               blocks of 32 channels x (2 x 2) threads = 8 x 4 pixels;
  //   gpu_simple: 1 channel x 1 pixel; blocks of 32 channels x (4 x 2) pixels;
  //   gpu_c8:     8 channels x 4 x 2 pixels (64 accumulators); blocks of 4 x (4 x 4) threads
  //               = 32 channels x 16 x 8 pixels. Per input channel and tap a thread loads 8
  //               filter values and 8 inputs for 64 FMAs, where gpu_tiled loads 1 and 8 for 8:
  //               in the PTX, 64 of the inner loop's 140 instructions are FMAs, against 8 of 55.
  // (Staging the input in shared memory needs the reduction's channel chunks outside the
  // thread loops, so the accumulators at block level: Halide 14 then gives every thread the
  // whole block's tile as a private array instead of its own part. Halide's own CUDA matrix
  // multiply likewise keeps register tiles over L1-cached loads.)
  // Zero padding by bounds tests on each read; every split guards its tail (a residual add
  // may run in place, so nothing is computed twice).
  void generate_gpu(const Var& c) {
    const int T = kConvChannelTile;
    Func padded = zero_padded(input);
    Func acc("acc");
    RDom r(0, input.dim(0).extent(), 0, filter.dim(2).extent(), 0, filter.dim(3).extent(), "r");
    acc(c, x, y, n) = bias(c);
    acc(c, x, y, n) += filter(c % T, r.x, r.y, r.z, c / T) *
                       padded(r.x, x * stride_x + r.y * dilation_x - pad_x, y * stride_y + r.z * dilation_y - pad_y, n);
    Expr value = acc(c, x, y, n);
    if (residual) value += skip(c, x, y, n);
    output(c, x, y, n) = activate(activation.value(), value);
    output.dim(0).set_min(0);
    // gpu-auto-li2018: Li2018 (Halide 14's GPU autoscheduler) schedules it from the estimates.
    set_estimates();
    if (get_auto_schedule()) return;

    struct GpuTile {
      const char* name;
      int channels, px, py;  // per thread
      int tx, ty;            // threads per block along x and y (channels: T / channels)
    };
    const GpuTile tiles[] = {{"gpu_tiled", 1, 4, 2, 2, 2}, {"gpu_simple", 1, 1, 1, 4, 2}, {"gpu_c8", 8, 4, 2, 4, 4}};
    const std::string s = schedule;
    const GpuTile* t = nullptr;
    for (const GpuTile& g : tiles)
      if (s == g.name) t = &g;
    if (!t) throw std::runtime_error("conv: schedule " + s + " has no GPU form (gpu_tiled, gpu_simple, gpu_c8)");
    const TailStrategy guard = TailStrategy::GuardWithIf;
    Var co("co"), ci("ci"), cv("cv"), xo("xo"), xi("xi"), yo("yo"), yi("yi"), xb("xb"), xt("xt"), yb("yb"), yt("yt"),
        b("b");
    output.split(c, co, ci, T, guard)
        .split(ci, ci, cv, t->channels, guard)
        .split(x, xo, xi, t->px, guard)
        .split(y, yo, yi, t->py, guard)
        .split(xo, xb, xt, t->tx, guard)
        .split(yo, yb, yt, t->ty, guard)
        .reorder(cv, xi, yi, ci, xt, yt, xb, yb, co, n)
        .fuse(co, n, b)
        .gpu_threads(ci, xt, yt)
        .gpu_blocks(xb, yb, b)
        .unroll(cv)
        .unroll(xi)
        .unroll(yi);
    // The thread's tile in registers, unrolled (scalars: a vectorised tile became 64-bit
    // integer pairs in the PTX, 258 instructions for 32 FMAs).
    acc.compute_at(output, ci)
        .store_in(MemoryType::Register)
        .bound_extent(c, t->channels)
        .bound_extent(x, t->px)
        .bound_extent(y, t->py)
        .unroll(c)
        .unroll(x)
        .unroll(y);
    acc.update().reorder(c, x, y, r.x, r.y, r.z).unroll(c).unroll(x).unroll(y);
  }

  Var x{"x"}, y{"y"}, n{"n"}, lane{"lane"}, tile{"tile"};

  // A register tile: `f` (lane, tile, x, y, n) computed at `at` with its pure and update
  // stages unrolled over the tile (the extents its consumer asks for are constants) and the
  // reduction `r` outside, so the accumulators stay in registers.
  void in_registers(Func f, const RDom& r, LoopLevel at) {
    const int vec = natural_vector_size<float>();
    f.compute_at(at).vectorize(lane, vec).unroll(lane).unroll(tile).unroll(x).unroll(y).unroll(n);
    f.update()
        .reorder(lane, tile, x, y, n, r.x, r.y, r.z)
        .vectorize(lane, vec)
        .unroll(lane)
        .unroll(tile)
        .unroll(x)
        .unroll(y)
        .unroll(n);
  }

  // Accumulators must fit the register file with room for the filter vectors and the input
  // broadcast: tiles x (lanes / vector width) vectors per pixel, in 28 of AVX-512's 32
  // registers (12 of AVX2's 16, 8 of SSE's, which has no FMA and needs temporaries).
  static int px_limit(const Target& t, int lanes, int tiles) {
    const int budget = t.has_feature(Target::AVX512_Skylake) ? 28 : t.has_feature(Target::AVX2) ? 12 : 8;
    const int vectors = lanes / t.natural_vector_size<float>() * tiles;
    return std::max(1, budget / vectors);
  }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(Conv2D, archbench_conv)
