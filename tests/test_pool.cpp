// max_pool2 (nst/ops/pool.h) and its row kernels (nst/kernels/pool.h), every kernel set this
// CPU runs, against a naive reference written here: random shapes, odd sizes (floor mode),
// rows shorter and longer than a vector, values from a small set so that windows tie (the
// first maximum in the order [0,0],[0,1],[1,0],[1,1] wins), +0 against -0 and NaNs (a later
// value wins only when it is greater); forward with and without the argmax, the fresh and the
// accumulating backward; compared bit for bit.
#include <doctest/doctest.h>

#include "nst/autograd.h"
#include "nst/kernels/pool.h"
#include "nst/ops/elementwise.h"
#include "nst/ops/pool.h"
#include "support/kernel_sets.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace nst;
using nst::testing::each_kernel_set;

namespace {

// x (P,H,W) -> y, arg (P,H/2,W/2): the first maximum of each window, scanned in order.
template <class T>
void naive_forward(const std::vector<T>& x, int64_t P, int64_t H, int64_t W, std::vector<T>& y,
                   std::vector<uint8_t>& arg) {
  const int64_t OH = H / 2, OW = W / 2;
  y.assign(static_cast<size_t>(P * OH * OW), T(0));
  arg.assign(y.size(), 0);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        int best = 0;
        T m = x[static_cast<size_t>((p * H + 2 * oy) * W + 2 * ox)];
        for (int k = 1; k < 4; ++k) {
          const T v = x[static_cast<size_t>((p * H + 2 * oy + k / 2) * W + 2 * ox + k % 2)];
          if (v > m) m = v, best = k;
        }
        const size_t o = static_cast<size_t>((p * OH + oy) * OW + ox);
        y[o] = m;
        arg[o] = static_cast<uint8_t>(best);
      }
}

// dx (P,H,W): set to zero first when fresh, then g added at each window's argmax.
template <class T>
void naive_backward(const std::vector<T>& g, const std::vector<uint8_t>& arg, int64_t P, int64_t H, int64_t W,
                    std::vector<T>& dx, bool fresh) {
  const int64_t OH = H / 2, OW = W / 2;
  if (fresh) dx.assign(static_cast<size_t>(P * H * W), T(0));
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const size_t o = static_cast<size_t>((p * OH + oy) * OW + ox);
        dx[static_cast<size_t>((p * H + 2 * oy + arg[o] / 2) * W + 2 * ox + arg[o] % 2)] += g[o];
      }
}

// Values from {-1, -0, +0, 1, 2} and now and then a NaN: many ties, signed zeros.
template <class T>
std::vector<T> tied_values(size_t n, std::mt19937_64& rng) {
  const T pick[] = {T(-1), T(-0.0), T(0), T(1), T(2), std::numeric_limits<T>::quiet_NaN()};
  std::uniform_int_distribution<int> u(0, 49);
  std::vector<T> v(n);
  for (T& e : v) {
    const int r = u(rng);
    e = pick[r < 1 ? 5 : r % 5];
  }
  return v;
}

template <class T>
std::vector<T> random_values(size_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> v(n);
  for (T& e : v) e = static_cast<T>(u(rng));
  return v;
}

template <class T>
bool same_bits(const std::vector<T>& a, const T* b) {
  return std::memcmp(a.data(), b, sizeof(T) * a.size()) == 0;
}

// The row kernels over P planes, one output row at a time, as max_pool2 calls them.
template <class T>
void check_rows(int64_t P, int64_t H, int64_t W, std::mt19937_64& rng) {
  const int64_t OH = H / 2, OW = W / 2;
  const std::vector<T> x = tied_values<T>(static_cast<size_t>(P * H * W), rng);
  std::vector<T> y_ref, dx_ref;
  std::vector<uint8_t> arg_ref;
  naive_forward(x, P, H, W, y_ref, arg_ref);
  std::vector<T> y(y_ref.size(), T(-7)), y2(y_ref.size(), T(-7));
  std::vector<uint8_t> arg(y_ref.size(), 9);
  for (int64_t r = 0; r < P * OH; ++r) {
    const T* x0 = x.data() + (r / OH * H + 2 * (r % OH)) * W;
    kernels::max_pool2_row(x0, x0 + W, OW, y.data() + r * OW, arg.data() + r * OW);
    kernels::max_pool2_row(x0, x0 + W, OW, y2.data() + r * OW, static_cast<uint8_t*>(nullptr));
  }
  CHECK(same_bits(y_ref, y.data()));
  CHECK(same_bits(y_ref, y2.data()));
  CHECK(arg == arg_ref);
  const std::vector<T> g = random_values<T>(y_ref.size(), rng);
  for (const bool fresh : {true, false}) {
    CAPTURE(fresh);
    // Fresh: garbage beforehand (the rows and columns pooling leaves out are the op's to zero,
    // so both start as the reference's); accumulating: values to add to.
    std::vector<T> dx = fresh ? std::vector<T>(static_cast<size_t>(P * H * W), std::numeric_limits<T>::quiet_NaN())
                              : random_values<T>(static_cast<size_t>(P * H * W), rng);
    dx_ref = dx;
    naive_backward(g, arg_ref, P, H, W, dx_ref, fresh);
    if (fresh)
      for (int64_t i = 0; i < P * H * W; ++i)
        if ((i / W) % H >= 2 * OH || i % W >= 2 * OW) dx[static_cast<size_t>(i)] = T(0);
    for (int64_t r = 0; r < P * OH; ++r) {
      T* d0 = dx.data() + (r / OH * H + 2 * (r % OH)) * W;
      kernels::max_pool2_backward_row(g.data() + r * OW, arg_ref.data() + r * OW, OW, d0, d0 + W, fresh);
    }
    CHECK(same_bits(dx_ref, dx.data()));
  }
}

// The op: forward, and the backward of x feeding two poolings (fresh, then accumulating).
template <class T>
void check_op(int64_t N, int64_t C, int64_t H, int64_t W, std::mt19937_64& rng) {
  const int64_t P = N * C;
  const std::vector<T> xv = tied_values<T>(static_cast<size_t>(P * H * W), rng);
  std::vector<T> y_ref, dx_ref;
  std::vector<uint8_t> arg_ref;
  naive_forward(xv, P, H, W, y_ref, arg_ref);
  const std::vector<T> g = random_values<T>(y_ref.size(), rng);
  naive_backward(g, arg_ref, P, H, W, dx_ref, true);
  naive_backward(g, arg_ref, P, H, W, dx_ref, false);
  Tensor<T> xt({N, C, H, W});
  std::memcpy(xt.data(), xv.data(), sizeof(T) * xv.size());
  Var<T> x = leaf(xt, true);
  Var<T> y = max_pool2(x);
  CHECK(y.shape() == Shape{N, C, H / 2, W / 2});
  CHECK(same_bits(y_ref, y.value().data()));
  Tensor<T> seed(y.shape());
  std::memcpy(seed.data(), g.data(), sizeof(T) * g.size());
  backward(sum<T>({y, max_pool2(x)}), seed);
  CHECK(same_bits(dx_ref, x.grad().data()));
  // Without a gradient to keep, no argmax: the same forward.
  CHECK(same_bits(y_ref, max_pool2(constant(xt)).value().data()));
}

}  // namespace

TEST_CASE("max_pool2 row kernels match the naive reference bit for bit, ties, signed zeros and NaNs, "
          "every kernel set") {
  std::mt19937_64 rng(111);
  std::uniform_int_distribution<int64_t> dim(2, 75);  // rows of 1 to 37 outputs: tails of every length
  each_kernel_set([&](kernels::KernelSet) {
    for (int trial = 0; trial < 40; ++trial) {
      const int64_t P = 1 + trial % 3, H = dim(rng), W = dim(rng);
      CAPTURE(P); CAPTURE(H); CAPTURE(W);
      check_rows<float>(P, H, W, rng);
    }
  });
  for (int trial = 0; trial < 10; ++trial) check_rows<double>(2, dim(rng), dim(rng), rng);
}

TEST_CASE("max_pool2 matches the naive reference bit for bit, even and odd sizes, every kernel set") {
  std::mt19937_64 rng(112);
  std::uniform_int_distribution<int64_t> dim(2, 41);
  each_kernel_set([&](kernels::KernelSet) {
    for (int trial = 0; trial < 12; ++trial) {
      const int64_t N = 1 + trial % 2, C = 1 + trial % 3, H = dim(rng), W = dim(rng);
      CAPTURE(N); CAPTURE(C); CAPTURE(H); CAPTURE(W);
      check_op<float>(N, C, H, W, rng);
    }
    check_op<float>(1, 2, 64, 67, rng);
  });
  check_op<double>(2, 3, 9, 13, rng);
  check_op<double>(1, 1, 2, 2, rng);
}
