// The band-GEMM convolution of few input channels (nst/kernels/conv_gemm.h), every kernel set
// this CPU runs, against the naive direct convolution in double: random shapes with odd sizes,
// kernel sizes 1, 3 and 5 with every padding, bands of many rows and rows wider than a band;
// the epilogue (bias, ReLU, mask), the masked backward, accumulating and overwriting; bit-
// identical results for 1, 2 and 3 threads and between the AVX2 and AVX-512 sets; and conv2d's
// choice of the path (float conv1_1, not double, not many channels).
#include <doctest/doctest.h>

#include "nst/kernels/conv_gemm.h"
#include "nst/ops/conv2d.h"
#include "support/compare.h"
#include "support/gradcheck.h"
#include "support/kernel_sets.h"

#include <omp.h>

#include <algorithm>
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

// Forward with bias and ReLU (mask kept), and the backward of dy through that mask, against the
// naive conv in double on the same values (drawn in double, rounded to float). `accumulate`:
// dx starts from random values and the backward adds to them; else from NaN, overwritten.
Errors compare(const ConvShape& s, std::mt19937_64& rng, bool accumulate, bool masked) {
  const int64_t OH = s.OH(), OW = s.OW(), HW = OH * OW;
  const Tensor<double> x = random_tensor<double>({s.C, s.H, s.W}, rng).cast<float>().cast<double>();
  const Tensor<double> w = random_tensor<double>({s.K, s.C, s.R, s.R}, rng).cast<float>().cast<double>();
  const Tensor<double> b = random_tensor<double>({s.K}, rng).cast<float>().cast<double>();
  const Tensor<double> dy = random_tensor<double>({s.K, OH, OW}, rng).cast<float>().cast<double>();
  const Tensor<double> start = random_tensor<double>({s.C, s.H, s.W}, rng).cast<float>().cast<double>();

  // Float run: forward with the epilogue, backward through its mask.
  const Tensor<float> xf = x.cast<float>(), wf = w.cast<float>(), bf = b.cast<float>(), dyf = dy.cast<float>();
  Tensor<float> y({s.K, OH, OW}, 123.0f);
  Buffer<uint8_t> mask(static_cast<size_t>(y.numel()), 7);
  kernels::ConvEpilogue<float> epi;
  epi.bias = bf.data();
  epi.relu = true;
  epi.mask = masked ? mask.data() : nullptr;
  kernels::conv2d_forward_gemm(s, xf.data(), wf.data(), y.data(), epi);
  Tensor<float> dx = accumulate ? start.cast<float>() : Tensor<float>({s.C, s.H, s.W}, std::numeric_limits<float>::quiet_NaN());
  kernels::conv2d_backward_input_gemm(s, dyf.data(), wf.data(), dx.data(), masked ? mask.data() : nullptr, accumulate);

  // Reference, through the float run's mask (a pre-activation near 0 may round either way).
  Tensor<double> pre({s.K, OH, OW}), y_ref({s.K, OH, OW}), dx_ref = accumulate ? start : Tensor<double>({s.C, s.H, s.W});
  Tensor<double> dy_masked = dy;
  kernels::conv2d_forward_naive(s, x.data(), w.data(), pre.data());
  int64_t wrong = 0;
  for (int64_t i = 0; i < pre.numel(); ++i) {
    pre[i] += b[i / HW];
    y_ref[i] = std::max(pre[i], 0.0);
    if (masked) {
      if (!mask[static_cast<size_t>(i)]) dy_masked[i] = 0;
      wrong += mask[static_cast<size_t>(i)] != (y[i] > 0.0f ? 1 : 0);
    }
  }
  CHECK(wrong == 0);
  kernels::conv2d_backward_input_naive(s, dy_masked.data(), w.data(), dx_ref.data());
  Tensor<double> added = dx.cast<double>(), added_ref = dx_ref;
  if (accumulate)
    for (int64_t i = 0; i < added.numel(); ++i) added[i] -= start[i], added_ref[i] -= start[i];
  return {max_rel_diff(y.cast<double>(), y_ref), max_rel_diff(added, added_ref)};
}

}  // namespace

TEST_CASE("band-GEMM conv matches the naive conv on random shapes, every kernel set") {
  std::mt19937_64 rng(71);
  std::uniform_int_distribution<int64_t> dim(1, 41), pick(0, 5);
  const int64_t Ks[] = {1, 5, 12, 13, 64, 67};
  double worst = 0;
  each_kernel_set([&](kernels::KernelSet) {
    for (int trial = 0; trial < 24; ++trial) {
      const int64_t R = trial % 3 == 0 ? 1 : trial % 3 == 1 ? 3 : 5;
      const int64_t C = 1 + trial % (R == 5 ? 1 : 3);
      ConvShape s{C, dim(rng), dim(rng), Ks[pick(rng)], R, (trial / 3) % (R / 2 + 1)};
      s.H = std::max(s.H, R);
      s.W = std::max(s.W, R);
      CAPTURE(s.C); CAPTURE(s.H); CAPTURE(s.W); CAPTURE(s.K); CAPTURE(s.R); CAPTURE(s.pad);
      const Errors e = compare(s, rng, trial % 2 == 0, trial % 4 < 2);
      // One fused multiply-add chain of at most 27 products per value: a few float roundings.
      CHECK(e.forward < 1e-6);
      CHECK(e.backward < 1e-6);
      worst = std::max({worst, e.forward, e.backward});
    }
    // VGG's conv1_1 (C = 3, K = 64) on many bands of whole rows, rows wider than a band, odd
    // sides.
    // Then bands of R - 1 rows (the fewest the backward takes), 5x5 and 1x1.
    for (const ConvShape s : {ConvShape{3, 67, 45, 64, 3, 1}, ConvShape{3, 5, 1100, 16, 3, 1}, ConvShape{3, 33, 513, 64, 3, 1},
                              ConvShape{1, 13, 1030, 4, 5, 2}, ConvShape{3, 5, 1100, 8, 1, 0}}) {
      CAPTURE(s.H); CAPTURE(s.W);
      const Errors e = compare(s, rng, false, true);
      CHECK(e.forward < 1e-6);
      CHECK(e.backward < 1e-6);
      worst = std::max({worst, e.forward, e.backward});
    }
  });
  MESSAGE("worst float error relative to max|y|: " << worst);
}

TEST_CASE("band-GEMM conv is bit-identical for 1, 2 and 3 threads, every kernel set; "
          "the AVX2 and AVX-512 sets give the same bits") {
  std::mt19937_64 rng(72);
  const ConvShape s{3, 70, 61, 64, 3, 1};  // 16 rows per band: 5 bands
  const Tensor<float> x = random_tensor<float>({s.C, s.H, s.W}, rng);
  const Tensor<float> w = random_tensor<float>({s.K, s.C, 3, 3}, rng, -0.3, 0.3);
  const Tensor<float> b = random_tensor<float>({s.K}, rng, -0.1, 0.1);
  const Tensor<float> dy = random_tensor<float>({s.K, s.H, s.W}, rng);
  check_same_bits_for_threads_and_sets([&] {
    Tensor<float> y({s.K, s.H, s.W}), dx({s.C, s.H, s.W}, 0.5f);
    Buffer<uint8_t> mask(static_cast<size_t>(y.numel()));
    kernels::ConvEpilogue<float> epi;
    epi.bias = b.data();
    epi.relu = true;
    epi.mask = mask.data();
    kernels::conv2d_forward_gemm(s, x.data(), w.data(), y.data(), epi);
    kernels::conv2d_backward_input_gemm(s, dy.data(), w.data(), dx.data(), mask.data());
    return std::make_pair(std::move(y), std::move(dx));
  });
}

TEST_CASE("conv2d takes the band-GEMM path for float convolutions of at most 27 taps, N = 2") {
  CHECK(conv2d_uses_gemm<float>(ConvShape{3, 512, 512, 64, 3, 1}));
  CHECK(conv2d_uses_gemm<float>(ConvShape{1, 9, 9, 4, 5, 2}));
  CHECK_FALSE(conv2d_uses_gemm<float>(ConvShape{4, 9, 9, 4, 3, 1}));
  CHECK_FALSE(conv2d_uses_gemm<float>(ConvShape{64, 512, 512, 64, 3, 1}));
  CHECK_FALSE(conv2d_uses_gemm<double>(ConvShape{3, 512, 512, 64, 3, 1}));
  CHECK_FALSE(conv2d_uses_winograd<float>(ConvShape{3, 512, 512, 64, 3, 1}));
  CHECK(conv2d_uses_winograd<double>(ConvShape{3, 512, 512, 64, 3, 1}));
  // Both samples of a batch through conv2d_bias_relu: each one the kernel's result, bit for bit.
  std::mt19937_64 rng(73);
  const ConvShape s{3, 13, 17, 8, 3, 1};
  const Tensor<float> x = random_tensor<float>({2, s.C, s.H, s.W}, rng);
  auto w = std::make_shared<const ConvWeights<float>>(
      std::make_shared<const Tensor<float>>(random_tensor<float>({s.K, s.C, 3, 3}, rng)));
  auto b = std::make_shared<const Tensor<float>>(random_tensor<float>({s.K}, rng));
  const Tensor<float> seed = random_tensor<float>({2, s.K, s.H, s.W}, rng);
  Var<float> xv = leaf(x, true);
  Var<float> y = conv2d_bias_relu(xv, w, b, 1);
  backward(y, seed);
  const int64_t in = s.C * s.H * s.W, out = s.K * s.H * s.W;
  for (int64_t n = 0; n < 2; ++n) {
    CAPTURE(n);
    Tensor<float> yk({s.K, s.H, s.W}), dxk({s.C, s.H, s.W}, std::numeric_limits<float>::quiet_NaN());
    Buffer<uint8_t> mask(static_cast<size_t>(out));
    kernels::ConvEpilogue<float> epi;
    epi.bias = b->data();
    epi.relu = true;
    epi.mask = mask.data();
    kernels::conv2d_forward_gemm(s, x.data() + n * in, w->tensor().data(), yk.data(), epi);
    kernels::conv2d_backward_input_gemm(s, seed.data() + n * out, w->tensor().data(), dxk.data(), mask.data(), false);
    CHECK(std::memcmp(yk.data(), y.value().data() + n * out, sizeof(float) * static_cast<size_t>(out)) == 0);
    CHECK(std::memcmp(dxk.data(), xv.grad().data() + n * in, sizeof(float) * static_cast<size_t>(in)) == 0);
  }
}
