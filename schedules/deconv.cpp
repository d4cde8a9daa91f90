// Transposed convolution (PyTorch's ConvTranspose2d) as a gather: input pixel i of channel ci
// adds w(co, ci, k) * in(ci, i) to output i * stride - pad + k * dilation, so output o takes
// the taps k with (o + pad - k * dilation) divisible by the stride, reading input
// (o + pad - k * dilation) / stride where that lies inside the input. Groups are run by the
// runtime as one call per group on channel views; output_padding only makes the output
// larger, so the output size is the output buffer's.
//
// Only the taps of an output's phase are visited. Along an axis, with t = o + pad, the taps
// with k * dilation = t (mod stride) are first(t mod stride) + j * step for j = 0, 1, ...,
// where step = stride / gcd(stride, dilation) and first(phase) is the smallest such tap (the
// kernel size where there is none); the runtime computes the table `first` and `step`. A k64
// stride-32 transposed conv (FCN-32s) visits 2 x 2 taps per output instead of 64 x 64.
//
// Layouts (innermost first): activations (c, x, y, n); the prepared filter (co, ci, kx, ky),
// output channels innermost like the conv family's.
#include "Halide.h"

namespace {

using namespace Halide;

class ConvTranspose : public Generator<ConvTranspose> {
 public:
  Input<Buffer<float, 4>> input{"input"};    // ci, x, y, n
  Input<Buffer<float, 4>> filter{"filter"};  // co, ci, kx, ky
  Input<Buffer<float, 1>> bias{"bias"};      // co
  Input<Buffer<int, 1>> first_x{"first_x"};  // per phase x + pad_x mod stride_x
  Input<Buffer<int, 1>> first_y{"first_y"};  // per phase y + pad_y mod stride_y
  Input<int> stride_x{"stride_x"}, stride_y{"stride_y"};
  Input<int> dilation_x{"dilation_x"}, dilation_y{"dilation_y"};
  Input<int> pad_x{"pad_x"}, pad_y{"pad_y"};
  Input<int> step_x{"step_x"}, step_y{"step_y"};
  Output<Buffer<float, 4>> output{"output"};  // co, x, y, n

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Expr width = input.dim(1).extent(), height = input.dim(2).extent();
    Expr kw = filter.dim(2).extent(), kh = filter.dim(3).extent();

    // Taps per output along each axis: at most ceil(k / step).
    Expr taps_x = (kw + step_x - 1) / step_x, taps_y = (kh + step_y - 1) / step_y;
    RDom r(0, input.dim(0).extent(), 0, taps_x, 0, taps_y, "r");
    Expr tx = x + pad_x, ty = y + pad_y;
    Expr kx = first_x(clamp(tx % stride_x, 0, first_x.dim(0).extent() - 1)) + r.y * step_x;
    Expr ky = first_y(clamp(ty % stride_y, 0, first_y.dim(0).extent() - 1)) + r.z * step_y;
    Expr ix = (tx - kx * dilation_x) / stride_x, iy = (ty - ky * dilation_y) / stride_y;
    Expr valid = kx < kw && ky < kh && ix >= 0 && ix < width && iy >= 0 && iy < height;

    // Taps outside the filter or the input contribute zero; the clamps keep their (unused)
    // loads inside the buffers and tell bounds inference what the taps can touch.
    Func acc("acc");
    acc(c, x, y, n) = bias(c);
    acc(c, x, y, n) += select(valid,
                              filter(c, r.x, clamp(kx, 0, kw - 1), clamp(ky, 0, kh - 1)) *
                                  input(r.x, clamp(ix, 0, width - 1), clamp(iy, 0, height - 1), n),
                              0.0f);
    output(c, x, y, n) = acc(c, x, y, n);

    const int vec = natural_vector_size<float>();
    Var yn("yn");
    output.vectorize(c, vec, TailStrategy::GuardWithIf).fuse(y, n, yn).parallel(yn);
    acc.compute_at(output, x).vectorize(c, vec, TailStrategy::GuardWithIf);
    acc.update().reorder(c, r.x, r.y, r.z).vectorize(c, vec, TailStrategy::GuardWithIf);

    // Estimates for the autoschedulers (FCN-8s's 4x4 stride-2 upscore).
    input.set_estimates({{0, 21}, {0, 16}, {0, 16}, {0, 1}});
    filter.set_estimates({{0, 21}, {0, 21}, {0, 4}, {0, 4}});
    bias.set_estimates({{0, 21}});
    first_x.set_estimates({{0, 2}});
    first_y.set_estimates({{0, 2}});
    stride_x.set_estimate(2);
    stride_y.set_estimate(2);
    dilation_x.set_estimate(1);
    dilation_y.set_estimate(1);
    pad_x.set_estimate(0);
    pad_y.set_estimate(0);
    step_x.set_estimate(2);
    step_y.set_estimate(2);
    output.set_estimates({{0, 21}, {0, 34}, {0, 34}, {0, 1}});
  }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(ConvTranspose, archbench_deconv)
