// Resampling and data movement: nearest and bilinear upsampling with PyTorch's source
// coordinates, and a copy with a constant border (pad; with negative offsets, a dense crop).
//
// Layouts (Halide dims, innermost first): activations (c, x, y, n). Output sizes come from the
// output buffer; every output pixel is a few vector loads across channels.
#include "Halide.h"
#include "schedules/gpu.h"

namespace {

using namespace Halide;

// Vector of channels innermost, rows x batch in parallel.
void schedule_pointwise(Func output, const Var& c, const Var& y, const Var& n, int vec) {
  Var yn("yn");
  output.vectorize(c, vec, TailStrategy::GuardWithIf).fuse(y, n, yn).parallel(yn);
}


// The scale per axis is computed by the caller in float exactly as PyTorch does (1 / scale
// factor when one was given, else in / out; 1 when the size is unchanged; (in - 1) / (out - 1)
// with align_corners), so that the source coordinates below round as PyTorch's do.
class Upsample : public Generator<Upsample> {
 public:
  GeneratorParam<std::string> mode{"mode", "nearest"};  // nearest | bilinear

  Input<Buffer<float, 4>> input{"input"};  // c, x, y, n
  Input<float> scale_x{"scale_x"}, scale_y{"scale_y"};
  Input<bool> align_corners{"align_corners"};  // bilinear only
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Expr width = input.dim(1).extent(), height = input.dim(2).extent();

    if (std::string(mode) == "nearest") {
      // upsample_nearest2d: floor(dst * scale) in float, capped at the last pixel.
      Expr sx = min(cast<int>(floor(cast<float>(x) * scale_x)), width - 1);
      Expr sy = min(cast<int>(floor(cast<float>(y) * scale_y)), height - 1);
      output(c, x, y, n) = input(c, sx, sy, n);
    } else {
      // upsample_bilinear2d: src = scale * dst (align_corners) or scale * (dst + 0.5) - 0.5
      // clamped at 0; taps floor(src) and the next pixel (the last one repeats).
      auto source = [&](Expr d, Expr scale) {
        Expr f = cast<float>(d);
        return select(align_corners, scale * f, max(scale * (f + 0.5f) - 0.5f, 0.0f));
      };
      Func coord_x("coord_x"), coord_y("coord_y");
      coord_x(x) = source(x, scale_x);
      coord_y(y) = source(y, scale_y);
      // Coordinates are >= 0, so the cast is the floor; the clamps bound the loads.
      Expr x0 = clamp(cast<int>(coord_x(x)), 0, width - 1), y0 = clamp(cast<int>(coord_y(y)), 0, height - 1);
      Expr x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1);
      Expr lx = coord_x(x) - cast<float>(x0), ly = coord_y(y) - cast<float>(y0);
      Expr top = input(c, x0, y0, n) * (1.0f - lx) + input(c, x1, y0, n) * lx;
      Expr bottom = input(c, x0, y1, n) * (1.0f - lx) + input(c, x1, y1, n) * lx;
      output(c, x, y, n) = top * (1.0f - ly) + bottom * ly;
      // The source coordinates once per call, not once per channel vector. (On a GPU they are
      // recomputed per thread: a few flops against a round trip through memory.)
      if (!get_target().has_gpu_feature()) {
        coord_x.compute_root();
        coord_y.compute_root();
      }
    }
    if (get_target().has_gpu_feature()) {
      archbench::rows_on_gpu(output, c, x, y, n, 256);
    } else {
      schedule_pointwise(output, c, y, n, natural_vector_size<float>());
    }

    input.set_estimates({{0, 256}, {0, 28}, {0, 28}, {0, 1}});
    output.set_estimates({{0, 256}, {0, 56}, {0, 56}, {0, 1}});
    scale_x.set_estimate(0.5f);
    scale_y.set_estimate(0.5f);
    align_corners.set_estimate(false);
  }
};

// output(c, x, y, n) = input(c, x - left, y - top, n) where that lies inside the input, else
// `value`. Pads with positive offsets; copies a crop window out with negative ones.
class Pad : public Generator<Pad> {
 public:
  Input<Buffer<float, 4>> input{"input"};  // c, x, y, n
  Input<int> left{"left"}, top{"top"};
  Input<float> value{"value"};
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Expr width = input.dim(1).extent(), height = input.dim(2).extent();
    Expr ix = x - left, iy = y - top;
    Expr inside = ix >= 0 && ix < width && iy >= 0 && iy < height;
    output(c, x, y, n) = select(inside, input(c, clamp(ix, 0, width - 1), clamp(iy, 0, height - 1), n), value);
    if (get_target().has_gpu_feature()) {
      archbench::rows_on_gpu(output, c, x, y, n, 256);
    } else {
      schedule_pointwise(output, c, y, n, natural_vector_size<float>());
    }

    input.set_estimates({{0, 64}, {0, 56}, {0, 56}, {0, 1}});
    output.set_estimates({{0, 64}, {0, 58}, {0, 58}, {0, 1}});
    left.set_estimate(1);
    top.set_estimate(1);
    value.set_estimate(0.0f);
  }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(Upsample, archbench_upsample)
HALIDE_REGISTER_GENERATOR(Pad, archbench_pad)
