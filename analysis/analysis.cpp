#include "analysis/analysis.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace archbench {

namespace {

AxisField through(const AxisField& in, const AxisMap& m) {
  return {in.size + m.span * in.stride, in.stride * m.scale, in.padding - m.offset * in.stride};
}

// Hull of several fields at x = 0 (see analysis.h).
AxisField hull(const std::vector<AxisField>& fields, const AxisField& stride_from) {
  Rational pad = fields.front().padding;
  for (const AxisField& f : fields) pad = std::max(pad, f.padding);
  Rational reach = fields.front().size - fields.front().padding;
  for (const AxisField& f : fields) reach = std::max(reach, f.size - f.padding);
  return {reach + pad, stride_from.stride, pad};
}

bool is_elementwise(OpKind op) {
  switch (op) {
    case OpKind::BatchNorm:
    case OpKind::ReLU:
    case OpKind::ReLU6:
    case OpKind::Sigmoid:
    case OpKind::Swish:
    case OpKind::Tanh:
    case OpKind::HardSwish:
    case OpKind::HardSigmoid:
    case OpKind::Gelu:
    case OpKind::Clip:
    case OpKind::Scale:
    case OpKind::LayerNorm:  // per position: its kernel reads the position's channels before writing them
    case OpKind::Add:
    case OpKind::Multiply:
      return true;
    default:
      return false;
  }
}

}  // namespace

namespace {

// One layer's field from its inputs' (see analysis.h).
ReceptiveField receptive_field_of(const Graph& g, const Layer& l, const std::vector<ReceptiveField>& rf) {
  bool data_dependent = l.op == OpKind::DeformConv;
  for (int j : l.inputs) data_dependent |= rf[j].data_dependent;
  if (l.op == OpKind::DenseCrf) {
    // Every output pixel depends on every pixel of the image: the field is the whole input,
    // at the scores' stride.
    const Shape& in = g.input().output;
    const ReceptiveField& s = rf[l.inputs[0]];
    return {{Rational(in.h), s.h.stride, Rational(0)}, {Rational(in.w), s.w.stride, Rational(0)}, true, data_dependent};
  }
  if (!is_merge(l.op)) {
    SpatialMap m = spatial_map(g, l);
    const ReceptiveField& in = rf[l.inputs[0]];
    return {through(in.h, m.h), through(in.w, m.w), true, data_dependent};
  }
  std::vector<AxisField> hs, ws;
  std::vector<const ReceptiveField*> spatial;  // inputs not broadcast from 1x1
  for (int j : l.inputs) {
    const Shape& s = g.layers[j].output;
    bool broadcast = s.h == 1 && s.w == 1 && (l.output.h > 1 || l.output.w > 1);
    if (broadcast) continue;
    hs.push_back(rf[j].h);
    ws.push_back(rf[j].w);
    spatial.push_back(&rf[j]);
  }
  if (spatial.empty()) {  // all 1x1: an ordinary merge of global features
    for (int j : l.inputs) {
      hs.push_back(rf[j].h);
      ws.push_back(rf[j].w);
      spatial.push_back(&rf[j]);
    }
  }
  const ReceptiveField& lead = *spatial.front();
  ReceptiveField out{hull(hs, lead.h), hull(ws, lead.w), true, data_dependent};
  for (const ReceptiveField* f : spatial)
    if (!(f->h.stride == lead.h.stride && f->w.stride == lead.w.stride && f->h.centre() == lead.h.centre() &&
          f->w.centre() == lead.w.centre()))
      out.aligned = false;
  return out;
}

}  // namespace

std::vector<ReceptiveField> receptive_fields(const Graph& g) {
  std::vector<ReceptiveField> rf(g.layers.size());
  for (size_t i = 1; i < g.layers.size(); ++i) {
    const Layer& l = g.layers[i];
    try {
      rf[i] = receptive_field_of(g, l, rf);
    } catch (const std::overflow_error&) {
      // Strides multiply along a path (Rational throws rather than wraps): a few huge ones
      // leave 64 bits behind.
      throw SpecError(l.loc, l.name, "the receptive field's size, stride or padding overflows 64 bits");
    }
  }
  return rf;
}

bool flatten_is_view(const Graph& g, int layer) {
  const Shape& in = g.layers[static_cast<size_t>(g.layers[static_cast<size_t>(layer)].inputs[0])].output;
  if (in.h == 1 && in.w == 1) return true;
  auto users = g.consumers();
  std::vector<int> readers = users[static_cast<size_t>(layer)];
  while (!readers.empty()) {
    const Layer& r = g.layers[static_cast<size_t>(readers.back())];
    readers.pop_back();
    if (r.op == OpKind::Dropout || r.op == OpKind::Flatten) {
      const auto& more = users[static_cast<size_t>(&r - g.layers.data())];
      readers.insert(readers.end(), more.begin(), more.end());
    } else if (r.op != OpKind::FullyConnected) {
      return false;
    }
  }
  return true;
}

namespace {

// Places a plan's buffers in one arena: each at the lowest aligned offset that does not overlap
// a buffer placed before it and live at the same time, in three orders, keeping the smallest
// arena: largest first (hannk's plan); in order of the steps with the most live bytes, each
// step's buffers largest first ("greedy by breadth", TFLite's); and in order of first write
// (a stack's order). None is best everywhere: largest first alone put U-Net with its copied
// concats in a 233 MiB arena, where the best of the three fits its 159 MiB peak exactly.
void place_buffers(MemoryPlan& p, int64_t alignment) {
  const int64_t align = std::max<int64_t>(alignment, 1);
  const size_t nb = p.buffer_bytes.size();
  std::vector<int> by_size, by_breadth, by_start;
  for (size_t b = 0; b < nb; ++b)
    if (p.buffer_bytes[b] > 0) by_size.push_back(static_cast<int>(b));
  std::stable_sort(by_size.begin(), by_size.end(), [&](int a, int b) { return p.buffer_bytes[a] > p.buffer_bytes[b]; });
  by_start = by_size;
  std::stable_sort(by_start.begin(), by_start.end(), [&](int a, int b) { return p.first_step[a] < p.first_step[b]; });
  std::vector<int> steps(p.live_bytes.size());
  std::iota(steps.begin(), steps.end(), 0);
  std::stable_sort(steps.begin(), steps.end(), [&](int a, int b) { return p.live_bytes[a] > p.live_bytes[b]; });
  std::vector<bool> taken(nb, false);
  for (int s : steps)
    for (int b : by_size)
      if (!taken[b] && p.first_step[b] <= s && s <= p.last_step[b]) taken[b] = true, by_breadth.push_back(b);

  std::vector<int64_t> best_offset;
  int64_t best = -1;
  for (const std::vector<int>* order : {&by_size, &by_breadth, &by_start}) {
    std::vector<int64_t> offset(nb, 0);
    int64_t arena = 0;
    std::vector<int> placed;
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (int b : *order) {
      busy.clear();
      for (int q : placed)
        if (p.first_step[q] <= p.last_step[b] && p.first_step[b] <= p.last_step[q])
          busy.emplace_back(offset[q], offset[q] + p.buffer_bytes[q]);
      std::sort(busy.begin(), busy.end());
      int64_t at = 0;
      for (const auto& [lo, hi] : busy) {
        if (at + p.buffer_bytes[b] <= lo) break;
        at = std::max(at, (hi + align - 1) / align * align);
      }
      offset[b] = at;
      arena = std::max(arena, at + p.buffer_bytes[b]);
      placed.push_back(b);
    }
    if (best < 0 || arena < best) best = arena, best_offset = std::move(offset);
  }
  p.offset = best_offset.empty() ? std::vector<int64_t>(nb, 0) : std::move(best_offset);
  p.arena_bytes = std::max<int64_t>(best, 0);
}

}  // namespace

MemoryPlan plan_memory(const Graph& g, int64_t alignment) {
  size_t n = g.layers.size();
  // Readers of each layer's data: a crop's second input gives only its size (U-Net's skip
  // crop reads the up-sampled tensor's shape), so it neither extends that tensor's life nor
  // keeps it from being a concat slice.
  std::vector<std::vector<int>> users(n);
  for (size_t i = 0; i < n; ++i) {
    const Layer& l = g.layers[i];
    for (size_t k = 0; k < l.inputs.size(); ++k)
      if (!(l.op == OpKind::Crop && k == 1) || l.inputs[1] == l.inputs[0])
        users[static_cast<size_t>(l.inputs[k])].push_back(static_cast<int>(i));
  }
  std::vector<int> last_use(n);
  std::vector<bool> is_output(n, false);
  for (int o : g.outputs()) is_output[o] = true;
  for (size_t i = 0; i < n; ++i) {
    last_use[i] = static_cast<int>(i);
    for (int u : users[i]) last_use[i] = std::max(last_use[i], u);
  }

  MemoryPlan p;
  p.buffer_of.assign(n, -1);
  p.overwrites.assign(n, -1);
  std::vector<int> buffer_last;      // last step any tensor in the buffer is read
  std::vector<int> buffer_origin;    // the layer that first wrote the buffer
  std::vector<bool> buffer_outside;  // read by a layer that does not write into it
  auto new_buffer = [&](size_t layer) {
    p.buffer_of[layer] = static_cast<int>(p.buffer_bytes.size());
    p.buffer_bytes.push_back(g.layers[layer].output.elements() * kBytesPerElement);
    buffer_last.push_back(last_use[layer]);
    buffer_origin.push_back(static_cast<int>(layer));
    buffer_outside.push_back(false);
  };
  for (size_t i = 0; i < n; ++i) {
    const Layer& l = g.layers[i];
    int reuse = -1;
    if (l.op == OpKind::Dropout || (l.op == OpKind::Flatten && flatten_is_view(g, static_cast<int>(i)))) {
      reuse = p.buffer_of[l.inputs[0]];
      p.overwrites[i] = l.inputs[0];
    } else if (is_elementwise(l.op)) {
      // Of the inputs that die here, the one computed last: a runtime that fuses the add into
      // the conv producing that input then writes its own buffer and reads the other.
      int latest = -1;
      for (int j : l.inputs) {
        int b = p.buffer_of[j];
        if (b != p.buffer_of[0] && buffer_last[b] == static_cast<int>(i) && !is_output[j] &&
            g.layers[j].output == l.output && j > latest) {
          latest = j;
          reuse = b;
        }
      }
      p.overwrites[i] = latest;
    }
    if (reuse >= 0) {
      p.buffer_of[i] = reuse;
      buffer_last[reuse] = std::max(buffer_last[reuse], last_use[i]);
    } else {
      new_buffer(i);
    }
    for (int j : l.inputs)
      if (p.buffer_of[j] != p.buffer_of[i]) buffer_outside[p.buffer_of[j]] = true;
  }

  size_t nb = p.buffer_bytes.size();
  p.first_step.resize(nb);
  p.last_step.resize(nb);
  for (size_t b = 0; b < nb; ++b) {
    p.first_step[b] = buffer_origin[b];
    p.last_step[b] = buffer_last[b];
  }
  for (int o : g.outputs()) p.last_step[p.buffer_of[o]] = static_cast<int>(n) - 1;

  // Zero-copy concat candidates: a buffer (neither the input nor an output) that nothing reads
  // after one concat, which reads it, can be a slice of that concat's buffer. Layers before
  // the concat may read it (in place: a view with the concat's channel stride) or write over
  // it (an in-place chain that fills the slice). Not after: a layer writing over it then would
  // change the concat, and one reading it could find it overwritten by a layer that writes in
  // place into the concat's buffer where the concat dies. DenseNet's dense block is the case
  // for readers before: each layer's concat is read by the next layer's batch-norm and by the
  // next concat, so the block's features are written once into the last concat's buffer
  // instead of copied at every layer (58 copies, 1.0 of DenseNet-121's 27 ms).
  std::vector<std::pair<int, int>> slices;  // (buffer, the concat's buffer)
  for (size_t i = 0; i < n; ++i) {
    if (g.layers[i].op != OpKind::Concat) continue;
    for (int j : g.layers[i].inputs) {
      int b = p.buffer_of[j];
      if (b == p.buffer_of[0] || is_output[j]) continue;
      bool done_by_then = true;
      for (size_t k = 0; k < n; ++k) {
        if (p.buffer_of[k] != b) continue;
        for (int u : users[k])
          if (u > static_cast<int>(i)) done_by_then = false;
      }
      if (!done_by_then || std::count(g.layers[i].inputs.begin(), g.layers[i].inputs.end(), j) > 1) continue;
      slices.emplace_back(b, p.buffer_of[i]);
    }
  }
  // The plan with the chosen slices: a slice holds no bytes, and the concat's buffer lives from
  // its first slice's producer to its own last reader.
  const MemoryPlan base = p;
  auto with_slices = [&](const std::vector<bool>& use) {
    MemoryPlan q = base;
    std::vector<int> parent(nb);
    std::iota(parent.begin(), parent.end(), 0);
    for (size_t c = 0; c < slices.size(); ++c)
      if (use[c]) parent[slices[c].first] = slices[c].second;
    auto root = [&](int b) {
      while (parent[b] != b) b = parent[b];
      return b;
    };
    for (size_t b = 0; b < nb; ++b) {
      int r = root(static_cast<int>(b));
      if (r == static_cast<int>(b)) continue;
      q.first_step[r] = std::min(q.first_step[r], q.first_step[b]);
      q.last_step[r] = std::max(q.last_step[r], q.last_step[b]);
    }
    for (size_t b = 0; b < nb; ++b) {
      int r = root(static_cast<int>(b));
      if (r != static_cast<int>(b)) {
        q.buffer_bytes[b] = 0;
        q.first_step[b] = q.first_step[r];
        q.last_step[b] = q.last_step[r];
      }
    }
    for (size_t i = 0; i < n; ++i) q.buffer_of[i] = root(q.buffer_of[i]);
    std::vector<int64_t> change(n + 1, 0);
    for (size_t b = 0; b < nb; ++b) {
      change[static_cast<size_t>(q.first_step[b])] += q.buffer_bytes[b];
      change[static_cast<size_t>(q.last_step[b]) + 1] -= q.buffer_bytes[b];
    }
    q.live_bytes.assign(n, 0);
    int64_t live = 0;
    for (size_t s = 0; s < n; ++s) {
      q.live_bytes[s] = live += change[s];
      if (live > q.peak_bytes) q.peak_bytes = live, q.peak_step = static_cast<int>(s);
    }
    place_buffers(q, alignment);
    return q;
  };
  // Every slice saves a copy, but makes the whole concat buffer live from the slice's producer
  // on, alongside what that producer reads: U-Net's decoder stages would hold the concat, the
  // wide skip tensor and the up-convolution's input at once. So slices whose copies shrink the
  // arena (what is allocated; a lower peak alone is not worth a copy) are dropped: a concat's
  // all together (one alone may not help: U-Net's crop slice without the up-convolution's
  // only moves the concat's start), or one alone; again while a drop shrinks it.
  std::vector<bool> use(slices.size(), true);
  p = with_slices(use);
  int64_t placing_budget = int64_t{200} << 20;
  auto try_drop = [&](const std::vector<size_t>& which) {
    std::vector<bool> fewer = use;
    bool any = false;
    for (size_t c : which) any |= fewer[c], fewer[c] = false;
    if (!any) return false;
    // Placing is quadratic in the buffers: past a budget of buffer pairs the search stops, with
    // the plan it has (a 3000-layer chain of 1000 concats took 11 s placing every drop; the
    // zoo's largest search, DenseNet-121's, uses 3 % of it).
    const int64_t buffers = static_cast<int64_t>(nb);
    if (placing_budget < buffers * buffers) return false;
    placing_budget -= buffers * buffers;
    MemoryPlan q = with_slices(fewer);
    if (q.arena_bytes >= p.arena_bytes) return false;
    p = std::move(q);
    use = std::move(fewer);
    return true;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t c = 0; c < slices.size(); ++c) {
      std::vector<size_t> same_concat;
      for (size_t d = c; d < slices.size() && slices[d].second == slices[c].second; ++d) same_concat.push_back(d);
      if (c == 0 || slices[c - 1].second != slices[c].second) changed |= try_drop(same_concat);
      changed |= try_drop({c});
    }
  }

  return p;
}

NetworkAnalysis analyse(const Graph& g) {
  NetworkAnalysis a;
  size_t n = g.layers.size();
  a.layers.resize(n);
  auto rf = receptive_fields(g);
  Totals& t = a.totals;
  int64_t moved_total = 0;
  for (size_t i = 0; i < n; ++i) {
    const Layer& l = g.layers[i];
    LayerAnalysis& la = a.layers[i];
    la.rf = rf[i];
    la.activation_bytes = l.output.elements() * kBytesPerElement;
    if (i == 0) {
      t.input_bytes = la.activation_bytes;
      continue;
    }
    la.cost = layer_cost(g, l);
    // Each layer's figures fit in 64 bits (layer_cost checks); their sums may not.
    auto sum = [&](int64_t x, int64_t y) {
      int64_t r;
      if (__builtin_add_overflow(x, y, &r)) throw SpecError(l.loc, l.name, "the network's totals overflow 64 bits");
      return r;
    };
    auto bytes = [&](int64_t elements, const char* whose) {
      int64_t r;
      if (__builtin_mul_overflow(elements, kBytesPerElement, &r))
        throw SpecError(l.loc, l.name, fmt::format("{} weights have more bytes than 64 bits hold", whose));
      return r;
    };
    la.bytes_moved = sum(la.activation_bytes, bytes(la.cost.params, "the layer's"));
    for (int j : l.inputs) la.bytes_moved = sum(la.bytes_moved, g.layers[j].output.elements() * kBytesPerElement);
    la.intensity = static_cast<double>(la.cost.flops) / static_cast<double>(la.bytes_moved);
    t.macs = sum(t.macs, la.cost.macs);
    t.flops = sum(t.flops, la.cost.flops);
    t.params = sum(t.params, la.cost.params);
    t.activation_bytes = sum(t.activation_bytes, la.activation_bytes);
    moved_total = sum(moved_total, la.bytes_moved);
    t.param_bytes = bytes(t.params, "the network's");
  }
  t.intensity = moved_total ? static_cast<double>(t.flops) / static_cast<double>(moved_total) : 0;
  a.memory = plan_memory(g);
  t.peak_activation_bytes = a.memory.peak_bytes;
  t.arena_bytes = a.memory.arena_bytes;

  auto outs = g.outputs();
  a.final_layer = outs.empty() ? 0 : outs.front();
  for (int o : outs)
    if (!g.layers[o].train_only) {
      a.final_layer = o;
      break;
    }
  // Walk back from the output through inputs; the last-executed ancestor with H*W > 1.
  std::vector<bool> reaches(n, false);
  reaches[a.final_layer] = true;
  a.feature_layer = 0;
  for (size_t i = n; i-- > 0;) {
    if (!reaches[i]) continue;
    if (g.layers[i].output.h * g.layers[i].output.w > 1 && a.feature_layer == 0) a.feature_layer = static_cast<int>(i);
    for (int j : g.layers[i].inputs) reaches[j] = true;
  }
  return a;
}

double roofline_bound_ms(int64_t flops, int64_t bytes_moved, double peak_gflops, double peak_gbps) {
  const double compute = peak_gflops > 0 ? static_cast<double>(flops) / (peak_gflops * 1e9) : 0;
  const double memory = peak_gbps > 0 ? static_cast<double>(bytes_moved) / (peak_gbps * 1e9) : 0;
  return std::max(compute, memory) * 1e3;
}

double percent_of_roofline(double bound_ms, double measured_ms) {
  return bound_ms > 0 && measured_ms > 0 ? 100.0 * bound_ms / measured_ms : 0;
}

}  // namespace archbench
