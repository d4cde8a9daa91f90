// Internal to runtime/: the pooling, resampling and data-movement kernels (schedules/pool.cpp,
// schedules/resize.cpp). Activations are Buffers with dims (c, x, y, n) as in kernels.h; every
// `out` is allocated by the caller with the layer's output shape (networks/ops.cpp), which the
// kernels take their output size from. All of them throw RuntimeError on shapes that do not
// fit the attributes, and on a kernel failure.
#pragma once

#include "networks/networks.h"
#include "runtime/kernels.h"

namespace archbench::kernels {

// Max (`max`) or average pooling with PyTorch's semantics: any kernel, stride and padding,
// ceil-mode windows (the last window may hang past the padded input and is clipped to it);
// max skips padding (-inf) and takes dilation; avg divides by the window clipped to the
// padded input (count_include_pad) or to the input (without it). 3x3 and 2x2 max windows
// (any stride) run unrolled specialisations inside the kernel.
void run_pool(const PoolAttrs& attrs, bool max, const Buffer& in, Buffer& out);

// N, C, H, W -> N, C, 1, 1 (the adaptive kernel's 1x1 case).
void run_global_avgpool(const Buffer& in, Buffer& out);

// PyTorch's AdaptiveAvgPool2d to out's height and width: output i averages input
// [floor(i * in / out), ceil((i + 1) * in / out)).
void run_adaptive_avgpool(const Buffer& in, Buffer& out);

// PyTorch's 'nearest' (src = min(floor(dst * scale), in - 1)) and 'bilinear' (both
// align_corners rules, negative source coordinates clamped to 0) to out's height and width;
// scale = 1 / scale factor where the attributes give one, else in / out.
void run_upsample(const UpsampleAttrs& attrs, const Buffer& in, Buffer& out);

// Constant padding: out = in placed at (left, top), `value` elsewhere.
void run_pad(const PadAttrs& attrs, const Buffer& in, Buffer& out);

// A crop needs no kernel: the view of `in`'s window (sharing its memory, strided like `in`,
// at the origin). Every kernel reads such a view; to_nchw copies it out.
Buffer crop_view(const CropAttrs& attrs, const Buffer& in);

// The same window copied into a dense `out` (the pad kernel with negative offsets), for
// callers that need the crop in its own buffer.
void run_crop(const CropAttrs& attrs, const Buffer& in, Buffer& out);

// Channels [begin, end) of `in` copied into `out` (run_copy of that channel window).
void run_slice(const SliceAttrs& attrs, const Buffer& in, Buffer& out);

}  // namespace archbench::kernels
