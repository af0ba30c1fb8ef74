// VGG19 on tiny synthetic weights against a naive reference, layer naming, preprocessing,
// and the full Gatys loss checked against finite differences w.r.t. the pixels.
#include <doctest/doctest.h>

#include "nst/hash.h"
#include "nst/model/preprocess.h"
#include "nst/model/vgg19.h"
#include "nst/ops/conv2d.h"
#include "nst/style/gatys.h"
#include "support/gradcheck.h"

#include <cmath>

using namespace nst;
using nst::test::random_tensor;

namespace {

const int kFeature[16] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34};

// A VGG19-shaped network with tiny channel counts.
template <class T>
std::map<std::string, Tensor<T>> tiny_weights(std::mt19937_64& rng) {
  const int64_t widths[16] = {3, 4, 4, 5, 5, 4, 3, 4, 5, 3, 4, 3, 4, 5, 3, 4};
  std::map<std::string, Tensor<T>> m;
  int64_t in = 3;
  for (int i = 0; i < 16; ++i) {
    const std::string base = "features." + std::to_string(kFeature[i]);
    const double bound = std::sqrt(6.0 / static_cast<double>(in * 9));  // keeps activations O(1)
    m[base + ".weight"] = random_tensor<T>({widths[i], in, 3, 3}, rng, -bound, bound);
    m[base + ".bias"] = random_tensor<T>({widths[i]}, rng, -0.1, 0.3);
    in = widths[i];
  }
  return m;
}

// Straightforward reference: naive conv, bias, ReLU, 2x2 max pool, layer by layer.
Tensor<double> reference_layer(const Vgg<double>& net, Tensor<double> x, const std::string& layer) {
  size_t conv = 0;
  for (const LayerInfo& info : vgg19_network().layers) {
    const std::string& name = info.name;
    const int64_t C = x.dim(1), H = x.dim(2), W = x.dim(3);
    if (info.kind == LayerKind::Conv) {
      const auto& cv = net.convs[conv++];
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
    if (name == layer) return x;
  }
  throw std::logic_error("no layer " + layer);
}

}  // namespace

TEST_CASE("the network tables: neural-style names, channels, pool levels, torchvision tensor indices") {
  const Network& net = vgg19_network();
  CHECK(net.name == "VGG19");
  REQUIRE(net.layers.size() == 16 * 2 + 5);
  CHECK(net.conv_count == 16);
  CHECK(net.layers.front().name == "conv1_1");
  CHECK(net.layers[4].name == "pool1");
  CHECK(net.layers[4].kind == LayerKind::Pool);
  CHECK(net.layers.back().name == "pool5");
  CHECK(net.index("relu4_2") == 22);
  CHECK(net.layer("relu4_2").channels == 512);
  CHECK(net.layer("relu3_1").pool_level == 2);
  CHECK(net.layer("pool3").pool_level == 3);
  CHECK(net.min_side({"relu1_1"}) == 1);
  CHECK(net.min_side({"relu1_1", "relu5_1"}) == 16);
  CHECK(net.min_side({"pool5"}) == 32);
  CHECK_THROWS_WITH_AS(net.index("relu4_5"), doctest::Contains("VGG19"), std::invalid_argument);
  CHECK_THROWS_AS(net.index("conv"), std::invalid_argument);
  // torchvision's vgg19().features index of each convolution, and its (out, in) channels.
  const auto req = net.tensor_requests();
  REQUIRE(req.size() == 32);
  int64_t in = 3;
  const int64_t widths[16] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512};
  for (int i = 0; i < 16; ++i) {
    CHECK(req[2 * static_cast<size_t>(i)].name == "features." + std::to_string(kFeature[i]) + ".weight");
    CHECK(req[2 * static_cast<size_t>(i)].shape == Shape{widths[i], in, 3, 3});
    CHECK(req[2 * static_cast<size_t>(i) + 1].name == "features." + std::to_string(kFeature[i]) + ".bias");
    in = widths[i];
  }

  const Network& v16 = vgg16_network();
  CHECK(v16.name == "VGG16");
  CHECK(v16.layers.size() == 13 * 2 + 5);
  CHECK(v16.conv_count == 13);
  CHECK(v16.weight_name(12) == "features.28.weight");
  CHECK(v16.weight_name(7) == "features.17.weight");
  CHECK(v16.layers.back().name == "pool5");
  CHECK(v16.index("conv5_3") == 28);
  CHECK_THROWS_WITH_AS(v16.index("relu5_4"), doctest::Contains("VGG16"), std::invalid_argument);
  CHECK(v16.layer_ranges() == "conv1_1..conv5_3, relu1_1..relu5_3, pool1..pool5");
}

TEST_CASE("VGG19 forward on tiny weights matches the naive reference at every block") {
  std::mt19937_64 rng(51);
  const Vgg<double> net = Vgg<double>::from_tensors(tiny_weights<double>(rng), Preprocess::Caffe);
  const Tensor<double> x = random_tensor<double>({1, 3, 34, 37}, rng, -2, 2);
  const std::vector<std::string> layers{"conv1_1", "relu2_1", "pool2", "relu3_3", "relu4_2", "relu5_1", "pool5"};
  const auto out = net.forward(constant(x), layers, Pooling::Max);
  REQUIRE(out.size() == layers.size());
  for (const auto& name : layers) {
    CAPTURE(name);
    const Tensor<double> ref = reference_layer(net, x, name);
    const Tensor<double>& got = out.at(name).value();
    REQUIRE(got.shape() == ref.shape());
    double err = 0;
    for (int64_t i = 0; i < ref.numel(); ++i) err = std::max(err, std::abs(got[i] - ref[i]));
    CHECK(err < 1e-10);
  }
  CHECK(out.at("pool5").shape() == Shape{1, 4, 1, 1});
}

TEST_CASE("from_tensors rejects missing and inconsistent tensors") {
  std::mt19937_64 rng(52);
  auto w = tiny_weights<float>(rng);
  auto missing = w;
  missing.erase("features.21.bias");
  CHECK_THROWS_WITH_AS(Vgg<float>::from_tensors(missing, Preprocess::Caffe), "VGG19: missing features.21.bias",
                       std::invalid_argument);
  auto wrong = w;
  wrong["features.5.weight"] = Tensor<float>({5, 7, 3, 3});
  CHECK_THROWS_AS(Vgg<float>::from_tensors(wrong, Preprocess::Caffe), std::invalid_argument);
}

TEST_CASE("ModelUse: only the layers a run reads, Winograd layers as their transform, same outputs and hash") {
  std::mt19937_64 rng(53);
  const auto w = tiny_weights<float>(rng);
  const Vgg<float> full = Vgg<float>::from_tensors(w, Preprocess::Caffe);
  // The hash is the stream of every convolution's weights then bias, in network order.
  Hash h;
  for (int i = 0; i < 16; ++i)
    for (const char* part : {".weight", ".bias"}) {
      const Tensor<float>& t = w.at("features." + std::to_string(kFeature[i]) + part);
      h.add(t.data(), static_cast<size_t>(t.numel()) * sizeof(float));
    }
  CHECK(full.weights_hash == h.hex());
  CHECK(full.convs.size() == 16);

  ModelUse use;
  use.layers = {"relu2_1", "pool3"};  // pool3 follows conv3_4, the 8th convolution
  use.raw_weights = false;
  const Vgg<float> trimmed = Vgg<float>::from_tensors(w, Preprocess::Caffe, vgg19_network(), use);
  REQUIRE(trimmed.convs.size() == 8);
  CHECK(trimmed.weights_hash == full.weights_hash);  // also over the convolutions not kept
  // Convolutions of 3 input channels take the band GEMM (conv1_1; here also conv1_2 and conv3_4):
  // they keep their weights.
  for (const auto& c : trimmed.convs) CHECK(c.weights->has_tensor() == (c.weights->shape()[1] == 3));
  CHECK_THROWS_WITH_AS(trimmed.convs[2].weights->tensor(), doctest::Contains("Winograd transform"),
                       std::invalid_argument);

  const Tensor<float> x = random_tensor<float>({1, 3, 20, 23}, rng, -2, 2);
  const std::vector<std::string> layers{"relu1_2", "conv2_2", "pool3"};
  const auto a = full.forward(constant(x), layers, Pooling::Max);
  const auto b = trimmed.forward(constant(x), layers, Pooling::Max);
  for (const auto& name : layers) {
    CAPTURE(name);
    const Tensor<float>& ta = a.at(name).value();
    const Tensor<float>& tb = b.at(name).value();
    REQUIRE(ta.shape() == tb.shape());
    CHECK(std::equal(ta.data(), ta.data() + ta.numel(), tb.data()));
  }
  // The gradient through the transform-only layers, bit for bit.
  const Var<float> out = full.forward(constant(x), {"pool3"}, Pooling::Max).at("pool3");
  const Tensor<float> seed = random_tensor<float>(out.shape(), rng, -1, 1);
  Tensor<float> ga, gb;
  for (const Vgg<float>* net : {&full, &trimmed}) {
    const Var<float> xv = leaf(x, true);
    backward(net->forward(xv, {"pool3"}, Pooling::Max).at("pool3"), seed);
    (net == &full ? ga : gb) = xv.grad();
  }
  REQUIRE(ga.numel() == x.numel());
  CHECK(std::equal(ga.data(), ga.data() + ga.numel(), gb.data()));

  CHECK_THROWS_WITH_AS(trimmed.forward(constant(x), {"relu4_1"}, Pooling::Max),
                       "VGG19: conv4_1 is past the layers this model was loaded for", std::invalid_argument);
  Vgg<float> reference = trimmed;
  reference.conv_algo = ConvAlgo::Im2col;  // needs the weights themselves
  CHECK_THROWS_AS(reference.forward(constant(x), {"relu2_1"}, Pooling::Max), std::invalid_argument);

  use.raw_weights = true;  // the reference mode's model: the weights, U on first use
  const Vgg<float> kept = Vgg<float>::from_tensors(w, Preprocess::Caffe, vgg19_network(), use);
  REQUIRE(kept.convs.size() == 8);
  for (const auto& c : kept.convs) CHECK(c.weights->has_tensor());
  // A convolution as the deepest layer is kept itself.
  CHECK(Vgg<float>::from_tensors(w, Preprocess::Caffe, vgg19_network(), ModelUse{{"conv3_1"}, true}).convs.size() == 5);
  CHECK_THROWS_AS(Vgg<float>::from_tensors(w, Preprocess::Caffe, vgg19_network(), ModelUse{{"relu9_1"}, true}),
                  std::invalid_argument);
}

TEST_CASE("preprocessing conventions and their inverse") {
  Image img;
  img.width = 2;
  img.height = 1;
  img.rgb = {10, 20, 30, 200, 100, 0};
  const Tensor<float> caffe = image_to_input(img, Preprocess::Caffe);
  CHECK(caffe.at(0, 0, 0, 0) == doctest::Approx(30 - 103.939));  // B first
  CHECK(caffe.at(0, 2, 0, 1) == doctest::Approx(200 - 123.68));  // R last
  const Tensor<float> tv = image_to_input(img, Preprocess::Torchvision);
  CHECK(tv.at(0, 0, 0, 0) == doctest::Approx((10 / 255.0 - 0.485) / 0.229));
  CHECK(tv.at(0, 1, 0, 1) == doctest::Approx((100 / 255.0 - 0.456) / 0.224));
  for (Preprocess p : {Preprocess::Caffe, Preprocess::Torchvision}) {
    const Image back = input_to_image(image_to_input(img, p), p);
    for (size_t i = 0; i < img.rgb.size(); ++i) CHECK(back.rgb[i] == doctest::Approx(img.rgb[i]).epsilon(1e-4));
  }
  CHECK(parse_preprocess("caffe") == Preprocess::Caffe);
  CHECK_THROWS_AS(parse_preprocess("bgr"), std::invalid_argument);
}

TEST_CASE("full Gatys loss (content + 2 styles + TV) matches finite differences w.r.t. the pixels") {
  std::mt19937_64 rng(53);
  const Vgg<double> net = Vgg<double>::from_tensors(tiny_weights<double>(rng), Preprocess::Caffe);
  const Tensor<double> content = random_tensor<double>({1, 3, 16, 16}, rng, -1, 1);
  const std::vector<Tensor<double>> styles{random_tensor<double>({1, 3, 20, 17}, rng, -1, 1),
                                           random_tensor<double>({1, 3, 16, 24}, rng, -1, 1)};
  GatysConfig cfg;  // neural-style's layers and weights
  cfg.style_layer_weights = {1.0, 0.5, 2.0, 1.0, 1.5};
  const GatysLoss<double> loss(net, content, styles, {3.0, 1.0}, cfg);
  const Tensor<double> x = random_tensor<double>({1, 3, 16, 16}, rng, -1, 1);

  const LossTerms terms = loss.evaluate(x, nullptr);
  CHECK(terms.content > 0);
  CHECK(terms.style > 0);
  CHECK(terms.tv > 0);
  CHECK(terms.total == doctest::Approx(terms.content + terms.style + terms.tv));

  Tensor<double> grad(x.shape());
  loss.evaluate(x, &grad);
  const double h = 1e-6;
  double worst = 0;
  Tensor<double> probe = x;
  for (int64_t i = 0; i < x.numel(); ++i) {
    probe[i] = x[i] + h;
    const double up = loss.evaluate(probe, nullptr).total;
    probe[i] = x[i] - h;
    const double down = loss.evaluate(probe, nullptr).total;
    probe[i] = x[i];
    const double numeric = (up - down) / (2 * h);
    worst = std::max(worst, std::abs(numeric - grad[i]) / std::max(1.0, std::abs(numeric)));
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-5);
}

TEST_CASE("style blend: one style with weight 1 equals blending it with a zero-weight other") {
  std::mt19937_64 rng(54);
  const Vgg<double> net = Vgg<double>::from_tensors(tiny_weights<double>(rng), Preprocess::Caffe);
  const Tensor<double> content = random_tensor<double>({1, 3, 16, 16}, rng);
  const Tensor<double> a = random_tensor<double>({1, 3, 16, 16}, rng), b = random_tensor<double>({1, 3, 16, 16}, rng);
  const Tensor<double> x = random_tensor<double>({1, 3, 16, 16}, rng);
  const double only_a = GatysLoss<double>(net, content, {a}, {}, {}).evaluate(x, nullptr).style;
  const double a_and_zero_b = GatysLoss<double>(net, content, {a, b}, {2.0, 0.0}, {}).evaluate(x, nullptr).style;
  const double half = GatysLoss<double>(net, content, {a, b}, {1.0, 1.0}, {}).evaluate(x, nullptr).style;
  CHECK(only_a == doctest::Approx(a_and_zero_b).epsilon(1e-12));
  CHECK(half != doctest::Approx(only_a));
  CHECK_THROWS_AS(GatysLoss<double>(net, content, {a, b}, {1.0}, {}), std::invalid_argument);
  CHECK_THROWS_AS(GatysLoss<double>(net, content, {a}, {0.0}, {}), std::invalid_argument);
}
