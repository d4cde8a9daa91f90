// Per-op rules that the analysis composes: cost (MACs, FLOPs, parameters) and the spatial
// window each output pixel reads. They live beside the shape rules in ops.cpp so that an op's
// shape, cost and geometry are written in one place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "networks/networks.h"
#include "networks/rational.h"

namespace archbench {

// MACs count multiply-accumulates of conv, transposed conv and fully connected layers only
// (torchvision's `_ops`, the ResNet/VGG papers). FLOPs are 2 x MACs plus bias adds and the
// element-wise, pooling and normalisation work (formulas in docs/ARCHITECTURE.md).
// Parameters are learnable weights and biases; batch-norm counts scale and shift.
struct LayerCost {
  int64_t macs = 0, flops = 0, params = 0;
};

// Throws SpecError (naming the layer) if a count overflows int64.
LayerCost layer_cost(const Graph& graph, const Layer& layer);

// A deformable conv's bilinear sampling, which its FLOPs include: one sample per input
// channel, tap and output pixel (each reading 4 input values: `gathers`), and the FLOPs of the
// samples plus those of the sampling positions and corner weights (per offset group and tap).
// Zero for every other op.
struct DeformSampling {
  int64_t samples = 0, gathers = 0, flops = 0;
};
DeformSampling deform_sampling(const Graph& graph, const Layer& layer);

// A dense CRF's work, by the lattice path's operation counts with every lattice as large as
// it can be (P (d + 1) points for P pixels, d = 2 and 5): per iteration and kernel, splatting
// and slicing 2 FLOPs per pixel, lattice vertex and label each, blurring 4 per point, axis and
// label, normalising 1 per pixel and label; then 4 per pixel and label to weigh the two
// kernels in and 5 for the softmax; and the first softmax. `flops` is all of it.
struct DenseCrfCost {
  int64_t pixels = 0, lattice_bound_gaussian = 0, lattice_bound_bilateral = 0;
  int64_t flops_per_iteration = 0, flops = 0;
};
DenseCrfCost dense_crf_cost(const Graph& graph, const Layer& layer);

// Along one axis, output index x reads the layer input's continuous interval
// [scale*x + offset, scale*x + offset + span]. Convolution and pooling: scale = stride,
// offset = -pad, span = dilation*(kernel-1). Transposed convolution and upsampling map the
// centre of the window exactly and give a fractional scale.
struct AxisMap {
  Rational scale{1}, offset{0}, span{0};
};
struct SpatialMap {
  AxisMap h, w;
};

// The window of a single-input layer (merges read each input with the identity map).
SpatialMap spatial_map(const Graph& graph, const Layer& layer);

// Output size along one axis of a conv or pooling window: floor (or, in ceil mode, ceil) of
// (size + pads - k_eff) / stride + 1, where PyTorch's ceil-mode rule drops a last window that
// would start inside the bottom/right padding. Zero or negative where nothing fits.
int64_t window_output(int64_t size, int64_t pad_lo, int64_t pad_hi, int64_t k_eff, int64_t stride, bool ceil_mode);

// True for ops that combine several same-geometry inputs (add, multiply, concat).
bool is_merge(OpKind op);

// The op names the spec format knows, in documentation order.
std::vector<std::string> known_ops();

}  // namespace archbench
