#include "nst/style/stylize.h"

#include "nst/cancel.h"
#include "nst/model/preprocess.h"
#include "nst/optim/adam.h"
#include "nst/optim/adam_state.h"
#include "nst/style/color.h"
#include "nst/style/tiled_loss.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <random>

namespace nst {

namespace {

Image clamped(Image img) {
  for (float& v : img.rgb) v = std::clamp(v, 0.0f, 255.0f);
  return img;
}

// A grayscale mask image (any size) as an (H,W) tensor in 0..1 at width x height.
Tensor<float> mask_tensor(const Image& mask, int width, int height) {
  const Image m = resize_image(mask, width, height);
  Tensor<float> t({height, width});
  for (int64_t i = 0; i < t.numel(); ++i) {
    const size_t k = static_cast<size_t>(3 * i);
    t[i] = std::clamp((m.rgb[k] + m.rgb[k + 1] + m.rgb[k + 2]) / (3.0f * 255.0f), 0.0f, 1.0f);
  }
  return t;
}

int longest(const Image& img) { return std::max(img.width, img.height); }

// An image's longest side, and its size, at the scale whose content side is s (final: the
// content's side): resize_longest_side's rule.
int side_at_scale(const Image& img, int s, int final_side) {
  return static_cast<int>(std::max<long>(1, std::lround(static_cast<double>(longest(img)) * s / final_side)));
}
std::pair<int, int> dims_at_scale(const Image& img, int s, int final_side) {
  const int64_t side = side_at_scale(img, s, final_side), m = longest(img);
  return {static_cast<int>(std::max<int64_t>(1, (img.width * side + m / 2) / m)),
          static_cast<int>(std::max<int64_t>(1, (img.height * side + m / 2) / m))};
}

}  // namespace

void check_stylize_inputs(const Network& network, const Image& content, const std::vector<Image>& styles,
                          const StylizeSettings& settings) {
  const int final_side = longest(content);
  validate(settings, network, static_cast<int64_t>(styles.size()), final_side);
  const std::vector<int> sizes = scale_sizes(settings.start_size, final_side);
  std::vector<std::string> layers = settings.loss.content_layers;
  layers.insert(layers.end(), settings.loss.style_layers.begin(), settings.loss.style_layers.end());
  const int64_t min_side = network.min_side(layers);
  auto check_size = [&](int w, int h, const char* what, int scale) {
    if (w < min_side || h < min_side)
      throw SettingsError("size", std::string(what) + " image is " + std::to_string(w) + "x" + std::to_string(h) +
                                  (sizes.size() > 1 ? " at the scale " + std::to_string(scale) : std::string()) +
                                  "; the chosen layers need at least " + std::to_string(min_side) +
                                  " pixels per side");
  };
  for (int s : sizes) {
    const auto [cw, ch] = dims_at_scale(content, s, final_side);
    check_size(cw, ch, "content", s);
    for (const Image& st : styles) {
      const auto [sw, sh] = dims_at_scale(st, s, final_side);
      check_size(sw, sh, "style", s);
    }
  }
  if (settings.init == InitMode::Image && settings.init_image.rgb.empty())
    throw std::invalid_argument("init is image but init_image is empty");
  for (const Image& m : settings.style_masks)
    if (m.rgb.empty()) throw std::invalid_argument("a style mask is empty");
}

std::vector<int> scale_sizes(int start, int final_size) {
  std::vector<int> sizes;
  if (start > 0)
    for (double s = start; std::lround(s) < final_size; s *= std::sqrt(2.0))
      if (sizes.empty() || sizes.back() != std::lround(s)) sizes.push_back(static_cast<int>(std::lround(s)));
  sizes.push_back(final_size);
  return sizes;
}

int64_t min_side_for_layers(const std::vector<std::string>& layers, const Network& network) {
  return network.min_side(layers);
}

// The style transfer works on the RGB; the content's alpha and colour profile go with the result.
static Image with_content_extras(Image img, const Image& content) {
  if (img.width == content.width && img.height == content.height) img.alpha = content.alpha;
  img.icc_profile = content.icc_profile;
  return img;
}

StylizeResult stylize(const Vgg<float>& net, const Image& content, const std::vector<Image>& styles,
                      const StylizeSettings& settings, const StylizeCallbacks& callbacks) {
  const int final_side = longest(content);
  LbfgsOptions lbfgs;
  lbfgs.history = settings.lbfgs_history;
  lbfgs.history_precision = settings.lbfgs_precision;
  lbfgs.line_search = settings.line_search;
  lbfgs.step_pair = settings.lbfgs_step_pair;
  lbfgs.cancelled = callbacks.cancelled;
  lbfgs.validate();
  AdamOptions adam;
  adam.learning_rate = settings.learning_rate;
  adam.cancelled = callbacks.cancelled;
  adam.validate();

  // Every scale's images, checked before any network work.
  check_stylize_inputs(*net.network, content, styles, settings);
  const std::vector<int> sizes = scale_sizes(settings.start_size, final_side);
  auto scaled_side = [&](const Image& img, int s) { return side_at_scale(img, s, final_side); };
  auto scaled_dims = [&](const Image& img, int s) { return dims_at_scale(img, s, final_side); };

  std::vector<Image> matched;
  for (const Image& st : styles) matched.push_back(match_colors(st, content, settings.color_match));

  const Preprocess pre = net.preprocess;
  // The network with the convolution kernels the settings ask for (a copy shares the weights).
  Vgg<float> model = net;
  if (settings.conv_algo != ConvAlgo::Auto) model.conv_algo = settings.conv_algo;
  const int total_iterations = settings.scale_iterations * static_cast<int>(sizes.size() - 1) + settings.iterations;
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  // Checkpointing (style/stylize_state.h): either optimizer, at any scale.
  const StylizeCheckpointing& ck = callbacks.checkpointing;
  if (ck.resume && ck.resume->kind != settings.optimizer)
    throw std::invalid_argument(std::string("resume: the saved state is of ") + to_string(ck.resume->kind) +
                                ", the settings' optimizer is " + to_string(settings.optimizer));
  const size_t first_scale = ck.resume ? static_cast<size_t>(std::max(0, ck.resume->scale)) : 0;
  if (first_scale >= sizes.size())
    throw std::invalid_argument("resume: the saved state is at scale " + std::to_string(first_scale + 1) + ", this run has " +
                                std::to_string(sizes.size()));
  // The time budget's deadline of each scale still to run (settings.time_limit; a resumed run
  // shares it among the scales left): cumulative shares in proportion to iterations x pixels.
  std::vector<double> deadlines(sizes.size(), 0.0);
  if (settings.time_limit >= 0) {
    std::vector<double> cost;
    double total_cost = 0;
    for (size_t k = first_scale; k < sizes.size(); ++k) {
      const auto [w, h] = scaled_dims(content, sizes[k]);
      cost.push_back(static_cast<double>(k + 1 == sizes.size() ? settings.iterations : settings.scale_iterations) *
                     static_cast<double>(w) * static_cast<double>(h));
      total_cost += cost.back();
    }
    double sum = 0;
    for (size_t k = first_scale; k < sizes.size(); ++k)
      deadlines[k] = settings.time_limit * ((sum += cost[k - first_scale]) / total_cost);
    deadlines.back() = settings.time_limit;
  }
  double seconds_before = 0;
  if (ck.resume) seconds_before = ck.resume->seconds;
  const auto seconds = [&] { return seconds_before + elapsed(); };
  StylizeResult result;
  int done = 0, evaluations = 0;  // over finished scales
  if (ck.resume) done = ck.resume->iterations_before, evaluations = ck.resume->evaluations_before;
  Image previous;                 // the previous scale's best image
  for (size_t k = first_scale; k < sizes.size(); ++k) {
    const bool resuming = ck.resume && k == first_scale;  // this scale continues the saved state
    const int s = sizes[k];
    const bool last = k + 1 == sizes.size();
    const Image content_s = last ? content : resize_longest_side(content, s);
    Tensor<float> content_x = image_to_input(content_s, pre);
    std::vector<Tensor<float>> style_x, masks;
    for (const Image& st : matched) style_x.push_back(image_to_input(last ? st : resize_longest_side(st, scaled_side(st, s)), pre));
    for (const Image& m : settings.style_masks) masks.push_back(mask_tensor(m, content_s.width, content_s.height));
    // The whole image at once, or in tiles (settings.tile, style/tiled_loss.h).
    std::optional<GatysLoss<float>> whole;
    std::optional<TiledGatysLoss<float>> tiled;
    if (settings.tile > 0) tiled.emplace(model, content_x, style_x, settings.style_blend, settings.loss, settings.tile);
    else whole.emplace(model, content_x, style_x, settings.style_blend, settings.loss, masks);
    const auto evaluate = [&](const Tensor<float>& at, Tensor<float>* grad) {
      return tiled ? tiled->evaluate(at, grad) : whole->evaluate(at, grad);
    };
    if (clamp_enabled(settings)) {  // the box of pixel values 0..255, in the network's units
      auto bound = [&](float v) {
        Image img;
        img.width = content_s.width;
        img.height = content_s.height;
        img.rgb.assign(static_cast<size_t>(img.width) * static_cast<size_t>(img.height) * 3, v);
        const Tensor<float> t = image_to_input(img, pre);
        return Eigen::VectorXf(Eigen::Map<const Eigen::VectorXf>(t.data(), t.numel()));
      };
      lbfgs.lower = bound(0.0f);
      lbfgs.upper = bound(255.0f);
    }

    Tensor<float> x0;
    if (resuming) {
      x0 = Tensor<float>(content_x.shape());  // replaced by the saved state below
    } else if (k > 0) {
      x0 = image_to_input(clamped(resize_image(previous, content_s.width, content_s.height)), pre);
    } else {
      switch (settings.init) {
        case InitMode::Random: {
          x0 = Tensor<float>(content_x.shape());
          std::mt19937_64 rng(settings.seed);
          std::normal_distribution<float> normal(0.0f, 0.001f);
          for (int64_t i = 0; i < x0.numel(); ++i) x0[i] = normal(rng);
          break;
        }
        case InitMode::Content:
          x0 = content_x;
          break;
        case InitMode::Style:
          x0 = image_to_input(resize_image(matched[0], content_s.width, content_s.height), pre);
          break;
        case InitMode::Image:
          x0 = image_to_input(resize_image(settings.init_image, content_s.width, content_s.height), pre);
          break;
      }
    }

    const Shape shape = content_x.shape();
    Eigen::VectorXf x = Eigen::Map<const Eigen::VectorXf>(x0.data(), x0.numel());
    // The loss holds its targets: the image-size inputs are not needed during the optimization
    // (at print sizes each is hundreds of MB; the memory estimate counts on their release).
    x0 = Tensor<float>();
    content_x = Tensor<float>();
    std::vector<Tensor<float>>().swap(style_x);
    std::vector<Tensor<float>>().swap(masks);
    if (last) std::vector<Image>().swap(matched);
    Tensor<float> xt(shape), gt(shape);
    LossTerms lastterms;
    if (resuming) {  // a resumed run starts from the saved state
      const Eigen::VectorXf& saved_x =
          ck.resume->kind == Optimizer::Adam ? ck.resume->adam.x : ck.resume->optimizer.x;
      if (saved_x.size() != x.size())
        throw std::invalid_argument("resume: the saved state has " + std::to_string(saved_x.size()) +
                                    " variables, this run " + std::to_string(x.size()));
      lastterms = ck.resume->last;
      x = saved_x;
    }
    // c: the optimizer's state (kind and its state set); the run's position is added here.
    const auto save_state = [&](StylizeCheckpoint c) {
      c.scale = static_cast<int>(k);
      c.iterations_before = done;
      c.evaluations_before = evaluations;
      c.last = lastterms;
      c.seconds = seconds();
      ck.save(c);
    };
    const auto checkpoint = [&](const LbfgsState& st) {
      StylizeCheckpoint c;
      c.optimizer = st;
      save_state(std::move(c));
    };
    const auto adam_checkpoint = [&](const AdamState& st) {
      StylizeCheckpoint c;
      c.kind = Optimizer::Adam;
      c.adam = st;
      save_state(std::move(c));
    };
    LbfgsCheckpointing lck;
    LbfgsState final_state;
    AdamCheckpointing ack;
    AdamState adam_final;
    lck.resume = resuming && settings.optimizer == Optimizer::Lbfgs ? &ck.resume->optimizer : nullptr;
    ack.resume = resuming && settings.optimizer == Optimizer::Adam ? &ck.resume->adam : nullptr;
    if (ck.save) {
      if (ck.due) lck.due = ack.due = [&](int iteration) { return ck.due(done + iteration); };
      lck.save = checkpoint;
      lck.final_state = &final_state;
      ack.save = adam_checkpoint;
      ack.final_state = &adam_final;
    }
    const Objective objective = [&](const Eigen::VectorXf& v, Eigen::VectorXf& g) {
      std::copy(v.data(), v.data() + v.size(), xt.data());
      gt.fill(0.0f);
      lastterms = evaluate(xt, &gt);
      std::copy(gt.data(), gt.data() + gt.numel(), g.data());
      return lastterms.total;
    };
    const int iterations = last ? settings.iterations : settings.scale_iterations;
    bool scale_time_up = false, user_stop = false;
    const auto on_iteration = [&](const LbfgsIteration& it) {
      if (settings.time_limit >= 0 && it.iteration < iterations && elapsed() >= deadlines[k]) scale_time_up = true;
      if (!callbacks.on_iteration) return !scale_time_up;
      StylizeProgress p;
      p.iteration = done + it.iteration;
      p.iterations = total_iterations;
      p.scale = static_cast<int>(k) + 1;
      p.scales = static_cast<int>(sizes.size());
      p.width = content_s.width;
      p.height = content_s.height;
      p.terms = lastterms;  // each iteration makes exactly one evaluation before this call without a line search
      p.terms.total = it.loss;
      p.seconds = seconds();
      user_stop = !callbacks.on_iteration(p, [&] { return with_content_extras(input_to_image(xt, pre), content); });
      return !user_stop && !scale_time_up;
    };

    {  // only the optimization checks inside evaluations; the final evaluation below must finish
      const CancelScope cancel_inside_evaluations(callbacks.interrupt);  // nst/cancel.h
      if (settings.optimizer == Optimizer::Adam) {
        adam.max_iterations = iterations;
        adam.scale.resize(x.size());
        const int64_t plane = shape[2] * shape[3];
        for (int c = 0; c < 3; ++c) adam.scale.segment(c * plane, plane).setConstant(pixels_per_input_unit(pre, c));
        if (ack.resume && ack.resume->iteration > iterations)
          throw std::invalid_argument("resume: the saved state is past this scale's iterations");
        result.optimizer = adam_minimize(objective, x, adam, on_iteration, ack);
        if (adam_final.iteration > 0) adam_checkpoint(adam_final);
      } else if (resuming && ck.resume->optimizer.iteration > iterations) {
        // The saved state is this scale's end (taken when its iterations ran out): what the
        // minimizer returned then, without running it.
        const LbfgsState& st = ck.resume->optimizer;
        if (st.reported) throw std::invalid_argument("resume: the saved state is past this scale's iterations");
        if (st.has_best) x = st.x_best;
        result.optimizer = LbfgsResult{};
        result.optimizer.stop = LbfgsStop::MaxIterations;
        result.optimizer.iterations = st.iteration - 1;
        result.optimizer.evaluations = st.evaluations;
        result.optimizer.best_loss = st.has_best ? st.best_loss : st.loss;
        result.optimizer.resets = st.resets;
        result.optimizer.skipped_pairs = st.skipped_pairs;
      } else {
        lbfgs.max_iterations = iterations;
        result.optimizer = lbfgs_minimize(objective, x, lbfgs, on_iteration, lck);
        if (final_state.iteration > 0) checkpoint(final_state);
      }
    }
    done += result.optimizer.iterations;
    evaluations += result.optimizer.evaluations;
    if (!std::isfinite(result.optimizer.best_loss)) break;  // nothing finite at this scale
    Tensor<float> best(shape);
    std::copy(x.data(), x.data() + x.size(), best.data());
    previous = input_to_image(best, pre);
    result.best = evaluate(best, nullptr);
    if (last) {  // the loss of the image as it will be written: clamped and rounded to its bits
      Image saved = settings.original_colors ? keep_original_colors(previous, content) : previous;
      // 16 bits store v·257 rounded (io/image.h): the value read back is that / 257.
      const float levels = settings.saved_bit_depth == 16 ? 257.0f : 1.0f;
      for (float& v : saved.rgb) v = std::floor(std::min(255.0f, std::max(0.0f, v)) * levels + 0.5f) / levels;
      result.saved = evaluate(image_to_input(saved, pre), nullptr);
    }
    // A stop by the user or a non-finite loss ends the ladder; a scale that merely stopped making
    // progress, or reached its deadline, goes on to the next.
    if (scale_time_up && !user_stop) {
      result.time_up = last;
      if (!last) continue;
    }
    if (result.optimizer.stop == LbfgsStop::Cancelled || result.optimizer.stop == LbfgsStop::NonFinite) break;
  }
  result.optimizer.iterations = done;
  result.optimizer.evaluations = evaluations;
  if (previous.rgb.empty()) return result;
  if (previous.width != content.width || previous.height != content.height)
    previous = clamped(resize_image(previous, content.width, content.height));
  result.image = with_content_extras(settings.original_colors ? keep_original_colors(previous, content) : previous,
                                     content);
  return result;
}

}  // namespace nst
