// Parameters: PyTorch's state_dict names and layouts (checked against torchvision's own
// modules), deterministic initialisation, and check_weights' messages.
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "analysis/analysis.h"
#include "helpers.h"
#include "runtime/runtime.h"

using namespace archbench;
using namespace archbench::test;
namespace fs = std::filesystem;

namespace {

Graph zoo(const std::string& name, bool train_only = false, std::optional<Shape> input = {}) {
  LoadOptions o;
  o.include_train_only = train_only;
  o.input = input;
  return load_spec(zoo_dir() / (name + ".yaml"), o);
}

std::map<std::string, std::vector<int64_t>> by_name(const std::vector<ParamSpec>& specs) {
  std::map<std::string, std::vector<int64_t>> m;
  for (const ParamSpec& p : specs) m[p.name] = p.shape;
  return m;
}

int64_t elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape == b.shape && a.data.size() == b.data.size() &&
         std::memcmp(a.data.data(), b.data.data(), a.data.size() * sizeof(float)) == 0;
}

std::string check_error(const Graph& g, const Weights& w) {
  try {
    check_weights(g, w, "resnet18.safetensors");
  } catch (const RuntimeError& e) {
    return e.what();
  }
  return "";
}

struct Stats {
  double mean = 0, std = 0, min = INFINITY, max = -INFINITY, within_1sd = 0;
};
Stats stats(const std::vector<float>& v) {
  Stats s;
  for (float x : v) {
    s.mean += x;
    s.min = std::min<double>(s.min, x);
    s.max = std::max<double>(s.max, x);
  }
  s.mean /= static_cast<double>(v.size());
  for (float x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size()));
  for (float x : v) s.within_1sd += std::fabs(x - s.mean) <= s.std ? 1 : 0;
  s.within_1sd /= static_cast<double>(v.size());
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(weights)

BOOST_AUTO_TEST_CASE(expected_params_follow_pytorch_layouts) {
  Graph g = load_text(R"(
name: layouts
input: [2, 6, 9, 9]
layers:
  - {name: c, op: conv, out: 8, kernel: [3, 5], groups: 2, bias: false}
  - {name: bn, op: batchnorm}
  - {name: up, op: conv_transpose, out: 4, kernel: 4, stride: 2, groups: 2}
  - {name: r, op: relu}
  - {name: p, op: maxpool, kernel: 2}
  - {name: direct, op: fc, out: 10}
  - {name: flat, op: flatten, inputs: p}
  - {name: head, op: fc, out: 3, bias: false}
)");
  // c: 7x5; up: 16x12; p: 8x6, so the fc layers read 4*8*6 = 192 features.
  std::vector<ParamSpec> p = expected_params(g);
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"c.weight", {8, 3, 3, 5}}, {"bn.weight", {8}},          {"bn.bias", {8}}, {"bn.running_mean", {8}},
      {"bn.running_var", {8}},    {"up.weight", {8, 2, 4, 4}}, {"up.bias", {4}}, {"direct.weight", {10, 192}},
      {"direct.bias", {10}},      {"head.weight", {3, 192}}};
  BOOST_TEST_REQUIRE(p.size() == expected.size());
  for (size_t i = 0; i < p.size(); ++i) {
    BOOST_TEST(p[i].name == expected[i].first);
    BOOST_TEST(p[i].shape == expected[i].second);
  }
  BOOST_TEST(expected_params(load_text("name: none\ninput: [1, 3, 4, 4]\nlayers:\n  - {name: r, op: relu}\n")).empty());
}

// Layer norm (affine) and scale: PyTorch's [C] weight and bias, drawn as batch-norm's gamma and
// beta; their counts are the analyzer's.
BOOST_AUTO_TEST_CASE(expected_params_of_layer_norm_and_scale) {
  Graph g = load_text(R"(
name: norms
input: [2, 96, 5, 5]
layers:
  - {name: ln, op: layer_norm}
  - {name: ln_plain, op: layer_norm, affine: false}
  - {name: gamma, op: scale}
  - {name: affine, op: scale, bias: true}
  - {name: act, op: gelu}
  - {name: half, op: slice, channels: [0, 48]}
  - {name: shuffle, op: channel_shuffle, groups: 4}
)");
  std::vector<ParamSpec> p = expected_params(g);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"ln.weight", {96}}, {"ln.bias", {96}}, {"gamma.weight", {96}}, {"affine.weight", {96}}, {"affine.bias", {96}}};
  BOOST_TEST_REQUIRE(p.size() == expected.size());
  for (size_t i = 0; i < p.size(); ++i) {
    BOOST_TEST(p[i].name == expected[i].first);
    BOOST_TEST(p[i].shape == expected[i].second);
  }
  BOOST_TEST(analyse(g).totals.params == 5 * 96);
  Weights w = init_weights(g, 9);
  check_weights(g, w, "init");
  for (const char* key : {"ln.weight", "gamma.weight", "affine.weight"}) {
    Stats s = stats(w.at(key).data);
    BOOST_TEST((s.min >= 0.8 && s.max <= 1.2 && s.std > 0.05), key);
  }
  for (const char* key : {"ln.bias", "affine.bias"}) {
    Stats s = stats(w.at(key).data);
    BOOST_TEST((s.min >= -0.1 && s.max <= 0.1 && s.std > 0.02), key);
  }
}

BOOST_AUTO_TEST_CASE(expected_params_of_resnet18) {
  Graph g = zoo("resnet18");
  std::vector<ParamSpec> p = expected_params(g);
  // 20 convs (no bias), 20 batch norms x 4, fc weight and bias: torchvision's state_dict
  // without its 20 num_batches_tracked.
  BOOST_TEST(p.size() == 102);
  int64_t total = 0, running = 0;
  for (const ParamSpec& s : p) {
    total += elements(s.shape);
    if (s.name.ends_with(".running_mean") || s.name.ends_with(".running_var")) running += elements(s.shape);
  }
  BOOST_TEST(running == 2 * 4800);  // batch-norm channels: 64 + 4*64 + 5*128 + 5*256 + 5*512
  BOOST_TEST(total == analyse(g).totals.params + running);
  BOOST_TEST(total == 11'689'512 + 9'600);
  BOOST_TEST(p.front().name == "conv1.weight");
  BOOST_TEST((p.front().shape == std::vector<int64_t>{64, 3, 7, 7}));
  BOOST_TEST(p.back().name == "fc.bias");
  auto m = by_name(p);
  BOOST_TEST((m["layer2.0.downsample.0.weight"] == std::vector<int64_t>{128, 64, 1, 1}));
  BOOST_TEST((m["layer4.1.bn2.running_var"] == std::vector<int64_t>{512}));
  BOOST_TEST((m["fc.weight"] == std::vector<int64_t>{1000, 512}));
}

// Every conv, batch norm and fc module of every torchvision twin in the zoo: the same key,
// weight shape and bias.
BOOST_AUTO_TEST_CASE(expected_params_match_torchvision_modules) {
  std::ifstream in(test_dir() / "fixtures" / "torchvision_counts.json");
  const nlohmann::json ref = nlohmann::json::parse(in);
  int networks = 0;
  for (const auto& [name, net] : ref["networks"].items()) {
    if (!fs::exists(zoo_dir() / (name + ".yaml"))) continue;
    BOOST_TEST_CONTEXT(name) {
      auto s = net["input"].get<std::vector<int64_t>>();
      Graph g = zoo(name, net.contains("no_aux"), Shape{s[0], s[1], s[2], s[3]});
      auto m = by_name(expected_params(g));
      int64_t learnable = 0;
      for (const auto& [key, shape] : m)
        if (!key.ends_with(".running_mean") && !key.ends_with(".running_var")) learnable += elements(shape);
      BOOST_TEST(learnable == net["params"].get<int64_t>());
      for (const auto& [module, mod] : net["modules"].items()) {
        BOOST_TEST_CONTEXT(module) {
          BOOST_TEST((m[module + ".weight"] == mod["weight"].get<std::vector<int64_t>>()));
          BOOST_TEST(m.count(module + ".bias") == (mod["bias"].get<bool>() ? 1u : 0u));
          if (mod["type"] == "batchnorm") BOOST_TEST(m.count(module + ".running_var") == 1u);
        }
      }
      ++networks;
    }
  }
  BOOST_TEST(networks >= 15);
}

BOOST_AUTO_TEST_CASE(init_weights_is_deterministic_and_keyed_by_name) {
  Graph g = zoo("resnet18");
  Weights a = init_weights(g, 1), b = init_weights(g, 1), c = init_weights(g, 2);
  BOOST_TEST(a.size() == 102);
  for (const auto& [key, t] : a) {
    BOOST_TEST_CONTEXT(key) {
      BOOST_TEST(same_bits(t, b.at(key)));
      BOOST_TEST(!same_bits(t, c.at(key)));
    }
  }
  BOOST_TEST(!same_bits(a.at("layer1.0.bn1.weight"), a.at("layer1.0.bn2.weight")));  // same shape, other name
  BOOST_TEST(!same_bits(a.at("layer1.0.bn1.running_mean"), a.at("layer1.0.bn1.bias")));
  // The generator is pinned: these values must not change with the platform or the compiler.
  const std::vector<float> first = {a.at("conv1.weight").data.begin(), a.at("conv1.weight").data.begin() + 4};
  const std::vector<float> pinned = {0x1.926056p-4f, -0x1.647df2p-7f, -0x1.1deb14p-5f, -0x1.c629ep-4f};
  BOOST_TEST(first == pinned, boost::test_tools::per_element());

  // A layer's weights do not depend on the rest of the network.
  const std::string head = "name: n\ninput: [1, 3, 8, 8]\nlayers:\n  - {name: a, op: conv, out: 4, kernel: 3}\n";
  const std::string tail = "  - {name: b, op: conv, inputs: a, out: 5, kernel: 3}\n  - {name: bn, op: batchnorm}\n";
  Weights small = init_weights(load_text(head + tail), 7);
  Weights big = init_weights(
      load_text(head + "  - {name: extra, op: conv, out: 6, kernel: 1}\n  - {name: e2, op: batchnorm}\n" + tail), 7);
  BOOST_TEST(big.size() == small.size() + 6);
  for (const auto& [key, t] : small) BOOST_TEST(same_bits(t, big.at(key)), key);
}

BOOST_AUTO_TEST_CASE(init_weights_distributions) {
  Graph g = load_text(R"(
name: dist
input: [1, 256, 4, 4]
layers:
  - {name: big, op: conv, out: 256, kernel: 3}
  - {name: up, op: conv_transpose, inputs: input, out: 128, kernel: 4, stride: 2}
  - {name: bn, op: batchnorm, inputs: input}
  - {name: fc, op: fc, inputs: input, out: 300}
)");
  Weights w = init_weights(g, 123);
  check_weights(g, w, "init");
  // He normal: std sqrt(2 / fan_in), fan_in = Cin * kh * kw = 2304 (589,824 samples).
  Stats big = stats(w.at("big.weight").data);
  BOOST_TEST(big.std == std::sqrt(2.0 / 2304), boost::test_tools::tolerance(0.01));
  BOOST_TEST(std::fabs(big.mean) < 0.005 * big.std);
  BOOST_TEST(big.within_1sd == 0.6827, boost::test_tools::tolerance(0.01));  // normal, not uniform (0.577)
  BOOST_TEST(big.max > 4.5 * big.std);                                       // tails as a normal's
  // Transposed conv: an output sums Cin * kh * kw / (sh * sw) = 256 * 16 / 4 products on average.
  BOOST_TEST(stats(w.at("up.weight").data).std == std::sqrt(2.0 / 1024), boost::test_tools::tolerance(0.02));
  // fc: fan_in = C * H * W = 4096.
  BOOST_TEST(stats(w.at("fc.weight").data).std == std::sqrt(2.0 / 4096), boost::test_tools::tolerance(0.01));
  // Biases: U(+-1/sqrt(fan_in)), PyTorch's default bound.
  Stats bias = stats(w.at("big.bias").data);
  BOOST_TEST(bias.max <= 1 / std::sqrt(2304.0));
  BOOST_TEST(bias.min >= -1 / std::sqrt(2304.0));
  BOOST_TEST(bias.std > 0.4 / std::sqrt(2304.0));  // uniform: bound / sqrt(3) = 0.577 bound
  // Batch norm: gamma and variance in [0.8, 1.2], beta and mean in [-0.1, 0.1], none constant.
  for (const char* key : {"bn.weight", "bn.running_var"}) {
    Stats s = stats(w.at(key).data);
    BOOST_TEST((s.min >= 0.8 && s.max <= 1.2 && s.std > 0.05), key);
  }
  for (const char* key : {"bn.bias", "bn.running_mean"}) {
    Stats s = stats(w.at(key).data);
    BOOST_TEST((s.min >= -0.1 && s.max <= 0.1 && s.std > 0.02), key);
  }
}

BOOST_AUTO_TEST_CASE(check_weights_messages) {
  Graph g = zoo("resnet18");
  Weights w = init_weights(g, 5);
  BOOST_TEST(check_error(g, w) == "");
  // Keys the graph does not use are ignored.
  w["bn1.num_batches_tracked"] = Tensor(std::vector<int64_t>{});
  w["aux.fc.weight"] = Tensor(std::vector<int64_t>{3, 3});
  BOOST_TEST(check_error(g, w) == "");

  Weights missing = w;
  missing.erase("layer1.0.conv1.weight");
  BOOST_TEST(
      check_error(g, missing) ==
      "resnet18.safetensors: missing 'layer1.0.conv1.weight' (conv layer 'layer1.0.conv1' needs [64, 64, 3, 3])");
  missing = w;
  missing.erase("layer3.1.bn2.running_var");
  BOOST_TEST(check_error(g, missing) ==
             "resnet18.safetensors: missing 'layer3.1.bn2.running_var' (batchnorm layer 'layer3.1.bn2' needs [256])");
  missing = w;
  missing.erase("fc.bias");
  BOOST_TEST(check_error(g, missing) == "resnet18.safetensors: missing 'fc.bias' (fc layer 'fc' needs [1000])");

  Weights wrong = w;
  wrong["fc.weight"] = Tensor(std::vector<int64_t>{10, 20});
  BOOST_TEST(check_error(g, wrong) ==
             "resnet18.safetensors: 'fc.weight' has shape [10, 20], layer 'fc' needs [1000, 512]");
  wrong = w;
  wrong["conv1.weight"] = Tensor(std::vector<int64_t>{64, 7, 7, 3});  // channels last
  BOOST_TEST(check_error(g, wrong) ==
             "resnet18.safetensors: 'conv1.weight' has shape [64, 7, 7, 3], layer 'conv1' needs [64, 3, 7, 7]");
  wrong = w;
  wrong["bn1.running_var"].data.resize(3);
  BOOST_TEST(check_error(g, wrong) ==
             "resnet18.safetensors: 'bn1.running_var' holds 3 values, but its shape [64] needs 64");
}

BOOST_AUTO_TEST_CASE(weights_survive_a_safetensors_round_trip) {
  Graph g = load_spec(test_dir() / "fixtures" / "tiny_backbone.yaml");
  Weights w = init_weights(g, 99);
  BOOST_TEST_REQUIRE(!w.empty());
  fs::path file = fs::temp_directory_path() / ("archbench-weights-" + std::to_string(::getpid()) + ".safetensors");
  write_safetensors(file, w);
  Weights back = read_safetensors(file);
  fs::remove(file);
  check_weights(g, back, file.string());
  BOOST_TEST(back.size() == w.size());
  for (const auto& [key, t] : w) BOOST_TEST(same_bits(t, back.at(key)), key);
}

BOOST_AUTO_TEST_SUITE_END()
