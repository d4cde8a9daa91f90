// Progress of a long job (a sweep's cases, a tuner's layers): a bar redrawn in place with the
// current item and an ETA on a terminal; one line per finished item otherwise (logs, CI).
#pragma once

#include <cstdio>
#include <string>

namespace archbench {

class Progress {
 public:
  Progress(FILE* out, int total);  // out may be null: silent
  void start(int done, const std::string& label);
  // `result` says how the item went ("ok, median 1.2 ms"); `seconds` its wall time (for the ETA).
  void finish(int done, const std::string& label, const std::string& result, double seconds);

 private:
  std::string eta(int done) const;
  FILE* out_;
  int total_;
  bool tty_;
  double elapsed_ = 0;
  int measured_ = 0;
};

}  // namespace archbench
