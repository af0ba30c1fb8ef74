// The whole style-transfer job as a library call: images in, stylized image out. Front ends
// (the nst command, an embedding program) supply images, settings and callbacks; this file
// does no I/O and keeps no global state.
#pragma once

#include "nst/io/image.h"
#include "nst/model/vgg19.h"
#include "nst/optim/lbfgs.h"
#include "nst/style/gatys.h"
#include "nst/style/settings.h"
#include "nst/style/stylize_state.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace nst {

struct StylizeProgress {
  int iteration = 0;       // 1-based, counted over all scales
  int iterations = 0;      // planned, over all scales
  int scale = 1;           // 1-based index of the scale this iteration belongs to
  int scales = 1;
  int width = 0, height = 0;  // the image size at this scale
  LossTerms terms;         // the loss evaluated in this iteration (before its update)
  double seconds = 0;      // since the optimization started
};

struct StylizeCallbacks {
  // After each iteration's evaluation; `image` is the image that was evaluated. Return false
  // to stop (the best image so far is returned).
  std::function<bool(const StylizeProgress&, const std::function<Image()>& image)> on_iteration;
  // Checked before every evaluation; true stops the run (the best image so far is returned).
  std::function<bool()> cancelled;
  // Saving and resuming the run's state (style/stylize_state.h); off by default.
  StylizeCheckpointing checkpointing;
  // Checked inside each evaluation, between the network's layers (nst/cancel.h): true abandons
  // the evaluation in progress and stops the run as `cancelled` does. Called often: keep it
  // cheap (an atomic load).
  std::function<bool()> interrupt;
};

struct StylizeResult {
  Image image;        // the best finite image of the last scale run (at the content's size), with the content's
                      // alpha and ICC profile
  LossTerms best;     // its loss
  bool time_up = false;  // the run stopped at settings.time_limit (at the last scale)
  LossTerms saved;    // the loss of `image` as saved: clamped to 0..255 and rounded to
                      // settings.saved_bit_depth bits
  // The last scale's optimizer result, with iterations and evaluations summed over all scales.
  LbfgsResult optimizer;
};

// content and styles are RGB images at the sizes to use (the final scale's). Throws
// SettingsError (validate(), with net's network, the style count and the content's longest
// side) or std::invalid_argument (images too small for the layers at some scale, a missing
// init image or mask) before any network work.
//
// The run: styles colour-matched to the content (settings.color_match); then for each scale
// (scale_sizes) the content and styles resized to it (styles keep their size relative to the
// content), the loss targets recomputed, the optimizer started afresh (no memory carried over)
// from the initial image (first scale) or the previous scale's best image upsampled (bicubic)
// and clamped to 0..255; finally, with original_colors, the content's chrominance. A run
// cancelled or stopped before the last scale returns its best image upsampled to the content's
// size.
StylizeResult stylize(const Vgg<float>& net, const Image& content, const std::vector<Image>& styles,
                      const StylizeSettings& settings, const StylizeCallbacks& callbacks = {});

// stylize()'s checks of its inputs, before any network work, for a front end to make before it
// reads the weights (with the network the file holds): validate() and every scale's content
// and style image large enough for the layers. Throws SettingsError or std::invalid_argument.
void check_stylize_inputs(const Network& network, const Image& content, const std::vector<Image>& styles,
                          const StylizeSettings& settings);

// The multi-scale ladder: longest sides from start growing by √2 (rounded) while below final,
// then final. start 0 (or >= final): {final}.
std::vector<int> scale_sizes(int start, int final_size);

// Smallest side the image must have for every requested layer to exist (2^pools before the
// deepest layer): network.min_side(layers).
int64_t min_side_for_layers(const std::vector<std::string>& layers, const Network& network = vgg19_network());

}  // namespace nst
