#include "common/progress.h"

#include <fmt/format.h>
#include <unistd.h>

namespace archbench {

Progress::Progress(FILE* out, int total) : out_(out), total_(total), tty_(out && isatty(fileno(out))) {}

void Progress::start(int done, const std::string& label) {
  if (!out_ || !tty_) return;
  int width = 24, filled = total_ ? width * done / total_ : width;
  fmt::print(out_, "\r\033[K[{}{}] {}/{} {}  {}", std::string(static_cast<size_t>(filled), '#'),
             std::string(static_cast<size_t>(width - filled), '.'), done, total_, label, eta(done));
  std::fflush(out_);
}

void Progress::finish(int done, const std::string& label, const std::string& result, double seconds) {
  elapsed_ += seconds;
  ++measured_;
  if (!out_) return;
  if (tty_) fmt::print(out_, "\r\033[K");
  fmt::print(out_, "[{}/{}] {}: {} ({:.1f} s){}\n", done, total_, label, result, seconds, tty_ ? "" : "  " + eta(done));
  std::fflush(out_);
}

std::string Progress::eta(int done) const {
  if (measured_ == 0 || done >= total_) return "";
  double s = elapsed_ / measured_ * (total_ - done);
  return fmt::format("ETA {}:{:02d}", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
}

}  // namespace archbench
