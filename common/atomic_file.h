// Files written whole or not at all: a temporary file beside the target, renamed over it on
// commit(). A failed or abandoned write leaves any existing file untouched and no temporary.
#pragma once

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace archbench {

class AtomicFile {
 public:
  // Throws std::runtime_error "PATH: cannot write: REASON".
  explicit AtomicFile(const std::filesystem::path& target);
  ~AtomicFile();  // removes the temporary file unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(const std::string& text) { write(text.data(), text.size()); }
  void commit();  // flush, fsync, rename over the target

 private:
  [[noreturn]] void fail() const;
  std::filesystem::path target_;
  std::string temporary_;
  int fd_ = -1;
  bool committed_ = false;
};

// Writes `text` to `path` through an AtomicFile.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace archbench
