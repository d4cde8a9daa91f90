// Winograd's minimal filtering for 3x3 convolutions, F(m x m, 3 x 3) (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016), shared by the generator
// (schedules/winograd.cpp: the input and output transforms) and the runtime (the filter
// transform, at preparation). Plain C++: no Halide here.
//
// A tile of m x m outputs reads an (m + 2) x (m + 2) input window d; with the 3x3 filter g:
//   U = G g G^T (per output and input channel, once), V = B^T d B (per input channel and tile),
//   M = sum over input channels of U * V (elementwise: (m + 2)^2 independent matrix products),
//   Y = A^T M A.
// F(2x2, 3x3) does 16 multiplies where direct convolution does 36 (2.25x fewer), F(4x4, 3x3)
// 36 where direct does 144 (4x fewer), at the price of the transforms and of rounding: the
// larger tile's matrices hold 1/24 and 8, so its fp32 results differ from direct convolution's
// by about 1e-6 relative per layer instead of 1e-7.
#pragma once

namespace archbench::winograd {

constexpr int kTaps = 3;

template <int M>
struct Matrices;

template <>
struct Matrices<2> {
  static constexpr int kAlpha = 4;  // window size m + 2
  static constexpr double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static constexpr double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};

template <>
struct Matrices<4> {
  static constexpr int kAlpha = 6;
  static constexpr double BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                      {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
  static constexpr double AT[4][6] = {
      {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};

// Entries by runtime tile size (2 or 4), for code that is not templated.
inline int alpha(int m) { return m + 2; }
inline double bt(int m, int i, int j) { return m == 2 ? Matrices<2>::BT[i][j] : Matrices<4>::BT[i][j]; }
inline double g(int m, int i, int j) { return m == 2 ? Matrices<2>::G[i][j] : Matrices<4>::G[i][j]; }
inline double at(int m, int i, int j) { return m == 2 ? Matrices<2>::AT[i][j] : Matrices<4>::AT[i][j]; }

}  // namespace archbench::winograd
