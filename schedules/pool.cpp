// Pooling: max pooling (any kernel, stride, dilation, padding, ceil mode), average pooling
// (any kernel, stride, padding, ceil mode, both count_include_pad rules), adaptive average
// pooling (PyTorch's floor/ceil windows) and global average pooling (a kernel of its own).
//
// Layouts (Halide dims, innermost first): activations (c, x, y, n). Every window tap is one
// vector load across channels. Output sizes come from the output buffer, so a ceil-mode window
// is simply the last output column/row; the taps outside the input are left out through the
// reduction domain's predicate (max: padding is -inf and never wins; avg: padding adds 0).
#include "Halide.h"
#include "schedules/gpu.h"

namespace {

using namespace Halide;

// The shared schedule of the windowed families: the output a vector of channels at a time,
// parallel over rows x batch; `acc` (the reduction) computed per output vector, so the
// accumulator stays in a register while the window loops run inside it. (Computing it per
// pixel over all channels, window loops outside the channel loop, measured 1.2-1.7x slower.)
void schedule_windowed(Func output, Func acc, const RDom& r, const Var& c, const Var& y, const Var& n, int vec) {
  Var yn("yn");
  output.vectorize(c, vec, TailStrategy::GuardWithIf).fuse(y, n, yn).parallel(yn);
  acc.compute_at(output, c).vectorize(c, vec, TailStrategy::GuardWithIf);
  acc.update().reorder(c, r.x, r.y).vectorize(c, vec, TailStrategy::GuardWithIf);
}

// The GPU schedule of the windowed families: rows on the GPU, 128 outputs to a block (a
// warp's taps are coalesced loads); each thread reduces its own output's window, the
// accumulator in a register.
void schedule_windowed_gpu(Func output, Func acc, const Var& c, const Var& x, const Var& y, const Var& n) {
  acc.compute_at(output, archbench::rows_on_gpu(output, c, x, y, n, 128));
}

void set_pool_estimates(GeneratorInput<Buffer<float, 4>>& input, GeneratorOutput<Buffer<float, 4>>& output) {
  // A ResNet-50 stem max pool: 64 x 112 x 112 -> 56 x 56.
  input.set_estimates({{0, 64}, {0, 112}, {0, 112}, {0, 1}});
  output.set_estimates({{0, 64}, {0, 56}, {0, 56}, {0, 1}});
}

class MaxPool : public Generator<MaxPool> {
 public:
  Input<Buffer<float, 4>> input{"input"};  // c, x, y, n
  Input<int> kernel_x{"kernel_x"}, kernel_y{"kernel_y"};
  Input<int> stride_x{"stride_x"}, stride_y{"stride_y"};
  Input<int> dilation_x{"dilation_x"}, dilation_y{"dilation_y"};
  Input<int> pad_x{"pad_x"}, pad_y{"pad_y"};  // left and top
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Expr width = input.dim(1).extent(), height = input.dim(2).extent();

    const bool gpu = get_target().has_gpu_feature();
    RDom r(0, kernel_x, 0, kernel_y, "r");
    Expr ix = x * stride_x + r.x * dilation_x - pad_x;
    Expr iy = y * stride_y + r.y * dilation_y - pad_y;
    Expr inside = ix >= 0 && ix < width && iy >= 0 && iy < height;
    // GPU: the taps outside the input are left out by the predicate. CPU: a tap outside keeps
    // the accumulator (a select, so a NaN stays a NaN as with the predicate); the condition is
    // `likely`, so Halide splits each row into its edges and an interior whose taps run without
    // a test. Padded and ceil-mode windows then take about half the predicate's time
    // (GoogLeNet's 3x3/1 pad 1 on 27x27x192: 0.079 -> 0.038 ms); unpadded ones gain little
    // (AlexNet's first alone 0.017 -> 0.013 ms, in the network nothing; PERFORMANCE.md section 12).
    if (gpu) r.where(inside);

    Func acc("acc");
    acc(c, x, y, n) = Float(32).min();
    // The clamp never changes a tap inside the input; it tells bounds inference that only the
    // input is read.
    Expr tap = input(c, clamp(ix, 0, width - 1), clamp(iy, 0, height - 1), n);
    Expr grown = max(acc(c, x, y, n), tap);
    acc(c, x, y, n) = gpu ? grown : select(likely(inside), grown, acc(c, x, y, n));
    output(c, x, y, n) = acc(c, x, y, n);

    if (gpu) {
      schedule_windowed_gpu(output, acc, c, x, y, n);
    } else {
      schedule_windowed(output, acc, r, c, y, n, natural_vector_size<float>());
    }
    // The 3x3 and 2x2 windows of every classic CNN (any stride) with the window unrolled:
    // measured 1.2-1.45x faster than the loop (ResNet stem 3x3/2, Inception 3x3/1, VGG 2x2/2;
    // AVX-512, one thread). Average pooling measured slower unrolled, so it has none.
    acc.update().specialize(kernel_x == 3 && kernel_y == 3).unroll(r.x).unroll(r.y);
    acc.update().specialize(kernel_x == 2 && kernel_y == 2).unroll(r.x).unroll(r.y);

    set_pool_estimates(input, output);
    kernel_x.set_estimate(3);
    kernel_y.set_estimate(3);
    stride_x.set_estimate(2);
    stride_y.set_estimate(2);
    dilation_x.set_estimate(1);
    dilation_y.set_estimate(1);
    pad_x.set_estimate(1);
    pad_y.set_estimate(1);
  }
};

class AvgPool : public Generator<AvgPool> {
 public:
  Input<Buffer<float, 4>> input{"input"};  // c, x, y, n
  Input<int> kernel_x{"kernel_x"}, kernel_y{"kernel_y"};
  Input<int> stride_x{"stride_x"}, stride_y{"stride_y"};
  Input<int> pad_x{"pad_x"}, pad_y{"pad_y"};                  // left and top
  Input<int> pad_x_end{"pad_x_end"}, pad_y_end{"pad_y_end"};  // right and bottom
  Input<bool> count_include_pad{"count_include_pad"};
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Expr width = input.dim(1).extent(), height = input.dim(2).extent();

    RDom r(0, kernel_x, 0, kernel_y, "r");
    Expr ix = x * stride_x + r.x - pad_x;
    Expr iy = y * stride_y + r.y - pad_y;
    // The predicate, not max pooling's `likely` select: that measured the same here (DenseNet's
    // 2x2/2 transition pool, a padded 3x3/1; PERFORMANCE.md section 12).
    r.where(ix >= 0 && ix < width && iy >= 0 && iy < height);

    Func acc("acc");
    acc(c, x, y, n) = 0.0f;
    acc(c, x, y, n) += input(c, clamp(ix, 0, width - 1), clamp(iy, 0, height - 1), n);

    // PyTorch's divisor: the window [x0, x0 + k) cut at the far edge of the padded input
    // (a ceil-mode window hanging past it does not count the overhang) with
    // count_include_pad, and further cut to the input without it.
    auto extent = [](Expr start, Expr k, Expr size, Expr pad_end, Expr include_pad) {
      Expr end = min(start + k, size + pad_end);
      Expr inside = min(end, size) - max(start, 0);
      return select(include_pad, end - start, inside);
    };
    Expr count = extent(x * stride_x - pad_x, kernel_x, width, pad_x_end, count_include_pad) *
                 extent(y * stride_y - pad_y, kernel_y, height, pad_y_end, count_include_pad);
    // A window of padding only (impossible with PyTorch's pad <= kernel / 2) gives 0, not 0/0.
    output(c, x, y, n) = acc(c, x, y, n) / cast<float>(max(count, 1));

    if (get_target().has_gpu_feature()) {
      schedule_windowed_gpu(output, acc, c, x, y, n);
    } else {
      schedule_windowed(output, acc, r, c, y, n, natural_vector_size<float>());
    }

    set_pool_estimates(input, output);
    kernel_x.set_estimate(3);
    kernel_y.set_estimate(3);
    stride_x.set_estimate(2);
    stride_y.set_estimate(2);
    pad_x.set_estimate(1);
    pad_y.set_estimate(1);
    pad_x_end.set_estimate(1);
    pad_y_end.set_estimate(1);
    count_include_pad.set_estimate(true);
  }
};

// PyTorch's AdaptiveAvgPool2d: output i of `out` averages input [floor(i * in / out),
// ceil((i + 1) * in / out)). A window is at most ceil(in / out) + 1 wide, which bounds the
// reduction domain; the predicate trims each window to its own width. (The runtime sends a
// 1 x 1 output to GlobalAvgPool below.)
class AdaptiveAvgPool : public Generator<AdaptiveAvgPool> {
 public:
  Input<Buffer<float, 4>> input{"input"};  // c, x, y, n
  // The output's width and height (its buffer's extents cannot be read before it is defined;
  // they are required to equal these).
  Input<int> out_w{"out_w"}, out_h{"out_h"};
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    Var c("c"), x("x"), y("y"), n("n");
    Expr in_w = input.dim(1).extent(), in_h = input.dim(2).extent();

    Expr x0 = x * in_w / out_w, x1 = ((x + 1) * in_w + out_w - 1) / out_w;
    Expr y0 = y * in_h / out_h, y1 = ((y + 1) * in_h + out_h - 1) / out_h;
    Expr span_w = min(in_w, (in_w + out_w - 1) / out_w + 1);
    Expr span_h = min(in_h, (in_h + out_h - 1) / out_h + 1);

    RDom r(0, span_w, 0, span_h, "r");
    r.where(r.x < x1 - x0 && r.y < y1 - y0);
    Func acc("acc");
    acc(c, x, y, n) = 0.0f;
    acc(c, x, y, n) += input(c, min(x0 + r.x, in_w - 1), min(y0 + r.y, in_h - 1), n);
    output(c, x, y, n) = acc(c, x, y, n) / cast<float>((x1 - x0) * (y1 - y0));
    output.dim(1).set_extent(out_w);
    output.dim(2).set_extent(out_h);

    if (get_target().has_gpu_feature()) {
      // A block is 32 channels of one output pixel. Each window is split over 8 lanes by its
      // column (rfactor: lane u sums columns u, u + 8, ...), so a 7-wide window runs 8 threads
      // per channel instead of one summing its values serially. Each lane sums
      // in a register and leaves its partial sum in shared memory (a 32 x 8 block), where the
      // thread of each output adds its 8 up.
      Var co("co"), ci("ci"), yn("yn"), u("u");
      RVar rxo("rxo"), rxi("rxi");
      Func part = acc.update().split(r.x, rxo, rxi, 8, TailStrategy::GuardWithIf).rfactor(rxi, u);
      output.split(c, co, ci, 32, TailStrategy::GuardWithIf)
          .fuse(y, n, yn)
          .reorder(ci, co, x, yn)
          .gpu_blocks(co, x, yn)
          .gpu_threads(ci);
      acc.compute_at(output, ci);
      Func part_out = part.in();
      part_out.compute_at(output, co).gpu_threads(c, u);
      part.compute_at(part_out, c);
    } else {
      // Channels in vector-wide blocks parallel with rows x batch, so that an output of few
      // rows (AlexNet's 6 x 6) of a single image still spreads over the cores; 8 blocks to a task.
      const int vec = natural_vector_size<float>();
      Var co("co"), ci("ci"), coy("coy"), task("task");
      output.split(c, co, ci, vec, TailStrategy::GuardWithIf)
          .vectorize(ci)
          .reorder(ci, x, co, y, n)
          .fuse(co, y, coy)
          .fuse(coy, n, task)
          .parallel(task, 8, TailStrategy::GuardWithIf);
      acc.compute_at(output, x).vectorize(c, vec, TailStrategy::GuardWithIf);
      acc.update().reorder(c, r.x, r.y).vectorize(c, vec, TailStrategy::GuardWithIf);
    }

    // AlexNet's head: 256 x 13 x 13 -> 6 x 6.
    input.set_estimates({{0, 256}, {0, 13}, {0, 13}, {0, 1}});
    output.set_estimates({{0, 256}, {0, 6}, {0, 6}, {0, 1}});
    out_w.set_estimate(6);
    out_h.set_estimate(6);
  }
};

// Global average pooling (c, x, y, n) -> (c, 1, 1, n), the squeeze of every SE block and the
// head of most classifiers. The rows are cut into kGroups bands; each band's channel sums are
// a task (rows, then pixels, then every channel a vector at a time: one sequential read of the
// band, the sums in L1), and the output adds the bands' sums up. Its predecessor (the adaptive
// kernel's 1x1 case) ran a task per block of 16 channels over the whole map: on
// EfficientNet-B0's 32..144-channel maps that was 1-2 tasks, one core reading every 9th cache
// line, 4-5x ONNX Runtime's time (0.10-0.14 ms against 0.02-0.03 ms).
class GlobalAvgPool : public Generator<GlobalAvgPool> {
 public:
  Input<Buffer<float, 4>> input{"input"};  // c, x, y, n
  Output<Buffer<float, 4>> output{"output"};

  void generate() {
    static constexpr int kGroups = 16;
    Var c("c"), x("x"), y("y"), n("n"), g("g");
    Expr in_w = input.dim(1).extent(), in_h = input.dim(2).extent();
    Expr rows = (in_h + kGroups - 1) / kGroups;

    RDom r(0, in_w, 0, rows, "r");
    r.where(g * rows + r.y < in_h);
    Func band("band");
    band(c, g, n) = 0.0f;
    band(c, g, n) += input(c, r.x, min(g * rows + r.y, in_h - 1), n);
    // The bands' sums as the task leaves them (on the cpu set, `band` is each task's scratch).
    Func bands("bands");
    bands(c, g, n) = band(c, g, n);
    RDom rg(0, kGroups, "rg");
    Func total("total");
    total(c, n) = 0.0f;
    total(c, n) += bands(c, rg, n);
    output(c, x, y, n) = total(c, n) / cast<float>(in_w * in_h);
    output.dim(1).set_extent(1);
    output.dim(2).set_extent(1);

    if (get_target().has_gpu_feature()) {
      // A block per 32 channels of one band; each thread sums its channel over the band (a
      // warp's loads are 32 adjacent channels, coalesced). The output's threads add the bands.
      Var co("co"), ci("ci");
      band.compute_root()
          .split(c, co, ci, 32, TailStrategy::GuardWithIf)
          .reorder(ci, co, g, n)
          .gpu_blocks(co, g, n)
          .gpu_threads(ci);
      band.update()
          .split(c, co, ci, 32, TailStrategy::GuardWithIf)
          .reorder(ci, r.x, r.y, co, g, n)
          .gpu_blocks(co, g, n)
          .gpu_threads(ci);
      output.split(c, co, ci, 32, TailStrategy::GuardWithIf).gpu_blocks(co, n).gpu_threads(ci);
      total.compute_at(output, ci);
    } else {
      // One parallel loop: a task zeroes its band's sums, adds its rows in and writes them out.
      const int vec = natural_vector_size<float>();
      Var gn("gn");
      bands.compute_root().fuse(g, n, gn).parallel(gn).vectorize(c, vec, TailStrategy::GuardWithIf);
      band.compute_at(bands, gn).vectorize(c, vec, TailStrategy::GuardWithIf);
      band.update().reorder(c, r.x, r.y).vectorize(c, vec, TailStrategy::GuardWithIf);
      output.vectorize(c, vec, TailStrategy::GuardWithIf);
      total.compute_at(output, c).vectorize(c, vec, TailStrategy::GuardWithIf);
      total.update().reorder(c, rg).vectorize(c, vec, TailStrategy::GuardWithIf);
    }

    // An EfficientNet-B0 squeeze: 144 x 56 x 56 -> 1 x 1.
    input.set_estimates({{0, 144}, {0, 56}, {0, 56}, {0, 1}});
    output.set_estimates({{0, 144}, {0, 1}, {0, 1}, {0, 1}});
  }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(MaxPool, archbench_maxpool)
HALIDE_REGISTER_GENERATOR(AvgPool, archbench_avgpool)
HALIDE_REGISTER_GENERATOR(AdaptiveAvgPool, archbench_adaptive_avgpool)
HALIDE_REGISTER_GENERATOR(GlobalAvgPool, archbench_global_avgpool)
