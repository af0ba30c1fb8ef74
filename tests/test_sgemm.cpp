// The float GEMM kernel (nst/kernels/sgemm.h), every kernel set this CPU runs (the others are
// skipped with a message naming them), against a naive triple loop in double: random and odd
// shapes (tails in M and N, K = 0 and small K), row-major, transposed and strided A, row-major
// and transposed B, row strides larger than N, C filled with garbage beforehand (overwritten)
// and its columns beyond N left alone; bit-identical results for repeated calls, unaligned
// pointers, column and row sub-ranges and concurrent calls, and (SIMD sets) equal to a plain
// fmaf chain, hence equal between the AVX2 and AVX-512 sets.
#include <doctest/doctest.h>

#include "nst/kernels/kernel_set.h"
#include "nst/kernels/sgemm.h"
#include "support/kernel_sets.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <stdexcept>
#include <string>
#include <vector>

using nst::kernels::KernelSet;
using nst::kernels::sgemm;
using nst::testing::each_kernel_set;

namespace {

using Gemm = void (*)(int64_t, int64_t, int64_t, const float*, int64_t, int64_t, const float*,
                      int64_t, int64_t, float*, int64_t);

// A's layout: 0 row-major (a_rs = K, a_cs = 1, the forward's U), 1 transposed (a_rs = 1,
// a_cs = M, the backward's Uᵀ), 2 general strides (every other element of a wider matrix).
// B: row-major with row stride ldb, or (bt) transposed, column j at B[j*ldb] (the Gram's Fᵀ).
struct Problem {
  int64_t M, N, K;
  int layout;
  int64_t ldb, ldc;
  std::vector<float> A, B;
  bool bt = false;
  int64_t b_rs() const { return bt ? 1 : ldb; }
  int64_t b_cs() const { return bt ? ldb : 1; }
  int64_t a_rs() const { return layout == 0 ? K : layout == 1 ? 1 : 2 * K + 1; }
  int64_t a_cs() const { return layout == 0 ? 1 : layout == 1 ? M : 2; }
  float a(int64_t i, int64_t k) const { return A[static_cast<size_t>(i * a_rs() + k * a_cs())]; }
  float b(int64_t k, int64_t j) const { return B[static_cast<size_t>(k * b_rs() + j * b_cs())]; }
};

Problem make(int64_t M, int64_t N, int64_t K, int layout, int64_t extra_b, int64_t extra_c,
             std::mt19937_64& rng, bool bt = false) {
  Problem p{M, N, K, layout, (bt ? K : N) + extra_b, N + extra_c, {}, {}, bt};
  std::uniform_real_distribution<float> u(-1, 1);
  p.A.resize(static_cast<size_t>(layout == 2 ? M * (2 * K + 1) : M * K));
  p.B.resize(static_cast<size_t>((bt ? N : K) * p.ldb));
  for (float& x : p.A) x = u(rng);
  for (float& x : p.B) x = u(rng);
  return p;
}

constexpr float kGarbage = std::numeric_limits<float>::quiet_NaN();
constexpr float kSentinel = -12345.5f;

// C (M rows of ldc) with NaN garbage in the N columns and a sentinel beyond them.
std::vector<float> garbage_c(const Problem& p) {
  std::vector<float> C(static_cast<size_t>(p.M * p.ldc));
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = 0; j < p.ldc; ++j) C[static_cast<size_t>(i * p.ldc + j)] = j < p.N ? kGarbage : kSentinel;
  return C;
}

// max over elements of |c - exact| / Σ_k |a||b| (with a floor), exact computed in double.
double max_error(const Problem& p, const std::vector<float>& C) {
  double worst = 0;
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = 0; j < p.N; ++j) {
      double s = 0, mag = 0;
      for (int64_t k = 0; k < p.K; ++k) {
        const double t = static_cast<double>(p.a(i, k)) * static_cast<double>(p.b(k, j));
        s += t;
        mag += std::abs(t);
      }
      const double c = C[static_cast<size_t>(i * p.ldc + j)];
      const double e = std::isfinite(c) ? std::abs(c - s) / std::max(mag, 1e-30) : 1e30;
      worst = std::max(worst, e);
    }
  return worst;
}

// A sequential sum of K products with fused multiply-adds (or float multiply then add) errs by
// at most about K unit roundoffs of Σ|a||b|: a wrong index or a dropped term gives order 1.
double tolerance(int64_t K) { return 1.01 * static_cast<double>(std::max<int64_t>(K, 1)) * 0x1p-23; }

bool beyond_n_untouched(const Problem& p, const std::vector<float>& C) {
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = p.N; j < p.ldc; ++j)
      if (C[static_cast<size_t>(i * p.ldc + j)] != kSentinel) return false;
  return true;
}

std::vector<float> run(Gemm f, const Problem& p) {
  std::vector<float> C = garbage_c(p);
  f(p.M, p.N, p.K, p.A.data(), p.a_rs(), p.a_cs(), p.B.data(), p.b_rs(), p.b_cs(), C.data(), p.ldc);
  return C;
}

void check_accuracy(Gemm f, const Problem& p) {
  CAPTURE(p.M); CAPTURE(p.N); CAPTURE(p.K); CAPTURE(p.layout); CAPTURE(p.bt); CAPTURE(p.ldb); CAPTURE(p.ldc);
  const std::vector<float> C = run(f, p);
  CHECK(max_error(p, C) <= tolerance(p.K));
  CHECK(beyond_n_untouched(p, C));
}

void random_shapes(Gemm f, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t Ms[] = {1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 17, 20, 64, 128};
  const int64_t Ns[] = {1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 31, 33, 47, 50};
  const int64_t Ks[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 64, 300};
  for (int trial = 0; trial < 120; ++trial) {
    const int64_t M = Ms[rng() % std::size(Ms)], N = Ns[rng() % std::size(Ns)], K = Ks[rng() % std::size(Ks)];
    const int64_t extra_b = (trial % 3) ? static_cast<int64_t>(rng() % 20) : 0;
    const int64_t extra_c = (trial % 4) ? static_cast<int64_t>(rng() % 20) : 0;
    check_accuracy(f, make(M, N, K, trial % 3, extra_b, extra_c, rng, trial % 5 == 4));
  }
  // Winograd-like shapes: VGG's (Co, Ci) forward and transposed, wide N, K up to 512 (kc blocks).
  struct S { int64_t M, N, K; int layout; int64_t eb, ec; };
  const S shapes[] = {{64, 1024, 3, 0, 3072, 3072}, {3, 1024, 64, 1, 0, 5},
                      {64, 130, 64, 0, 900, 900},   {128, 77, 64, 1, 0, 0},
                      {256, 40, 128, 0, 4, 9},      {128, 45, 256, 1, 4000, 4000},
                      {512, 19, 512, 0, 13, 0},     {256, 21, 512, 1, 0, 3},
                      {512, 33, 256, 0, 0, 0},      {20, 1024, 300, 1, 1, 1},
                      {150, 70, 300, 2, 3, 3},      {5, 1030, 9, 2, 0, 0},
                      // transposed A with columns over 256 apart (packed): full and partial panels
                      {301, 37, 300, 1, 0, 2},      {520, 20, 512, 1, 0, 0}};
  for (const S& s : shapes) check_accuracy(f, make(s.M, s.N, s.K, s.layout, s.eb, s.ec, rng));
  // Gram-like: G rows (m x n) = F rows · Fᵀ, K = H·W long (several kc blocks), B transposed.
  // K above 2048 packs A's rows too (rows further apart than the in-place limit), in register
  // transposes with tails in k and in the last panel's rows. The last: 1x1 feature maps
  // (K = H·W = 1), where B's row and column strides are both 1.
  const S gram[] = {{32, 64, 1100, 0, 3, 0}, {13, 45, 600, 0, 0, 2}, {7, 33, 257, 0, 1, 1},
                    {13, 40, 2307, 0, 0, 1}, {24, 64, 2600, 0, 2, 0}, {5, 9, 1, 0, 0, 0}};
  for (const S& s : gram) check_accuracy(f, make(s.M, s.N, s.K, s.layout, s.eb, s.ec, rng, true));
}

}  // namespace

TEST_CASE("every kernel set's sgemm matches the double reference on random, Winograd and Gram shapes") {
  MESSAGE("best kernel set on this CPU: " << nst::kernels::kernel_set_name(nst::kernels::best_kernel_set()));
  each_kernel_set([](KernelSet) { random_shapes(sgemm, 11); });
}

TEST_CASE("kernel sets: names round-trip, the best is available and active by default, unknown names throw") {
  for (KernelSet set : {KernelSet::Portable, KernelSet::Avx2, KernelSet::Avx512})
    CHECK(nst::kernels::kernel_set_from_name(nst::kernels::kernel_set_name(set)) == set);
  CHECK_THROWS_AS(nst::kernels::kernel_set_from_name("sse9"), std::invalid_argument);
  CHECK(nst::kernels::kernel_set_available(KernelSet::Portable));
  CHECK(nst::kernels::kernel_set_available(nst::kernels::best_kernel_set()));
  CHECK(nst::kernels::active_kernel_set() == nst::kernels::best_kernel_set());
  for (KernelSet set : {KernelSet::Avx2, KernelSet::Avx512})
    if (!nst::kernels::kernel_set_available(set)) {
      CHECK_THROWS_AS(nst::kernels::use_kernel_set(set), std::invalid_argument);
      CHECK(nst::kernels::active_kernel_set() == nst::kernels::best_kernel_set());
    }
}

TEST_CASE("the comparison catches a wrong result") {
  std::mt19937_64 rng(3);
  for (int layout : {0, 1}) {
    const Problem p = make(13, 37, 64, layout, 5, 3, rng);
    std::vector<float> C = run(sgemm, p);
    REQUIRE(max_error(p, C) <= tolerance(p.K));
    // One element off by 1e-3 (its Σ|a||b| is at most K = 64: a relative 1.6e-5, twice the
    // tolerance), its largest term dropped, a stray write beyond N.
    std::vector<float> bad = C;
    bad[static_cast<size_t>(12 * p.ldc + 36)] += 1e-3f;
    CHECK(max_error(p, bad) > tolerance(p.K));
    bad = C;
    float largest = 0;
    for (int64_t k = 0; k < p.K; ++k)
      if (std::abs(p.a(5, k) * p.b(k, 20)) > std::abs(largest)) largest = p.a(5, k) * p.b(k, 20);
    bad[static_cast<size_t>(5 * p.ldc + 20)] -= largest;
    CHECK(max_error(p, bad) > tolerance(p.K));
    bad = C;
    bad[static_cast<size_t>(7 * p.ldc + 37)] = 0;
    CHECK_FALSE(beyond_n_untouched(p, bad));
    // A transposed read of A is caught too.
    Problem swapped = p;
    swapped.layout = 1 - layout;
    CHECK(max_error(swapped, C) > tolerance(p.K));
  }
}

TEST_CASE("K = 0 zeroes C; empty products write nothing; bad sizes throw") {
  std::vector<float> C(5 * 9, kGarbage);
  const float one = 1;
  sgemm(5, 7, 0, &one, 1, 1, &one, 7, 1, C.data(), 9);
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 9; ++j) {
      if (j < 7)
        CHECK(C[static_cast<size_t>(i * 9 + j)] == 0.0f);
      else
        CHECK(std::isnan(C[static_cast<size_t>(i * 9 + j)]));
    }
  sgemm(0, 7, 3, nullptr, 3, 1, nullptr, 7, 1, nullptr, 7);
  sgemm(4, 0, 3, nullptr, 3, 1, nullptr, 0, 1, nullptr, 0);
  CHECK_THROWS_AS(sgemm(-1, 7, 3, &one, 3, 1, &one, 7, 1, C.data(), 7), std::invalid_argument);
  CHECK_THROWS_AS(sgemm(5, 7, 3, &one, 3, 1, &one, 6, 1, C.data(), 7), std::invalid_argument);
  CHECK_THROWS_AS(sgemm(5, 7, 3, &one, 3, 1, &one, 7, 1, C.data(), 6), std::invalid_argument);
}

// (The portable set, Eigen's GEMM, blocks by the whole shape: only repeated and concurrent calls
// on the same shape are checked there.)
TEST_CASE("every kernel set's sgemm is bit-identical across calls, alignments, sub-ranges and threads") {
  each_kernel_set([](KernelSet set) {
  std::mt19937_64 rng(5);
  for (int layout : {0, 1, 2}) {
    CAPTURE(layout);
    const int64_t M = 70, N = 301, K = 300, ld = 320;  // K over one kc block, tails in M and N
    const Problem p = make(M, N, K, layout, ld - N, ld - N, rng);
    const std::vector<float> ref = run(sgemm, p);
    REQUIRE(max_error(p, ref) <= tolerance(K));
    CHECK(std::memcmp(run(sgemm, p).data(), ref.data(), ref.size() * sizeof(float)) == 0);

    // B and C moved by 1 and 3 floats (no longer 32-byte aligned).
    for (int64_t off : {1, 3, 5}) {
      CAPTURE(off);
      std::vector<float> B2(p.B.size() + 8), C2(ref.size() + 8, kGarbage);
      std::copy(p.B.begin(), p.B.end(), B2.begin() + off);
      sgemm(M, N, K, p.A.data(), p.a_rs(), p.a_cs(), B2.data() + off, p.ldb, 1, C2.data() + 8 - off, p.ldc);
      for (int64_t i = 0; i < M; ++i)
        CHECK(std::memcmp(C2.data() + 8 - off + i * p.ldc, ref.data() + i * p.ldc, N * sizeof(float)) == 0);
    }

    // Columns in chunks (as the Winograd loop cuts them) and rows from an odd offset.
    if (set != KernelSet::Portable) {
    std::vector<float> C3 = garbage_c(p);
    for (int64_t j0 = 0; j0 < N; j0 += 37)
      sgemm(M, std::min<int64_t>(37, N - j0), K, p.A.data(), p.a_rs(), p.a_cs(), p.B.data() + j0,
            p.ldb, 1, C3.data() + j0, p.ldc);
    CHECK(std::memcmp(C3.data(), ref.data(), ref.size() * sizeof(float)) == 0);
    std::vector<float> C4 = garbage_c(p);
    sgemm(7, N, K, p.A.data(), p.a_rs(), p.a_cs(), p.B.data(), p.ldb, 1, C4.data(), p.ldc);
    sgemm(M - 7, N, K, p.A.data() + 7 * p.a_rs(), p.a_rs(), p.a_cs(), p.B.data(), p.ldb, 1,
          C4.data() + 7 * p.ldc, p.ldc);
    CHECK(std::memcmp(C4.data(), ref.data(), ref.size() * sizeof(float)) == 0);
    }

    // Concurrent calls on 3 threads, each on its own output.
    constexpr int kTasks = 6;
    std::vector<std::vector<float>> outs(kTasks, garbage_c(p));
#pragma omp parallel for num_threads(3) schedule(dynamic)
    for (int t = 0; t < kTasks; ++t)
      sgemm(M, N, K, p.A.data(), p.a_rs(), p.a_cs(), p.B.data(), p.ldb, 1, outs[static_cast<size_t>(t)].data(), p.ldc);
    for (const auto& o : outs) CHECK(std::memcmp(o.data(), ref.data(), ref.size() * sizeof(float)) == 0);
  }
  });
}

TEST_CASE("on the SIMD kernel sets every element is one fused multiply-add chain over k in order") {
  // The documented order, checked bit for bit: the blocking (k blocks of 256, column blocks of
  // 1024, register tiles, partial tiles, packing) never changes a result, so the AVX2 and
  // AVX-512 sets give the same bits.
  each_kernel_set([](KernelSet set) {
  if (set == KernelSet::Portable) return;
  std::mt19937_64 rng(8);
  // The last: the Gram's layout with rows of A further apart than the in-place limit (both packed).
  const std::pair<int64_t, int> cases[] = {{3, 0}, {300, 1}, {520, 0}, {64, 2}, {600, 3}, {2200, 3}};
  for (auto [K, layout] : cases) {
    CAPTURE(K); CAPTURE(layout);
    const Problem p = make(29, 1030, K, layout % 3, 2, 2, rng, layout == 3);
    const std::vector<float> C = run(sgemm, p);
    int64_t mismatches = 0;
    for (int64_t i = 0; i < p.M; ++i)
      for (int64_t j = 0; j < p.N; ++j) {
        float acc = 0;
        for (int64_t k = 0; k < p.K; ++k) acc = std::fma(p.a(i, k), p.b(k, j), acc);
        mismatches += acc != C[static_cast<size_t>(i * p.ldc + j)];
      }
    CHECK(mismatches == 0);
  }
  });
}
