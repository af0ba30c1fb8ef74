#include "nst/ops/sgemm.h"

#include <Eigen/Core>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
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

// Blocking: a packed B strip (kc x 16) stays in L1 while the row panels of A's block
// (mc x kc, in L2) go past it; the packed B block (kc x nc) sits in L2/L3.
int64_t g_mc = 144, g_kc = 256, g_nc = 1024;
bool g_pack_b_single_panel = false;

}  // namespace

namespace detail {

// Tuning hook for bench_sgemm (temporary).
void sgemm_set_blocking(int64_t mc, int64_t kc, int64_t nc, bool pack_single) {
  g_mc = mc;
  g_kc = kc;
  g_nc = nc;
  g_pack_b_single_panel = pack_single;
}

// Rows of C in blocks of 4, columns in blocks of kPortCols: C's block lives in a local
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

// Per-thread scratch for the packed panels; grows, never shrinks.
float* scratch(size_t n) {
  static thread_local std::vector<float, Eigen::aligned_allocator<float>> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}


// C[0..MR-1][0..8*NV-1] (row stride ldc) = (LoadC ? C : 0) + Σ_k a[k*6 + i] * b[k*bs + j],
// k = 0..kc-1 in order, one fused multiply-add per k.
template <int MR, int NV>
void micro(int64_t kc, const float* a, const float* b, int64_t bs, float* c, int64_t ldc,
           bool load_c) {
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
      const __m256 av = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
    }
    a += kMR;
    b += bs;
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(c + i * ldc + 8 * v, acc[i][v]);
}

using MicroFn = void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, bool);
template <int NV>
constexpr MicroFn kMicro[kMR + 1] = {nullptr,          micro<1, NV>, micro<2, NV>, micro<3, NV>,
                                     micro<4, NV>, micro<5, NV>, micro<6, NV>};

// One mr x nr tile of C (mr <= 6, nr <= 16) from a packed A panel and a B strip.
inline void tile(int64_t mr, int64_t nr, int64_t kc, const float* a, const float* b, int64_t bs,
                 float* c, int64_t ldc, bool load_c) {
  if (nr == kNR) return kMicro<2>[mr](kc, a, b, bs, c, ldc, load_c);
  if (nr == 8) return kMicro<1>[mr](kc, a, b, bs, c, ldc, load_c);
  // Partial width: through a local tile, so nothing beyond column nr is read or written.
  alignas(32) float t[kMR * kNR];
  if (load_c)
    for (int64_t i = 0; i < mr; ++i) std::memcpy(t + i * kNR, c + i * ldc, sizeof(float) * nr);
  if (nr <= 8)
    kMicro<1>[mr](kc, a, b, bs, t, kNR, load_c);
  else
    kMicro<2>[mr](kc, a, b, bs, t, kNR, load_c);
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
      _mm256_store_ps(dst + s * kNR * kc, _mm256_loadu_ps(src + s * kNR));
      _mm256_store_ps(dst + s * kNR * kc + 8, _mm256_loadu_ps(src + s * kNR + 8));
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
  const int64_t MC = g_mc, KC = g_kc, NC = g_nc;
  const int64_t kc_max = std::min(KC, K), mc_max = std::min(MC, M);
  const int64_t nc_max = std::min(NC, N);
  const bool packed_b = M > kMR || g_pack_b_single_panel;
  // A block padded to whole panels (and to 64 bytes), then the B block (or, unpacked, one tail strip).
  const int64_t a_size = ((mc_max + kMR - 1) / kMR * kMR * kc_max + 15) / 16 * 16;
  const int64_t b_size = packed_b ? (nc_max + kNR - 1) / kNR * kNR * kc_max : kNR * kc_max;
  float* ap = scratch(static_cast<size_t>(a_size + b_size));
  float* bp = ap + a_size;

  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      const bool load_c = pc > 0;
      const float* Bk = B + pc * ldb + jc;
      const int64_t full = nc / kNR;
      if (packed_b)
        pack_b(kc, nc, Bk, ldb, bp);
      else if (nc % kNR)
        pack_b(kc, nc - full * kNR, Bk + full * kNR, ldb, bp);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        pack_a(mc, kc, A + ic * a_rs + pc * a_cs, a_rs, a_cs, ap);
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int64_t nr = std::min<int64_t>(kNR, nc - jr);
          const float* b;
          int64_t bs;
          if (packed_b) {
            b = bp + jr * kc;
            bs = kNR;
          } else if (nr == kNR) {
            b = Bk + jr;
            bs = ldb;
          } else {
            b = bp;
            bs = kNR;
          }
          float* c = C + ic * ldc + jc + jr;
          for (int64_t ir = 0; ir < mc; ir += kMR)
            tile(std::min<int64_t>(kMR, mc - ir), nr, kc, ap + ir * kc, b, bs, c + ir * ldc, ldc,
                 load_c);
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
