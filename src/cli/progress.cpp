#include "cli/progress.h"


#include <algorithm>
#include <cmath>

namespace nst::cli {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

void ProgressReporter::update(const StylizeProgress& p) {
  const double per_it = p.iteration > 0 ? p.seconds / p.iteration : 0;
  char scale[64] = "";
  if (p.scales > 1)
    std::snprintf(scale, sizeof scale, "scale %d/%d (%d px) ", p.scale, p.scales, std::max(p.width, p.height));
  if (live_) {
    std::fprintf(out_, "\r\033[K%siteration %d/%d  loss %.4e  %.2f s/it  ETA %s", scale, p.iteration, p.iterations,
                 p.terms.total, per_it, format_duration(per_it * (p.iterations - p.iteration)).c_str());
    std::fflush(out_);
    line_open_ = true;
    return;
  }
  if (every_ > 0 && (p.iteration % every_ == 0 || p.iteration == 1 || p.iteration == p.iterations)) {
    std::fprintf(out_, "%siteration %d/%d: total %.4e content %.4e style %.4e tv %.4e (%.2f s/it, ETA %s)\n",
                 scale, p.iteration, p.iterations, p.terms.total, p.terms.content, p.terms.style, p.terms.tv, per_it,
                 format_duration(per_it * (p.iterations - p.iteration)).c_str());
    std::fflush(out_);
  }
}

void ProgressReporter::finish() {
  if (line_open_) std::fputc('\n', out_);
  line_open_ = false;
}

}  // namespace nst::cli
