// Dense CRF mean-field inference: the O(P^2) reference and the permutohedral-lattice path.
//
// The lattice path in brief (Adams, Baek and Davis 2010). The d-dimensional features are
// mapped isometrically (times a scale) onto the hyperplane sum = 0 of R^(d+1), which the
// permutohedral lattice tiles with simplices. Each pixel lies in one simplex and spreads
// ("splats") its values onto the simplex's d + 1 corners with its barycentric weights; the
// lattice values are blurred with a three-tap kernel along each of the d + 1 lattice axes;
// each pixel reads ("slices") the result back with the same weights. Only the lattice points
// some pixel touches exist, kept in a hash table. Splat, blur and slice are linear and the
// operator is S^T B S with S the barycentric weights and B symmetric, so it is a symmetric,
// positive kernel like the Gaussian it approximates.
//
// Everything that does not change between iterations is precomputed per image and kernel: the
// corners and weights of every pixel, the pixels of every lattice point (the splat gathers
// from them, so no two threads add into one value), and the chains of neighbouring points
// along each axis (the blur walks each chain in place). The normalisation and the kernel's
// weight fold into those weights, so an iteration is three passes: splat, blur, and slice
// fused with the softmax.
#include "runtime/dense_crf.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace archbench {
// A named namespace rather than an anonymous one: unity builds paste several .cpp files into
// one translation unit, where anonymous helpers of different files could collide.
namespace dense_crf_detail {

[[noreturn]] void refuse(const std::string& what) { throw std::invalid_argument("dense_crf: " + what); }

// --- threads -------------------------------------------------------------------------------

// A fixed team of workers for the phases of one call. An iteration runs about eight short
// phases, so the workers stay alive between them (starting threads per phase would cost more
// than some phases) and poll briefly before sleeping.
class Team {
 public:
  explicit Team(int threads) {
    if (threads < 0) refuse("threads must be >= 0 (0: one per hardware thread), got " + std::to_string(threads));
    size_ = threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    workers_.reserve(static_cast<size_t>(size_ - 1));
    try {
      for (int part = 1; part < size_; ++part) workers_.emplace_back([this, part] { work(part); });
    } catch (...) {
      stop();  // the destructor does not run when the constructor throws
      throw;
    }
  }
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;
  ~Team() { stop(); }

  int size() const { return size_; }

  // job(part) for every part in [0, size()), part 0 on the calling thread; returns when all
  // are done and rethrows the first exception any of them threw.
  void run(const std::function<void(int)>& job) {
    if (size_ == 1) {
      job(0);
      return;
    }
    job_ = &job;
    pending_.store(size_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    try {
      job(0);
    } catch (...) {
      keep(std::current_exception());
    }
    for (int spin = 0;; ++spin) {
      const int left = pending_.load(std::memory_order_acquire);
      if (left == 0) break;
      if (spin < kSpins) {
        relax();
      } else {
        pending_.wait(left, std::memory_order_acquire);
      }
    }
    if (error_) {
      std::exception_ptr error = error_;
      error_ = nullptr;
      std::rethrow_exception(error);
    }
  }

 private:
  // About 20-50 microseconds of polling: longer than the gap between two phases, short
  // enough not to steal much from other processes on a shared machine.
  static constexpr int kSpins = 2000;

  void stop() {
    stop_.store(true, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (auto& worker : workers_) worker.join();
  }

  static void relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  void work(int part) {
    uint64_t seen = 0;
    for (;;) {
      for (int spin = 0; generation_.load(std::memory_order_acquire) == seen; ++spin) {
        if (spin < kSpins) {
          relax();
        } else {
          generation_.wait(seen, std::memory_order_acquire);
        }
      }
      seen = generation_.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_relaxed)) return;
      try {
        (*job_)(part);
      } catch (...) {
        keep(std::current_exception());
      }
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
  }

  void keep(std::exception_ptr error) {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (!error_) error_ = std::move(error);
  }

  int size_ = 1;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

struct Range {
  int64_t begin, end;
};

// Part `part` of `parts` equal slices of [0, n).
Range even_part(int64_t n, int parts, int part) { return {n * part / parts, n * (part + 1) / parts}; }

// Part `part` of [0, items) cut so that each part holds about the same share of the work
// counted by `offsets` (a CSR offset array: item k costs offsets[k + 1] - offsets[k]).
template <typename Offsets>
Range weighted_part(const Offsets& offsets, int parts, int part) {
  const int64_t items = static_cast<int64_t>(offsets.size()) - 1;
  if (items <= 0) return {0, 0};
  const uint64_t total = offsets.back();
  auto cut = [&](int k) -> int64_t {
    if (k == 0) return 0;
    if (k == parts) return items;
    const uint64_t target = total * static_cast<uint64_t>(k) / static_cast<uint64_t>(parts);
    return std::lower_bound(offsets.begin(), offsets.end() - 1, target) - offsets.begin();
  };
  return {cut(part), cut(part + 1)};
}

// --- memory --------------------------------------------------------------------------------

// The buffers here are tens of MB and live for one call, so each call first-touches them
// afresh. Where a page fault is expensive (on the virtual machine this was tuned on, 11 us per
// 4 KiB page: 0.29 s for 100 MB, more than the whole inference) it pays to ask for 2 MiB
// pages, which Linux grants for regions marked MADV_HUGEPAGE under its default "madvise"
// policy. A hint: where it is not granted nothing changes.
void advise_huge_pages(const void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

// v with capacity for n elements, its pages advised before anything touches them.
template <typename T, typename A>
void reserve_buffer(std::vector<T, A>& v, size_t n) {
  std::vector<T, A>().swap(v);
  v.reserve(n);
  advise_huge_pages(v.data(), n * sizeof(T));
}

// v = n copies of `fill`, its pages advised first.
template <typename T, typename A>
void make_buffer(std::vector<T, A>& v, size_t n, T fill = T{}) {
  reserve_buffer(v, n);
  v.assign(n, fill);
}

// Large blocks are kept when a call frees them and handed to a later request that fits,
// pages already touched: the CRF runs once per image with buffers of the same sizes, and on
// the machine this was tuned on first-touching a call's buffers cost a fifth of its time even
// with 2 MiB pages (500x375 pixels, 21 labels: about 40 ms of 0.2 s). Blocks of at least
// kPooledBytes come from here; at most kCachedBytes are kept in all (the largest go first),
// so a process holds at most that much beyond what it uses.
class BlockCache {
 public:
  static constexpr size_t kPooledBytes = size_t{256} << 10;
  static constexpr size_t kCachedBytes = size_t{512} << 20;

  static BlockCache& instance() {
    static BlockCache* cache = new BlockCache;  // never destroyed: buffers may outlive statics
    return *cache;
  }

  void* take(size_t bytes) {
    // Whole 2 MiB pages from 2 MiB up, whole 64 KiB below (a small array in a huge page
    // would have the kernel clear all 2 MiB of it).
    const size_t unit = bytes >= kHuge ? kHuge : kSmallUnit;
    const size_t size = (bytes + unit - 1) / unit * unit;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // The smallest cached block that holds `size`, if it is at most twice as large.
      const auto fit = free_.lower_bound(size);
      if (fit != free_.end() && fit->first / 2 <= size) {
        void* block = fit->second;
        cached_ -= fit->first;
        used_.emplace(block, fit->first);
        free_.erase(fit);
        return block;
      }
    }
    void* block = std::aligned_alloc(unit == kHuge ? kHuge : 4096, size);
    if (!block) throw std::bad_alloc();
    if (unit == kHuge) advise_huge_pages(block, size);
    std::lock_guard<std::mutex> lock(mutex_);
    used_.emplace(block, size);
    return block;
  }

  void give(void* block) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto at = used_.find(block);
    const size_t size = at->second;
    used_.erase(at);
    free_.emplace(size, block);
    cached_ += size;
    while (cached_ > kCachedBytes) {
      const auto largest = std::prev(free_.end());
      std::free(largest->second);
      cached_ -= largest->first;
      free_.erase(largest);
    }
  }

 private:
  static constexpr size_t kHuge = size_t{2} << 20, kSmallUnit = size_t{64} << 10;
  std::mutex mutex_;
  std::multimap<size_t, void*> free_;       // size -> block
  std::unordered_map<void*, size_t> used_;  // block -> size
  size_t cached_ = 0;
};

// A std::vector whose resize leaves new elements of trivial types uninitialised where a plain
// one would zero them, its large blocks from the BlockCache. The large per-call arrays are all
// written before they are read, mostly by parallel passes, rather than zeroed by one thread
// beforehand.
template <typename T>
struct NoInit : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = NoInit<U>;
  };
  NoInit() = default;
  template <typename U>
  NoInit(const NoInit<U>&) noexcept {}
  T* allocate(size_t n) {
    if (n * sizeof(T) < BlockCache::kPooledBytes) return std::allocator<T>::allocate(n);
    return static_cast<T*>(BlockCache::instance().take(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < BlockCache::kPooledBytes) return std::allocator<T>::deallocate(p, n);
    BlockCache::instance().give(p);
  }
  template <typename U>
  void construct(U* at) noexcept {
    ::new (static_cast<void*>(at)) U;
  }
  template <typename U, typename... Args>
  void construct(U* at, Args&&... args) {
    ::new (static_cast<void*>(at)) U(std::forward<Args>(args)...);
  }
};
template <typename T>
using Array = std::vector<T, NoInit<T>>;

// An Array of n elements not yet written, its pages advised first.
template <typename T>
Array<T> uninitialised(size_t n) {
  Array<T> v;
  reserve_buffer(v, n);
  v.resize(n);
  return v;
}

// --- vectors of floats ---------------------------------------------------------------------

// Rows of labels are handled as GCC/Clang vectors, which the compilers lower to whole vector
// instructions at any optimisation level, where loops left to the auto-vectoriser stayed
// scalar at -O2 (the softmax, a third of an iteration, did). Eight floats where the target has
// AVX, four (SSE, NEON) otherwise: a 32-byte vector passed between functions without AVX would
// change the calling convention, which both compilers warn about.
#if defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t LaneInts __attribute__((vector_size(kLanes * sizeof(int32_t))));

// Per-pixel and per-point rows hold the labels padded to a multiple of this many floats, a
// multiple of kLanes on every target, so that the layout does not depend on the target.
constexpr int64_t kRowAlign = 8;
int64_t padded_row(int64_t values) { return (values + kRowAlign - 1) / kRowAlign * kRowAlign; }

inline Lanes load(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, Lanes v) { std::memcpy(p, &v, sizeof v); }
inline Lanes broadcast(float x) { return Lanes{} + x; }
inline Lanes lanes_max(Lanes a, Lanes b) {
  const LaneInts a_wins = a > b;
  return std::bit_cast<Lanes>((a_wins & std::bit_cast<LaneInts>(a)) | (~a_wins & std::bit_cast<LaneInts>(b)));
}

// The maximum and the sum of the lanes, folded in halves (a tree of depth log2(kLanes) rather
// than a chain of kLanes - 1 dependent operations).
inline float lane_max(Lanes v) {
  float x[kLanes];
  std::memcpy(x, &v, sizeof x);
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int c = 0; c < width; ++c) x[c] = std::max(x[c], x[c + width]);
  return x[0];
}
inline float lane_sum(Lanes v) {
  float x[kLanes];
  std::memcpy(x, &v, sizeof x);
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int c = 0; c < width; ++c) x[c] += x[c + width];
  return x[0];
}

// exp(x) for x <= 0, within 2 float ulps: exp(x) = 2^n exp(r), n = x / ln 2 rounded to the
// nearest integer (adding and subtracting 1.5 * 2^23 rounds), |r| <= ln 2 / 2, exp(r) by its
// Taylor polynomial to degree 7 (remainder below 1e-8), 2^n assembled in the exponent bits.
// Below -87 the result is clamped to about 1.6e-38 (keeps 2^n a normal float).
inline Lanes exp_nonpositive(Lanes x) {
  x = lanes_max(x, broadcast(-87.0f));
  const Lanes shifter = broadcast(12582912.0f);
  const Lanes t = x * 1.44269504f + shifter;
  const Lanes n = t - shifter;
  const Lanes r = (x - n * 0.693145752f) - n * 1.42860677e-6f;  // ln 2 in two parts: n * hi is exact
  Lanes p = broadcast(1.0f / 5040.0f);
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const LaneInts exponent = (std::bit_cast<LaneInts>(t) - std::bit_cast<LaneInts>(shifter) + 127) << 23;
  return p * std::bit_cast<Lanes>(exponent);
}

// Scores' padding lanes: far below any real score, so they never win the maximum, and their
// exponential is zeroed by the mask.
constexpr float kPaddingScore = -1e30f;

// row (stride floats) <- softmax over its labels; `valid` has 1 on labels, 0 on padding, which
// comes out 0.
inline void softmax_row(float* row, int64_t stride, const float* valid) {
  Lanes top = broadcast(-std::numeric_limits<float>::max());
  for (int64_t b = 0; b < stride; b += kLanes) top = lanes_max(top, load(row + b));
  const float m = lane_max(top);
  Lanes sums = {};
  for (int64_t b = 0; b < stride; b += kLanes) {
    const Lanes e = exp_nonpositive(load(row + b) - m) * load(valid + b);
    store(row + b, e);
    sums += e;
  }
  const float inv = 1.0f / lane_sum(sums);
  for (int64_t b = 0; b < stride; b += kLanes) store(row + b, load(row + b) * inv);
}

// --- argument checks -----------------------------------------------------------------------

void check_crf_arguments(const float* scores, const float* image, int64_t n, int64_t labels, int64_t h, int64_t w,
                         const DenseCrfParams& p) {
  if (n < 0 || h < 0 || w < 0)
    refuse("batch, height and width must be >= 0, got n=" + std::to_string(n) + " h=" + std::to_string(h) +
           " w=" + std::to_string(w));
  if (labels < 1) refuse("needs at least one label, got " + std::to_string(labels));
  if (p.iterations < 0) refuse("iterations must be >= 0, got " + std::to_string(p.iterations));
  auto positive = [](double v, const char* name) {
    if (!(v > 0) || !std::isfinite(v))
      refuse(std::string(name) + " must be positive and finite, got " + std::to_string(v));
  };
  positive(p.gaussian_sxy, "gaussian_sxy");
  positive(p.bilateral_sxy, "bilateral_sxy");
  positive(p.bilateral_srgb, "bilateral_srgb");
  auto finite = [](double v, const char* name) {
    if (!std::isfinite(v)) refuse(std::string(name) + " must be finite, got " + std::to_string(v));
  };
  finite(p.gaussian_weight, "gaussian_weight");
  finite(p.bilateral_weight, "bilateral_weight");
  for (double s : p.rgb_scale) finite(s, "rgb_scale");
  // The lattice numbers its points and pixel corners in 32 bits.
  constexpr int64_t kMaxPixels = int64_t{1} << 28;
  if (w > 0 && h > kMaxPixels / w)
    refuse("images of more than 2^28 pixels are not supported, got " + std::to_string(w) + "x" + std::to_string(h));
  if (n > 0 && h * w > 0 && (scores == nullptr || image == nullptr)) refuse("scores and image must not be null");
}

// Both kernels' features (units as in the header) of pixels [begin, end) of image `img` (3 x P).
template <typename T>
void crf_features(const float* img, int64_t h, int64_t w, const DenseCrfParams& p, T* gauss, T* bilat, int64_t begin,
                  int64_t end) {
  const int64_t pixels = h * w;
  for (int64_t i = begin; i < end; ++i) {
    const double x = static_cast<double>(i % w), y = static_cast<double>(i / w);
    gauss[i * 2 + 0] = static_cast<T>(x / p.gaussian_sxy);
    gauss[i * 2 + 1] = static_cast<T>(y / p.gaussian_sxy);
    bilat[i * 5 + 0] = static_cast<T>(x / p.bilateral_sxy);
    bilat[i * 5 + 1] = static_cast<T>(y / p.bilateral_sxy);
    for (int c = 0; c < 3; ++c)
      bilat[i * 5 + 2 + c] = static_cast<T>(img[c * pixels + i] * p.rgb_scale[c] / p.bilateral_srgb);
  }
}

// --- the exact path ------------------------------------------------------------------------

// Rows of the kernel matrix k(i, j) = exp(-|f_i - f_j|^2 / 2). Small images keep the whole
// matrix (P^2 doubles, at most 32 MB) so that the iterations pay no exponentials.
class KernelRows {
 public:
  KernelRows(const std::vector<double>& features, int d, int64_t pixels)
      : features_(features), d_(d), pixels_(pixels), scratch_(static_cast<size_t>(pixels)) {
    if (pixels <= kCachedPixels) {
      matrix_.resize(static_cast<size_t>(pixels * pixels));
      for (int64_t i = 0; i < pixels; ++i) compute(i, matrix_.data() + i * pixels);
    }
  }

  const double* row(int64_t i) {
    if (!matrix_.empty()) return matrix_.data() + i * pixels_;
    compute(i, scratch_.data());
    return scratch_.data();
  }

 private:
  static constexpr int64_t kCachedPixels = 2048;

  void compute(int64_t i, double* out) const {
    const double* fi = features_.data() + i * d_;
    for (int64_t j = 0; j < pixels_; ++j) {
      const double* fj = features_.data() + j * d_;
      double r2 = 0;
      for (int k = 0; k < d_; ++k) r2 += (fi[k] - fj[k]) * (fi[k] - fj[k]);
      out[j] = std::exp(-0.5 * r2);
    }
  }

  const std::vector<double>& features_;
  int d_;
  int64_t pixels_;
  std::vector<double> matrix_, scratch_;
};

void softmax_double(double* row, int64_t labels) {
  double m = row[0];
  for (int64_t l = 1; l < labels; ++l) m = std::max(m, row[l]);
  double sum = 0;
  for (int64_t l = 0; l < labels; ++l) sum += (row[l] = std::exp(row[l] - m));
  for (int64_t l = 0; l < labels; ++l) row[l] /= sum;
}

// --- the permutohedral lattice ---------------------------------------------------------------

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

// A built lattice, independent of d: what splat, blur and slice need.
//
// The blur only moves values between neighbouring points, so the lattice falls apart into
// connected pieces that never exchange anything. A pixel whose simplex is such a piece on its
// own (no corner shared with another pixel, no corner with a neighbour outside the simplex)
// only ever sees itself: its whole filter is one number times its own value. Those "lonely"
// pixels (far from every other pixel in feature space: common with sparse features, e.g. many
// dimensions or few pixels) get that number in `self` and no lattice storage; the other
// pixels' corners are the kept points.
struct LatticeGraph {
  int d = 0;
  int64_t pixels = 0;
  int64_t points = 0;  // every lattice point, lonely pixels' corners included
  int64_t kept = 0;    // points that hold values
  // Slice: the corners of pixel i (none for a lonely one), entries [slice_offsets[i], [i + 1]).
  Array<uint32_t> slice_offsets;
  Array<uint32_t> slice_point;
  Array<float> slice_weight;
  Array<float> self;  // per pixel: a lonely pixel's response to itself, else 0
  // Splat: the pixels of kept point p, in pixel order, entries [splat_offsets[p], [p + 1]).
  Array<uint32_t> splat_offsets;
  Array<uint32_t> splat_pixel;
  Array<float> splat_weight;
  // Blur: per axis, maximal runs of points each the previous one's neighbour along the axis
  // (a run of one point is left out: the blur does not change it).
  std::vector<Array<uint32_t>> chain_offsets, chain_points;
};

// The hash of a key is linear in its coordinates before mixing, so that a neighbour's hash is
// the point's plus a per-axis constant.
constexpr uint64_t kHashFactors[8] = {0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full, 0x165667B19E3779F9ull,
                                      0xD6E8FEB86659FD93ull, 0xFF51AFD7ED558CCDull, 0xC4CEB9FE1A85EC53ull,
                                      0x27D4EB2F165667C5ull, 0x94D049BB133111EBull};

template <int D>
uint64_t linear_hash(const int32_t* key) {
  uint64_t h = 0;
  for (int i = 0; i < D; ++i) h += static_cast<uint64_t>(static_cast<int64_t>(key[i])) * kHashFactors[i];
  return h;
}

inline uint64_t mix_hash(uint64_t x) {
  x ^= x >> 32;
  x *= 0xD6E8FEB86659FD93ull;
  x ^= x >> 29;
  return x;
}

// The lattice points: their keys (the first d coordinates; the last is minus their sum) in
// order of first touch, and an open-addressing index over (32-bit hash tag, id) slots. The
// full key is compared only when the tags match, so a miss (most neighbour look-ups) reads
// one slot. The index doubles at half load.
template <int D>
class PointTable {
 public:
  // Sized for `expected` points at first; room for keys of up to `most` (address space only).
  PointTable(int64_t expected, int64_t most) {
    reserve_buffer(keys_, static_cast<size_t>(most * D));
    uint64_t capacity = 1024;
    while (capacity < static_cast<uint64_t>(expected) * 2) capacity *= 2;
    resize(capacity);  // grows by doubling as points arrive
  }

  int64_t size() const { return static_cast<int64_t>(keys_.size() / D); }
  const int32_t* key(int64_t id) const { return keys_.data() + id * D; }

  // The id of `key`, which is appended as the next id when absent.
  uint32_t find_or_insert(const int32_t* key, uint64_t linear) {
    const uint64_t h = mix_hash(linear);
    for (uint64_t s = h & mask_;; s = (s + 1) & mask_) {
      const uint64_t slot = slots_[s];
      if (slot == kEmpty) {
        const uint32_t id = static_cast<uint32_t>(size());
        keys_.insert(keys_.end(), key, key + D);
        slots_[s] = (h >> 32 << 32) | id;
        if (static_cast<uint64_t>(size()) * 2 > mask_) resize((mask_ + 1) * 2);
        return id;
      }
      if (slot >> 32 == h >> 32 && std::equal(key, key + D, this->key(static_cast<uint32_t>(slot))))
        return static_cast<uint32_t>(slot);
    }
  }

  uint32_t find(const int32_t* key, uint64_t linear) const {
    const uint64_t h = mix_hash(linear);
    for (uint64_t s = h & mask_;; s = (s + 1) & mask_) {
      const uint64_t slot = slots_[s];
      if (slot == kEmpty) return kNone;
      if (slot >> 32 == h >> 32 && std::equal(key, key + D, this->key(static_cast<uint32_t>(slot))))
        return static_cast<uint32_t>(slot);
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  void resize(uint64_t capacity) {
    make_buffer(slots_, capacity, kEmpty);
    mask_ = capacity - 1;
    for (int64_t id = 0; id < size(); ++id) {
      const uint64_t h = mix_hash(linear_hash<D>(key(id)));
      uint64_t s = h & mask_;
      while (slots_[s] != kEmpty) s = (s + 1) & mask_;
      slots_[s] = (h >> 32 << 32) | static_cast<uint64_t>(id);
    }
  }

  Array<uint64_t> slots_;
  Array<int32_t> keys_;
  uint64_t mask_ = 0;
};

// The scale that maps a feature distance of 1 (one standard deviation of the Gaussian) to
// lattice units. The three-tap blur along the d + 1 axes has variance (d + 1)^2 / 2 per
// dimension in lattice units and linear splatting and slicing add about (d + 1)^2 / 6; Adams
// et al. scale by the square root of the sum, sqrt(2/3) (d + 1).
double lattice_scale(int d) { return std::sqrt(2.0 / 3.0) * (d + 1); }

// The constant that turns the lattice's output into the Gaussian's sum. For a dense, uniform
// cloud of density rho (per unit feature volume) the Gaussian sums to rho (2 pi)^(d/2). The
// lattice's blur (taps 1/2, 1, 1/2, unnormalised) multiplies mass by 2^(d + 1); a point holds
// the mass of its cell, (d + 1)^(d - 1/2) lattice units of volume (the lattice is d + 1 cosets
// of (d + 1) A_d, whose cell volume is (d + 1)^d sqrt(d + 1)), i.e. that over scale^d feature
// units. The ratio: (4 pi / 3)^(d/2) sqrt(d + 1) / 2^(d + 1).
double lattice_to_gaussian(int d) {
  return std::pow(4.0 * 3.14159265358979323846 / 3.0, d / 2.0) * std::sqrt(d + 1.0) / std::pow(2.0, d + 1);
}

// The simplex of the lattice that holds one feature vector: its d + 1 corners (corner k has
// every coordinate equal to k modulo d + 1), the barycentric weights, and the rank of each
// coordinate's residual (which fixes the simplex's orientation).
template <int D>
struct Simplex {
  int32_t key[D + 1][D];
  uint64_t linear[D + 1];  // linear_hash of each key, filled by the caller
  float weight[D + 1];
  int rank[D + 1];
};

// False when the features are too large (or not finite) for 32-bit lattice coordinates. Written
// without data-dependent branches: the comparisons below go either way at random from pixel to
// pixel, and their mispredictions cost a fifth of the time.
template <int D>
bool enclosing_simplex(const float* f, const float* scale, Simplex<D>& s) {
  constexpr int kCorners = D + 1;
  // Elevate onto the hyperplane sum = 0: column i of the map is (1, .., 1 (i + 1 times),
  // -(i + 1), 0, ..) over its length sqrt((i + 1)(i + 2)), an orthonormal basis of the plane.
  float elevated[kCorners];
  float running = 0;
  for (int i = D; i >= 1; --i) {
    const float v = f[i - 1] * scale[i - 1];
    elevated[i] = running - static_cast<float>(i) * v;
    running += v;
  }
  elevated[0] = running;
  // Nearest point whose coordinates are all multiples of d + 1, rounding each coordinate on
  // its own; the rounded coordinates' sum may then be off the plane by a multiple of d + 1.
  int32_t base[kCorners];
  float residual[kCorners];
  int sum = 0;
  bool in_range = true;
  for (int i = 0; i < kCorners; ++i) {
    const float v = elevated[i] / static_cast<float>(kCorners);
    in_range &= std::fabs(v) < 1e8f;
    const float down = std::floor(in_range ? v : 0.0f);
    const int32_t pick = static_cast<int32_t>(down) + (v - down > 0.5f);
    base[i] = pick * kCorners;
    residual[i] = elevated[i] - static_cast<float>(base[i]);
    sum += pick;
  }
  if (!in_range) return false;
  // Rank the residuals, largest first (ties by index).
  int* rank = s.rank;
  for (int i = 0; i < kCorners; ++i) rank[i] = 0;
  for (int i = 0; i < kCorners; ++i)
    for (int j = i + 1; j < kCorners; ++j) {
      const int j_larger = residual[i] < residual[j];
      rank[i] += j_larger;
      rank[j] += 1 - j_larger;
    }
  // Back onto the plane: the |sum| coordinates that rounded furthest in the offending
  // direction move by d + 1 the other way. In ranks that is a rotation by sum: a coordinate
  // whose rank leaves [0, d] wraps around and its base moves.
  for (int i = 0; i < kCorners; ++i) {
    const int r = rank[i] + sum;
    const int wrap = (r < 0) - (r >= kCorners);
    rank[i] = r + wrap * kCorners;
    base[i] += wrap * kCorners;
  }
  // Barycentric weights: the gaps between consecutive sorted residuals over d + 1; corner 0
  // takes what is left so that they sum to 1.
  float bary[kCorners + 1] = {};
  for (int i = 0; i < kCorners; ++i) {
    const float delta = (elevated[i] - static_cast<float>(base[i])) / static_cast<float>(kCorners);
    bary[D - rank[i]] += delta;
    bary[D + 1 - rank[i]] -= delta;
  }
  bary[0] += 1.0f + bary[D + 1];
  // Corner k: the base plus k on the coordinates of the d + 1 - k largest residuals and
  // k - (d + 1) on the others.
  for (int k = 0; k < kCorners; ++k) {
    s.weight[k] = bary[k];
    for (int i = 0; i < D; ++i) s.key[k][i] = base[i] + k - kCorners * (rank[i] > D - k);
  }
  return true;
}

// What the whole filter gives a lonely pixel for a unit value at itself. Corners k and k + 1
// (and d and 0) differ by one step along the axis whose coordinate has rank d - k, so along
// each axis the blur mixes exactly one pair of corners: simulate that, then slice.
template <int D>
float lonely_response(const Simplex<D>& s) {
  float v[D + 1];
  for (int k = 0; k <= D; ++k) v[k] = s.weight[k];
  for (int axis = 0; axis <= D; ++axis) {
    const int k = D - s.rank[axis], k2 = k == D ? 0 : k + 1;
    const float a = v[k], b = v[k2];
    v[k] = a + 0.5f * b;
    v[k2] = b + 0.5f * a;
  }
  float out = 0;
  for (int k = 0; k <= D; ++k) out += s.weight[k] * v[k];
  return out;
}

// Builds the lattice of `pixels` feature vectors (pixels x D).
template <int D>
LatticeGraph build_lattice(const float* features, int64_t pixels, Team& team) {
  constexpr int kCorners = D + 1;
  const int64_t entries = pixels * kCorners;
  if (entries >= static_cast<int64_t>(kNone)) refuse("too many pixels for the lattice's 32-bit indices");
  float scale[D];
  for (int i = 0; i < D; ++i) scale[i] = static_cast<float>(lattice_scale(D) / std::sqrt((i + 1.0) * (i + 2.0)));
  uint64_t step_linear[kCorners];  // a step along axis j: +d on coordinate j, -1 on the others
  for (int j = 0; j < kCorners; ++j) {
    uint64_t s = 0;
    for (int i = 0; i < D; ++i) s += static_cast<uint64_t>(i == j ? int64_t{D} : int64_t{-1}) * kHashFactors[i];
    step_linear[j] = s;
  }

  // 1. The simplices and the points. The points are numbered in order of first touch (the
  //    numbering must not depend on timing or on the number of threads). Each part hashes the
  //    corners of its own run of pixels into a table of its own, numbering them in its order
  //    of first touch; the parts' tables are then merged in part order, which numbers every
  //    point exactly as one pass over all pixels would (a part's run follows the earlier
  //    ones'), and the corners are renumbered. (One thread hashing while the others computed
  //    simplices was no faster than one thread doing both: the simplices crossed cores.)
  const int parts = team.size();
  struct Part {
    Range pixels;
    std::unique_ptr<PointTable<D>> table;
    Array<uint32_t> owner;    // per local point: the first pixel to touch it
    Array<uint32_t> touches;  // per local point: how many of the part's pixels touch it
    Array<uint32_t> global;   // per local point: its number in the merged table
    Array<uint32_t> cursor;   // per local point: where its next splat entry goes
  };
  std::vector<Part> part_of(static_cast<size_t>(parts));
  Array<uint32_t> corner_local = uninitialised<uint32_t>(static_cast<size_t>(entries));
  Array<float> corner_weight = uninitialised<float>(static_cast<size_t>(entries));
  Array<float> response = uninitialised<float>(static_cast<size_t>(pixels));
  std::atomic<bool> out_of_range{false};
  team.run([&](int part) {
    Part& mine = part_of[static_cast<size_t>(part)];
    mine.pixels = even_part(pixels, parts, part);
    const int64_t count = mine.pixels.end - mine.pixels.begin;
    mine.table = std::make_unique<PointTable<D>>(count / 4, count * kCorners);  // natural images: few points
    Simplex<D> s;
    int32_t previous_base[D] = {};
    int previous_rank[kCorners] = {};
    uint32_t previous_id[kCorners] = {};
    bool have_previous = false;
    for (int64_t px = mine.pixels.begin; px < mine.pixels.end; ++px) {
      if (!enclosing_simplex<D>(features + px * D, scale, s)) {
        out_of_range.store(true, std::memory_order_relaxed);
        return;
      }
      // Neighbouring pixels often share their simplex (same base, same ranks): then they
      // share its corners, and the look-ups are skipped.
      const bool same = have_previous && std::equal(s.key[0], s.key[0] + D, previous_base) &&
                        std::equal(s.rank, s.rank + kCorners, previous_rank);
      for (int k = 0; k < kCorners; ++k) {
        uint32_t id = previous_id[k];
        if (!same) {
          id = mine.table->find_or_insert(s.key[k], linear_hash<D>(s.key[k]));
          if (id == mine.owner.size()) {
            mine.owner.push_back(static_cast<uint32_t>(px));
            mine.touches.push_back(0);
          }
          previous_id[k] = id;
        }
        ++mine.touches[id];
        corner_local[static_cast<size_t>(px * kCorners + k)] = id;
        corner_weight[static_cast<size_t>(px * kCorners + k)] = s.weight[k];
      }
      std::copy(s.key[0], s.key[0] + D, previous_base);
      std::copy(s.rank, s.rank + kCorners, previous_rank);
      have_previous = true;
      response[static_cast<size_t>(px)] = lonely_response<D>(s);
    }
  });
  if (out_of_range.load())
    refuse("features must be finite and below 1e7 standard deviations (check the image and the sxy/srgb parameters)");
  // The merge: part 0's table is the start of the whole one.
  PointTable<D> table = std::move(*part_of[0].table);
  Array<uint32_t> owner = std::move(part_of[0].owner);
  Array<uint32_t> touches = part_of[0].touches;  // part 0's own counts are read again below
  part_of[0].global.resize(owner.size());
  std::iota(part_of[0].global.begin(), part_of[0].global.end(), 0u);
  for (int part = 1; part < parts; ++part) {
    Part& later = part_of[static_cast<size_t>(part)];
    later.global.resize(later.owner.size());
    for (size_t j = 0; j < later.owner.size(); ++j) {
      const int32_t* key = later.table->key(static_cast<int64_t>(j));
      const uint32_t id = table.find_or_insert(key, linear_hash<D>(key));
      if (id == owner.size()) {
        owner.push_back(later.owner[j]);
        touches.push_back(0);
      }
      touches[id] += later.touches[j];
      later.global[j] = id;
    }
    later.table.reset();
  }
  const int64_t points = table.size();
  Array<uint32_t> corner_point = uninitialised<uint32_t>(static_cast<size_t>(entries));
  team.run([&](int part) {
    const Part& mine = part_of[static_cast<size_t>(part)];
    for (int64_t e = mine.pixels.begin * kCorners; e < mine.pixels.end * kCorners; ++e)
      corner_point[static_cast<size_t>(e)] = mine.global[corner_local[static_cast<size_t>(e)]];
  });

  // 2. Every point's next neighbour along each axis (in parallel; the table is only read).
  Array<uint32_t> next = uninitialised<uint32_t>(static_cast<size_t>(points * kCorners));
  team.run([&](int part) {
    const Range r = even_part(points, team.size(), part);
    for (int64_t p = r.begin; p < r.end; ++p) {
      const int32_t* key = table.key(p);
      const uint64_t linear = linear_hash<D>(key);
      for (int j = 0; j < kCorners; ++j) {
        int32_t neighbour[D];
        for (int i = 0; i < D; ++i) neighbour[i] = key[i] + (i == j ? D : -1);
        next[static_cast<size_t>(p * kCorners + j)] = table.find(neighbour, linear + step_linear[j]);
      }
    }
  });

  // 3. Lonely pixels: none of their corners is shared and every link along an axis stays
  //    inside their own simplex. The other pixels' corners are kept, renumbered in order.
  Array<uint8_t> linked;
  make_buffer(linked, static_cast<size_t>(pixels), uint8_t{0});
  for (int64_t px = 0; px < pixels; ++px)
    for (int k = 0; k < kCorners; ++k)
      if (touches[corner_point[static_cast<size_t>(px * kCorners + k)]] > 1) linked[static_cast<size_t>(px)] = 1;
  for (int64_t p = 0; p < points; ++p) {
    const uint32_t mine = owner[static_cast<size_t>(p)];
    for (int j = 0; j < kCorners; ++j) {
      const uint32_t q = next[static_cast<size_t>(p * kCorners + j)];
      if (q != kNone && (touches[q] > 1 || owner[q] != mine)) linked[mine] = linked[owner[q]] = 1;
    }
  }
  LatticeGraph g;
  g.d = D;
  g.pixels = pixels;
  g.points = points;
  Array<uint32_t> kept_id, kept_point;
  make_buffer(kept_id, static_cast<size_t>(points), kNone);
  reserve_buffer(kept_point, static_cast<size_t>(points));
  for (int64_t p = 0; p < points; ++p)
    if (touches[static_cast<size_t>(p)] > 1 || linked[owner[static_cast<size_t>(p)]]) {
      kept_id[static_cast<size_t>(p)] = static_cast<uint32_t>(kept_point.size());
      kept_point.push_back(static_cast<uint32_t>(p));
    }
  const int64_t kept = static_cast<int64_t>(kept_point.size());
  g.kept = kept;
  // The kept points' neighbours in their new numbers (a neighbour of a kept point is kept:
  // their link made both pixels non-lonely), compacted in place (kept_point[k] >= k).
  for (int64_t k = 0; k < kept; ++k)
    for (int j = 0; j < kCorners; ++j) {
      const uint32_t q = next[static_cast<size_t>(kept_point[static_cast<size_t>(k)]) * kCorners + j];
      next[static_cast<size_t>(k * kCorners + j)] = q == kNone ? kNone : kept_id[q];
    }

  // 4. Per axis, the chains, walked from the points with no predecessor.
  Array<uint16_t> has_previous;  // bit j: a predecessor along axis j
  make_buffer(has_previous, static_cast<size_t>(kept), uint16_t{0});
  for (int64_t k = 0; k < kept; ++k)
    for (int j = 0; j < kCorners; ++j) {
      const uint32_t q = next[static_cast<size_t>(k * kCorners + j)];
      if (q != kNone) has_previous[q] = static_cast<uint16_t>(has_previous[q] | (1u << j));
    }
  g.chain_offsets.resize(kCorners);
  g.chain_points.resize(kCorners);
  for (int j = 0; j < kCorners; ++j) {
    auto& offsets = g.chain_offsets[static_cast<size_t>(j)];
    auto& chain = g.chain_points[static_cast<size_t>(j)];
    reserve_buffer(chain, static_cast<size_t>(kept));
    offsets.push_back(0);
    for (int64_t k = 0; k < kept; ++k) {
      if (next[static_cast<size_t>(k * kCorners + j)] == kNone || (has_previous[static_cast<size_t>(k)] >> j & 1u))
        continue;
      for (uint32_t q = static_cast<uint32_t>(k); q != kNone; q = next[static_cast<size_t>(q) * kCorners + j])
        chain.push_back(q);
      offsets.push_back(static_cast<uint32_t>(chain.size()));
    }
  }

  // 5. Slice lists: the corners of each pixel that is not lonely, made in place from the
  //    corner arrays (entries only move forwards). Splat lists: per kept point its pixels in
  //    pixel order; each thread fills the lists of its own points, reading all slice lists.
  g.self.assign(static_cast<size_t>(pixels), 0.0f);
  make_buffer(g.slice_offsets, static_cast<size_t>(pixels) + 1);
  uint32_t sliced = 0;
  for (int64_t px = 0; px < pixels; ++px) {
    if (linked[static_cast<size_t>(px)]) {
      for (int k = 0; k < kCorners; ++k) {
        const size_t e = static_cast<size_t>(px * kCorners + k);
        corner_point[sliced] = kept_id[corner_point[e]];
        corner_weight[sliced] = corner_weight[e];
        ++sliced;
      }
    } else {
      g.self[static_cast<size_t>(px)] = response[static_cast<size_t>(px)];
    }
    g.slice_offsets[static_cast<size_t>(px) + 1] = sliced;
  }
  corner_point.resize(sliced);
  corner_weight.resize(sliced);
  g.slice_point = std::move(corner_point);
  g.slice_weight = std::move(corner_weight);

  make_buffer(g.splat_offsets, static_cast<size_t>(kept) + 1);
  for (int64_t k = 0; k < kept; ++k)
    g.splat_offsets[static_cast<size_t>(k) + 1] =
        g.splat_offsets[static_cast<size_t>(k)] + touches[kept_point[static_cast<size_t>(k)]];
  g.splat_pixel = uninitialised<uint32_t>(sliced);
  g.splat_weight = uninitialised<float>(sliced);
  // Each part writes its pixels' entries: a point's entries from part t follow those from the
  // earlier parts, so every list stays in pixel order. Where part t's entries of each of its
  // points start is counted over the parts' local points, in part order.
  {
    Array<uint32_t> filled(static_cast<size_t>(points), 0u);  // entries taken by earlier parts
    for (Part& mine : part_of) {
      mine.cursor.resize(mine.global.size());
      for (size_t j = 0; j < mine.global.size(); ++j) {
        const uint32_t p = mine.global[j], k = kept_id[p];
        if (k == kNone) continue;
        mine.cursor[j] = g.splat_offsets[k] + filled[p];
        filled[p] += mine.touches[j];
      }
    }
  }
  team.run([&](int part) {
    Part& mine = part_of[static_cast<size_t>(part)];
    for (int64_t px = mine.pixels.begin; px < mine.pixels.end; ++px) {
      const uint32_t first = g.slice_offsets[static_cast<size_t>(px)];
      if (first == g.slice_offsets[static_cast<size_t>(px) + 1]) continue;  // lonely
      for (int k = 0; k < kCorners; ++k) {
        const uint32_t at = mine.cursor[corner_local[static_cast<size_t>(px * kCorners + k)]]++;
        g.splat_pixel[at] = static_cast<uint32_t>(px);
        g.splat_weight[at] = g.slice_weight[first + static_cast<uint32_t>(k)];
      }
    }
  });
  return g;
}

LatticeGraph build_lattice(const float* features, int d, int64_t pixels, Team& team) {
  switch (d) {
    case 1:
      return build_lattice<1>(features, pixels, team);
    case 2:
      return build_lattice<2>(features, pixels, team);
    case 3:
      return build_lattice<3>(features, pixels, team);
    case 4:
      return build_lattice<4>(features, pixels, team);
    case 5:
      return build_lattice<5>(features, pixels, team);
    case 6:
      return build_lattice<6>(features, pixels, team);
    case 7:
      return build_lattice<7>(features, pixels, team);
    case 8:
      return build_lattice<8>(features, pixels, team);
    default:
      refuse("the lattice supports 1 to 8 feature dimensions, got " + std::to_string(d));
  }
}

// --- splat, blur, slice --------------------------------------------------------------------

// Rows of `stride` floats (a multiple of kLanes) are processed in groups of up to four vectors,
// whose accumulators stay in registers while a pass walks a point's pixels or a pixel's
// corners; each group is a template instance so that its size is known to the compiler.
constexpr int kMaxGroup = 4;

template <typename F>
void for_each_group(int64_t stride, F&& f) {
  for (int64_t b = 0; b < stride; b += kMaxGroup * kLanes) {
    switch (std::min<int64_t>(kMaxGroup, (stride - b) / kLanes)) {
      case 1:
        f(std::integral_constant<int, 1>{}, b);
        break;
      case 2:
        f(std::integral_constant<int, 2>{}, b);
        break;
      case 3:
        f(std::integral_constant<int, 3>{}, b);
        break;
      default:
        f(std::integral_constant<int, 4>{}, b);
        break;
    }
  }
}

// Rows that are read in an order the hardware prefetcher cannot follow are requested this many
// entries ahead, to keep several cache misses in flight.
constexpr uint32_t kAhead = 16;
inline void prefetch_row(const float* row, int vectors) {
  constexpr int kLineFloats = 64 / sizeof(float);
  for (int f = 0; f < vectors * kLanes; f += kLineFloats) __builtin_prefetch(row + f);
}

// lattice[p] = sum over p's pixels of weight * values[pixel], for the kept points in r.
void splat(const LatticeGraph& g, const float* values, int64_t stride, float* lattice, Range r) {
  for_each_group(stride, [&](auto group, int64_t b) {
    constexpr int G = decltype(group)::value;
    const uint32_t ahead_end = g.splat_offsets[static_cast<size_t>(r.end)];
    for (int64_t p = r.begin; p < r.end; ++p) {
      Lanes acc[G] = {};
      for (uint32_t e = g.splat_offsets[static_cast<size_t>(p)]; e < g.splat_offsets[static_cast<size_t>(p) + 1]; ++e) {
        if (e + kAhead < ahead_end)
          prefetch_row(values + static_cast<int64_t>(g.splat_pixel[e + kAhead]) * stride + b, G);
        const Lanes w = broadcast(g.splat_weight[e]);
        const float* in = values + static_cast<int64_t>(g.splat_pixel[e]) * stride + b;
#pragma GCC unroll 4
        for (int v = 0; v < G; ++v) acc[v] += w * load(in + v * kLanes);
      }
#pragma GCC unroll 4
      for (int v = 0; v < G; ++v) store(lattice + p * stride + b + v * kLanes, acc[v]);
    }
  });
}

// The blur along `axis` on the chains in r: taps 1/2, 1, 1/2 (missing neighbours count as 0),
// in place. A chain is walked in order keeping the previous point's old value, so no second
// buffer is needed; chains are disjoint, so different ones can run at once.
void blur(const LatticeGraph& g, int axis, int64_t stride, float* lattice, Range r) {
  const auto& offsets = g.chain_offsets[static_cast<size_t>(axis)];
  const auto& chain = g.chain_points[static_cast<size_t>(axis)];
  for_each_group(stride, [&](auto group, int64_t b) {
    constexpr int G = decltype(group)::value;
    const uint32_t ahead_end = offsets[static_cast<size_t>(r.end)];
    for (int64_t k = r.begin; k < r.end; ++k) {
      const uint32_t first = offsets[static_cast<size_t>(k)], last = offsets[static_cast<size_t>(k) + 1];
      // The chains' points lie anywhere in the lattice: ask for the rows a few chains ahead.
      for (uint32_t at = first + kAhead; at < std::min(last + kAhead, ahead_end); ++at)
        prefetch_row(lattice + chain[at] * stride + b, G);
      Lanes previous[G] = {}, current[G];
#pragma GCC unroll 4
      for (int v = 0; v < G; ++v) current[v] = load(lattice + chain[first] * stride + b + v * kLanes);
      for (uint32_t at = first; at < last; ++at) {
        Lanes following[G] = {};
        if (at + 1 < last) {
#pragma GCC unroll 4
          for (int v = 0; v < G; ++v) following[v] = load(lattice + chain[at + 1] * stride + b + v * kLanes);
        }
#pragma GCC unroll 4
        for (int v = 0; v < G; ++v) {
          store(lattice + chain[at] * stride + b + v * kLanes, current[v] + 0.5f * (previous[v] + following[v]));
          previous[v] = current[v];
          current[v] = following[v];
        }
      }
    }
  });
}

// acc[0..G) += what pixel px reads back from lattice g: its own value times `self` plus its
// corners' values times their weights.
template <int G>
inline void add_slice(const LatticeGraph& g, const float* lattice, const float* own, int64_t px, int64_t stride,
                      int64_t b, Lanes* acc) {
  const Lanes self = broadcast(g.self[static_cast<size_t>(px)]);
#pragma GCC unroll 4
  for (int v = 0; v < G; ++v) acc[v] += self * load(own + v * kLanes);
  for (uint32_t e = g.slice_offsets[static_cast<size_t>(px)]; e < g.slice_offsets[static_cast<size_t>(px) + 1]; ++e) {
    if (e + kAhead < g.slice_point.size())
      prefetch_row(lattice + static_cast<int64_t>(g.slice_point[e + kAhead]) * stride + b, G);
    const Lanes w = broadcast(g.slice_weight[e]);
    const float* in = lattice + static_cast<int64_t>(g.slice_point[e]) * stride + b;
#pragma GCC unroll 4
    for (int v = 0; v < G; ++v) acc[v] += w * load(in + v * kLanes);
  }
}

// out[i] = the filter's result at pixel i, for the pixels in r.
void slice(const LatticeGraph& g, const float* values, const float* lattice, int64_t stride, float* out, Range r) {
  for_each_group(stride, [&](auto group, int64_t b) {
    constexpr int G = decltype(group)::value;
    for (int64_t px = r.begin; px < r.end; ++px) {
      Lanes acc[G] = {};
      add_slice<G>(g, lattice, values + px * stride + b, px, stride, b, acc);
#pragma GCC unroll 4
      for (int v = 0; v < G; ++v) store(out + px * stride + b + v * kLanes, acc[v]);
    }
  });
}

// The whole filter S^T B S on values (pixels x stride), in lattice units (no scale).
std::vector<float> apply_lattice(const LatticeGraph& g, const float* values, int64_t stride, Team& team) {
  std::vector<float> lattice, out;
  make_buffer(lattice, static_cast<size_t>(g.kept * stride));
  make_buffer(out, static_cast<size_t>(g.pixels * stride));
  const int parts = team.size();
  team.run([&](int part) { splat(g, values, stride, lattice.data(), weighted_part(g.splat_offsets, parts, part)); });
  for (int axis = 0; axis <= g.d; ++axis)
    team.run([&](int part) {
      blur(g, axis, stride, lattice.data(), weighted_part(g.chain_offsets[static_cast<size_t>(axis)], parts, part));
    });
  team.run([&](int part) { slice(g, values, lattice.data(), stride, out.data(), even_part(g.pixels, parts, part)); });
  return out;
}

// d_i = sum_j K_ij: the filter applied to an image of ones, with one float per point.
Array<float> degrees(const LatticeGraph& g, Team& team) {
  Array<float> lattice = uninitialised<float>(static_cast<size_t>(g.kept));
  Array<float> degree = uninitialised<float>(static_cast<size_t>(g.pixels));
  const int parts = team.size();
  team.run([&](int part) {
    const Range r = weighted_part(g.splat_offsets, parts, part);
    for (int64_t p = r.begin; p < r.end; ++p) {
      float sum = 0;
      for (uint32_t e = g.splat_offsets[static_cast<size_t>(p)]; e < g.splat_offsets[static_cast<size_t>(p) + 1]; ++e)
        sum += g.splat_weight[e];
      lattice[static_cast<size_t>(p)] = sum;
    }
  });
  for (int axis = 0; axis <= g.d; ++axis)
    team.run([&](int part) {
      const auto& offsets = g.chain_offsets[static_cast<size_t>(axis)];
      const auto& chain = g.chain_points[static_cast<size_t>(axis)];
      const Range r = weighted_part(offsets, parts, part);
      for (int64_t k = r.begin; k < r.end; ++k) {
        float previous = 0, current = lattice[chain[offsets[static_cast<size_t>(k)]]];
        for (uint32_t at = offsets[static_cast<size_t>(k)]; at < offsets[static_cast<size_t>(k) + 1]; ++at) {
          const float following = at + 1 < offsets[static_cast<size_t>(k) + 1] ? lattice[chain[at + 1]] : 0.0f;
          lattice[chain[at]] = current + 0.5f * (previous + following);
          previous = current;
          current = following;
        }
      }
    });
  team.run([&](int part) {
    const Range r = even_part(g.pixels, parts, part);
    for (int64_t i = r.begin; i < r.end; ++i) {
      float sum = g.self[static_cast<size_t>(i)];
      for (uint32_t e = g.slice_offsets[static_cast<size_t>(i)]; e < g.slice_offsets[static_cast<size_t>(i) + 1]; ++e)
        sum += g.slice_weight[e] * lattice[g.slice_point[e]];
      degree[static_cast<size_t>(i)] = sum;
    }
  });
  return degree;
}

// Folds a normalisation and a weight into the lattice's splat and slice weights:
// result_i = weight * t_i * sum_j K_ij s_j Q_j with, for d_i = sum_j K_ij,
//   rows:      s_j = 1,           t_i = 1 / d_i
//   symmetric: s_j = d_j^(-1/2),  t_i = d_i^(-1/2).
// d comes from the same lattice, so the lattice's constant scale cancels in both.
void fold_normalisation(LatticeGraph& g, double weight, bool symmetric, Team& team) {
  const Array<float> degree = degrees(g, team);
  Array<float> s = uninitialised<float>(static_cast<size_t>(g.pixels));
  Array<float> t = uninitialised<float>(static_cast<size_t>(g.pixels));
  const int parts = team.size();
  team.run([&](int part) {
    const Range r = even_part(g.pixels, parts, part);
    for (int64_t i = r.begin; i < r.end; ++i) {
      const size_t at = static_cast<size_t>(i);
      const double di = degree[at];
      s[at] = symmetric ? static_cast<float>(1.0 / std::sqrt(di)) : 1.0f;
      t[at] = static_cast<float>(weight * (symmetric ? 1.0 / std::sqrt(di) : 1.0 / di));
    }
  });
  team.run([&](int part) {
    const Range r = even_part(g.pixels, parts, part);
    for (int64_t i = r.begin; i < r.end; ++i) {
      const size_t at = static_cast<size_t>(i);
      for (uint32_t e = g.slice_offsets[at]; e < g.slice_offsets[at + 1]; ++e) g.slice_weight[e] *= t[at];
      g.self[at] *= s[at] * t[at];
    }
    const Range entries = even_part(static_cast<int64_t>(g.splat_weight.size()), parts, part);
    for (int64_t e = entries.begin; e < entries.end; ++e)
      g.splat_weight[static_cast<size_t>(e)] *= s[g.splat_pixel[static_cast<size_t>(e)]];
  });
}

}  // namespace dense_crf_detail

using namespace dense_crf_detail;

std::vector<float> dense_crf_exact(const float* scores, const float* image, int64_t n, int64_t labels, int64_t h,
                                   int64_t w, const DenseCrfParams& params) {
  check_crf_arguments(scores, image, n, labels, h, w, params);
  const int64_t pixels = h * w;
  constexpr int64_t kLimit = 4096;
  if (pixels > kLimit)
    refuse("the exact path sums over every pair of pixels: " + std::to_string(pixels) + " pixels (" +
           std::to_string(w) + "x" + std::to_string(h) + ") is over its limit of " + std::to_string(kLimit));
  std::vector<float> out(static_cast<size_t>(n * labels * pixels));
  const bool run_gauss = params.iterations > 0 && params.gaussian_weight != 0;
  const bool run_bilat = params.iterations > 0 && params.bilateral_weight != 0;
  for (int64_t img = 0; img < n; ++img) {
    const float* s = scores + img * labels * pixels;
    std::vector<double> gauss(static_cast<size_t>(pixels * 2)), bilat(static_cast<size_t>(pixels * 5));
    crf_features(image + img * 3 * pixels, h, w, params, gauss.data(), bilat.data(), 0, pixels);

    // A kernel's normalised filter is weight * t_i * sum_j k(i,j) s_j Q_j (s, t as in
    // fold_normalisation), added to the logits.
    struct Kernel {
      KernelRows rows;
      double weight;
      std::vector<double> s, t;
    };
    std::vector<Kernel> kernels;
    auto add_kernel = [&](const std::vector<double>& f, int d, double weight) {
      Kernel k{KernelRows(f, d, pixels), weight, {}, {}};
      k.s.resize(static_cast<size_t>(pixels));
      k.t.resize(static_cast<size_t>(pixels));
      for (int64_t i = 0; i < pixels; ++i) {
        const double* row = k.rows.row(i);
        double degree = 0;
        for (int64_t j = 0; j < pixels; ++j) degree += row[j];
        k.s[static_cast<size_t>(i)] = params.symmetric ? 1.0 / std::sqrt(degree) : 1.0;
        k.t[static_cast<size_t>(i)] = params.symmetric ? 1.0 / std::sqrt(degree) : 1.0 / degree;
      }
      kernels.push_back(std::move(k));
    };
    if (run_gauss) add_kernel(gauss, 2, params.gaussian_weight);
    if (run_bilat) add_kernel(bilat, 5, params.bilateral_weight);

    std::vector<double> q(static_cast<size_t>(pixels * labels)), unary(q.size()), logits(q.size());
    for (int64_t i = 0; i < pixels; ++i)
      for (int64_t l = 0; l < labels; ++l) unary[static_cast<size_t>(i * labels + l)] = s[l * pixels + i];
    q = unary;
    for (int64_t i = 0; i < pixels; ++i) softmax_double(q.data() + i * labels, labels);
    if (!kernels.empty()) {
      std::vector<double> scaled(q.size()), acc(static_cast<size_t>(labels));
      for (int it = 0; it < params.iterations; ++it) {
        logits = unary;
        for (auto& k : kernels) {
          for (int64_t j = 0; j < pixels; ++j)
            for (int64_t l = 0; l < labels; ++l)
              scaled[static_cast<size_t>(j * labels + l)] =
                  k.s[static_cast<size_t>(j)] * q[static_cast<size_t>(j * labels + l)];
          for (int64_t i = 0; i < pixels; ++i) {
            const double* row = k.rows.row(i);
            double* logit = logits.data() + i * labels;
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int64_t j = 0; j < pixels; ++j)
              for (int64_t l = 0; l < labels; ++l)
                acc[static_cast<size_t>(l)] += row[j] * scaled[static_cast<size_t>(j * labels + l)];
            for (int64_t l = 0; l < labels; ++l)
              logit[l] += k.weight * k.t[static_cast<size_t>(i)] * acc[static_cast<size_t>(l)];
          }
        }
        q = logits;
        for (int64_t i = 0; i < pixels; ++i) softmax_double(q.data() + i * labels, labels);
      }
    }
    float* o = out.data() + img * labels * pixels;
    for (int64_t i = 0; i < pixels; ++i)
      for (int64_t l = 0; l < labels; ++l)
        o[l * pixels + i] = static_cast<float>(q[static_cast<size_t>(i * labels + l)]);
  }
  return out;
}

namespace dense_crf_detail {

// The mean-field update by a CrfUpdateKernel: the lattices' corners as it reads them (every
// pixel d + 1 of them, a lonely pixel's at the zero row with weight 0), the lonely terms of
// both lattices summed, and a second Q buffer (the kernel does not update in place).
class KernelUpdate {
 public:
  KernelUpdate(CrfUpdateKernel kernel, const std::vector<LatticeGraph>& graphs,
               const std::vector<Array<float>>& lattice, const Array<float>& unary, const Array<float>& q,
               int64_t labels, int64_t stride, Team& team)
      : run_(kernel.run), team_(team) {
    if (!run_) return;
    const int64_t pixels = graphs.front().pixels;
    job_.pixels = pixels;
    job_.stride = stride;
    job_.labels = labels;
    job_.unary = unary.data();
    for (size_t k = 0; k < graphs.size(); ++k)
      job_.lattices.push_back(CrfLattice{graphs[k].d + 1, graphs[k].kept + 1, lattice[k].data(), nullptr, nullptr});
    if (!kernel.accepts(job_)) {
      run_ = nullptr;
      return;
    }
    corners_.resize(graphs.size());
    for (size_t k = 0; k < graphs.size(); ++k) {
      const size_t entries = static_cast<size_t>(pixels * job_.lattices[k].corners);
      corners_[k].point = uninitialised<int32_t>(entries);
      corners_[k].weight = uninitialised<float>(entries);
      job_.lattices[k].point = corners_[k].point.data();
      job_.lattices[k].weight = corners_[k].weight.data();
    }
    self_ = uninitialised<float>(static_cast<size_t>(pixels));
    next_ = uninitialised<float>(q.size());
    job_.self = self_.data();
    const int parts = team.size();
    team.run([&](int part) {
      const Range r = even_part(pixels, parts, part);
      for (int64_t i = r.begin; i < r.end; ++i) {
        const size_t at = static_cast<size_t>(i);
        float self = 0;
        for (size_t k = 0; k < graphs.size(); ++k) {
          const LatticeGraph& g = graphs[k];
          const uint32_t first = g.slice_offsets[at], corners = static_cast<uint32_t>(g.d + 1);
          const bool lonely = first == g.slice_offsets[at + 1];
          for (uint32_t c = 0; c < corners; ++c) {
            const size_t to = at * corners + c;
            corners_[k].point[to] =
                lonely ? static_cast<int32_t>(g.kept) : static_cast<int32_t>(g.slice_point[first + c]);
            corners_[k].weight[to] = lonely ? 0.0f : g.slice_weight[first + c];
          }
          self += g.self[at];
        }
        self_[at] = self;
      }
    });
  }

  bool active() const { return run_ != nullptr; }

  // One update: q <- the kernel's result.
  void run(Array<float>& q) {
    job_.q = q.data();
    job_.out = next_.data();
    const int parts = team_.size();
    team_.run([&](int part) {
      const Range r = even_part(job_.pixels, parts, part);
      run_(job_, r.begin, r.end);
    });
    std::swap(q, next_);
  }

 private:
  struct Corners {
    Array<int32_t> point;
    Array<float> weight;
  };
  void (*run_)(const CrfUpdate&, int64_t, int64_t);
  Team& team_;
  CrfUpdate job_;
  std::vector<Corners> corners_;
  Array<float> self_, next_;
};

}  // namespace dense_crf_detail

std::vector<float> dense_crf_lattice(const float* scores, const float* image, int64_t n, int64_t labels, int64_t h,
                                     int64_t w, const DenseCrfParams& params, int threads, LatticeStats* stats,
                                     CrfUpdateKernel update) {
  check_crf_arguments(scores, image, n, labels, h, w, params);
  Team team(threads);
  const int parts = team.size();
  const int64_t pixels = h * w;
  const int64_t stride = padded_row(labels);
  std::vector<float> out;
  make_buffer(out, static_cast<size_t>(n * labels * pixels));
  LatticeStats totals;
  const bool run_gauss = params.iterations > 0 && params.gaussian_weight != 0;
  const bool run_bilat = params.iterations > 0 && params.bilateral_weight != 0;
  std::vector<float> valid(static_cast<size_t>(stride), 0.0f);
  std::fill(valid.begin(), valid.begin() + labels, 1.0f);

  Array<float> unary = uninitialised<float>(static_cast<size_t>(pixels * stride));
  Array<float> q = uninitialised<float>(static_cast<size_t>(pixels * stride));
  Array<float> gauss = uninitialised<float>(static_cast<size_t>(pixels * 2));
  Array<float> bilat = uninitialised<float>(static_cast<size_t>(pixels * 5));
  for (int64_t img = 0; img < n; ++img) {
    const float* s = scores + img * labels * pixels;
    const float* im = image + img * 3 * pixels;
    // Scores to pixel-major rows, labels innermost, and Q0 = their softmax; the features.
    team.run([&](int part) {
      const Range r = even_part(pixels, parts, part);
      crf_features(im, h, w, params, gauss.data(), bilat.data(), r.begin, r.end);
      for (int64_t i = r.begin; i < r.end; ++i) {
        float* u = unary.data() + i * stride;
        for (int64_t l = 0; l < stride; ++l) u[l] = l < labels ? s[l * pixels + i] : kPaddingScore;
        std::copy(u, u + stride, q.data() + i * stride);
        softmax_row(q.data() + i * stride, stride, valid.data());
      }
    });

    std::vector<LatticeGraph> graphs;
    if (run_gauss) {
      graphs.push_back(build_lattice(gauss.data(), 2, pixels, team));
      totals.points_gaussian += graphs.back().points;
      fold_normalisation(graphs.back(), params.gaussian_weight, params.symmetric, team);
    }
    if (run_bilat) {
      graphs.push_back(build_lattice(bilat.data(), 5, pixels, team));
      totals.points_bilateral += graphs.back().points;
      fold_normalisation(graphs.back(), params.bilateral_weight, params.symmetric, team);
    }

    if (!graphs.empty()) {
      // Each row is first written by the splat; one more row, of zeros, for the update kernel.
      std::vector<Array<float>> lattice;
      int axes = 0;
      for (const LatticeGraph& g : graphs) {
        lattice.push_back(uninitialised<float>(static_cast<size_t>((g.kept + 1) * stride)));
        std::fill(lattice.back().end() - stride, lattice.back().end(), 0.0f);
        axes = std::max(axes, g.d + 1);
      }
      KernelUpdate kernel(update, graphs, lattice, unary, q, labels, stride, team);
      for (int it = 0; it < params.iterations; ++it) {
        team.run([&](int part) {
          for (size_t k = 0; k < graphs.size(); ++k)
            splat(graphs[k], q.data(), stride, lattice[k].data(), weighted_part(graphs[k].splat_offsets, parts, part));
        });
        for (int axis = 0; axis < axes; ++axis)
          team.run([&](int part) {
            for (size_t k = 0; k < graphs.size(); ++k)
              if (axis <= graphs[k].d)
                blur(graphs[k], axis, stride, lattice[k].data(),
                     weighted_part(graphs[k].chain_offsets[static_cast<size_t>(axis)], parts, part));
          });
        if (kernel.active()) {
          kernel.run(q);
          continue;
        }
        // Slice both kernels onto the scores and take the softmax, pixel by pixel; a pixel's
        // own Q (the lonely term) is read before its row is overwritten.
        team.run([&](int part) {
          const Range r = even_part(pixels, parts, part);
          std::vector<float> row(static_cast<size_t>(stride));
          for (int64_t i = r.begin; i < r.end; ++i) {
            float* qi = q.data() + i * stride;
            for_each_group(stride, [&](auto group, int64_t b) {
              constexpr int G = decltype(group)::value;
              Lanes acc[G];
#pragma GCC unroll 4
              for (int v = 0; v < G; ++v) acc[v] = load(unary.data() + i * stride + b + v * kLanes);
              for (size_t k = 0; k < graphs.size(); ++k)
                add_slice<G>(graphs[k], lattice[k].data(), qi + b, i, stride, b, acc);
#pragma GCC unroll 4
              for (int v = 0; v < G; ++v) store(row.data() + b + v * kLanes, acc[v]);
            });
            softmax_row(row.data(), stride, valid.data());
            std::copy(row.begin(), row.end(), qi);
          }
        });
      }
    }

    float* o = out.data() + img * labels * pixels;
    team.run([&](int part) {
      const Range r = even_part(pixels, parts, part);
      for (int64_t l = 0; l < labels; ++l)
        for (int64_t i = r.begin; i < r.end; ++i) o[l * pixels + i] = q[static_cast<size_t>(i * stride + l)];
    });
  }
  if (stats) *stats = totals;
  return out;
}

std::vector<float> gaussian_filter_exact(const float* features, int d, int64_t pixels, const float* values,
                                         int channels) {
  if (d < 1 || pixels < 0 || channels < 1) refuse("gaussian_filter_exact needs d >= 1, pixels >= 0, channels >= 1");
  if (pixels > 0 && (features == nullptr || values == nullptr)) refuse("features and values must not be null");
  std::vector<float> out(static_cast<size_t>(pixels * channels));
  std::vector<double> acc(static_cast<size_t>(channels));
  for (int64_t i = 0; i < pixels; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t j = 0; j < pixels; ++j) {
      double r2 = 0;
      for (int k = 0; k < d; ++k) {
        const double diff = static_cast<double>(features[i * d + k]) - features[j * d + k];
        r2 += diff * diff;
      }
      const double kij = std::exp(-0.5 * r2);
      for (int c = 0; c < channels; ++c) acc[static_cast<size_t>(c)] += kij * values[j * channels + c];
    }
    for (int c = 0; c < channels; ++c)
      out[static_cast<size_t>(i * channels + c)] = static_cast<float>(acc[static_cast<size_t>(c)]);
  }
  return out;
}

std::vector<float> gaussian_filter_lattice(const float* features, int d, int64_t pixels, const float* values,
                                           int channels, int threads) {
  if (d < 1 || d > 8 || pixels < 0 || channels < 1)
    refuse("gaussian_filter_lattice needs 1 <= d <= 8, pixels >= 0, channels >= 1");
  if (pixels > 0 && (features == nullptr || values == nullptr)) refuse("features and values must not be null");
  if (pixels > (int64_t{1} << 28)) refuse("more than 2^28 pixels are not supported");
  Team team(threads);
  const LatticeGraph g = build_lattice(features, d, pixels, team);
  const int64_t stride = padded_row(channels);
  std::vector<float> padded(static_cast<size_t>(pixels * stride), 0.0f);
  for (int64_t i = 0; i < pixels; ++i)
    std::copy(values + i * channels, values + (i + 1) * channels, padded.begin() + i * stride);
  const std::vector<float> filtered = apply_lattice(g, padded.data(), stride, team);
  const float scale = static_cast<float>(lattice_to_gaussian(d));
  std::vector<float> out(static_cast<size_t>(pixels * channels));
  for (int64_t i = 0; i < pixels; ++i)
    for (int c = 0; c < channels; ++c)
      out[static_cast<size_t>(i * channels + c)] = filtered[static_cast<size_t>(i * stride + c)] * scale;
  return out;
}

}  // namespace archbench
