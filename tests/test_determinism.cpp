// Bit-identical outputs and gradients for 1 and 2 threads, and from run to run.
#include <doctest/doctest.h>

#include "nst/ops/conv2d.h"
#include "nst/ops/elementwise.h"
#include "nst/ops/gram.h"
#include "nst/ops/losses.h"
#include "nst/ops/pool.h"
#include "support/gradcheck.h"

#include <omp.h>

#include <cstring>

using namespace nst;
using nst::test::random_tensor;

namespace {

struct Run {
  Tensor<float> loss, grad;
};

// A VGG-like slice big enough that every op splits its work into several parallel tasks.
Run run_once(int threads) {
  omp_set_num_threads(threads);
  std::mt19937_64 rng(41);
  auto w1 = std::make_shared<const Tensor<float>>(random_tensor<float>({64, 3, 3, 3}, rng));
  auto b1 = std::make_shared<const Tensor<float>>(random_tensor<float>({64}, rng));
  auto w2 = std::make_shared<const Tensor<float>>(random_tensor<float>({96, 64, 3, 3}, rng, -0.1, 0.1));
  auto gt = std::make_shared<const Tensor<float>>(random_tensor<float>({1, 96, 96}, rng));
  auto ft = std::make_shared<const Tensor<float>>(random_tensor<float>({1, 64, 40, 36}, rng));
  Var<float> x = leaf(random_tensor<float>({1, 3, 80, 72}, rng, 0, 1), true);
  Var<float> p = max_pool2(relu(bias_add(conv2d(x, w1, 1), b1)));
  Var<float> f = relu(conv2d(avg_pool2(p), w2, 1));
  Var<float> loss = sum<float>({mse(gram(f), gt), mse(p, ft), total_variation(x)});
  backward(loss);
  return {loss.value(), x.grad()};
}

bool same_bits(const Tensor<float>& a, const Tensor<float>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.numel())) == 0;
}

}  // namespace

TEST_CASE("loss and gradient are bit-identical for 1 and 2 threads and across runs") {
  const int saved = omp_get_max_threads();
  const Run one = run_once(1), two = run_once(2), two_again = run_once(2), three = run_once(3);
  omp_set_num_threads(saved);
  CHECK(one.grad.numel() == 3 * 80 * 72);
  CHECK(same_bits(one.loss, two.loss));
  CHECK(same_bits(one.grad, two.grad));
  CHECK(same_bits(two.grad, two_again.grad));
  CHECK(same_bits(one.grad, three.grad));
}
