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

// B^T, G and A^T for m = 2 (4x4 windows) and m = 4 (6x6 windows).
constexpr double kBT2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
constexpr double kG2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
constexpr double kAT2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
constexpr double kBT4[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                               {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
constexpr double kG4[6][3] = {{1.0 / 4, 0, 0},
                              {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                              {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                              {1.0 / 24, 1.0 / 12, 1.0 / 6},
                              {1.0 / 24, -1.0 / 12, 1.0 / 6},
                              {0, 0, 1}};
constexpr double kAT4[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

// Entries by tile size m (2 or 4); alpha is the window size m + 2.
inline int alpha(int m) { return m + 2; }
inline double bt(int m, int i, int j) { return m == 2 ? kBT2[i][j] : kBT4[i][j]; }
inline double g(int m, int i, int j) { return m == 2 ? kG2[i][j] : kG4[i][j]; }
inline double at(int m, int i, int j) { return m == 2 ? kAT2[i][j] : kAT4[i][j]; }

}  // namespace archbench::winograd
