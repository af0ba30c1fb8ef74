// The whole style-transfer job as a library call: images in, stylized image out. Front ends
// (the nst command, an embedding program) supply images, settings and callbacks; this file
// does no I/O and keeps no global state.
#pragma once

#include "nst/io/image.h"
#include "nst/model/vgg19.h"
#include "nst/optim/lbfgs.h"
#include "nst/style/gatys.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace nst {

enum class InitMode { Random, Content, Image };

struct StylizeSettings {
  GatysConfig loss;
  std::vector<double> style_blend;  // one per style image; empty = equal
  int iterations = 1000;
  int lbfgs_history = 100;
  // Half: the (s, y) pairs in binary16 with a scale, half the memory (optim/lbfgs.h).
  HistoryPrecision lbfgs_precision = HistoryPrecision::Half;
  bool line_search = false;
  InitMode init = InitMode::Random;  // Random: N(0, 0.001²) in preprocessed units (neural-style)
  Image init_image;                  // InitMode::Image: resized to the content's size
  uint64_t seed = 0;
};

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

// content and styles are RGB images at the sizes to use. Throws std::invalid_argument on bad
// settings (checked before any network work).
StylizeResult stylize(const Vgg19<float>& net, const Image& content, const std::vector<Image>& styles,
                      const StylizeSettings& settings, const StylizeCallbacks& callbacks = {});

// Smallest side the image must have for every requested layer to exist (2^pools before the
// deepest layer).
int64_t min_side_for_layers(const std::vector<std::string>& layers);

}  // namespace nst
