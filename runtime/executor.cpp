#include "runtime/executor.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <limits>

#include "common/memory.h"
#include "runtime/dense_crf.h"
#include "runtime/kernels.h"
#include "runtime/kernels_misc.h"
#include "runtime/kernels_pool.h"

namespace archbench {

namespace k = kernels;

namespace {

// A GPU set's status where it can run here; else RuntimeError "target cuda cannot run here: ...".
KernelSetStatus usable_here(KernelSet set) {
  KernelSetStatus status = probe_kernel_set(set);
  if (!status.usable)
    throw RuntimeError(fmt::format("target {} cannot run here: {}", kernel_set_name(set), status.reason));
  return status;
}

// Dropout, and flatten where the memory plan makes it a view (analysis.h: flatten_is_view).
bool is_view(const Graph& g, int layer) {
  OpKind op = g.layers[static_cast<size_t>(layer)].op;
  return op == OpKind::Dropout || (op == OpKind::Flatten && flatten_is_view(g, layer));
}

// The activations the scale-shift kernel has a variant for without attributes: a batch-norm
// fuses them.
bool is_activation(OpKind op) {
  return op == OpKind::ReLU || op == OpKind::ReLU6 || op == OpKind::Sigmoid || op == OpKind::Swish ||
         op == OpKind::Tanh || op == OpKind::HardSwish;
}

k::Activation activation_of(OpKind op) {
  switch (op) {
    case OpKind::ReLU:
      return k::Activation::ReLU;
    case OpKind::ReLU6:
      return k::Activation::ReLU6;
    case OpKind::Swish:
      return k::Activation::Swish;
    default:
      return k::Activation::None;
  }
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

template <typename Schedule>
Schedule parse_schedule(const std::vector<std::pair<std::string, Schedule>>& known, const char* family,
                        const std::string& name) {
  std::vector<std::string> names;
  for (const auto& [n, s] : known) {
    if (n == name) return s;
    names.push_back(n);
  }
  if (std::string absent = conv_schedule_not_compiled(name); !absent.empty() && std::string(family) == "conv")
    throw RuntimeError(absent);
  throw RuntimeError(fmt::format("unknown {} schedule '{}' (one of: {})", family, name, fmt::join(names, ", ")));
}

template <typename Schedule>
std::vector<std::string> names_of(const std::vector<std::pair<std::string, Schedule>>& known) {
  std::vector<std::string> names;
  for (const auto& [n, s] : known) names.push_back(n);
  return names;
}

}  // namespace

std::vector<std::string> conv_schedule_names() { return names_of(k::conv_schedules()); }

std::string conv_schedule_not_compiled(const std::string& name) {
  for (const auto& [n, how] : k::absent_conv_schedules())
    if (n == name) return fmt::format("conv schedule '{}' is not compiled into this build (configure with {})", n, how);
  return "";
}
std::vector<std::string> depthwise_schedule_names() { return names_of(k::depthwise_schedules()); }

struct Executor::Impl {
  Graph graph;
  ExecutorOptions options;
  MemoryPlan plan;
  std::vector<Step> steps;
  std::vector<std::function<void()>> calls;  // parallel to steps
  std::unique_ptr<float, AlignedFree> arena;
  k::Buffer arena_buffer;        // the arena as a 1-D buffer; on a GPU set with its device allocation
  std::vector<k::Buffer> views;  // per layer: its output as a (c, x, y, n) view into the arena
  // OpenCL: layers whose arena view starts off the device's alignment (a concat's slice at a
  // channel offset) cannot be kernel arguments; their view is a buffer of their own, and the
  // steps writing them copy it into the arena view kept here (by physical layer).
  std::map<int, k::Buffer> published;
  std::vector<int> physical;  // per layer: the layer whose view holds its data (views alias)
  std::vector<std::vector<int>> users;
  k::ConvSchedule conv_schedule_ = k::kDefaultConvSchedule;
  k::DepthwiseSchedule depthwise_schedule_ = k::DepthwiseSchedule::Default;
  // Per step (conv steps only): the schedule asked for, and the one that ran last (run_conv
  // falls back where a schedule's preconditions do not hold). Read by the step's call at each
  // run, so a tuner can switch a step's schedule without preparing weights again.
  struct Choice {
    k::ConvSchedule conv = k::kDefaultConvSchedule;
    k::DepthwiseSchedule depthwise = k::DepthwiseSchedule::Default;
    std::string ran;
  };
  std::vector<Choice> choices;  // parallel to steps
  bool has_run = false;
  Executor::Transfers transfers;
  // Shared by every conv step: the steps run one at a time.
  std::shared_ptr<k::ConvScratch> conv_scratch = std::make_shared<k::ConvScratch>();

  // The arena's alignment: 64 bytes on the cpu set; a GPU set's base address alignment (so an
  // OpenCL sub-buffer may start at every buffer of the plan).
  static int64_t arena_alignment(KernelSet set) {
    if (set == KernelSet::Cpu) return 64;
    KernelSetStatus s = probe_kernel_set(set);
    return s.usable ? std::max<int64_t>(64, s.base_alignment) : 64;
  }

  // `consume`: the caller's weights (the same map), each step's tensors freed once prepared.
  Impl(const Graph& g, const Weights& weights, Weights* consume, const ExecutorOptions& o)
      : graph(g), options(o), plan(plan_memory(g, arena_alignment(o.target))) {
    if (o.target != KernelSet::Cpu) usable_here(o.target);
    k::KernelSetScope scope(o.target);  // weights are prepared (and uploaded) for it
    for (const auto& [layer, schedule] : o.layer_schedules)
      if (int i = g.find(layer); i < 0 || g.layers[static_cast<size_t>(i)].op != OpKind::Conv)
        throw RuntimeError(
            fmt::format("schedule '{}' given for '{}', which is not a conv layer of {}", schedule, layer, g.name));
    conv_schedule_ = parse_schedule(k::conv_schedules(), "conv", o.conv_schedule);
    depthwise_schedule_ = parse_schedule(k::depthwise_schedules(), "depthwise", o.depthwise_schedule);
    users = graph.consumers();
    check_weights(graph, weights, "weights");
    place_activations();
    plan_steps(weights, consume);
    if (o.schedule_for)
      for (size_t s = 0; s < steps.size(); ++s)
        if (!steps[s].family.empty())
          if (std::optional<std::string> name = o.schedule_for(step_signature(graph, steps[s]), steps[s].family))
            set_step_schedule(s, *name);
  }
  void set_step_schedule(size_t step, const std::string& schedule);

  // -- memory -------------------------------------------------------------------------------
  void place_activations() {
    size_t n = graph.layers.size();
    physical.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const Layer& l = graph.layers[i];
      physical[i] =
          is_view(graph, static_cast<int>(i)) ? physical[static_cast<size_t>(l.inputs[0])] : static_cast<int>(i);
    }
    // Channel offset of each layer inside its buffer: producers of a zero-copy concat write at
    // their place in the concat, and so do the in-place layers before them.
    std::vector<int64_t> offset(n, 0);
    for (size_t i = n; i-- > 0;) {
      const Layer& l = graph.layers[i];
      if (l.op != OpKind::Concat) continue;
      int64_t at = offset[i];
      for (int j : l.inputs) {
        if (plan.buffer_of[static_cast<size_t>(j)] == plan.buffer_of[i])
          for (int m = j; m >= 0; m = plan.overwrites[static_cast<size_t>(m)])  // the chain filling it
            offset[static_cast<size_t>(m)] = at;
        at += graph.layers[static_cast<size_t>(j)].output.c;
      }
    }
    // A buffer's channel count is the widest tensor placed in it.
    std::vector<int64_t> channels(plan.buffer_bytes.size(), 0);
    for (size_t i = 0; i < n; ++i) {
      if (physical[i] != static_cast<int>(i)) continue;
      size_t b = static_cast<size_t>(plan.buffer_of[i]);
      channels[b] = std::max(channels[b], offset[i] + graph.layers[i].output.c);
    }
    int64_t bytes = std::max<int64_t>(plan.arena_bytes, 64);
    const int64_t elements = (bytes + 63) / 64 * 64 / kBytesPerElement;
    arena.reset(static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(elements * kBytesPerElement))));
    if (!arena) throw RuntimeError(fmt::format("cannot allocate the {}-byte activation arena", bytes));
    arena_buffer = k::Buffer::with_device(arena.get(), k::to_int(elements));
    views.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const Layer& l = graph.layers[static_cast<size_t>(physical[i])];
      size_t b = static_cast<size_t>(plan.buffer_of[static_cast<size_t>(physical[i])]);
      const Shape& s = l.output;
      int64_t c_total = channels[b];
      halide_dimension_t dims[4] = {
          {0, k::to_int(s.c), 1, 0},
          {0, k::to_int(s.w), k::to_int(c_total), 0},
          {0, k::to_int(s.h), k::to_int(c_total * s.w), 0},
          {0, k::to_int(s.n), k::to_int(c_total * s.w * s.h), 0},
      };
      int64_t at = plan.offset[b] / kBytesPerElement + offset[static_cast<size_t>(physical[i])];
      views[i] = arena_buffer.view(at, dims);
      if (physical[i] == static_cast<int>(i) && !views[i].launchable()) {
        published.emplace(static_cast<int>(i), views[i]);
        views[i] = views[i].launchable_copy(false);
      }
    }
    for (size_t i = 0; i < n; ++i)
      if (physical[i] != static_cast<int>(i) && published.count(physical[i]))
        views[i] = views[static_cast<size_t>(physical[i])];
  }

  // -- plan -----------------------------------------------------------------------------------
  // The only consumer of `i`, if it has exactly one and `i` is not a network output.
  int sole_user(int i) const {
    const auto& u = users[static_cast<size_t>(i)];
    return u.size() == 1 ? u[0] : -1;
  }
  const Layer& at(int i) const { return graph.layers[static_cast<size_t>(i)]; }

  void add_step(std::vector<int> layers, std::string kernel, std::function<void()> call) {
    const int last = physical[static_cast<size_t>(layers.back())];
    if (auto it = published.find(last); it != published.end())
      call = [call = std::move(call), this, last, &arena_view = it->second] {
        call();
        arena_view.copy_contents_from(views[static_cast<size_t>(last)]);
      };
    steps.push_back({std::move(layers), std::move(kernel), ""});
    calls.push_back(std::move(call));
    choices.emplace_back();
  }

  const Tensor* weight(const Weights& w, const Layer& l, const char* what) {
    auto it = w.find(l.name + "." + what);
    return it == w.end() ? nullptr : &it->second;
  }

  // A batch-norm that is the sole reader of layer `last` (a conv's or deformable conv's output)
  // is folded into it: it joins `group` and `name`, and `last` and `next` move past it.
  std::optional<k::BatchNormParams> absorb_batchnorm(const Weights& w, std::vector<int>& group, std::string& name,
                                                     int& last, int& next) {
    next = sole_user(last);
    if (next < 0 || at(next).op != OpKind::BatchNorm) return std::nullopt;
    const Layer& b = at(next);
    group.push_back(next);
    name += "+bn";
    last = next;
    next = sole_user(last);
    return k::BatchNormParams{weight(w, b, "weight"), weight(w, b, "bias"), weight(w, b, "running_mean"),
                              weight(w, b, "running_var"), std::get<BatchNormAttrs>(b.attrs).eps};
  }

  void plan_conv(int i, const Weights& w) {
    const Layer& conv = at(i);
    const auto& attrs = std::get<ConvAttrs>(conv.attrs);
    std::vector<int> group{i};
    std::string name = "conv";
    int last = i, next = -1;
    const std::optional<k::BatchNormParams> bn = absorb_batchnorm(w, group, name, last, next);
    auto prepared = std::make_shared<k::PreparedConv>(
        k::prepare_conv(attrs, *weight(w, conv, "weight"), attrs.bias ? weight(w, conv, "bias") : nullptr, bn));
    prepared->scratch = conv_scratch;
    int skip = -1;
    // conv + add + relu: the add's other input is computed already (it runs earlier).
    // Only a skip computed before the conv: running the conv later (at the add's place) would
    // outlive the memory plan's lifetime of the conv's input. ResNet's projection shortcut,
    // written after the main path, gets a separate add+relu step.
    if (!prepared->depthwise && next >= 0 && at(next).op == OpKind::Add && at(next).inputs.size() == 2) {
      int after = sole_user(next);
      const Layer& add = at(next);
      int other = add.inputs[0] == last ? add.inputs[1] : add.inputs[0];
      if (after >= 0 && at(after).op == OpKind::ReLU && other < i) {
        skip = other;
        group.push_back(next);
        group.push_back(after);
        name += "+add+relu";
        last = after;
        next = -1;
      }
    }
    k::Activation act = k::Activation::None;
    if (skip < 0 && next >= 0 && activation_of(at(next).op) != k::Activation::None) {
      act = activation_of(at(next).op);
      group.push_back(next);
      name += '+';
      name += op_name(at(next).op);
      last = next;
    }
    if (skip >= 0) act = k::Activation::ReLU;
    for (int l : group) done_[static_cast<size_t>(l)] = true;
    k::ConvSchedule schedule = conv_schedule_;
    k::DepthwiseSchedule depthwise = depthwise_schedule_;
    if (auto it = options.layer_schedules.find(conv.name); it != options.layer_schedules.end()) {
      try {
        if (prepared->depthwise)
          depthwise = parse_schedule(k::depthwise_schedules(), "depthwise", it->second);
        else
          schedule = parse_schedule(k::conv_schedules(), "conv", it->second);
      } catch (const RuntimeError& e) {
        throw RuntimeError(fmt::format("layer '{}': {}", conv.name, e.what()));
      }
    }
    int in = conv.inputs[0];
    size_t s = steps.size();
    add_step(group, prepared->depthwise ? fmt::format("depthwise{}", name.substr(4)) : name,
             [this, prepared, in, skip, last, act, s] {
               k::Buffer out = views[static_cast<size_t>(last)];
               Choice& c = choices[s];
               c.ran =
                   k::run_conv(*prepared, views[static_cast<size_t>(in)],
                               skip >= 0 ? &views[static_cast<size_t>(skip)] : nullptr, out, act, c.conv, c.depthwise);
             });
    steps[s].family = prepared->depthwise ? "depthwise" : "conv";
    choices[s].conv = schedule;
    choices[s].depthwise = depthwise;
  }

  void plan_steps(const Weights& w, Weights* consume) {
    done_.assign(graph.layers.size(), false);
    done_[0] = true;
    for (size_t idx = 1; idx < graph.layers.size(); ++idx) {
      int i = static_cast<int>(idx);
      if (done_[idx]) continue;
      done_[idx] = true;
      size_t first = steps.size();
      if (at(i).op == OpKind::Conv)
        plan_conv(i, w);
      else
        plan_single(i, w);
      // Every kernel copies what it needs: the step's own tensors can go now, so the process
      // holds both forms of at most one step's weights at a time.
      if (consume)
        for (size_t s = first; s < steps.size(); ++s)
          for (int l : steps[s].layers) {
            // The layer's "<layer>.<param>" keys (not a layer "<layer>.x"'s "<layer>.x.weight").
            const std::string prefix = at(l).name + ".";
            for (auto it = consume->lower_bound(prefix); it != consume->end() && it->first.starts_with(prefix);)
              it = it->first.find('.', prefix.size()) == std::string::npos ? consume->erase(it) : std::next(it);
          }
    }
    if (consume) consume->clear();  // and what the graph does not use (num_batches_tracked, ...)
  }
  std::vector<bool> done_;  // layers already covered by a step

  void plan_single(int i, const Weights& w);

  std::map<std::string, Tensor> run(const Tensor& input, std::vector<double>* seconds) {
    if (input.nchw() != graph.input().output)
      throw RuntimeError(fmt::format("the input has shape {}x{}x{}x{}, the network takes {}x{}x{}x{}", input.nchw().n,
                                     input.nchw().c, input.nchw().h, input.nchw().w, graph.input().output.n,
                                     graph.input().output.c, graph.input().output.h, graph.input().output.w));
    k::KernelSetScope scope(options.target);
    k::set_threads(options.threads);
    k::from_nchw(input, views[0]);
    using clock = std::chrono::steady_clock;
    auto since = [](clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); };
    auto t0 = clock::now();
    views[0].upload();  // a GPU set: the input to the device
    arena_buffer.sync();
    transfers.upload_seconds = options.target == KernelSet::Cpu ? 0 : since(t0);
    has_run = true;
    if (seconds) seconds->assign(calls.size(), 0.0);
    const clock::time_point compute_start = clock::now();
    for (size_t s = 0; s < calls.size(); ++s) {
      t0 = clock::now();
      calls[s]();
      if (seconds) {
        arena_buffer.sync();  // a GPU step's time ends when its kernels have
        (*seconds)[s] = since(t0);
      }
    }
    arena_buffer.sync();
    transfers.compute_seconds = since(compute_start);
    t0 = clock::now();
    if (options.target != KernelSet::Cpu)
      for (int o : graph.outputs()) {
        views[static_cast<size_t>(o)].download();
      }
    transfers.download_seconds = options.target == KernelSet::Cpu ? 0 : since(t0);
    std::map<std::string, Tensor> out;
    for (int o : graph.outputs()) {
      Tensor t = k::to_nchw(views[static_cast<size_t>(o)]);
      const Shape& s = at(o).output;
      t.shape = {s.n, s.c, s.h, s.w};  // a flatten's data is its input's, in NCHW order
      out.emplace(at(o).name, std::move(t));
    }
    return out;
  }
};

void Executor::Impl::plan_single(int i, const Weights& w) {
  const Layer& l = at(i);
  auto v = [this](int layer) -> k::Buffer& { return views[static_cast<size_t>(layer)]; };
  const int in = l.inputs[0];
  switch (l.op) {
    case OpKind::Flatten:
    case OpKind::Dropout:
      if (is_view(graph, i)) {
        add_step({i}, "view", [] {});  // aliases its input (physical[])
        return;
      }
      {
        // A flatten into NCHW order: the (C*H*W, 1, 1, N) output seen as (C, W, H, N) with
        // the strides of channel-major order, and the input copied into that view.
        const Shape& s = at(in).output;
        k::Buffer to = v(i);
        halide_buffer_t* raw = to.raw_buffer();
        raw->dim[0] = {0, k::to_int(s.c), k::to_int(s.h * s.w), 0};
        raw->dim[1] = {0, k::to_int(s.w), 1, 0};
        raw->dim[2] = {0, k::to_int(s.h), k::to_int(s.w), 0};
        add_step({i}, "flatten (copy)", [v, in, to]() mutable { to.copy_contents_from(v(in)); });
      }
      return;
    case OpKind::Concat: {
      // Inputs the memory plan placed in the concat's buffer were written there by their
      // producers; the others are copied into their channel range.
      std::vector<std::pair<int, int64_t>> copies;
      int64_t offset = 0;
      for (int j : l.inputs) {
        if (plan.buffer_of[static_cast<size_t>(j)] != plan.buffer_of[static_cast<size_t>(i)])
          copies.emplace_back(j, offset);
        offset += at(j).output.c;
      }
      // (A concat with a view of its own first takes what its producers wrote into the arena.)
      const k::Buffer* arena_view = published.count(i) ? &published.at(i) : nullptr;
      add_step({i}, copies.empty() ? "concat (in place)" : "concat (copy)", [v, i, copies, arena_view] {
        if (arena_view) v(i).copy_contents_from(*arena_view);
        for (const auto& [j, off] : copies) {
          k::Buffer dst = v(i).cropped(0, k::to_int(off), v(j).dim(0).extent());
          k::run_copy(v(j), dst);
        }
      });
      return;
    }
    case OpKind::Crop: {
      const auto a = std::get<CropAttrs>(l.attrs);
      add_step({i}, "crop", [v, i, in, a] { k::run_crop(a, v(in), v(i)); });
      return;
    }
    case OpKind::Pad: {
      const auto a = std::get<PadAttrs>(l.attrs);
      add_step({i}, "pad", [v, i, in, a] { k::run_pad(a, v(in), v(i)); });
      return;
    }
    case OpKind::Upsample: {
      const auto a = std::get<UpsampleAttrs>(l.attrs);
      add_step({i}, a.mode == UpsampleMode::Bilinear ? "upsample bilinear" : "upsample nearest",
               [v, i, in, a] { k::run_upsample(a, v(in), v(i)); });
      return;
    }
    case OpKind::MaxPool:
    case OpKind::AvgPool: {
      const auto a = std::get<PoolAttrs>(l.attrs);
      bool max = l.op == OpKind::MaxPool;
      add_step({i}, op_name(l.op), [v, i, in, a, max] { k::run_pool(a, max, v(in), v(i)); });
      return;
    }
    case OpKind::GlobalAvgPool:
      add_step({i}, "global_avgpool", [v, i, in] { k::run_global_avgpool(v(in), v(i)); });
      return;
    case OpKind::AdaptiveAvgPool:
      add_step({i}, "adaptive_avgpool", [v, i, in] { k::run_adaptive_avgpool(v(in), v(i)); });
      return;
    case OpKind::LRN: {
      const auto a = std::get<LRNAttrs>(l.attrs);
      add_step({i}, "lrn", [v, i, in, a] { k::run_lrn(a, v(in), v(i)); });
      return;
    }
    case OpKind::Softmax:
      add_step({i}, "softmax", [v, i, in] { k::run_softmax(v(in), v(i)); });
      return;
    case OpKind::ReLU:
    case OpKind::ReLU6:
    case OpKind::Sigmoid:
    case OpKind::Swish:
    case OpKind::Tanh:
    case OpKind::HardSwish: {
      OpKind op = l.op;
      add_step({i}, op_name(op), [v, i, in, op] { k::run_activation(op, v(in), v(i)); });
      return;
    }
    // The activations with attributes: standalone steps (no conv or batch-norm fuses them).
    case OpKind::HardSigmoid: {
      const auto a = std::get<HardSigmoidAttrs>(l.attrs);
      add_step({i}, "hardsigmoid", [v, i, in, a] { k::run_hardsigmoid(a, v(in), v(i)); });
      return;
    }
    case OpKind::Gelu: {
      const auto a = std::get<GeluAttrs>(l.attrs);
      add_step({i}, a.tanh ? "gelu tanh" : "gelu", [v, i, in, a] { k::run_gelu(a, v(in), v(i)); });
      return;
    }
    case OpKind::Clip: {
      const auto a = std::get<ClipAttrs>(l.attrs);
      add_step({i}, "clip", [v, i, in, a] { k::run_clip(a, v(in), v(i)); });
      return;
    }
    case OpKind::Scale: {
      auto ss = std::make_shared<k::PreparedScaleShift>(k::prepare_scale(
          *weight(w, l, "weight"), std::get<ScaleAttrs>(l.attrs).bias ? weight(w, l, "bias") : nullptr));
      add_step({i}, "scale", [v, ss, in, i] { k::run_scale_shift(*ss, v(in), v(i)); });
      return;
    }
    case OpKind::LayerNorm: {
      const auto& a = std::get<LayerNormAttrs>(l.attrs);
      auto norm = std::make_shared<k::PreparedLayerNorm>(k::prepare_layer_norm(
          a, a.affine ? weight(w, l, "weight") : nullptr, a.affine ? weight(w, l, "bias") : nullptr, l.output.c));
      add_step({i}, "layer_norm", [v, norm, in, i] { k::run_layer_norm(*norm, v(in), v(i)); });
      return;
    }
    case OpKind::ChannelShuffle: {
      const auto a = std::get<ChannelShuffleAttrs>(l.attrs);
      add_step({i}, "channel_shuffle", [v, i, in, a] { k::run_channel_shuffle(a, v(in), v(i)); });
      return;
    }
    case OpKind::Slice: {
      const auto a = std::get<SliceAttrs>(l.attrs);
      add_step({i}, "slice", [v, i, in, a] { k::run_slice(a, v(in), v(i)); });
      return;
    }
    case OpKind::BatchNorm: {
      // A batch-norm no conv absorbed (DenseNet's pre-activation): scale + shift, with the
      // activation that follows it fused.
      auto ss = std::make_shared<k::PreparedScaleShift>(
          k::prepare_batchnorm(*weight(w, l, "weight"), *weight(w, l, "bias"), *weight(w, l, "running_mean"),
                               *weight(w, l, "running_var"), std::get<BatchNormAttrs>(l.attrs).eps));
      int next = sole_user(i);
      if (next >= 0 && is_activation(at(next).op)) {
        OpKind op = at(next).op;
        done_[static_cast<size_t>(next)] = true;
        add_step({i, next}, "batchnorm+" + op_name(op),
                 [v, ss, in, next, op] { k::run_scale_shift(*ss, v(in), v(next), op); });
      } else {
        add_step({i}, "batchnorm", [v, ss, in, i] { k::run_scale_shift(*ss, v(in), v(i)); });
      }
      return;
    }
    case OpKind::Add:
    case OpKind::Multiply: {
      bool add = l.op == OpKind::Add;
      int next = add ? sole_user(i) : -1;
      bool relu = next >= 0 && at(next).op == OpKind::ReLU;
      int last = relu ? next : i;
      std::vector<int> inputs = l.inputs;
      // The first call writes the output before the later terms are read: where the output
      // shares memory with a later term (the plan computes in place into the input that dies
      // last), that term goes first, read by the first call before it is overwritten.
      for (size_t k = 2; k < inputs.size(); ++k)
        if (v(inputs[k]).data() == v(last).data()) std::swap(inputs[0], inputs[k]);
      if (relu) done_[static_cast<size_t>(next)] = true;
      std::vector<int> group{i};
      if (relu) group.push_back(next);
      add_step(group, add ? (relu ? "add+relu" : "add") : "multiply", [v, inputs, last, add, relu] {
        // n inputs: the first two into the output, then each further one into it in place.
        for (size_t k = 1; k < inputs.size(); ++k) {
          const k::Buffer& a = k == 1 ? v(inputs[0]) : v(last);
          bool last_term = k + 1 == inputs.size();
          if (add)
            k::run_add(a, v(inputs[k]), v(last), relu && last_term);
          else
            k::run_multiply(a, v(inputs[k]), v(last));
        }
      });
      return;
    }
    case OpKind::FullyConnected: {
      const auto& a = std::get<FullyConnectedAttrs>(l.attrs);
      // The fc reads its input's data where it lies: a flatten's input, in (c, x, y) order.
      auto fc = std::make_shared<k::PreparedFC>(k::prepare_fc(*weight(w, l, "weight"),
                                                              a.bias ? weight(w, l, "bias") : nullptr,
                                                              at(physical[static_cast<size_t>(in)]).output));
      int next = sole_user(i);
      bool relu = next >= 0 && at(next).op == OpKind::ReLU;
      if (relu) done_[static_cast<size_t>(next)] = true;
      int last = relu ? next : i;
      add_step(relu ? std::vector<int>{i, next} : std::vector<int>{i}, relu ? "fc+relu" : "fc",
               [v, fc, in, last, relu] { k::run_fc(*fc, v(in), v(last), relu); });
      return;
    }
    case OpKind::DeformConv: {
      // deform_conv [+ batchnorm, folded] [+ relu], as a conv's step.
      const auto& a = std::get<DeformConvAttrs>(l.attrs);
      std::vector<int> group{i};
      std::string name = "deform_conv";
      int last = i, next = -1;
      const std::optional<k::BatchNormParams> bn = absorb_batchnorm(w, group, name, last, next);
      const bool relu = next >= 0 && at(next).op == OpKind::ReLU;
      if (relu) {
        group.push_back(next);
        name += "+relu";
        last = next;
      }
      for (int j : group) done_[static_cast<size_t>(j)] = true;
      const bool has_mask = l.inputs.size() == 3;
      auto d = std::make_shared<k::PreparedDeform>(k::prepare_deform_conv(
          a, *weight(w, l, "weight"), a.bias ? weight(w, l, "bias") : nullptr, bn, has_mask || a.sigmoid, l.output));
      const int off = l.inputs[1], mask = has_mask ? l.inputs[2] : -1;
      size_t s = steps.size();
      add_step(group, name, [this, v, d, in, off, mask, last, relu, s] {
        choices[s].ran = k::run_deform_conv(*d, v(in), v(off), mask >= 0 ? &v(mask) : nullptr, v(last), relu);
      });
      return;
    }
    case OpKind::DenseCrf: {
      // On the host, by the permutohedral lattice (runtime/dense_crf.h) with the cpu set's
      // Halide kernel for the mean-field update, on the kernel threads; a GPU set's tensors are
      // copied down and the result up.
      const DenseCrfParams params = dense_crf_params(std::get<DenseCrfAttrs>(l.attrs));
      const int image = l.inputs[1];
      const Shape shape = l.output;
      const int threads = options.threads;
      const size_t step = steps.size();
      add_step({i}, "dense_crf", [this, v, in, image, i, params, shape, threads, step] {
        k::Buffer scores = v(in), rgb = v(image), out = v(i);
        scores.download();
        rgb.download();
        const Tensor s = k::to_nchw(scores), im = k::to_nchw(rgb);
        Tensor q(shape);
        LatticeStats stats;
        try {
          q.data = dense_crf_lattice(s.data.data(), im.data.data(), shape.n, shape.c, shape.h, shape.w, params, threads,
                                     &stats, k::crf_update_kernel());
        } catch (const std::invalid_argument& e) {
          throw RuntimeError(e.what());
        }
        // What the run measured, where a conv step names its schedule: the lattices' sizes
        // (the analysis can only bound them).
        choices[step].ran = fmt::format("lattice {}+{}", stats.points_gaussian, stats.points_bilateral);
        k::from_nchw(q, out);
        out.host_written();
        out.upload();
      });
      return;
    }
    case OpKind::ConvTranspose: {
      const auto& a = std::get<ConvTransposeAttrs>(l.attrs);
      auto d = std::make_shared<k::PreparedDeconv>(
          k::prepare_conv_transpose(a, *weight(w, l, "weight"), a.bias ? weight(w, l, "bias") : nullptr));
      add_step({i}, "conv_transpose", [v, d, in, i] { k::run_conv_transpose(*d, v(in), v(i)); });
      return;
    }
    case OpKind::Conv:
    case OpKind::Input:
      break;
  }
  throw RuntimeError(fmt::format("layer '{}': no Halide kernel for op {}", l.name, op_name(l.op)));
}

void check_memory(const Graph& g, MemoryUse use, KernelSet target) {
  const NetworkAnalysis a = analyse(g);
  const bool reference = use == MemoryUse::Reference;
  const int64_t activations = reference ? a.totals.activation_bytes : a.totals.arena_bytes;
  int64_t largest = 0;
  for (const LayerAnalysis& l : a.layers) largest = std::max(largest, l.cost.params * kBytesPerElement);
  const int64_t weights = a.totals.param_bytes + (reference ? 0 : largest);
  auto total = [](std::initializer_list<int64_t> terms) {
    int64_t sum = 0;  // each term fits 64 bits (analyse checks); their sum may not
    for (int64_t term : terms)
      if (__builtin_add_overflow(sum, term, &sum)) return std::numeric_limits<int64_t>::max();
    return sum;
  };
  const Shape& in = g.input().output;
  // A GPU set holds the arena and the prepared weights on the device as well.
  if (!reference && target != KernelSet::Cpu) {
    const KernelSetStatus device = usable_here(target);  // that first, where it cannot run
    const int64_t on_device = total({a.totals.arena_bytes, a.totals.param_bytes});
    if (device.memory_bytes > 0 && on_device > device.memory_bytes)
      throw RuntimeError(fmt::format(
          "cannot allocate {} for {} at {}x{}x{}x{} on the {} device ({}): the activation arena {}, the weights {}; "
          "the device has {}",
          bytes_text(on_device), g.name, in.n, in.c, in.h, in.w, kernel_set_name(target), device.device,
          bytes_text(a.totals.arena_bytes), bytes_text(a.totals.param_bytes), bytes_text(device.memory_bytes)));
  }
  const int64_t need = total({a.totals.input_bytes, activations, weights});
  const bool timed = use == MemoryUse::Timed;
  int64_t have = available_memory_bytes(!timed);
  if (timed) have = have / 10 * 9;
  if (have <= 0 || need <= have) return;
  throw RuntimeError(fmt::format(
      "cannot allocate {} for {} at {}x{}x{}x{}: the input {}, {} {}, the weights {}{}; {} of memory available{}",
      bytes_text(need), g.name, in.n, in.c, in.h, in.w, bytes_text(a.totals.input_bytes),
      reference ? "every layer's output" : "the activation arena", bytes_text(activations), bytes_text(weights),
      reference ? "" : " (with the largest layer's twice, as loaded and as prepared)", bytes_text(have),
      timed ? " to a timed run (90 % of it, swap left out)" : ""));
}

Executor::Executor(const Graph& graph, const Weights& weights, const ExecutorOptions& options)
    : impl_(std::make_unique<Impl>(graph, weights, nullptr, options)) {}
Executor::Executor(const Graph& graph, Weights&& weights, const ExecutorOptions& options) {
  Weights owned = std::move(weights);  // freed step by step, and wholly if preparation throws
  impl_ = std::make_unique<Impl>(graph, owned, &owned, options);
}
Executor::~Executor() = default;
std::map<std::string, Tensor> Executor::run(const Tensor& input) { return impl_->run(input, nullptr); }
std::map<std::string, Tensor> Executor::run(const Tensor& input, std::vector<double>& step_seconds) {
  return impl_->run(input, &step_seconds);
}
const std::vector<Step>& Executor::steps() const { return impl_->steps; }

void Executor::set_step_schedule(size_t step, const std::string& schedule) { impl_->set_step_schedule(step, schedule); }

void Executor::Impl::set_step_schedule(size_t step, const std::string& schedule) {
  if (step >= steps.size()) throw RuntimeError(fmt::format("no step {}", step));
  const Step& s = steps[step];
  const std::string& layer = graph.layers[static_cast<size_t>(s.layers.front())].name;
  try {
    if (s.family == "conv")
      choices[step].conv = parse_schedule(k::conv_schedules(), "conv", schedule);
    else if (s.family == "depthwise")
      choices[step].depthwise = parse_schedule(k::depthwise_schedules(), "depthwise", schedule);
    else
      throw RuntimeError(fmt::format("step '{}' ({}) has no schedule choice", layer, s.kernel));
  } catch (const RuntimeError& e) {
    throw RuntimeError(fmt::format("layer '{}': {}", layer, e.what()));
  }
}

const std::string& Executor::step_schedule_ran(size_t step) const { return impl_->choices.at(step).ran; }

std::vector<double> Executor::time_step(size_t step, int repetitions) {
  if (!impl_->has_run) throw RuntimeError("time_step: run the network once first (the step reads its inputs)");
  k::KernelSetScope scope(impl_->options.target);
  k::set_threads(impl_->options.threads);
  std::vector<double> seconds;
  for (int r = 0; r < repetitions; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    impl_->calls.at(step)();
    impl_->arena_buffer.sync();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return seconds;
}

std::string step_signature(const Graph& graph, const Step& step) {
  const Layer& first = graph.layers[static_cast<size_t>(step.layers.front())];
  const Layer& last = graph.layers[static_cast<size_t>(step.layers.back())];
  const Shape& in = graph.layers[static_cast<size_t>(first.inputs.at(0))].output;
  const Shape& out = last.output;
  std::string sig =
      fmt::format("{} in {}x{}x{}x{} out {}x{}x{}x{}", step.kernel, in.n, in.c, in.h, in.w, out.n, out.c, out.h, out.w);
  if (const auto* a = std::get_if<ConvAttrs>(&first.attrs)) {
    const Window& w = a->win;
    sig += fmt::format(" k{}x{} s{}x{} d{}x{} p{},{},{},{} g{}", w.kh, w.kw, w.sh, w.sw, w.dh, w.dw, w.pad_top,
                       w.pad_left, w.pad_bottom, w.pad_right, a->groups);
  }
  return sig;
}
const MemoryPlan& Executor::memory_plan() const { return impl_->plan; }
const Executor::Transfers& Executor::last_transfers() const { return impl_->transfers; }
KernelSet Executor::target() const { return impl_->options.target; }
int64_t Executor::arena_bytes() const { return impl_->plan.arena_bytes; }
int64_t Executor::scratch_bytes() const { return impl_->conv_scratch->bytes(); }

}  // namespace archbench
