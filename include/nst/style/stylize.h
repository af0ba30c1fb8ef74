// The whole style-transfer job as a library call: images in, stylized image out. Front ends
// (the nst command, an embedding program) supply images, settings and callbacks; this file
// does no I/O and keeps no global state.
#pragma once

#include "nst/io/image.h"
#include "nst/model/vgg19.h"
#include "nst/optim/lbfgs.h"
#include "nst/style/gatys.h"
#include "nst/style/settings.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace nst {

struct StylizeProgress {
  int iteration = 0;       // 1-based
  int iterations = 0;      // planned
  LossTerms terms;         // the loss evaluated in this iteration (before its update)
  double seconds = 0;      // since the optimization started
};

struct StylizeCallbacks {
  // After each iteration's evaluation; `image` is the image that was evaluated. Return false
  // to stop (the best image so far is returned).
  std::function<bool(const StylizeProgress&, const std::function<Image()>& image)> on_iteration;
  // Checked before every evaluation; true stops the run (the best image so far is returned).
  std::function<bool()> cancelled;
};

struct StylizeResult {
  Image image;        // the best finite image evaluated
  LossTerms best;     // its loss
  LbfgsResult optimizer;
};

// content and styles are RGB images at the sizes to use. Throws SettingsError (validate(), with
// net's network and the style count) or std::invalid_argument (images too small for the
// layers) before any network work.
StylizeResult stylize(const Vgg<float>& net, const Image& content, const std::vector<Image>& styles,
                      const StylizeSettings& settings, const StylizeCallbacks& callbacks = {});

// Smallest side the image must have for every requested layer to exist (2^pools before the
// deepest layer): network.min_side(layers).
int64_t min_side_for_layers(const std::vector<std::string>& layers, const Network& network = vgg19_network());

}  // namespace nst
