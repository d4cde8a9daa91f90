// Files written whole or not at all: a temporary file beside the target, renamed over it on
// commit(). A failed or abandoned write leaves any existing file untouched and no temporary.
//
// A symbolic link is followed: the file it leads to is replaced, the link kept. A character
// device or a FIFO (/dev/null, /dev/stdout, a named pipe) is written straight to, as a shell
// redirection would: nothing partial can remain there, and the device node is never replaced.
// Any other target that is not a regular file (a directory, a socket, a block device) is an
// error.
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
  void commit();  // flush, fsync, rename over the target (a device or FIFO: close it)

 private:
  [[noreturn]] void fail() const;
  [[noreturn]] void fail(const std::string& reason) const;
  std::filesystem::path target_;  // as the caller named it (what errors name)
  std::filesystem::path final_;   // the file replaced: target_ with symbolic links followed
  std::string temporary_;         // empty when writing straight to a device or FIFO
  int fd_ = -1;
  bool committed_ = false;
};

// Writes `text` to `path` through an AtomicFile.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace archbench
