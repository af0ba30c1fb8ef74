// The stylize() controls on tiny synthetic networks: Adam against a hand-written reference,
// normalized gradients against finite differences of the per-term normalized objective, the
// masked Gram against a naive reference and finite differences, the multi-scale ladder and its
// handover, --init style, --original-colors through stylize(), and VGG16 against a naive
// reference and detected from a file.
#include <doctest/doctest.h>

#include "nst/model/preprocess.h"
#include "nst/ops/conv2d.h"
#include "nst/ops/gram.h"
#include "nst/ops/losses.h"
#include "nst/ops/masked_gram.h"
#include "nst/optim/adam.h"
#include "nst/style/color.h"
#include "nst/style/stylize.h"
#include "support/gradcheck.h"
#include "support/safetensors_writer.h"
#include "support/tiny_vgg.h"

#include <cmath>

using namespace nst;
using nst::test::check_gradients;
using nst::test::random_tensor;
using nst::testing::random_image;
using nst::testing::tiny_vgg;

// ---------------------------------------------------------------------------------------------
// Adam

TEST_CASE("Adam: the same losses and point as a hand-written reference on a quadratic, with units") {
  const int n = 7, iters = 40;
  std::vector<double> a(n), b(n), sc(n);
  for (int i = 0; i < n; ++i) a[i] = 0.5 + i, b[i] = std::sin(i + 1.0) * 3, sc[i] = 1 + 0.5 * (i % 3);
  const Objective f = [&](const Eigen::VectorXf& x, Eigen::VectorXf& g) {
    double l = 0;
    for (int i = 0; i < n; ++i) {
      const double d = x[i] - b[i];
      l += 0.5 * a[i] * d * d;
      g[i] = static_cast<float>(a[i] * d);
    }
    return l;
  };
  AdamOptions opt;
  opt.max_iterations = iters;
  opt.learning_rate = 0.3;
  opt.scale.resize(n);
  for (int i = 0; i < n; ++i) opt.scale[i] = static_cast<float>(sc[i]);
  Eigen::VectorXf x = Eigen::VectorXf::Zero(n);
  std::vector<double> losses;
  const LbfgsResult r = adam_minimize(f, x, opt, [&](const LbfgsIteration& it) {
    losses.push_back(it.loss);
    return true;
  });
  CHECK(r.stop == LbfgsStop::MaxIterations);
  CHECK(r.iterations == iters);
  CHECK(r.evaluations == iters + 1);

  // Reference (Kingma & Ba, Algorithm 1) on u = x·scale, in double.
  std::vector<double> u(n, 0.0), m(n, 0.0), v(n, 0.0), ref_losses, best_x(n, 0.0);
  double best = INFINITY;
  for (int k = 1; k <= iters + 1; ++k) {
    double l = 0;
    for (int i = 0; i < n; ++i) l += 0.5 * a[i] * (u[i] / sc[i] - b[i]) * (u[i] / sc[i] - b[i]);
    if (l < best) {
      best = l;
      for (int i = 0; i < n; ++i) best_x[i] = u[i] / sc[i];
    }
    if (k > iters) break;
    ref_losses.push_back(l);
    for (int i = 0; i < n; ++i) {
      const double g = a[i] * (u[i] / sc[i] - b[i]) / sc[i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      const double mh = m[i] / (1 - std::pow(0.9, k)), vh = v[i] / (1 - std::pow(0.999, k));
      u[i] -= 0.3 * mh / (std::sqrt(vh) + 1e-8);
    }
  }
  REQUIRE(losses.size() == ref_losses.size());
  for (size_t k = 0; k < losses.size(); ++k) CHECK(losses[k] == doctest::Approx(ref_losses[k]).epsilon(1e-4));
  CHECK(r.best_loss == doctest::Approx(best).epsilon(1e-4));
  for (int i = 0; i < n; ++i) CHECK(x[i] == doctest::Approx(best_x[i]).epsilon(1e-4));
  // It made progress, and bad options are refused.
  CHECK(losses.back() < 0.2 * losses.front());
  AdamOptions bad;
  bad.learning_rate = -1;
  CHECK_THROWS_AS(bad.validate(), std::invalid_argument);
  bad = AdamOptions{};
  bad.beta2 = 1;
  CHECK_THROWS_AS(bad.validate(), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Masked Gram

TEST_CASE("masked_gram: naive reference, ones = gram, finite differences, pool_mask") {
  std::mt19937_64 rng(5);
  const int64_t C = 3, H = 5, W = 7;
  const Tensor<double> x = random_tensor<double>({1, C, H, W}, rng);
  auto mask = std::make_shared<Tensor<double>>(random_tensor<double>({H, W}, rng, 0, 1));
  (*mask)[3] = 0;
  (*mask)[10] = 0;
  const Tensor<double> g = masked_gram(constant(x), std::shared_ptr<const Tensor<double>>(mask)).value();
  double msq = 0;
  for (int64_t p = 0; p < H * W; ++p) msq += (*mask)[p] * (*mask)[p];
  for (int64_t i = 0; i < C; ++i)
    for (int64_t j = 0; j < C; ++j) {
      double s = 0;
      for (int64_t p = 0; p < H * W; ++p) s += (*mask)[p] * (*mask)[p] * x[i * H * W + p] * x[j * H * W + p];
      CHECK(g[i * C + j] == doctest::Approx(s / (static_cast<double>(C) * msq)).epsilon(1e-12));
    }
  auto ones = std::make_shared<const Tensor<double>>(Shape{H, W}, 1.0);
  const Tensor<double> g1 = masked_gram(constant(x), ones).value(), g0 = gram(constant(x)).value();
  for (int64_t k = 0; k < g1.numel(); ++k) CHECK(g1[k] == doctest::Approx(g0[k]).epsilon(1e-12));

  const std::shared_ptr<const Tensor<double>> cm = mask;
  const auto r = check_gradients([&](const std::vector<Var<double>>& in) { return masked_gram(in[0], cm); }, {x});
  INFO(r.worst_place);
  CHECK(r.ok);
  const auto r2 = check_gradients([&](const std::vector<Var<double>>& in) { return mask_mul(in[0], cm); }, {x});
  CHECK(r2.ok);

  Tensor<double> m4({3, 5});  // odd sizes: the last row and column are dropped, as by the network
  for (int64_t k = 0; k < 15; ++k) m4[k] = static_cast<double>(k);
  const Tensor<double> p = pool_mask(m4);
  REQUIRE(p.shape() == Shape{1, 2});
  CHECK(p[0] == doctest::Approx((0 + 1 + 5 + 6) / 4.0));
  CHECK(p[1] == doctest::Approx((2 + 3 + 7 + 8) / 4.0));
}

// ---------------------------------------------------------------------------------------------
// Normalized gradients

namespace {

// Σ |∂u/∂F| by central differences, u(F) a scalar function of a feature map.
double l1_of_fd_gradient(const std::function<double(const Tensor<double>&)>& u, Tensor<double> f) {
  double l1 = 0;
  const double h = 1e-6;
  for (int64_t i = 0; i < f.numel(); ++i) {
    const double x0 = f[i];
    f[i] = x0 + h;
    const double up = u(f);
    f[i] = x0 - h;
    const double dn = u(f);
    f[i] = x0;
    l1 += std::abs((up - dn) / (2 * h));
  }
  return l1;
}

}  // namespace

TEST_CASE("normalize_gradients: equals finite differences of the per-term normalized objective; loss unchanged") {
  const Vgg<double> net = tiny_vgg<double>(vgg19_network(), 11);
  std::mt19937_64 rng(12);
  const Tensor<double> content = random_tensor<double>({1, 3, 8, 8}, rng, -60, 60);
  const Tensor<double> style = random_tensor<double>({1, 3, 8, 8}, rng, -60, 60);
  const Tensor<double> x = random_tensor<double>({1, 3, 8, 8}, rng, -60, 60);
  GatysConfig cfg;
  cfg.content_layers = {"relu2_1"};
  cfg.style_layers = {"relu1_1"};
  cfg.content_weight = 3;
  cfg.style_weight = 7;
  cfg.tv_weight = 0;
  GatysConfig ncfg = cfg;
  ncfg.normalize_gradients = true;
  const GatysLoss<double> plain(net, content, {style}, {}, cfg), normalized(net, content, {style}, {}, ncfg);

  Tensor<double> g(x.shape());
  const LossTerms tn = normalized.evaluate(x, &g);
  const LossTerms tp = plain.evaluate(x, nullptr);
  CHECK(tn.total == doctest::Approx(tp.total).epsilon(1e-12));
  CHECK(tn.content == doctest::Approx(tp.content).epsilon(1e-12));

  // The per-term normalizers ‖∂u/∂F‖₁ at x, u the unweighted term, by finite differences on F.
  const auto fc = net.forward(constant(x), {"relu2_1"}, Pooling::Max).at("relu2_1").value();
  const auto fs = net.forward(constant(x), {"relu1_1"}, Pooling::Max).at("relu1_1").value();
  const auto pc = std::make_shared<const Tensor<double>>(
      net.forward(constant(content), {"relu2_1"}, Pooling::Max).at("relu2_1").value());
  const auto as = gram(net.forward(constant(style), {"relu1_1"}, Pooling::Max).at("relu1_1")).value_ptr();
  const double nc = l1_of_fd_gradient([&](const Tensor<double>& f) { return mse(constant(f), pc).value()[0]; }, fc);
  const double ns = l1_of_fd_gradient([&](const Tensor<double>& f) { return mse(gram(constant(f)), as).value()[0]; }, fs);
  REQUIRE(nc > 0);
  REQUIRE(ns > 0);

  // O(y) = content(y)/nc + style(y)/ns (weighted terms, normalizers frozen at x), by central
  // differences w.r.t. the pixels: the normalized gradient.
  Tensor<double> y = x;
  const double h = 1e-4;
  double worst = 0, scale_ref = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double x0 = y[i];
    y[i] = x0 + h;
    const LossTerms up = plain.evaluate(y, nullptr);
    y[i] = x0 - h;
    const LossTerms dn = plain.evaluate(y, nullptr);
    y[i] = x0;
    const double fd = (up.content - dn.content) / (2 * h) / nc + (up.style - dn.style) / (2 * h) / ns;
    worst = std::max(worst, std::abs(fd - g[i]));
    scale_ref = std::max(scale_ref, std::abs(fd));
  }
  CHECK(scale_ref > 0);
  CHECK(worst <= 1e-5 * scale_ref);
  // Not the plain gradient.
  Tensor<double> gp(x.shape());
  plain.evaluate(x, &gp);
  double diff = 0;
  for (int64_t i = 0; i < gp.numel(); ++i) diff = std::max(diff, std::abs(gp[i] - g[i]));
  CHECK(diff > 10 * worst);
}

// ---------------------------------------------------------------------------------------------
// stylize(): multi-scale, init style, original colours, masks

TEST_CASE("scale_sizes: √2 steps from the start, the last landing on the final size") {
  CHECK(scale_sizes(0, 256) == std::vector<int>{256});
  CHECK(scale_sizes(256, 256) == std::vector<int>{256});
  CHECK(scale_sizes(64, 256) == std::vector<int>{64, 91, 128, 181, 256});
  CHECK(scale_sizes(100, 142) == std::vector<int>{100, 141, 142});
  CHECK(scale_sizes(100, 141) == std::vector<int>{100, 141});
  CHECK(scale_sizes(1, 3) == std::vector<int>{1, 2, 3});
}

namespace {

StylizeSettings tiny_settings() {
  StylizeSettings s;
  s.loss.content_layers = {"relu2_1"};
  s.loss.style_layers = {"relu1_1", "relu2_1"};
  s.iterations = 4;
  s.lbfgs_history = 5;
  s.seed = 3;
  return s;
}

double max_abs_diff(const Image& a, const Image& b) {
  REQUIRE(a.width == b.width);
  REQUIRE(a.height == b.height);
  double d = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i) d = std::max(d, static_cast<double>(std::abs(a.rgb[i] - b.rgb[i])));
  return d;
}

}  // namespace

TEST_CASE("multi-scale: each scale starts from the previous scale's result, upsampled and clamped") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 21);
  const Image content = random_image(24, 18, 22), style = random_image(20, 20, 23);
  StylizeSettings s = tiny_settings();
  s.start_size = 12;
  s.scale_iterations = 3;
  // Record the first evaluated image of every scale and the sizes seen.
  std::vector<Image> first;
  std::vector<std::pair<int, int>> dims;
  std::vector<int> iteration_numbers;
  StylizeCallbacks cb;
  cb.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>& image) {
    iteration_numbers.push_back(p.iteration);
    CHECK(p.scales == 3);
    CHECK(p.iterations == 3 + 3 + 4);
    if (static_cast<int>(first.size()) < p.scale) {
      first.push_back(image());
      dims.emplace_back(p.width, p.height);
    }
    return true;
  };
  const StylizeResult r = stylize(net, content, {style}, s, cb);
  REQUIRE(first.size() == 3);  // 12, 17, 24
  CHECK(dims[0] == std::pair<int, int>(12, 9));
  CHECK(dims[1] == std::pair<int, int>(17, 13));
  CHECK(dims[2] == std::pair<int, int>(24, 18));
  CHECK(iteration_numbers.size() == 10);
  CHECK(iteration_numbers.back() == 10);
  CHECK(r.image.width == 24);

  // Scale 1 alone: the same run on the content and style resized to 12 (style keeps its size
  // relative to the content: 20 * 12 / 24 = 10).
  StylizeSettings one = s;
  one.start_size = 0;
  one.iterations = 3;
  const Image c12 = resize_longest_side(content, 12), s10 = resize_longest_side(style, 10);
  const StylizeResult r1 = stylize(net, c12, {s10}, one);
  Image up = resize_image(r1.image, 17, 13);
  for (float& v : up.rgb) v = std::clamp(v, 0.0f, 255.0f);
  CHECK(max_abs_diff(first[1], up) < 1e-2);
  // And the run's first image was the random start at 12 px, not content.
  CHECK(max_abs_diff(first[0], c12) > 10);
}

TEST_CASE("init style: the first image is the first style image resized to the content's size") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 31);
  const Image content = random_image(20, 16, 32), style = random_image(30, 30, 33), style2 = random_image(16, 16, 34);
  StylizeSettings s = tiny_settings();
  s.init = InitMode::Style;
  Image seen;
  StylizeCallbacks cb;
  cb.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>& image) {
    if (p.iteration == 1) seen = image();
    return true;
  };
  stylize(net, content, {style, style2}, s, cb);
  CHECK(max_abs_diff(seen, resize_image(style, 20, 16)) < 1e-3);
}

TEST_CASE("original colours through stylize(): the result has the content's chrominance") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 41);
  const Image content = random_image(20, 16, 42, 90, 170), style = random_image(20, 20, 43);
  StylizeSettings s = tiny_settings();
  s.init = InitMode::Content;
  const StylizeResult plain = stylize(net, content, {style}, s);
  s.original_colors = true;
  const StylizeResult kept = stylize(net, content, {style}, s);
  CHECK(max_abs_diff(kept.image, keep_original_colors(plain.image, content)) < 1e-3);
}

TEST_CASE("style masks: two styles with complementary masks; an empty mask is like no style") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 51);
  const Image content = random_image(16, 16, 52), a = random_image(16, 16, 53), b = random_image(16, 16, 54);
  Image left = random_image(16, 16, 55), none = left;
  for (size_t i = 0; i < left.rgb.size(); ++i) left.rgb[i] = ((i / 3) % 16) < 8 ? 255.0f : 0.0f;
  for (float& v : none.rgb) v = 0;
  StylizeSettings s = tiny_settings();
  s.init = InitMode::Content;
  s.style_masks = {left, left};
  for (size_t i = 0; i < s.style_masks[1].rgb.size(); ++i) s.style_masks[1].rgb[i] = 255 - left.rgb[i];
  const StylizeResult both = stylize(net, content, {a, b}, s);
  CHECK(std::isfinite(both.best.total));
  CHECK(both.best.style > 0);
  // Style b masked out everywhere: the same as style a alone under its mask.
  s.style_masks = {left, none};
  s.style_blend = {1, 1};
  const StylizeResult only_a = stylize(net, content, {a, b}, s);
  StylizeSettings s1 = s;
  s1.style_masks = {left};
  s1.style_blend = {};
  // One style of weight b·n = 1 against two styles with b = 1/2, n = 2: the same terms.
  const StylizeResult alone = stylize(net, content, {a}, s1);
  CHECK(max_abs_diff(only_a.image, alone.image) < 1e-3);
  CHECK(only_a.best.total == doctest::Approx(alone.best.total).epsilon(1e-5));
  // A mask count that is not the style count is refused before any work.
  s.style_masks = {left};
  CHECK_THROWS_AS(stylize(net, content, {a, b}, s), SettingsError);
}

TEST_CASE("Adam through stylize(): runs, lowers the loss, refuses a line search") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 61);
  const Image content = random_image(16, 16, 62), style = random_image(16, 16, 63);
  StylizeSettings s = tiny_settings();
  s.optimizer = Optimizer::Adam;
  s.iterations = 20;
  std::vector<double> losses;
  StylizeCallbacks cb;
  cb.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>&) {
    losses.push_back(p.terms.total);
    return true;
  };
  const StylizeResult r = stylize(net, content, {style}, s, cb);
  REQUIRE(losses.size() == 20);
  CHECK(r.best.total < losses.front());
  s.line_search = true;
  CHECK_THROWS_AS(stylize(net, content, {style}, s), SettingsError);
}

// ---------------------------------------------------------------------------------------------
// VGG16

namespace {

// Naive reference: naive conv, bias, ReLU, 2x2 max pool, layer by layer, by the table.
Tensor<double> reference_layer(const Vgg<double>& net, Tensor<double> x, const std::string& layer) {
  for (const LayerInfo& info : net.network->layers) {
    const int64_t C = x.dim(1), H = x.dim(2), W = x.dim(3);
    if (info.kind == LayerKind::Conv) {
      const auto& cv = net.convs[static_cast<size_t>(info.conv)];
      const ConvShape s{C, H, W, cv.weights->shape()[0], 3, 1};
      Tensor<double> y({1, s.K, H, W});
      kernels::conv2d_forward_naive(s, x.data(), cv.weights->tensor().data(), y.data());
      for (int64_t k = 0; k < s.K; ++k)
        for (int64_t i = 0; i < H * W; ++i) y[k * H * W + i] += (*cv.bias)[k];
      x = std::move(y);
    } else if (info.kind == LayerKind::Relu) {
      for (int64_t i = 0; i < x.numel(); ++i) x[i] = std::max(0.0, x[i]);
    } else {
      Tensor<double> y({1, C, H / 2, W / 2});
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < H / 2; ++i)
          for (int64_t j = 0; j < W / 2; ++j)
            y.at(0, c, i, j) = std::max(std::max(x.at(0, c, 2 * i, 2 * j), x.at(0, c, 2 * i, 2 * j + 1)),
                                        std::max(x.at(0, c, 2 * i + 1, 2 * j), x.at(0, c, 2 * i + 1, 2 * j + 1)));
      x = std::move(y);
    }
    if (info.name == layer) return x;
  }
  throw std::logic_error("no layer " + layer);
}

}  // namespace

TEST_CASE("VGG16 on tiny synthetic weights matches the naive reference at every block") {
  const Vgg<double> net = tiny_vgg<double>(vgg16_network(), 71, 3);
  REQUIRE(net.convs.size() == 13);
  std::mt19937_64 rng(72);
  const Tensor<double> x = random_tensor<double>({1, 3, 37, 35}, rng, -1, 1);
  const std::vector<std::string> layers{"relu1_2", "pool2", "conv3_3", "relu4_3", "relu5_3", "pool5"};
  const auto out = net.forward(constant(x), layers, Pooling::Max);
  for (const std::string& l : layers) {
    INFO(l);
    const Tensor<double> ref = reference_layer(net, x, l);
    const Tensor<double>& got = out.at(l).value();
    REQUIRE(got.shape() == ref.shape());
    double worst = 0;
    for (int64_t i = 0; i < ref.numel(); ++i) worst = std::max(worst, std::abs(got[i] - ref[i]));
    CHECK(worst < 1e-9);
  }
  CHECK_THROWS_WITH_AS(net.forward(constant(x), {"relu5_4"}, Pooling::Max), doctest::Contains("VGG16"),
                       std::invalid_argument);
}

TEST_CASE("weights_network: VGG16 from its tensor names or the model key; loading names the network") {
  using nst::testing::RawTensor;
  nst::testing::TempDir dir;
  // Full-size shapes are needed by the loader; write only the header-relevant names for detection.
  auto file_with = [&](const Network& net, const std::map<std::string, std::string>& meta, const std::string& name) {
    std::vector<RawTensor> ts;
    for (int i = 0; i < net.conv_count; ++i) {
      ts.push_back({net.weight_name(i), "F32", {1}, nst::testing::f32_bytes({0.0f})});
      ts.push_back({net.bias_name(i), "F32", {1}, nst::testing::f32_bytes({0.0f})});
    }
    const std::string path = dir.path(name);
    nst::testing::write_file(path, nst::testing::safetensors_bytes(ts, meta));
    return path;
  };
  CHECK(&weights_network(file_with(vgg16_network(), {}, "a.safetensors")) == &vgg16_network());
  CHECK(&weights_network(file_with(vgg19_network(), {}, "b.safetensors")) == &vgg19_network());
  CHECK(&weights_network(file_with(vgg19_network(), {{"model", "vgg16"}}, "c.safetensors")) == &vgg16_network());
  CHECK_THROWS_WITH_AS(weights_network(file_with(vgg19_network(), {{"model", "resnet50"}}, "d.safetensors")),
                       doctest::Contains("resnet50"), WeightsError);
  // Shapes wrong for a real VGG16: the error names the network it was read as.
  CHECK_THROWS_WITH_AS(load_vgg(dir.path("a.safetensors")), doctest::Contains("VGG16"), WeightsError);
}
