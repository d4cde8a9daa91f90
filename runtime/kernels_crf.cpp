// The dense CRF's mean-field update by the Halide kernel (schedules/crf.cpp), as
// dense_crf_lattice's CrfUpdateKernel: the C++ side wraps the CRF's arrays as Halide buffers
// (no copies) over the caller's run of pixels and picks the variant for the lattices at hand.
#include <HalideBuffer.h>

#include "archbench_crf_slice_3.h"
#include "archbench_crf_slice_3_6.h"
#include "archbench_crf_slice_6.h"
#include "runtime/kernels_misc.h"

namespace archbench::kernels {

namespace {

template <typename T>
using HostBuffer = Halide::Runtime::Buffer<T>;

// Rows of `row` elements for pixels [begin, end) of an array of them, dims (element, pixel).
template <typename T>
HostBuffer<T> pixel_rows(const T* data, int64_t row, int64_t begin, int64_t end) {
  halide_dimension_t dims[2] = {
      {0, static_cast<int32_t>(row), 1},
      {static_cast<int32_t>(begin), static_cast<int32_t>(end - begin), static_cast<int32_t>(row)}};
  return HostBuffer<T>(const_cast<T*>(data) + begin * row, 2, dims);
}

// The variant for the lattices at hand (3 corners: the smoothness kernel, 6: the appearance
// kernel), or null.
using SliceFn = decltype(&archbench_crf_slice_3_6);
SliceFn slice_variant(const CrfUpdate& job) {
  const std::vector<CrfLattice>& l = job.lattices;
  if (job.stride % 8 != 0) return nullptr;
  if (l.size() == 2 && l[0].corners == 3 && l[1].corners == 6) return archbench_crf_slice_3_6;
  if (l.size() == 1 && l[0].corners == 3) return archbench_crf_slice_3;
  if (l.size() == 1 && l[0].corners == 6) return archbench_crf_slice_6;
  return nullptr;
}

bool accepts(const CrfUpdate& job) { return slice_variant(job) != nullptr; }

void update(const CrfUpdate& job, int64_t begin, int64_t end) {
  if (begin >= end) return;
  install_error_handler();
  KernelSetScope cpu(KernelSet::Cpu);  // the CRF runs on the host whatever the executor's set
  const std::vector<CrfLattice>& l = job.lattices;
  HostBuffer<float> unary = pixel_rows(job.unary, job.stride, begin, end);
  HostBuffer<float> q = pixel_rows(job.q, job.stride, begin, end);
  HostBuffer<float> out = pixel_rows(static_cast<const float*>(job.out), job.stride, begin, end);
  halide_dimension_t self_dim = {static_cast<int32_t>(begin), static_cast<int32_t>(end - begin), 1};
  HostBuffer<float> self(const_cast<float*>(job.self) + begin, 1, &self_dim);
  HostBuffer<float> values[2], weights[2];
  HostBuffer<int32_t> points[2];
  for (size_t k = 0; k < 2; ++k) {
    const CrfLattice& lattice = l[std::min(k, l.size() - 1)];  // a lone lattice stands in for the unused second
    values[k] = pixel_rows(lattice.values, job.stride, 0, lattice.rows);
    points[k] = pixel_rows(lattice.point, lattice.corners, begin, end);
    weights[k] = pixel_rows(lattice.weight, lattice.corners, begin, end);
  }
  check(slice_variant(job)(unary.raw_buffer(), q.raw_buffer(), self.raw_buffer(), values[0].raw_buffer(),
                           points[0].raw_buffer(), weights[0].raw_buffer(), values[1].raw_buffer(),
                           points[1].raw_buffer(), weights[1].raw_buffer(), static_cast<int>(job.labels),
                           out.raw_buffer()),
        "crf_slice");
}

}  // namespace

CrfUpdateKernel crf_update_kernel() { return {&accepts, &update}; }

}  // namespace archbench::kernels
