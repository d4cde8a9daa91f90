#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "reports/reports.h"

namespace archbench {

void write_file_atomically(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string tmpl = (dir / fmt::format(".{}.XXXXXX", path.filename().string())).string();
  int fd = mkstemp(tmpl.data());
  if (fd < 0) throw std::runtime_error(fmt::format("cannot write '{}': {}", path.string(), std::strerror(errno)));
  auto fail = [&](int err) {
    ::close(fd);
    std::remove(tmpl.c_str());
    throw std::runtime_error(fmt::format("cannot write '{}': {}", path.string(), std::strerror(err)));
  };
  size_t done = 0;
  while (done < text.size()) {
    ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(errno);
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) fail(errno);
  if (::fchmod(fd, 0644) != 0) fail(errno);
  if (::close(fd) != 0) {
    int err = errno;
    std::remove(tmpl.c_str());
    throw std::runtime_error(fmt::format("cannot write '{}': {}", path.string(), std::strerror(err)));
  }
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmpl.c_str());
    throw std::runtime_error(fmt::format("cannot write '{}': {}", path.string(), std::strerror(err)));
  }
}

}  // namespace archbench
