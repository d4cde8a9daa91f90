// Tensor: a dense fp32 array of any rank, row-major.
#include <cassert>
#include <stdexcept>
#include <string>

#include "runtime/runtime.h"

namespace archbench {

namespace {

// The element count of `dims` (1 for rank 0), or std::length_error where a dimension is
// negative or the count does not fit int64 or a std::vector<float>.
size_t checked_elements(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) throw std::length_error("tensor shape " + dims_text(dims) + " has a negative dimension");
    if (__builtin_mul_overflow(n, d, &n))
      throw std::length_error("tensor shape " + dims_text(dims) + " has more elements than int64 can count");
  }
  if (static_cast<uint64_t>(n) > std::vector<float>().max_size())
    throw std::length_error("tensor shape " + dims_text(dims) + " is too large to allocate");
  return static_cast<size_t>(n);
}

}  // namespace

Tensor::Tensor(std::vector<int64_t> dims) : shape(std::move(dims)) { data.assign(checked_elements(shape), 0.0f); }

Shape Tensor::nchw() const {
  if (shape.size() != 4)
    throw std::logic_error("tensor of rank " + std::to_string(shape.size()) + " " + dims_text(shape) +
                           " is not N, C, H, W");
  return Shape{shape[0], shape[1], shape[2], shape[3]};
}

// Unchecked in release builds (the executors' inner loops); debug builds assert rank and bounds.
float& Tensor::at(int64_t n, int64_t c, int64_t h, int64_t w) {
  assert(shape.size() == 4);
  assert(n >= 0 && n < shape[0] && c >= 0 && c < shape[1] && h >= 0 && h < shape[2] && w >= 0 && w < shape[3]);
  return data[static_cast<size_t>(((n * shape[1] + c) * shape[2] + h) * shape[3] + w)];
}

float Tensor::at(int64_t n, int64_t c, int64_t h, int64_t w) const {
  assert(shape.size() == 4);
  assert(n >= 0 && n < shape[0] && c >= 0 && c < shape[1] && h >= 0 && h < shape[2] && w >= 0 && w < shape[3]);
  return data[static_cast<size_t>(((n * shape[1] + c) * shape[2] + h) * shape[3] + w)];
}

Tensor default_input(const Shape& shape) {
  Tensor t(shape);
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<float>((i * 7919) % 255) / 255.0f;
  return t;
}

}  // namespace archbench
