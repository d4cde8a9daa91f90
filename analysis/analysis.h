// analysis: pure functions of a Graph — cost, receptive field, memory plan, intensity.
#pragma once

#include <cstdint>
#include <vector>

#include "networks/networks.h"
#include "networks/ops.h"
#include "networks/rational.h"

namespace archbench {

constexpr int64_t kBytesPerElement = 4;  // fp32 activations and weights

// Per axis: output index x sees input indices [-P + x*S, -P + x*S + r - 1].
struct AxisField {
  Rational size{1}, stride{1}, padding{0};
  // (r - 1)/2 - P: where the field's centre sits for x = 0; equal at an aligned merge.
  Rational centre() const { return (size - 1) / 2 - padding; }
};

struct ReceptiveField {
  AxisField h, w;
  bool aligned = true;  // false only at a merge whose inputs differ in stride or centre
  // True from a deformable conv on: its offsets move the taps, so the field given is the
  // nominal one (zero offsets), widened by the layer's offset_bound where it has one.
  bool data_dependent = false;
};

// One field per layer of graph.layers (index 0, the input, is 1/1/0).
// Recurrences: r' = r + span*S, S' = S*scale, P' = P - offset*S for the layer's window
// (networks/ops.h). A merge takes the hull of its inputs' fields at x = 0:
// P = max P_i, r = max(r_i - P_i) + P, which is max r_i when the inputs are aligned.
// Inputs broadcast from 1x1 (an SE gate: global context) are left out of the hull and the
// alignment check, so the field stays the local one that networks can be compared by.
std::vector<ReceptiveField> receptive_fields(const Graph& graph);

// Whether a flatten layer is a view of its input in the runtime's layout (channels innermost,
// (c, x, y, n)): where its input is 1x1, or every reader (through dropout and flatten views)
// is an fc layer, which reads its input's layout as it is; else the runtime copies it into
// NCHW order (channel-major), a buffer of its own.
bool flatten_is_view(const Graph& graph, int layer);

// Buffers as the runtime allocates them, in execution order, each freed after its last use:
// - dropout and flatten (where flatten_is_view) are views of their input;
// - an element-wise layer (batch-norm, activations, add, same-shape multiply) writes into an
//   input that dies there (never the network input; of several, the one computed last);
// - a buffer read by one concat and otherwise only by layers before it is a slice of the
//   concat's output (zero-copy concat), which is then live from that producer's step, unless
//   copying it into the concat lowers the arena (slices dropped one at a time while one does:
//   U-Net's decoder stages). DenseNet's dense blocks are one buffer each this way.
struct MemoryPlan {
  std::vector<int> buffer_of;              // per layer: the buffer its output lives in
  // Per layer: the input whose place it writes (an in-place element-wise layer, a view), or -1.
  // Within a concat's buffer, only these chains share a slice: other layers there (an input
  // read before the concat, and what is computed from it) each have their own.
  std::vector<int> overwrites;
  std::vector<int64_t> buffer_bytes;       // per buffer
  std::vector<int> first_step, last_step;  // per buffer: live over [first, last] layer steps
  std::vector<int64_t> offset;             // per buffer: byte offset in the arena (aligned)
  std::vector<int64_t> live_bytes;         // per step: bytes of buffers live at that step
  int64_t peak_bytes = 0;                  // max of live_bytes
  int peak_step = 0;
  int64_t arena_bytes = 0;  // size of the placed arena (>= peak_bytes)
};
// `alignment`: of each buffer's offset in bytes (64 for the cpu set; a GPU set asks for its
// device's base address alignment, e.g. OpenCL sub-buffers').
MemoryPlan plan_memory(const Graph& graph, int64_t alignment = 64);

struct LayerAnalysis {
  LayerCost cost;
  int64_t activation_bytes = 0;  // the layer's output tensor
  int64_t bytes_moved = 0;       // inputs + output + parameters, read or written once
  double intensity = 0;          // FLOPs per byte moved
  ReceptiveField rf;
};

struct Totals {
  int64_t macs = 0, flops = 0, params = 0, param_bytes = 0;
  int64_t input_bytes = 0;
  int64_t activation_bytes = 0;  // sum of every layer's output tensor
  int64_t peak_activation_bytes = 0, arena_bytes = 0;
  double intensity = 0;  // total FLOPs / total bytes moved
};

struct NetworkAnalysis {
  std::vector<LayerAnalysis> layers;  // parallel to graph.layers
  Totals totals;
  MemoryPlan memory;
  int final_layer = 0;    // the first network output (not train-only when others exist)
  int feature_layer = 0;  // the last layer with H*W > 1 that reaches final_layer
};

NetworkAnalysis analyse(const Graph& graph);

// The roofline lower bound on a kernel call's time (Williams, Waterman & Patterson 2009): it
// can run no faster than its FLOPs at the compute peak, nor than its bytes moved at the memory
// bandwidth, so max(flops / peak, bytes / bandwidth), in milliseconds. A peak <= 0 is unknown
// and bounds nothing (0 when both are).
double roofline_bound_ms(int64_t flops, int64_t bytes_moved, double peak_gflops, double peak_gbps);

// measured / bound as a percentage ("% of roofline": 100 means the call ran at the bound);
// 0 where either is unknown.
double percent_of_roofline(double bound_ms, double measured_ms);

}  // namespace archbench
