// Depthwise convolution (groups = input channels = output channels): each channel convolved
// with its own kh x kw filter, with the conv family's fused epilogue (bias with batch-norm
// folded in, activation). Channels are innermost in the input, the filter and the output,
// so every tap is one vector load across channels.
//
// Layouts (innermost first): activations (c, x, y, n); the prepared filter (c, kx, ky).
#include "Halide.h"
#include "schedules/activation.h"
#include "schedules/gpu.h"
#include "schedules/padding.h"
#include "schedules/tiles.h"

namespace {

using namespace Halide;

class DepthwiseConv : public Generator<DepthwiseConv> {
 public:
  GeneratorParam<archbench::Activation> activation{"activation", archbench::Activation::None,
                                                   archbench::activation_names()};
  // columns: a vector of channels x 4 pixels of accumulators, reading the input through the
  //          bounds test of the zero padding; any shape.
  // staged: a band of kDepthwiseRowBand output rows stages its padded input rows once (no
  //         bounds tests inside), then vector x kDepthwisePixels tiles walk the band channel
  //         tile by channel tile; any shape.
  // interior: reads the input with no padding and no bounds tests, for the outputs whose
  //         taps all fall inside it (the runtime runs the border strips with columns).
  //         Tiles of a vector of channels x kDepthwiseInteriorPixels pixels whose edge tiles
  //         shift inwards: at least that many output columns and kDepthwiseInteriorChannels
  //         channels. The cpu set only.
  // framed: interior's tiles and tasks, each task first staging its channel tile's input rows
  //         with their zero border (the bounds tests run once per staged input, not per tap),
  //         so one call covers the whole output. The same minimum sizes; the cpu set only.
  GeneratorParam<std::string> schedule{"schedule", "columns"};

  Input<Buffer<float, 4>> input{"input"};    // c, x, y, n
  Input<Buffer<float, 3>> filter{"filter"};  // c, kx, ky
  Input<Buffer<float, 1>> bias{"bias"};      // c
  Input<int> stride_x{"stride_x"}, stride_y{"stride_y"};
  Input<int> dilation_x{"dilation_x"}, dilation_y{"dilation_y"};
  Input<int> pad_x{"pad_x"}, pad_y{"pad_y"};
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    const bool interior = std::string(schedule) == "interior";
    const bool framed = std::string(schedule) == "framed";
    Func padded("padded");
    if (interior)
      padded(c, x, y, n) = input(c, x, y, n);
    else
      padded = archbench::zero_padded(input);

    RDom r(0, filter.dim(1).extent(), 0, filter.dim(2).extent(), "r");
    Func acc("acc");
    acc(c, x, y, n) = bias(c);
    acc(c, x, y, n) += filter(c, r.x, r.y) *
                       padded(c, x * stride_x + r.x * dilation_x - pad_x, y * stride_y + r.y * dilation_y - pad_y, n);
    output(c, x, y, n) = archbench::activate(activation.value(), acc(c, x, y, n));

    const int vec = natural_vector_size<float>();
    if (get_target().has_gpu_feature()) {
      schedule_gpu(acc, r, c, x, y, n);
    } else if (interior || framed) {
      // Rows of a channel tile, band by band; the channel tiles, bands and images are the
      // parallel tasks (a 7x7 map still has many). The filter taps unrolled for 3x3 and 5x5,
      // with stride 1 or 2 known, so the tile's overlapping input columns are the same loads
      // (3x3 at stride 2: 15 % faster than without). Framed stages the task's padded input
      // (a vector of channels x the band's input rows) first; 16-row bands, for less
      // re-staged overlap, were no faster.
      Var xo("xo"), xi("xi"), yo("yo"), yi("yi"), co("co"), ci("ci"), band("band"), task("task");
      const Expr kw = filter.dim(1).extent(), kh = filter.dim(2).extent();
      output.split(y, yo, yi, archbench::kDepthwiseRowBand, TailStrategy::GuardWithIf)
          .split(x, xo, xi, archbench::kDepthwiseInteriorPixels, TailStrategy::ShiftInwards)
          .split(c, co, ci, vec, TailStrategy::ShiftInwards)
          .reorder(ci, xi, xo, yi, co, yo, n)
          .vectorize(ci)
          .unroll(xi)
          .fuse(co, yo, band)
          .fuse(band, n, task)
          .parallel(task);
      acc.compute_at(output, xo).vectorize(c).unroll(x);
      acc.update().reorder(c, x, r.x, r.y).vectorize(c).unroll(x);
      if (framed) padded.compute_at(output, task).vectorize(c);  // c: one vector
      for (const Expr& square : {kw == 3 && kh == 3, kw == 5 && kh == 5}) {
        for (int s : {1, 2})
          acc.update().specialize(square && stride_x == s && dilation_x == 1).unroll(r.x).unroll(r.y);
        acc.update().specialize(square).unroll(r.x).unroll(r.y);
      }
    } else if (std::string(schedule) == "staged") {
      Var xo("xo"), xi("xi"), yo("yo"), yi("yi"), co("co"), ci("ci"), task("task");
      output.split(y, yo, yi, archbench::kDepthwiseRowBand, TailStrategy::GuardWithIf)
          .split(x, xo, xi, archbench::kDepthwisePixels, TailStrategy::GuardWithIf)
          .split(c, co, ci, vec, TailStrategy::GuardWithIf)
          .reorder(ci, xi, co, xo, yi, yo, n)
          .vectorize(ci)
          .unroll(xi)
          .fuse(yo, n, task)
          .parallel(task);
      acc.compute_at(output, co).vectorize(c, vec, TailStrategy::GuardWithIf).unroll(x);
      acc.update().reorder(c, x, r.x, r.y).vectorize(c, vec, TailStrategy::GuardWithIf).unroll(x);
      padded.compute_at(output, task).vectorize(c, vec, TailStrategy::GuardWithIf);
    } else {
      // A vector of channels x 4 pixels of accumulators; the tap loops outside them.
      Var xo("xo"), xi("xi"), yn("yn");
      output.split(x, xo, xi, 4, TailStrategy::GuardWithIf)
          .reorder(c, xi, xo, y, n)
          .vectorize(c, vec, TailStrategy::GuardWithIf)
          .fuse(y, n, yn)
          .parallel(yn);
      acc.compute_at(output, xo).vectorize(c, vec, TailStrategy::GuardWithIf);
      acc.update().reorder(c, x, r.x, r.y).vectorize(c, vec, TailStrategy::GuardWithIf);
    }

    input.set_estimates({{0, 144}, {0, 56}, {0, 56}, {0, 1}});
    filter.set_estimates({{0, 144}, {0, 3}, {0, 3}});
    bias.set_estimates({{0, 144}});
    output.set_estimates({{0, 144}, {0, 56}, {0, 56}, {0, 1}});
  }

 private:
  // GPU: 32 channels on the innermost threads (coalesced loads and stores: channels are
  // innermost in the input, filter and output), the accumulators in registers.
  // columns: one output pixel per thread, blocks of 32 channels x 4 pixels of a row.
  // staged: each thread a register tile of kGpuPixels pixels along x, so a filter tap is read
  //         once for the tile; for 3x3 filters at stride 1 or 2 (undilated along x) the taps
  //         and pixels are unrolled with the stride known, so the tile's overlapping input
  //         columns are loaded once into registers. Blocks of 32 channels x 4 rows (threads)
  //         x kGpuPixels pixels (per thread).
  // Both read the input through the bounds test of the zero padding: any stride, dilation,
  // padding and shape. The fused rows of every image take the first grid dimension (the only
  // one not capped at 65535 blocks).
  static constexpr int kGpuPixels = 4;

  void schedule_gpu(Func acc, RDom r, Var c, Var x, Var y, Var n) {
    Var co("co"), ci("ci"), xo("xo"), xi("xi"), yo("yo"), yi("yi"), yn("yn");
    const Expr kw = filter.dim(1).extent(), kh = filter.dim(2).extent();
    if (std::string(schedule) == "staged") {
      output.split(c, co, ci, 32, TailStrategy::GuardWithIf)
          .split(x, xo, xi, kGpuPixels, TailStrategy::GuardWithIf)
          .split(y, yo, yi, 4, TailStrategy::GuardWithIf)
          .fuse(yo, n, yn)
          .reorder(xi, ci, yi, yn, xo, co)
          .unroll(xi)
          .gpu_blocks(yn, xo, co)
          .gpu_threads(ci, yi);
      acc.compute_at(output, ci).store_in(MemoryType::Register).bound_extent(x, kGpuPixels).unroll(x);
      acc.update().reorder(x, r.x, r.y).unroll(x);
      // With the stride and dilation known, the tile's overlapping taps are the same loads.
      const Expr k3 = kw == 3 && kh == 3 && dilation_x == 1;
      acc.update().specialize(k3 && stride_x == 1).unroll(r.x).unroll(r.y);
      acc.update().specialize(k3 && stride_x == 2).unroll(r.x).unroll(r.y);
    } else {
      acc.compute_at(output, archbench::channel_tiles_on_gpu(output, c, x, y, n, 4));
    }
    // The 3x3 filters of the mobile networks with the taps unrolled.
    acc.update().specialize(kw == 3 && kh == 3).unroll(r.x).unroll(r.y);
  }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DepthwiseConv, archbench_depthwise)
