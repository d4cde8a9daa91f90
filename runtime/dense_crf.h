// The fully connected CRF that DeepLab v1/v2 runs on a network's label scores (Krähenbühl and
// Koltun, "Efficient Inference in Fully Connected CRFs with Gaussian Edge Potentials", NIPS
// 2011): mean-field inference with a smoothness kernel (position only) and an appearance
// kernel (position and colour), Potts compatibility. Self-contained: the standard library only.
//
// What is computed. For pixel i at column x, row y (0-based) of an image with channels
// r, g, b (channels 0, 1, 2, multiplied by rgb_scale so that they are in 0-255 units):
//   smoothness features  f_i = (x, y) / gaussian_sxy
//   appearance features  f_i = (x / bilateral_sxy, y / bilateral_sxy, r / srgb, g / srgb, b / srgb)
//   kernel               k(i, j) = exp(-|f_i - f_j|^2 / 2), the pair j = i included.
// Q starts as the softmax of the scores over labels. Each iteration filters Q with both
// kernels, normalised either by rows, Qm_i = sum_j k(i,j) Q_j / d_i (DeepLab's), or
// symmetrically, Qm_i = sum_j k(i,j) Q_j / sqrt(d_i d_j), where d_i = sum_j k(i,j); then
//   Q_i(l) = softmax over l of (score_i(l) + w_gauss Qgauss_i(l) + w_bilat Qbilat_i(l)).
// The sign is a plus: the filtered probabilities pull a pixel towards its neighbours' labels.
// Every image of the batch is independent. The output is Q after `iterations` iterations.
//
// Layouts: scores N x L x H x W logits, image N x 3 x H x W, output N x L x H x W, all NCHW
// and contiguous. Every function throws std::invalid_argument on arguments it cannot use
// (labels < 1, negative sizes or iterations, sxy or srgb not positive and finite, null data).
#pragma once

#include <cstdint>
#include <vector>

namespace archbench {

struct DenseCrfParams {
  int iterations = 10;  // mean-field updates; 0 returns the softmax of the scores
  double gaussian_weight = 3, gaussian_sxy = 3;
  double bilateral_weight = 4, bilateral_sxy = 49, bilateral_srgb = 5;
  double rgb_scale[3] = {1, 1, 1};  // per image channel, into 0-255 units (255 for 0-1 images)
  bool symmetric = false;           // false: row normalisation (DeepLab's); true: D^-1/2 K D^-1/2
};

// Lattice points per kernel, totalled over the batch; each image has at most P (d + 1) of
// them, d = 2 (smoothness) or 5 (appearance). Zero for a kernel that is not run (weight 0
// or no iterations).
struct LatticeStats {
  int64_t points_gaussian = 0, points_bilateral = 0;
};

// The definition above in double, summing over every pair of pixels: per iteration and kernel
// O(P^2 L) operations, plus O(P^2 d) exponentials once (P <= 2048, whose kernel matrix is kept)
// or every iteration (larger P). The reference for dense_crf_lattice; refuses images of more
// than 4096 pixels.
std::vector<float> dense_crf_exact(const float* scores, const float* image, int64_t n, int64_t labels, int64_t h,
                                   int64_t w, const DenseCrfParams& params);

// The same inference in float with each kernel applied by permutohedral-lattice filtering
// (Adams, Baek and Davis, "Fast High-Dimensional Filtering Using the Permutohedral Lattice",
// 2010). Per image and kernel the lattice is built once: O(P d^2) for the enclosing simplices
// plus P (d + 1) hash insertions and M (d + 1) look-ups, M lattice points (M <= P (d + 1): a
// few percent of that on natural images, nearly all of it on a noise image). Each iteration
// then costs O((P + M)(d + 1) L).
//
// The approximation. Splatting and slicing interpolate linearly between lattice points about
// one standard deviation apart and the blur has three taps per lattice axis, so the lattice's
// kernel is only roughly the Gaussian: on dense inputs its sums are within a few percent (the
// standalone test measures 1-3% on a pixel grid, 8% on a dense 5-d cloud), on sparse ones
// (appearance features of few pixels) the kernel is narrower and the sums tens of percent low.
// The normalisation divides by the same filter's d_i, which cancels the lattice's overall
// scale. In Q this gives differences up to ~0.15 after one iteration and a mean of ~0.01-0.03
// after ten; where scores nearly tie, mean-field amplifies any change of kernel (a 5% change
// of the exact path's weights moves as many pixels as the lattice does).
//
// The mean-field update as a kernel may do it (runtime/kernels_crf.cpp: a Halide one): per
// pixel i in [begin, end) and label l < labels,
//   out(l, i) = softmax over l of unary(l, i) + self(i) q(l, i)
//               + sum over the lattices and their corners k of weight(k, i) values(l, point(k, i)),
// rows of `stride` floats (labels padded with scores far below any other; they come out 0).
// Every pixel has `corners` (d + 1) entries per lattice; a lonely pixel's point at the last
// row of values, which is zero, with weight 0. out is not q's buffer.
struct CrfLattice {
  int corners = 0;
  int64_t rows = 0;                // lattice points + 1 (the zero row)
  const float* values = nullptr;   // rows x stride
  const int32_t* point = nullptr;  // pixels x corners
  const float* weight = nullptr;   // pixels x corners
};
struct CrfUpdate {
  int64_t pixels = 0, stride = 0, labels = 0;
  const float* unary = nullptr;
  const float* q = nullptr;
  const float* self = nullptr;
  float* out = nullptr;
  std::vector<CrfLattice> lattices;  // one or two
};
// accepts: whether the kernel handles these lattices (their corners and the stride; point and
// weight are not set yet); where it does not, the built-in update runs. run: one update of
// pixels [begin, end).
struct CrfUpdateKernel {
  bool (*accepts)(const CrfUpdate&) = nullptr;
  void (*run)(const CrfUpdate&, int64_t begin, int64_t end) = nullptr;
};

// `threads` workers (0: one per hardware thread); the result does not depend on their number.
// It may differ in the last bits between builds for different instruction sets, and between
// the built-in update (C++ vectors, below) and an `update` kernel's.
std::vector<float> dense_crf_lattice(const float* scores, const float* image, int64_t n, int64_t labels, int64_t h,
                                     int64_t w, const DenseCrfParams& params, int threads,
                                     LatticeStats* stats = nullptr, CrfUpdateKernel update = {});

// --- the Gaussian filter on its own (for tests) --------------------------------------------

// out_i = sum_j exp(-|f_i - f_j|^2 / 2) v_j, features pixel-major (pixels x d), values and out
// (pixels x channels); brute force in double, O(pixels^2 (d + channels)).
std::vector<float> gaussian_filter_exact(const float* features, int d, int64_t pixels, const float* values,
                                         int channels);

// The same sums by the lattice of dense_crf_lattice, 1 <= d <= 8, times the constant that makes
// the lattice's kernel integrate like the Gaussian over dense inputs (see the approximation
// above).
std::vector<float> gaussian_filter_lattice(const float* features, int d, int64_t pixels, const float* values,
                                           int channels, int threads = 0);

}  // namespace archbench

#include "networks/networks.h"

namespace archbench {

// A spec's dense_crf attributes as the functions above take them.
inline DenseCrfParams dense_crf_params(const DenseCrfAttrs& a) {
  DenseCrfParams p;
  p.iterations = static_cast<int>(a.iterations);
  p.gaussian_weight = a.gaussian_weight;
  p.gaussian_sxy = a.gaussian_sxy;
  p.bilateral_weight = a.bilateral_weight;
  p.bilateral_sxy = a.bilateral_sxy;
  p.bilateral_srgb = a.bilateral_srgb;
  for (int i = 0; i < 3; ++i) p.rgb_scale[i] = a.rgb_scale[i];
  p.symmetric = a.symmetric;
  return p;
}

}  // namespace archbench
