// Every kernel set (cpu, opencl, cuda) against PyTorch's recorded outputs on the awkward shapes
// of the PyTorch fixtures, and the GPU sets against the reference executor: each GPU conv
// schedule, fused blocks with in-place adds and concat copies on the device, and two zoo
// networks end to end. In CI the opencl set runs on PoCL (a CPU OpenCL driver); cuda runs
// where a CUDA device is present. A set that cannot run here is skipped with the reason.
// The cpu set also runs capped at each lower x86-64 level (AVX2, SSE4.1, baseline).
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "helpers.h"
#include "runtime/executor.h"
#include "runtime/kernels.h"

using namespace archbench;
using namespace archbench::test;
namespace fs = std::filesystem;
namespace tt = boost::test_tools;
namespace ut = boost::unit_test;

namespace {

// Skips a test case (Boost prints the reason) where the kernel set cannot run.
struct Runs {
  KernelSet set;
  tt::assertion_result operator()(ut::test_unit_id) const {
    KernelSetStatus s = probe_kernel_set(set);
    tt::assertion_result r(s.usable);
    if (!s.usable) r.message() << kernel_set_name(set) << " cannot run here: " << s.reason;
    return r;
  }
};

// max |got - want| / max(1, max |want|) over the layers both have.
double worst_error(const std::map<std::string, Tensor>& got, const std::map<std::string, Tensor>& want) {
  double worst = 0;
  for (const auto& [name, w] : want) {
    BOOST_TEST_CONTEXT("output " << name) {
      BOOST_REQUIRE(got.count(name) == 1);
      BOOST_REQUIRE(got.at(name).shape == w.shape);
      double e = relative_error(got.at(name), w);
      if (e > 1e-4) BOOST_TEST_MESSAGE("output " << name << ": relative error " << e);
      worst = std::max(worst, e);
    }
  }
  return worst;
}

std::map<std::string, Tensor> run_on(KernelSet set, const Graph& g, const Weights& w, const Tensor& x) {
  ExecutorOptions o;
  o.target = set;
  Executor e(g, w, o);
  return e.run(x);
}

const char* const kFixtures[] = {"conv_odd",    "conv_same_stride2", "conv_stride4_rect", "conv_dilated",
                                 "conv_groups", "conv_1x1_spatial",  "conv_asym_pad",     "conv_transpose",
                                 "deform_conv", "maxpool",           "avgpool",           "adaptive_pool",
                                 "lrn",         "batchnorm",         "activations",       "softmax_large",
                                 "merges",      "crop_pad",          "upsample_nearest",  "upsample_bilinear",
                                 "flatten_fc",  "se_resnet_tiny"};

// Each PyTorch fixture (tests/reference/make_reference_cases.py) through a kernel set: its
// network outputs against PyTorch's, max error <= 1e-4 of the output's magnitude (fp32 in
// another summation order).
void every_fixture(KernelSet set) {
  const fs::path dir = test_dir() / "fixtures" / "reference_cases";
  for (const char* name : kFixtures) {
    BOOST_TEST_CONTEXT("fixture " << name) {
      Graph g = load_spec(dir / (std::string(name) + ".yaml"));
      Tensor x = read_npy(dir / (std::string(name) + ".input.npy"));
      Weights w;
      if (fs::exists(dir / (std::string(name) + ".weights.safetensors")))
        w = read_safetensors(dir / (std::string(name) + ".weights.safetensors"));
      Weights recorded = read_safetensors(dir / (std::string(name) + ".expected.safetensors"));
      auto got = run_on(set, g, w, x);
      std::map<std::string, Tensor> want;
      for (int o : g.outputs()) {
        const std::string& layer = g.layers[static_cast<size_t>(o)].name;
        BOOST_REQUIRE(recorded.count(layer) == 1);
        want.emplace(layer, recorded.at(layer));
      }
      double err = worst_error(got, want);
      BOOST_TEST_MESSAGE(kernel_set_name(set) << " " << name << ": relative error " << err);
      BOOST_TEST(err <= 1e-4);
    }
  }
}

// Fused conv blocks (bn folded, residual add + relu in place), a concat that copies on the
// device, depthwise at stride 2, a crop view and a flatten, a second output from a stride-2
// conv, at batch 2 and odd sizes; with each GPU conv schedule forced and with the default
// choice.
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
  - {name: b2, op: conv, inputs: add_relu, out: 33, kernel: 3, padding: 2, dilation: 2}
  - {name: b2_relu, op: relu6}
  - {name: cat, op: concat, inputs: [b1, b2_relu, add_relu]}
  - {name: dw, op: conv, out: 85, kernel: 3, groups: 85, stride: 2, padding: 1}
  - {name: dw_act, op: swish}
  - {name: crop, op: crop, size: [5, 6], offset: [1, 2]}
  - {name: drop, op: dropout}
  - {name: flat, op: flatten}
  - {name: flat_act, op: sigmoid}
  - {name: s2, op: conv, inputs: add_relu, out: 24, kernel: 3, stride: 2, padding: 1}
)";

void fused_blocks(KernelSet set) {
  Graph g = load_text(kBlocks);
  Weights w = init_weights(g, 3);
  Tensor x = random_tensor(g.input().output, 5);
  auto want = run_reference(g, w, x);
  struct Choice {
    const char *conv, *depthwise;
  };
  std::vector<std::string> by_default;  // per step, what the default choice ran
  for (Choice c : {Choice{"default", "default"}, Choice{"gpu-tiled", "staged"}, Choice{"gpu-simple", "columns"},
                   Choice{"gpu-c8", "staged"}, Choice{"gpu-auto-li2018", "default"}}) {
    BOOST_TEST_CONTEXT("schedules " << c.conv << ", " << c.depthwise) {
      ExecutorOptions o;
      o.target = set;
      o.conv_schedule = c.conv;
      o.depthwise_schedule = c.depthwise;
      Executor e(g, w, o);
      double err = worst_error(e.run(x), want);
      BOOST_TEST_MESSAGE(kernel_set_name(set)
                         << " blocks, " << c.conv << " + " << c.depthwise << ": relative error " << err);
      BOOST_TEST(err <= 1e-4);
      // The schedules asked for ran (the conv steps' and the depthwise step's).
      for (size_t s = 0; s < e.steps().size(); ++s) {
        const std::string& family = e.steps()[s].family;
        const std::string& layer = g.layers[static_cast<size_t>(e.steps()[s].layers.front())].name;
        if (std::string(c.conv) == "default") {
          by_default.push_back(e.step_schedule_ran(s));
          // gpu-tiled where the output has room for its blocks (16 x 8), else gpu-simple.
          if (family == "conv") BOOST_TEST(by_default.back() == (layer == "s2" ? "gpu-simple" : "gpu-tiled"));
        } else if (family == "conv") {
          // (The autoscheduled baseline needs 64+ channels: here every conv falls back to the
          // default, which tests/test_tuning.cpp's GPU case does not.)
          BOOST_TEST(e.step_schedule_ran(s) ==
                         (std::string(c.conv) == "gpu-auto-li2018" ? by_default.at(s) : std::string(c.conv)),
                     "layer " << layer);
        }
        if (family == "depthwise" && std::string(c.depthwise) != "default")
          BOOST_TEST(e.step_schedule_ran(s) == c.depthwise);
      }
    }
  }
}

// The Li2018-autoscheduled baseline where it applies (64+ input and output channels): odd
// map sizes, a 3x3 and a 1x1 conv, batch 2.
void autoscheduled_baseline(KernelSet set) {
  Graph g = load_text(R"(
name: wide
input: [2, 64, 11, 13]
layers:
  - {name: a, op: conv, out: 96, kernel: 3, padding: 1}
  - {name: a_relu, op: relu}
  - {name: b, op: conv, out: 70, kernel: 1}
)");
  Weights w = init_weights(g, 3);
  Tensor x = random_tensor(g.input().output, 5);
  ExecutorOptions o;
  o.target = set;
  o.conv_schedule = "gpu-auto-li2018";
  Executor e(g, w, o);
  double err = worst_error(e.run(x), run_reference(g, w, x));
  BOOST_TEST_MESSAGE(kernel_set_name(set) << " gpu-auto-li2018: relative error " << err);
  BOOST_TEST(err <= 1e-4);
  for (size_t s = 0; s < e.steps().size(); ++s) BOOST_TEST(e.step_schedule_ran(s) == "gpu-auto-li2018");
}

// Two zoo networks end to end, against the reference executor (the cpu set's tolerance).
// The executor is run twice: the second run must give the same outputs (on a GPU set
// activations stay on the device between runs, the input is uploaded again, and its
// transfers are timed).
void zoo_networks(KernelSet set) {
  struct Case {
    const char* name;
    Shape input;
  };
  for (const Case& c : {Case{"resnet18", {2, 3, 40, 36}}, Case{"mobilenet_v2", {1, 3, 48, 48}}}) {
    BOOST_TEST_CONTEXT(c.name) {
      LoadOptions lo;
      lo.input = c.input;
      Graph g = load_spec(zoo_dir() / (std::string(c.name) + ".yaml"), lo);
      Weights w = init_weights(g, 3);
      Tensor x = random_tensor(g.input().output, 5);
      auto want = run_reference(g, w, x);
      ExecutorOptions o;
      o.target = set;
      Executor e(g, w, o);
      auto first = e.run(x);
      double err = worst_error(first, want);
      BOOST_TEST_MESSAGE(kernel_set_name(set) << " " << c.name << ": relative error " << err);
      BOOST_TEST(err <= 1e-3);
      auto second = e.run(x);
      for (const auto& [name, t] : first) BOOST_TEST((second.at(name).data == t.data));
      if (set != KernelSet::Cpu) {  // (the cpu set has no transfers)
        BOOST_TEST(e.last_transfers().upload_seconds > 0);
        BOOST_TEST(e.last_transfers().download_seconds > 0);
      }
      BOOST_TEST(e.last_transfers().compute_seconds > 0);
    }
  }
}

// The ops an ONNX import needs (tests/fixtures/import_ops.yaml), against the reference executor.
void import_ops(KernelSet set) {
  Graph g = load_spec(test_dir() / "fixtures" / "import_ops.yaml");
  Weights w = init_weights(g, 3);
  Tensor x = random_tensor(g.input().output, 5);
  double err = worst_error(run_on(set, g, w, x), run_reference(g, w, x));
  BOOST_TEST_MESSAGE(kernel_set_name(set) << " import ops: relative error " << err);
  BOOST_TEST(err <= 1e-4);
}

// The buffer protocol of DeviceArray (runtime/device_buffer.h) on a GPU set: an upload puts
// the host data on the device, where it stays when the host copy changes behind the
// protocol's back; a device-to-device copy and a download bring it back.
void buffer_protocol(KernelSet set) {
  namespace k = archbench::kernels;
  k::KernelSetScope scope(set);
  std::vector<float> host_a(37), host_b(37, -1.0f);
  for (size_t i = 0; i < host_a.size(); ++i) host_a[i] = static_cast<float>(i) + 0.5f;
  k::Buffer a = k::Buffer::with_device(host_a.data(), 37), b = k::Buffer::with_device(host_b.data(), 37);
  a.upload();
  std::fill(host_a.begin(), host_a.end(), 0.0f);  // the device copy is still the truth
  b.copy_contents_from(a);
  b.mark_written();
  BOOST_TEST(host_b[5] == -1.0f);  // nothing came back yet
  b.download();
  for (size_t i = 0; i < host_b.size(); ++i) BOOST_TEST(host_b[i] == static_cast<float>(i) + 0.5f);
  // A view at an offset reads the same device memory.
  halide_dimension_t dims[4] = {{0, 4, 1, 0}, {0, 2, 4, 0}, {0, 1, 8, 0}, {0, 1, 8, 0}};
  k::Buffer v = b.view(8, dims);
  std::fill(host_b.begin(), host_b.end(), 0.0f);
  v.mark_written();
  v.download();
  BOOST_TEST(host_b[8] == 8.5f);
  BOOST_TEST(host_b[15] == 15.5f);
  BOOST_TEST(host_b[16] == 0.0f);  // outside the view
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fixtures_cpu)
BOOST_AUTO_TEST_CASE(every_fixture_matches_pytorch) { every_fixture(KernelSet::Cpu); }
BOOST_AUTO_TEST_SUITE_END()

// The same cases for each GPU set, each skipped (with the reason) where its set cannot run.
#define GPU_SET_SUITE(suite, set)                                                                                 \
  BOOST_AUTO_TEST_SUITE(suite)                                                                                    \
  BOOST_AUTO_TEST_CASE(every_fixture_matches_pytorch, *ut::precondition(Runs{set})) { every_fixture(set); }       \
  BOOST_AUTO_TEST_CASE(fused_blocks_with_each_schedule, *ut::precondition(Runs{set})) { fused_blocks(set); }      \
  BOOST_AUTO_TEST_CASE(autoscheduled_baseline_where_it_applies, *ut::precondition(Runs{set})) {                   \
    autoscheduled_baseline(set);                                                                                  \
  }                                                                                                               \
  BOOST_AUTO_TEST_CASE(zoo_networks_end_to_end, *ut::precondition(Runs{set})) { zoo_networks(set); }              \
  BOOST_AUTO_TEST_CASE(import_ops_network, *ut::precondition(Runs{set})) { import_ops(set); }                     \
  BOOST_AUTO_TEST_CASE(buffer_protocol_keeps_device_data, *ut::precondition(Runs{set})) { buffer_protocol(set); } \
  BOOST_AUTO_TEST_SUITE_END()
GPU_SET_SUITE(gpu_opencl, KernelSet::OpenCL)
GPU_SET_SUITE(gpu_cuda, KernelSet::Cuda)
#undef GPU_SET_SUITE

// Without a usable device: a clear error naming the target, never an abort.
BOOST_AUTO_TEST_SUITE(gpu_targets)
BOOST_AUTO_TEST_CASE(an_unusable_target_is_a_clear_error) {
  Graph g = load_text(kBlocks);
  Weights w = init_weights(g, 3);
  for (KernelSet set : {KernelSet::Cuda, KernelSet::OpenCL}) {
    KernelSetStatus s = probe_kernel_set(set);
    if (s.usable) continue;
    ExecutorOptions o;
    o.target = set;
    BOOST_CHECK_EXCEPTION(Executor(g, w, o), RuntimeError, [&](const RuntimeError& e) {
      return std::string(e.what()) == "target " + kernel_set_name(set) + " cannot run here: " + s.reason;
    });
  }
  BOOST_CHECK_EXCEPTION(parse_kernel_set("vulkan"), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) == "unknown target 'vulkan' (one of: cpu, cuda, opencl)";
  });
}
BOOST_AUTO_TEST_SUITE_END()

// The cpu set's lower x86-64 levels, which a machine with AVX-512 never dispatches to by
// itself: run with ARCHBENCH_CPU_ISA set (ctest runs this suite once per level, a process
// each: Halide's dispatch keeps each kernel's first choice), the PyTorch fixtures and, with
// every cpu conv schedule forced (both depthwise ones in turn), the fused blocks plus convs
// wide enough for the 64-channel and blocked variants, and two zoo networks end to end,
// against the reference executor.
namespace {

const std::string kIsaBlocks = std::string(kBlocks) + R"(
  - {name: w1, op: conv, inputs: add_relu, out: 64, kernel: 3, padding: 1}
  - {name: w1_relu, op: relu}
  - {name: w2, op: conv, out: 64, kernel: 3, padding: 1, bias: false}
  - {name: w2_bn, op: batchnorm}
  - {name: w2_add, op: add, inputs: [w2_bn, w1_relu]}
  - {name: w2_relu, op: relu}
  - {name: w3, op: conv, out: 70, kernel: 1}
)";

struct CapSet {
  tt::assertion_result operator()(ut::test_unit_id) const {
    const char* env = std::getenv("ARCHBENCH_CPU_ISA");
    tt::assertion_result r(env && *env);
    if (!r) r.message() << "ARCHBENCH_CPU_ISA is not set (ctest runs this at avx2, sse41 and x86-64)";
    return r;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(cpu_isa_levels)
BOOST_AUTO_TEST_CASE(every_kernel_at_the_capped_level, *ut::precondition(CapSet{})) {
  const CpuIsa cap = parse_cpu_isa(std::getenv("ARCHBENCH_CPU_ISA"));
  BOOST_TEST(cpu_isa_name(cpu_isa()) == cpu_isa_name(std::min(detected_cpu_isa(), cap)));
  every_fixture(KernelSet::Cpu);
  Graph g = load_text(kIsaBlocks);
  Weights w = init_weights(g, 3);
  Tensor x = random_tensor(g.input().output, 5);
  auto want = run_reference(g, w, x);
  const std::vector<std::string> depthwise = {"columns", "staged", "interior", "framed"};
  size_t ran = 0;
  for (const std::string& conv : conv_schedule_names()) {
    if (conv.rfind("gpu-", 0) == 0) continue;
    ExecutorOptions o;
    o.conv_schedule = conv;
    o.depthwise_schedule = depthwise[ran++ % depthwise.size()];
    Executor e(g, w, o);
    double err = worst_error(e.run(x), want);
    std::string schedules, depthwise_ran;
    for (size_t s = 0; s < e.steps().size(); ++s) {
      if (e.steps()[s].family == "conv") schedules += " " + e.step_schedule_ran(s);
      if (e.steps()[s].family == "depthwise") depthwise_ran = e.step_schedule_ran(s);
    }
    BOOST_TEST_MESSAGE(cpu_isa_name(cpu_isa())
                       << " blocks, " << conv << " + " << o.depthwise_schedule << ": relative error " << err << "; ran"
                       << schedules << " + " << depthwise_ran);
    BOOST_TEST(err <= 1e-4, "schedule " << conv);
    // The forced schedule ran on the wide convs (w2: 64 -> 64 at 19 x 17, with the add), and
    // the forced depthwise one on dw (85 channels, 3x3 / 2, 9 x 10 outputs).
    if (conv != "default") BOOST_TEST(schedules.find(" " + conv) != std::string::npos, "schedule " << conv);
    BOOST_TEST(depthwise_ran == o.depthwise_schedule);
  }
  BOOST_TEST(ran >= 15u);
  // The default's 64-channel tile on wide maps is AVX-512's; AVX2's 5-pixel tile fits 45 wide
  // exactly; below AVX2, direct.
  Graph wide = load_text(R"(
name: wide
input: [1, 24, 33, 45]
layers:
  - {name: conv, op: conv, out: 128, kernel: 3, padding: 1}
)");
  Executor we(wide, init_weights(wide, 3));
  we.run(random_tensor(wide.input().output, 5));
  BOOST_TEST(we.step_schedule_ran(0) == (cpu_isa() == CpuIsa::Avx512 ? "direct-c64-p4" : test::direct_at(45)));
  zoo_networks(KernelSet::Cpu);
  import_ops(KernelSet::Cpu);
  // Halide's dispatch asked, and the cap refused the levels above it.
  if (detected_cpu_isa() > cap) BOOST_TEST(cpu_isa_refusals() > 0);
}
BOOST_AUTO_TEST_CASE(an_unknown_level_is_a_clear_error) {
  BOOST_CHECK_EXCEPTION(parse_cpu_isa("avx9"), RuntimeError, [](const RuntimeError& e) {
    return std::string(e.what()) == "unknown CPU ISA level 'avx9' (one of: avx512, avx2, sse41, x86-64)";
  });
}
BOOST_AUTO_TEST_SUITE_END()
