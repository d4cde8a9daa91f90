// ONNX export (see onnx_export.h).
#include "networks/onnx_export.h"

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

namespace archbench {

namespace {

class Exporter {
 public:
  Exporter(const Graph& g, const std::map<std::string, ImportedArray>& weights, bool dry)
      : g_(g), weights_(weights), dry_(dry) {}

  std::string run();

 private:
  [[noreturn]] void fail(const Layer& l, const std::string& message) const { throw SpecError(l.loc, l.name, message); }

  onnx::NodeProto& node(const Layer& l, const std::string& op, std::vector<std::string> inputs,
                        std::vector<std::string> outputs, const std::string& part = "");
  std::string weight(const Layer& l, const std::string& param);
  std::string constant_ints(const std::string& name, const std::vector<int64_t>& values);
  std::string constant_floats(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values);
  std::string as_4d(int layer);  // the layer's output as N x C x H x W (a flat one reshaped)
  std::string per_channel(const Layer& l, const std::string& param, bool flat);
  void layer(int index);

  const Graph& g_;
  const std::map<std::string, ImportedArray>& weights_;
  bool dry_;  // checking only: weights are not read
  onnx::GraphProto* graph_ = nullptr;
  std::vector<bool> flat_;  // the layer's ONNX output is [N, F], not [N, F, 1, 1]
  std::map<std::string, int> parts_;
  std::set<int> reshaped_;
};

void set_ints(onnx::NodeProto& n, const char* name, const std::vector<int64_t>& values) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void set_int(onnx::NodeProto& n, const char* name, int64_t value) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void set_float(onnx::NodeProto& n, const char* name, double value) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(value));
}

void set_string(onnx::NodeProto& n, const char* name, const std::string& value) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}

void set_window(onnx::NodeProto& n, const Window& w, bool dilations) {
  set_ints(n, "kernel_shape", {w.kh, w.kw});
  set_ints(n, "strides", {w.sh, w.sw});
  set_ints(n, "pads", {w.pad_top, w.pad_left, w.pad_bottom, w.pad_right});
  if (dilations) set_ints(n, "dilations", {w.dh, w.dw});
}

void set_shape(onnx::ValueInfoProto& v, const std::string& name, const std::vector<int64_t>& dims) {
  v.set_name(name);
  auto* t = v.mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

onnx::NodeProto& Exporter::node(const Layer& l, const std::string& op, std::vector<std::string> inputs,
                                std::vector<std::string> outputs, const std::string& part) {
  onnx::NodeProto* n = graph_->add_node();
  n->set_op_type(op);
  std::string base = part.empty() ? op : part;
  const int k = parts_[l.name + "/" + base]++;
  n->set_name(fmt::format("/{}/{}", l.name, k ? fmt::format("{}_{}", base, k) : base));
  for (auto& in : inputs) n->add_input(std::move(in));
  for (auto& out : outputs) n->add_output(std::move(out));
  return *n;
}

// A parameter as an initializer of its own name, in the layout it has (check_weights held it
// to the graph's).
std::string Exporter::weight(const Layer& l, const std::string& param) {
  const std::string name = l.name + "." + param;
  auto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  if (dry_) return name;
  auto it = weights_.find(name);
  if (it == weights_.end()) fail(l, fmt::format("no weight '{}' to export", name));
  for (int64_t d : it->second.dims) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(it->second.data.data()), it->second.data.size() * 4));
  return name;
}

std::string Exporter::constant_ints(const std::string& name, const std::vector<int64_t>& values) {
  auto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 8));
  return name;
}

std::string Exporter::constant_floats(const std::string& name, const std::vector<int64_t>& dims,
                                      const std::vector<float>& values) {
  auto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  return name;
}

std::string Exporter::as_4d(int index) {
  const Layer& l = g_.layers[index];
  if (!flat_[index]) return l.name;
  const std::string out = l.name + ".4d";
  if (reshaped_.insert(index).second) {
    const Shape& s = l.output;
    node(l, "Reshape", {l.name, constant_ints(out + ".shape", {s.n, s.c, 1, 1})}, {out});
  }
  return out;
}

// A per-channel parameter shaped to broadcast over N x C x H x W ([C, 1, 1]) or [N, C] ([C]).
std::string Exporter::per_channel(const Layer& l, const std::string& param, bool flat) {
  const std::string name = weight(l, param);
  if (flat) return name;
  auto* t = graph_->mutable_initializer(graph_->initializer_size() - 1);
  t->add_dims(1);
  t->add_dims(1);
  return name;
}

void Exporter::layer(int index) {
  const Layer& l = g_.layers[index];
  auto in = [&](size_t k) { return g_.layers[l.inputs[k]].name; };
  auto in_flat = [&](size_t k) { return static_cast<bool>(flat_[l.inputs[k]]); };
  const std::string& out = l.name;
  const Shape in_shape = l.inputs.empty() ? Shape{} : g_.layers[l.inputs[0]].output;
  // The layer keeps its input's rank (element-wise ops on a flat input stay flat).
  auto keep_rank = [&]() { flat_[index] = !l.inputs.empty() && flat_[l.inputs[0]]; };
  switch (l.op) {
    case OpKind::Input:
      return;
    case OpKind::Conv:
    case OpKind::ConvTranspose: {
      auto conv = [&](const auto& a, const char* op) -> onnx::NodeProto& {
        std::vector<std::string> ins{as_4d(l.inputs[0]), weight(l, "weight")};
        if (a.bias) ins.push_back(weight(l, "bias"));
        auto& n = node(l, op, ins, {out});
        set_ints(n, "dilations", {a.win.dh, a.win.dw});
        set_int(n, "group", a.groups);
        set_window(n, a.win, false);
        return n;
      };
      if (l.op == OpKind::Conv) {
        conv(std::get<ConvAttrs>(l.attrs), "Conv");
      } else {
        const auto& a = std::get<ConvTransposeAttrs>(l.attrs);
        set_ints(conv(a, "ConvTranspose"), "output_padding", {a.output_pad_h, a.output_pad_w});
      }
      return;
    }
    case OpKind::MaxPool:
    case OpKind::AvgPool: {
      const auto& a = std::get<PoolAttrs>(l.attrs);
      const bool max = l.op == OpKind::MaxPool;
      auto& n = node(l, max ? "MaxPool" : "AveragePool", {as_4d(l.inputs[0])}, {out});
      set_window(n, a.win, max);
      set_int(n, "ceil_mode", a.ceil_mode);
      if (!max) set_int(n, "count_include_pad", a.count_include_pad);
      return;
    }
    case OpKind::GlobalAvgPool:
      node(l, "GlobalAveragePool", {as_4d(l.inputs[0])}, {out});
      return;
    case OpKind::AdaptiveAvgPool: {
      const auto& a = std::get<AdaptivePoolAttrs>(l.attrs);
      if (a.out_h == 1 && a.out_w == 1) {
        node(l, "GlobalAveragePool", {as_4d(l.inputs[0])}, {out});
        return;
      }
      if (in_shape.h % a.out_h != 0 || in_shape.w % a.out_w != 0)
        fail(l, fmt::format("an adaptive average pool from {}x{} to {}x{} has no ONNX operator (the output must divide "
                            "the input)",
                            in_shape.h, in_shape.w, a.out_h, a.out_w));
      Window w;
      w.kh = w.sh = in_shape.h / a.out_h;
      w.kw = w.sw = in_shape.w / a.out_w;
      auto& n = node(l, "AveragePool", {as_4d(l.inputs[0])}, {out});
      set_window(n, w, false);
      return;
    }
    case OpKind::LRN: {
      const auto& a = std::get<LRNAttrs>(l.attrs);
      if (a.size % 2 == 0) fail(l, "an even LRN size: ONNX centres an even window differently from PyTorch");
      auto& n = node(l, "LRN", {as_4d(l.inputs[0])}, {out});
      set_int(n, "size", a.size);
      set_float(n, "alpha", a.alpha);
      set_float(n, "beta", a.beta);
      set_float(n, "bias", a.k);
      return;
    }
    case OpKind::BatchNorm: {
      auto& n = node(l, "BatchNormalization",
                     {in(0), weight(l, "weight"), weight(l, "bias"), weight(l, "running_mean"), weight(l, "running_var")},
                     {out});
      set_float(n, "epsilon", std::get<BatchNormAttrs>(l.attrs).eps);
      keep_rank();
      return;
    }
    case OpKind::ReLU:
      node(l, "Relu", {in(0)}, {out});
      return keep_rank();
    case OpKind::ReLU6: {
      node(l, "Clip", {in(0), constant_floats(out + ".min", {}, {0.0f}), constant_floats(out + ".max", {}, {6.0f})},
           {out});
      return keep_rank();
    }
    case OpKind::Clip: {
      const auto& a = std::get<ClipAttrs>(l.attrs);
      std::vector<std::string> ins{in(0), std::isinf(a.min) ? std::string() : constant_floats(out + ".min", {}, {static_cast<float>(a.min)})};
      if (!std::isinf(a.max)) ins.push_back(constant_floats(out + ".max", {}, {static_cast<float>(a.max)}));
      node(l, "Clip", ins, {out});
      return keep_rank();
    }
    case OpKind::Sigmoid:
      node(l, "Sigmoid", {in(0)}, {out});
      return keep_rank();
    case OpKind::Tanh:
      node(l, "Tanh", {in(0)}, {out});
      return keep_rank();
    case OpKind::Swish:
      node(l, "Sigmoid", {in(0)}, {out + ".sigmoid"});
      node(l, "Mul", {in(0), out + ".sigmoid"}, {out});
      return keep_rank();
    case OpKind::HardSigmoid: {
      const auto& a = std::get<HardSigmoidAttrs>(l.attrs);
      auto& n = node(l, "HardSigmoid", {in(0)}, {out});
      set_float(n, "alpha", a.alpha);
      set_float(n, "beta", a.beta);
      return keep_rank();
    }
    case OpKind::HardSwish: {  // opset 13 has no HardSwish: x * HardSigmoid(x; 1/6, 1/2), as torch writes it
      auto& n = node(l, "HardSigmoid", {in(0)}, {out + ".gate"});
      set_float(n, "alpha", 1.0 / 6.0);
      set_float(n, "beta", 0.5);
      node(l, "Mul", {in(0), out + ".gate"}, {out});
      return keep_rank();
    }
    case OpKind::Gelu: {
      if (std::get<GeluAttrs>(l.attrs).tanh) fail(l, "gelu with approximate: tanh has no opset 13 export here");
      node(l, "Div", {in(0), constant_floats(out + ".sqrt2", {}, {1.41421356f})}, {out + ".div"});
      node(l, "Erf", {out + ".div"}, {out + ".erf"});
      node(l, "Add", {out + ".erf", constant_floats(out + ".one", {}, {1.0f})}, {out + ".add"});
      node(l, "Mul", {in(0), out + ".add"}, {out + ".mul"});
      node(l, "Mul", {out + ".mul", constant_floats(out + ".half", {}, {0.5f})}, {out});
      return keep_rank();
    }
    case OpKind::LayerNorm: {  // over channels: axis 1 of N x C x H x W
      const auto& a = std::get<LayerNormAttrs>(l.attrs);
      const std::string x = as_4d(l.inputs[0]);
      auto& mean = node(l, "ReduceMean", {x}, {out + ".mean"});
      set_ints(mean, "axes", {1});
      node(l, "Sub", {x, out + ".mean"}, {out + ".centred"});
      node(l, "Pow", {out + ".centred", constant_floats(out + ".two", {}, {2.0f})}, {out + ".square"});
      auto& var = node(l, "ReduceMean", {out + ".square"}, {out + ".var"});
      set_ints(var, "axes", {1});
      node(l, "Add", {out + ".var", constant_floats(out + ".eps", {}, {static_cast<float>(a.eps)})}, {out + ".var_eps"});
      node(l, "Sqrt", {out + ".var_eps"}, {out + ".std"});
      const std::string normed = a.affine ? out + ".normed" : out;
      node(l, "Div", {out + ".centred", out + ".std"}, {normed});
      if (a.affine) {
        node(l, "Mul", {normed, per_channel(l, "weight", false)}, {out + ".scaled"});
        node(l, "Add", {out + ".scaled", per_channel(l, "bias", false)}, {out});
      }
      return;
    }
    case OpKind::Scale: {
      const bool flat = flat_[l.inputs[0]];
      const bool bias = std::get<ScaleAttrs>(l.attrs).bias;
      const std::string scaled = bias ? out + ".scaled" : out;
      node(l, "Mul", {in(0), per_channel(l, "weight", flat)}, {scaled});
      if (bias) node(l, "Add", {scaled, per_channel(l, "bias", flat)}, {out});
      return keep_rank();
    }
    case OpKind::Add:
    case OpKind::Multiply: {
      const char* op = l.op == OpKind::Add ? "Add" : "Mul";
      bool all_flat = true;
      for (size_t k = 0; k < l.inputs.size(); ++k) all_flat = all_flat && in_flat(k);
      auto operand = [&](size_t k) { return all_flat ? in(k) : as_4d(l.inputs[k]); };
      std::string acc = operand(0);
      for (size_t k = 1; k < l.inputs.size(); ++k) {
        const std::string next = k + 1 == l.inputs.size() ? out : fmt::format("{}.partial{}", out, k);
        node(l, op, {acc, operand(k)}, {next});
        acc = next;
      }
      flat_[index] = all_flat;
      return;
    }
    case OpKind::Concat: {
      bool all_flat = true;
      for (size_t k = 0; k < l.inputs.size(); ++k) all_flat = all_flat && in_flat(k);
      std::vector<std::string> ins;
      for (size_t k = 0; k < l.inputs.size(); ++k) ins.push_back(all_flat ? in(k) : as_4d(l.inputs[k]));
      set_int(node(l, "Concat", ins, {out}), "axis", 1);
      flat_[index] = all_flat;
      return;
    }
    case OpKind::Crop: {
      const auto& a = std::get<CropAttrs>(l.attrs);
      node(l, "Slice",
           {as_4d(l.inputs[0]), constant_ints(out + ".starts", {a.off_h, a.off_w}),
            constant_ints(out + ".ends", {a.off_h + l.output.h, a.off_w + l.output.w}),
            constant_ints(out + ".axes", {2, 3})},
           {out});
      return;
    }
    case OpKind::Pad: {
      const auto& a = std::get<PadAttrs>(l.attrs);
      node(l, "Pad",
           {as_4d(l.inputs[0]), constant_ints(out + ".pads", {0, 0, a.top, a.left, 0, 0, a.bottom, a.right}),
            constant_floats(out + ".value", {}, {static_cast<float>(a.value)})},
           {out});
      return;
    }
    case OpKind::Upsample: {
      const auto& a = std::get<UpsampleAttrs>(l.attrs);
      std::vector<std::string> ins{as_4d(l.inputs[0]), "", ""};
      if (a.scale_h > 0)
        ins[2] = constant_floats(out + ".scales", {4}, {1.0f, 1.0f, static_cast<float>(a.scale_h), static_cast<float>(a.scale_w)});
      else
        ins.push_back(constant_ints(out + ".sizes", {l.output.n, l.output.c, l.output.h, l.output.w}));
      auto& n = node(l, "Resize", ins, {out});
      if (a.mode == UpsampleMode::Nearest) {
        set_string(n, "mode", "nearest");
        set_string(n, "coordinate_transformation_mode", "asymmetric");
        set_string(n, "nearest_mode", "floor");
      } else {
        set_string(n, "mode", "linear");
        set_string(n, "coordinate_transformation_mode", a.align_corners ? "align_corners" : "pytorch_half_pixel");
      }
      return;
    }
    case OpKind::Flatten:
      if (flat_[l.inputs[0]]) {
        node(l, "Identity", {in(0)}, {out});
      } else {
        set_int(node(l, "Flatten", {in(0)}, {out}), "axis", 1);
      }
      flat_[index] = true;
      return;
    case OpKind::FullyConnected: {
      const auto& a = std::get<FullyConnectedAttrs>(l.attrs);
      std::string x = in(0);
      if (!in_flat(0)) {  // an fc reads C x H x W: torch writes the flatten before its Linear
        x = out + ".flat";
        set_int(node(l, "Flatten", {in(0)}, {x}, "Flatten"), "axis", 1);
      }
      std::vector<std::string> ins{x, weight(l, "weight")};
      if (a.bias) ins.push_back(weight(l, "bias"));
      auto& n = node(l, "Gemm", ins, {out});
      set_int(n, "transB", 1);
      flat_[index] = true;
      return;
    }
    case OpKind::Softmax:
      set_int(node(l, "Softmax", {in(0)}, {out}), "axis", 1);
      return keep_rank();
    case OpKind::Dropout:
      node(l, "Identity", {in(0)}, {out});
      return keep_rank();
    case OpKind::ChannelShuffle: {
      const int64_t groups = std::get<ChannelShuffleAttrs>(l.attrs).groups;
      const Shape& s = l.output;
      const std::string x = as_4d(l.inputs[0]);
      node(l, "Reshape", {x, constant_ints(out + ".grouped_shape", {s.n, groups, s.c / groups, s.h, s.w})},
           {out + ".grouped"});
      set_ints(node(l, "Transpose", {out + ".grouped"}, {out + ".transposed"}), "perm", {0, 2, 1, 3, 4});
      node(l, "Reshape", {out + ".transposed", constant_ints(out + ".shape", {s.n, s.c, s.h, s.w})}, {out});
      return;
    }
    case OpKind::Slice: {
      const auto& a = std::get<SliceAttrs>(l.attrs);
      node(l, "Slice",
           {in(0), constant_ints(out + ".starts", {a.begin}), constant_ints(out + ".ends", {a.end}),
            constant_ints(out + ".axes", {1})},
           {out});
      return keep_rank();
    }
    case OpKind::DeformConv:
      fail(l, "deform_conv has no ONNX operator before opset 19 (archbench exports opset 13)");
    case OpKind::DenseCrf:
      fail(l, "dense_crf has no ONNX operator");
  }
  fail(l, fmt::format("op {} has no ONNX export", op_name(l.op)));
}

std::string Exporter::run() {
  onnx::ModelProto model;
  model.set_ir_version(7);  // what opset 13 models carry (torch 1.13 writes 7)
  model.set_producer_name("archbench");
  model.set_producer_version("0.1.0");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kExportOpset);
  graph_ = model.mutable_graph();
  graph_->set_name(g_.name);
  flat_.assign(g_.layers.size(), false);
  const Layer& input = g_.input();
  set_shape(*graph_->add_input(), input.name, {input.output.n, input.output.c, input.output.h, input.output.w});
  for (size_t k = 1; k < g_.layers.size(); ++k) layer(static_cast<int>(k));
  auto dims_of = [&](int k) {
    const Shape& s = g_.layers[k].output;
    return flat_[k] ? std::vector<int64_t>{s.n, s.c * s.h * s.w} : std::vector<int64_t>{s.n, s.c, s.h, s.w};
  };
  const std::vector<int> outputs = g_.outputs();
  for (size_t k = 1; k < g_.layers.size(); ++k)
    if (std::find(outputs.begin(), outputs.end(), static_cast<int>(k)) == outputs.end())
      set_shape(*graph_->add_value_info(), g_.layers[k].name, dims_of(static_cast<int>(k)));
  for (int k : outputs) set_shape(*graph_->add_output(), g_.layers[k].name, dims_of(k));
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    throw SpecError(SourceLoc{g_.file, 0, 0}, "", "the model is too large for one ONNX file (2 GiB)");
  return bytes;
}

}  // namespace

std::string export_onnx(const Graph& graph, const std::map<std::string, ImportedArray>& weights) {
  return Exporter(graph, weights, false).run();
}

void check_exportable(const Graph& graph) {
  const std::map<std::string, ImportedArray> none;
  (void)Exporter(graph, none, true).run();
}

}  // namespace archbench
