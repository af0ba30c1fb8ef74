#include "nst/style/settings.h"

#include <cmath>
#include <sstream>

namespace nst {

void set_reference_mode(StylizeSettings& s) {
  s.conv_algo = ConvAlgo::Im2col;
  s.lbfgs_precision = HistoryPrecision::Float;
  s.lbfgs_step_pair = StepPair::Direction;
  s.clamp = Clamp::Off;  // torch.optim.LBFGS has no box
}

ModelUse model_use(const StylizeSettings& s) {
  ModelUse use;
  use.layers = s.loss.content_layers;
  use.layers.insert(use.layers.end(), s.loss.style_layers.begin(), s.loss.style_layers.end());
  use.raw_weights = s.conv_algo == ConvAlgo::Im2col;
  return use;
}

bool clamp_enabled(const StylizeSettings& s) { return s.clamp == Clamp::Auto ? !s.line_search : s.clamp == Clamp::On; }

const char* to_string(InitMode m) {
  switch (m) {
    case InitMode::Random: return "random";
    case InitMode::Content: return "content";
    case InitMode::Style: return "style";
    case InitMode::Image: return "image";
  }
  return "?";
}

const char* to_string(Optimizer o) { return o == Optimizer::Lbfgs ? "lbfgs" : "adam"; }

const char* to_string(ColorMatch c) {
  switch (c) {
    case ColorMatch::None: return "none";
    case ColorMatch::Pca: return "pca";
    case ColorMatch::Cholesky: return "chol";
    case ColorMatch::Symmetric: return "sym";
  }
  return "?";
}

void validate(const StylizeSettings& s, const Network& network, int64_t style_count, int64_t long_side) {
  validate(s.loss, network, "loss.");
  validate_style_blend(s.style_blend, style_count, "style_blend");
  if (s.iterations < 1) throw SettingsError("iterations", "must be >= 1, got " + std::to_string(s.iterations));
  if (s.saved_bit_depth != 8 && s.saved_bit_depth != 16)
    throw SettingsError("saved_bit_depth", "must be 8 or 16, got " + std::to_string(s.saved_bit_depth));
  if (s.lbfgs_history < 1)
    throw SettingsError("lbfgs_history", "must be >= 1, got " + std::to_string(s.lbfgs_history));
  if (std::isnan(s.time_limit)) throw SettingsError("time_limit", "must be a number of seconds, got NaN");
  if (!std::isfinite(s.learning_rate) || !(s.learning_rate > 0)) {
    std::ostringstream os;
    os << "must be finite and > 0, got " << s.learning_rate;
    throw SettingsError("learning_rate", os.str());
  }
  if (s.loss.normalize_gradients && s.line_search)
    throw SettingsError("loss.normalize_gradients",
                        "cannot be used with a line search (the normalized gradient is not the loss's gradient)");
  if (s.line_search && s.optimizer != Optimizer::Lbfgs)
    throw SettingsError("line_search", "is an L-BFGS option; the optimizer is " + std::string(to_string(s.optimizer)));
  if (s.init == InitMode::Style && style_count == 0)
    throw SettingsError("init", "style needs a style image");
  std::vector<std::string> layers = s.loss.content_layers;
  layers.insert(layers.end(), s.loss.style_layers.begin(), s.loss.style_layers.end());
  const int64_t min_side = network.min_side(layers);
  if (s.start_size != 0) {
    if (s.start_size < min_side)
      throw SettingsError("start_size", std::to_string(s.start_size) + " is too small for the chosen layers (need >= " +
                                            std::to_string(min_side) + ", or 0 for one scale)");
    if (long_side >= 0 && s.start_size > long_side)
      throw SettingsError("start_size", std::to_string(s.start_size) + " is larger than the output size " +
                                            std::to_string(long_side));
  }
  if (s.scale_iterations < 1)
    throw SettingsError("scale_iterations", "must be >= 1, got " + std::to_string(s.scale_iterations));
  if (!s.style_masks.empty() && style_count >= 0 && static_cast<int64_t>(s.style_masks.size()) != style_count)
    throw SettingsError("style_masks", std::to_string(s.style_masks.size()) + " masks for " +
                                           std::to_string(style_count) + " style images (one per style, in order)");
  if (s.clamp == Clamp::On && s.line_search)
    throw SettingsError("clamp", "cannot be combined with a line search; turn one of them off");
  if (s.tile < 0) throw SettingsError("tile", "must be >= 0 (0: the whole image), got " + std::to_string(s.tile));
  if (s.tile > 0) {
    if (!s.style_masks.empty())
      throw SettingsError("tile", "the tiled evaluation does not support style masks; use tile 0 (the whole image)");
    if (s.loss.normalize_gradients)
      throw SettingsError("tile", "the tiled evaluation does not support normalized gradients; use tile 0 (the whole image)");
  }
}

}  // namespace nst
