// The dense CRF's mean-field update (runtime/dense_crf.cpp), per pixel i and label l:
//   Q'(l, i) = softmax over l of unary(l, i) + self(i) * Q(l, i)
//                               + sum over the corners k of lattice a of weight_a(k, i) * a(l, point_a(k, i))
//                               + the same for lattice b,
// the slice of the blurred lattices back onto the pixels, the lonely pixels' own term and the
// exp-normalise in one pass. The lattices' splat and blur (irregular lists of pixels per point
// and chains of points) and their construction stay in C++.
//
// Layouts (innermost first): labels padded to a stride of whole 8-float vectors, the padding
// lanes of unary far below any score (so they never win the maximum; they come out 0); a
// lattice's rows (label, point), with a last row of zeros that lonely pixels' corners point
// at with weight 0; corners (corner, pixel). The runtime checks the point indices, which are
// promised in range here.
//
// No parallel loop: the runtime's threads each call it on their own run of pixels (the
// lattice passes around it run on those threads too).
#include <vector>

#include "Halide.h"

namespace {

using namespace Halide;

class CrfSlice : public Generator<CrfSlice> {
 public:
  // Corners per pixel of each lattice (d + 1): 3 for the smoothness kernel (d = 2), 6 for the
  // appearance kernel (d = 5); 0: no second lattice.
  GeneratorParam<int> corners_a{"corners_a", 3};
  GeneratorParam<int> corners_b{"corners_b", 6};

  Input<Buffer<float, 2>> unary{"unary"};          // label, pixel
  Input<Buffer<float, 2>> q{"q"};                  // label, pixel: Q before the update
  Input<Buffer<float, 1>> self{"self"};            // pixel
  Input<Buffer<float, 2>> lattice_a{"lattice_a"};  // label, point
  Input<Buffer<int32_t, 2>> point_a{"point_a"};    // corner, pixel
  Input<Buffer<float, 2>> weight_a{"weight_a"};    // corner, pixel
  Input<Buffer<float, 2>> lattice_b{"lattice_b"};  // unused where corners_b is 0
  Input<Buffer<int32_t, 2>> point_b{"point_b"};
  Input<Buffer<float, 2>> weight_b{"weight_b"};
  Input<int> labels{"labels"};
  Output<Buffer<float, 2>> output{"output"};  // label, pixel: Q after (not q's buffer)

  void generate() {
    constexpr int kBlock = 8;  // floats per label vector; the stride is a multiple
    Var l("l"), i("i"), v("v");
    Expr stride = unary.dim(0).extent();

    // The terms summed as a balanced tree, not a chain of dependent FMAs (each waits for the
    // previous one's result: latency-bound).
    std::vector<Expr> terms = {unary(l, i) + self(i) * q(l, i)};
    auto add_lattice = [&](const Input<Buffer<float, 2>>& lattice, const Input<Buffer<int32_t, 2>>& point,
                           const Input<Buffer<float, 2>>& weight, int corners) {
      Expr last = lattice.dim(1).max();
      for (int k = 0; k < corners; ++k)
        terms.push_back(weight(k, i) * lattice(l, unsafe_promise_clamped(point(k, i), 0, last)));
    };
    add_lattice(lattice_a, point_a, weight_a, corners_a);
    add_lattice(lattice_b, point_b, weight_b, corners_b);
    while (terms.size() > 1) {
      std::vector<Expr> sums;
      for (size_t t = 0; t + 1 < terms.size(); t += 2) sums.push_back(terms[t] + terms[t + 1]);
      if (terms.size() % 2) sums.push_back(terms.back());
      terms = sums;
    }
    Expr total = terms[0];
    Func s("s");
    s(l, i) = total;

    // The maximum and the sum over labels: lane-wise over the stride's vectors, then across
    // the lanes of one vector.
    RDom blocks(0, stride / kBlock, "blocks"), lanes(0, kBlock, "lanes");
    Func lane_top("lane_top"), top("top"), e("e"), lane_sum("lane_sum"), sum("sum");
    lane_top(v, i) = s(v, i);
    lane_top(v, i) = max(lane_top(v, i), s(blocks * kBlock + v, i));
    top(i) = lane_top(0, i);
    top(i) = max(top(i), lane_top(lanes, i));
    e(l, i) = select(l < labels, exp(s(l, i) - top(i)), 0.0f);
    lane_sum(v, i) = 0.0f;
    lane_sum(v, i) += e(blocks * kBlock + v, i);
    sum(i) = 0.0f;
    sum(i) += lane_sum(lanes, i);
    output(l, i) = e(l, i) * (1.0f / sum(i));

    output.dim(0).set_min(0);
    output.vectorize(l, kBlock);
    s.compute_at(output, i).vectorize(l, kBlock);
    lane_top.compute_at(output, i).vectorize(v);
    lane_top.update().vectorize(v);
    top.compute_at(output, i);
    top.update().atomic().vectorize(lanes);
    e.compute_at(output, i).vectorize(l, kBlock);
    lane_sum.compute_at(output, i).vectorize(v);
    lane_sum.update().vectorize(v);
    sum.compute_at(output, i);
    sum.update().atomic().vectorize(lanes);
    // PASCAL VOC's 21 labels (a stride of 24) as a constant, so that the label loops have a
    // known trip count. (Not timed against the generic case: it may buy nothing.)
    output.specialize(stride == 24);

    unary.set_estimates({{0, 24}, {0, 4096}});
    q.set_estimates({{0, 24}, {0, 4096}});
    self.set_estimates({{0, 4096}});
    lattice_a.set_estimates({{0, 24}, {0, 1024}});
    point_a.set_estimates({{0, corners_a}, {0, 4096}});
    weight_a.set_estimates({{0, corners_a}, {0, 4096}});
    lattice_b.set_estimates({{0, 24}, {0, 1024}});
    point_b.set_estimates({{0, std::max<int>(1, corners_b)}, {0, 4096}});
    weight_b.set_estimates({{0, std::max<int>(1, corners_b)}, {0, 4096}});
    labels.set_estimate(21);
    output.set_estimates({{0, 24}, {0, 4096}});
  }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(CrfSlice, archbench_crf_slice)
