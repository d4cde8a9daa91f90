// Fully connected: out(o, n) = act(bias(o) + sum over k of weight(o, k) * in_k(n)), the input
// read in PyTorch's flatten order.
//
// Layouts (Halide dims, innermost first): the input activation (c, x, y, n); the prepared
// weight (o, k), where k walks the input in its own memory order, k = (y * W + x) * C + c (the
// preparation permutes PyTorch's (c * H + y) * W + x columns to match), and o is padded with
// zero rows to a multiple of 16 so that any vector of outputs is one whole load; the bias (o),
// padded the same way; the output (o, 1, 1, n).
//
// Batch 1 is a matrix-vector product, bound by the weight stream: the reduction is split into
// chunks of rows_per_task rows (rfactor; the runtime picks the size from the core count and
// bounds the partial sums' memory), one parallel task per chunk. A task walks its rows in order
// and accumulates every output in a row of partial sums that stays in cache, so the weights
// are read once, front to back; the chunks' partial rows are then summed. A batch > 1 runs the
// same loop nest with the batch inside the vector-of-outputs loop (a small matmul: the
// kRowUnroll weight vectors of a step are loaded from memory once and reused from L1 for
// every batch element).
#include "Halide.h"

namespace {

using namespace Halide;

constexpr int kRowUnroll = 8;  // rows accumulated per load/store of the partial sums
// GPU: outputs per block (one thread each) and rows of the reduction per chunk.
constexpr int kGpuOutputs = 128;
constexpr int kGpuRows = 128;

class FullyConnected : public Generator<FullyConnected> {
 public:
  GeneratorParam<bool> relu{"relu", false};

  Input<Buffer<float, 4>> input{"input"};     // c, x, y, n
  Input<Buffer<float, 2>> weight{"weight"};   // o (padded to a multiple of 16), k
  Input<Buffer<float, 1>> bias{"bias"};       // o (padded)
  Input<int> rows_per_task{"rows_per_task"};  // a multiple of kRowUnroll, chosen by the runtime
  Output<Buffer<float, 4>> output{"output"};  // o, 1, 1, n

  void generate() {
    Var o("o"), x("x"), y("y"), n("n"), k("k"), ko("ko");
    Expr channels = input.dim(0).extent(), width = input.dim(1).extent();

    // The input as one vector per batch element, in memory order.
    Func flat("flat");
    flat(k, n) = input(k % channels, (k / channels) % width, k / (channels * width), n);

    RDom r(0, weight.dim(1).extent(), "r");
    Func dot("dot");
    dot(o, n) = bias(o);
    dot(o, n) += weight(o, r) * flat(r, n);
    // relu keeps a NaN a NaN (PyTorch's semantics; max(v, 0) alone gives 0 on x86), tested on
    // the bits because is_nan folds to false under the fast-math flags Halide compiles with.
    Expr v = dot(o, n);
    Expr nan = (reinterpret<uint32_t>(v) & cast<uint32_t>(0x7fffffff)) > cast<uint32_t>(0x7f800000);
    output(o, x, y, n) = relu ? select(nan, v, max(v, 0.0f)) : v;

    if (get_target().has_gpu_feature()) {
      // The reduction in chunks of kGpuRows rows (rfactor), a block per (128 outputs, chunk,
      // batch element): each thread owns one output and walks the chunk's rows, so a warp
      // reads 32 consecutive weights of a row (coalesced) and every block streams its own
      // slice of the weight matrix; the chunk's slice of the input is gathered once into
      // shared memory. ResNet-50's classifier (K = 2048) runs 16 chunks x 8 blocks, VGG's fc6
      // (K = 25088, N = 4096) 196 x 32. Then a thread per output adds up its chunks' partial
      // sums and the bias. rows_per_task (a CPU tuning knob) is not used here.
      Var oo("oo"), oi("oi"), yn("yn");
      RVar rko("rko"), rki("rki");
      Func part = dot.update().split(r, rko, rki, kGpuRows, TailStrategy::GuardWithIf).rfactor(rko, ko);
      // The partial sums' buffer is written once per thread through a wrapper; the sum
      // itself is computed per thread, in a register.
      Func part_out = part.in();
      part_out.compute_root()
          .split(o, oo, oi, kGpuOutputs, TailStrategy::GuardWithIf)
          .reorder(oi, oo, ko, n)
          .gpu_blocks(oo, ko, n)
          .gpu_threads(oi);
      part.compute_at(part_out, oi);
      flat.compute_at(part_out, oo).gpu_threads(k);
      output.split(o, oo, oi, kGpuOutputs, TailStrategy::GuardWithIf)
          .fuse(y, n, yn)
          .reorder(oi, oo, x, yn)
          .gpu_blocks(oo, x, yn)
          .gpu_threads(oi);
      dot.compute_at(output, oi);
    } else {
      const int vec = natural_vector_size<float>();
      RVar rko("rko"), rki("rki"), rkio("rkio"), rkii("rkii");
      Var oo("oo"), oi("oi");
      dot.update().split(r, rko, rki, rows_per_task);
      Func part = dot.update().rfactor(rko, ko);

      // Partial sums: one row of every output per chunk. The loops, outermost first: chunk
      // (parallel), rows in steps of kRowUnroll, vectors of outputs, batch, the unrolled rows.
      part.compute_root().vectorize(o, vec, TailStrategy::RoundUp).parallel(ko);
      part.update()
          .split(o, oo, oi, vec, TailStrategy::RoundUp)
          .split(rki, rkio, rkii, kRowUnroll)
          .reorder(oi, rkii, n, oo, rkio, ko)
          .vectorize(oi)
          .unroll(rkii)
          .parallel(ko);
      // The chunk's slice of the input, gathered once per task.
      flat.compute_at(part, ko);

      dot.compute_root().vectorize(o, vec, TailStrategy::RoundUp);
      dot.update().vectorize(o, vec, TailStrategy::RoundUp);
      output.vectorize(o, vec, TailStrategy::GuardWithIf);
    }

    // Estimates for the autoschedulers (ResNet-50's classifier).
    input.set_estimates({{0, 2048}, {0, 1}, {0, 1}, {0, 1}});
    weight.set_estimates({{0, 1008}, {0, 2048}});
    bias.set_estimates({{0, 1008}});
    rows_per_task.set_estimate(128);
    output.set_estimates({{0, 1000}, {0, 1}, {0, 1}, {0, 1}});
  }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(FullyConnected, archbench_fc)
