// The im2col + GEMM convolution against the naive direct convolution on random shapes.
#include <doctest/doctest.h>

#include "nst/ops/conv2d.h"
#include "support/compare.h"
#include "support/gradcheck.h"

#include <cmath>

using namespace nst;
using nst::test::random_tensor;
using nst::testing::max_rel_diff;

namespace {


template <class T>
void compare(const ConvShape& s, std::mt19937_64& rng, double tol) {
  const Tensor<T> x = random_tensor<T>({s.C, s.H, s.W}, rng);
  const Tensor<T> w = random_tensor<T>({s.K, s.C, s.R, s.R}, rng);
  const Tensor<T> dy = random_tensor<T>({s.K, s.OH(), s.OW()}, rng);
  Tensor<T> y_ref({s.K, s.OH(), s.OW()}), y({s.K, s.OH(), s.OW()}, T(123));
  kernels::conv2d_forward_naive(s, x.data(), w.data(), y_ref.data());
  kernels::conv2d_forward_im2col(s, x.data(), w.data(), y.data());
  CHECK(max_rel_diff(y, y_ref) < tol);
  // Backward accumulates: start both from the same non-zero gradient.
  const Tensor<T> start = random_tensor<T>({s.C, s.H, s.W}, rng);
  Tensor<T> dx_ref = start, dx = start;
  kernels::conv2d_backward_input_naive(s, dy.data(), w.data(), dx_ref.data());
  kernels::conv2d_backward_input_im2col(s, dy.data(), w.data(), dx.data());
  CHECK(max_rel_diff(dx, dx_ref) < tol);
}

}  // namespace

TEST_CASE("im2col conv matches the naive conv on random shapes") {
  std::mt19937_64 rng(21);
  std::uniform_int_distribution<int64_t> dim(1, 19), ch(1, 13);
  const int64_t kernels_[] = {1, 3, 5};
  for (int trial = 0; trial < 40; ++trial) {
    ConvShape s;
    s.C = trial % 4 == 0 ? 1 : trial % 4 == 1 ? 3 : ch(rng);
    s.K = ch(rng);
    s.R = kernels_[trial % 3];
    s.pad = std::uniform_int_distribution<int64_t>(0, s.R / 2)(rng);
    s.H = std::max(dim(rng), s.R);
    s.W = std::max(dim(rng), s.R);
    CAPTURE(s.C); CAPTURE(s.K); CAPTURE(s.R); CAPTURE(s.pad); CAPTURE(s.H); CAPTURE(s.W);
    compare<double>(s, rng, 1e-12);
    compare<float>(s, rng, 1e-5);
  }
}

TEST_CASE("im2col conv matches the naive conv on layer-like shapes spanning several groups") {
  std::mt19937_64 rng(22);
  // Wide enough that the 32 MiB im2col group splits the image into several row groups,
  // and few enough columns that GEMM rows are split across tasks.
  for (const ConvShape s : {ConvShape{300, 64, 200, 4, 3, 1}, ConvShape{9, 5, 3, 70, 3, 1},
                            ConvShape{300, 4, 4, 33, 3, 1}}) {
    CAPTURE(s.C); CAPTURE(s.H); CAPTURE(s.W); CAPTURE(s.K);
    compare<float>(s, rng, 1e-5);
  }
}

TEST_CASE("conv2d rejects shapes it does not support") {
  auto w = std::make_shared<const Tensor<float>>(Shape{2, 3, 2, 2});
  Var<float> x = constant(Tensor<float>({1, 3, 4, 4}));
  CHECK_THROWS_AS(conv2d(x, w, 0), std::invalid_argument);  // even kernel
  auto w3 = std::make_shared<const Tensor<float>>(Shape{2, 4, 3, 3});
  CHECK_THROWS_AS(conv2d(x, w3, 1), std::invalid_argument);  // channel mismatch
  auto w5 = std::make_shared<const Tensor<float>>(Shape{2, 3, 5, 5});
  CHECK_THROWS_AS(conv2d(constant(Tensor<float>({1, 3, 2, 2})), w5, 0), std::invalid_argument);
}
