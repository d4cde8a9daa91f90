// Depthwise convolution (groups = input channels = output channels): each channel convolved
// with its own kh x kw filter, with the conv family's fused epilogue (bias with batch-norm
// folded in, activation). Channels are innermost in the input, the filter and the output,
// so every tap is one vector load across channels.
//
// Layouts (innermost first): activations (c, x, y, n); the prepared filter (c, kx, ky).
#include "Halide.h"
#include "schedules/activation.h"
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
    Func padded = archbench::zero_padded(input);

    RDom r(0, filter.dim(1).extent(), 0, filter.dim(2).extent(), "r");
    Func acc("acc");
    acc(c, x, y, n) = bias(c);
    acc(c, x, y, n) += filter(c, r.x, r.y) *
                       padded(c, x * stride_x + r.x * dilation_x - pad_x, y * stride_y + r.y * dilation_y - pad_y, n);
    output(c, x, y, n) = archbench::activate(activation.value(), acc(c, x, y, n));

    const int vec = natural_vector_size<float>();
    if (std::string(schedule) == "staged") {
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
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DepthwiseConv, archbench_depthwise)
