// Internal to runtime/: the one tensor wrapper that owns the GPU buffer protocol.
#pragma once

#include <HalideBuffer.h>

#include <memory>

namespace archbench::kernels {

// A Halide buffer of the current kernel set (kernels.h: KernelSetScope). It is the only code
// that sets Halide's host-dirty / device-dirty flags, allocates device memory, or copies
// between host and device; those members of Halide::Runtime::Buffer are private here, so
// the compiler refuses a stray protocol step anywhere else. On the cpu set every operation
// is (nearly) nothing; on a GPU set:
//   - host data that is the truth (weights, tables, the network input) is `upload`ed once,
//     where it is prepared;
//   - a kernel's output is `mark_written`: device-dirty, so the next kernel reads the device
//     copy and nothing crosses the bus between layers;
//   - a network output is `download`ed after the run; `sync` waits for queued kernels;
//   - `copy_contents_from` copies device to device (concat slices, aligned stand-ins).
// Halide methods that return a plain Buffer (cropped, translated, ...) convert back
// implicitly; a crop of a buffer with a device allocation carries a device crop.
template <typename T>
class DeviceArray : public Halide::Runtime::Buffer<T> {
  using Base = Halide::Runtime::Buffer<T>;

 public:
  using Base::Base;
  DeviceArray() = default;
  DeviceArray(const Base& b) : Base(b) {}        // NOLINT(google-explicit-constructor)
  DeviceArray(Base&& b) : Base(std::move(b)) {}  // NOLINT(google-explicit-constructor)

  // `elements` values at `host` (caller-owned) with, on a GPU set, a device allocation of
  // the same size: the executor's activation arena.
  static DeviceArray with_device(T* host, int elements);
  // The (c, x, y, n) view with `dims` starting at element `offset` of this 1-D buffer; on a
  // GPU set it refers to a device crop of this buffer's allocation (which the view keeps).
  DeviceArray view(int64_t offset, const halide_dimension_t dims[4]) const;

  // The host data changed (nothing is copied yet).
  void host_written();
  // The host data is the truth: copied to the device on a GPU set.
  void upload();
  // A kernel of the current set wrote it: device-dirty on a GPU set, host-dirty on cpu.
  void mark_written();
  // The device copy to the host (a network output); nothing on the cpu set.
  void download();
  // Waits for the kernels queued on its device (nothing without one).
  void sync();
  // this = src (same extents), device to device on a GPU set.
  void copy_contents_from(const DeviceArray& src);

  // OpenCL passes a view at an offset in its allocation as a sub-buffer, which must start at
  // a multiple of the device's base address alignment (launch_alignment() in kernels.h).
  // launchable: whether this may be a kernel argument as it is; launchable_copy: this
  // itself where launchable, else a dense device buffer of its extents (holding a copy of
  // it when `copy_in`); a written stand-in is copied back with copy_contents_from.
  bool launchable() const;
  DeviceArray launchable_copy(bool copy_in) const;

 private:
  // Hidden as well: Halide 14's for_each_value, under both, can step by a garbage stride
  // (kernels.h: fill; a copy is copy_contents_from).
  using Base::copy_from;
  using Base::copy_to_device;
  using Base::copy_to_host;
  using Base::device_free;
  using Base::device_malloc;
  using Base::device_sync;
  using Base::fill;
  using Base::set_device_dirty;
  using Base::set_host_dirty;

  // A view's device crop of the buffer it was cut from (GPU sets; null otherwise).
  std::shared_ptr<const Base> device_owner_;
};

using Buffer = DeviceArray<float>;
using IndexBuffer = DeviceArray<int32_t>;

}  // namespace archbench::kernels
