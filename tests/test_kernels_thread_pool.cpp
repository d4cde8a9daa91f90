// The spinning pool behind Halide's parallel loops (runtime/thread_pool.h): every iteration
// runs exactly once, errors come back, nested loops and loops from two host threads at once
// finish, and the kernels really run through it.
#include <HalideRuntime.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <thread>
#include <vector>

#include "helpers.h"
#include "runtime/executor.h"
#include "runtime/thread_pool.h"

using namespace archbench;
using namespace archbench::test;

namespace {

struct Counts {
  std::vector<std::atomic<int>> runs;
  int fail_at = -1;  // an iteration that returns an error
  explicit Counts(size_t n) : runs(n) {}
};

int count_iteration(void*, int i, uint8_t* closure) {
  auto* c = reinterpret_cast<Counts*>(closure);
  c->runs[static_cast<size_t>(i)].fetch_add(1);
  return i == c->fail_at ? -7 : 0;
}

// Iteration j of a loop over one slice of a Counts: counts base + j.
struct Slice {
  Counts* counts;
  int base;
};
int count_in_slice(void*, int j, uint8_t* closure) {
  auto* s = reinterpret_cast<Slice*>(closure);
  s->counts->runs[static_cast<size_t>(s->base + j)].fetch_add(1);
  return 0;
}

// Each outer iteration runs an inner parallel loop over its own slice of 16.
int nested_iteration(void*, int i, uint8_t* closure) {
  Slice slice{reinterpret_cast<Counts*>(closure), i * 16};
  return halide_do_par_for(nullptr, count_in_slice, 0, 16, reinterpret_cast<uint8_t*>(&slice));
}

int ran_once(const Counts& c) {
  int wrong = 0;
  for (const auto& r : c.runs) wrong += r.load() != 1;
  return wrong;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(thread_pool)

BOOST_AUTO_TEST_CASE(every_iteration_runs_once_at_any_size) {
  use_spinning_pool(3);  // more threads than this 2-core machine has: oversubscription too
  for (int size : {1, 2, 3, 7, 1000}) {
    Counts c(static_cast<size_t>(size + 5));
    BOOST_TEST(halide_do_par_for(nullptr, count_iteration, 5, size, reinterpret_cast<uint8_t*>(&c)) == 0);
    for (int i = 0; i < 5; ++i) BOOST_TEST(c.runs[static_cast<size_t>(i)].load() == 0);  // below min
    int wrong = 0;
    for (int i = 5; i < size + 5; ++i) wrong += c.runs[static_cast<size_t>(i)].load() != 1;
    BOOST_TEST(wrong == 0, "size " << size);
  }
}

// Each participant starts on a block of its own and steals the rest; past 16 participants
// (the blocks a loop has) the others only steal.
BOOST_TEST_DECORATOR(*boost::unit_test::description("blocks and stealing"))
BOOST_AUTO_TEST_CASE(every_iteration_runs_once_with_more_threads_than_blocks) {
  use_spinning_pool(20);
  for (int size : {5, 16, 17, 19, 1001}) {
    Counts c(static_cast<size_t>(size));
    BOOST_TEST(halide_do_par_for(nullptr, count_iteration, 0, size, reinterpret_cast<uint8_t*>(&c)) == 0);
    BOOST_TEST(ran_once(c) == 0, "size " << size);
  }
  use_spinning_pool(2);
}

BOOST_AUTO_TEST_CASE(an_iteration_error_is_returned) {
  use_spinning_pool(2);
  Counts c(100);
  c.fail_at = 42;
  BOOST_TEST(halide_do_par_for(nullptr, count_iteration, 0, 100, reinterpret_cast<uint8_t*>(&c)) == -7);
  BOOST_TEST(c.runs[42].load() == 1);
}

BOOST_AUTO_TEST_CASE(nested_loops_and_two_host_threads_finish) {
  use_spinning_pool(2);
  Counts nested(64 * 16);
  BOOST_TEST(halide_do_par_for(nullptr, nested_iteration, 0, 64, reinterpret_cast<uint8_t*>(&nested)) == 0);
  BOOST_TEST(ran_once(nested) == 0);

  // Two host threads start loops at once, 200 times each: one gets the pool, the other
  // Halide's, and neither loses an iteration.
  std::vector<Counts> counts;
  counts.reserve(2);
  counts.emplace_back(200 * 50);
  counts.emplace_back(200 * 50);
  auto many = [](Counts* c) {
    for (int round = 0; round < 200; ++round) {
      Slice part{c, round * 50};
      halide_do_par_for(nullptr, count_in_slice, 0, 50, reinterpret_cast<uint8_t*>(&part));
    }
  };
  std::thread a(many, &counts[0]), b(many, &counts[1]);
  a.join();
  b.join();
  BOOST_TEST(ran_once(counts[0]) == 0);
  BOOST_TEST(ran_once(counts[1]) == 0);
}

BOOST_AUTO_TEST_CASE(the_kernels_run_through_it) {
  Graph g = load_text(
      "name: t\ninput: [1, 32, 20, 20]\nlayers:\n"
      "  - {name: c, op: conv, out: 64, kernel: 3, padding: 1}\n"
      "  - {name: r, op: relu}\n");
  ExecutorOptions options;
  options.threads = 2;
  Executor exec(g, init_weights(g, 3), options);
  Tensor x = random_tensor(g.input().output, 5);
  const long before = spinning_pool_loops();
  auto got = exec.run(x);
  BOOST_TEST(spinning_pool_loops() > before);
  // ... and compute what the reference executor does.
  auto want = run_reference(g, init_weights(g, 3), x);
  BOOST_TEST(relative_error(got.at("r"), want.at("r")) < 1e-5);
}

BOOST_AUTO_TEST_SUITE_END()
