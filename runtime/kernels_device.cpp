// Kernel sets (cpu, cuda, opencl): which one a thread calls, the GPU buffer protocol, and
// probing whether a GPU set can run on this machine.
#include <HalideRuntime.h>
#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
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

namespace {

// Per level: the name ARCHBENCH_CPU_ISA and the reports use, the spelling tuning databases
// record (kept for the databases already written), and the Halide target the level's
// variants were compiled for.
struct IsaNames {
  const char *name, *db_name, *target;
};
const std::array<IsaNames, 4> kIsaNames = {{
    {"x86-64", "x86-64", "x86-64"},
    {"sse41", "sse4.1", "x86-64 sse41"},
    {"avx2", "avx2", "x86-64 avx2"},
    {"avx512", "avx512", "x86-64 avx512_skylake"},
}};

}  // namespace

CpuIsa detected_cpu_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return CpuIsa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuIsa::Avx2;
  if (__builtin_cpu_supports("sse4.1")) return CpuIsa::Sse41;
  return CpuIsa::Baseline;
}

namespace {

std::atomic<int> isa_cap{static_cast<int>(CpuIsa::Avx512)};
std::atomic<int64_t> isa_refusals{0};

bool has_feature(int count, const uint64_t* features, halide_target_feature_t f) {
  const int word = static_cast<int>(f) / 64;
  return word < count && (features[word] >> (static_cast<int>(f) % 64) & 1) != 0;
}

// Halide's multi-target wrappers ask this before each call which variant may run: refuse the
// levels above the cap, then ask Halide's own CPU check.
int capped_can_use(int count, const uint64_t* features) {
  static const std::array<std::vector<halide_target_feature_t>, 4> above = {{
      {halide_target_feature_sse41, halide_target_feature_avx, halide_target_feature_avx2, halide_target_feature_fma,
       halide_target_feature_f16c, halide_target_feature_avx512, halide_target_feature_avx512_skylake},
      {halide_target_feature_avx, halide_target_feature_avx2, halide_target_feature_fma, halide_target_feature_f16c,
       halide_target_feature_avx512, halide_target_feature_avx512_skylake},
      {halide_target_feature_avx512, halide_target_feature_avx512_skylake},
      {},
  }};
  for (halide_target_feature_t f : above[static_cast<size_t>(isa_cap.load())])
    if (has_feature(count, features, f)) {
      ++isa_refusals;
      return 0;
    }
  return halide_default_can_use_target_features(count, features);
}

#ifndef ARCHBENCH_CPU_LEVELS
#define ARCHBENCH_CPU_LEVELS 15
#endif
// Bit i: the cpu kernel set was compiled for CpuIsa i (schedules/CMakeLists.txt: every level in
// a portable build, this CPU's level only by default).
constexpr unsigned kCompiledLevels = ARCHBENCH_CPU_LEVELS;
std::atomic<int> chosen_level{static_cast<int>(CpuIsa::Baseline)};

bool level_compiled(CpuIsa isa) { return (kCompiledLevels >> static_cast<unsigned>(isa) & 1) != 0; }

std::string compiled_levels() {
  std::vector<std::string> names;
  for (int l = static_cast<int>(CpuIsa::Avx512); l >= 0; --l)
    if (level_compiled(static_cast<CpuIsa>(l))) names.push_back(cpu_isa_name(static_cast<CpuIsa>(l)));
  return fmt::format("{}", fmt::join(names, ", "));
}

// The cap of ARCHBENCH_CPU_ISA, installed once before the first kernel call (every
// KernelSetScope asks; the multi-target wrappers remember their first answer), and the level
// calls run at: the highest compiled one at most the CPU's and the cap's. A build with no such
// level is an error here, before any kernel could run code this CPU lacks.
void install_isa_cap() {
  static const bool installed = [] {
    CpuIsa cap = CpuIsa::Avx512;
    const char* env = std::getenv("ARCHBENCH_CPU_ISA");
    if (env && *env) {
      try {
        cap = parse_cpu_isa(env);
      } catch (const RuntimeError& e) {
        throw RuntimeError(fmt::format("ARCHBENCH_CPU_ISA: {}", e.what()));
      }
    }
    const CpuIsa detected = detected_cpu_isa();
    int level = static_cast<int>(std::min(detected, cap));
    while (level >= 0 && !level_compiled(static_cast<CpuIsa>(level))) --level;
    if (level < 0) {
      if (cap < detected)
        throw RuntimeError(fmt::format(
            "ARCHBENCH_CPU_ISA={}: this build's cpu kernel set has no level at or below it (compiled: {}); "
            "configure with -DARCHBENCH_PORTABLE=ON for every level",
            cpu_isa_name(cap), compiled_levels()));
      throw RuntimeError(fmt::format(
          "this CPU runs x86-64 level {} at most, and this build's cpu kernel set was compiled for {} only: "
          "build archbench on this machine, or configure with -DARCHBENCH_PORTABLE=ON for every level",
          cpu_isa_name(detected), compiled_levels()));
    }
    isa_cap = static_cast<int>(cap);
    chosen_level = level;
    halide_set_custom_can_use_target_features(capped_can_use);
    return true;
  }();
  (void)installed;
}

}  // namespace

CpuIsa parse_cpu_isa(const std::string& name) {
  for (size_t i = 0; i < kIsaNames.size(); ++i)
    if (name == kIsaNames[i].name) return static_cast<CpuIsa>(i);
  throw RuntimeError(fmt::format("unknown CPU ISA level '{}' (one of: avx512, avx2, sse41, x86-64)", name));
}

const char* cpu_isa_name(CpuIsa isa) { return kIsaNames[static_cast<size_t>(isa)].name; }
const char* cpu_isa_db_name(CpuIsa isa) { return kIsaNames[static_cast<size_t>(isa)].db_name; }
const char* cpu_isa_target(CpuIsa isa) { return kIsaNames[static_cast<size_t>(isa)].target; }

CpuIsa cpu_isa() {
  install_isa_cap();
  return static_cast<CpuIsa>(chosen_level.load());
}

int64_t cpu_isa_refusals() { return isa_refusals.load(); }

namespace kernels {

namespace {
thread_local KernelSet current = KernelSet::Cpu;
}  // namespace

KernelSet current_kernel_set() { return current; }

KernelSetScope::KernelSetScope(KernelSet set) : previous_(current) {
  if (!kernel_set_built(set)) no_kernel_set(set);
  install_isa_cap();
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
  throw RuntimeError(
      fmt::format("this build has no {} kernel set (configure with ARCHBENCH_GPU_KERNEL_SETS)", kernel_set_name(set)));
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

template <typename T>
DeviceArray<T> DeviceArray<T>::with_device(T* host, int elements) {
  DeviceArray b(host, elements);
  if (const halide_device_interface_t* device = device_interface()) {
    install_error_handler();
    check(b.device_malloc(device), "device_malloc (the activation arena)");
  }
  return b;
}

template <typename T>
DeviceArray<T> DeviceArray<T>::view(int64_t offset, const halide_dimension_t dims[4]) const {
  T* base = const_cast<T*>(this->data()) + offset;
  if (!this->raw_buffer()->device) return DeviceArray(base, 4, dims);
  // The device crop of the elements the view spans; the view borrows its handle.
  int64_t span = 1;
  for (int d = 0; d < 4; ++d) span += static_cast<int64_t>(dims[d].extent - 1) * dims[d].stride;
  auto crop = std::make_shared<const Base>(this->cropped(0, to_int(offset), to_int(span)));
  if (!crop->raw_buffer()->device) throw RuntimeError("device crop of the activation arena failed");
  halide_buffer_t raw{};
  raw.host = reinterpret_cast<uint8_t*>(base);
  raw.device = crop->raw_buffer()->device;
  raw.device_interface = crop->raw_buffer()->device_interface;
  raw.type = halide_type_of<T>();
  raw.dimensions = 4;
  raw.dim = const_cast<halide_dimension_t*>(dims);
  DeviceArray v(Base(raw, Halide::Runtime::BufferDeviceOwnership::Unmanaged));
  v.device_owner_ = std::move(crop);
  return v;
}

template <typename T>
void DeviceArray<T>::host_written() {
  set_host_dirty();
}

template <typename T>
void DeviceArray<T>::upload() {
  const halide_device_interface_t* iface = device_interface();
  if (!iface) {
    set_host_dirty();
    return;
  }
  install_error_handler();
  set_device_dirty(false);
  set_host_dirty(true);
  check(copy_to_device(iface), "upload");
}

template <typename T>
void DeviceArray<T>::mark_written() {
  if (device_interface()) {
    set_host_dirty(false);
    set_device_dirty(true);
  } else {
    set_host_dirty();
  }
}

template <typename T>
void DeviceArray<T>::download() {
  if (!this->raw_buffer()->device) return;
  install_error_handler();
  set_host_dirty(false);
  set_device_dirty(true);
  check(copy_to_host(), "copy_to_host (a network output)");
}

template <typename T>
void DeviceArray<T>::sync() {
  if (this->raw_buffer()->device) {
    install_error_handler();
    check(device_sync(), "device_sync");
  }
}

template <typename T>
void DeviceArray<T>::copy_contents_from(const DeviceArray& src) {
  install_error_handler();
  check(halide_buffer_copy(nullptr, const_cast<DeviceArray&>(src).raw_buffer(), device_interface(), this->raw_buffer()),
        "copy");
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

template <typename T>
bool DeviceArray<T>::launchable() const {
#ifdef ARCHBENCH_HAS_OPENCL
  const halide_buffer_t* raw = this->raw_buffer();
  if (current != KernelSet::OpenCL || !raw->device || raw->device_interface != halide_opencl_device_interface())
    return true;
  uint64_t offset = halide_opencl_get_crop_offset(nullptr, const_cast<halide_buffer_t*>(raw));
  return offset % static_cast<uint64_t>(launch_alignment()) == 0;
#else
  return true;
#endif
}

template <typename T>
DeviceArray<T> DeviceArray<T>::launchable_copy(bool copy_in) const {
  if (launchable()) return *this;
  DeviceArray dense(this->dim(0).extent(), this->dim(1).extent(), this->dim(2).extent(), this->dim(3).extent());
  install_error_handler();
  check(dense.device_malloc(device_interface()), "device_malloc (an aligned copy of a view)");
  if (copy_in) {
    DeviceArray src = *this;  // at its origin, as `dense` is
    for (int d = 0; d < src.dimensions(); ++d) src.raw_buffer()->dim[d].min = 0;
    dense.copy_contents_from(src);
  }
  return dense;
}

template class DeviceArray<float>;
template class DeviceArray<int32_t>;

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
    b.upload();
    s.usable = true;
  } catch (const RuntimeError& e) {
    s.reason = e.what();
  }
  return s;
}

}  // namespace archbench
