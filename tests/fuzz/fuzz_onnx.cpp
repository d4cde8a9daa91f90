// libFuzzer harness: arbitrary bytes imported as an ONNX model (networks/onnx_import.h) with its
// weights, and the spec the import gives loaded. The model lies alone in a folder of this
// process's own beside weights.bin (256 bytes), so that external data resolves to that file, to
// the model itself or to nothing, and never reads anything else. Only SpecError may come out;
// anything else (another exception, a crash, a leak, undefined behaviour) is a finding. Seeds:
// tests/fuzz/corpus_onnx/, which tests/test_onnx_import.cpp builds.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "networks/networks.h"
#include "networks/onnx_import.h"
#include "tests/fuzz/input_file.h"

namespace {

struct Folder {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("archbench-fuzz-onnx-" + std::to_string(getpid()));
  Folder() {
    std::filesystem::create_directories(path);
    uint8_t bytes[256];
    for (int k = 0; k < 256; ++k) bytes[k] = static_cast<uint8_t>(k);
    archbench::fuzz::write_input(path / "weights.bin", bytes, sizeof bytes);
  }
  ~Folder() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Folder folder;
  const std::filesystem::path file = folder.path / "model.onnx";
  if (!archbench::fuzz::write_input(file, data, size)) return 0;
  try {
    const archbench::OnnxImport model = archbench::import_onnx(file, {}, true);
    archbench::load_spec_text(model.spec, file);
  } catch (const archbench::SpecError&) {}
  return 0;
}
