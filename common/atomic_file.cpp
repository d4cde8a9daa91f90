#include "common/atomic_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace archbench {

AtomicFile::AtomicFile(const std::filesystem::path& target) : target_(target) {
  std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::string name = ".";  // (built by appends: GCC 12 warns, wrongly, about "." + string)
  name += target.filename().string();
  name += ".XXXXXX";
  temporary_ = (dir / name).string();
  fd_ = ::mkstemp(temporary_.data());
  if (fd_ < 0) fail();
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) std::remove(temporary_.c_str());
}

void AtomicFile::fail() const {
  throw std::runtime_error(target_.string() + ": cannot write: " + std::strerror(errno));
}

void AtomicFile::write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t w = ::write(fd_, p, size);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail();
    }
    p += w;
    size -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0 || ::fchmod(fd_, 0644) != 0) fail();
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail();
  if (std::rename(temporary_.c_str(), target_.c_str()) != 0) fail();
  committed_ = true;
}

void write_file_atomically(const std::filesystem::path& path, const std::string& text) {
  AtomicFile file(path);
  file.write(text);
  file.commit();
}

}  // namespace archbench
