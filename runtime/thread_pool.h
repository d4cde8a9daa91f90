// The cpu kernel set's parallel loops on a pool whose workers spin between kernel calls.
//
// Halide's own pool puts its workers to sleep a few yields after a parallel loop ends, so each
// of a network's 50-150 kernel calls wakes them again (a futex wake; in a virtual machine an
// interrupt to a halted vCPU) and starts on one thread. ONNX Runtime's intra-op pool spins
// instead. This one does the same: a worker polls for the next loop for a while (kSpinWindow)
// before it sleeps, so back-to-back kernel calls find it awake.
#pragma once

#include <chrono>

namespace archbench {

// How long an idle worker polls before it sleeps.
constexpr std::chrono::microseconds kSpinWindow{2000};

// Routes Halide's parallel loops (halide_do_par_for) through the spinning pool, sized to
// `threads` in all (the caller included; 0: one per core). Idempotent; call it before the
// kernels run, from the thread that runs them. A parallel loop started inside another runs
// inline; one started while another host thread's loop runs goes to Halide's default pool.
void use_spinning_pool(int threads);

// Parallel loops the spinning pool ran since the process started (a test's evidence that the
// kernels really go through it).
long spinning_pool_loops();

}  // namespace archbench
