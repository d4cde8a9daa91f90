// Transposed convolution (PyTorch's ConvTranspose2d), split by output phase. Input pixel i of
// channel ci adds w(co, ci, k) * in(ci, i) to output i * stride - pad + k * dilation. Write an
// output coordinate as x = qx * stride + px (px the phase): the taps reaching it are the k
// with k * dilation = px + pad (mod stride), i.e. k0(px) + j * step for j < taps(px), where
// step = stride / gcd(stride, dilation), and tap j reads input qx + off(px) - j * shift with
// off(px) = (px + pad - k0(px) * dilation) / stride (exact) and shift = step * dilation / stride.
// So each phase is a stride-1 gather over qx with a fixed set of taps: no tap is tested and
// thrown away (a k64 stride-32 transposed conv, FCN-32s, visits 2 x 2 taps per output, not
// 64 x 64), and neighbouring pixels of one phase share their weights, which allows a register
// tile of pixels as in the conv family. The runtime computes the per-phase table
// (k0, off, taps) of each axis. Groups are run by the runtime as one call per group on channel
// views; the output size (and so output_padding) is the output buffer's.
//
// Per output row: every phase of the row is accumulated into a row buffer in phase order
// (c, qx, px), in tiles of one vector of channels x kPixels pixels of one phase, then the row is
// written out in x order.
//
// Layouts (innermost first): activations (c, x, y, n); the prepared filter (co, ci, kx, ky)
// with output channels innermost and padded with zeros to a multiple of 16, the bias (co)
// padded the same way; a phase table (phase, field) with fields k0, off, taps.
#include "Halide.h"
#include "schedules/padding.h"

namespace {

using namespace Halide;

constexpr int kPixels = 8;  // pixels of one phase per register tile (8 vector accumulators)

class ConvTranspose : public Generator<ConvTranspose> {
 public:
  Input<Buffer<float, 4>> input{"input"};             // ci, x, y, n
  Input<Buffer<float, 4>> filter{"filter"};           // co (padded), ci, kx, ky
  Input<Buffer<float, 1>> bias{"bias"};               // co (padded)
  Input<Buffer<int, 2>> phases_x{"phases_x"};         // (px, field): k0, off, taps
  Input<Buffer<int, 2>> phases_y{"phases_y"};         // (py, field)
  Input<int> step_x{"step_x"}, step_y{"step_y"};      // between the taps of a phase
  Input<int> shift_x{"shift_x"}, shift_y{"shift_y"};  // input pixels between them
  Input<int> max_taps_x{"max_taps_x"}, max_taps_y{"max_taps_y"};
  Input<int> min_off_x{"min_off_x"}, max_off_x{"max_off_x"};  // the range of off over the phases
  Input<int> min_off_y{"min_off_y"}, max_off_y{"max_off_y"};
  Output<Buffer<float, 4>> output{"output"};  // co, x, y, n

  void generate() {
    Var c("c"), x("x"), y("y"), n("n"), qx("qx"), px("px");
    Expr stride_x = phases_x.dim(0).extent(), stride_y = phases_y.dim(0).extent();
    Func padded = archbench::zero_padded(input);

    // The phase tables, indexed safely (bounds inference cannot see that px < stride).
    auto field = [](const Input<Buffer<int, 2>>& t, Expr p, int f) { return t(clamp(p, 0, t.dim(0).extent() - 1), f); };
    // Rows are computed one at a time, so y keeps its own coordinate: its phase and quotient are
    // per-row scalars.
    Expr qy = y / stride_y, py = y % stride_y;
    RDom r(0, input.dim(0).extent(), 0, max_taps_x, 0, max_taps_y, "r");
    Expr kx = field(phases_x, px, 0) + r.y * step_x, ky = field(phases_y, py, 0) + r.z * step_y;
    // (The clamps change nothing; they tell bounds inference which input pixels a tile reads.)
    Expr ix = qx + clamp(field(phases_x, px, 1), min_off_x, max_off_x) - r.y * shift_x;
    Expr iy = qy + clamp(field(phases_y, py, 1), min_off_y, max_off_y) - r.z * shift_y;
    Expr tap = r.y < field(phases_x, px, 2) && r.z < field(phases_y, py, 2);

    // One phase's accumulation, in phase coordinates.
    Func sum("sum");
    sum(c, qx, px, y, n) = bias(c);
    sum(c, qx, px, y, n) +=
        select(tap, filter(c, r.x, clamp(kx, 0, filter.dim(2).extent() - 1), clamp(ky, 0, filter.dim(3).extent() - 1)),
               0.0f) *
        padded(r.x, ix, iy, n);

    // One output row in phase order, then the row in x order.
    Func row("row");
    row(c, qx, px, y, n) = sum(c, qx, px, y, n);
    output(c, x, y, n) = row(c, x / stride_x, clamp(x % stride_x, 0, stride_x - 1), y, n);

    if (get_target().has_gpu_feature()) {
      // Two kernels. First the rows in phase order, a thread per (channel, qx, px): the
      // channels and qx of a phase fused and dealt out 128 to a block, channels innermost (a
      // warp's filter loads coalesced, its input loads mostly a broadcast; no idle threads for
      // FCN's 21 classes); the phase and rows x batch the other block dimensions. Each thread
      // accumulates its output over its phase's taps and all input channels in a register.
      // (Bounds inference cannot see that x % stride, or a phase fused with another loop, is a
      // single phase: computing `sum` per output pixel, or fusing px, computes every phase into
      // a dynamically sized buffer in global memory.) Then the output gathers the rows into x
      // order, one value per thread.
      Var cq("cq"), cqo("cqo"), cqi("cqi"), cx("cx"), cxo("cxo"), cxi("cxi"), yn("yn");
      row.compute_root()
          .fuse(c, qx, cq)
          .split(cq, cqo, cqi, 128, TailStrategy::GuardWithIf)
          .fuse(y, n, yn)
          .gpu_blocks(cqo, px, yn)
          .gpu_threads(cqi);
      sum.compute_at(row, cqi);
      sum.update().reorder(r.x, r.y, r.z);
      output.fuse(c, x, cx)
          .split(cx, cxo, cxi, 256, TailStrategy::GuardWithIf)
          .fuse(y, n, yn)
          .gpu_blocks(cxo, yn)
          .gpu_threads(cxi);
    } else {
      const int vec = natural_vector_size<float>();
      Var yn("yn"), co("co"), ci("ci"), qxo("qxo"), qxi("qxi");
      output.vectorize(c, vec, TailStrategy::GuardWithIf).fuse(y, n, yn).parallel(yn);
      // The row covers every phase of every pixel; RoundUp spills into the filter's padded
      // channels and past the row's last pixel, both harmless (an internal buffer).
      row.compute_at(output, yn)
          .split(c, co, ci, vec, TailStrategy::RoundUp)
          .split(qx, qxo, qxi, kPixels, TailStrategy::RoundUp)
          .reorder(ci, qxi, qxo, co, px, y, n)
          .vectorize(ci)
          .unroll(qxi);
      sum.compute_at(row, qxo).vectorize(c, vec).unroll(qx);
      sum.update().reorder(c, qx, r.x, r.y, r.z).vectorize(c, vec).unroll(qx);
      // The input pixels a tile reads, padded, so the inner loop does no bounds tests.
      padded.compute_at(row, qxo);
    }

    // Estimates for the autoschedulers (FCN-8s's 4x4 stride-2 upscore).
    input.set_estimates({{0, 21}, {0, 16}, {0, 16}, {0, 1}});
    filter.set_estimates({{0, 32}, {0, 21}, {0, 4}, {0, 4}});
    bias.set_estimates({{0, 32}});
    phases_x.set_estimates({{0, 2}, {0, 3}});
    phases_y.set_estimates({{0, 2}, {0, 3}});
    step_x.set_estimate(2);
    step_y.set_estimate(2);
    shift_x.set_estimate(1);
    shift_y.set_estimate(1);
    max_taps_x.set_estimate(2);
    max_taps_y.set_estimate(2);
    min_off_x.set_estimate(0);
    max_off_x.set_estimate(1);
    min_off_y.set_estimate(0);
    max_off_y.set_estimate(1);
    output.set_estimates({{0, 21}, {0, 34}, {0, 34}, {0, 1}});
  }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(ConvTranspose, archbench_deconv)
