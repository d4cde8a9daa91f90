// The Halide executor end to end against the reference executor: fusion, in-place and
// zero-copy concat placement, views, and the arena from the analyzer's memory plan.
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "helpers.h"
#include "runtime/executor.h"

using namespace archbench;
using namespace archbench::test;

namespace {

// max |got - want| / max(1, max |want|) over every network output.
double network_error(const Graph& g, const std::string& schedule = "default",
                     const std::string& depthwise_schedule = "default") {
  Weights w = init_weights(g, 3);
  // Deformable nets: offsets that move with their input as He-initialised offset convs make
  // them multiply a perturbation along the 13 deformable layers (the reference itself moves by
  // 5.5e-3 of resnet50_dcn's output for a 1e-6 change of its input), so no fp32 run can match
  // a double one to 1e-3. A quarter of the weights (offsets of about +-0.5 pixels, still
  // between pixels) tames it: the Halide run is then within 2.7e-4 (DCNv1) and 1.1e-5 (DCNv2)
  // of the reference at 64x64, against 5.9e-3 unscaled.
  for (auto& [name, t] : w)
    if (name.ends_with(".conv_offset.weight"))
      for (float& v : t.data) v *= 0.25f;
  Tensor x = random_tensor(g.input().output, 5);
  auto want = run_reference(g, w, x);
  ExecutorOptions o;
  o.conv_schedule = schedule;
  o.depthwise_schedule = depthwise_schedule;
  Executor e(g, Weights(w), o);  // a copy it consumes, as the CLI's executors do
  auto got = e.run(x);
  BOOST_TEST_REQUIRE(got.size() == want.size());
  double worst = 0;
  for (const auto& [name, ref] : want) worst = std::max(worst, relative_error(got.at(name), ref));
  return worst;
}

const char* kBlocks = R"(
name: blocks
input: [2, 5, 17, 19]
layers:
  - {name: stem, op: conv, out: 32, kernel: 3, padding: 1, bias: false}
  - {name: stem_bn, op: batchnorm}
  - {name: stem_relu, op: relu}
  - {name: a, op: conv, out: 32, kernel: 3, padding: 1, bias: false}
  - {name: a_bn, op: batchnorm}
  - {name: add, op: add, inputs: [a_bn, stem_relu]}
  - {name: add_relu, op: relu}
  - {name: b1, op: conv, out: 20, kernel: 1}
  - {name: b2, op: conv, inputs: add_relu, out: 33, kernel: 3, padding: 1}
  - {name: b2_relu, op: relu}
  - {name: cat, op: concat, inputs: [b1, b2_relu]}
  - {name: dw, op: conv, out: 53, kernel: 3, groups: 53, stride: 2, padding: 1}
  - {name: dw_act, op: relu6}
  - {name: crop, op: crop, size: [5, 6], offset: [1, 2]}
  - {name: drop, op: dropout}
  - {name: flat, op: flatten}
)";

}  // namespace

BOOST_AUTO_TEST_SUITE(executor)

BOOST_AUTO_TEST_CASE(fused_conv_blocks_match_the_reference) {
  Graph g = load_text(kBlocks);
  // fp32 against double: max error <= 1e-4 of the output's magnitude.
  // Every schedule the CLI offers, forced where it applies (elsewhere the default runs).
  for (const std::string& schedule : conv_schedule_names()) BOOST_TEST_CONTEXT(schedule) {
      BOOST_TEST(network_error(g, schedule) <= 1e-4);
    }
  for (const std::string& schedule : depthwise_schedule_names()) BOOST_TEST_CONTEXT("depthwise " << schedule) {
      BOOST_TEST(network_error(g, "default", schedule) <= 1e-4);
    }
  Executor e(g, init_weights(g, 1));
  std::vector<std::string> kernels;
  for (const Step& s : e.steps()) kernels.push_back(s.kernel);
  const std::vector<std::string> expected = {
      "conv+bn+relu", "conv+bn+add+relu", "conv", "conv+relu", "concat (in place)", "depthwise+relu6", "crop", "view",
      "view"};
  BOOST_TEST(kernels == expected, boost::test_tools::per_element());
  BOOST_TEST(e.arena_bytes() == analyse(g).totals.arena_bytes);
}

// The ops an ONNX import needs (tests/fixtures/import_ops.yaml): each step's kernel, and the
// element-wise ones in place.
BOOST_AUTO_TEST_CASE(import_ops_match_the_reference) {
  Graph g = load_spec(test_dir() / "fixtures" / "import_ops.yaml");
  BOOST_TEST(network_error(g) <= 1e-4);
  Executor e(g, init_weights(g, 1));
  std::vector<std::string> kernels;
  for (const Step& s : e.steps()) kernels.push_back(s.kernel);
  const std::vector<std::string> expected = {"conv+bn",
                                             "hardswish",
                                             "channel_shuffle",
                                             "slice",
                                             "slice",
                                             "conv+bn",
                                             "gelu",
                                             "concat (in place)",
                                             "layer_norm",
                                             "conv",
                                             "gelu tanh",
                                             "conv",
                                             "scale",
                                             "add",
                                             "batchnorm+hardswish",
                                             "hardsigmoid",
                                             "clip",
                                             "scale",
                                             "clip"};
  BOOST_TEST(kernels == expected, boost::test_tools::per_element());
  BOOST_TEST(e.arena_bytes() == analyse(g).totals.arena_bytes);
  // The element-wise ones run in place: the memory plan gives them their input's buffer.
  const MemoryPlan& plan = e.memory_plan();
  for (const char* name : {"stem_act", "r1_act", "pw_act", "ls", "gate", "clip", "out"}) BOOST_TEST_CONTEXT(name) {
      const Layer& l = layer(g, name);
      BOOST_TEST(plan.buffer_of[static_cast<size_t>(g.find(name))] == plan.buffer_of[static_cast<size_t>(l.inputs[0])]);
    }
}

// A flatten whose readers are not fc layers is copied into NCHW order (the reference's); one
// read by an fc (through a dropout) or of a 1x1 input stays a view.
BOOST_AUTO_TEST_CASE(flatten_before_other_layers_is_copied_into_nchw_order) {
  Graph g = load_text(R"(
name: flatten_readers
input: [2, 3, 5, 7]
layers:
  - {name: c, op: conv, out: 4, kernel: 3, padding: 1}
  - {name: to_fc, op: flatten}
  - {name: drop, op: dropout}
  - {name: fc, op: fc, out: 6}
  - {name: flat, op: flatten, inputs: c}
  - {name: flat_relu, op: relu}
  - {name: c2, op: conv, inputs: c, out: 140, kernel: [5, 7]}
  - {name: flat2, op: flatten}
  - {name: sum, op: add, inputs: [flat, flat2]}
  - {name: cat, op: concat, inputs: [flat_relu, sum, fc]}
  - {name: prob, op: softmax}
)");
  BOOST_TEST(network_error(g) <= 1e-4);
  Executor e(g, init_weights(g, 1));
  std::vector<std::string> kernels;
  for (const Step& s : e.steps()) kernels.push_back(s.kernel);
  const std::vector<std::string> expected = {
      "conv", "view", "view", "fc", "flatten (copy)", "relu", "conv", "view", "add", "concat (in place)", "softmax"};
  BOOST_TEST(kernels == expected, boost::test_tools::per_element());
}

// The convs of an executor share one scratch (kernels.h, ConvScratch): its slots are as large
// as the largest call's needs, not the sum over layers, and sharing changes no output.
BOOST_AUTO_TEST_CASE(convs_share_one_scratch_sized_by_the_largest_call) {
  Graph g = load_text(R"(
name: scratch
input: [1, 8, 30, 26]
layers:
  - {name: a, op: conv, out: 32, kernel: 3, padding: 1}
  - {name: b, op: conv, out: 32, kernel: 5, padding: 2}
  - {name: c, op: conv, out: 16, kernel: 3, padding: 1}
)");
  Weights w = init_weights(g, 3);
  Tensor x = random_tensor(g.input().output, 5);
  auto want = run_reference(g, w, x);
  ExecutorOptions o;
  o.conv_schedule = "direct";
  Executor e(g, w, o);
  BOOST_TEST(e.scratch_bytes() == 0);  // nothing before the first run
  for (int run = 0; run < 2; ++run) {
    BOOST_TEST(relative_error(e.run(x).at("c"), want.at("c")) <= 1e-4);
    for (size_t i = 0; i < e.steps().size(); ++i) BOOST_TEST(e.step_schedule_ran(i) == "direct");
    // Zero-bordered inputs (c, x, y): a 8 x 28 x 32, b 32 x 30 x 34, c 32 x 28 x 32; c's
    // whole-tile output 32 x 26 x 30. One slot each: the largest input and c's output (not at
    // AVX2, whose 16-channel tiles write c's 16 channels in place).
    const int wide_output = cpu_isa() == CpuIsa::Avx2 ? 0 : 32 * 26 * 30;
    BOOST_TEST(e.scratch_bytes() == (32 * 30 * 34 + wide_output) * 4);
  }
}

// The cpu default for depthwise convs, from 16 channels: framed at stride 1 and for 5x5 at
// stride 2; interior for 3x3 at stride 2 on maps of 20x20 outputs or more; else staged up to
// 64 channels, columns above.
BOOST_AUTO_TEST_CASE(the_default_depthwise_schedule_follows_stride_map_and_channels) {
  Graph g = load_text(R"(
name: depthwise_sizes
input: [1, 8, 46, 38]
layers:
  - {name: dw8, op: conv, out: 8, kernel: 3, groups: 8, padding: 1}
  - {name: pw64, op: conv, out: 64, kernel: 1}
  - {name: dw64, op: conv, out: 64, kernel: 3, groups: 64, padding: 1}
  - {name: dw64s2, op: conv, out: 64, kernel: 3, stride: 2, groups: 64, padding: 1}
  - {name: pool64, op: maxpool, kernel: 2, stride: 2}
  - {name: small64s2, op: conv, out: 64, kernel: 3, stride: 2, groups: 64, padding: 1}
  - {name: pw65, op: conv, inputs: pool64, out: 65, kernel: 1}
  - {name: small65s2, op: conv, out: 65, kernel: 3, stride: 2, groups: 65, padding: 1}
  - {name: small65k5s2, op: conv, inputs: pw65, out: 65, kernel: 5, stride: 2, groups: 65, padding: 2}
)");
  BOOST_TEST(network_error(g) <= 1e-4);
  Weights w = init_weights(g, 3);
  Executor e(g, w);
  e.run(random_tensor(g.input().output, 5));
  std::vector<std::string> ran;
  for (size_t s = 0; s < e.steps().size(); ++s)
    if (e.steps()[s].family == "depthwise") ran.push_back(e.step_schedule_ran(s));
  // dw64s2 has 19x23 outputs, small64s2 and small65s2 5x6 (under 20x20).
  BOOST_TEST(ran == std::vector<std::string>({"staged", "framed", "interior", "staged", "columns", "framed"}),
             boost::test_tools::per_element());
}

// Concats against the reference, each concat step copying its inputs in or written in place
// by their producers as the memory plan says. Copied: an input read elsewhere after the
// concat; U-Net's expansive stage, where writing both inputs straight into the concat would
// need a larger arena (test_memory.cpp); a copy of 64K elements or more, which runs the
// parallel pad kernel (below that, Halide's buffer copy), into a channel offset, from an
// odd-sized tensor, at batch 2; and a tensor that a layer after the concat writes over in place
// (as a slice, the concat would change with it). In place, inputs read by other layers before
// the concat: a DenseNet-like block (each concat read by the next batch-norm and the next
// concat), and a tensor placed after the two layers computed from it, which are not over it
// (their channel offsets come from the plan's in-place chains, not its buffers).
BOOST_AUTO_TEST_CASE(concats_match_the_reference_copied_or_in_place) {
  const struct {
    const char* spec;
    const char* concat;  // every concat step's kernel
    int concats;
  } cases[] = {
      {R"(
name: shared
input: [1, 3, 9, 9]
layers:
  - {name: a, op: conv, out: 7, kernel: 3, padding: 1}
  - {name: b, op: conv, inputs: input, out: 9, kernel: 1}
  - {name: cat, op: concat, inputs: [a, b]}
  - {name: c, op: conv, inputs: a, out: 4, kernel: 1}
)",
       "concat (copy)", 1},
      {R"(
name: unet_stage
input: [2, 3, 24, 26]
layers:
  - {name: skip, op: conv, out: 8, kernel: 1}
  - {name: down, op: maxpool, kernel: 2}
  - {name: mid, op: conv, out: 32, kernel: 1}
  - {name: up, op: conv_transpose, out: 5, kernel: 2, stride: 2, padding: 1}
  - {name: crop, op: crop, inputs: [skip, up], center: true}
  - {name: cat, op: concat, inputs: [crop, up]}
  - {name: out, op: conv, out: 3, kernel: 3}
)",
       "concat (copy)", 1},
      {R"(
name: big_copy
input: [2, 3, 67, 61]
layers:
  - {name: a, op: conv, out: 9, kernel: 3, padding: 1}
  - {name: b, op: conv, inputs: input, out: 5, kernel: 1}
  - {name: cat, op: concat, inputs: [b, a]}
  - {name: c, op: conv, inputs: a, out: 4, kernel: 1}
  - {name: d, op: conv, inputs: cat, out: 3, kernel: 1}
)",
       "concat (copy)", 1},
      {R"(
name: dense_block
input: [2, 5, 13, 11]
layers:
  - {name: stem, op: conv, out: 16, kernel: 3, padding: 1}
  - {name: n1, op: batchnorm}
  - {name: r1, op: relu}
  - {name: c1, op: conv, out: 8, kernel: 3, padding: 1}
  - {name: cat1, op: concat, inputs: [stem, c1]}
  - {name: n2, op: batchnorm}
  - {name: r2, op: relu}
  - {name: c2, op: conv, out: 8, kernel: 1}
  - {name: cat2, op: concat, inputs: [cat1, c2]}
  - {name: tn, op: batchnorm}
  - {name: tr, op: relu}
)",
       "concat (in place)", 2},
      {R"(
name: shared_first
input: [1, 3, 9, 7]
layers:
  - {name: a, op: conv, out: 5, kernel: 3, padding: 1}
  - {name: b, op: relu}
  - {name: c, op: sigmoid, inputs: a}
  - {name: cat, op: concat, inputs: [a, b, c]}
  - {name: d, op: conv, out: 4, kernel: 1}
)",
       "concat (in place)", 1},
      {R"(
name: overwritten_after
input: [1, 3, 9, 7]
layers:
  - {name: a, op: conv, out: 5, kernel: 3, padding: 1}
  - {name: e, op: conv, inputs: input, out: 3, kernel: 1}
  - {name: cat, op: concat, inputs: [a, e]}
  - {name: d, op: relu, inputs: a}
  - {name: out, op: conv, inputs: cat, out: 4, kernel: 1}
)",
       "concat (copy)", 1},
  };
  for (const auto& c : cases) {
    Graph g = load_text(c.spec);
    BOOST_TEST_CONTEXT(g.name) {
      BOOST_TEST(network_error(g) <= 1e-4);
      Executor e(g, init_weights(g, 1));
      int concats = 0;
      for (const auto& s : e.steps())
        if (s.kernel.starts_with("concat")) {
          BOOST_TEST(s.kernel == c.concat);
          ++concats;
        }
      BOOST_TEST(concats == c.concats);
    }
  }
  static_assert(2 * 9 * 67 * 61 >= 1 << 16, "big_copy copies a (2x9x67x61) on the parallel path");
}

// Given its weights with std::move, the executor frees them as it prepares each step; what it
// computes is the same.
BOOST_AUTO_TEST_CASE(an_executor_consumes_weights_moved_into_it) {
  Graph g = load_text(kBlocks);
  Weights w = init_weights(g, 3);
  w["unused.num_batches_tracked"] = Tensor(std::vector<int64_t>{1});  // a key the graph does not use
  Tensor x = random_tensor(g.input().output, 5);
  auto want = run_reference(g, w, x);
  Executor e(g, std::move(w), {});
  BOOST_TEST(w.empty());  // NOLINT(bugprone-use-after-move): moved from, and emptied
  auto got = e.run(x);
  for (const auto& [name, ref] : want) BOOST_TEST(relative_error(got.at(name), ref) <= 1e-4);
  // Weights that do not fit the graph are refused, naming the key.
  Weights bad = init_weights(g, 3);
  bad.erase("stem.weight");
  BOOST_CHECK_EXCEPTION(Executor(g, std::move(bad), {}), RuntimeError, [](const RuntimeError& err) {
    return std::string(err.what()).find("stem.weight") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(a_shortcut_written_after_the_main_path_is_not_fused_early) {
  // ResNet's projection shortcut comes after bn2 in the spec: fusing the add into conv2 would
  // need conv2 to run after the shortcut, past the memory plan's lifetime of its input. The
  // add goes with the shortcut's conv instead, whose other operand (bn2) is ready.
  Graph g = load_text(R"(
name: projection
input: [1, 16, 9, 9]
layers:
  - {name: conv1, op: conv, out: 32, kernel: 3, stride: 2, padding: 1, bias: false}
  - {name: bn1, op: batchnorm}
  - {name: relu1, op: relu}
  - {name: conv2, op: conv, out: 32, kernel: 3, padding: 1, bias: false}
  - {name: bn2, op: batchnorm}
  - {name: down, op: conv, inputs: input, out: 32, kernel: 1, stride: 2, bias: false}
  - {name: down_bn, op: batchnorm}
  - {name: add, op: add, inputs: [bn2, down_bn]}
  - {name: relu2, op: relu}
)");
  BOOST_TEST(network_error(g) <= 1e-4);
  Executor e(g, init_weights(g, 1));
  std::vector<std::string> kernels;
  for (const Step& s : e.steps()) kernels.push_back(s.kernel);
  const std::vector<std::string> expected = {"conv+bn+relu", "conv+bn", "conv+bn+add+relu"};
  BOOST_TEST(kernels == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_wrong_input_shape_is_an_error) {
  Graph g = load_text(kBlocks);
  Executor e(g, init_weights(g, 1));
  BOOST_CHECK_EXCEPTION(e.run(Tensor(Shape{1, 5, 17, 19})), RuntimeError, [](const RuntimeError& err) {
    return std::string(err.what()) == "the input has shape 1x5x17x19, the network takes 2x5x17x19";
  });
}

BOOST_AUTO_TEST_CASE(per_layer_schedules_override_the_network_wide_ones) {
  Graph g = load_text(kBlocks);
  Weights w = init_weights(g, 3);
  Tensor x = random_tensor(g.input().output, 5);
  auto want = run_reference(g, w, x);
  ExecutorOptions o;
  o.conv_schedule = "auto-mullapudi2016";
  o.layer_schedules = {{"a", "tiled"}, {"b2", "simple"}, {"dw", "staged"}};
  auto got = Executor(g, w, o).run(x);
  for (const auto& [name, ref] : want) BOOST_TEST(relative_error(got.at(name), ref) <= 1e-4);

  o.layer_schedules = {{"add", "simple"}};
  BOOST_CHECK_EXCEPTION(Executor(g, w, o), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) == "schedule 'simple' given for 'add', which is not a conv layer of blocks";
  });
  o.layer_schedules = {{"dw", "tiled"}};  // a conv schedule for a depthwise layer
  BOOST_CHECK_EXCEPTION(Executor(g, w, o), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) ==
           "layer 'dw': unknown depthwise schedule 'tiled' (one of: default, columns, staged, interior, framed)";
  });
}

BOOST_AUTO_TEST_CASE(a_schedule_this_build_did_not_compile_says_how_to_compile_it) {
  Graph g = load_text(kBlocks);
  ExecutorOptions o;
  o.conv_schedule = "direct-p4-r2";  // the tuning grid: the test preset does not compile it
  BOOST_REQUIRE(!conv_schedule_not_compiled(o.conv_schedule).empty());
  BOOST_CHECK_EXCEPTION(Executor(g, init_weights(g, 1), o), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) ==
           "conv schedule 'direct-p4-r2' is not compiled into this build (configure with -DARCHBENCH_TUNING=ON)";
  });
  if (!test::adams_listed().empty()) return;
  o.conv_schedule = "auto-adams2019";
  BOOST_CHECK_EXCEPTION(Executor(g, init_weights(g, 1), o), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) ==
           "conv schedule 'auto-adams2019' is not compiled into this build (configure with -DARCHBENCH_ADAMS2019=ON "
           "or -DARCHBENCH_PORTABLE=ON)";
  });
}

BOOST_AUTO_TEST_CASE(an_unknown_conv_schedule_is_refused) {
  Graph g = load_text(kBlocks);
  ExecutorOptions o;
  o.conv_schedule = "fastest";
  BOOST_CHECK_EXCEPTION(Executor(g, init_weights(g, 1), o), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) ==
           "unknown conv schedule 'fastest' (one of: default, " + test::conv_schedules_listed() + ")";
  });
}

// The executor's dense CRF (the lattice) against the reference's exact sums on a small net and
// an image of flat colour blocks with a little noise (as photographs are: a noise image, whose
// 5-d colour features are sparse, is the lattice's worst case). Bounds as in
// tests/test_dense_crf_standalone.cpp: mean |dQ| under 0.03 after ten iterations, the labels
// agreeing at 90 % of the pixels or more.
BOOST_AUTO_TEST_CASE(dense_crf_matches_the_exact_path) {
  Graph g = load_text(R"(name: crf
input: [2, 3, 30, 40]
layers:
  - {name: scores, op: conv, out: 5, kernel: 3, padding: 1}
  - {name: crf, op: dense_crf, inputs: [scores, input], rgb_scale: [40, 40, 40]}
)");
  Weights w = init_weights(g, 3);
  Tensor x = random_tensor(g.input().output, 5, 0.05);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 30; ++y)
        for (int64_t xx = 0; xx < 40; ++xx)
          x.at(n, c, y, xx) += static_cast<float>(((y / 10 + xx / 13 + c + n) % 3) - 1);
  const Tensor want = run_reference(g, w, x).at("crf");
  Executor e(g, Weights(w), ExecutorOptions{});
  const Tensor got = e.run(x).at("crf");
  BOOST_TEST_REQUIRE(got.shape == want.shape, boost::test_tools::per_element());
  const int64_t labels = 5, pixels = 30 * 40;
  double sum = 0;
  int64_t agree = 0;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t p = 0; p < pixels; ++p) {
      int64_t best_got = 0, best_want = 0;
      for (int64_t l = 0; l < labels; ++l) {
        const size_t i = static_cast<size_t>((n * labels + l) * pixels + p);
        sum += std::abs(got.data[i] - want.data[i]);
        const size_t bg = static_cast<size_t>((n * labels + best_got) * pixels + p);
        const size_t bw = static_cast<size_t>((n * labels + best_want) * pixels + p);
        if (got.data[i] > got.data[bg]) best_got = l;
        if (want.data[i] > want.data[bw]) best_want = l;
      }
      agree += best_got == best_want;
    }
  const double mean = sum / static_cast<double>(2 * labels * pixels);
  const double agreement = static_cast<double>(agree) / static_cast<double>(2 * pixels);
  BOOST_TEST_MESSAGE("dense_crf: mean |dQ| " << mean << ", argmax agreement " << agreement);
  BOOST_TEST(mean < 0.03);
  BOOST_TEST(agreement >= 0.9);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(zoo_end_to_end)

// Every zoo network through the Halide executor against the reference executor, at a small
// input (the reference runs at about 1.6 GMAC/s). Tolerance: fp32 kernels against double
// accumulation over a whole network: max |error| <= 1e-3 x max |reference output|.
BOOST_AUTO_TEST_CASE(every_zoo_network_matches_the_reference) {
  struct Case {
    const char* name;
    Shape input;
    bool heavy;  // skipped under AddressSanitizer (the reference alone takes seconds)
  };
  const Case cases[] = {
      {"alexnet", {1, 3, 67, 67}, false},
      {"alexnet_original", {1, 3, 67, 67}, false},
      {"vgg11", {1, 3, 32, 32}, false},
      {"vgg16", {1, 3, 32, 32}, false},
      {"vgg16_bn", {1, 3, 32, 32}, false},
      {"vgg19", {1, 3, 32, 32}, false},
      {"googlenet", {1, 3, 64, 64}, false},
      {"resnet18", {2, 3, 48, 40}, false},
      {"resnet34", {1, 3, 40, 40}, false},
      {"resnet50", {1, 3, 64, 64}, false},
      {"resnet101", {1, 3, 40, 40}, false},
      {"resnet152", {1, 3, 32, 32}, true},
      {"densenet121", {1, 3, 40, 40}, false},
      {"se_resnet50", {1, 3, 40, 40}, false},
      {"efficientnet_b0", {1, 3, 64, 64}, false},
      {"mobilenet_v2", {2, 3, 48, 48}, false},
      {"fcn32s", {1, 3, 20, 20}, true},
      {"fcn16s", {1, 3, 20, 20}, true},
      {"fcn8s", {1, 3, 20, 20}, true},
      {"fcn_resnet50", {1, 3, 40, 40}, false},
      {"unet", {1, 1, 188, 188}, true},
      {"deeplabv3_resnet50", {1, 3, 40, 40}, false},
      {"deeplabv3plus", {1, 3, 48, 48}, true},
      {"resnet50_dcn", {1, 3, 64, 64}, false},
      {"deeplab_v1_largefov", {1, 3, 48, 40}, false},
      {"deeplab_v2_resnet101", {1, 3, 40, 40}, true},
      {"resnet50_dcnv2", {1, 3, 64, 72}, false},
  };
#if defined(__SANITIZE_ADDRESS__) || defined(ARCHBENCH_SANITIZED)
  const bool sanitized = true;
#else
  const bool sanitized = false;
#endif
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      if (c.heavy && sanitized) {
        BOOST_TEST_MESSAGE("skipped under AddressSanitizer: " << c.name << " (its reference run takes too long)");
        continue;
      }
      LoadOptions o;
      o.input = c.input;
      Graph g = load_spec(zoo_dir() / (std::string(c.name) + ".yaml"), o);
      // A final dense CRF is an approximation on the Halide side (the permutohedral lattice):
      // the network is checked up to its scores here, the CRF in dense_crf_matches_the_exact_path.
      if (g.layers.back().op == OpKind::DenseCrf) g.layers.pop_back();
      double err = network_error(g);
      BOOST_TEST_MESSAGE(c.name << ": relative error " << err);
      BOOST_TEST(err <= 1e-3);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
