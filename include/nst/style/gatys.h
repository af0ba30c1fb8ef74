// The loss of Gatys, Ecker & Bethge (2015), with neural-style's definitions and defaults:
//   content: content_weight × Σ_content layers mean((F − P)²)
//   style:   style_weight × Σ_style layers w_l · mean((G_l − A_l)²),  G = F Fᵀ / (C·H·W)
//   tv:      tv_weight × ½ Σ squared differences of neighbouring pixels (preprocessed image)
// With several style images, A_l = Σ_i b_i · Gram_i,l with the blend weights b normalized to
// sum to 1 (neural-style's rule).
//
// LossScale::Relative makes the balance independent of the weights file's feature scale. Not of
// the image size: the final style/content ratio is 0.33 at 512 px and 0.52 at 256 px (500
// iterations), and no style weight at 256 px brings it down to 0.33 (x0.1 -> 0.66, x0.4 -> 0.56,
// x2.5 -> 0.70; benchmarks/RESULTS.md, session 8): the optimum a smaller image reaches differs.
//   content: content_weight × Σ_content layers ‖F − P‖² / ‖P‖²
//   style:   style_weight × Σ_style layers (w_l / Σ w) · ‖G_l − A_l‖² / ‖A_l‖²
//   tv:      tv_weight × ½ Σ squared differences of the image in 0..1 pixel units, whatever the
//            preprocessing, × 512·384 / (H·W): a mean over the pixels, in units of a 512×384
//            image (where the calibration below was made), so that it does not grow with the
//            image as a sum does (4x from 512 to 1024 px, against content and style, which are
//            means)
// Every feature map of a network with ReLU and max pooling scales by a when conv1_1's weights
// and every bias are multiplied by a > 0, and these ratios do not change: the same settings give
// the same image with either network. It is a true loss (a line search stays valid).
#pragma once

#include "nst/model/vgg19.h"

#include <string>
#include <vector>

namespace nst {

enum class LossScale { Classic, Relative };

// Relative mode's calibrated weights: with the Caffe VGG19 (../shared's file) on Tübingen /
// The Starry Night at 512 px, from the random initial image (seed 0), they give each term the
// value it has in classic mode with content 5 / style 100 / tv 1e-3. One evaluation in each mode
// with unit weights gave content 339986 / 0.99379, style 1506506 / 0.99992, tv 1.1763 /
// 1.809e-5 (= 1/255²), so content = 5·339986 / 0.99379 = 1.71e6, style = 100·1506506 / 0.99992
// = 1.51e8 and tv = 1e-3·1.1763 / 1.809e-5 = 65 (rounded: the balance, style/content 88 and
// tv/content 3.8e-5, is what matters). Matching the values and not only their ratios matters for
// L-BFGS: its fixed rules (first step min(1, 1/|g|_1), later steps of length lr along -g while it
// has no curvature pair, pairs kept only if s'y > 1e-10) are not scale-invariant. With the
// ratios alone (content 1, style 88), the loss was about 89, the steps moved no pixel by more
// than rounding, every pair was skipped, and a run from a random start stopped after 10-13
// iterations with the loss unchanged (session 6).
constexpr double kRelativeContentWeight = 1.7e6;
constexpr double kRelativeStyleWeight = 1.5e8;
constexpr double kRelativeTvWeight = 65.0;
// The image area relative mode's TV is counted in (tv_term_factor).
constexpr double kRelativeTvReferencePixels = 512.0 * 384.0;

struct GatysConfig {
  std::vector<std::string> content_layers{"relu4_2"};
  std::vector<std::string> style_layers{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};
  std::vector<double> style_layer_weights;  // w_l; empty = 1 for every style layer
  double content_weight = 5;
  double style_weight = 100;
  double tv_weight = 1e-3;
  Pooling pooling = Pooling::Max;
  // neural-style's -normalize_gradients: in each content and style term's backward, the
  // gradient w.r.t. that layer's features is divided by its L1 norm (+1e-8) and multiplied by
  // the term's weight. The reported loss is unchanged. Incompatible with a line search.
  bool normalize_gradients = false;
  LossScale loss_scale = LossScale::Classic;
};

// Relative mode with its calibrated weights (kRelative*).
void use_relative_scale(GatysConfig& config);

// The factor each term's mean squared error is multiplied by (GatysLoss and TiledGatysLoss):
//   content term of layer `layer` with target P: 1 (classic), numel(P) / ‖P‖² (relative);
//   style term of style layer l with target A:   w_l (classic), (w_l / Σ w) numel(A) / ‖A‖² (relative).
// Relative mode throws SettingsError (loss.loss_scale) for an all-zero target (a black image).
template <class T>
double content_term_factor(const GatysConfig& config, const Tensor<T>& target, const std::string& layer);
template <class T>
double style_term_factor(const GatysConfig& config, size_t l, const Tensor<T>& target);

// The factor the TV sum of an H x W image is multiplied by: 1 (classic), 512·384 / (H·W) (relative).
double tv_term_factor(const GatysConfig& config, int64_t height, int64_t width);

// Relative mode's TV input: the 1x1 convolution that takes an image in the network's units to
// 0..1 pixel units, per channel (x − x(0)) / (x(255) − x(0)) without the shift (TV takes
// differences); nullptr in classic mode (TV of the preprocessed image itself).
template <class T>
std::shared_ptr<const ConvWeights<T>> tv_input_weights(const GatysConfig& config, Preprocess preprocess);

// Throws SettingsError (settings.h) naming `field_prefix` + the member for a configuration out of
// its domain: layers not in `network`, no layers at all, weights negative or not finite, a
// style layer weight count that is not the style layer count.
void validate(const GatysConfig& config, const Network& network, const std::string& field_prefix = "");

// Blend weights: finite, >= 0, a positive sum, one per style image (style_count; -1: unknown).
// Empty is valid (equal weights). Throws SettingsError naming `field`.
void validate_style_blend(const std::vector<double>& blend, int64_t style_count, const std::string& field);

struct LossTerms {
  double total = 0, content = 0, style = 0, tv = 0;  // weighted; total = content + style + tv
};

template <class T>
class GatysLoss {
 public:
  // content: (1,3,H,W); styles: (1,3,Hi,Wi) each, any sizes; blend: one weight per style (empty
  // = equal), non-negative with a positive sum. All preprocessed. Computes the fixed targets
  // without recording a graph. Throws SettingsError (a std::invalid_argument) on a bad
  // configuration (the validate functions above).
  //
  // style_masks (spatial control, Gatys et al. 2017): empty, or one (H,W) mask per style at the
  // content's size, values in [0,1]. Then each style i is matched on its own, in each style layer,
  // by the masked Gram of the output (ops/masked_gram.h; the mask average-pooled to the layer's
  // resolution) against style i's own Gram, with weight b_i·n (b the normalized blend, n the
  // number of styles: equal blends give each region a single-style run's strength). Where masks
  // overlap, every style covering a pixel pulls on it; a pixel no mask covers gets only the
  // content and TV terms; a style whose mask is empty at a layer has no term there.
  GatysLoss(const Vgg<T>& net, const Tensor<T>& content, const std::vector<Tensor<T>>& styles,
            std::vector<double> blend, GatysConfig config, const std::vector<Tensor<T>>& style_masks = {});

  // Loss at x (content's shape); adds ∇loss into *grad if grad is not null (grad: x's shape).
  LossTerms evaluate(const Tensor<T>& x, Tensor<T>* grad) const;

  const GatysConfig& config() const { return config_; }

 private:
  const Vgg<T>& net_;
  GatysConfig config_;
  Shape shape_;
  std::vector<std::string> layers_;  // union of content and style layers
  std::vector<std::shared_ptr<const Tensor<T>>> content_targets_;  // per content layer
  struct StyleTerm {
    std::shared_ptr<const Tensor<T>> target;  // Gram (C,C): blended, or one style's
    std::shared_ptr<const Tensor<T>> mask;    // (H_l, W_l) at the layer's resolution; null: none
    double weight;                            // multiplies style_weight · w_l
  };
  std::vector<std::vector<StyleTerm>> style_terms_;  // per style layer
  // Each term's mse is multiplied by its factor: classic 1 (content) and w_l (style); relative
  // numel / ‖target‖² (content) and (w_l / Σ w) numel / ‖target‖² (style, per target).
  std::vector<double> content_factors_;
  std::vector<std::vector<double>> style_factors_;  // per style layer, per term
  // Relative mode: the 1x1 convolution that takes the image to 0..1 pixel units for TV.
  std::shared_ptr<const ConvWeights<T>> to_unit_pixels_;
  double tv_factor_ = 1.0;  // tv_term_factor at the content's size
};

}  // namespace nst
