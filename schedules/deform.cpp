// Deformable convolution (Dai et al. 2017; DCNv2, Zhu et al. 2019), with
// torchvision.ops.deform_conv2d's semantics: tap (kx, ky) of output pixel (x, y) reads input
// channel ci at (y * stride_y - pad_y + ky * dilation_y + dy, x * stride_x - pad_x + kx *
// dilation_x + dx), (dy, dx) the offsets of ci's offset group for that tap, by bilinear
// interpolation in which each corner outside the input counts as zero; the sample is
// multiplied by the tap's mask value (ones for DCNv1; sigmoid of a logit for mmcv's DCNv2).
// Then the conv's reduction over input channels and taps, with batch-norm folded into the
// filter and bias at preparation and an optional relu.
//
// Sampling is fused into the conv, without an im2col buffer of the whole image: each parallel
// task (a band of output rows) samples the columns of its own rows, cols(ci, kx, ky, x, y, n),
// vectorised across input channels (the layout is channels innermost, so a corner of one
// sample position is one contiguous vector over the channels of an offset group), then runs the
// conv family's register tile (32 output channels x `pixels` pixels, accumulators in
// registers) over them as a 1x1 conv over (ci, kx, ky). The sample positions and corner weights
// of a band are computed once per offset group and tap, not per channel.
//
// Groups are run by the runtime as one call per group on channel views: channel_base is the
// view's first channel in the whole input, group_channels the channels per offset group.
//
// Layouts (innermost first): activations (c, x, y, n); the filter as the conv family prepares
// it (co % 32, ci, kx, ky, co / 32); offsets (2 * G * K channels, x, y, n), for offset group g
// and tap k = ky * kw + kx the dy at channel 2 * (g * K + k), dx at the next; mask (G * K
// channels, x, y, n).
#include <algorithm>

#include "Halide.h"
#include "schedules/gpu.h"
#include "schedules/padding.h"
#include "schedules/register_tile.h"
#include "schedules/tiles.h"

namespace {

using namespace Halide;
using namespace archbench;

class DeformConv2D : public Generator<DeformConv2D> {
 public:
  // Pixels per register tile on the cpu set (capped by the register file: 3 on AVX2, 1 on
  // SSE4.1); the runtime picks a variant no wider than the output. Unused on a GPU set.
  GeneratorParam<int> pixels{"pixels", 12};

  Input<Buffer<float, 4>> input{"input"};    // c, x, y, n (this group's channels)
  Input<Buffer<float, 5>> filter{"filter"};  // co % 32, ci, kx, ky, co / 32
  Input<Buffer<float, 1>> bias{"bias"};      // co
  Input<Buffer<float, 4>> offset{"offset"};  // 2 * G * K, x, y, n
  Input<Buffer<float, 4>> mask{"mask"};      // G * K, x, y, n
  Input<bool> sigmoid_mask{"sigmoid_mask"};  // the mask holds logits
  Input<bool> relu{"relu"};
  Input<int> channel_base{"channel_base"}, group_channels{"group_channels"};
  Input<int> stride_x{"stride_x"}, stride_y{"stride_y"};
  Input<int> dilation_x{"dilation_x"}, dilation_y{"dilation_y"};
  Input<int> pad_x{"pad_x"}, pad_y{"pad_y"};
  Input<int> band_rows{"band_rows"};          // output rows per parallel task (cpu set)
  Input<int> tile_group{"tile_group"};        // channel tiles per parallel task (cpu set)
  Output<Buffer<float, 4>> output{"output"};  // co, x, y, n

  void generate() {
    Var c("c"), x("x"), y("y"), n("n"), g("g"), kx("kx"), ky("ky"), ci("ci"), lane("lane"), tile("tile");
    const bool gpu = get_target().has_gpu_feature();
    Expr kw = filter.dim(2).extent(), kh = filter.dim(3).extent();
    Expr width = input.dim(1).extent(), height = input.dim(2).extent();

    // Where tap (kx, ky) of offset group g samples for output (x, y): the top-left corner and
    // the four corner weights, the mask folded in, all zero for a position with y <= -1,
    // y >= height, x <= -1 or x >= width (torchvision's rule; a corner outside is zero too,
    // as the padded input reads it).
    Expr k = ky * kw + kx;
    Expr dy = offset(2 * (g * kh * kw + k), x, y, n), dx = offset(2 * (g * kh * kw + k) + 1, x, y, n);
    Expr sy = cast<float>(y * stride_y - pad_y + ky * dilation_y) + dy;
    Expr sx = cast<float>(x * stride_x - pad_x + kx * dilation_x) + dx;
    Expr inside = sy > -1.0f && sy < cast<float>(height) && sx > -1.0f && sx < cast<float>(width);
    // Clamped before the conversion, so that no offset (huge, infinite, NaN) makes an index
    // outside [-2, size]: the padded input reads nothing out of bounds.
    Expr fy = floor(clamp(sy, -2.0f, cast<float>(height))), fx = floor(clamp(sx, -2.0f, cast<float>(width)));
    Expr ly = sy - fy, lx = sx - fx;
    Expr m = mask(g * kh * kw + k, x, y, n);
    m = select(sigmoid_mask, 1.0f / (1.0f + exp(-m)), m);
    m = select(inside, m, 0.0f);
    Func where("where");
    where(g, kx, ky, x, y, n) = Tuple(cast<int>(fy), cast<int>(fx), (1.0f - ly) * (1.0f - lx) * m, (1.0f - ly) * lx * m,
                                      ly * (1.0f - lx) * m, ly * lx * m);

    Func padded = zero_padded(input);
    // One offset group over this call's channels (the usual case, and every zoo network's):
    // the group is a constant, so a vector of channels shares one sample position (specialised
    // below; Halide substitutes the condition itself, not what follows from it).
    Expr one_group = group_channels >= input.dim(0).extent() + channel_base;
    Expr og = select(one_group, channel_base / group_channels, (ci + channel_base) / group_channels);
    Func cols("cols");
    {
      Tuple w = where(og, kx, ky, x, y, n);
      Expr y0 = w[0], x0 = w[1];
      cols(ci, kx, ky, x, y, n) = w[2] * padded(ci, x0, y0, n) + w[3] * padded(ci, x0 + 1, y0, n) +
                                  w[4] * padded(ci, x0, y0 + 1, n) + w[5] * padded(ci, x0 + 1, y0 + 1, n);
    }

    const int T = kConvChannelTile;
    RDom r(0, input.dim(0).extent(), 0, filter.dim(2).extent(), 0, filter.dim(3).extent(), "r");
    if (gpu) {
      // A thread per output, sampling its taps as it sums them (no staging): correct on any
      // device, not tuned.
      Func acc("acc");
      acc(c, x, y, n) = bias(c);
      acc(c, x, y, n) += filter(c % T, r.x, r.y, r.z, c / T) * cols(r.x, r.y, r.z, x, y, n);
      output(c, x, y, n) = select(relu, max(acc(c, x, y, n), 0.0f), acc(c, x, y, n));
      output.dim(0).set_min(0);
      set_estimates();
      Var t = rows_on_gpu(output, c, x, y, n, 128);
      acc.compute_at(output, t);
      acc.update().reorder(r.x, r.y, r.z);
      return;
    }
    Func acc("acc");
    acc(lane, tile, x, y, n) = bias(tile * T + lane);
    acc(lane, tile, x, y, n) += filter(lane, r.x, r.y, r.z, tile) * cols(r.x, r.y, r.z, x, y, n);
    Expr value = acc(c % T, c / T, x, y, n);
    output(c, x, y, n) = select(relu, max(value, 0.0f), value);
    output.dim(0).set_min(0);
    set_estimates();

    const int vec = natural_vector_size<float>();
    const int budget = get_target().has_feature(Target::AVX512_Skylake) ? 28
                       : get_target().has_feature(Target::AVX2)         ? 12
                                                                        : 8;
    const int px = std::max(1, std::min<int>(pixels, budget / (T / vec)));
    Var co("co"), cv("cv"), cg("cg"), ct("ct"), xo("xo"), xi("xi"), yo("yo"), yi("yi"), band("band"), task("task");
    // A task: a band of rows of one image and a group of channel tiles. Its columns are
    // sampled first (all channels and taps of the band's pixels, L2-sized: the runtime sizes
    // the band), then each of its channel tiles runs over the band, reusing the tile's filter
    // slice row after row. Groups of tiles (each sampling the band again) are for maps whose
    // rows do not split evenly between the threads (ResNet's 7x7). Edge tiles along x shift
    // inwards (the runtime picks `pixels` no wider than the output).
    output.split(c, co, cv, T, TailStrategy::GuardWithIf)
        .split(co, cg, ct, tile_group, TailStrategy::GuardWithIf)
        .split(x, xo, xi, px, TailStrategy::ShiftInwards)
        .split(y, yo, yi, band_rows, TailStrategy::GuardWithIf)
        .reorder(cv, xi, xo, yi, ct, cg, yo, n)
        .vectorize(cv, vec)
        .unroll(cv)
        .unroll(xi)
        .fuse(cg, yo, band)
        .fuse(band, n, task)
        .parallel(task);
    acc.bound_extent(lane, T).bound_extent(tile, 1);
    acc.compute_at(output, xo).vectorize(lane, vec).unroll(lane).unroll(tile).unroll(x).unroll(y).unroll(n);
    acc.update()
        .reorder(lane, tile, x, y, n, r.x, r.y, r.z)
        .vectorize(lane, vec)
        .unroll(lane)
        .unroll(tile)
        .unroll(x)
        .unroll(y)
        .unroll(n);
    // ResNets' widths as constants: the register tile broadcasts each pixel's column value from
    // a pixel stride of channels x taps; a runtime stride made LLVM compute the 14 addresses
    // in vector registers every step (spilling an accumulator), a constant one is an offset.
    // AVX-512 only: below it the tile is 3 pixels or 1, and each case is code of its own to
    // compile for every level.
    if (get_target().has_feature(Target::AVX512_Skylake))
      for (int channels : {128, 256, 512}) output.specialize(input.dim(0).extent() == channels && kw == 3 && kh == 3);
    cols.compute_at(output, task).vectorize(ci, vec, TailStrategy::GuardWithIf);
    cols.specialize(one_group);
    where.compute_at(output, task);
  }

 private:
  // Estimates: a ResNet-50 layer2 3x3 deformable conv.
  void set_estimates() {
    input.set_estimates({{0, 128}, {0, 28}, {0, 28}, {0, 1}});
    filter.set_estimates({{0, kConvChannelTile}, {0, 128}, {0, 3}, {0, 3}, {0, 5}});
    bias.set_estimates({{0, 160}});
    offset.set_estimates({{0, 18}, {0, 28}, {0, 28}, {0, 1}});
    mask.set_estimates({{0, 9}, {0, 28}, {0, 28}, {0, 1}});
    sigmoid_mask.set_estimate(true);
    relu.set_estimate(true);
    channel_base.set_estimate(0);
    group_channels.set_estimate(128);
    stride_x.set_estimate(1);
    stride_y.set_estimate(1);
    dilation_x.set_estimate(1);
    dilation_y.set_estimate(1);
    pad_x.set_estimate(1);
    pad_y.set_estimate(1);
    band_rows.set_estimate(4);
    tile_group.set_estimate(5);
    output.set_estimates({{0, 128}, {0, 28}, {0, 28}, {0, 1}});
  }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformConv2D, archbench_deform)
