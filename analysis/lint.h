// The analyzer's lints: two traps of encoder-decoder networks that shapes alone do not show.
//   checkerboard  a transposed conv whose output phases receive unequal numbers of taps (its
//                 kernel is not a multiple of its stride, or a dilation skips phases): the
//                 checkerboard artefacts of Odena, Dumoulin & Olah 2016;
//   odd_size      a downsampling layer (stride > 1, floor rounding) that drops input rows or
//                 columns, upstream of a merge of its level with an upsampled path (U-Net's
//                 crop-and-concat, FCN's skip fusions): the two paths no longer cover the
//                 same pixels.
// `archbench analyze` prints them in every format; --strict makes them errors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "networks/networks.h"

namespace archbench {

struct LintWarning {
  std::string layer, kind, message;  // message without the location and layer
  SourceLoc loc;
};

// The warnings of a graph, in layer order. An odd_size warning names the nearest input
// heights (or widths) at which no such layer drops anything, found by loading the graph's
// spec again at other sizes (graph.file; skipped where it cannot be loaded).
std::vector<LintWarning> lint(const Graph& graph, const LoadOptions& options = {});

// "file:line:col: warning: layer 'x': message" (`severity` "error" under --strict)
std::string warning_text(const LintWarning& w, const char* severity = "warning");

// The input heights and widths in [lo, hi] at which the spec loads and no odd_size lint fires
// (the other axis, N and C as `options` or the spec give them). Where the spec's input is
// square, both axes move together.
struct ValidSizes {
  std::vector<int64_t> heights, widths;
  bool square = false;
};
ValidSizes valid_input_sizes(const std::filesystem::path& spec, const LoadOptions& options, int64_t lo, int64_t hi);

// Sizes in ascending order, each written, runs of three or more consecutive ones as "a-b":
// "188, 204, 220" or "32-1024".
std::string sizes_text(const std::vector<int64_t>& sizes);

}  // namespace archbench
