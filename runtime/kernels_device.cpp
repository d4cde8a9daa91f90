// Kernel sets (cpu, cuda, opencl): which one a thread calls, the GPU buffer protocol, and
// probing whether a GPU set can run on this machine.
#include <HalideRuntime.h>
#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>

#include "runtime/kernels.h"
#include "runtime/timing.h"

#ifdef ARCHBENCH_HAS_CUDA
#include <HalideRuntimeCuda.h>
#endif
#ifdef ARCHBENCH_HAS_OPENCL
#include <HalideRuntimeOpenCL.h>
#endif

namespace archbench {

namespace {

const std::array<std::string, 3> kSetNames = {"cpu", "cuda", "opencl"};

}  // namespace

const std::string& kernel_set_name(KernelSet set) { return kSetNames[static_cast<size_t>(set)]; }

KernelSet parse_kernel_set(const std::string& name) {
  for (size_t i = 0; i < kSetNames.size(); ++i)
    if (kSetNames[i] == name) return static_cast<KernelSet>(i);
  throw RuntimeError(fmt::format("unknown target '{}' (one of: cpu, cuda, opencl)", name));
}

bool kernel_set_built(KernelSet set) {
  switch (set) {
    case KernelSet::Cpu:
      return true;
    case KernelSet::Cuda:
#ifdef ARCHBENCH_HAS_CUDA
      return true;
#else
      return false;
#endif
    case KernelSet::OpenCL:
#ifdef ARCHBENCH_HAS_OPENCL
      return true;
#else
      return false;
#endif
  }
  return false;
}

namespace kernels {

namespace {
thread_local KernelSet current = KernelSet::Cpu;
}  // namespace

KernelSet current_kernel_set() { return current; }

KernelSetScope::KernelSetScope(KernelSet set) : previous_(current) {
  if (!kernel_set_built(set)) no_kernel_set(set);
  // Halide 14's CUDA runtime caps a kernel at 64 registers unless told otherwise before the
  // first launch; the register-tiled conv spills under that cap. A user's own value wins.
  if (set == KernelSet::Cuda) setenv("HL_CUDA_JIT_MAX_REGISTERS", "255", 0);
  // Kernels with device scratch (fc's partial sums, conv_transpose's phase rows) take it from
  // Halide's cache of freed device allocations instead of a driver call per launch.
  if (set != KernelSet::Cpu) halide_reuse_device_allocations(nullptr, true);
  current = set;
}

KernelSetScope::~KernelSetScope() { current = previous_; }

void no_kernel_set(KernelSet set) {
  throw RuntimeError(fmt::format("this build has no {} kernel set (configure with ARCHBENCH_GPU_KERNEL_SETS)",
                                 kernel_set_name(set)));
}

const halide_device_interface_t* device_interface() {
  switch (current) {
    case KernelSet::Cpu:
      return nullptr;
    case KernelSet::Cuda:
#ifdef ARCHBENCH_HAS_CUDA
      return halide_cuda_device_interface();
#else
      break;
#endif
    case KernelSet::OpenCL:
#ifdef ARCHBENCH_HAS_OPENCL
      return halide_opencl_device_interface();
#else
      break;
#endif
  }
  no_kernel_set(current);
}

namespace {

template <typename T>
void upload_buffer(Halide::Runtime::Buffer<T>& b, const char* what) {
  const halide_device_interface_t* iface = device_interface();
  if (!iface) {
    b.set_host_dirty();
    return;
  }
  install_error_handler();
  b.set_device_dirty(false);
  b.set_host_dirty(true);
  check(b.copy_to_device(iface), what);
}

}  // namespace

void upload(Buffer& b) { upload_buffer(b, "upload"); }
void upload(Halide::Runtime::Buffer<int32_t>& b) { upload_buffer(b, "upload"); }

void mark_written(Buffer& b) {
  if (device_interface()) {
    b.set_host_dirty(false);
    b.set_device_dirty(true);
  } else {
    b.set_host_dirty();
  }
}

void copy_into(const Buffer& src, Buffer& dst) {
  install_error_handler();
  check(halide_buffer_copy(nullptr, const_cast<Buffer&>(src).raw_buffer(), device_interface(), dst.raw_buffer()),
        "copy");
}

void device_sync(Buffer& b) {
  if (b.raw_buffer()->device) {
    install_error_handler();
    check(halide_device_sync(nullptr, b.raw_buffer()), "device_sync");
  }
}

int64_t launch_alignment() {
  static const std::array<int64_t, 3> align = [] {
    std::array<int64_t, 3> a{1, 1, 1};
    for (KernelSet set : {KernelSet::Cuda, KernelSet::OpenCL})
      if (KernelSetStatus s = probe_kernel_set(set); s.usable) a[static_cast<size_t>(set)] = s.base_alignment;
    return a;
  }();
  return align[static_cast<size_t>(current)];
}

bool launchable(const Buffer& b) {
#ifdef ARCHBENCH_HAS_OPENCL
  const halide_buffer_t* raw = const_cast<Buffer&>(b).raw_buffer();
  if (current != KernelSet::OpenCL || !raw->device || raw->device_interface != halide_opencl_device_interface())
    return true;
  uint64_t offset = halide_opencl_get_crop_offset(nullptr, const_cast<halide_buffer_t*>(raw));
  return offset % static_cast<uint64_t>(launch_alignment()) == 0;
#else
  (void)b;
  return true;
#endif
}

Buffer launchable_copy(const Buffer& view, bool copy_in) {
  if (launchable(view)) return view;
  Buffer dense(view.dim(0).extent(), view.dim(1).extent(), view.dim(2).extent(), view.dim(3).extent());
  install_error_handler();
  check(dense.device_malloc(device_interface()), "device_malloc (an aligned copy of a view)");
  if (copy_in) copy_into(at_origin(view), dense);
  return dense;
}

Buffer device_view(Buffer& arena, int64_t offset, const halide_dimension_t dims[4], std::vector<Buffer>& slices) {
  float* base = arena.data() + offset;
  if (!arena.raw_buffer()->device) return Buffer(base, 4, dims);
  // The device crop of the arena elements the view spans; the view borrows its handle.
  int64_t span = 1;
  for (int d = 0; d < 4; ++d) span += static_cast<int64_t>(dims[d].extent - 1) * dims[d].stride;
  Buffer slice = arena.cropped(0, to_int(offset), to_int(span));
  if (!slice.raw_buffer()->device) throw RuntimeError("device crop of the activation arena failed");
  halide_buffer_t raw{};
  raw.host = reinterpret_cast<uint8_t*>(base);
  raw.device = slice.raw_buffer()->device;
  raw.device_interface = slice.raw_buffer()->device_interface;
  raw.type = halide_type_of<float>();
  raw.dimensions = 4;
  raw.dim = const_cast<halide_dimension_t*>(dims);
  Buffer view(raw, Halide::Runtime::BufferDeviceOwnership::Unmanaged);
  slices.push_back(std::move(slice));
  return view;
}

}  // namespace kernels

namespace {

// The few driver entry points probing needs, loaded at run time (the build needs no GPU
// toolkit, and a machine without a driver still runs the cpu set). The driver stays loaded,
// with its symbols global: Halide's runtime looks for them in the process before it tries
// to open the unversioned libOpenCL.so / libcuda.so itself, which only the -dev packages
// provide (without them, every OpenCL launch failed with "null context or cmd_queue").
struct Library {
  void* handle = nullptr;
  explicit Library(std::initializer_list<const char*> names) {
    for (const char* n : names)
      if ((handle = dlopen(n, RTLD_NOW | RTLD_GLOBAL))) break;
  }
  template <typename F>
  F get(const char* name) const {
    return reinterpret_cast<F>(dlsym(handle, name));
  }
};

int64_t memory_total_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  while (in >> key >> kb)
    if (key == "MemTotal:") return kb * 1024;
  return 0;
}

KernelSetStatus probe_cuda(KernelSetStatus s) {
  Library cuda({"libcuda.so.1", "libcuda.so"});
  if (!cuda.handle) {
    s.reason = "no CUDA driver (libcuda.so.1 not found)";
    return s;
  }
  auto init = cuda.get<int (*)(unsigned)>("cuInit");
  auto count = cuda.get<int (*)(int*)>("cuDeviceGetCount");
  auto get = cuda.get<int (*)(int*, int)>("cuDeviceGet");
  auto name = cuda.get<int (*)(char*, int, int)>("cuDeviceGetName");
  auto mem = cuda.get<int (*)(size_t*, int)>("cuDeviceTotalMem_v2");
  auto attr = cuda.get<int (*)(int*, int, int)>("cuDeviceGetAttribute");
  if (!init || !count || !get || !name || !mem || !attr) {
    s.reason = "the CUDA driver lacks cuInit/cuDeviceGet* entry points";
    return s;
  }
  int n = 0, dev = 0;
  if (int e = init(0); e != 0) {
    s.reason = fmt::format("cuInit failed (CUDA error {})", e);
    return s;
  }
  if (count(&n) != 0 || n == 0) {
    s.reason = "the CUDA driver finds no device";
    return s;
  }
  std::array<char, 256> buf{};
  size_t bytes = 0;
  int major = 0, minor = 0;
  get(&dev, 0);
  name(buf.data(), static_cast<int>(buf.size()), dev);
  mem(&bytes, dev);
  attr(&major, 75, dev);  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
  attr(&minor, 76, dev);  // ..._MINOR
  s.device = fmt::format("{} (compute capability {}.{})", buf.data(), major, minor);
  s.base_alignment = 256;  // cudaMalloc's; coalesced rows start at a 128-byte line
  s.memory_bytes = static_cast<int64_t>(bytes);
  return s;
}

KernelSetStatus probe_opencl(KernelSetStatus s) {
  Library cl({"libOpenCL.so.1", "libOpenCL.so"});
  if (!cl.handle) {
    s.reason = "no OpenCL loader (libOpenCL.so.1 not found)";
    return s;
  }
  using Id = void*;
  auto platforms = cl.get<int (*)(unsigned, Id*, unsigned*)>("clGetPlatformIDs");
  auto devices = cl.get<int (*)(Id, uint64_t, unsigned, Id*, unsigned*)>("clGetDeviceIDs");
  auto info = cl.get<int (*)(Id, unsigned, size_t, void*, size_t*)>("clGetDeviceInfo");
  if (!platforms || !devices || !info) {
    s.reason = "the OpenCL loader lacks clGetPlatformIDs/clGetDeviceIDs";
    return s;
  }
  Id platform = nullptr, device = nullptr;
  unsigned n = 0;
  if (platforms(1, &platform, &n) != 0 || n == 0) {
    s.reason = "no OpenCL platform (install a driver, e.g. pocl-opencl-icd)";
    return s;
  }
  if (devices(platform, 0xFFFFFFFFu, 1, &device, &n) != 0 || n == 0) {  // CL_DEVICE_TYPE_ALL
    s.reason = "the OpenCL platform has no device";
    return s;
  }
  std::array<char, 256> buf{};
  uint64_t bytes = 0;
  info(device, 0x102B, buf.size() - 1, buf.data(), nullptr);  // CL_DEVICE_NAME
  info(device, 0x101F, sizeof bytes, &bytes, nullptr);        // CL_DEVICE_GLOBAL_MEM_SIZE
  unsigned align_bits = 0;
  info(device, 0x1019, sizeof align_bits, &align_bits, nullptr);  // CL_DEVICE_MEM_BASE_ADDR_ALIGN
  s.device = buf.data();
  s.memory_bytes = static_cast<int64_t>(bytes);
  s.base_alignment = std::max<int64_t>(64, align_bits / 8);
  return s;
}

}  // namespace

KernelSetStatus probe_kernel_set(KernelSet set) {
  KernelSetStatus s;
  s.built = kernel_set_built(set);
  if (!s.built) {
    s.reason = fmt::format("this build has no {} kernel set", kernel_set_name(set));
    return s;
  }
  if (set == KernelSet::Cpu) {
    s.usable = true;
    s.device = cpu_kernel_set();
    s.memory_bytes = memory_total_bytes();
    return s;
  }
  s = set == KernelSet::Cuda ? probe_cuda(s) : probe_opencl(s);
  if (!s.reason.empty()) return s;
  // The driver answers; now the Halide runtime itself: a small device allocation.
  try {
    kernels::KernelSetScope scope(set);
    kernels::Buffer b(16);
    kernels::upload(b);
    s.usable = true;
  } catch (const RuntimeError& e) {
    s.reason = e.what();
  }
  return s;
}

}  // namespace archbench
