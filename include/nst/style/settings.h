// Everything a stylize() run can be asked to do, with every default in one place (the member
// initializers below), and the one check of it: validate(), which stylize() calls before any
// work and front ends call to refuse a bad command line early. A front end maps its flags to
// these fields and reads its defaults from here; it never restates them.
#pragma once

#include "nst/io/image.h"
#include "nst/model/network.h"
#include "nst/model/vgg19.h"
#include "nst/ops/conv2d.h"
#include "nst/optim/lbfgs.h"
#include "nst/style/gatys.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace nst {

enum class InitMode { Random, Content, Style, Image };
enum class Optimizer { Lbfgs, Adam };
// Colour histogram matching of the style images to the content (style/color.h).
enum class ColorMatch { None, Pca, Cholesky, Symmetric };
// The box constraint of StylizeSettings::clamp. Auto: on unless line_search (clamp_enabled()).
enum class Clamp { Auto, On, Off };

struct StylizeSettings {
  GatysConfig loss;                 // layers, weights, pooling, normalized gradients (gatys.h)
  std::vector<double> style_blend;  // one per style image; empty = equal
  int iterations = 1000;            // of the optimizer; with several scales, at the final one
  Optimizer optimizer = Optimizer::Lbfgs;
  int lbfgs_history = 100;
  // Half: the (s, y) pairs in binary16 with a scale, half the memory (optim/lbfgs.h).
  HistoryPrecision lbfgs_precision = HistoryPrecision::Half;
  bool line_search = false;
  // Adam's step in 0..255 pixel units whatever the weights' preprocessing (neural-style's 10).
  double learning_rate = 10;
  // How L-BFGS forms the s of its curvature pairs: the float displacement x_new - x_old, or
  // s = t·d as torch.optim.LBFGS (optim/lbfgs.h, StepPair).
  StepPair lbfgs_step_pair = StepPair::Displacement;
  // Auto: Winograd for the 3x3 convolutions; Im2col: exact direct convolutions (ops/conv2d.h).
  ConvAlgo conv_algo = ConvAlgo::Auto;
  // Keep every pixel inside 0..255 while optimizing (box-constrained L-BFGS, optim/lbfgs.h),
  // so the saved 8-bit image is what was optimized (up to rounding). It cannot be combined with
  // line_search: Auto (the default) is on without a line search and off with one, On with a line
  // search is refused (clamp_enabled() resolves it). On by default since over 3 pairs at 512 px x
  // 1000 iterations it cut the saved image's loss by 12-39% for +0.04-0.8% on the optimizer's
  // (benchmarks/RESULTS.md, session 7). Adam ignores it (its steps are not projected).
  Clamp clamp = Clamp::Auto;
  // Bits per sample the result will be written with (8 or 16): StylizeResult::saved is the loss
  // of the image rounded to them.
  int saved_bit_depth = 8;
  InitMode init = InitMode::Random;  // Random: N(0, 0.001²) in preprocessed units (neural-style);
                                     // Style: the first style image resized to the content's size
  Image init_image;                  // InitMode::Image: resized to the content's size
  uint64_t seed = 0;
  // Output keeps its luminance and takes the content's chrominance (YUV, neural-style).
  bool original_colors = false;
  ColorMatch color_match = ColorMatch::None;  // style colours mapped onto the content's first
  // Multi-scale: the first scale's longest side (0: one scale, the content's size); sizes grow
  // by √2 up to the content's longest side. scale_iterations: iterations at each scale but the last.
  int start_size = 0;
  int scale_iterations = 200;
  // A time budget in seconds, counted from stylize()'s start (< 0: none). Each scale stops at
  // the first iteration boundary after its deadline; with several scales the budget is shared
  // in proportion to their planned cost (iterations x pixels), deadlines cumulative so that
  // time a scale leaves unused goes to the next. Every scale runs at least one iteration.
  double time_limit = -1;
  // One grayscale mask per style image (white: where that style applies), or none. Resized to
  // the content's size. An empty Image is a placeholder a front end fills in later.
  std::vector<Image> style_masks;
  // Evaluate the loss and its gradient in spatial tiles of about this many pixels a side (style/
  // tiled_loss.h): the same numbers to float rounding with the memory of one tile's forward and
  // backward instead of the whole image's. 0: the whole image at once. Rounded down to the grid's
  // alignment (4·2^pools of the deepest layer: 64 for relu5_1). The bits depend on the tile size.
  // Not with style_masks or loss.normalize_gradients (either loss scale).
  int64_t tile = 0;
};

const char* to_string(InitMode m);     // "random", "content", "style", "image"
const char* to_string(Optimizer o);    // "lbfgs", "adam"
const char* to_string(ColorMatch c);   // "none", "pca", "chol", "sym"

// A setting out of its domain. field() is the member's path in StylizeSettings ("iterations",
// "loss.content_weight", ...) so a front end can name its own flag; what() is one line,
// "<field>: <reason>".
class SettingsError : public std::invalid_argument {
 public:
  SettingsError(std::string field, const std::string& reason)
      : std::invalid_argument(field + ": " + reason), field_(std::move(field)), reason_(reason) {}
  const std::string& field() const { return field_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string field_, reason_;
};

// Whether the run keeps its pixels in 0..255: settings.clamp resolved, Auto being on unless
// settings.line_search. The one place that rule lives: stylize() and the run's checkpoint
// identity (describe_run, which records the resolved value) read the box through it.
bool clamp_enabled(const StylizeSettings& settings);

// What a run with these settings reads of the model: its content and style layers, and the
// convolution weights themselves only where it runs the reference kernels (ConvAlgo::Im2col).
// A front end that loads the model for such runs only passes it to load_vgg (nst/model/vgg19.h).
ModelUse model_use(const StylizeSettings& settings);

// The PyTorch reference mode: what torch.optim.LBFGS (no line search) does on the same loss with
// direct convolutions, so that nst's loss trajectory reproduces PyTorch's to float noise:
// conv_algo = Im2col, lbfgs_precision = Float, lbfgs_step_pair = Direction, clamp = Off.
void set_reference_mode(StylizeSettings& settings);

// Throws SettingsError for the first setting out of its domain or combination that cannot work.
// `network`: the layers must be its; `style_count`: the number of style images the run will
// get; `long_side`: the content's (output's) longest side; -1: not known yet, the checks that
// need it are skipped. Image contents (sizes, init_image) are checked by stylize().
void validate(const StylizeSettings& settings, const Network& network = vgg19_network(), int64_t style_count = -1,
              int64_t long_side = -1);

}  // namespace nst
