#include "nst/ops/sgemm.h"

#include <Eigen/Core>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define NST_SGEMM_AVX2 1
#endif

namespace nst::kernels {

namespace {

void check_args(int64_t M, int64_t N, int64_t K, int64_t ldb, int64_t ldc) {
  if (M < 0 || N < 0 || K < 0)
    throw std::invalid_argument("sgemm: negative size M=" + std::to_string(M) +
                                " N=" + std::to_string(N) + " K=" + std::to_string(K));
  if ((K > 0 && ldb < N) || (M > 0 && ldc < N))
    throw std::invalid_argument("sgemm: row stride shorter than N=" + std::to_string(N) +
                                " (ldb=" + std::to_string(ldb) + " ldc=" + std::to_string(ldc) + ")");
}

void zero_c(int64_t M, int64_t N, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
}

}  // namespace

namespace detail {

// Rows of C in blocks of 4, columns in blocks of 128: C's block lives in a local
// accumulator while k runs 0..K-1 in order (vectorized across columns, so the order per
// element is the plain sequential sum).
void sgemm_portable(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
                    const float* B, int64_t ldb, float* C, int64_t ldc) {
  check_args(M, N, K, ldb, ldc);
  if (K == 0) return zero_c(M, N, C, ldc);
  constexpr int64_t kCols = 128;
  float acc[4][kCols];
  for (int64_t j0 = 0; j0 < N; j0 += kCols) {
    const int64_t nc = std::min(kCols, N - j0);
    for (int64_t i0 = 0; i0 < M; i0 += 4) {
      const int64_t mr = std::min<int64_t>(4, M - i0);
      for (int64_t i = 0; i < 4; ++i) std::fill(acc[i], acc[i] + kCols, 0.0f);
      for (int64_t k = 0; k < K; ++k) {
        const float* b = B + k * ldb + j0;
        for (int64_t i = 0; i < mr; ++i) {
          const float a = A[(i0 + i) * a_rs + k * a_cs];
          float* r = acc[i];
#pragma omp simd
          for (int64_t j = 0; j < nc; ++j) r[j] += a * b[j];
        }
      }
      for (int64_t i = 0; i < mr; ++i) std::copy(acc[i], acc[i] + nc, C + (i0 + i) * ldc + j0);
    }
  }
}

bool sgemm_uses_avx2() {
#ifdef NST_SGEMM_AVX2
  return true;
#else
  return false;
#endif
}

}  // namespace detail

#ifdef NST_SGEMM_AVX2
namespace {

constexpr int kMR = 6, kNR = 16;
// Blocking (measured on the Winograd shapes, Zen 3: kc = 128, 256, 512 and nc = 512, 1024
// within 5% of each other). Loop order per (nc x kc) block of B: row panels of A outer, B strips
// inner, so a panel of A (6 x kc, 6 KiB) stays in L1 and B's packed block streams from L2/L3;
// this beats the BLIS order (B strip in L1, A block in L2) by 2x when K is tiny (K = 3: C is
// written row by row) and is as fast elsewhere.
constexpr int64_t kKC = 256, kNC = 1024;
// Rows of A packed at a time when A is not row-major (the backward's Uᵀ).
constexpr int64_t kMC = 144;

// Per-thread scratch for the packed panels; grows, never shrinks.
float* scratch(size_t n) {
  static thread_local std::vector<float, Eigen::aligned_allocator<float>> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// C[0..MR-1][0..8*NV-1] (row stride ldc) = (load_c ? C : 0) + Σ_k A(i,k) * b[k*bs + j],
// k = 0..kc-1 in order, one fused multiply-add per k. A(i,k) is a[i*as + k] when KContig
// (row-major A read in place, as = a_rs), else a[k*as + i] (packed panels, as = 6).
template <int MR, int NV, bool KContig>
void micro(int64_t kc, const float* a, int64_t as, const float* b, int64_t bs, float* c,
           int64_t ldc, bool load_c) {
  __m256 acc[MR][NV];
  if (load_c) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_loadu_ps(c + i * ldc + 8 * v);
  } else {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    __m256 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + 8 * v);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(KContig ? a + i * as : a + i);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
    }
    a += KContig ? 1 : as;
    b += bs;
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(c + i * ldc + 8 * v, acc[i][v]);
}

using MicroFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool);
template <int NV, bool KC>
constexpr MicroFn kMicro[kMR + 1] = {nullptr,             micro<1, NV, KC>, micro<2, NV, KC>,
                                     micro<3, NV, KC>, micro<4, NV, KC>, micro<5, NV, KC>,
                                     micro<6, NV, KC>};

// One mr x nr tile of C (mr <= 6, nr <= 16) from A (see micro) and a B strip.
template <bool KContig>
inline void tile(int64_t mr, int64_t nr, int64_t kc, const float* a, int64_t as, const float* b,
                 int64_t bs, float* c, int64_t ldc, bool load_c) {
  if (nr == kNR) return kMicro<2, KContig>[mr](kc, a, as, b, bs, c, ldc, load_c);
  if (nr == 8) return kMicro<1, KContig>[mr](kc, a, as, b, bs, c, ldc, load_c);
  // Partial width: through a local tile, so nothing beyond column nr is read or written.
  alignas(32) float t[kMR * kNR];
  if (load_c)
    for (int64_t i = 0; i < mr; ++i) std::memcpy(t + i * kNR, c + i * ldc, sizeof(float) * nr);
  if (nr <= 8)
    kMicro<1, KContig>[mr](kc, a, as, b, bs, t, kNR, load_c);
  else
    kMicro<2, KContig>[mr](kc, a, as, b, bs, t, kNR, load_c);
  for (int64_t i = 0; i < mr; ++i) std::memcpy(c + i * ldc, t + i * kNR, sizeof(float) * nr);
}

// A[i0.., k0..] (mc x kc) -> panels of 6 rows: panel p, element (k, i) at ap[p*6*kc + k*6 + i].
void pack_a(int64_t mc, int64_t kc, const float* A, int64_t a_rs, int64_t a_cs, float* ap) {
  for (int64_t p = 0; p < mc; p += kMR) {
    const int64_t mr = std::min<int64_t>(kMR, mc - p);
    const float* src = A + p * a_rs;
    float* dst = ap + p * kc;
    if (a_rs == 1 && mr == kMR) {
      for (int64_t k = 0; k < kc; ++k)
        for (int i = 0; i < kMR; ++i) dst[k * kMR + i] = src[k * a_cs + i];
    } else {
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t i = 0; i < kMR; ++i)
          dst[k * kMR + i] = i < mr ? src[i * a_rs + k * a_cs] : 0.0f;
    }
  }
}

// B[k0.., j0..] (kc x nc) -> strips of 16 columns: strip s, element (k, j) at
// bp[s*16*kc + k*16 + j], zero beyond nc.
void pack_b(int64_t kc, int64_t nc, const float* B, int64_t ldb, float* bp) {
  const int64_t full = nc / kNR, rest = nc - full * kNR;
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = B + k * ldb;
    float* dst = bp + k * kNR;
    for (int64_t s = 0; s < full; ++s) {
      _mm256_storeu_ps(dst + s * kNR * kc, _mm256_loadu_ps(src + s * kNR));
      _mm256_storeu_ps(dst + s * kNR * kc + 8, _mm256_loadu_ps(src + s * kNR + 8));
    }
    if (rest) {
      float* d = dst + full * kNR * kc;
      const float* sr = src + full * kNR;
      for (int64_t j = 0; j < kNR; ++j) d[j] = j < rest ? sr[j] : 0.0f;
    }
  }
}

}  // namespace

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
           const float* B, int64_t ldb, float* C, int64_t ldc) {
  check_args(M, N, K, ldb, ldc);
  if (M == 0 || N == 0) return;
  if (K == 0) return zero_c(M, N, C, ldc);
  // B is packed into 16-column strips when more than one row panel reads it: read in place
  // with row strides like 1024 or 4096 floats, its rows collide in the caches (measured 2x
  // slower at n = G = 1024); with one panel packing is a copy for nothing (2x slower at M = 3).
  const bool pack_b_block = M > kMR;
  // A row-major (the forward's U) is read in place: each panel row is contiguous in k. Any
  // other layout is packed, kMC rows at a time, into panels (k, i) -> [k*6 + i].
  const bool pack_a_block = a_cs != 1;
  const int64_t kc_max = std::min(kKC, K), nc_max = std::min(kNC, N);
  const int64_t a_size = pack_a_block ? (std::min(kMC, M) + kMR - 1) / kMR * kMR * kc_max : 0;
  const int64_t b_size = (pack_b_block ? (nc_max + kNR - 1) / kNR : 1) * kNR * kc_max;
  // B's strips first (aligned), then A's panels.
  float* bp = scratch(static_cast<size_t>(b_size + a_size));
  float* ap = bp + b_size;

  for (int64_t jc = 0; jc < N; jc += kNC) {
    const int64_t nc = std::min(kNC, N - jc), full = nc / kNR;
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = std::min(kKC, K - pc);
      const bool load_c = pc > 0;  // continue the chains of the previous k block
      const float* Bk = B + pc * ldb + jc;
      if (pack_b_block)
        pack_b(kc, nc, Bk, ldb, bp);
      else if (full * kNR < nc)  // only the partial strip, so nothing beyond N is read
        pack_b(kc, nc - full * kNR, Bk + full * kNR, ldb, bp);
      // Strip jr of B: pointer and row stride.
      auto strip = [&](int64_t jr) -> std::pair<const float*, int64_t> {
        if (pack_b_block) return {bp + jr * kc, kNR};
        if (jr < full * kNR) return {Bk + jr, ldb};
        return {bp, kNR};
      };
      for (int64_t ic = 0; ic < M; ic += kMC) {
        const int64_t mc = std::min(kMC, M - ic);
        const float* Ab = A + ic * a_rs + pc * a_cs;
        if (pack_a_block) pack_a(mc, kc, Ab, a_rs, a_cs, ap);
        for (int64_t ir = 0; ir < mc; ir += kMR) {
          const int64_t mr = std::min<int64_t>(kMR, mc - ir);
          float* c = C + (ic + ir) * ldc + jc;
          for (int64_t jr = 0; jr < nc; jr += kNR) {
            const int64_t nr = std::min<int64_t>(kNR, nc - jr);
            const auto [b, bs] = strip(jr);
            if (pack_a_block)
              tile<false>(mr, nr, kc, ap + ir * kc, kMR, b, bs, c + jr, ldc, load_c);
            else
              tile<true>(mr, nr, kc, Ab + ir * a_rs, a_rs, b, bs, c + jr, ldc, load_c);
          }
        }
      }
    }
  }
}

#else  // no AVX2 + FMA

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
           const float* B, int64_t ldb, float* C, int64_t ldc) {
  detail::sgemm_portable(M, N, K, A, a_rs, a_cs, B, ldb, C, ldc);
}

#endif

}  // namespace nst::kernels
