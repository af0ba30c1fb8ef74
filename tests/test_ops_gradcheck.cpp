// Every differentiable op against central finite differences (tests/support/gradcheck.h),
// plus negative controls proving the checker catches a wrong gradient.
#include <doctest/doctest.h>

#include "nst/ops/conv2d.h"
#include "nst/ops/elementwise.h"
#include "nst/ops/gram.h"
#include "nst/ops/losses.h"
#include "nst/ops/pool.h"
#include "support/gradcheck.h"

#include <algorithm>
#include <numeric>

using namespace nst;
using nst::test::check_gradients;
using nst::test::random_away_from_zero;
using nst::test::random_tensor;

namespace {

// Distinct values spaced 1/numel apart in random order: max-pool windows have no near-ties.
Tensor<double> distinct_values(const Shape& shape, std::mt19937_64& rng) {
  Tensor<double> t(shape);
  std::vector<int64_t> idx(static_cast<size_t>(t.numel()));
  std::iota(idx.begin(), idx.end(), 0);
  std::shuffle(idx.begin(), idx.end(), rng);
  for (int64_t i = 0; i < t.numel(); ++i)
    t[i] = -1.0 + 2.0 * static_cast<double>(idx[static_cast<size_t>(i)]) / static_cast<double>(t.numel());
  return t;
}

void require_ok(const nst::test::GradCheck& r) {
  INFO("worst error " << r.worst_error << " at " << r.worst_place);
  CHECK(r.checked > 0);
  CHECK(r.ok);
}

}  // namespace

TEST_CASE("conv2d input gradient, several kernel sizes, paddings and channel counts") {
  std::mt19937_64 rng(7);
  struct Case { int64_t N, C, H, W, K, R, pad; };
  for (const Case c : {Case{1, 3, 5, 6, 4, 3, 1}, Case{2, 1, 4, 3, 2, 3, 1}, Case{1, 5, 3, 4, 3, 1, 0},
                       Case{1, 2, 6, 5, 3, 5, 2}, Case{1, 3, 5, 5, 2, 3, 0}, Case{1, 2, 4, 7, 3, 5, 1}}) {
    CAPTURE(c.C);
    CAPTURE(c.R);
    CAPTURE(c.pad);
    auto w = std::make_shared<const Tensor<double>>(random_tensor<double>({c.K, c.C, c.R, c.R}, rng));
    require_ok(check_gradients([&](const auto& v) { return conv2d(v[0], w, c.pad); },
                               {random_tensor<double>({c.N, c.C, c.H, c.W}, rng)}));
  }
}

TEST_CASE("conv2d_bias_relu gradient, Winograd and im2col paths, pre-activations off the kink") {
  std::mt19937_64 rng(16);
  struct Case { int64_t N, C, H, W, K, R, pad; ConvAlgo algo; };
  for (const Case c : {Case{2, 3, 5, 6, 4, 3, 1, ConvAlgo::Auto}, Case{1, 2, 7, 5, 3, 3, 1, ConvAlgo::Im2col},
                       Case{1, 2, 6, 5, 3, 5, 2, ConvAlgo::Auto}}) {
    CAPTURE(c.R);
    auto w = std::make_shared<const ConvWeights<double>>(
        std::make_shared<const Tensor<double>>(random_tensor<double>({c.K, c.C, c.R, c.R}, rng)));
    auto b = std::make_shared<const Tensor<double>>(random_tensor<double>({c.K}, rng));
    const Tensor<double> x = random_tensor<double>({c.N, c.C, c.H, c.W}, rng);
    // A step of h moves a pre-activation by at most h·Σ|w| < 1e-4: stay further from 0.
    const Tensor<double> pre = bias_add(conv2d(constant(x), w, c.pad, c.algo), b).value();
    double margin = 1e300;
    int64_t positive = 0;
    for (int64_t i = 0; i < pre.numel(); ++i) {
      margin = std::min(margin, std::abs(pre[i]));
      positive += pre[i] > 0;
    }
    REQUIRE(margin > 1e-4);
    CHECK(positive > 0);  // both sides of the ReLU are exercised
    CHECK(positive < pre.numel());
    require_ok(check_gradients([&](const auto& v) { return conv2d_bias_relu(v[0], w, b, c.pad, c.algo); }, {x}));
  }
}

TEST_CASE("ops that overwrite a fresh gradient add to one that already holds a value") {
  // x feeds the same op twice: the first backward finds x's gradient empty and overwrites it,
  // the second must add. Odd sizes cover the row and column floor-mode pooling leaves out.
  std::mt19937_64 rng(17);
  const Shape s{1, 3, 5, 7};
  auto b = std::make_shared<const Tensor<double>>(random_tensor<double>({3}, rng));
  auto w = std::make_shared<const ConvWeights<double>>(
      std::make_shared<const Tensor<double>>(random_tensor<double>({4, 3, 3, 3}, rng)));
  auto wb = std::make_shared<const Tensor<double>>(Tensor<double>({4}, 5.0));  // pre-activations > 0
  auto twice = [](auto op) {
    return [op](const std::vector<Var<double>>& v) { return sum<double>({op(v[0]), op(v[0])}); };
  };
  const Tensor<double> distinct = distinct_values(s, rng), away = random_away_from_zero(s, rng);
  const Tensor<double> small = random_tensor<double>(s, rng, -0.1, 0.1);
  require_ok(check_gradients(twice([](const Var<double>& x) { return relu(x); }), {away}));
  require_ok(check_gradients(twice([&](const Var<double>& x) { return bias_add(x, b); }), {distinct}));
  require_ok(check_gradients(twice([](const Var<double>& x) { return max_pool2(x); }), {distinct}));
  require_ok(check_gradients(twice([](const Var<double>& x) { return avg_pool2(x); }), {distinct}));
  require_ok(check_gradients(twice([](const Var<double>& x) { return gram(x); }), {distinct}));
  require_ok(check_gradients(twice([&](const Var<double>& x) { return conv2d(x, w, 1); }), {distinct}));
  require_ok(check_gradients(twice([&](const Var<double>& x) { return conv2d(x, w, 1, ConvAlgo::Im2col); }), {distinct}));
  require_ok(check_gradients(twice([&](const Var<double>& x) { return conv2d_bias_relu(x, w, wb, 1); }), {small}));
}

TEST_CASE("bias_add gradient") {
  std::mt19937_64 rng(8);
  auto b = std::make_shared<const Tensor<double>>(random_tensor<double>({3}, rng));
  require_ok(check_gradients([&](const auto& v) { return bias_add(v[0], b); },
                             {random_tensor<double>({2, 3, 4, 5}, rng)}));
}

TEST_CASE("relu gradient, inputs kept off the kink") {
  std::mt19937_64 rng(9);
  require_ok(check_gradients([](const auto& v) { return relu(v[0]); },
                             {random_away_from_zero({1, 3, 5, 4}, rng)}));
}

TEST_CASE("max_pool2 gradient, even and odd sizes, no ties") {
  std::mt19937_64 rng(10);
  for (const Shape& s : {Shape{1, 2, 4, 6}, Shape{2, 3, 5, 7}}) {
    CAPTURE(shape_str(s));
    require_ok(check_gradients([](const auto& v) { return max_pool2(v[0]); }, {distinct_values(s, rng)}));
  }
}

TEST_CASE("avg_pool2 gradient, even and odd sizes") {
  std::mt19937_64 rng(11);
  for (const Shape& s : {Shape{1, 2, 4, 6}, Shape{2, 3, 5, 7}}) {
    CAPTURE(shape_str(s));
    require_ok(check_gradients([](const auto& v) { return avg_pool2(v[0]); }, {random_tensor<double>(s, rng)}));
  }
}

TEST_CASE("gram gradient") {
  std::mt19937_64 rng(12);
  require_ok(check_gradients([](const auto& v) { return gram(v[0]); },
                             {random_tensor<double>({2, 5, 3, 4}, rng)}));
  // More channels than one row block of the parallel Gram (32).
  require_ok(check_gradients([](const auto& v) { return gram(v[0]); },
                             {random_tensor<double>({1, 37, 2, 3}, rng)}));
}

TEST_CASE("mse gradient against a constant target") {
  std::mt19937_64 rng(13);
  auto t = std::make_shared<const Tensor<double>>(random_tensor<double>({1, 3, 4, 5}, rng));
  require_ok(check_gradients([&](const auto& v) { return mse(v[0], t); },
                             {random_tensor<double>({1, 3, 4, 5}, rng)}));
}

TEST_CASE("dot_constant gradient") {
  std::mt19937_64 rng(21);
  auto c = std::make_shared<const Tensor<double>>(random_tensor<double>({1, 2, 3, 5}, rng));
  require_ok(check_gradients([&](const auto& v) { return dot_constant(v[0], c); },
                             {random_tensor<double>({1, 2, 3, 5}, rng)}));
}

TEST_CASE("total variation gradient") {
  std::mt19937_64 rng(14);
  for (const Shape& s : {Shape{1, 3, 5, 6}, Shape{2, 1, 1, 4}, Shape{1, 2, 4, 1}}) {
    CAPTURE(shape_str(s));
    require_ok(check_gradients([](const auto& v) { return total_variation(v[0]); },
                               {random_tensor<double>(s, rng)}));
  }
}

TEST_CASE("scale and sum gradients, including one value used twice") {
  std::mt19937_64 rng(15);
  require_ok(check_gradients(
      [](const auto& v) { return sum<double>({scale(v[0], 3.0), v[1], scale(v[0], -0.5), v[0]}); },
      {random_tensor<double>({2, 3}, rng), random_tensor<double>({2, 3}, rng)}));
}

TEST_CASE("mse and total variation values match their definitions") {
  Tensor<double> x({1, 1, 2, 2});
  x[0] = 1; x[1] = 2; x[2] = 4; x[3] = 8;
  auto t = std::make_shared<const Tensor<double>>(Shape{1, 1, 2, 2}, 1.0);
  // mean of (0, 1, 9, 49)
  CHECK(mse(constant(x), t).value()[0] == doctest::Approx(59.0 / 4));
  // ½ ((2-1)² + (8-4)² + (4-1)² + (8-2)²) = ½ (1 + 16 + 9 + 36)
  CHECK(total_variation(constant(x)).value()[0] == doctest::Approx(31.0));
  // gram of one 1x2x2 channel: (1 + 4 + 16 + 64) / 4
  CHECK(gram(constant(x)).value()[0] == doctest::Approx(85.0 / 4));
}

// --- negative controls: the checker must reject wrong backwards -------------------------------

namespace {
// y = x², with a backward scaled by `factor` (1 is correct) that accumulates or, when
// `assign` is set, wrongly overwrites the input's gradient.
Var<double> square(const Var<double>& x, double factor, bool assign) {
  Tensor<double> y(x.shape());
  for (int64_t i = 0; i < y.numel(); ++i) y[i] = x.value()[i] * x.value()[i];
  auto in = x.value_ptr();
  return make_result<double>(std::move(y), {x.node()}, [in, factor, assign](const Tensor<double>& g, Node<double>& self) {
    Tensor<double>& dx = self.inputs[0]->grad_buffer();
    for (int64_t i = 0; i < g.numel(); ++i) {
      const double d = factor * 2 * (*in)[i] * g[i];
      dx[i] = assign ? d : dx[i] + d;
    }
  });
}
}  // namespace

TEST_CASE("negative control: the checker accepts a right gradient and catches wrong ones") {
  std::mt19937_64 rng(16);
  const Tensor<double> x = random_away_from_zero({2, 3}, rng, 0.1);
  CHECK(check_gradients([](const auto& v) { return square(v[0], 1.0, false); }, {x}).ok);
  CHECK_FALSE(check_gradients([](const auto& v) { return square(v[0], 1.01, false); }, {x}).ok);
  // A value used twice whose second contribution is overwritten instead of added.
  CHECK(check_gradients([](const auto& v) { return sum<double>({v[0], square(v[0], 1.0, false)}); }, {x}).ok);
  CHECK_FALSE(check_gradients([](const auto& v) { return sum<double>({v[0], square(v[0], 1.0, true)}); }, {x}).ok);
}
