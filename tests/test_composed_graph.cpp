// A small network built from the ops, checked end to end against finite differences:
// conv -> bias -> ReLU -> max pool -> conv -> ReLU -> Gram -> MSE, plus a content-like MSE on
// the pooled features (a value used twice) and total variation of the input.
#include <doctest/doctest.h>

#include "nst/ops/conv2d.h"
#include "nst/ops/elementwise.h"
#include "nst/ops/gram.h"
#include "nst/ops/losses.h"
#include "nst/ops/pool.h"
#include "support/gradcheck.h"

#include <cmath>

using namespace nst;
using nst::test::random_tensor;

TEST_CASE("composed graph with a value used twice matches finite differences") {
  std::mt19937_64 rng(31);
  auto w1 = std::make_shared<const Tensor<double>>(random_tensor<double>({4, 3, 3, 3}, rng));
  auto b1 = std::make_shared<const Tensor<double>>(random_tensor<double>({4}, rng, -0.2, 0.2));
  auto w2 = std::make_shared<const Tensor<double>>(random_tensor<double>({5, 4, 3, 3}, rng));
  auto gram_target = std::make_shared<const Tensor<double>>(random_tensor<double>({1, 5, 5}, rng));
  auto feat_target = std::make_shared<const Tensor<double>>(random_tensor<double>({1, 4, 3, 4}, rng));
  const Tensor<double> image = random_tensor<double>({1, 3, 7, 8}, rng);

  // Pre-activations must stay away from ReLU's kink and pooling windows free of near-ties
  // for finite differences to be meaningful: measure the margins on the actual input.
  double relu_margin = 1e9, pool_margin = 1e9;
  {
    Var<double> pre1 = bias_add(conv2d(constant(image), w1, 1), b1);
    for (int64_t i = 0; i < pre1.value().numel(); ++i) relu_margin = std::min(relu_margin, std::abs(pre1.value()[i]));
    Var<double> r1 = relu(pre1);
    const Tensor<double>& a = r1.value();
    for (int64_t c = 0; c < 4; ++c)
      for (int64_t y = 0; y + 1 < 7; y += 2)
        for (int64_t x = 0; x + 1 < 8; x += 2) {
          double v[4] = {a.at(0, c, y, x), a.at(0, c, y, x + 1), a.at(0, c, y + 1, x), a.at(0, c, y + 1, x + 1)};
          std::sort(v, v + 4);
          if (v[3] > 0) pool_margin = std::min(pool_margin, v[3] - v[2]);
        }
    Var<double> pre2 = conv2d(max_pool2(r1), w2, 1);
    for (int64_t i = 0; i < pre2.value().numel(); ++i) relu_margin = std::min(relu_margin, std::abs(pre2.value()[i]));
  }
  INFO("relu margin " << relu_margin << ", pool margin " << pool_margin);
  REQUIRE(relu_margin > 1e-4);
  REQUIRE(pool_margin > 1e-4);

  auto net = [&](const std::vector<Var<double>>& v) {
    Var<double> pooled = max_pool2(relu(bias_add(conv2d(v[0], w1, 1), b1)));
    Var<double> feats = relu(conv2d(pooled, w2, 1));
    return sum<double>({scale(mse(gram(feats), gram_target), 100.0),
                        scale(mse(pooled, feat_target), 5.0),  // pooled is used twice
                        scale(total_variation(v[0]), 1e-3)});
  };
  const auto r = nst::test::check_gradients(net, {image});
  INFO("worst error " << r.worst_error << " at " << r.worst_place);
  CHECK(r.checked == image.numel());
  CHECK(r.ok);
}
