// ONNX import (see onnx_import.h). One pass over the nodes in their (topological) order:
// constants fold, activations become spec layers, and each node the spec cannot express is
// remembered with its reason so that one error lists them all.
#include "networks/onnx_import.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>

#include "networks/ops.h"

namespace archbench {

namespace fs = std::filesystem;

bool is_onnx_path(const fs::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return ext == ".onnx";
}

namespace {

constexpr int64_t kMinOpset = 9, kMaxOpset = 17;
// Far above any real model (VGG-16 has 1.4e8 parameters) and small enough that the byte
// counts of a tensor stay within 64 bits.
constexpr int64_t kMaxElements = int64_t{1} << 36;

// Raised while mapping one node: the node is listed as unsupported with this reason.
struct NodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void unsupported(const std::string& why) { throw NodeError(why); }

int64_t checked_product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) unsupported(fmt::format("negative dimension in {}", dims_text(dims)));
    if (d != 0 && n > kMaxElements / d) unsupported(fmt::format("tensor {} is too large", dims_text(dims)));
    n *= d;
  }
  return n;
}

// A float from a model as an integer (a size, an index), refused where it is not one that fits.
int64_t to_int(double v) {
  if (!std::isfinite(v) || std::fabs(v) > 4.6e18) unsupported(fmt::format("{} is not an integer this importer can use", v));
  return static_cast<int64_t>(v);
}

// Attributes and pads that become spec sizes: the spec's own limit (2^31 - 1).
int64_t window_value(int64_t v, const char* what) {
  if (v > 2147483647 || v < -2147483647) unsupported(fmt::format("{} {} is out of range", what, v));
  return v;
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

// A folded tensor: shape arithmetic (integers) or weights and other constants (floats).
struct Const {
  std::vector<int64_t> dims;
  bool integer = false;
  std::vector<int64_t> i;
  std::vector<float> f;

  int64_t numel() const { return integer ? static_cast<int64_t>(i.size()) : static_cast<int64_t>(f.size()); }
  double at(int64_t k) const { return integer ? static_cast<double>(i[k]) : static_cast<double>(f[k]); }
  std::vector<int64_t> ints() const {
    std::vector<int64_t> out(numel());
    for (int64_t k = 0; k < numel(); ++k) out[k] = integer ? i[k] : to_int(f[k]);
    return out;
  }
};
using ConstPtr = std::shared_ptr<const Const>;

ConstPtr make_ints(std::vector<int64_t> dims, std::vector<int64_t> values) {
  auto c = std::make_shared<Const>();
  c->dims = std::move(dims);
  c->integer = true;
  c->i = std::move(values);
  return c;
}

ConstPtr make_floats(std::vector<int64_t> dims, std::vector<float> values) {
  auto c = std::make_shared<Const>();
  c->dims = std::move(dims);
  c->f = std::move(values);
  return c;
}

// How an activation's ONNX dimensions relate to its spec layer (always N, C, H, W).
enum class Layout {
  NCHW,     // as the layer
  NHWC,     // permuted (0, 2, 3, 1): ConvNeXt's LayerNorm and Linear layers
  Flat,     // [N, F]: the layer is N x F x 1 x 1
  Grouped,  // [N, g, C/g, H, W]: a channel shuffle's first reshape
  GroupedT  // [N, C/g, g, H, W]: after its transpose
};

struct Act {
  int layer = 0;
  Layout layout = Layout::NCHW;
  int64_t groups = 0;
};

struct Val {
  ConstPtr c;
  Act a;
  bool act = false;
  bool poison = false;  // produced by an unsupported node
  bool present() const { return c || act; }
};

struct OutLayer {
  std::string scope, part, name, op, node;
  std::vector<std::pair<std::string, std::string>> attrs;  // key, YAML text
  std::vector<int> inputs;
  Shape shape;
  std::map<std::string, ConstPtr> params;  // "weight", "bias", ...
  int refs = 0;                            // ONNX values naming this layer's output
};

std::string num(double v) {
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  // A float attribute prints as the float it is (1e-05, not 9.999999747378752e-06).
  const auto f = static_cast<float>(v);
  std::string s = static_cast<double>(f) == v ? fmt::format("{}", f) : fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos && s.find("inf") == std::string::npos &&
      s.find("nan") == std::string::npos)
    s += ".0";
  return s;
}

std::string pair_text(int64_t a, int64_t b) { return a == b ? std::to_string(a) : fmt::format("[{}, {}]", a, b); }

std::string pads_text(int64_t t, int64_t l, int64_t b, int64_t r) {
  if (t == l && t == b && t == r) return std::to_string(t);
  if (t == b && l == r) return fmt::format("[{}, {}]", t, l);
  return fmt::format("[{}, {}, {}, {}]", t, l, b, r);
}

struct NodeWindow;
void window_attrs(std::vector<std::pair<std::string, std::string>>& attrs, const NodeWindow& w, bool stride_always);

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return s;
}

// A spec layer name: letters, digits and _ . - / only, not starting with . - /.
std::string sanitize(const std::string& raw) {
  std::string s;
  for (char ch : raw)
    s += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-' || ch == '/') ? ch : '_';
  while (!s.empty() && (s[0] == '.' || s[0] == '-' || s[0] == '/')) s.erase(0, 1);
  return s;
}

// The protobuf's data types the importer reads.
enum DataType : int { kFloat = 1, kUint8 = 2, kInt8 = 3, kInt16 = 5, kInt32 = 6, kInt64 = 7, kBool = 9, kDouble = 11 };

class Importer {
 public:
  Importer(fs::path file, const LoadOptions& options, bool with_weights)
      : file_(std::move(file)), options_(options), with_weights_(with_weights) {}

  OnnxImport run();

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw SpecError(SourceLoc{file_.string(), 0, 0}, "", message);
  }

  void read_model();
  ConstPtr decode(const onnx::TensorProto& t, const std::string& what) const;
  std::string read_external(const onnx::TensorProto& t, const std::string& what) const;
  void find_patterns();
  void map_node(int index);
  Val get(const std::string& name);
  ConstPtr get_const(const onnx::NodeProto& n, int input, const char* what);
  std::optional<ConstPtr> opt_const(const onnx::NodeProto& n, int input);
  std::optional<double> scalar(const std::string& name) const;
  void bind(const std::string& value, const Act& a);
  void bind(const std::string& value, ConstPtr c) { values_[value] = Val{std::move(c), {}, false, false}; }
  int add_layer(const onnx::NodeProto& n, std::string op, std::vector<int> inputs, Shape shape,
                std::vector<std::pair<std::string, std::string>> attrs = {});
  std::vector<int64_t> dims(const Act& a) const;
  bool feeds_only_gemm(const std::string& value) const;
  Shape shape(const Act& a) const { return layers_[a.layer].shape; }
  std::string spec_text() const;
  void name_layers();

  // node families
  ConstPtr conv_weight(const onnx::NodeProto& n, const Act& x, int64_t& groups);
  void conv_layer(const onnx::NodeProto& n, const Act& x, const std::string& op, ConstPtr w, const NodeWindow& win,
                  int64_t groups, Shape out, std::vector<std::pair<std::string, std::string>> extra);
  void conv(const onnx::NodeProto& n, const Act& x);
  void conv_transpose(const onnx::NodeProto& n, const Act& x);
  void pool(const onnx::NodeProto& n, const Act& x, bool max);
  void binary(const onnx::NodeProto& n, const Val& a, const Val& b);
  void resize(const onnx::NodeProto& n, const Act& x);
  void reshape(const onnx::NodeProto& n, const Act& x, const Const& target);
  struct SliceArgs {
    std::vector<int64_t> starts, ends, axes, steps;
  };
  SliceArgs slice_args(const onnx::NodeProto& n);
  void slice_act(const onnx::NodeProto& n, const Act& x);
  void split_act(const onnx::NodeProto& n, const Act& x);
  void fold(const onnx::NodeProto& n, const std::vector<Val>& in);
  std::optional<std::vector<float>> channel_vector(const Const& c, const Act& x) const;
  int scale_layer(const onnx::NodeProto& n, const Act& x, std::vector<float> weight, std::optional<std::vector<float>> bias);

  fs::path file_;
  LoadOptions options_;
  bool with_weights_;
  onnx::ModelProto model_;
  int64_t opset_ = 0;
  std::map<std::string, const onnx::TensorProto*> inits_;
  std::map<std::string, Val> values_;
  std::map<std::string, int> producer_;
  std::map<std::string, int> uses_;
  std::map<std::string, std::vector<int>> consumers_;
  std::vector<OutLayer> layers_;
  struct Fused {
    std::string op;        // "gelu", "layer_norm", "swish", "hardswish"
    std::string input;     // the activation it reads
    double eps = 0;        // layer_norm
    std::vector<int64_t> axes;
    std::string gamma, beta;  // layer_norm's initializers ("" where absent)
  };
  std::map<int, Fused> fused_;
  std::vector<bool> skip_;
  struct Issue {
    std::string op, node, reason;
  };
  std::vector<Issue> issues_;
};

// ---------------------------------------------------------------------------------------------
// Reading

void Importer::read_model() {
  std::error_code ec;
  if (fs::is_directory(file_, ec)) fail("cannot open ONNX model: Is a directory");
  // Parsed straight from the file: a model is mostly weights, and a copy of it in memory first
  // costs as much again in page faults.
  const int fd = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(fmt::format("cannot open ONNX model: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size == 0) {
    ::close(fd);
    fail("not a valid ONNX model (the file is empty or unreadable)");
  }
  if (st.st_size > INT_MAX) {
    ::close(fd);
    fail("the model is larger than 2 GiB; save it with its weights as external data (onnx save_as_external_data)");
  }
  bool parsed = false;
  {
    google::protobuf::io::FileInputStream raw(fd);
    google::protobuf::io::CodedInputStream coded(&raw);
    coded.SetTotalBytesLimit(INT_MAX);
    coded.SetRecursionLimit(64);
    parsed = model_.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
  }
  ::close(fd);
  if (!parsed) fail("not a valid ONNX model (the protobuf does not parse: a damaged or truncated file?)");
  if (!model_.has_graph() || model_.graph().node_size() == 0) fail("not a valid ONNX model (it has no graph nodes)");
  for (const auto& o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
  if (opset_ == 0) fail("the model imports no opset of the default ONNX domain");
  if (opset_ < kMinOpset || opset_ > kMaxOpset)
    fail(fmt::format("opset {}: archbench imports opsets {} to {} (re-export with opset_version={})", opset_,
                     kMinOpset, kMaxOpset, opset_ < kMinOpset ? kMinOpset : kMaxOpset));
  for (const auto& o : model_.opset_import())
    if (!o.domain().empty() && o.domain() != "ai.onnx" && o.domain() != "ai.onnx.ml")
      fail(fmt::format("the model uses operators of domain '{}', which archbench does not import", o.domain()));
}

std::string Importer::read_external(const onnx::TensorProto& t, const std::string& what) const {
  std::string location;
  int64_t offset = 0, length = -1;
  auto number = [&](const std::string& key, const std::string& text) {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
      fail(fmt::format("initializer '{}': external data field '{}' is not a number: '{}'", what, key, text));
    return v;
  };
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location") location = kv.value();
    if (kv.key() == "offset") offset = number(kv.key(), kv.value());
    if (kv.key() == "length") length = number(kv.key(), kv.value());
  }
  const fs::path rel(location);
  if (location.empty() || rel.is_absolute() ||
      std::any_of(rel.begin(), rel.end(), [](const fs::path& part) { return part == ".."; }))
    fail(fmt::format("initializer '{}': external data location '{}' must be a file beside the model", what, location));
  const fs::path path = file_.parent_path() / rel;
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec))
    fail(fmt::format("initializer '{}': external data {} is not a file", what, path.string()));
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(fmt::format("initializer '{}': cannot open external data {}: {}", what, path.string(), std::strerror(errno)));
  in.seekg(0, std::ios::end);
  const int64_t size = static_cast<int64_t>(in.tellg());
  if (length < 0) length = size - offset;
  if (offset < 0 || length < 0 || offset > size || length > size - offset)
    fail(fmt::format("initializer '{}': external data {} holds {} bytes, the model asks for {} at offset {}", what,
                     path.string(), size, length, offset));
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  if (!in) fail(fmt::format("initializer '{}': cannot read external data {}", what, path.string()));
  return bytes;
}

ConstPtr Importer::decode(const onnx::TensorProto& t, const std::string& what) const {
  auto c = std::make_shared<Const>();
  c->dims.assign(t.dims().begin(), t.dims().end());
  int64_t count = 0;
  try {
    count = checked_product(c->dims);
  } catch (const NodeError& e) {
    fail(fmt::format("tensor '{}': {}", what, e.what()));
  }
  const bool external = t.data_location() == onnx::TensorProto::EXTERNAL;
  const std::string external_bytes = external ? read_external(t, what) : std::string();
  const std::string& raw = external ? external_bytes : t.raw_data();
  const bool has_raw = external || t.has_raw_data();
  auto size_error = [&](int64_t have) {
    fail(fmt::format("tensor '{}' of shape {} holds {} values, expected {}", what, dims_text(c->dims), have, count));
  };
  auto from_raw = [&](size_t bytes_each, auto convert) {
    if (static_cast<int64_t>(raw.size()) != count * static_cast<int64_t>(bytes_each))
      size_error(static_cast<int64_t>(raw.size() / bytes_each));
    for (int64_t k = 0; k < count; ++k) convert(raw.data() + k * bytes_each);
  };
  // The values there are, checked against the shape before anything is allocated for it.
  {
    const int type = t.data_type();
    const int64_t each = type == kFloat || type == kInt32 ? 4 : type == kDouble || type == kInt64 ? 8 : type == kInt16 ? 2 : 1;
    int64_t have = 0;
    if (has_raw)
      have = static_cast<int64_t>(raw.size()) / each;
    else if (type == kFloat)
      have = t.float_data_size();
    else if (type == kDouble)
      have = t.double_data_size();
    else if (type == kInt64)
      have = t.int64_data_size();
    else
      have = t.int32_data_size();
    const bool known = type == kFloat || type == kDouble || type == kInt64 || type == kInt32 || type == kInt16 ||
                       type == kInt8 || type == kUint8 || type == kBool;
    if (known && (have != count || (has_raw && static_cast<int64_t>(raw.size()) != count * each))) size_error(have);
  }
  switch (t.data_type()) {
    case kFloat:
      c->f.reserve(count);
      if (has_raw) {
        if (static_cast<int64_t>(raw.size()) != count * 4) size_error(static_cast<int64_t>(raw.size() / 4));
        c->f.resize(static_cast<size_t>(count));
        if (count) std::memcpy(c->f.data(), raw.data(), raw.size());
      } else {
        if (t.float_data_size() != count) size_error(t.float_data_size());
        c->f.assign(t.float_data().begin(), t.float_data().end());
      }
      break;
    case kDouble:
      c->f.reserve(count);
      if (has_raw) {
        from_raw(8, [&](const char* p) {
          double v;
          std::memcpy(&v, p, 8);
          c->f.push_back(static_cast<float>(v));
        });
      } else {
        if (t.double_data_size() != count) size_error(t.double_data_size());
        for (double v : t.double_data()) c->f.push_back(static_cast<float>(v));
      }
      break;
    case kInt64:
      c->integer = true;
      c->i.reserve(count);
      if (has_raw) {
        from_raw(8, [&](const char* p) {
          int64_t v;
          std::memcpy(&v, p, 8);
          c->i.push_back(v);
        });
      } else {
        if (t.int64_data_size() != count) size_error(t.int64_data_size());
        c->i.assign(t.int64_data().begin(), t.int64_data().end());
      }
      break;
    case kInt32:
    case kInt16:
    case kInt8:
    case kUint8:
    case kBool: {
      c->integer = true;
      c->i.reserve(count);
      const int type = t.data_type();
      const size_t each = type == kInt32 ? 4 : type == kInt16 ? 2 : 1;
      if (has_raw) {
        from_raw(each, [&](const char* p) {
          int64_t v = 0;
          if (type == kInt32) {
            int32_t x;
            std::memcpy(&x, p, 4);
            v = x;
          } else if (type == kInt16) {
            int16_t x;
            std::memcpy(&x, p, 2);
            v = x;
          } else if (type == kInt8) {
            v = static_cast<int8_t>(*p);
          } else {
            v = static_cast<uint8_t>(*p);
          }
          c->i.push_back(v);
        });
      } else {
        if (t.int32_data_size() != count) size_error(t.int32_data_size());
        c->i.assign(t.int32_data().begin(), t.int32_data().end());
      }
      break;
    }
    default:
      fail(fmt::format("tensor '{}' has data type {}, which archbench does not read (float, double and integers only)",
                       what, t.data_type()));
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Small helpers over nodes

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t attr_int(const onnx::NodeProto& n, const char* name, int64_t fallback) {
  const auto* a = find_attr(n, name);
  if (!a) return fallback;
  if (a->type() != onnx::AttributeProto::INT) unsupported(fmt::format("attribute '{}' is not an integer", name));
  return a->i();
}

double attr_float(const onnx::NodeProto& n, const char* name, double fallback) {
  const auto* a = find_attr(n, name);
  if (!a) return fallback;
  if (a->type() != onnx::AttributeProto::FLOAT) unsupported(fmt::format("attribute '{}' is not a float", name));
  return a->f();
}

std::optional<std::vector<int64_t>> attr_ints(const onnx::NodeProto& n, const char* name) {
  const auto* a = find_attr(n, name);
  if (!a) return std::nullopt;
  if (a->type() != onnx::AttributeProto::INTS) unsupported(fmt::format("attribute '{}' is not a list of integers", name));
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

std::string attr_string(const onnx::NodeProto& n, const char* name, const std::string& fallback) {
  const auto* a = find_attr(n, name);
  if (!a) return fallback;
  if (a->type() != onnx::AttributeProto::STRING) unsupported(fmt::format("attribute '{}' is not a string", name));
  return a->s();
}

std::string input_name(const onnx::NodeProto& n, int k) { return k < n.input_size() ? n.input(k) : std::string(); }

int64_t normalize_axis(int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) unsupported(fmt::format("axis {} is out of range for rank {}", axis, r));
  return axis < 0 ? axis + r : axis;
}

// Window attributes shared by Conv, ConvTranspose and the pools: [kh, kw], strides,
// dilations, pads [top, left, bottom, right] after auto_pad.
struct NodeWindow {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
};

NodeWindow node_window(const onnx::NodeProto& n, std::vector<int64_t> kernel, const Shape& in, bool transposed) {
  if (auto k = attr_ints(n, "kernel_shape")) {
    if (!kernel.empty() && *k != kernel)
      unsupported(fmt::format("kernel_shape {} differs from the weights' {}", dims_text(*k), dims_text(kernel)));
    kernel = *k;
  }
  if (kernel.size() != 2) unsupported(fmt::format("a {}-d window: archbench layers are 2-d", kernel.size()));
  NodeWindow w;
  w.kh = kernel[0], w.kw = kernel[1];
  auto two = [&](const char* name, int64_t& a, int64_t& b) {
    if (auto v = attr_ints(n, name)) {
      if (v->size() != 2) unsupported(fmt::format("'{}' has {} values, expected 2", name, v->size()));
      a = (*v)[0], b = (*v)[1];
    }
  };
  two("strides", w.sh, w.sw);
  two("dilations", w.dh, w.dw);
  if (w.kh < 1 || w.kw < 1 || w.sh < 1 || w.sw < 1 || w.dh < 1 || w.dw < 1)
    unsupported("kernel, strides and dilations must be positive");
  for (int64_t v : {w.kh, w.kw, w.sh, w.sw, w.dh, w.dw}) window_value(v, "a window size");
  if (auto p = attr_ints(n, "pads")) {
    if (p->size() != 4) unsupported(fmt::format("'pads' has {} values, expected 4", p->size()));
    w.pt = (*p)[0], w.pl = (*p)[1], w.pb = (*p)[2], w.pr = (*p)[3];
    if (w.pt < 0 || w.pl < 0 || w.pb < 0 || w.pr < 0) unsupported("negative pads");
    for (int64_t v : *p) window_value(v, "a pad");
  }
  const std::string auto_pad = attr_string(n, "auto_pad", "NOTSET");
  if (auto_pad == "VALID") {
    w.pt = w.pl = w.pb = w.pr = 0;
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    if (transposed) unsupported("auto_pad SAME on a transposed convolution (give pads or output_shape)");
    auto same = [&](int64_t size, int64_t k, int64_t s, int64_t d, int64_t& lo, int64_t& hi) {
      const int64_t out = (size + s - 1) / s;
      const int64_t total = std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - size, 0);
      lo = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      hi = total - lo;
    };
    same(in.h, w.kh, w.sh, w.dh, w.pt, w.pb);
    same(in.w, w.kw, w.sw, w.dw, w.pl, w.pr);
  } else if (auto_pad != "NOTSET") {
    unsupported(fmt::format("auto_pad '{}'", auto_pad));
  }
  return w;
}

// A window's spec attributes: the kernel, then stride, padding and dilation where they are not
// the defaults (a pool's stride always: the spec's default for pools is the kernel, ONNX's 1).
void window_attrs(std::vector<std::pair<std::string, std::string>>& attrs, const NodeWindow& w, bool stride_always) {
  attrs.emplace_back("kernel", pair_text(w.kh, w.kw));
  if (stride_always || w.sh != 1 || w.sw != 1) attrs.emplace_back("stride", pair_text(w.sh, w.sw));
  if (w.pt || w.pl || w.pb || w.pr) attrs.emplace_back("padding", pads_text(w.pt, w.pl, w.pb, w.pr));
  if (w.dh != 1 || w.dw != 1) attrs.emplace_back("dilation", pair_text(w.dh, w.dw));
}

// ---------------------------------------------------------------------------------------------
// Values

Val Importer::get(const std::string& name) {
  if (name.empty()) return {};
  auto it = values_.find(name);
  if (it != values_.end()) return it->second;
  auto init = inits_.find(name);
  if (init != inits_.end()) {
    Val v{decode(*init->second, name), {}, false, false};
    values_[name] = v;
    return v;
  }
  unsupported(fmt::format("input '{}' is produced by no earlier node and is no initializer", name));
}

ConstPtr Importer::get_const(const onnx::NodeProto& n, int input, const char* what) {
  Val v = get(input_name(n, input));
  if (!v.c) unsupported(fmt::format("its {} (input {}) must be a constant", what, input));
  return v.c;
}

std::optional<ConstPtr> Importer::opt_const(const onnx::NodeProto& n, int input) {
  const std::string name = input_name(n, input);
  if (name.empty()) return std::nullopt;
  Val v = get(name);
  if (!v.c) unsupported(fmt::format("input {} must be a constant", input));
  if (v.c->numel() == 0) return std::nullopt;  // an empty tensor stands for "not given"
  return v.c;
}

// The value of a one-element initializer or Constant output, where it is one.
std::optional<double> Importer::scalar(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end() && it->second.c && it->second.c->numel() == 1) return it->second.c->at(0);
  auto init = inits_.find(name);
  if (init != inits_.end()) {
    const auto& dims = init->second->dims();
    if (std::any_of(dims.begin(), dims.end(), [](int64_t d) { return d != 1; })) return std::nullopt;
    try {
      ConstPtr c = decode(*init->second, name);
      if (c->numel() == 1) return c->at(0);
    } catch (const SpecError&) {
    }
    return std::nullopt;
  }
  auto p = producer_.find(name);
  if (p == producer_.end()) return std::nullopt;
  const onnx::NodeProto& n = model_.graph().node(p->second);
  if (n.op_type() != "Constant") return std::nullopt;
  if (const auto* a = find_attr(n, "value"); a && a->has_t()) {
    try {
      ConstPtr c = decode(a->t(), name);
      if (c->numel() == 1) return c->at(0);
    } catch (const SpecError&) {
    }
  }
  if (const auto* a = find_attr(n, "value_float")) return a->f();
  return std::nullopt;
}

void Importer::bind(const std::string& value, const Act& a) {
  values_[value] = Val{nullptr, a, true, false};
  layers_[a.layer].refs++;
}

std::vector<int64_t> Importer::dims(const Act& a) const {
  const Shape s = shape(a);
  switch (a.layout) {
    case Layout::NCHW:
      return {s.n, s.c, s.h, s.w};
    case Layout::NHWC:
      return {s.n, s.h, s.w, s.c};
    case Layout::Flat:
      return {s.n, s.c * s.h * s.w};
    case Layout::Grouped:
      return {s.n, a.groups, s.c / a.groups, s.h, s.w};
    case Layout::GroupedT:
      return {s.n, s.c / a.groups, a.groups, s.h, s.w};
  }
  return {};
}

bool Importer::feeds_only_gemm(const std::string& value) const {
  auto it = consumers_.find(value);
  if (it == consumers_.end() || it->second.empty()) return false;
  for (int k : it->second) {
    const std::string& op = model_.graph().node(k).op_type();
    if (op != "Gemm" && op != "MatMul") return false;
  }
  auto uses = uses_.find(value);
  return uses != uses_.end() && uses->second == static_cast<int>(it->second.size());
}

int Importer::add_layer(const onnx::NodeProto& n, std::string op, std::vector<int> inputs, Shape shape,
                        std::vector<std::pair<std::string, std::string>> attrs) {
  if (shape.n <= 0 || shape.c <= 0 || shape.h <= 0 || shape.w <= 0)
    unsupported(fmt::format("its output would be {}", dims_text(shape)));
  OutLayer l;
  const std::string& node = n.name();
  if (!node.empty() && node[0] == '/') {
    std::vector<std::string> parts;
    std::stringstream ss(node.substr(1));
    for (std::string p; std::getline(ss, p, '/');)
      if (!p.empty()) parts.push_back(p);
    // Torch writes each module's attribute name ("layer1.0", then "conv1"); a container's
    // children repeat the container's ("block", then "block.0").
    std::string previous;
    for (size_t k = 0; k + 1 < parts.size(); ++k) {
      const std::string& p = parts[k];
      if (!previous.empty() && p.rfind(previous + ".", 0) == 0)
        l.scope += p.substr(previous.size());
      else
        l.scope = l.scope.empty() ? p : l.scope + "." + p;
      previous = p;
    }
    if (!parts.empty()) l.part = parts.back();
  } else if (!node.empty()) {
    l.part = node;
  }
  if (l.part.empty()) l.part = n.output_size() ? n.output(0) : n.op_type();
  l.op = std::move(op);
  l.node = node;
  l.inputs = std::move(inputs);
  l.shape = shape;
  l.attrs = std::move(attrs);
  layers_.push_back(std::move(l));
  return static_cast<int>(layers_.size()) - 1;
}

// ---------------------------------------------------------------------------------------------
// Patterns that span several nodes, found before mapping: each becomes one layer at its last
// node; its other nodes are skipped (their outputs feed nothing outside the pattern).

void Importer::find_patterns() {
  const auto& g = model_.graph();
  skip_.assign(g.node_size(), false);
  std::map<std::string, std::vector<int>> consumers;
  for (int k = 0; k < g.node_size(); ++k)
    for (const auto& in : g.node(k).input()) consumers[in].push_back(k);
  auto only_consumer = [&](const std::string& value) -> int {
    auto it = consumers.find(value);
    if (it == consumers.end() || it->second.size() != 1 || uses_[value] != 1) return -1;
    return it->second[0];
  };
  auto producer = [&](const std::string& value) -> int {
    auto it = producer_.find(value);
    return it == producer_.end() ? -1 : it->second;
  };
  auto is_op = [&](int k, const char* op) { return k >= 0 && g.node(k).op_type() == op; };
  auto other_input = [&](const onnx::NodeProto& n, const std::string& value) -> std::string {
    if (n.input_size() != 2) return {};
    return n.input(0) == value ? n.input(1) : n.input(1) == value ? n.input(0) : std::string();
  };
  auto near = [](std::optional<double> v, double want, double tol) { return v && std::fabs(*v - want) <= tol; };
  // An initializer, a Constant, or an Identity of one (torch shares equal initializers so).
  std::function<bool(const std::string&)> constant = [&](const std::string& value) {
    if (inits_.count(value)) return true;
    const int p = producer(value);
    if (p < 0) return false;
    const onnx::NodeProto& node = g.node(p);
    return node.op_type() == "Constant" || (node.op_type() == "Identity" && node.input_size() == 1 && constant(node.input(0)));
  };

  for (int k = 0; k < g.node_size(); ++k) {
    const onnx::NodeProto& n = g.node(k);
    if (n.output_size() < 1) continue;
    // SiLU and hardswish: Mul(x, Sigmoid(x)) and Mul(x, HardSigmoid(x; 1/6, 1/2)).
    if (n.op_type() == "Mul" && n.input_size() == 2) {
      for (int side = 0; side < 2; ++side) {
        const int p = producer(n.input(side));
        if (p < 0 || g.node(p).input_size() < 1 || g.node(p).input(0) != n.input(1 - side)) continue;
        if (only_consumer(n.input(side)) != k) continue;
        const onnx::NodeProto& gate = g.node(p);
        std::string op;
        if (gate.op_type() == "Sigmoid") op = "swish";
        try {
          if (gate.op_type() == "HardSigmoid" && std::fabs(attr_float(gate, "alpha", 0.2) - 1.0 / 6) < 1e-6 &&
              std::fabs(attr_float(gate, "beta", 0.5) - 0.5) < 1e-6)
            op = "hardswish";
        } catch (const NodeError&) {
        }
        if (op.empty()) continue;
        fused_[k] = Fused{op, gate.input(0), 0, {}, "", ""};
        skip_[p] = true;
        break;
      }
    }
    // GELU as torch writes it: Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5).
    if (n.op_type() == "Erf" && n.input_size() == 1) {
      const int div = producer(n.input(0));
      if (!is_op(div, "Div") || g.node(div).input_size() != 2 || only_consumer(n.input(0)) != k) continue;
      const std::string x = g.node(div).input(0);
      if (!near(scalar(g.node(div).input(1)), std::sqrt(2.0), 1e-5)) continue;
      const int add = only_consumer(n.output(0));
      if (!is_op(add, "Add") || g.node(add).output_size() < 1 || !near(scalar(other_input(g.node(add), n.output(0))), 1.0, 1e-7)) continue;
      const int mul = only_consumer(g.node(add).output(0));
      if (!is_op(mul, "Mul") || g.node(mul).output_size() < 1 || other_input(g.node(mul), g.node(add).output(0)) != x)
        continue;
      const int half = only_consumer(g.node(mul).output(0));
      if (!is_op(half, "Mul") || g.node(half).output_size() < 1 || !near(scalar(other_input(g.node(half), g.node(mul).output(0))), 0.5, 1e-7)) continue;
      fused_[half] = Fused{"gelu", x, 0, {}, "", ""};
      for (int s : {div, k, add, mul}) skip_[s] = true;
    }
    // LayerNorm as opsets below 17 write it: (x - mean) / sqrt(mean((x - mean)^2) + eps) * gamma + beta.
    if (n.op_type() == "ReduceMean" && n.input_size() == 1) {
      const std::string x = n.input(0);
      std::vector<int64_t> axes;
      try {
        axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
      } catch (const NodeError&) {
        continue;
      }
      const int sub = only_consumer(n.output(0));
      if (!is_op(sub, "Sub") || g.node(sub).input_size() != 2 || g.node(sub).input(0) != x ||
          g.node(sub).input(1) != n.output(0) || g.node(sub).output_size() < 1)
        continue;
      const std::string d = g.node(sub).output(0);
      auto it = consumers.find(d);
      if (it == consumers.end() || it->second.size() != 2) continue;
      int pow = -1, divide = -1;
      for (int c : it->second) {
        if (is_op(c, "Pow")) pow = c;
        if (is_op(c, "Div")) divide = c;
      }
      if (pow < 0 || divide < 0 || g.node(pow).input_size() != 2 || g.node(divide).input_size() != 2 ||
          g.node(pow).output_size() < 1 || g.node(divide).output_size() < 1 || !near(scalar(g.node(pow).input(1)), 2.0, 0))
        continue;
      const int mean2 = only_consumer(g.node(pow).output(0));
      if (!is_op(mean2, "ReduceMean") || g.node(mean2).output_size() < 1) continue;
      try {
        if (attr_ints(g.node(mean2), "axes").value_or(std::vector<int64_t>{}) != axes) continue;
      } catch (const NodeError&) {
        continue;
      }
      const int add_eps = only_consumer(g.node(mean2).output(0));
      if (!is_op(add_eps, "Add") || g.node(add_eps).output_size() < 1) continue;
      std::optional<double> eps = scalar(other_input(g.node(add_eps), g.node(mean2).output(0)));
      if (!eps || !(*eps > 0)) continue;
      const int sqrt = only_consumer(g.node(add_eps).output(0));
      if (!is_op(sqrt, "Sqrt") || g.node(sqrt).output_size() < 1 || only_consumer(g.node(sqrt).output(0)) != divide)
        continue;
      if (g.node(divide).input(0) != d) continue;
      int last = divide;
      std::string gamma, beta;
      int mul = only_consumer(g.node(divide).output(0));
      if (!is_op(mul, "Mul")) mul = -1;
      if (mul >= 0 && g.node(mul).output_size() > 0 && constant(other_input(g.node(mul), g.node(divide).output(0)))) {
        gamma = other_input(g.node(mul), g.node(divide).output(0));
        last = mul;
        const int add = only_consumer(g.node(mul).output(0));
        if (is_op(add, "Add") && g.node(add).output_size() > 0 && constant(other_input(g.node(add), g.node(mul).output(0)))) {
          beta = other_input(g.node(add), g.node(mul).output(0));
          last = add;
        }
      } else {
        mul = -1;
      }
      fused_[last] = Fused{"layer_norm", x, *eps, axes, gamma, beta};
      for (int s : {k, sub, pow, mean2, add_eps, sqrt, divide, mul})
        if (s >= 0 && s != last) skip_[s] = true;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Mapping

OnnxImport Importer::run() {
  read_model();
  const auto& g = model_.graph();
  for (const auto& t : g.initializer()) inits_[t.name()] = &t;
  for (int k = 0; k < g.node_size(); ++k)
    for (const auto& out : g.node(k).output()) producer_[out] = k;
  for (int k = 0; k < g.node_size(); ++k)
    for (const auto& in : g.node(k).input())
      if (!in.empty()) {
        uses_[in]++;
        consumers_[in].push_back(k);
      }
  for (const auto& o : g.output()) uses_[o.name()]++;

  // The network input: the one graph input that is no initializer.
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& in : g.input())
    if (!inits_.count(in.name())) inputs.push_back(&in);
  if (inputs.size() != 1) {
    std::string names;
    for (const auto* in : inputs) names += (names.empty() ? "" : ", ") + in->name();
    fail(fmt::format("archbench networks have one input; this model has {}{}{}", inputs.size(),
                     names.empty() ? "" : ": ", names));
  }
  const onnx::ValueInfoProto& input = *inputs[0];
  Shape in_shape;
  {
    const auto& type = input.type();
    if (!type.has_tensor_type() || !type.tensor_type().has_shape())
      fail(fmt::format("input '{}' has no tensor shape", input.name()));
    const auto& dims = type.tensor_type().shape().dim();
    if (dims.size() != 4)
      fail(fmt::format("input '{}' has rank {}; archbench networks take N x C x H x W images", input.name(), dims.size()));
    int64_t d[4];
    const char* axis[] = {"N", "C", "H", "W"};
    for (int k = 0; k < 4; ++k) {
      if (dims[k].has_dim_value() && dims[k].dim_value() > 0) {
        d[k] = dims[k].dim_value();
      } else if (options_.input) {
        d[k] = 0;
      } else {
        fail(fmt::format("input '{}' dimension {} ({}) is dynamic{}: give the input's shape with --input N,C,H,W",
                         input.name(), k, axis[k],
                         dims[k].has_dim_param() ? fmt::format(" ('{}')", dims[k].dim_param()) : std::string()));
      }
    }
    in_shape = options_.input ? *options_.input : Shape{d[0], d[1], d[2], d[3]};
  }
  OutLayer in_layer;
  in_layer.name = "input";
  in_layer.op = "input";
  in_layer.shape = in_shape;
  layers_.push_back(in_layer);
  bind(input.name(), Act{0, Layout::NCHW, 0});

  find_patterns();
  for (int k = 0; k < g.node_size(); ++k) {
    if (skip_[k]) continue;
    const onnx::NodeProto& n = g.node(k);
    try {
      map_node(k);
    } catch (const NodeError& e) {
      issues_.push_back(Issue{n.op_type(), n.name().empty() ? fmt::format("#{}", k) : n.name(), e.what()});
      for (const auto& out : n.output()) values_[out] = Val{nullptr, {}, false, true};
    }
  }
  if (!issues_.empty()) {
    std::string list;
    for (const Issue& i : issues_)
      list += fmt::format("\n  {} node '{}' (opset {}): {}", i.op, i.node, opset_, i.reason);
    fail(fmt::format("{} node{} cannot be imported:{}", issues_.size(), issues_.size() == 1 ? "" : "s", list));
  }

  // Keep what the graph outputs need.
  std::vector<bool> live(layers_.size(), false);
  live[0] = true;
  for (const auto& o : g.output()) {
    auto it = values_.find(o.name());
    if (it == values_.end()) fail(fmt::format("graph output '{}' is produced by no node", o.name()));
    const Val& v = it->second;
    if (!v.act) fail(fmt::format("graph output '{}' is a constant, not computed from the input", o.name()));
    live[v.a.layer] = true;
  }
  for (size_t k = layers_.size(); k-- > 1;)
    if (live[k])
      for (int in : layers_[k].inputs) live[in] = true;
  std::vector<OutLayer> kept;
  std::vector<int> renumber(layers_.size(), -1);
  for (size_t k = 0; k < layers_.size(); ++k)
    if (live[k]) {
      renumber[k] = static_cast<int>(kept.size());
      kept.push_back(std::move(layers_[k]));
    }
  for (OutLayer& l : kept)
    for (int& in : l.inputs) in = renumber[in];
  layers_ = std::move(kept);
  name_layers();

  OnnxImport out;
  out.spec = spec_text();
  out.opset = opset_;
  out.nodes = g.node_size();
  if (with_weights_)
    for (const OutLayer& l : layers_)
      for (const auto& [param, c] : l.params) {
        ImportedArray a;
        a.dims = c->dims;
        a.data = c->f;
        out.weights[l.name + "." + param] = std::move(a);
      }
  return out;
}

// Names from torch's module paths: a scope holding one layer gives it its name (so
// "/layer1/layer1.0/conv1/Conv" is "layer1.0.conv1" and its weight "layer1.0.conv1.weight");
// layers that share a scope add their node's own part ("layer1.0.add").
void Importer::name_layers() {
  std::map<std::string, int> per_scope;
  for (size_t k = 1; k < layers_.size(); ++k)
    if (!layers_[k].scope.empty()) per_scope[layers_[k].scope]++;
  std::set<std::string> used{"input"};
  for (size_t k = 1; k < layers_.size(); ++k) {
    OutLayer& l = layers_[k];
    std::string base = l.scope.empty()          ? lower(l.part)
                       : per_scope[l.scope] == 1 ? l.scope
                                                 : l.scope + "." + lower(l.part);
    base = sanitize(base);
    if (base.empty()) base = l.op;
    std::string name = base;
    for (int suffix = 2; used.count(name); ++suffix) name = fmt::format("{}_{}", base, suffix);
    used.insert(name);
    l.name = name;
  }
}

std::string yaml_name(const std::string& s) {
  const bool plain = !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_') &&
                     s != "true" && s != "false" && s != "null" && s != "yes" && s != "no" && s != "on" && s != "off";
  return plain ? s : "\"" + s + "\"";
}

std::string Importer::spec_text() const {
  std::string name = sanitize(model_.graph().name());
  if (name.empty() || name == "main_graph" || name == "torch_jit" || name == "torch-jit-export")
    name = sanitize(file_.stem().string());
  if (name.empty()) name = "imported";
  const Shape& in = layers_[0].shape;
  std::string out = fmt::format("# Imported from {} by archbench import ({} nodes, opset {}{}).\n", file_.filename().string(),
                                model_.graph().node_size(), opset_,
                                model_.producer_name().empty()
                                    ? std::string()
                                    : fmt::format(", written by {} {}", model_.producer_name(), model_.producer_version()));
  out += fmt::format("name: {}\ninput: [{}, {}, {}, {}]\nlayers:\n", yaml_name(name), in.n, in.c, in.h, in.w);
  for (size_t k = 1; k < layers_.size(); ++k) {
    const OutLayer& l = layers_[k];
    std::string line = fmt::format("  - {{name: {}, op: {}", yaml_name(l.name), l.op);
    const bool chained = l.inputs.size() == 1 && l.inputs[0] == static_cast<int>(k) - 1;
    if (!chained) {
      if (l.inputs.size() == 1) {
        line += fmt::format(", inputs: {}", yaml_name(layers_[l.inputs[0]].name));
      } else {
        std::string list;
        for (int i : l.inputs) list += (list.empty() ? "" : ", ") + yaml_name(layers_[i].name);
        line += fmt::format(", inputs: [{}]", list);
      }
    }
    for (const auto& [key, value] : l.attrs) line += fmt::format(", {}: {}", key, value);
    out += line + "}\n";
  }
  return out;
}

std::optional<std::vector<float>> Importer::channel_vector(const Const& c, const Act& x) const {
  const Shape s = shape(x);
  const int64_t channels = s.c;
  std::vector<float> v(channels);
  if (c.numel() == 1) {
    std::fill(v.begin(), v.end(), static_cast<float>(c.at(0)));
    return v;
  }
  if (c.numel() != channels) return std::nullopt;
  // Where the channel axis sits in the constant, counted from the end (numpy broadcasting).
  const int from_end = x.layout == Layout::NCHW ? 3 : x.layout == Layout::NHWC || x.layout == Layout::Flat ? 1 : 0;
  if (from_end == 0 || c.dims.size() < static_cast<size_t>(from_end)) return std::nullopt;
  if (c.dims[c.dims.size() - from_end] != channels) return std::nullopt;
  for (int64_t k = 0; k < channels; ++k) v[k] = static_cast<float>(c.at(k));
  return v;
}

int Importer::scale_layer(const onnx::NodeProto& n, const Act& x, std::vector<float> weight,
                          std::optional<std::vector<float>> bias) {
  const int64_t channels = static_cast<int64_t>(weight.size());
  std::vector<std::pair<std::string, std::string>> attrs;
  if (bias) attrs.emplace_back("bias", "true");
  const int id = add_layer(n, "scale", {x.layer}, shape(x), std::move(attrs));
  layers_[id].params["weight"] = make_floats({channels}, std::move(weight));
  if (bias) layers_[id].params["bias"] = make_floats({channels}, std::move(*bias));
  return id;
}

void Importer::map_node(int index) {
  const onnx::NodeProto& n = model_.graph().node(index);
  const std::string& op = n.op_type();
  if (!n.domain().empty() && n.domain() != "ai.onnx") unsupported(fmt::format("domain '{}'", n.domain()));
  if (n.output_size() < 1) unsupported("it has no outputs");
  if (auto f = fused_.find(index); f != fused_.end()) {
    Val xv = get(f->second.input);
    if (xv.poison) {
      values_[n.output(0)] = Val{nullptr, {}, false, true};
      return;
    }
    if (!xv.act) unsupported(fmt::format("{} of a constant", f->second.op));
    const Act x = xv.a;
    if (f->second.op != "layer_norm") {
      if (x.layout == Layout::Grouped || x.layout == Layout::GroupedT) unsupported("a 5-d activation");
      bind(n.output(0), Act{add_layer(n, f->second.op, {x.layer}, shape(x)), x.layout, 0});
      return;
    }
    const Fused& ln = f->second;
    const size_t rank = dims(x).size();
    std::vector<int64_t> axes;
    for (int64_t a : ln.axes) axes.push_back(normalize_axis(a, rank));
    const bool over_channels = (x.layout == Layout::NHWC && axes == std::vector<int64_t>{3}) ||
                               (x.layout == Layout::NCHW && axes == std::vector<int64_t>{1}) ||
                               (x.layout == Layout::Flat && axes == std::vector<int64_t>{1});
    if (!over_channels)
      unsupported(fmt::format("a layer normalization over axes {} of a {} tensor: archbench normalizes over channels",
                              dims_text(ln.axes), dims_text(dims(x))));
    const int64_t channels = shape(x).c;
    std::vector<std::pair<std::string, std::string>> attrs{{"eps", num(ln.eps)}};
    if (ln.gamma.empty()) attrs.emplace_back("affine", "false");
    const int id = add_layer(n, "layer_norm", {x.layer}, shape(x), std::move(attrs));
    if (!ln.gamma.empty()) {
      std::vector<float> gamma(channels, 1.0f), beta(channels, 0.0f);
      const Val gv = get(ln.gamma);
      const Val bv = ln.beta.empty() ? Val{} : get(ln.beta);
      if (gv.poison || bv.poison) {  // made by an unsupported node, which is listed already
        values_[n.output(0)] = Val{nullptr, {}, false, true};
        return;
      }
      if (!gv.c) unsupported("its scale is not a constant");
      auto g = channel_vector(*gv.c, x);
      if (!g) unsupported("its scale is not one value per channel");
      gamma = *g;
      if (!ln.beta.empty()) {
        if (!bv.c) unsupported("its shift is not a constant");
        auto b = channel_vector(*bv.c, x);
        if (!b) unsupported("its shift is not one value per channel");
        beta = *b;
      }
      layers_[id].params["weight"] = make_floats({channels}, gamma);
      layers_[id].params["bias"] = make_floats({channels}, beta);
    }
    bind(n.output(0), Act{id, x.layout, 0});
    return;
  }

  std::vector<Val> in;
  for (int k = 0; k < n.input_size(); ++k) {
    if (n.input(k).empty()) {
      in.emplace_back();
      continue;
    }
    Val v = get(n.input(k));
    if (v.poison) {  // fed by an unsupported node, which is listed already
      for (const auto& out : n.output()) values_[out] = Val{nullptr, {}, false, true};
      return;
    }
    in.push_back(v);
  }
  const std::string& out0 = n.output(0);
  auto first_act = [&]() -> const Act& {
    if (in.empty() || !in[0].act) unsupported("its first input must be computed from the network input");
    return in[0].a;
  };
  auto one_output = [&]() {
    for (int k = 1; k < n.output_size(); ++k)
      if (!n.output(k).empty() && uses_[n.output(k)] > 0)
        unsupported(fmt::format("its output {} ('{}') is used; archbench layers have one output", k, n.output(k)));
  };
  auto same_layout = [&](const Act& x, int layer) { bind(out0, Act{layer, x.layout, x.groups}); };
  auto elementwise = [&](const std::string& spec_op, std::vector<std::pair<std::string, std::string>> attrs = {}) {
    const Act& x = first_act();
    if (x.layout == Layout::Grouped || x.layout == Layout::GroupedT) unsupported("a 5-d activation");
    same_layout(x, add_layer(n, spec_op, {x.layer}, shape(x), std::move(attrs)));
  };

  // Constants and shape arithmetic.
  if (op == "Constant") {
    const onnx::AttributeProto* a = nullptr;
    for (const char* key : {"value", "value_float", "value_floats", "value_int", "value_ints"})
      if ((a = find_attr(n, key))) break;
    if (!a) unsupported("a Constant without a value (sparse and string constants are not read)");
    if (a->name() == "value") {
      if (!a->has_t()) unsupported("its value is not a tensor");
      bind(out0, decode(a->t(), out0));
    } else if (a->name() == "value_float") {
      bind(out0, make_floats({}, {a->f()}));
    } else if (a->name() == "value_floats") {
      bind(out0, make_floats({a->floats_size()}, {a->floats().begin(), a->floats().end()}));
    } else if (a->name() == "value_int") {
      bind(out0, make_ints({}, {a->i()}));
    } else {
      bind(out0, make_ints({a->ints_size()}, {a->ints().begin(), a->ints().end()}));
    }
    return;
  }
  const bool all_const =
      !in.empty() && std::all_of(in.begin(), in.end(), [](const Val& v) { return !v.act; }) &&
      std::any_of(in.begin(), in.end(), [](const Val& v) { return v.c != nullptr; });
  if (all_const) {
    fold(n, in);
    return;
  }
  if (op == "Shape") {
    const Act& x = first_act();
    std::vector<int64_t> d = dims(x);
    const int64_t rank = static_cast<int64_t>(d.size());
    int64_t start = attr_int(n, "start", 0), end = attr_int(n, "end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = std::clamp<int64_t>(start, 0, rank);
    end = std::clamp<int64_t>(end, start, rank);
    std::vector<int64_t> part(d.begin() + start, d.begin() + end);
    bind(out0, make_ints({static_cast<int64_t>(part.size())}, part));
    return;
  }
  if (op == "Size") {
    const std::vector<int64_t> d = dims(first_act());
    bind(out0, make_ints({}, {std::accumulate(d.begin(), d.end(), int64_t{1}, std::multiplies<>())}));
    return;
  }

  if (op == "Conv") return conv(n, first_act());
  if (op == "ConvTranspose") return conv_transpose(n, first_act());
  if (op == "MaxPool" || op == "AveragePool") {
    one_output();
    return pool(n, first_act(), op == "MaxPool");
  }
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
    const Act& x = first_act();
    if (x.layout != Layout::NCHW) unsupported("a global pool of a tensor that is not N x C x H x W");
    const Shape s = shape(x);
    if (op == "GlobalAveragePool")
      bind(out0, Act{add_layer(n, "global_avgpool", {x.layer}, {s.n, s.c, 1, 1}), Layout::NCHW, 0});
    else
      bind(out0, Act{add_layer(n, "maxpool", {x.layer}, {s.n, s.c, 1, 1},
                               {{"kernel", pair_text(s.h, s.w)}, {"stride", "1"}}),
                     Layout::NCHW, 0});
    return;
  }
  if (op == "BatchNormalization") {
    one_output();
    if (attr_int(n, "training_mode", 0) != 0) unsupported("training_mode 1 (export the model in eval mode)");
    const Act& x = first_act();
    if (x.layout != Layout::NCHW && x.layout != Layout::Flat) unsupported("a batch norm over a permuted tensor");
    const int64_t channels = shape(x).c;
    const char* names[] = {"weight", "bias", "running_mean", "running_var"};
    std::map<std::string, ConstPtr> params;
    for (int k = 1; k <= 4; ++k) {
      ConstPtr c = get_const(n, k, names[k - 1]);
      if (c->numel() != channels)
        unsupported(fmt::format("its {} has {} values for {} channels", names[k - 1], c->numel(), channels));
      if (c->integer) unsupported(fmt::format("its {} is not floating point", names[k - 1]));
      params[names[k - 1]] = make_floats({channels}, c->f);
    }
    const int id = add_layer(n, "batchnorm", {x.layer}, shape(x), {{"eps", num(attr_float(n, "epsilon", 1e-5))}});
    layers_[id].params = std::move(params);
    same_layout(x, id);
    return;
  }
  if (op == "LRN") {
    const int64_t size = attr_int(n, "size", 0);
    if (size < 1) unsupported("LRN without a positive size");
    if (size % 2 == 0) unsupported("an even LRN size: ONNX and PyTorch centre an even window differently");
    if (first_act().layout != Layout::NCHW) unsupported("an LRN of a tensor that is not N x C x H x W");
    return elementwise("lrn", {{"size", std::to_string(size)},
                               {"alpha", num(attr_float(n, "alpha", 1e-4))},
                               {"beta", num(attr_float(n, "beta", 0.75))},
                               {"k", num(attr_float(n, "bias", 1.0))}});
  }
  if (op == "Relu") return elementwise("relu");
  if (op == "Sigmoid") return elementwise("sigmoid");
  if (op == "Tanh") return elementwise("tanh");
  if (op == "HardSwish") return elementwise("hardswish");
  if (op == "HardSigmoid")
    return elementwise("hardsigmoid",
                       {{"alpha", num(attr_float(n, "alpha", 0.2))}, {"beta", num(attr_float(n, "beta", 0.5))}});
  if (op == "Clip") {
    double lo = -INFINITY, hi = INFINITY;
    if (opset_ < 11) {
      lo = attr_float(n, "min", -INFINITY);
      hi = attr_float(n, "max", INFINITY);
    } else {
      if (auto c = opt_const(n, 1)) lo = (*c)->at(0);
      if (auto c = opt_const(n, 2)) hi = (*c)->at(0);
    }
    if (lo == 0 && hi == 6) return elementwise("relu6");
    if (lo == 0 && std::isinf(hi)) return elementwise("relu");
    if (std::isinf(lo) && std::isinf(hi)) {
      same_layout(first_act(), first_act().layer);
      return;
    }
    std::vector<std::pair<std::string, std::string>> attrs;
    if (!std::isinf(lo)) attrs.emplace_back("min", num(lo));
    if (!std::isinf(hi)) attrs.emplace_back("max", num(hi));
    return elementwise("clip", std::move(attrs));
  }
  if (op == "Softmax") {
    const Act& x = first_act();
    const size_t rank = dims(x).size();
    const int64_t axis = normalize_axis(attr_int(n, "axis", opset_ < 13 ? 1 : -1), rank);
    const Shape s = shape(x);
    const bool channels = (x.layout == Layout::NCHW && axis == 1 && (opset_ >= 13 || s.h * s.w == 1)) ||
                          (x.layout == Layout::Flat && axis == 1) || (x.layout == Layout::NHWC && axis == 3 && opset_ >= 13);
    if (!channels) unsupported(fmt::format("a softmax over axis {} of a {} tensor: archbench's is over channels", axis, dims_text(dims(x))));
    return elementwise("softmax");
  }
  if (op == "Dropout" || op == "Identity") {
    one_output();
    const Act& x = first_act();
    same_layout(x, x.layer);
    return;
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    if (in.size() != 2) unsupported("it needs two inputs");
    return binary(n, in[0], in[1]);
  }
  if (op == "Concat") {
    if (in.empty()) unsupported("a Concat of nothing");
    std::vector<int> layers;
    Layout layout = Layout::NCHW;
    for (const Val& v : in) {
      if (!v.act) unsupported("it joins a constant to activations");
      layout = v.a.layout;
      layers.push_back(v.a.layer);
    }
    for (const Val& v : in)
      if (v.a.layout != layout) unsupported("it joins tensors of different layouts");
    const size_t rank = dims(in[0].a).size();
    const int64_t axis = normalize_axis(attr_int(n, "axis", 1), rank);
    const int64_t channel_axis = layout == Layout::NCHW || layout == Layout::Flat ? 1 : layout == Layout::NHWC ? 3 : -1;
    if (axis != channel_axis) unsupported(fmt::format("a concat along axis {}: archbench joins channels", axis));
    if (layers.size() == 1) {
      same_layout(in[0].a, layers[0]);
      return;
    }
    Shape s = shape(in[0].a);
    s.c = 0;
    for (const Val& v : in) {
      const Shape t = shape(v.a);
      if (t.n != s.n || t.h != s.h || t.w != s.w)
        unsupported(fmt::format("it joins {} and {}", dims_text(dims(in[0].a)), dims_text(dims(v.a))));
      s.c += t.c;
    }
    bind(out0, Act{add_layer(n, "concat", layers, s), layout, 0});
    return;
  }
  if (op == "Pad") {
    const Act& x = first_act();
    if (x.layout != Layout::NCHW) unsupported("padding a tensor that is not N x C x H x W");
    const std::string mode = attr_string(n, "mode", "constant");
    if (mode != "constant") unsupported(fmt::format("pad mode '{}' (archbench pads with a constant)", mode));
    std::vector<int64_t> pads;
    double value = 0;
    if (opset_ < 11) {
      pads = attr_ints(n, "pads").value_or(std::vector<int64_t>{});
      value = attr_float(n, "value", 0.0);
    } else {
      pads = get_const(n, 1, "pads")->ints();
      if (auto c = opt_const(n, 2)) value = (*c)->at(0);
      if (!input_name(n, 3).empty()) unsupported("Pad with axes");
    }
    if (pads.size() != 8) unsupported(fmt::format("pads {} for a 4-d tensor", dims_text(pads)));
    if (pads[0] || pads[1] || pads[4] || pads[5]) unsupported("padding of the batch or channel axis");
    for (int64_t p : pads) {
      if (p < 0) unsupported("negative padding (a crop)");
      window_value(p, "a pad");
    }
    const Shape s = shape(x);
    std::vector<std::pair<std::string, std::string>> attrs{{"padding", pads_text(pads[2], pads[3], pads[6], pads[7])}};
    if (value != 0) attrs.emplace_back("value", num(value));
    bind(out0, Act{add_layer(n, "pad", {x.layer}, {s.n, s.c, s.h + pads[2] + pads[6], s.w + pads[3] + pads[7]},
                             std::move(attrs)),
                   Layout::NCHW, 0});
    return;
  }
  if (op == "Resize" || op == "Upsample") return resize(n, first_act());
  if (op == "Flatten") {
    const Act& x = first_act();
    const int64_t axis = normalize_axis(attr_int(n, "axis", 1), dims(x).size());
    if (x.layout == Layout::Flat && axis == 1) return same_layout(x, x.layer);
    if (x.layout != Layout::NCHW || axis != 1) unsupported(fmt::format("Flatten at axis {} of a {} tensor", axis, dims_text(dims(x))));
    // An fc reads C x H x W itself: a Flatten that feeds only a Gemm is no layer of its own.
    if (feeds_only_gemm(out0)) return bind(out0, Act{x.layer, Layout::Flat, 0});
    const Shape s = shape(x);
    bind(out0, Act{add_layer(n, "flatten", {x.layer}, {s.n, s.c * s.h * s.w, 1, 1}), Layout::Flat, 0});
    return;
  }
  if (op == "Reshape") {
    if (in.size() < 2 || !in[1].c) unsupported("its target shape is missing or computed at run time");
    return reshape(n, first_act(), *in[1].c);
  }
  if (op == "Transpose") {
    const Act& x = first_act();
    std::vector<int64_t> d = dims(x);
    std::vector<int64_t> perm = attr_ints(n, "perm").value_or(std::vector<int64_t>{});
    if (perm.empty())
      for (size_t k = d.size(); k-- > 0;) perm.push_back(static_cast<int64_t>(k));
    using P = std::vector<int64_t>;
    if (x.layout == Layout::NCHW && perm == P{0, 2, 3, 1}) return bind(out0, Act{x.layer, Layout::NHWC, 0});
    if (x.layout == Layout::NHWC && perm == P{0, 3, 1, 2}) return bind(out0, Act{x.layer, Layout::NCHW, 0});
    if (x.layout == Layout::Grouped && perm == P{0, 2, 1, 3, 4}) return bind(out0, Act{x.layer, Layout::GroupedT, x.groups});
    if (x.layout == Layout::Flat && perm == P{0, 1}) return same_layout(x, x.layer);
    unsupported(fmt::format("a transpose {} of a {} tensor (archbench follows NCHW <-> NHWC and ShuffleNet's channel "
                            "shuffle only)",
                            dims_text(perm), dims_text(d)));
  }
  if (op == "Gemm") {
    const Act& x = first_act();
    const Shape s = shape(x);
    if (x.layout != Layout::Flat && !(x.layout == Layout::NCHW && s.h == 1 && s.w == 1))
      unsupported(fmt::format("a Gemm of a {} tensor", dims_text(dims(x))));
    if (attr_int(n, "transA", 0) != 0) unsupported("transA 1");
    ConstPtr b = get_const(n, 1, "weight");
    if (b->dims.size() != 2) unsupported(fmt::format("its weight is {}, expected a matrix", dims_text(b->dims)));
    const bool trans_b = attr_int(n, "transB", 0) != 0;
    const double alpha = attr_float(n, "alpha", 1.0), beta = attr_float(n, "beta", 1.0);
    const int64_t k_in = trans_b ? b->dims[1] : b->dims[0], outs = trans_b ? b->dims[0] : b->dims[1];
    if (k_in != s.c * s.h * s.w) unsupported(fmt::format("its weight {} does not fit {} features", dims_text(b->dims), s.c));
    std::vector<float> w(outs * k_in);
    for (int64_t o = 0; o < outs; ++o)
      for (int64_t i = 0; i < k_in; ++i)
        w[o * k_in + i] = static_cast<float>(alpha * (trans_b ? b->at(o * k_in + i) : b->at(i * outs + o)));
    std::optional<ConstPtr> c = opt_const(n, 2);
    const int id = add_layer(n, "fc", {x.layer}, {s.n, outs, 1, 1},
                             {{"out", std::to_string(outs)}, {"bias", c ? "true" : "false"}});
    layers_[id].params["weight"] = make_floats({outs, k_in}, std::move(w));
    if (c) {
      if ((*c)->numel() != 1 && (*c)->numel() != outs)
        unsupported(fmt::format("its bias {} is not one value per output", dims_text((*c)->dims)));
      std::vector<float> bias(outs);
      for (int64_t o = 0; o < outs; ++o) bias[o] = static_cast<float>(beta * (*c)->at((*c)->numel() == 1 ? 0 : o));
      layers_[id].params["bias"] = make_floats({outs}, std::move(bias));
    }
    bind(out0, Act{id, Layout::Flat, 0});
    return;
  }
  if (op == "MatMul") {
    const Act& x = first_act();
    if (in.size() < 2 || !in[1].c || in[1].c->dims.size() != 2)
      unsupported("MatMul by something other than a constant matrix");
    const Const& b = *in[1].c;
    const Shape s = shape(x);
    const int64_t k_in = b.dims[0], outs = b.dims[1];
    if (k_in != s.c || (x.layout != Layout::NHWC && x.layout != Layout::Flat))
      unsupported(fmt::format("MatMul of a {} tensor by a {} matrix", dims_text(dims(x)), dims_text(b.dims)));
    std::vector<float> w(outs * k_in);
    for (int64_t o = 0; o < outs; ++o)
      for (int64_t i = 0; i < k_in; ++i) w[o * k_in + i] = static_cast<float>(b.at(i * outs + o));
    int id;
    if (x.layout == Layout::Flat) {
      id = add_layer(n, "fc", {x.layer}, {s.n, outs, 1, 1}, {{"out", std::to_string(outs)}, {"bias", "false"}});
      layers_[id].params["weight"] = make_floats({outs, k_in}, std::move(w));
    } else {
      id = add_layer(n, "conv", {x.layer}, {s.n, outs, s.h, s.w},
                     {{"out", std::to_string(outs)}, {"kernel", "1"}, {"bias", "false"}});
      layers_[id].params["weight"] = make_floats({outs, k_in, 1, 1}, std::move(w));
    }
    bind(out0, Act{id, x.layout, 0});
    return;
  }
  if (op == "ReduceMean") {
    const Act& x = first_act();
    std::vector<int64_t> axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
    for (int64_t& a : axes) a = normalize_axis(a, dims(x).size());
    std::sort(axes.begin(), axes.end());
    if (x.layout != Layout::NCHW || axes != std::vector<int64_t>{2, 3})
      unsupported(fmt::format("a mean over axes {} of a {} tensor (archbench's is the global average pool)",
                              dims_text(axes), dims_text(dims(x))));
    const Shape s = shape(x);
    const bool keep = attr_int(n, "keepdims", 1) != 0;
    bind(out0, Act{add_layer(n, "global_avgpool", {x.layer}, {s.n, s.c, 1, 1}), keep ? Layout::NCHW : Layout::Flat, 0});
    return;
  }
  if (op == "LayerNormalization") {  // opset 17
    one_output();
    const Act& x = first_act();
    const int64_t axis = normalize_axis(attr_int(n, "axis", -1), dims(x).size());
    const bool over_channels = (x.layout == Layout::NHWC && axis == 3) || (x.layout == Layout::NCHW && axis == 1 && shape(x).h * shape(x).w == 1) ||
                               (x.layout == Layout::Flat && axis == 1);
    if (!over_channels)
      unsupported(fmt::format("a layer normalization from axis {} of a {} tensor: archbench normalizes over channels",
                              axis, dims_text(dims(x))));
    const int64_t channels = shape(x).c;
    ConstPtr scale = get_const(n, 1, "scale");
    std::optional<ConstPtr> bias = opt_const(n, 2);
    auto g = channel_vector(*scale, x);
    if (!g) unsupported("its scale is not one value per channel");
    std::vector<float> beta(channels, 0.0f);
    if (bias) {
      auto b = channel_vector(**bias, x);
      if (!b) unsupported("its bias is not one value per channel");
      beta = *b;
    }
    const int id = add_layer(n, "layer_norm", {x.layer}, shape(x), {{"eps", num(attr_float(n, "epsilon", 1e-5))}});
    layers_[id].params["weight"] = make_floats({channels}, *g);
    layers_[id].params["bias"] = make_floats({channels}, beta);
    same_layout(x, id);
    return;
  }
  if (op == "Slice") return slice_act(n, first_act());
  if (op == "Split") return split_act(n, first_act());
  if (op == "Squeeze" || op == "Unsqueeze") {
    const Act& x = first_act();
    const Shape s = shape(x);
    // [N, F, 1, 1] <-> [N, F]: the same layer.
    if (op == "Squeeze" && x.layout == Layout::NCHW && s.h == 1 && s.w == 1) return bind(out0, Act{x.layer, Layout::Flat, 0});
    if (op == "Unsqueeze" && x.layout == Layout::Flat) {
      // only to [N, F, 1, 1] (axes 2 and 3)
      std::vector<int64_t> axes =
          opset_ >= 13 ? get_const(n, 1, "axes")->ints() : attr_ints(n, "axes").value_or(std::vector<int64_t>{});
      std::sort(axes.begin(), axes.end());
      if (axes == std::vector<int64_t>{2, 3}) return bind(out0, Act{x.layer, Layout::NCHW, 0});
    }
    unsupported(fmt::format("{} of a {} tensor", op, dims_text(dims(x))));
  }
  if (op == "Cast") {
    const int64_t to = attr_int(n, "to", kFloat);
    if (to != kFloat) unsupported("a cast of an activation to a type other than float");
    return same_layout(first_act(), first_act().layer);
  }
  unsupported(fmt::format("no spec op does what {} does", op));
}

// What Conv and ConvTranspose share: an N x C x H x W input, a float 4-d weight, a group count.
ConstPtr Importer::conv_weight(const onnx::NodeProto& n, const Act& x, int64_t& groups) {
  if (x.layout != Layout::NCHW) unsupported("a convolution of a tensor that is not N x C x H x W");
  ConstPtr w = get_const(n, 1, "weight");
  if (w->dims.size() != 4) unsupported(fmt::format("its weight is {}, expected 4-d", dims_text(w->dims)));
  if (w->integer) unsupported("integer weights");
  groups = attr_int(n, "group", 1);
  const int64_t channels = shape(x).c;
  const bool transposed = n.op_type() == "ConvTranspose";
  const bool fits = groups >= 1 && channels % groups == 0 &&
                    (transposed ? w->dims[0] == channels : w->dims[1] * groups == channels && w->dims[0] % groups == 0);
  if (!fits)
    unsupported(fmt::format("weight {} with group {} does not fit {} input channels", dims_text(w->dims), groups, channels));
  return w;
}

// The conv-like layer: its attributes (a window's only where they are not the defaults), the
// weight and the optional bias (input 2).
void Importer::conv_layer(const onnx::NodeProto& n, const Act& x, const std::string& op, ConstPtr w, const NodeWindow& win,
                          int64_t groups, Shape out, std::vector<std::pair<std::string, std::string>> extra) {
  std::optional<ConstPtr> bias = opt_const(n, 2);
  if (bias && (*bias)->numel() != out.c) unsupported(fmt::format("its bias has {} values for {} outputs", (*bias)->numel(), out.c));
  if (bias && (*bias)->integer) unsupported("an integer bias");
  std::vector<std::pair<std::string, std::string>> attrs{{"out", std::to_string(out.c)}};
  window_attrs(attrs, win, false);
  for (auto& kv : extra) attrs.push_back(std::move(kv));
  if (groups != 1) attrs.emplace_back("groups", std::to_string(groups));
  attrs.emplace_back("bias", bias ? "true" : "false");
  const int id = add_layer(n, op, {x.layer}, out, std::move(attrs));
  layers_[id].params["weight"] = std::move(w);
  if (bias) layers_[id].params["bias"] = make_floats({out.c}, (*bias)->f);
  bind(n.output(0), Act{id, Layout::NCHW, 0});
}

void Importer::conv(const onnx::NodeProto& n, const Act& x) {
  int64_t groups = 1;
  ConstPtr w = conv_weight(n, x, groups);
  const Shape s = shape(x);
  const NodeWindow win = node_window(n, {w->dims[2], w->dims[3]}, s, false);
  const int64_t h = window_output(s.h, win.pt, win.pb, win.dh * (win.kh - 1) + 1, win.sh, false);
  const int64_t wd = window_output(s.w, win.pl, win.pr, win.dw * (win.kw - 1) + 1, win.sw, false);
  const int64_t outs = w->dims[0];
  conv_layer(n, x, "conv", w, win, groups, {s.n, outs, h, wd}, {});
}

void Importer::conv_transpose(const onnx::NodeProto& n, const Act& x) {
  int64_t groups = 1;
  ConstPtr w = conv_weight(n, x, groups);
  const Shape s = shape(x);
  NodeWindow win = node_window(n, {w->dims[2], w->dims[3]}, s, true);
  const int64_t outs = w->dims[1] * groups;
  int64_t oph = 0, opw = 0;
  if (auto op = attr_ints(n, "output_padding")) {
    if (op->size() != 2) unsupported("output_padding needs 2 values");
    oph = window_value((*op)[0], "output_padding"), opw = window_value((*op)[1], "output_padding");
    if (oph < 0 || opw < 0) unsupported("negative output_padding");
  }
  auto full = [](int64_t in, int64_t k, int64_t st, int64_t d, int64_t op) { return st * (in - 1) + op + (k - 1) * d + 1; };
  if (auto os = attr_ints(n, "output_shape")) {
    std::vector<int64_t> o = *os;
    if (o.size() == 4) o = {o[2], o[3]};
    if (o.size() != 2) unsupported("output_shape needs 2 (or 4) values");
    for (int64_t v : o) window_value(v, "output_shape");
    const std::string auto_pad = attr_string(n, "auto_pad", "NOTSET");
    auto split = [&](int64_t total, int64_t& lo, int64_t& hi) {
      if (total < 0) unsupported(fmt::format("output_shape {} is larger than the transposed conv makes", dims_text(*os)));
      lo = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      hi = total - lo;
    };
    split(full(s.h, win.kh, win.sh, win.dh, oph) - o[0], win.pt, win.pb);
    split(full(s.w, win.kw, win.sw, win.dw, opw) - o[1], win.pl, win.pr);
  }
  const int64_t h = full(s.h, win.kh, win.sh, win.dh, oph) - win.pt - win.pb;
  const int64_t wd = full(s.w, win.kw, win.sw, win.dw, opw) - win.pl - win.pr;
  std::vector<std::pair<std::string, std::string>> extra;
  if (oph || opw) extra.emplace_back("output_padding", pair_text(oph, opw));
  conv_layer(n, x, "conv_transpose", w, win, groups, {s.n, outs, h, wd}, std::move(extra));
}

void Importer::pool(const onnx::NodeProto& n, const Act& x, bool max) {
  if (x.layout != Layout::NCHW) unsupported("pooling a tensor that is not N x C x H x W");
  Shape s = shape(x);
  NodeWindow win = node_window(n, {}, s, false);
  if (!max && (win.dh != 1 || win.dw != 1)) unsupported("a dilated average pool");
  if (max && attr_int(n, "storage_order", 0) != 0) unsupported("storage_order 1");
  const bool ceil = attr_int(n, "ceil_mode", 0) != 0;
  int input = x.layer;
  // Padding beyond half the window (torch's ceil_mode at opset 9, TensorFlow's SAME pools):
  // a max pool takes a pad layer of the lowest float first; an average pool cannot say what it
  // divides by.
  if (2 * std::max(win.pt, win.pb) > win.kh || 2 * std::max(win.pl, win.pr) > win.kw) {
    if (!max) unsupported(fmt::format("an average pool padded by {} beyond half its {}x{} window",
                                      dims_text(std::vector<int64_t>{win.pt, win.pl, win.pb, win.pr}), win.kh, win.kw));
    s = {s.n, s.c, s.h + win.pt + win.pb, s.w + win.pl + win.pr};
    input = add_layer(n, "pad", {x.layer}, s,
                      {{"padding", pads_text(win.pt, win.pl, win.pb, win.pr)},
                       {"value", num(std::numeric_limits<float>::lowest())}});
    layers_[input].part = "pad";
    win.pt = win.pl = win.pb = win.pr = 0;
  }
  const int64_t h = window_output(s.h, win.pt, win.pb, win.dh * (win.kh - 1) + 1, win.sh, ceil);
  const int64_t w = window_output(s.w, win.pl, win.pr, win.dw * (win.kw - 1) + 1, win.sw, ceil);
  std::vector<std::pair<std::string, std::string>> attrs;
  window_attrs(attrs, win, true);
  if (ceil) attrs.emplace_back("ceil_mode", "true");
  // ONNX's AveragePool leaves the padding out of the divisor unless told otherwise; the spec's
  // default is PyTorch's, which counts it.
  const bool padded = win.pt || win.pl || win.pb || win.pr;
  if (!max && (padded || ceil))
    attrs.emplace_back("count_include_pad", attr_int(n, "count_include_pad", 0) ? "true" : "false");
  bind(n.output(0), Act{add_layer(n, max ? "maxpool" : "avgpool", {input}, {s.n, s.c, h, w}, std::move(attrs)),
                        Layout::NCHW, 0});
}

void Importer::binary(const onnx::NodeProto& n, const Val& a, const Val& b) {
  const std::string& op = n.op_type();
  const std::string& out = n.output(0);
  if (a.act && b.act) {
    if (a.a.layout != b.a.layout) unsupported("its inputs have different layouts");
    if (a.a.layout == Layout::Grouped || a.a.layout == Layout::GroupedT) unsupported("5-d activations");
    if (op == "Add") {
      if (dims(a.a) != dims(b.a))
        unsupported(fmt::format("an Add that broadcasts {} and {}", dims_text(dims(a.a)), dims_text(dims(b.a))));
      bind(out, Act{add_layer(n, "add", {a.a.layer, b.a.layer}, shape(a.a)), a.a.layout, 0});
      return;
    }
    if (op == "Mul") {
      if (a.a.layout != Layout::NCHW && dims(a.a) != dims(b.a)) unsupported("a broadcasting Mul of permuted tensors");
      const Shape sa = shape(a.a), sb = shape(b.a);
      auto bc = [&](int64_t p, int64_t q) {
        if (p != q && p != 1 && q != 1)
          unsupported(fmt::format("a Mul that cannot broadcast {} and {}", dims_text(dims(a.a)), dims_text(dims(b.a))));
        return std::max(p, q);
      };
      const Shape s{bc(sa.n, sb.n), bc(sa.c, sb.c), bc(sa.h, sb.h), bc(sa.w, sb.w)};
      bind(out, Act{add_layer(n, "multiply", {a.a.layer, b.a.layer}, s), a.a.layout, 0});
      return;
    }
    unsupported(fmt::format("{} of two activations", op));
  }
  const bool act_first = a.act;
  const Act& x = act_first ? a.a : b.a;
  const Const& c = act_first ? *b.c : *a.c;
  if (!act_first && (op == "Sub" || op == "Div")) unsupported(fmt::format("{} of a constant by an activation", op));
  if (x.layout == Layout::Grouped || x.layout == Layout::GroupedT) unsupported("5-d activations");
  std::optional<std::vector<float>> v = channel_vector(c, x);
  if (!v) unsupported(fmt::format("{} of a {} tensor and a constant {} that is not one value per channel", op,
                                  dims_text(dims(x)), dims_text(c.dims)));
  const int64_t channels = static_cast<int64_t>(v->size());
  if (op == "Add" || op == "Sub") {
    if (op == "Sub")
      for (float& f : *v) f = -f;
    // A bias add after a conv, fc or MatMul without a bias (ConvNeXt's Linear layers): the
    // producer takes it as its bias.
    OutLayer& p = layers_[x.layer];
    const bool foldable = (p.op == "conv" || p.op == "fc") && uses_[act_first ? n.input(0) : n.input(1)] == 1 &&
                          p.refs == 1 && !p.params.count("bias");
    if (foldable) {
      for (auto& [key, value] : p.attrs)
        if (key == "bias") value = "true";
      p.params["bias"] = make_floats({channels}, *v);
      bind(out, x);
      return;
    }
    bind(out, Act{scale_layer(n, x, std::vector<float>(channels, 1.0f), *v), x.layout, 0});
    return;
  }
  if (op == "Div")
    for (float& f : *v) f = 1.0f / f;
  bind(out, Act{scale_layer(n, x, *v, std::nullopt), x.layout, 0});
}

void Importer::resize(const onnx::NodeProto& n, const Act& x) {
  if (x.layout != Layout::NCHW) unsupported("resizing a tensor that is not N x C x H x W");
  const Shape s = shape(x);
  std::optional<ConstPtr> scales, sizes;
  std::string mode = attr_string(n, "mode", "nearest");
  std::string transform = "asymmetric", nearest_mode = "floor";
  const bool legacy = n.op_type() == "Upsample" || opset_ < 11;
  if (legacy) {
    scales = opt_const(n, 1);
    if (opset_ >= 11) unsupported("Upsample is deprecated after opset 10");
    if (mode == "linear" || mode == "bilinear")
      unsupported(fmt::format("{} at opset {} interpolates linearly with asymmetric coordinates, which is neither "
                              "PyTorch's bilinear (half-pixel) nor align_corners: re-export with opset 11 or later",
                              n.op_type(), opset_));
  } else {
    transform = attr_string(n, "coordinate_transformation_mode", "half_pixel");
    nearest_mode = attr_string(n, "nearest_mode", "round_prefer_floor");
    scales = opt_const(n, 2);
    sizes = opt_const(n, 3);
  }
  int64_t oh = 0, ow = 0;
  double sh = 0, sw = 0;
  if (sizes) {
    const Const& z = **sizes;
    if (z.numel() != 4) unsupported(fmt::format("sizes {} for a 4-d tensor", dims_text(z.dims)));
    if (z.at(0) != static_cast<double>(s.n) || z.at(1) != static_cast<double>(s.c)) unsupported("a resize of the batch or channel axis");
    oh = window_value(to_int(z.at(2)), "a size"), ow = window_value(to_int(z.at(3)), "a size");
  } else if (scales) {
    const Const& z = **scales;
    if (z.numel() != 4) unsupported(fmt::format("scales {} for a 4-d tensor", dims_text(z.dims)));
    if (z.at(0) != 1 || z.at(1) != 1) unsupported("a resize of the batch or channel axis");
    sh = z.at(2), sw = z.at(3);
    if (!(sh > 0) || !(sw > 0)) unsupported("non-positive scales");
    oh = window_value(to_int(std::floor(static_cast<double>(s.h) * sh)), "an output size");
    ow = window_value(to_int(std::floor(static_cast<double>(s.w) * sw)), "an output size");
  } else {
    unsupported("a resize without scales or sizes");
  }
  std::vector<std::pair<std::string, std::string>> attrs;
  attrs.reserve(3);  // (and GCC 12 sees no out-of-bounds write in the growth path)
  if (mode == "nearest") {
    if (transform != "asymmetric" || nearest_mode != "floor")
      unsupported(fmt::format("nearest resize with coordinate_transformation_mode '{}' and nearest_mode '{}' "
                              "(archbench's nearest is PyTorch's: asymmetric, floor)",
                              transform, nearest_mode));
  } else if (mode == "linear") {
    attrs.emplace_back("mode", "bilinear");
    if (transform == "align_corners")
      attrs.emplace_back("align_corners", "true");
    else if (transform == "half_pixel" && (oh == 1 || ow == 1))
      unsupported("half_pixel to an output of size 1 (PyTorch's pytorch_half_pixel differs there)");
    else if (transform != "pytorch_half_pixel" && transform != "half_pixel")
      unsupported(fmt::format("linear resize with coordinate_transformation_mode '{}'", transform));
  } else {
    unsupported(fmt::format("resize mode '{}' (nearest and linear only)", mode));
  }
  if (sizes)
    attrs.emplace_back("size", pair_text(oh, ow));
  else
    attrs.emplace_back("scale", sh == sw ? num(sh) : fmt::format("[{}, {}]", num(sh), num(sw)));
  bind(n.output(0), Act{add_layer(n, "upsample", {x.layer}, {s.n, s.c, oh, ow}, std::move(attrs)), Layout::NCHW, 0});
}

void Importer::reshape(const onnx::NodeProto& n, const Act& x, const Const& target_const) {
  const std::vector<int64_t> from = dims(x);
  std::vector<int64_t> to = target_const.ints();
  const bool allow_zero = attr_int(n, "allowzero", 0) != 0;
  int64_t known = 1, infer = -1;
  const int64_t total = std::accumulate(from.begin(), from.end(), int64_t{1}, std::multiplies<>());
  for (size_t k = 0; k < to.size(); ++k) {
    if (to[k] == 0 && !allow_zero) {
      if (k >= from.size()) unsupported("a 0 in the target shape past the input's rank");
      to[k] = from[k];
    }
    if (to[k] == -1) {
      if (infer >= 0) unsupported("two -1 in the target shape");
      infer = static_cast<int64_t>(k);
    } else if (to[k] <= 0) {
      unsupported(fmt::format("target shape {}", dims_text(target_const.ints())));
    } else if (__builtin_mul_overflow(known, to[k], &known)) {
      unsupported(fmt::format("target shape {} overflows 64 bits", dims_text(target_const.ints())));
    }
  }
  // The batch may differ from the export's (--input): a reshape keeps it.
  const Shape s = shape(x);
  if (!to.empty() && infer != 0 && to[0] != s.n) {
    known = known / to[0] * s.n;
    to[0] = s.n;
  }
  if (infer >= 0) {
    if (known == 0 || total % known != 0) unsupported(fmt::format("target shape {} does not fit {}", dims_text(to), dims_text(from)));
    to[infer] = total / known;
  }
  const std::string& out = n.output(0);
  if (to == from) return bind(out, x);
  using P = std::vector<int64_t>;
  if (x.layout == Layout::NCHW && to == P{s.n, s.c * s.h * s.w} && feeds_only_gemm(out))
    return bind(out, Act{x.layer, Layout::Flat, 0});
  if (x.layout == Layout::NCHW && to == P{s.n, s.c * s.h * s.w}) {
    bind(out, Act{add_layer(n, "flatten", {x.layer}, {s.n, s.c * s.h * s.w, 1, 1}), Layout::Flat, 0});
    return;
  }
  if (x.layout == Layout::Flat && to == P{s.n, s.c, 1, 1}) return bind(out, Act{x.layer, Layout::NCHW, 0});
  if (x.layout == Layout::NCHW && s.h == 1 && s.w == 1 && to == P{s.n, s.c}) return bind(out, Act{x.layer, Layout::Flat, 0});
  if (x.layout == Layout::NCHW && to.size() == 5 && to[0] == s.n && to[1] * to[2] == s.c && to[3] == s.h && to[4] == s.w)
    return bind(out, Act{x.layer, Layout::Grouped, to[1]});
  if (x.layout == Layout::GroupedT && to == P{s.n, s.c, s.h, s.w}) {
    bind(out, Act{add_layer(n, "channel_shuffle", {x.layer}, s, {{"groups", std::to_string(x.groups)}}), Layout::NCHW, 0});
    return;
  }
  if (x.layout == Layout::Grouped && to == P{s.n, s.c, s.h, s.w}) return bind(out, Act{x.layer, Layout::NCHW, 0});
  unsupported(fmt::format("a reshape of {} to {}", dims_text(from), dims_text(to)));
}

// A Slice's starts, ends, axes (all, where absent) and steps (1, where absent), of equal lengths:
// attributes before opset 10, constant inputs after.
Importer::SliceArgs Importer::slice_args(const onnx::NodeProto& n) {
  SliceArgs a;
  if (opset_ < 10) {
    a.starts = attr_ints(n, "starts").value_or(std::vector<int64_t>{});
    a.ends = attr_ints(n, "ends").value_or(std::vector<int64_t>{});
    a.axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
  } else {
    a.starts = get_const(n, 1, "starts")->ints();
    a.ends = get_const(n, 2, "ends")->ints();
    if (auto c = opt_const(n, 3)) a.axes = (*c)->ints();
    if (auto c = opt_const(n, 4)) a.steps = (*c)->ints();
  }
  if (a.axes.empty())
    for (size_t k = 0; k < a.starts.size(); ++k) a.axes.push_back(static_cast<int64_t>(k));
  if (a.steps.empty()) a.steps.assign(a.starts.size(), 1);
  if (a.starts.size() != a.ends.size() || a.axes.size() != a.starts.size() || a.steps.size() != a.starts.size())
    unsupported("starts, ends, axes and steps of different lengths");
  return a;
}

void Importer::slice_act(const onnx::NodeProto& n, const Act& x) {
  if (x.layout != Layout::NCHW && x.layout != Layout::Flat) unsupported("slicing a permuted tensor");
  const std::vector<int64_t> d = dims(x);
  const auto [starts, ends, axes, steps] = slice_args(n);
  std::vector<int64_t> begin(d.size(), 0), end = d;
  for (size_t k = 0; k < axes.size(); ++k) {
    const int64_t axis = normalize_axis(axes[k], d.size());
    if (steps[k] != 1) unsupported("a slice with a step other than 1");
    const int64_t dim = d[axis];
    auto clampi = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + dim : v, 0, dim); };
    begin[axis] = clampi(starts[k]), end[axis] = clampi(ends[k]);
    if (begin[axis] >= end[axis]) unsupported("an empty slice");
  }
  if (begin[0] != 0 || end[0] != d[0]) unsupported("a slice of the batch axis");
  const bool spatial = d.size() == 4 && (begin[2] || begin[3] || end[2] != d[2] || end[3] != d[3]);
  const bool channels = begin[1] || end[1] != d[1];
  if (spatial && channels) unsupported("a slice of channels and space at once");
  if (spatial) {  // a crop
    const Shape s = shape(x);
    const Shape o{s.n, s.c, end[2] - begin[2], end[3] - begin[3]};
    bind(n.output(0), Act{add_layer(n, "crop", {x.layer}, o,
                                    {{"offset", pair_text(begin[2], begin[3])}, {"size", pair_text(o.h, o.w)}}),
                          Layout::NCHW, 0});
    return;
  }
  if (!channels) return bind(n.output(0), x);
  Shape s = shape(x);
  s.c = end[1] - begin[1];
  bind(n.output(0),
       Act{add_layer(n, "slice", {x.layer}, s, {{"channels", fmt::format("[{}, {}]", begin[1], end[1])}}), x.layout, 0});
}

void Importer::split_act(const onnx::NodeProto& n, const Act& x) {
  if (x.layout != Layout::NCHW && x.layout != Layout::Flat) unsupported("splitting a permuted tensor");
  const std::vector<int64_t> d = dims(x);
  const int64_t axis = normalize_axis(attr_int(n, "axis", 0), d.size());
  if (axis != 1) unsupported(fmt::format("a split of axis {} (archbench splits channels)", axis));
  std::vector<int64_t> parts;
  if (opset_ >= 13) {
    if (auto c = opt_const(n, 1)) parts = (*c)->ints();
  } else {
    parts = attr_ints(n, "split").value_or(std::vector<int64_t>{});
  }
  const int64_t count = n.output_size();
  if (parts.empty()) {
    if (d[1] % count != 0) unsupported(fmt::format("{} channels do not split in {} equal parts", d[1], count));
    parts.assign(count, d[1] / count);
  }
  if (static_cast<int64_t>(parts.size()) != count) unsupported("split sizes do not match the outputs");
  int64_t begin = 0;
  for (int64_t k = 0; k < count; ++k) {
    if (parts[k] <= 0) unsupported("a split part of size <= 0");
    Shape s = shape(x);
    s.c = parts[k];
    const int id = add_layer(n, "slice", {x.layer}, s, {{"channels", fmt::format("[{}, {}]", begin, begin + parts[k])}});
    layers_[id].part += fmt::format("_{}", k);
    bind(n.output(static_cast<int>(k)), Act{id, x.layout, 0});
    begin += parts[k];
  }
  if (begin != d[1]) unsupported(fmt::format("split sizes sum to {}, not {}", begin, d[1]));
}

// ---------------------------------------------------------------------------------------------
// Constant folding: the shape arithmetic torch writes, and constant weights' transposes.

ConstPtr broadcast_binary(const Const& a, const Const& b, const std::string& op) {
  const size_t rank = std::max(a.dims.size(), b.dims.size());
  std::vector<int64_t> da(rank, 1), db(rank, 1), out(rank);
  std::copy(a.dims.begin(), a.dims.end(), da.begin() + (rank - a.dims.size()));
  std::copy(b.dims.begin(), b.dims.end(), db.begin() + (rank - b.dims.size()));
  for (size_t k = 0; k < rank; ++k) {
    if (da[k] != db[k] && da[k] != 1 && db[k] != 1)
      unsupported(fmt::format("constants {} and {} do not broadcast", dims_text(a.dims), dims_text(b.dims)));
    out[k] = std::max(da[k], db[k]);
  }
  const int64_t count = checked_product(out);
  const std::vector<int64_t> so = strides_of(out), sa = strides_of(da), sb = strides_of(db);
  auto c = std::make_shared<Const>();
  c->dims = out;
  c->integer = a.integer && b.integer;
  for (int64_t k = 0; k < count; ++k) {
    int64_t ia = 0, ib = 0, rest = k;
    for (size_t ax = 0; ax < rank; ++ax) {
      const int64_t idx = rest / so[ax];
      rest %= so[ax];
      if (da[ax] != 1) ia += idx * sa[ax];
      if (db[ax] != 1) ib += idx * sb[ax];
    }
    if (c->integer) {
      const int64_t x = a.i[ia], y = b.i[ib];
      int64_t r = 0;
      bool overflow = false;
      if (op == "Add") overflow = __builtin_add_overflow(x, y, &r);
      else if (op == "Sub") overflow = __builtin_sub_overflow(x, y, &r);
      else if (op == "Mul") overflow = __builtin_mul_overflow(x, y, &r);
      else if (op == "Div") {
        if (y == 0) unsupported("an integer division by zero");
        if (x == INT64_MIN && y == -1) overflow = true;
        else r = x / y;
      } else if (op == "Pow") r = to_int(std::pow(static_cast<double>(x), static_cast<double>(y)));
      else if (op == "Equal") r = x == y;
      else if (op == "Less") r = x < y;
      else if (op == "Greater") r = x > y;
      else if (op == "Min") r = std::min(x, y);
      else if (op == "Max") r = std::max(x, y);
      if (overflow) unsupported(fmt::format("{} of {} and {} overflows 64 bits", op, x, y));
      c->i.push_back(r);
    } else {
      const double x = a.at(ia), y = b.at(ib);
      double r = 0;
      if (op == "Add") r = x + y;
      else if (op == "Sub") r = x - y;
      else if (op == "Mul") r = x * y;
      else if (op == "Div") r = x / y;
      else if (op == "Pow") r = std::pow(x, y);
      else if (op == "Equal") r = x == y;
      else if (op == "Less") r = x < y;
      else if (op == "Greater") r = x > y;
      else if (op == "Min") r = std::min(x, y);
      else if (op == "Max") r = std::max(x, y);
      c->f.push_back(static_cast<float>(r));
    }
  }
  return c;
}

// Gathers elements of `c` by flat source indices.
ConstPtr pick(const Const& c, std::vector<int64_t> dims, const std::vector<int64_t>& from) {
  auto out = std::make_shared<Const>();
  out->dims = std::move(dims);
  out->integer = c.integer;
  for (int64_t k : from) {
    if (c.integer)
      out->i.push_back(c.i[k]);
    else
      out->f.push_back(c.f[k]);
  }
  return out;
}

void Importer::fold(const onnx::NodeProto& n, const std::vector<Val>& in) {
  const std::string& op = n.op_type();
  const std::string& out = n.output(0);
  auto c0 = [&]() -> const Const& {
    if (in.empty() || !in[0].c) unsupported("its first input is missing");
    return *in[0].c;
  };
  auto unary = [&](auto f) {
    const Const& a = c0();
    auto c = std::make_shared<Const>(a);
    if (c->integer)
      for (int64_t& v : c->i) v = to_int(f(static_cast<double>(v)));
    else
      for (float& v : c->f) v = static_cast<float>(f(static_cast<double>(v)));
    bind(out, c);
  };
  if (op == "Identity" || op == "Dropout") return bind(out, in[0].c);
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" || op == "Equal" || op == "Less" ||
      op == "Greater" || op == "Min" || op == "Max") {
    if (in.size() != 2 || !in[1].c) unsupported("it needs two inputs");
    return bind(out, broadcast_binary(*in[0].c, *in[1].c, op));
  }
  if (op == "Floor") return unary([](double v) { return std::floor(v); });
  if (op == "Ceil") return unary([](double v) { return std::ceil(v); });
  if (op == "Sqrt") return unary([](double v) { return std::sqrt(v); });
  if (op == "Neg") return unary([](double v) { return -v; });
  if (op == "Abs") return unary([](double v) { return std::fabs(v); });
  if (op == "Erf") return unary([](double v) { return std::erf(v); });
  if (op == "Cast") {
    const int64_t to = attr_int(n, "to", kFloat);
    const Const& a = c0();
    auto c = std::make_shared<Const>();
    c->dims = a.dims;
    if (to == kFloat || to == kDouble) {
      for (int64_t k = 0; k < a.numel(); ++k) c->f.push_back(static_cast<float>(a.at(k)));
    } else if (to == kInt64 || to == kInt32 || to == kInt16 || to == kInt8 || to == kUint8 || to == kBool) {
      c->integer = true;
      for (int64_t k = 0; k < a.numel(); ++k) c->i.push_back(to_int(a.at(k)));
    } else {
      unsupported(fmt::format("a cast to type {}", to));
    }
    return bind(out, c);
  }
  if (op == "Shape") {
    const Const& a = c0();
    return bind(out, make_ints({static_cast<int64_t>(a.dims.size())}, a.dims));
  }
  if (op == "Unsqueeze" || op == "Squeeze") {
    const Const& a = c0();
    std::vector<int64_t> axes = opset_ >= 13 ? (in.size() > 1 && in[1].c ? in[1].c->ints() : std::vector<int64_t>{})
                                             : attr_ints(n, "axes").value_or(std::vector<int64_t>{});
    std::vector<int64_t> d = a.dims;
    if (op == "Unsqueeze") {
      const size_t rank = d.size() + axes.size();
      for (int64_t& ax : axes) ax = normalize_axis(ax, rank);
      std::sort(axes.begin(), axes.end());
      for (int64_t ax : axes) d.insert(d.begin() + ax, 1);
    } else {
      for (int64_t& ax : axes) ax = normalize_axis(ax, d.size());
      std::vector<int64_t> kept;
      for (size_t k = 0; k < d.size(); ++k) {
        const bool listed = std::find(axes.begin(), axes.end(), static_cast<int64_t>(k)) != axes.end();
        if (axes.empty() ? d[k] != 1 : !listed) kept.push_back(d[k]);
      }
      d = kept;
    }
    auto c = std::make_shared<Const>(a);
    c->dims = d;
    return bind(out, c);
  }
  if (op == "Reshape") {
    const Const& a = c0();
    if (in.size() < 2 || !in[1].c) unsupported("Reshape without a shape");
    std::vector<int64_t> to = in[1].c->ints();
    int64_t known = 1, infer = -1;
    for (size_t k = 0; k < to.size(); ++k) {
      if (to[k] == 0 && k < a.dims.size()) to[k] = a.dims[k];
      if (to[k] == -1)
        infer = static_cast<int64_t>(k);
      else if (to[k] < 0 || __builtin_mul_overflow(known, to[k], &known))
        unsupported(fmt::format("reshaping {} to {}", dims_text(a.dims), dims_text(in[1].c->ints())));
    }
    if (infer >= 0 && known > 0) to[infer] = a.numel() / known;
    if (checked_product(to) != a.numel()) unsupported(fmt::format("reshaping {} to {}", dims_text(a.dims), dims_text(to)));
    auto c = std::make_shared<Const>(a);
    c->dims = to;
    return bind(out, c);
  }
  if (op == "Concat") {
    const Const& a = c0();
    const int64_t axis = normalize_axis(attr_int(n, "axis", 0), std::max<size_t>(a.dims.size(), 1));
    std::vector<int64_t> d = a.dims;
    if (d.empty()) unsupported("a concat of scalars");
    d[axis] = 0;
    for (const Val& v : in) {
      if (!v.c || v.c->dims.size() != a.dims.size()) unsupported("a concat of constants of different ranks");
      d[axis] += v.c->dims[axis];
    }
    const int64_t outer = std::accumulate(d.begin(), d.begin() + axis, int64_t{1}, std::multiplies<>());
    auto c = std::make_shared<Const>();
    c->dims = d;
    c->integer = std::all_of(in.begin(), in.end(), [](const Val& v) { return v.c->integer; });
    for (int64_t o = 0; o < outer; ++o)
      for (const Val& v : in) {
        const int64_t chunk = v.c->numel() / std::max<int64_t>(outer, 1);
        for (int64_t k = 0; k < chunk; ++k) {
          const double x = v.c->at(o * chunk + k);
          if (c->integer)
            c->i.push_back(v.c->integer ? v.c->i[o * chunk + k] : to_int(x));
          else
            c->f.push_back(static_cast<float>(x));
        }
      }
    return bind(out, c);
  }
  if (op == "Gather") {
    const Const& a = c0();
    if (in.size() < 2 || !in[1].c) unsupported("Gather without indices");
    if (a.dims.empty()) unsupported("a gather from a scalar");
    const int64_t axis = normalize_axis(attr_int(n, "axis", 0), a.dims.size());
    const Const& idx = *in[1].c;
    std::vector<int64_t> d(a.dims.begin(), a.dims.begin() + axis);
    d.insert(d.end(), idx.dims.begin(), idx.dims.end());
    d.insert(d.end(), a.dims.begin() + axis + 1, a.dims.end());
    const int64_t outer = std::accumulate(a.dims.begin(), a.dims.begin() + axis, int64_t{1}, std::multiplies<>());
    const int64_t inner = std::accumulate(a.dims.begin() + axis + 1, a.dims.end(), int64_t{1}, std::multiplies<>());
    std::vector<int64_t> from;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j : idx.ints()) {
        if (j < 0) j += a.dims[axis];
        if (j < 0 || j >= a.dims[axis]) unsupported(fmt::format("gather index {} out of range", j));
        for (int64_t k = 0; k < inner; ++k) from.push_back((o * a.dims[axis] + j) * inner + k);
      }
    return bind(out, pick(a, d, from));
  }
  if (op == "Slice") {
    const Const& a = c0();
    const auto [starts, ends, axes, steps] = slice_args(n);
    const size_t rank = a.dims.size();
    std::vector<int64_t> b(rank, 0), st(rank, 1), d = a.dims;
    for (size_t k = 0; k < axes.size(); ++k) {
      const int64_t ax = normalize_axis(axes[k], rank), dim = a.dims[ax];
      const int64_t step = steps[k];
      if (step == 0) unsupported("a slice step of 0");
      int64_t s0 = starts[k] < 0 ? starts[k] + dim : starts[k], e0 = ends[k] < 0 ? ends[k] + dim : ends[k];
      if (step > 0) {
        s0 = std::clamp<int64_t>(s0, 0, dim), e0 = std::clamp<int64_t>(e0, 0, dim);
        d[ax] = std::max<int64_t>(0, (e0 - s0 + step - 1) / step);
      } else {
        s0 = std::clamp<int64_t>(s0, -1, dim - 1), e0 = std::clamp<int64_t>(e0, -1, dim - 1);
        d[ax] = std::max<int64_t>(0, (s0 - e0 - step - 1) / -step);
      }
      b[ax] = s0, st[ax] = step;
    }
    const int64_t count = checked_product(d);
    const std::vector<int64_t> so = strides_of(d), sa = strides_of(a.dims);
    std::vector<int64_t> from;
    for (int64_t k = 0; k < count; ++k) {
      int64_t src = 0, rest = k;
      for (size_t ax = 0; ax < rank; ++ax) {
        const int64_t idx = rest / so[ax];
        rest %= so[ax];
        src += (b[ax] + idx * st[ax]) * sa[ax];
      }
      from.push_back(src);
    }
    return bind(out, pick(a, d, from));
  }
  if (op == "Transpose") {
    const Const& a = c0();
    const size_t rank = a.dims.size();
    std::vector<int64_t> perm = attr_ints(n, "perm").value_or(std::vector<int64_t>{});
    if (perm.empty())
      for (size_t k = rank; k-- > 0;) perm.push_back(static_cast<int64_t>(k));
    if (perm.size() != rank) unsupported("a permutation of the wrong length");
    for (int64_t& p : perm) p = normalize_axis(p, rank);
    if (std::set<int64_t>(perm.begin(), perm.end()).size() != rank)
      unsupported(fmt::format("perm {} is not a permutation", dims_text(perm)));
    std::vector<int64_t> d(rank);
    for (size_t k = 0; k < rank; ++k) d[k] = a.dims[perm[k]];
    const std::vector<int64_t> so = strides_of(d), sa = strides_of(a.dims);
    std::vector<int64_t> from;
    const int64_t count = a.numel();
    for (int64_t k = 0; k < count; ++k) {
      int64_t src = 0, rest = k;
      for (size_t ax = 0; ax < rank; ++ax) {
        const int64_t idx = rest / so[ax];
        rest %= so[ax];
        src += idx * sa[perm[ax]];
      }
      from.push_back(src);
    }
    return bind(out, pick(a, d, from));
  }
  if (op == "ConstantOfShape") {
    std::vector<int64_t> d = c0().ints();
    const int64_t count = checked_product(d);
    ConstPtr value = make_floats({1}, {0.0f});
    if (const auto* a = find_attr(n, "value"); a && a->has_t()) value = decode(a->t(), out);
    auto c = std::make_shared<Const>();
    c->dims = d;
    c->integer = value->integer;
    if (c->integer)
      c->i.assign(count, value->numel() ? value->i[0] : 0);
    else
      c->f.assign(count, value->numel() ? value->f[0] : 0.0f);
    return bind(out, c);
  }
  if (op == "Range") {
    if (in.size() != 3 || !in[0].c || !in[1].c || !in[2].c || !in[0].c->numel() || !in[1].c->numel() || !in[2].c->numel())
      unsupported("Range needs three one-value inputs");
    const double start = in[0].c->at(0), limit = in[1].c->at(0), delta = in[2].c->at(0);
    if (delta == 0) unsupported("a Range step of 0");
    const int64_t count = std::max<int64_t>(0, to_int(std::ceil((limit - start) / delta)));
    if (count > kMaxElements) unsupported("a Range too long");
    auto c = std::make_shared<Const>();
    c->dims = {count};
    c->integer = in[0].c->integer;
    for (int64_t k = 0; k < count; ++k) {
      if (c->integer)
        c->i.push_back(to_int(start + static_cast<double>(k) * delta));
      else
        c->f.push_back(static_cast<float>(start + static_cast<double>(k) * delta));
    }
    return bind(out, c);
  }
  unsupported(fmt::format("{} of constants, which the importer does not fold", op));
}

}  // namespace

OnnxImport import_onnx(const fs::path& file, const LoadOptions& options, bool with_weights) {
  return Importer(file, options, with_weights).run();
}

}  // namespace archbench
