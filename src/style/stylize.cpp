#include "nst/style/stylize.h"

#include "nst/model/preprocess.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

namespace nst {

int64_t min_side_for_layers(const std::vector<std::string>& layers, const Network& network) {
  return network.min_side(layers);
}

StylizeResult stylize(const Vgg<float>& net, const Image& content, const std::vector<Image>& styles,
                      const StylizeSettings& settings, const StylizeCallbacks& callbacks) {
  validate(settings, *net.network, static_cast<int64_t>(styles.size()));
  LbfgsOptions opt;
  opt.max_iterations = settings.iterations;
  opt.history = settings.lbfgs_history;
  opt.history_precision = settings.lbfgs_precision;
  opt.line_search = settings.line_search;
  opt.cancelled = callbacks.cancelled;
  opt.validate();
  std::vector<std::string> layers = settings.loss.content_layers;
  layers.insert(layers.end(), settings.loss.style_layers.begin(), settings.loss.style_layers.end());
  const int64_t min_side = net.network->min_side(layers);
  auto check_size = [&](const Image& img, const char* what) {
    if (img.width < min_side || img.height < min_side)
      throw std::invalid_argument(std::string(what) + " image is " + std::to_string(img.width) + "x" +
                                  std::to_string(img.height) + "; the chosen layers need at least " +
                                  std::to_string(min_side) + " pixels per side");
  };
  check_size(content, "content");
  for (const Image& s : styles) check_size(s, "style");

  const Preprocess pre = net.preprocess;
  const Tensor<float> content_x = image_to_input(content, pre);
  std::vector<Tensor<float>> style_x;
  for (const Image& s : styles) style_x.push_back(image_to_input(s, pre));
  const GatysLoss<float> loss(net, content_x, style_x, settings.style_blend, settings.loss);

  Tensor<float> x0;
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
    case InitMode::Image:
      x0 = image_to_input(resize_image(settings.init_image, content.width, content.height), pre);
      break;
  }

  const Shape shape = content_x.shape();
  Eigen::VectorXf x = Eigen::Map<const Eigen::VectorXf>(x0.data(), x0.numel());
  Tensor<float> xt(shape), gt(shape);
  LossTerms last;
  const auto start = std::chrono::steady_clock::now();
  const Objective objective = [&](const Eigen::VectorXf& v, Eigen::VectorXf& g) {
    std::copy(v.data(), v.data() + v.size(), xt.data());
    gt.fill(0.0f);
    last = loss.evaluate(xt, &gt);
    std::copy(gt.data(), gt.data() + gt.numel(), g.data());
    return last.total;
  };
  const auto on_iteration = [&](const LbfgsIteration& it) {
    if (!callbacks.on_iteration) return true;
    StylizeProgress p;
    p.iteration = it.iteration;
    p.iterations = settings.iterations;
    p.terms = last;  // each iteration makes exactly one evaluation before this call without a line search
    p.terms.total = it.loss;
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return callbacks.on_iteration(p, [&] { return input_to_image(xt, pre); });
  };

  StylizeResult result;
  result.optimizer = lbfgs_minimize(objective, x, opt, on_iteration);
  Tensor<float> best(shape);
  std::copy(x.data(), x.data() + x.size(), best.data());
  result.image = input_to_image(best, pre);
  if (std::isfinite(result.optimizer.best_loss)) result.best = loss.evaluate(best, nullptr);
  return result;
}

}  // namespace nst
