// Parameters: what a graph needs (PyTorch state_dict names and layouts), deterministic
// initialisation, and checking a loaded set against the graph.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "common/hash.h"
#include "common/split_threads.h"
#include "runtime/runtime.h"

namespace archbench {

namespace {

enum class Role { Weight, Bias, Gamma, Beta, Mean, Var };

struct Param {
  ParamSpec spec;
  int layer = 0;
  Role role = Role::Weight;
  double fan_in = 1;  // conv, conv_transpose and fc: inputs summed into one output
};

std::vector<Param> params_of(const Graph& graph) {
  std::vector<Param> out;
  for (size_t i = 0; i < graph.layers.size(); ++i) {
    const Layer& l = graph.layers[i];
    const int li = static_cast<int>(i);
    auto add = [&](const char* suffix, std::vector<int64_t> shape, Role role, double fan_in = 1) {
      out.push_back(Param{ParamSpec{l.name + "." + suffix, std::move(shape)}, li, role, fan_in});
    };
    const Shape in = l.inputs.empty() ? Shape{} : graph.layers[l.inputs[0]].output;
    switch (l.op) {
      case OpKind::Conv: {
        const auto& a = std::get<ConvAttrs>(l.attrs);
        const int64_t cin_g = in.c / a.groups;
        const double fan_in = static_cast<double>(cin_g * a.win.kh * a.win.kw);
        add("weight", {a.out_channels, cin_g, a.win.kh, a.win.kw}, Role::Weight, fan_in);
        if (a.bias) add("bias", {a.out_channels}, Role::Bias, fan_in);
        break;
      }
      case OpKind::DeformConv: {  // torchvision's DeformConv2d and mmcv's layouts: a conv's
        const auto& a = std::get<DeformConvAttrs>(l.attrs);
        const int64_t cin_g = in.c / a.groups;
        const double fan_in = static_cast<double>(cin_g * a.win.kh * a.win.kw);
        add("weight", {a.out_channels, cin_g, a.win.kh, a.win.kw}, Role::Weight, fan_in);
        if (a.bias) add("bias", {a.out_channels}, Role::Bias, fan_in);
        break;
      }
      case OpKind::ConvTranspose: {
        // Each output sums (Cin/g) channels times, on average, kh*kw/(sh*sw) taps.
        const auto& a = std::get<ConvTransposeAttrs>(l.attrs);
        const double fan_in = std::max(
            1.0, static_cast<double>(in.c / a.groups * a.win.kh * a.win.kw) / static_cast<double>(a.win.sh * a.win.sw));
        add("weight", {in.c, a.out_channels / a.groups, a.win.kh, a.win.kw}, Role::Weight, fan_in);
        if (a.bias) add("bias", {a.out_channels}, Role::Bias, fan_in);
        break;
      }
      case OpKind::FullyConnected: {
        const auto& a = std::get<FullyConnectedAttrs>(l.attrs);
        const int64_t features = in.c * in.h * in.w;  // the loader checked it fits
        add("weight", {a.out_features, features}, Role::Weight, static_cast<double>(features));
        if (a.bias) add("bias", {a.out_features}, Role::Bias, static_cast<double>(features));
        break;
      }
      case OpKind::BatchNorm:
        add("weight", {l.output.c}, Role::Gamma);
        add("bias", {l.output.c}, Role::Beta);
        add("running_mean", {l.output.c}, Role::Mean);
        add("running_var", {l.output.c}, Role::Var);
        break;
      case OpKind::LayerNorm:  // PyTorch's LayerNorm(C) weight and bias, as batch-norm's are drawn
        if (std::get<LayerNormAttrs>(l.attrs).affine) {
          add("weight", {l.output.c}, Role::Gamma);
          add("bias", {l.output.c}, Role::Beta);
        }
        break;
      case OpKind::Scale:  // per-channel multiplier and offset, as batch-norm's are drawn
        add("weight", {l.output.c}, Role::Gamma);
        if (std::get<ScaleAttrs>(l.attrs).bias) add("bias", {l.output.c}, Role::Beta);
        break;
      default:
        break;
    }
  }
  return out;
}

// The generator: splitmix64 expands (seed, FNV-1a of the name) into the state of a
// xoshiro256**. Only integer arithmetic, sqrt, log, cos and sin, so the values are the same
// with any standard library (std::*_distribution's are not).
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  Rng(uint64_t seed, const std::string& name) {
    uint64_t sm = seed;
    uint64_t state = splitmix64(sm) ^ fnv1a64(name);
    for (uint64_t& w : s_) w = splitmix64(state);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  // Standard normal, Box–Muller, both values of each pair used.
  double normal() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    const uint64_t a = next(), b = next();
    double second = 0;
    const double first = box_muller(a, b, second);
    spare_ = second;
    have_spare_ = true;
    return first;
  }

  // The pair normal() makes from two raw draws: r cos(t) (returned) and r sin(t) (in `second`).
  static double box_muller(uint64_t a, uint64_t b, double& second) {
    const double u1 = static_cast<double>((a >> 11) + 1) * 0x1p-53;  // (0, 1]: log is finite
    const double u2 = static_cast<double>(b >> 11) * 0x1p-53;
    const double r = std::sqrt(-2.0 * std::log(u1)), t = 2.0 * std::numbers::pi * u2;
    second = r * std::sin(t);
    return r * std::cos(t);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
  double spare_ = 0;
  bool have_spare_ = false;
};

// `out` = scale * the normals Rng::normal() draws in turn, for large tensors (VGG-16's fc6 has
// 103 M weights): the raw draws come from the one generator in order, a block at a time; the
// logs, square roots and sines, most of the time, are spread over threads. The same values
// as one normal() call per element.
void fill_normal(Rng& rng, double scale, std::vector<float>& out) {
  constexpr size_t kPairs = size_t{1} << 19;  // pairs of draws per block (8 MiB of draws)
  std::vector<uint64_t> draws(2 * kPairs);
  for (size_t at = 0; at < out.size(); at += 2 * kPairs) {
    const size_t values = std::min(out.size() - at, 2 * kPairs), pairs = (values + 1) / 2;
    for (size_t i = 0; i < 2 * pairs; ++i) draws[i] = rng.next();
    split_over_threads(static_cast<int64_t>(pairs), true, [&](int64_t first, int64_t last) {
      for (auto i = static_cast<size_t>(first); i < static_cast<size_t>(last); ++i) {
        double second = 0;
        const double first_value = Rng::box_muller(draws[2 * i], draws[2 * i + 1], second);
        out[at + 2 * i] = static_cast<float>(scale * first_value);
        if (2 * i + 1 < values) out[at + 2 * i + 1] = static_cast<float>(scale * second);
      }
    });
  }
}

}  // namespace

std::vector<ParamSpec> expected_params(const Graph& graph) {
  std::vector<ParamSpec> out;
  for (Param& p : params_of(graph)) out.push_back(std::move(p.spec));
  return out;
}

// conv / conv_transpose / fc weights: N(0, 2 / fan_in) (He); their biases: U(±1/sqrt(fan_in))
// (PyTorch's default bias bound); batch norm: gamma U(0.8, 1.2), beta U(±0.1), running mean
// U(±0.1), running variance U(0.8, 1.2); layer norm's and scale's weight as gamma, bias as beta
// (near PyTorch's 1 and 0, but not exactly, so that a kernel reading the wrong channel shows).
Weights init_weights(const Graph& graph, uint64_t seed) {
  Weights w;
  for (const Param& p : params_of(graph)) {
    Tensor t(p.spec.shape);
    Rng rng(seed, p.spec.name);
    const double he = std::sqrt(2.0 / p.fan_in), bound = 1.0 / std::sqrt(p.fan_in);
    if (p.role == Role::Weight && t.data.size() >= (size_t{1} << 20)) {
      fill_normal(rng, he, t.data);
      w.emplace(p.spec.name, std::move(t));
      continue;
    }
    for (float& v : t.data) {
      double x = 0;
      switch (p.role) {
        case Role::Weight:
          x = he * rng.normal();
          break;
        case Role::Bias:
          x = rng.uniform(-bound, bound);
          break;
        case Role::Gamma:
        case Role::Var:
          x = rng.uniform(0.8, 1.2);
          break;
        case Role::Beta:
        case Role::Mean:
          x = rng.uniform(-0.1, 0.1);
          break;
      }
      v = static_cast<float>(x);
    }
    w.emplace(p.spec.name, std::move(t));
  }
  return w;
}

Weights weights_from_arrays(std::map<std::string, ImportedArray> arrays) {
  Weights w;
  for (auto& [name, array] : arrays) {
    Tensor t;
    t.shape = std::move(array.dims);
    t.data = std::move(array.data);
    w.emplace(name, std::move(t));
  }
  return w;
}

std::map<std::string, ImportedArray> arrays_from_weights(Weights weights) {
  std::map<std::string, ImportedArray> arrays;
  for (auto& [name, t] : weights) arrays.emplace(name, ImportedArray{std::move(t.shape), std::move(t.data)});
  return arrays;
}

LoadedNetwork load_network(const std::filesystem::path& file, const LoadOptions& options, bool model_weights) {
  if (!is_onnx_path(file)) return {load_spec(file, options), std::nullopt, std::nullopt};
  OnnxImport model = import_onnx(file, options, model_weights);
  LoadedNetwork n{load_imported_spec(model.spec, file, options), std::nullopt, std::nullopt};
  if (model_weights) {
    n.weights = weights_from_arrays(std::move(model.weights));
    model.weights.clear();
    check_weights(n.graph, *n.weights, file.string());
  }
  n.model = std::move(model);
  return n;
}

void check_weights(const Graph& graph, const Weights& weights, const std::string& source) {
  for (const Param& p : params_of(graph)) {
    const Layer& l = graph.layers[p.layer];
    auto it = weights.find(p.spec.name);
    if (it == weights.end())
      throw RuntimeError(source + ": missing '" + p.spec.name + "' (" + op_name(l.op) + " layer '" + l.name +
                         "' needs " + dims_text(p.spec.shape) + ")");
    const Tensor& t = it->second;
    if (t.shape != p.spec.shape)
      throw RuntimeError(source + ": '" + p.spec.name + "' has shape " + dims_text(t.shape) + ", layer '" + l.name +
                         "' needs " + dims_text(p.spec.shape));
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;  // equal to the expected shape, whose product fits
    if (t.size() != n)
      throw RuntimeError(source + ": '" + p.spec.name + "' holds " + std::to_string(t.size()) +
                         " values, but its shape " + dims_text(t.shape) + " needs " + std::to_string(n));
  }
}

}  // namespace archbench
