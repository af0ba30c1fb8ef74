// nst_settings: defaults, conversion to StylizeSettings (plus the front-end fields), images in
// and out, and the memory estimate.
#include "capi/internal.h"

#include "nst/style/memory_estimate.h"
#include "nst/style/settings.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

namespace nst::capi {

namespace {

// nst_settings as of NST_ABI_VERSION 1 ends with max_memory: callers built against these
// headers or later pass at least this much.
constexpr size_t kSettingsV1Size = offsetof(nst_settings, max_memory) + sizeof(int64_t);

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("nst_settings: " + message);
}

std::vector<std::string> split_layers(const char* field, const char* text) {
  std::vector<std::string> out;
  std::string item;
  const std::string s = text;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == ',') {
      const size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
      require(b != std::string::npos, std::string(field) + ": empty name in \"" + s + "\"");
      out.push_back(item.substr(b, e - b + 1));
      item.clear();
    } else {
      item += s[i];
    }
  }
  return out;
}

std::vector<double> numbers(const char* field, const double* values, int32_t count) {
  require(count >= 0, std::string(field) + "_count is negative");
  require(values || count == 0, std::string(field) + " is null but its count is " + std::to_string(count));
  std::vector<double> out(values, values + count);
  return out;
}

}  // namespace

RunSettings convert_settings(const nst_settings* in) {
  if (!in) throw std::invalid_argument("nst_settings: null pointer");
  require(in->struct_size >= kSettingsV1Size,
          "struct_size " + std::to_string(in->struct_size) + " is too small; initialise it with nst_settings_default()");
  nst_settings c;
  nst_settings_default(&c);
  std::memcpy(static_cast<void*>(&c), in, std::min(in->struct_size, sizeof c));

  RunSettings r;
  StylizeSettings& s = r.stylize;
  s.iterations = c.iterations;
  s.loss.content_weight = c.content_weight;
  s.loss.style_weight = c.style_weight;
  s.loss.tv_weight = c.tv_weight;
  if (c.content_layers) s.loss.content_layers = *c.content_layers ? split_layers("content_layers", c.content_layers)
                                                                  : std::vector<std::string>{};
  if (c.style_layers) s.loss.style_layers = *c.style_layers ? split_layers("style_layers", c.style_layers)
                                                            : std::vector<std::string>{};
  s.loss.style_layer_weights = numbers("style_layer_weights", c.style_layer_weights, c.style_layer_weight_count);
  s.style_blend = numbers("style_blend", c.style_blend, c.style_blend_count);
  require(c.pooling == NST_POOLING_MAX || c.pooling == NST_POOLING_AVG, "pooling must be NST_POOLING_MAX or _AVG");
  s.loss.pooling = c.pooling == NST_POOLING_MAX ? Pooling::Max : Pooling::Avg;
  switch (c.init) {
    case NST_INIT_RANDOM: s.init = InitMode::Random; break;
    case NST_INIT_CONTENT: s.init = InitMode::Content; break;
    case NST_INIT_STYLE: s.init = InitMode::Style; break;
    case NST_INIT_IMAGE:
      s.init = InitMode::Image;
      require(c.init_image != nullptr, "init is NST_INIT_IMAGE but init_image is null");
      s.init_image = image_from_c(c.init_image, "init_image");
      break;
    default: require(false, "init must be NST_INIT_RANDOM, _CONTENT, _STYLE or _IMAGE, got " + std::to_string(c.init));
  }
  s.seed = c.seed;
  s.lbfgs_history = c.lbfgs_history;
  require(c.lbfgs_precision == NST_LBFGS_HALF || c.lbfgs_precision == NST_LBFGS_FLOAT,
          "lbfgs_precision must be NST_LBFGS_HALF or _FLOAT");
  s.lbfgs_precision = c.lbfgs_precision == NST_LBFGS_HALF ? HistoryPrecision::Half : HistoryPrecision::Float;
  s.line_search = c.line_search != 0;
  require(c.size >= 0 && c.size <= 16384, "size must be in 0..16384, got " + std::to_string(c.size));
  require(std::isfinite(c.style_scale) && c.style_scale > 0, "style_scale must be finite and > 0");
  require(c.threads >= 0 && c.threads <= 1024, "threads must be in 0..1024, got " + std::to_string(c.threads));
  require(c.max_memory >= 0, "max_memory must be >= 0");
  require(c.optimizer == NST_OPTIMIZER_LBFGS || c.optimizer == NST_OPTIMIZER_ADAM,
          "optimizer must be NST_OPTIMIZER_LBFGS or _ADAM");
  s.optimizer = c.optimizer == NST_OPTIMIZER_LBFGS ? Optimizer::Lbfgs : Optimizer::Adam;
  s.learning_rate = c.learning_rate;
  s.loss.normalize_gradients = c.normalize_gradients != 0;
  s.original_colors = c.original_colors != 0;
  switch (c.color_match) {
    case NST_COLOR_MATCH_NONE: s.color_match = ColorMatch::None; break;
    case NST_COLOR_MATCH_PCA: s.color_match = ColorMatch::Pca; break;
    case NST_COLOR_MATCH_CHOLESKY: s.color_match = ColorMatch::Cholesky; break;
    case NST_COLOR_MATCH_SYMMETRIC: s.color_match = ColorMatch::Symmetric; break;
    default: require(false, "color_match must be one of NST_COLOR_MATCH_*, got " + std::to_string(c.color_match));
  }
  s.start_size = c.start_size;
  s.scale_iterations = c.scale_iterations;
  require(c.style_mask_count >= 0 && (c.style_masks || c.style_mask_count == 0),
          "style_masks is null but style_mask_count is " + std::to_string(c.style_mask_count));
  for (int32_t i = 0; i < c.style_mask_count; ++i)
    s.style_masks.push_back(image_from_c(&c.style_masks[i], ("style_masks[" + std::to_string(i) + "]").c_str()));
  require(std::isfinite(c.time_limit), "time_limit must be finite");
  r.time_limit = c.time_limit;
  s.tile = c.tile;  // validate() checks it
  r.tile_fixed = c.tile > 0;
  r.history_fixed = c.lbfgs_history != StylizeSettings().lbfgs_history;
  // The library's one check of the values (nst/style/settings.h); its field names are the C ones
  // without the "loss." prefix.
  try {
    validate(s, vgg19_network(), -1);
  } catch (const SettingsError& e) {
    std::string field = e.field();
    if (field.rfind("loss.", 0) == 0) field.erase(0, 5);
    require(false, field + ": " + e.reason());
  }
  r.size = c.size;
  r.style_scale = c.style_scale;
  r.threads = c.threads;
  r.max_memory = c.max_memory;
  return r;
}

Image image_from_c(const nst_image* img, const char* what) {
  const std::string w = what;
  if (!img) throw BadImageError(w + ": null image");
  if (!img->pixels) throw BadImageError(w + ": null pixels");
  if (img->width < 1 || img->height < 1 || img->width > 16384 || img->height > 16384)
    throw BadImageError(w + ": size " + std::to_string(img->width) + "x" + std::to_string(img->height) +
                        " is outside 1..16384 per side");
  const size_t row = static_cast<size_t>(img->width) * 3;
  const size_t stride = img->stride ? img->stride : row;
  if (stride < row)
    throw BadImageError(w + ": stride " + std::to_string(stride) + " is less than width * 3 = " + std::to_string(row));
  Image out;
  out.width = img->width;
  out.height = img->height;
  out.rgb.resize(row * static_cast<size_t>(img->height));
  for (int y = 0; y < img->height; ++y) {
    const unsigned char* src = img->pixels + stride * static_cast<size_t>(y);
    float* dst = out.rgb.data() + row * static_cast<size_t>(y);
    for (size_t i = 0; i < row; ++i) dst[i] = src[i];
  }
  return out;
}

void image_to_c(const Image& img, unsigned char* dst, size_t stride) {
  const size_t row = static_cast<size_t>(img.width) * 3;
  if (stride == 0) stride = row;
  for (int y = 0; y < img.height; ++y) {
    const float* src = img.rgb.data() + row * static_cast<size_t>(y);
    unsigned char* out = dst + stride * static_cast<size_t>(y);
    for (size_t i = 0; i < row; ++i) {
      const float v = std::clamp(src[i], 0.0f, 255.0f);
      out[i] = static_cast<unsigned char>(std::lround(v));
    }
  }
}

std::pair<int, int> run_size(const RunSettings& s, int width, int height, bool style) {
  if (s.size == 0) return {width, height};
  const int longest = style ? static_cast<int>(std::lround(s.style_scale * s.size)) : s.size;
  if (longest < 1 || longest > 16384)
    throw std::invalid_argument("nst_settings: style_scale " + std::to_string(s.style_scale) +
                                " gives style images a side of " + std::to_string(longest) + ", outside 1..16384");
  return longest_side_size(width, height, longest);
}

MemoryPlan plan_run(RunSettings& s, int64_t h, int64_t w, int64_t sh, int64_t sw) {
  return plan_memory(h, w, sh, sw, s.stylize, s.max_memory, s.tile_fixed, s.history_fixed);
}

}  // namespace nst::capi

extern "C" {

void nst_settings_default(nst_settings* s) {
  if (!s) return;
  const nst::StylizeSettings d;
  std::memset(static_cast<void*>(s), 0, sizeof *s);
  s->struct_size = sizeof *s;
  s->iterations = d.iterations;
  s->content_weight = d.loss.content_weight;
  s->style_weight = d.loss.style_weight;
  s->tv_weight = d.loss.tv_weight;
  s->pooling = d.loss.pooling == nst::Pooling::Max ? NST_POOLING_MAX : NST_POOLING_AVG;
  s->init = NST_INIT_RANDOM;
  s->seed = d.seed;
  s->lbfgs_history = d.lbfgs_history;
  s->lbfgs_precision = d.lbfgs_precision == nst::HistoryPrecision::Half ? NST_LBFGS_HALF : NST_LBFGS_FLOAT;
  s->line_search = d.line_search ? 1 : 0;
  s->size = 0;
  s->style_scale = 1.0;
  s->threads = 0;
  s->max_memory = 0;
  s->optimizer = d.optimizer == nst::Optimizer::Lbfgs ? NST_OPTIMIZER_LBFGS : NST_OPTIMIZER_ADAM;
  s->learning_rate = d.learning_rate;
  s->normalize_gradients = d.loss.normalize_gradients ? 1 : 0;
  s->original_colors = d.original_colors ? 1 : 0;
  s->color_match = NST_COLOR_MATCH_NONE;
  s->start_size = d.start_size;
  s->scale_iterations = d.scale_iterations;
  s->style_mask_count = 0;
  s->style_masks = nullptr;
  s->time_limit = 0;
  s->tile = 0;
}

nst_status nst_estimate_memory(const nst_settings* settings, int32_t content_width, int32_t content_height,
                               int32_t style_width, int32_t style_height, nst_memory_estimate* out) {
  try {
    if (!out) return nst::capi::fail(NST_INVALID_ARGUMENT, "nst_estimate_memory: out is null");
    nst::capi::RunSettings s = nst::capi::convert_settings(settings);
    if (content_width < 1 || content_height < 1 || style_width < 1 || style_height < 1)
      return nst::capi::fail(NST_INVALID_ARGUMENT, "nst_estimate_memory: image sizes must be >= 1");
    const auto [cw, ch] = nst::capi::run_size(s, content_width, content_height, false);
    const auto [sw, sh] = nst::capi::run_size(s, style_width, style_height, true);
    const nst::MemoryEstimate e = nst::capi::plan_run(s, ch, cw, sh, sw).need;
    out->total = e.total();
    out->weights = e.weights;
    out->activations = e.activations + e.tiled;
    out->lbfgs = e.lbfgs;
    out->base = e.base;
    nst::capi::clear_last_error();
    return NST_OK;
  } catch (...) {
    std::string message;
    const nst_status st = nst::capi::status_of_current_exception(message);
    return nst::capi::fail(st, "nst_estimate_memory: " + message);
  }
}

}  // extern "C"
