#include <boost/test/unit_test.hpp>

#include "analysis/analysis.h"
#include "helpers.h"

using namespace archbench;
using namespace archbench::test;

BOOST_AUTO_TEST_SUITE(memory)

BOOST_AUTO_TEST_CASE(in_place_activation_and_zero_copy_concat) {
  Graph g = load_text(R"(
name: mem
input: [1, 1, 4, 4]
layers:
  - {name: p, op: conv, out: 2, kernel: 1}
  - {name: q, op: relu}
  - {name: r, op: conv, inputs: input, out: 3, kernel: 1}
  - {name: cat, op: concat, inputs: [q, r]}
  - {name: out, op: conv, out: 1, kernel: 1}
)");
  MemoryPlan m = plan_memory(g);
  int p = g.find("p"), q = g.find("q"), r = g.find("r"), cat = g.find("cat"), out = g.find("out");
  BOOST_TEST(m.buffer_of[q] == m.buffer_of[p]);    // relu in place
  BOOST_TEST(m.buffer_of[p] == m.buffer_of[cat]);  // producers write into the concat
  BOOST_TEST(m.buffer_of[r] == m.buffer_of[cat]);
  BOOST_TEST(m.buffer_bytes[m.buffer_of[cat]] == 320);
  // steps: input, p, q, r, cat, out. The concat buffer lives from p's step to out's.
  std::vector<int64_t> live{64, 384, 384, 384, 320, 384};
  BOOST_TEST(m.live_bytes == live, boost::test_tools::per_element());
  BOOST_TEST(m.peak_bytes == 384);  // 640 if the concat copied its inputs
  BOOST_TEST(m.arena_bytes == 384);
  BOOST_TEST(m.offset[m.buffer_of[out]] == 320);  // reuses the input's place, dead by then
  NetworkAnalysis a = analyse(g);
  BOOST_TEST(a.totals.activation_bytes == 128 + 128 + 192 + 320 + 64);
  BOOST_TEST(a.totals.peak_activation_bytes == 384);
}

// a, read by b, c and the concat; b and c feed only the concat.
const char* kShared = R"(
name: shared
input: [1, 1, 4, 4]
layers:
  - {name: a, op: conv, out: 2, kernel: 1}
  - {name: b, op: relu}
  - {name: c, op: sigmoid, inputs: a}
  - {name: cat, op: concat, inputs: [b, c, a]}
)";

BOOST_AUTO_TEST_CASE(shared_tensors_are_not_overwritten) {
  Graph g = load_text(std::string(kShared) + "  - {name: d, op: relu, inputs: a}\n");
  MemoryPlan m = plan_memory(g);
  int a = g.find("a"), b = g.find("b"), c = g.find("c"), cat = g.find("cat"), d = g.find("d");
  BOOST_TEST(m.buffer_of[b] != m.buffer_of[a]);  // a is still read by c, cat and d
  BOOST_TEST(m.buffer_of[c] != m.buffer_of[a]);
  BOOST_TEST(m.overwrites[b] == -1);
  BOOST_TEST(m.overwrites[c] == -1);
  BOOST_TEST(m.buffer_of[b] == m.buffer_of[cat]);  // b and c feed only the concat
  BOOST_TEST(m.buffer_of[c] == m.buffer_of[cat]);
  BOOST_TEST(m.buffer_of[a] != m.buffer_of[cat]);  // a is read after the concat too
  BOOST_TEST(m.overwrites[d] == a);                // the last reader of a writes over it
  // From b's step on: a (128 bytes, read by cat and d) and the concat buffer (384); the input
  // died at a.
  BOOST_TEST(m.peak_bytes == 128 + 384);
}

// A tensor read by a concat and by layers before it is a slice of the concat too, beside the
// layers computed from it (not over it: b and c are not in place), as in DenseNet's dense
// block, where each concat is read by the next layer's batch-norm and by the next concat.
BOOST_AUTO_TEST_CASE(a_tensor_read_before_its_concat_is_a_slice_of_it) {
  Graph g = load_text(kShared);
  MemoryPlan m = plan_memory(g);
  int a = g.find("a"), b = g.find("b"), c = g.find("c"), cat = g.find("cat");
  for (int l : {a, b, c}) BOOST_TEST(m.buffer_of[l] == m.buffer_of[cat]);
  BOOST_TEST(m.overwrites[b] == -1);
  BOOST_TEST(m.overwrites[c] == -1);
  BOOST_TEST(m.buffer_bytes[m.buffer_of[cat]] == 384);
  // From a's step on: the concat buffer (384) and the input (64), which dies at a.
  BOOST_TEST(m.peak_bytes == 64 + 384);

  Graph dense = load_text(R"(
name: dense_block
input: [1, 3, 8, 8]
layers:
  - {name: stem, op: conv, out: 4, kernel: 1}
  - {name: n1, op: batchnorm}
  - {name: c1, op: conv, out: 2, kernel: 1}
  - {name: cat1, op: concat, inputs: [stem, c1]}
  - {name: n2, op: batchnorm}
  - {name: c2, op: conv, out: 2, kernel: 1}
  - {name: cat2, op: concat, inputs: [cat1, c2]}
  - {name: out, op: batchnorm}
)");
  MemoryPlan md = plan_memory(dense);
  int last = dense.find("cat2");
  for (const char* l : {"stem", "c1", "cat1", "c2", "out"})
    BOOST_TEST(md.buffer_of[dense.find(l)] == md.buffer_of[last]);
  BOOST_TEST(md.overwrites[dense.find("out")] == last);  // the concat's last reader, in place
  BOOST_TEST(md.buffer_bytes[md.buffer_of[last]] == 8 * 8 * 8 * 4);
}

// U-Net's expansive stage: crop [skip, up] reads only up's size, so the skip dies at the crop.
// Writing up and the crop straight into the concat would make the concat's buffer live from
// up's step, beside the skip and up's input: copying both lowers the peak, and the plan copies.
BOOST_AUTO_TEST_CASE(a_crop_size_reference_is_not_a_read) {
  Graph g = load_text(R"(
name: unet_stage
input: [1, 1, 8, 8]
layers:
  - {name: skip, op: conv, out: 2, kernel: 1}
  - {name: down, op: maxpool, kernel: 2}
  - {name: up, op: conv_transpose, out: 2, kernel: 2, stride: 2, padding: 1}
  - {name: crop, op: crop, inputs: [skip, up], center: true}
  - {name: cat, op: concat, inputs: [crop, up]}
  - {name: out, op: conv, out: 1, kernel: 1}
)");
  MemoryPlan m = plan_memory(g);
  int skip = g.find("skip"), up = g.find("up"), crop = g.find("crop"), cat = g.find("cat");
  BOOST_TEST(m.buffer_of[up] != m.buffer_of[cat]);
  BOOST_TEST(m.buffer_of[crop] != m.buffer_of[cat]);
  BOOST_TEST(m.last_step[m.buffer_of[skip]] == crop);
  // Sizes: input 256 B, skip 512, down 128, up and crop 2x6x6 = 288 each, cat 576, out 144.
  // Steps: input, skip, down, up, crop, cat, out. With both slices, up's step would hold the
  // skip, down and the whole concat: 1216. Dropping only one of them does not help (the crop's
  // alone: still 1216 at up's step; up's alone: 1376 at the crop's).
  std::vector<int64_t> live{256, 768, 640, 928, 1088, 1152, 720};
  BOOST_TEST(m.live_bytes == live, boost::test_tools::per_element());
  BOOST_TEST(m.peak_bytes == 1152);
  BOOST_TEST(m.arena_bytes == 1184);  // 288-byte buffers at 64-byte-aligned offsets
}

// Where copying saves nothing, producers still write into the concat: GoogLeNet's branches.
BOOST_AUTO_TEST_CASE(slices_stay_where_copies_would_not_lower_the_peak) {
  Graph g = load_text(R"(
name: branches
input: [1, 4, 8, 8]
layers:
  - {name: a, op: conv, out: 4, kernel: 1}
  - {name: b, op: conv, inputs: input, out: 4, kernel: 3, padding: 1}
  - {name: c, op: maxpool, inputs: input, kernel: 3, stride: 1, padding: 1}
  - {name: cat, op: concat, inputs: [a, b, c]}
)");
  MemoryPlan m = plan_memory(g);
  for (const char* name : {"a", "b", "c"}) BOOST_TEST(m.buffer_of[g.find(name)] == m.buffer_of[g.find("cat")]);
  BOOST_TEST(m.peak_bytes == 1024 + 3072);  // the input and the concat; with copies 2 x 3072
}

// The search for slices to drop has a budget: a 3000-layer chain of 1000 concats (2000 slices,
// each a possible drop) is planned in a bounded time, and its plan is sound. Every zoo
// network's plan is checked the same way (test_zoo.cpp).
BOOST_AUTO_TEST_CASE(a_long_chain_of_concats_is_planned) {
  std::string spec = "name: chain\ninput: [1, 4, 8, 8]\nlayers:\n";
  std::string prev = "input";
  for (int i = 0; i < 1000; ++i) {
    const std::string n = std::to_string(i);
    spec += "  - {name: a" + n + ", op: conv, inputs: " + prev + ", out: 4, kernel: 1}\n";
    spec += "  - {name: b" + n + ", op: conv, inputs: " + prev + ", out: 4, kernel: 1}\n";
    spec += "  - {name: c" + n + ", op: concat, inputs: [a" + n + ", b" + n + "]}\n";
    prev = "c" + n;
  }
  Graph g = load_text(spec);
  MemoryPlan m = plan_memory(g);
  BOOST_TEST(placement_error(m) == "");
  // Each concat's inputs are written into it: its 8-channel buffer and the previous concat's.
  BOOST_TEST(m.peak_bytes == 2 * 8 * 64 * 4);
}

// Flatten is a view where the channels-innermost layout already is the flattened order (a 1x1
// input) or every reader is an fc layer; otherwise it is copied into a buffer of its own.
BOOST_AUTO_TEST_CASE(flatten_is_a_view_only_where_the_layout_allows) {
  Graph g = load_text(R"(
name: flatten_views
input: [1, 2, 3, 3]
layers:
  - {name: to_fc, op: flatten}
  - {name: drop, op: dropout}
  - {name: fc, op: fc, out: 4}
  - {name: to_relu, op: flatten, inputs: input}
  - {name: relu, op: relu}
  - {name: pooled, op: global_avgpool, inputs: input}
  - {name: to_cat, op: flatten}
  - {name: cat, op: concat, inputs: [to_cat, fc]}
)");
  BOOST_TEST(flatten_is_view(g, g.find("to_fc")));     // through dropout to fc
  BOOST_TEST(!flatten_is_view(g, g.find("to_relu")));  // relu reads (c, x, y) order
  BOOST_TEST(flatten_is_view(g, g.find("to_cat")));    // 1x1 input
  MemoryPlan m = plan_memory(g);
  BOOST_TEST(m.buffer_of[g.find("to_fc")] == m.buffer_of[0]);
  BOOST_TEST(m.buffer_of[g.find("to_relu")] != m.buffer_of[0]);
}

// The roofline bound: the slower of the compute time at the FMA peak and the transfer time at
// the bandwidth; an unknown peak bounds nothing.
BOOST_AUTO_TEST_CASE(roofline_bound_is_the_slower_of_compute_and_memory) {
  // 2 GFLOP at 100 GFLOP/s = 20 ms; 100 MB at 50 GB/s = 2 ms: compute-bound.
  BOOST_TEST(roofline_bound_ms(2'000'000'000, 100'000'000, 100, 50) == 20.0, boost::test_tools::tolerance(1e-12));
  // A depthwise-like call: 10 MFLOP (0.1 ms) moving 40 MB (0.8 ms): memory-bound.
  BOOST_TEST(roofline_bound_ms(10'000'000, 40'000'000, 100, 50) == 0.8, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(roofline_bound_ms(10'000'000, 40'000'000, 0, 50) == 0.8, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(roofline_bound_ms(10'000'000, 40'000'000, 0, 0) == 0.0);
  BOOST_TEST(percent_of_roofline(0.8, 1.0) == 80.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(percent_of_roofline(0.0, 1.0) == 0.0);
  BOOST_TEST(percent_of_roofline(0.8, 0.0) == 0.0);
}

BOOST_AUTO_TEST_SUITE_END()
