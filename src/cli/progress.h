// Progress of a run on stderr: a live line on a terminal (iteration, loss, s/iteration, ETA),
// otherwise a plain line every N iterations.
#pragma once

#include "nst/style/stylize.h"

#include <cstdio>
#include <string>

namespace nst::cli {

class ProgressReporter {
 public:
  ProgressReporter(std::FILE* out, bool live, int print_every) : out_(out), live_(live), every_(print_every) {}
  void update(const StylizeProgress& p);
  // Ends the live line, if one is showing.
  void finish();

 private:
  std::FILE* out_;
  bool live_;
  int every_;
  bool line_open_ = false;
};

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace nst::cli
