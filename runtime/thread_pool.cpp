#include "runtime/thread_pool.h"

#include <immintrin.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "HalideRuntime.h"

namespace archbench {

namespace {

// One parallel loop, on the stack of the thread that started it. Its iterations are cut into
// one contiguous block per participant (the caller is participant 0, worker h is h + 1), each
// taken one iteration at a time from the block's own cursor; a participant that finishes its
// block takes what is left of the others'. The blocks keep the same rows on the same core from
// one kernel to the next (a conv's row bands, then the activation or gate over the same
// rows): taken from one shared counter instead, every other row came from the other core's
// cache, and with 2 threads the element-wise kernels ran 2-3x slower than with one.
struct Loop {
  static constexpr int kMaxBlocks = 16;
  struct alignas(64) Block {
    std::atomic<int> next{0};
    int end = 0;
  };
  void* user_context;
  halide_task_t task;
  int min;
  uint8_t* closure;
  int blocks;
  Block block[kMaxBlocks];
  alignas(64) std::atomic<int> helpers_done{0};
  std::atomic<int> error{0};

  Loop(void* uc, halide_task_t t, int mn, int size, uint8_t* cl, int participants)
      : user_context(uc), task(t), min(mn), closure(cl), blocks(std::clamp(participants, 1, kMaxBlocks)) {
    for (int b = 0; b < blocks; ++b) {
      block[b].next.store(static_cast<int>(int64_t{size} * b / blocks), std::memory_order_relaxed);
      block[b].end = static_cast<int>(int64_t{size} * (b + 1) / blocks);
    }
  }

  // Participant `self`: its own block first, then the others' leftovers.
  void run_iterations(int self) {
    for (int k = 0; k < blocks; ++k) {
      Block& b = block[(self + k) % blocks];
      for (int i = b.next.fetch_add(1, std::memory_order_relaxed); i < b.end;
           i = b.next.fetch_add(1, std::memory_order_relaxed)) {
        int result = task(user_context, min + i, closure);
        if (result != 0) {
          int none = 0;
          error.compare_exchange_strong(none, result);
          // Halide's pool also stops a failed loop early.
          for (int c = 0; c < blocks; ++c) block[c].next.store(block[c].end, std::memory_order_relaxed);
          return;
        }
      }
    }
  }
};

// True on a pool worker, and on a caller while it runs iterations: a loop started there is
// nested and runs inline (every thread of the pool is busy already).
thread_local bool inside_loop = false;

// Sleeping and waking on a 32-bit word, with Linux's futex directly: std::atomic::wait in
// GCC 12's library polls with growing back-offs for some types, and a worker so woken came up
// milliseconds late (a 120-call network ran 100x slower in one of three runs).
void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// One poll of a spin wait. Every 64th yields the core: where the scheduler has put the waiting
// thread on the same core as the one it waits for (Linux wakes a thread on its waker's core
// when that looks cache-friendly), pure spinning held that core until the next scheduler tick,
// 4 ms per kernel call.
void relax(unsigned polls) {
  if (polls % 64 == 0)
    std::this_thread::yield();
  else
    _mm_pause();
}

// A helper thread with a mailbox of its own: the caller stores the loop, then bumps `seq`; the
// worker reports back through the loop's helpers_done, so the caller knows that no worker
// touches the loop (on the caller's stack) once it returns.
class Worker {
 public:
  explicit Worker(int index) : index_(index), thread_([this] { serve(); }) {}
  ~Worker() {
    stop_.store(true, std::memory_order_relaxed);
    seq_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(seq_);
    thread_.join();
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void give(Loop* loop) {
    loop_.store(loop, std::memory_order_release);
    seq_.fetch_add(1, std::memory_order_seq_cst);
    // Both sides are seq_cst: either this sees the worker's flag, or its futex wait sees the
    // bump (and returns at once).
    if (sleeping_.load(std::memory_order_seq_cst)) futex_wake(seq_);
  }

  // Takes back a loop the worker has not started (it was asleep, or busy waking up): the
  // caller, having run every iteration itself, need not wait for a worker that is not there.
  bool take_back(Loop* loop) { return loop_.compare_exchange_strong(loop, nullptr, std::memory_order_acq_rel); }

 private:
  void serve() {
    inside_loop = true;
    uint32_t seen = 0;
    for (;;) {
      seen = next_message(seen);
      if (stop_.load(std::memory_order_relaxed)) return;
      Loop* loop = loop_.exchange(nullptr, std::memory_order_acq_rel);
      if (!loop) continue;  // taken back by its caller
      loop->run_iterations(index_);
      loop->helpers_done.fetch_add(1, std::memory_order_release);
    }
  }

  // Polls `seq_` for kSpinWindow, then sleeps on it; returns its new value.
  uint32_t next_message(uint32_t seen) {
    for (;;) {
      auto deadline = std::chrono::steady_clock::now() + kSpinWindow;
      for (unsigned polls = 1;; ++polls) {
        uint32_t now = seq_.load(std::memory_order_acquire);
        if (now != seen) return now;
        relax(polls);
        if (polls % 256 == 0 && std::chrono::steady_clock::now() > deadline) break;
      }
      sleeping_.store(true, std::memory_order_seq_cst);
      if (seq_.load(std::memory_order_seq_cst) == seen) futex_wait(seq_, seen);
      sleeping_.store(false, std::memory_order_relaxed);
    }
  }

  std::atomic<uint32_t> seq_{0};  // bumped per loop given (wrapping is harmless: only change counts)
  std::atomic<Loop*> loop_{nullptr};
  std::atomic<bool> sleeping_{false}, stop_{false};
  int index_;           // its participant number in a loop (the caller is 0)
  std::thread thread_;  // last: starts once the members above exist
};

struct Pool {
  std::mutex busy;  // held by the loop running on the pool, and while it is resized
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<int> threads{0};
  std::atomic<long> loops{0};
};

Pool& pool() {
  static Pool p;
  return p;
}

int spinning_do_par_for(void* user_context, halide_task_t task, int min, int size, uint8_t* closure) {
  if (size <= 0) return 0;
  if (size == 1) return task(user_context, min, closure);
  Pool& p = pool();
  if (inside_loop) {  // nested
    for (int i = min; i < min + size; ++i)
      if (int result = task(user_context, i, closure)) return result;
    return 0;
  }
  std::unique_lock<std::mutex> lock(p.busy, std::try_to_lock);
  if (!lock.owns_lock() || p.workers.empty()) return halide_default_do_par_for(user_context, task, min, size, closure);
  const int helpers = std::min<int>(size - 1, static_cast<int>(p.workers.size()));
  Loop loop(user_context, task, min, size, closure, helpers + 1);
  for (int h = 0; h < helpers; ++h) p.workers[static_cast<size_t>(h)]->give(&loop);
  inside_loop = true;
  loop.run_iterations(0);
  inside_loop = false;
  int started = helpers;
  for (int h = 0; h < helpers; ++h) started -= p.workers[static_cast<size_t>(h)]->take_back(&loop);
  for (unsigned polls = 1; loop.helpers_done.load(std::memory_order_acquire) < started; ++polls) relax(polls);
  p.loops.fetch_add(1, std::memory_order_relaxed);
  return loop.error.load();
}

}  // namespace

void use_spinning_pool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Pool& p = pool();
  if (p.threads == threads) return;
  std::lock_guard<std::mutex> lock(p.busy);
  p.workers.clear();
  for (int t = 1; t < threads; ++t) p.workers.push_back(std::make_unique<Worker>(t));
  p.threads = threads;
  halide_set_custom_do_par_for(spinning_do_par_for);
}

long spinning_pool_loops() { return pool().loops.load(); }

}  // namespace archbench
