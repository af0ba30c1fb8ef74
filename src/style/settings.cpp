#include "nst/style/settings.h"

namespace nst {

void validate(const StylizeSettings& s, const Network& network, int64_t style_count) {
  validate(s.loss, network, "loss.");
  validate_style_blend(s.style_blend, style_count, "style_blend");
  if (s.iterations < 1) throw SettingsError("iterations", "must be >= 1, got " + std::to_string(s.iterations));
  if (s.lbfgs_history < 1)
    throw SettingsError("lbfgs_history", "must be >= 1, got " + std::to_string(s.lbfgs_history));
}

}  // namespace nst
