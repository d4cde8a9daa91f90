// Convolution: the dense conv family (any kernel, stride, dilation, padding; groups are run by
// the runtime as one call per group on channel views) with its epilogue fused: bias (with
// batch-norm folded in at preparation), an optional residual add, and an activation.
//
// Layouts (Halide dims, innermost first): activations (c, x, y, n); the prepared filter
// (co, ci, kx, ky) so that a vector of output channels is one contiguous load.
#include "Halide.h"
#include "schedules/activation.h"
#include "schedules/padding.h"
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
  // simple: output channels vectorised, one pixel at a time; any shape.
  GeneratorParam<std::string> schedule{"schedule", "tiled"};

  Input<Buffer<float, 4>> input{"input"};    // c, x, y, n
  Input<Buffer<float, 4>> filter{"filter"};  // co, ci, kx, ky
  Input<Buffer<float, 1>> bias{"bias"};      // co
  Input<Buffer<float, 4>> skip{"skip"};      // co, x, y, n; read only when residual
  Input<int> stride_x{"stride_x"}, stride_y{"stride_y"};
  Input<int> dilation_x{"dilation_x"}, dilation_y{"dilation_y"};
  Input<int> pad_x{"pad_x"}, pad_y{"pad_y"};  // left and top; right/bottom follow from sizes
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Func padded = zero_padded(input);

    RDom r(0, input.dim(0).extent(), 0, filter.dim(2).extent(), 0, filter.dim(3).extent(), "r");
    Func acc("acc");
    acc(c, x, y, n) = bias(c);
    acc(c, x, y, n) += filter(c, r.x, r.y, r.z) *
                       padded(r.x, x * stride_x + r.y * dilation_x - pad_x, y * stride_y + r.z * dilation_y - pad_y, n);

    Expr value = acc(c, x, y, n);
    if (residual) value += skip(c, x, y, n);
    output(c, x, y, n) = activate(activation.value(), value);

    const int vec = natural_vector_size<float>();
    if (std::string(schedule) == "tiled" || std::string(schedule) == "narrow") {
      // One tile: kConvChannelTile channels (several vectors) x px pixels of accumulators,
      // sized to the register file: 32 registers with AVX-512, 16 below it.
      const int px = std::string(schedule) == "narrow" ? std::min(kConvNarrowPixels, pixel_tile(get_target()))
                                                       : pixel_tile(get_target());
      // Each task takes a band of kConvRowBand rows and walks it once per channel tile, so a
      // tile's filter slice is reused across the whole band while it is in cache.
      Var co("co"), ci("ci"), xo("xo"), xi("xi"), yo("yo"), yi("yi"), task("task");
      output.split(c, co, ci, kConvChannelTile, TailStrategy::ShiftInwards)
          .split(x, xo, xi, px, TailStrategy::ShiftInwards)
          .split(y, yo, yi, kConvRowBand, TailStrategy::GuardWithIf)
          .reorder(ci, xi, xo, yi, co, yo, n)
          .vectorize(ci, vec)
          .unroll(ci)
          .unroll(xi)
          .fuse(yo, n, task)
          .parallel(task);
      acc.compute_at(output, xo).vectorize(c, vec).unroll(c).unroll(x).unroll(y).unroll(n);
      acc.update().reorder(c, x, y, n, r.x, r.y, r.z).vectorize(c, vec).unroll(c).unroll(x).unroll(y).unroll(n);
      // Stage the padded input rows the tile reads, so the inner loop does no bounds tests.
      padded.compute_at(output, xo);
    } else {
      output.vectorize(c, vec, TailStrategy::GuardWithIf).parallel(y);
      acc.compute_at(output, c).vectorize(c, vec, TailStrategy::GuardWithIf);
      acc.update().reorder(c, r.x, r.y, r.z).vectorize(c, vec, TailStrategy::GuardWithIf);
    }

    // Estimates for the autoschedulers (a ResNet-50 3x3 conv).
    input.set_estimates({{0, 128}, {0, 30}, {0, 30}, {0, 1}});
    filter.set_estimates({{0, 128}, {0, 128}, {0, 3}, {0, 3}});
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

 private:
  static int pixel_tile(const Target& t) {
    if (t.has_feature(Target::AVX512_Skylake)) return kConvPixelTileAvx512;
    if (t.has_feature(Target::AVX2)) return kConvPixelTileAvx2;
    return kConvPixelTileSse;
  }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(Conv2D, archbench_conv)
