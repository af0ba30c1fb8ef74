// The Winograd F(4x4,3x3) convolution against the naive direct convolution: random shapes with
// odd sizes and channel counts, double and float, several tile groups, N = 2 through conv2d,
// and bit-identical results for any number of threads.
#include <doctest/doctest.h>

#include "nst/ops/conv2d.h"
#include "nst/ops/elementwise.h"
#include "nst/kernels/winograd.h"
#include "support/compare.h"
#include "support/gradcheck.h"
#include "support/kernel_sets.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

using namespace nst;
using nst::test::random_tensor;
using nst::testing::each_kernel_set;
using nst::testing::check_same_bits_for_threads_and_sets;
using nst::testing::max_rel_diff;

namespace {


struct Errors {
  double forward = 0, backward = 0;
};

// Winograd forward and backward-to-input of one sample against the naive conv in double (or,
// for shapes too big for it, im2col in double, itself tested against the naive conv). The
// data is drawn in double and the float run uses the same values rounded to float, so a float
// error is measured against the exact (double) result.
template <class T>
Errors compare(const ConvShape& s, std::mt19937_64& rng, bool im2col_reference = false) {
  const Tensor<double> x = random_tensor<double>({s.C, s.H, s.W}, rng);
  const Tensor<double> w = random_tensor<double>({s.K, s.C, 3, 3}, rng);
  const Tensor<double> dy = random_tensor<double>({s.K, s.H, s.W}, rng);
  const Tensor<double> start = random_tensor<double>({s.C, s.H, s.W}, rng);
  Tensor<double> y_ref({s.K, s.H, s.W}), dx_ref = start;
  if (im2col_reference) {
    kernels::conv2d_forward_im2col(s, x.data(), w.data(), y_ref.data());
    kernels::conv2d_backward_input_im2col(s, dy.data(), w.data(), dx_ref.data());
  } else {
    kernels::conv2d_forward_naive(s, x.data(), w.data(), y_ref.data());
    kernels::conv2d_backward_input_naive(s, dy.data(), w.data(), dx_ref.data());
  }

  const Tensor<T> xt = x.cast<T>(), wt = w.cast<T>(), dyt = dy.cast<T>();
  Buffer<T> U(static_cast<size_t>(kernels::winograd_weights_size(s.K, s.C)));
  kernels::winograd_transform_weights(s.K, s.C, wt.data(), U.data());
  Tensor<T> y({s.K, s.H, s.W}, T(123));  // overwritten
  kernels::conv3x3_forward_winograd(s, xt.data(), U.data(), y.data());
  Tensor<T> dx = start.cast<T>();  // accumulated into
  kernels::conv3x3_backward_input_winograd(s, dyt.data(), U.data(), dx.data());
  // The backward adds to `start`: compare the added part, relative to its own size.
  Tensor<double> added = dx.template cast<double>(), added_ref = dx_ref;
  for (int64_t i = 0; i < added.numel(); ++i) added[i] -= start[i], added_ref[i] -= start[i];
  return {max_rel_diff(y.template cast<double>(), y_ref), max_rel_diff(added, added_ref)};
}

ConvShape shape(int64_t C, int64_t H, int64_t W, int64_t K) { return ConvShape{C, H, W, K, 3, 1}; }

}  // namespace

TEST_CASE("winograd conv matches the naive conv on random shapes, double and float on every kernel set") {
  std::mt19937_64 rng(61);
  std::uniform_int_distribution<int64_t> dim(1, 37);
  const int64_t channels[] = {1, 3, 5, 13, 67};
  double worst_float = 0;
  for (int trial = 0; trial < 30; ++trial) {
    const ConvShape s = shape(channels[trial % 5], dim(rng), dim(rng), channels[(trial / 5 + trial) % 5]);
    CAPTURE(s.C); CAPTURE(s.K); CAPTURE(s.H); CAPTURE(s.W);
    const Errors d = compare<double>(s, rng);
    CHECK(d.forward < 1e-12);
    CHECK(d.backward < 1e-12);
    // F(4x4,3x3) amplifies rounding by the norms of its transforms: with the points 0, ±2/3,
    // ±3/2 at most 1.8e-6 of max|y| in float on these shapes (7e-6 with Lavin & Gray's 0, ±1,
    // ±2); 3e-5 leaves room and catches any wrong coefficient, which gives errors of order 1.
    each_kernel_set([&](kernels::KernelSet) {
      const Errors f = compare<float>(s, rng);
      CHECK(f.forward < 3e-5);
      CHECK(f.backward < 3e-5);
      worst_float = std::max({worst_float, f.forward, f.backward});
    });
  }
  MESSAGE("worst float error relative to max|y|: " << worst_float);
}

TEST_CASE("winograd conv matches the naive conv on layer-like shapes spanning several groups") {
  std::mt19937_64 rng(62);
  // Images with more tiles than a group (whole tile rows): 37, 17 and 10 groups of >= 128
  // tiles, a thread each; then 2 groups of 14 and 7 tile rows (12 MiB of V and M in float)
  // split among the threads; partial tiles at the right and bottom edges, GEMMs over many
  // channels.
  // Last, input channels a multiple of 256, whose U rows are padded (winograd_u_stride): few
  // tiles (the backward reads U_ξᵀ in place), then 8 groups (it reads U's transposed copy).
  double worst = 0;
  for (const ConvShape s : {shape(3, 290, 270, 16), shape(8, 200, 180, 12), shape(32, 160, 150, 40),
                            shape(200, 84, 84, 90), shape(128, 70, 75, 120), shape(130, 45, 33, 67),
                            shape(512, 11, 14, 24), shape(256, 64, 61, 8)}) {
    CAPTURE(s.C); CAPTURE(s.K); CAPTURE(s.H); CAPTURE(s.W);
    const Errors f = compare<float>(s, rng, /*im2col_reference=*/s.C == 200);
    CHECK(f.forward < 3e-5);
    CHECK(f.backward < 3e-5);
    worst = std::max({worst, f.forward, f.backward});
  }
  MESSAGE("worst float error relative to max|y|: " << worst);
}

TEST_CASE("conv2d dispatches 3x3 pad-1 to Winograd, N = 2, and ConvAlgo forces a path") {
  // Every 3x3 pad-1 shape, in double too (the gradient checks run through it).
  CHECK(conv2d_uses_winograd<double>(shape(3, 5, 6, 4)));
  CHECK(conv2d_uses_winograd<double>(shape(1, 4, 3, 2)));
  CHECK_FALSE(conv2d_uses_winograd<float>(shape(3, 512, 512, 64)));  // band GEMM (test_conv_gemm)
  CHECK(conv2d_uses_winograd<float>(shape(4, 512, 512, 64)));
  CHECK(conv2d_uses_winograd<float>(shape(512, 32, 32, 512)));
  CHECK_FALSE(conv2d_uses_winograd<double>(ConvShape{3, 5, 5, 2, 3, 0}));
  CHECK_FALSE(conv2d_uses_winograd<float>(ConvShape{3, 5, 5, 2, 5, 1}));
  std::mt19937_64 rng(63);
  const Tensor<double> xd = random_tensor<double>({2, 5, 9, 11}, rng);
  auto w = std::make_shared<const ConvWeights<double>>(
      std::make_shared<const Tensor<double>>(random_tensor<double>({7, 5, 3, 3}, rng)));
  const Tensor<double> seed = random_tensor<double>({2, 7, 9, 11}, rng);
  auto run = [&](ConvAlgo algo) {
    Var<double> x = leaf(xd, true);
    Var<double> y = conv2d(x, w, 1, algo);
    backward(y, seed);
    return std::make_pair(y.value(), x.grad());
  };
  const auto [y_auto, g_auto] = run(ConvAlgo::Auto);
  const auto [y_wino, g_wino] = run(ConvAlgo::Winograd);
  const auto [y_ref, g_ref] = run(ConvAlgo::Im2col);
  // Auto is the Winograd path bit for bit, and differs from im2col in the last bits.
  CHECK(std::memcmp(y_auto.data(), y_wino.data(), sizeof(double) * static_cast<size_t>(y_auto.numel())) == 0);
  CHECK(std::memcmp(g_auto.data(), g_wino.data(), sizeof(double) * static_cast<size_t>(g_auto.numel())) == 0);
  CHECK(std::memcmp(y_auto.data(), y_ref.data(), sizeof(double) * static_cast<size_t>(y_auto.numel())) != 0);
  CHECK(max_rel_diff(y_wino, y_ref) < 1e-12);
  CHECK(max_rel_diff(g_wino, g_ref) < 1e-12);
  // Per sample: the second sample's output is the second sample's convolution.
  Tensor<double> y1({7, 9, 11});
  kernels::conv2d_forward_naive(ConvShape{5, 9, 11, 7, 3, 1}, xd.data() + 5 * 9 * 11, w->tensor().data(), y1.data());
  double diff = 0;
  for (int64_t i = 0; i < y1.numel(); ++i) diff = std::max(diff, std::abs(y1[i] - y_wino[7 * 9 * 11 + i]));
  CHECK(diff < 1e-12);
}

TEST_CASE("conv2d with ConvAlgo::Winograd rejects other kernels and paddings") {
  Var<float> x = constant(Tensor<float>({1, 3, 8, 8}));
  auto w5 = std::make_shared<const Tensor<float>>(Shape{2, 3, 5, 5});
  auto w3 = std::make_shared<const Tensor<float>>(Shape{2, 3, 3, 3});
  CHECK_THROWS_AS(conv2d(x, w5, 2, ConvAlgo::Winograd), std::invalid_argument);
  CHECK_THROWS_AS(conv2d(x, w3, 0, ConvAlgo::Winograd), std::invalid_argument);
  CHECK(conv2d(x, w5, 2).shape() == Shape{1, 2, 8, 8});  // Auto falls back to im2col
  CHECK_THROWS_AS(ConvWeights<float>(nullptr), std::invalid_argument);
}

TEST_CASE("winograd conv is bit-identical for 1, 2 and 3 threads on a VGG-like layer, every kernel set; "
          "the AVX2 and AVX-512 sets give the same bits") {
  std::mt19937_64 rng(64);
  // Groups split among the threads, then groups taken whole by a thread; partial tiles.
  // The third: partial tiles at the right and bottom, 16-tile blocks and a partial one.
  for (const ConvShape s : {shape(200, 84, 84, 90), shape(8, 200, 180, 12), shape(9, 46, 71, 7)}) {
    CAPTURE(s.C);
    const Tensor<float> x = random_tensor<float>({s.C, s.H, s.W}, rng);
    const Tensor<float> w = random_tensor<float>({s.K, s.C, 3, 3}, rng, -0.1, 0.1);
    const Tensor<float> b = random_tensor<float>({s.K}, rng, -0.5, 0.5);
    const Tensor<float> dy = random_tensor<float>({s.K, s.H, s.W}, rng);
    Buffer<float> U(static_cast<size_t>(kernels::winograd_weights_size(s.K, s.C)));
    kernels::winograd_transform_weights(s.K, s.C, w.data(), U.data());
    check_same_bits_for_threads_and_sets([&] {
      Tensor<float> y({s.K, s.H, s.W}), dx({s.C, s.H, s.W}, 0.5f);
      kernels::conv3x3_forward_winograd(s, x.data(), U.data(), y.data());
      kernels::conv3x3_backward_input_winograd(s, dy.data(), U.data(), dx.data());
      return std::make_pair(std::move(y), std::move(dx));
    });
    // With the epilogue (bias, ReLU, mask) and the backward through the mask, overwriting;
    // the mask's bytes ride along in the output's last values.
    check_same_bits_for_threads_and_sets([&] {
      Tensor<float> y({s.K, s.H, s.W}), dx({s.C, s.H, s.W}, 0.5f);
      Buffer<uint8_t> mask(static_cast<size_t>(y.numel()), 7);
      kernels::ConvEpilogue<float> epi;
      epi.bias = b.data();
      epi.relu = true;
      epi.mask = mask.data();
      kernels::conv3x3_forward_winograd(s, x.data(), U.data(), y.data(), epi);
      kernels::conv3x3_backward_input_winograd(s, dy.data(), U.data(), dx.data(), mask.data(), /*accumulate=*/false);
      Tensor<float> y_and_mask({y.numel() + y.numel()});
      std::copy(y.data(), y.data() + y.numel(), y_and_mask.data());
      for (int64_t i = 0; i < y.numel(); ++i) y_and_mask[y.numel() + i] = mask[static_cast<size_t>(i)];
      return std::make_pair(std::move(y_and_mask), std::move(dx));
    });
  }
}

namespace {

// The fused epilogue and the masked, overwriting backward against the unfused reference in
// double: naive conv, + bias, ReLU; and the naive backward of dy ⊙ (pre > 0).
template <class T>
void check_fused(const ConvShape& s, std::mt19937_64& rng, double tolerance) {
  const Tensor<double> x = random_tensor<double>({s.C, s.H, s.W}, rng);
  const Tensor<double> w = random_tensor<double>({s.K, s.C, 3, 3}, rng);
  const Tensor<double> b = random_tensor<double>({s.K}, rng);
  const Tensor<double> dy = random_tensor<double>({s.K, s.H, s.W}, rng);
  const int64_t HW = s.H * s.W;
  Tensor<double> pre({s.K, s.H, s.W}), y_ref({s.K, s.H, s.W}), dx_ref({s.C, s.H, s.W}), dy_masked = dy;
  kernels::conv2d_forward_naive(s, x.data(), w.data(), pre.data());
  for (int64_t i = 0; i < pre.numel(); ++i) {
    pre[i] += b[i / HW];
    y_ref[i] = std::max(pre[i], 0.0);
    if (!(pre[i] > 0)) dy_masked[i] = 0;
  }
  kernels::conv2d_backward_input_naive(s, dy_masked.data(), w.data(), dx_ref.data());

  const Tensor<T> xt = x.cast<T>(), wt = w.cast<T>(), bt = b.cast<T>(), dyt = dy.cast<T>();
  Buffer<T> U(static_cast<size_t>(kernels::winograd_weights_size(s.K, s.C)));
  kernels::winograd_transform_weights(s.K, s.C, wt.data(), U.data());
  Tensor<T> y({s.K, s.H, s.W}, T(123));
  Buffer<uint8_t> mask(static_cast<size_t>(y.numel()), 7);
  kernels::ConvEpilogue<T> epi;
  epi.bias = bt.data();
  epi.relu = true;
  epi.mask = mask.data();
  kernels::conv3x3_forward_winograd(s, xt.data(), U.data(), y.data(), epi);
  CHECK(max_rel_diff(y.template cast<double>(), y_ref) < tolerance);
  // The mask is the sign of the pre-activation wherever rounding cannot flip it.
  double max_pre = 0;
  for (int64_t i = 0; i < pre.numel(); ++i) max_pre = std::max(max_pre, std::abs(pre[i]));
  int64_t wrong = 0, checked = 0;
  for (int64_t i = 0; i < pre.numel(); ++i) {
    if (std::abs(pre[i]) < 1e-3 * max_pre) continue;
    ++checked;
    wrong += mask[static_cast<size_t>(i)] != (pre[i] > 0 ? 1 : 0);
  }
  CHECK(checked > pre.numel() / 2);
  CHECK(wrong == 0);

  // Backward through the reference's own mask, overwriting a buffer full of NaN.
  Buffer<uint8_t> ref_mask(static_cast<size_t>(pre.numel()));
  for (int64_t i = 0; i < pre.numel(); ++i) ref_mask[static_cast<size_t>(i)] = pre[i] > 0;
  Tensor<T> dx({s.C, s.H, s.W}, std::numeric_limits<T>::quiet_NaN());
  kernels::conv3x3_backward_input_winograd(s, dyt.data(), U.data(), dx.data(), ref_mask.data(),
                                           /*accumulate=*/false);
  CHECK(max_rel_diff(dx.template cast<double>(), dx_ref) < tolerance);
}

}  // namespace

TEST_CASE("winograd epilogue (bias, ReLU, mask) and masked overwriting backward match the unfused ops") {
  std::mt19937_64 rng(65);
  std::uniform_int_distribution<int64_t> dim(1, 23);
  for (int trial = 0; trial < 12; ++trial) {
    const ConvShape s = shape(1 + trial % 7, dim(rng), dim(rng), 1 + (trial * 5) % 9);
    CAPTURE(s.C); CAPTURE(s.K); CAPTURE(s.H); CAPTURE(s.W);
    check_fused<double>(s, rng, 1e-12);
    each_kernel_set([&](kernels::KernelSet) { check_fused<float>(s, rng, 1e-4); });
  }
  // Several groups, split among threads and taken whole.
  each_kernel_set([&](kernels::KernelSet) {
    check_fused<float>(shape(8, 200, 180, 12), rng, 1e-4);
    check_fused<float>(shape(70, 45, 33, 37), rng, 1e-4);
  });
}

TEST_CASE("conv2d_bias_relu equals relu(bias_add(conv2d)) on both paths, and checks its bias") {
  std::mt19937_64 rng(66);
  struct Case { int64_t N, C, H, W, K, R, pad; ConvAlgo algo; };
  for (const Case c : {Case{2, 5, 9, 11, 7, 3, 1, ConvAlgo::Auto}, Case{1, 4, 8, 6, 3, 3, 1, ConvAlgo::Im2col},
                       Case{2, 3, 7, 5, 4, 5, 2, ConvAlgo::Auto}}) {
    CAPTURE(c.R);
    auto w = std::make_shared<const ConvWeights<double>>(
        std::make_shared<const Tensor<double>>(random_tensor<double>({c.K, c.C, c.R, c.R}, rng)));
    auto b = std::make_shared<const Tensor<double>>(random_tensor<double>({c.K}, rng));
    const Tensor<double> xd = random_tensor<double>({c.N, c.C, c.H, c.W}, rng);
    const Tensor<double> seed = random_tensor<double>({c.N, c.K, c.H, c.W}, rng);
    Var<double> x1 = leaf(xd, true), x2 = leaf(xd, true);
    Var<double> fused = conv2d_bias_relu(x1, w, b, c.pad, c.algo);
    Var<double> plain = relu(bias_add(conv2d(x2, w, c.pad, c.algo), b));
    CHECK(max_rel_diff(fused.value(), plain.value()) < 1e-12);
    backward(fused, seed);
    backward(plain, seed);
    CHECK(max_rel_diff(x1.grad(), x2.grad()) < 1e-12);
  }
  Var<float> x = constant(Tensor<float>({1, 3, 8, 8}));
  auto w3 = std::make_shared<const ConvWeights<float>>(std::make_shared<const Tensor<float>>(Shape{2, 3, 3, 3}));
  CHECK_THROWS_AS(conv2d_bias_relu(x, w3, std::make_shared<const Tensor<float>>(Shape{3}), 1), std::invalid_argument);
  CHECK_THROWS_AS(conv2d_bias_relu(x, w3, std::shared_ptr<const Tensor<float>>(), 1), std::invalid_argument);
}
