#include "nst/style/gatys.h"

#include "nst/ops/elementwise.h"
#include "nst/ops/gram.h"
#include "nst/ops/losses.h"
#include "nst/ops/masked_gram.h"
#include "nst/ops/normalize_grad.h"
#include "nst/model/preprocess.h"
#include "nst/style/settings.h"

#include <cmath>
#include <sstream>

namespace nst {

namespace {
bool finite_non_negative(double v) { return std::isfinite(v) && v >= 0; }

template <class T>
double squared_norm(const Tensor<T>& t) {
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i) s += static_cast<double>(t[i]) * static_cast<double>(t[i]);
  return s;
}

template <class T>
double relative_factor(const Tensor<T>& target, const std::string& layer) {
  const double norm = squared_norm(target);
  if (!(norm > 0))
    throw SettingsError("loss.loss_scale", "relative: the target of layer " + layer +
                                               " is all zero (a black image?); use the classic loss scale");
  return static_cast<double>(target.numel()) / norm;
}
std::string str(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace

void validate(const GatysConfig& c, const Network& network, const std::string& prefix) {
  for (const auto& [field, list] : {std::pair<const char*, const std::vector<std::string>*>{"content_layers", &c.content_layers},
                                    {"style_layers", &c.style_layers}})
    for (const std::string& l : *list) {
      try {
        network.index(l);
      } catch (const std::invalid_argument& e) {
        throw SettingsError(prefix + field, e.what());
      }
    }
  if (c.content_layers.empty() && c.style_layers.empty())
    throw SettingsError(prefix + "content_layers", "no content or style layers (both lists are empty)");
  if (!c.style_layer_weights.empty() && c.style_layer_weights.size() != c.style_layers.size())
    throw SettingsError(prefix + "style_layer_weights", std::to_string(c.style_layer_weights.size()) +
                                                            " weights for " + std::to_string(c.style_layers.size()) +
                                                            " style layers");
  for (double w : c.style_layer_weights)
    if (!finite_non_negative(w)) throw SettingsError(prefix + "style_layer_weights", "must be finite and >= 0, got " + str(w));
  const std::pair<const char*, double> weights[] = {
      {"content_weight", c.content_weight}, {"style_weight", c.style_weight}, {"tv_weight", c.tv_weight}};
  for (const auto& [field, w] : weights)
    if (!finite_non_negative(w)) throw SettingsError(prefix + field, "must be finite and >= 0, got " + str(w));
}

void validate_style_blend(const std::vector<double>& blend, int64_t style_count, const std::string& field) {
  if (blend.empty()) return;
  if (style_count >= 0 && static_cast<int64_t>(blend.size()) != style_count)
    throw SettingsError(field, std::to_string(blend.size()) + " weights for " + std::to_string(style_count) +
                                   " style images");
  double sum = 0;
  for (double b : blend) {
    if (!finite_non_negative(b)) throw SettingsError(field, "weights must be finite and >= 0, got " + str(b));
    sum += b;
  }
  if (!(sum > 0)) throw SettingsError(field, "the weights sum to 0");
}

void use_relative_scale(GatysConfig& c) {
  c.loss_scale = LossScale::Relative;
  c.content_weight = kRelativeContentWeight;
  c.style_weight = kRelativeStyleWeight;
  c.tv_weight = kRelativeTvWeight;
}

double tv_term_factor(const GatysConfig& config, int64_t height, int64_t width) {
  if (config.loss_scale != LossScale::Relative) return 1.0;
  return kRelativeTvReferencePixels / (static_cast<double>(height) * static_cast<double>(width));
}

template <class T>
double content_term_factor(const GatysConfig& config, const Tensor<T>& target, const std::string& layer) {
  return config.loss_scale == LossScale::Relative ? relative_factor(target, layer) : 1.0;
}

template <class T>
double style_term_factor(const GatysConfig& config, size_t l, const Tensor<T>& target) {
  if (config.loss_scale != LossScale::Relative) return config.style_layer_weights[l];
  double weight_sum = 0;
  for (double w : config.style_layer_weights) weight_sum += w;
  return (weight_sum > 0 ? config.style_layer_weights[l] / weight_sum : 0.0) *
         relative_factor(target, config.style_layers[l]);
}

template <class T>
std::shared_ptr<const ConvWeights<T>> tv_input_weights(const GatysConfig& config, Preprocess preprocess) {
  if (config.loss_scale != LossScale::Relative) return nullptr;
  Image black, white;
  black.width = white.width = 1;
  black.height = white.height = 1;
  black.rgb.assign(3, 0.0f);
  white.rgb.assign(3, 255.0f);
  const Tensor<float> lo = image_to_input(black, preprocess), hi = image_to_input(white, preprocess);
  auto w = std::make_shared<Tensor<T>>(Shape{3, 3, 1, 1});
  for (int64_t c = 0; c < 3; ++c) (*w)[c * 3 + c] = static_cast<T>(1.0 / (static_cast<double>(hi[c]) - lo[c]));
  return std::make_shared<const ConvWeights<T>>(std::move(w));
}

template <class T>
GatysLoss<T>::GatysLoss(const Vgg<T>& net, const Tensor<T>& content, const std::vector<Tensor<T>>& styles,
                        std::vector<double> blend, GatysConfig config, const std::vector<Tensor<T>>& style_masks)
    : net_(net), config_(std::move(config)), shape_(content.shape()) {
  validate(config_, *net.network);
  validate_style_blend(blend, static_cast<int64_t>(styles.size()), "style_blend");
  if (config_.style_layer_weights.empty()) config_.style_layer_weights.assign(config_.style_layers.size(), 1.0);
  if (!config_.style_layers.empty() && styles.empty()) throw SettingsError("style_layers", "style layers but no style image");
  if (!style_masks.empty() && style_masks.size() != styles.size())
    throw SettingsError("style_masks", std::to_string(style_masks.size()) + " masks for " +
                                           std::to_string(styles.size()) + " style images");
  for (const Tensor<T>& m : style_masks)
    if (m.shape() != Shape{shape_[2], shape_[3]})
      throw std::invalid_argument("GatysLoss: mask " + shape_str(m.shape()) + " is not the content's size " +
                                  shape_str(shape_));
  if (blend.empty()) blend.assign(styles.size(), 1.0);
  double blend_sum = 0;
  for (double b : blend) blend_sum += b;

  layers_ = config_.content_layers;
  layers_.insert(layers_.end(), config_.style_layers.begin(), config_.style_layers.end());

  // Targets come from constant inputs: nothing is recorded.
  if (!config_.content_layers.empty()) {
    auto feats = net_.forward(constant(content), config_.content_layers, config_.pooling);
    for (const auto& name : config_.content_layers) content_targets_.push_back(feats.at(name).value_ptr());
  }
  const size_t L = config_.style_layers.size();
  style_terms_.resize(L);
  std::vector<Tensor<T>> blended(L);
  for (size_t i = 0; i < styles.size(); ++i) {
    auto feats = net_.forward(constant(styles[i]), config_.style_layers, config_.pooling);
    const double b = blend[i] / blend_sum;
    for (size_t l = 0; l < L; ++l) {
      const Var<T> gm = gram(feats.at(config_.style_layers[l]));
      if (!style_masks.empty()) {
        // The mask followed down to this layer's resolution.
        Tensor<T> m = style_masks[i];
        for (int k = 0; k < net_.network->layer(config_.style_layers[l]).pool_level; ++k) m = pool_mask(m);
        bool any = false;
        for (int64_t k = 0; k < m.numel() && !any; ++k) any = m[k] > T(0);
        if (any && b > 0)
          style_terms_[l].push_back({gm.value_ptr(), std::make_shared<const Tensor<T>>(std::move(m)),
                                     b * static_cast<double>(styles.size())});
        continue;
      }
      const Tensor<T>& g = gm.value();
      if (blended[l].empty()) blended[l] = Tensor<T>(g.shape());
      for (int64_t k = 0; k < g.numel(); ++k) blended[l][k] += static_cast<T>(b) * g[k];
    }
  }
  if (style_masks.empty())
    for (size_t l = 0; l < L; ++l)
      if (!blended[l].empty())
        style_terms_[l].push_back({std::make_shared<const Tensor<T>>(std::move(blended[l])), nullptr, 1.0});

  for (size_t l = 0; l < config_.content_layers.size(); ++l)
    content_factors_.push_back(content_term_factor(config_, *content_targets_[l], config_.content_layers[l]));
  style_factors_.resize(L);
  for (size_t l = 0; l < L; ++l)
    for (const StyleTerm& t : style_terms_[l]) style_factors_[l].push_back(style_term_factor(config_, l, *t.target));
  to_unit_pixels_ = tv_input_weights<T>(config_, net_.preprocess);
  tv_factor_ = tv_term_factor(config_, shape_[2], shape_[3]);
}

template <class T>
LossTerms GatysLoss<T>::evaluate(const Tensor<T>& x, Tensor<T>* grad) const {
  require_same_shape(x.shape(), shape_, "GatysLoss::evaluate");
  if (grad) require_same_shape(grad->shape(), shape_, "GatysLoss::evaluate gradient");
  const Var<T> image = leaf(x, grad != nullptr);
  const bool normalize = config_.normalize_gradients;
  // Plain: each term weighted in the graph. Normalized: each term unweighted, its features'
  // gradient normalized and weighted by normalize_grad; its weighted value added here.
  std::vector<Var<T>> content, style, normalized;
  double content_value = 0, style_value = 0;
  {
    auto feats = net_.forward(image, layers_, config_.pooling);
    const double cw = config_.content_weight;
    for (size_t l = 0; l < config_.content_layers.size(); ++l) {
      const Var<T>& f = feats.at(config_.content_layers[l]);
      const double factor = content_factors_[l];
      if (!normalize) {
        content.push_back(scale(mse(f, content_targets_[l]), static_cast<T>(factor)));
        continue;
      }
      normalized.push_back(mse(normalize_grad(f, static_cast<T>(cw)), content_targets_[l]));
      content_value += cw * factor * static_cast<double>(normalized.back().value()[0]);
    }
    for (size_t l = 0; l < config_.style_layers.size(); ++l) {
      const Var<T>& f = feats.at(config_.style_layers[l]);
      for (size_t j = 0; j < style_terms_[l].size(); ++j) {
        const StyleTerm& t = style_terms_[l][j];
        const double w = style_factors_[l][j] * t.weight;
        const Var<T> in = normalize ? normalize_grad(f, static_cast<T>(config_.style_weight * w)) : f;
        const Var<T> u = mse(t.mask ? masked_gram(in, t.mask) : gram(in), t.target);
        if (!normalize) {
          style.push_back(scale(u, static_cast<T>(w)));
          continue;
        }
        normalized.push_back(u);
        style_value += config_.style_weight * w * static_cast<double>(u.value()[0]);
      }
    }
  }  // feature maps no backward reads are freed here
  std::vector<Var<T>> terms = normalized;
  LossTerms out;
  out.content = content_value;
  out.style = style_value;
  if (!content.empty()) {
    terms.push_back(scale(sum(content), static_cast<T>(config_.content_weight)));
    out.content = static_cast<double>(terms.back().value()[0]);
  }
  if (!style.empty()) {
    terms.push_back(scale(sum(style), static_cast<T>(config_.style_weight)));
    out.style = static_cast<double>(terms.back().value()[0]);
  }
  // (TV of the unit-pixel image: the shift x(0) does not change differences.)
  const Var<T> tv_input = to_unit_pixels_ ? conv2d(image, to_unit_pixels_, 0) : image;
  terms.push_back(scale(total_variation(tv_input), static_cast<T>(config_.tv_weight * tv_factor_)));
  out.tv = static_cast<double>(terms.back().value()[0]);
  const Var<T> total = sum(terms);
  out.total = normalize ? out.content + out.style + out.tv : static_cast<double>(total.value()[0]);
  if (grad) {
    backward(total);
    const Tensor<T>& g = image.grad();
    for (int64_t i = 0; i < g.numel(); ++i) (*grad)[i] += g[i];
  }
  return out;
}

template class GatysLoss<float>;
template class GatysLoss<double>;

#define NST_INSTANTIATE(T)                                                                                     \
  template double content_term_factor<T>(const GatysConfig&, const Tensor<T>&, const std::string&);           \
  template double style_term_factor<T>(const GatysConfig&, size_t, const Tensor<T>&);                         \
  template std::shared_ptr<const ConvWeights<T>> tv_input_weights<T>(const GatysConfig&, Preprocess);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)
#undef NST_INSTANTIATE

}  // namespace nst
