// Winograd convolution, F(m x m, 3 x 3) (schedules/winograd.h): 3x3 convs at stride 1 and
// dilation 1, with the conv family's fused epilogue (bias with batch-norm folded in, optional
// residual add, activation) and the conv generator's signature, so the runtime calls it as one
// more conv variant (strides and dilations are ignored: the runtime runs it only where they
// are 1). CPU kernel set only.
//
// Layouts (innermost first): activations (c, x, y, n); the filter already transformed at
// preparation, U = G g G^T, as (co % 32, ci, a, b, co / 32) with (a, b) the transformed taps
// along x and y: one (a, b) slice of a 32-channel tile is contiguous, as the direct conv's
// filter is per tap.
//
// Schedule: tiles are numbered row by row, so a band of tile rows (or a run of one long row's
// tiles) is one range of tile indices. Products are register tiles of 32 channels x P tiles
// (the direct conv's accumulator tile: P = 12 on AVX-512), reducing over input channels per
// transformed tap (a, b), then each tile's products are transformed back with the epilogue
// fused. The `split` knob chooses what a parallel task is (see below).
#include <string>
#include <vector>

#include "Halide.h"
#include "schedules/activation.h"
#include "schedules/register_tile.h"
#include "schedules/tiles.h"
#include "schedules/winograd.h"

namespace {

using namespace Halide;
using namespace archbench;

class Winograd : public Generator<Winograd> {
 public:
  GeneratorParam<Activation> activation{"activation", Activation::None, activation_names()};
  GeneratorParam<bool> residual{"residual", false};
  // The knobs (conv.cmake names the variants by them). m, the output tile: 2 or 4.
  GeneratorParam<int> tile{"tile", 4};
  // How the work is split into parallel tasks:
  //   rows:     a task is a band of tile rows, about `tiles` tiles, which transforms its own
  //             input windows (V) and reuses each transformed filter slice across them;
  //   channels: the input windows are transformed first (all tiles, in parallel), then a task
  //             is one 32-channel tile of outputs over bands of about `tiles` tiles (small maps
  //             with many channels: 14x14 has 16 tiles of 4x4, too few to split by rows).
  GeneratorParam<std::string> split{"split", "rows"};
  GeneratorParam<int> tiles{"tiles", 48};
  // Tiles per register tile (0: 12 on AVX-512, as the direct conv's 12-pixel tile; with AVX2,
  // whose register tile is 16 channels, 6 and at most 6).
  GeneratorParam<int> register_tile{"register_tile", 0};

  Input<Buffer<float, 4>> input{"input"};    // c, x, y, n
  Input<Buffer<float, 5>> filter{"filter"};  // co % 32, ci, a, b, co / 32 (transformed)
  Input<Buffer<float, 1>> bias{"bias"};      // co
  Input<Buffer<float, 4>> skip{"skip"};      // co, x, y, n; read only when residual
  Input<int> stride_x{"stride_x"}, stride_y{"stride_y"};
  Input<int> dilation_x{"dilation_x"}, dilation_y{"dilation_y"};
  Input<int> pad_x{"pad_x"}, pad_y{"pad_y"};  // left and top
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    if (get_target().has_gpu_feature()) throw std::runtime_error("winograd: the cpu kernel set only");
    const int m = tile;
    if (m != 2 && m != 4) throw std::runtime_error("winograd: tile must be 2 or 4");
    const std::string mode = split;
    if (mode != "rows" && mode != "channels") throw std::runtime_error("winograd: split must be rows or channels");
    const int A = m + 2, T = kConvChannelTile;
    auto bt = [&](int i, int j) { return static_cast<float>(winograd::bt(m, i, j)); };
    auto at = [&](int i, int j) { return static_cast<float>(winograd::at(m, i, j)); };

    // The input with zero borders; channels clamped too, so a vector of channels past the last
    // one (fewer than a vector's worth) reads valid memory. Those lanes are never used.
    Expr width = input.dim(1).extent(), height = input.dim(2).extent(), channels = input.dim(0).extent();
    Func padded("padded");
    padded(ci, x, y, n) =
        select(x >= 0 && x < width && y >= 0 && y < height,
               input(clamp(ci, 0, channels - 1), clamp(x, 0, width - 1), clamp(y, 0, height - 1), n), 0.0f);

    // Tiles are numbered row by row, t = ty * columns + tx, so a band of tile rows is one
    // range of t and a register tile runs across row ends (a 7-tile row wastes nothing).
    // The output's width is taken as the input's with the left padding on both sides (the
    // output Func cannot be asked before it is defined): the runtime runs this variant only
    // where the right padding is at most the left (then some tiles of each row go unused).
    Expr out_width = width + 2 * pad_x - (winograd::kTaps - 1);
    Expr columns = (out_width + m - 1) / m;
    Expr tile_x = (t % columns) * m - pad_x, tile_y = (t / columns) * m - pad_y;

    // V = B^T d B: first along x (rows: window row j kept), then along y.
    Func rows("rows"), V("V");
    std::vector<Expr> by_a, by_b;
    for (int a0 = 0; a0 < A; ++a0) {
      Expr s = 0.0f;
      for (int i = 0; i < A; ++i)
        if (bt(a0, i) != 0) s += bt(a0, i) * padded(ci, tile_x + i, tile_y + j, n);
      by_a.push_back(s);
    }
    rows(ci, t, n, a, j) = mux(a, by_a);
    for (int b0 = 0; b0 < A; ++b0) {
      Expr s = 0.0f;
      for (int j0 = 0; j0 < A; ++j0)
        if (bt(b0, j0) != 0) s += bt(b0, j0) * rows(ci, t, n, a, j0);
      by_b.push_back(s);
    }
    V(ci, t, n, a, b) = mux(b, by_b);

    // M = sum over input channels of U * V, per transformed tap.
    RDom r(0, channels, "r");
    Func acc("acc"), M("M");
    acc(lane, ct, t, n, a, b) = 0.0f;
    acc(lane, ct, t, n, a, b) += filter(lane, r, a, b, ct) * V(r, t, n, a, b);
    M(lane, ct, t, n, a, b) = acc(lane, ct, t, n, a, b);

    // Y = A^T M A: along y (Mt: v), then along x (u), fused into the output with the epilogue.
    Func Mt("Mt");
    std::vector<Expr> by_v, by_u;
    for (int v0 = 0; v0 < m; ++v0) {
      Expr s = 0.0f;
      for (int b0 = 0; b0 < A; ++b0)
        if (at(v0, b0) != 0) s += at(v0, b0) * M(lane, ct, t, n, a, b0);
      by_v.push_back(s);
    }
    Mt(lane, ct, t, n, a, v) = mux(v, by_v);
    Expr t_of_xy = (y / m) * columns + x / m;
    for (int u0 = 0; u0 < m; ++u0) {
      Expr s = 0.0f;
      for (int a0 = 0; a0 < A; ++a0)
        if (at(u0, a0) != 0) s += at(u0, a0) * Mt(c % T, c / T, t_of_xy, n, a0, y % m);
      by_u.push_back(s);
    }
    Expr value = mux(x % m, by_u) + bias(c);
    if (residual) value += skip(c, x, y, n);
    output(c, x, y, n) = activate(activation.value(), value);
    // The runtime passes every buffer at origin 0 (kernels.cpp: at_origin); the tile
    // arithmetic above relies on it along x and y.
    output.dim(0).set_min(0);
    output.dim(1).set_min(0);
    output.dim(2).set_min(0);

    const int vec = natural_vector_size<float>();
    // Below AVX2 (the fallback targets of the multi-target build) the transforms' channel
    // vectors are not unrolled: that keeps their compile time down (40 s a target otherwise)
    // on machines where this variant is no contender anyway.
    const bool avx512 = get_target().has_feature(Target::AVX512_Skylake);
    const bool wide = get_target().has_feature(Target::AVX2) || avx512;
    // With AVX2 a register tile takes half a channel tile, 16 channels (2 vectors) x 6 tiles,
    // as the conv generator's direct schedule does (conv.cpp: the 6 x 16 shape, which leaves
    // registers for the filter vectors); otherwise the whole channel tile.
    const int lanes = wide && !avx512 ? 2 * vec : T;
    const int P = register_tile == 0 ? conv_pixel_tile(get_target())
                  : lanes < T        ? std::min<int>(kConvPixelTileAvx2, register_tile)
                                     : static_cast<int>(register_tile);
    // A band: about `tiles` tiles, whole tile rows where a row is shorter, else a run of
    // one row's tiles (either way one range of t).
    Expr band_rows = max(1, tiles / columns), band_columns = min(columns, tiles);
    // Every tail is guarded: a residual add may run in place, so nothing is computed twice.
    const TailStrategy guard = TailStrategy::GuardWithIf;
    Var xt("xt"), yt("yt"), u("u"), xb("xb"), xti("xti"), yb("yb"), yti("yti"), co("co"), cl("cl"), task("task");
    output.split(x, xt, u, m, guard)
        .split(y, yt, v, m, guard)
        .split(xt, xb, xti, band_columns, guard)
        .split(yt, yb, yti, band_rows, guard)
        .split(c, co, cl, T, guard)
        .vectorize(cl, vec)
        .unroll(u)
        .unroll(v);
    if (wide) output.unroll(cl);
    LoopLevel products;
    if (mode == "rows") {
      // A task: a band; its windows transformed at the task, then its products and outputs
      // one channel tile at a time.
      Var band("band");
      output.reorder(cl, u, v, xti, yti, co, xb, yb, n).fuse(xb, yb, band).fuse(band, n, task).parallel(task);
      products = LoopLevel(output, co);
      V.compute_at(output, task);
    } else {
      // Per image: all windows transformed (in parallel over tiles), then a task per channel
      // tile, over its bands.
      output.reorder(cl, u, v, xti, yti, xb, yb, co, n).parallel(co);
      products = LoopLevel(output, xb);
      V.compute_at(output, n);
    }
    Mt.compute_at(output, xti).vectorize(lane, vec).unroll(a).unroll(v);
    if (wide) Mt.unroll(lane);

    // The products: per (a, b), per channel tile (per part of it), register tiles of P tiles.
    Var to("to"), ti("ti"), lo("lo");
    M.compute_at(products).split(t, to, ti, P, guard);
    if (lanes < T)
      M.split(lane, lo, lane, lanes).reorder(lane, ti, to, lo, ct, a, b);
    else
      M.reorder(lane, ti, to, ct, a, b);
    M.vectorize(lane, vec).unroll(lane).unroll(ti);
    acc.compute_at(M, to).bound_extent(lane, lanes).bound_extent(t, P).vectorize(lane, vec).unroll(lane).unroll(t);
    acc.update().reorder(lane, t, ct, n, a, b, r).vectorize(lane, vec).unroll(lane).unroll(t);

    // The transformed windows, a vector of input channels at a time.
    Var cio("cio"), cii("cii");
    V.split(ci, cio, cii, vec, guard).reorder(cii, a, b, cio, t, n).vectorize(cii).unroll(a).unroll(b);
    if (mode == "channels") V.parallel(t, 8);
    rows.compute_at(V, cio).bound_extent(ci, vec).vectorize(ci).unroll(a).unroll(j);
  }

 private:
  Var c{"c"}, x{"x"}, y{"y"}, n{"n"}, ci{"ci"}, t{"t"}, a{"a"}, b{"b"}, j{"j"}, v{"v"};
  Var lane{"lane"}, ct{"ct"};
};

}  // namespace

HALIDE_REGISTER_GENERATOR(Winograd, archbench_winograd)
