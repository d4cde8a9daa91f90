#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace archbench {

namespace {

// Why a target of this kind cannot be written; empty for a regular file, a character device
// and a FIFO.
std::string refusal(mode_t mode) {
  if (S_ISDIR(mode)) return "is a directory";
  if (S_ISSOCK(mode)) return "is a socket, not a file";
  if (S_ISBLK(mode)) return "is a block device, not a file (archbench does not write to disks)";
  if (S_ISREG(mode) || S_ISCHR(mode) || S_ISFIFO(mode)) return "";
  return "is not a regular file";
}

bool under_proc(const std::filesystem::path& p) { return p.string().rfind("/proc/", 0) == 0; }

}  // namespace

AtomicFile::AtomicFile(const std::filesystem::path& target) : target_(target), final_(target) {
  if (target.empty()) fail("empty path");
  if (!target.has_filename()) fail("names a folder (it ends in '/'), not a file");
  // Follow the links of the last component ourselves, so that the file renamed over is the
  // one they lead to (the link stays). /proc's links (/dev/stdout -> /proc/self/fd/1) are the
  // process's open files, and some do not even name a path: those are written straight.
  bool direct = false;
  for (int hops = 0;; ++hops) {
    if (under_proc(final_)) {
      direct = true;
      break;
    }
    struct stat st {};
    if (::lstat(final_.c_str(), &st) != 0) {
      if (errno != ENOENT) fail();
      break;  // a new file (a missing folder fails below, at mkstemp)
    }
    if (S_ISLNK(st.st_mode)) {
      if (hops == 40) {  // the kernel's own limit (ELOOP)
        errno = ELOOP;
        fail();
      }
      std::error_code ec;
      std::filesystem::path link = std::filesystem::read_symlink(final_, ec);
      if (ec) fail(ec.message());
      final_ = link.is_absolute() ? link : final_.parent_path() / link;
      continue;
    }
    std::string why = refusal(st.st_mode);
    if (!why.empty()) fail(why);
    direct = S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode);
    break;
  }
  if (direct) {
    // A device or FIFO cannot be replaced, and holds no file to leave partial: write to it.
    // A FIFO is opened without blocking, so that one nobody reads is an error, not a hang.
    struct stat st {};
    if (::stat(target_.c_str(), &st) != 0) fail();
    std::string why = refusal(st.st_mode);
    if (!why.empty()) fail(why);
    fd_ = ::open(target_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NONBLOCK);
    if (fd_ < 0 && errno == ENXIO) fail("a FIFO that no process is reading");
    if (fd_ < 0) fail();
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK) != 0) fail();
    return;
  }
  std::filesystem::path dir = final_.has_parent_path() ? final_.parent_path() : std::filesystem::path(".");
  std::string name = ".";  // (built by appends: GCC 12 warns, wrongly, about "." + string)
  name += final_.filename().string();
  name += ".XXXXXX";
  temporary_ = (dir / name).string();
  fd_ = ::mkstemp(temporary_.data());
  if (fd_ < 0) {
    int e = errno;
    temporary_.clear();
    errno = e;
    fail();
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temporary_.empty()) std::remove(temporary_.c_str());
}

void AtomicFile::fail() const { fail(std::strerror(errno)); }

void AtomicFile::fail(const std::string& reason) const {
  throw std::runtime_error(target_.string() + ": cannot write: " + reason);
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
  if (temporary_.empty()) {  // a device or FIFO: its errors are the write's, or the close's
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail();
    committed_ = true;
    return;
  }
  if (::fsync(fd_) != 0 || ::fchmod(fd_, 0644) != 0) fail();
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail();
  if (std::rename(temporary_.c_str(), final_.c_str()) != 0) fail();
  committed_ = true;
}

void write_file_atomically(const std::filesystem::path& path, const std::string& text) {
  AtomicFile file(path);
  file.write(text);
  file.commit();
}

}  // namespace archbench
