// The register-blocked float GEMM (nst/kernels/sgemm.h), included by each SIMD kernel set's
// file inside its own namespace after it defines:
//   vf                        its float vector type, kW floats wide
//   vload, vstore, vzero, vbroadcast, vfmadd(a, b, c) = a*b + c (one rounding)
//   transpose_block(src, ss, dst, ds): dst[k*ds + j] = src[j*ss + k] for j, k < kW
//   transpose_panel(src, ss, dst): dst[k*kMR + i] = src[i*ss + k] for i < kMR, k < kW
//   kMR, kNV                  the register tile: kMR rows x kNV vectors (kNR = kNV*kW columns)
//   kMC                       rows of A packed at a time (a multiple of kMR)
// Arguments are checked, and M, N, K > 0, in the dispatcher (src/kernels/sgemm.cpp).

constexpr int kNR = kNV * kW;
// Blocking (measured on the Winograd shapes, Zen 3: kc = 128, 256, 512 and nc = 512, 1024
// within 5% of each other). Loop order per (nc x kc) block of B: row panels of A outer, B strips
// inner, so a panel of A stays in L1 and B's packed block streams from L2/L3; this beats the
// BLIS order (B strip in L1, A block in L2) by 2x when K is tiny (K = 3: C is written row by
// row) and is as fast elsewhere.
constexpr int64_t kKC = 256, kNC = 1024;
// A row-major A is read in place (each panel row contiguous in k) when its rows are at most
// this many floats apart; further apart, the rows of a panel collide in L1's sets.
constexpr int64_t kMaxInPlaceRowStride = 2048;
// A column-major A (the Winograd backward's U_ξᵀ) is read in place, each k's kMR values
// contiguous, when its columns are at most this many floats apart, and not a multiple of 256
// floats apart beyond 256. 36-position batches, n = 64 and 256 (bench_sgemm --only bwd, Emerald
// Rapids, one core): in place 1.1-1.4x packing at M = 64..256 (e.g. 256x256, n = 64: 146
// against 118 GFLOP/s), but 0.8x at M = 512 (73 against 91), where a panel's columns, 2 KiB
// apart, fall in two of L1's sets (winograd_u_stride pads U's rows against that).
constexpr int64_t kMaxInPlaceColStride = 2048;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// C[0..MR-1][0..kW*NV-1] (row stride ldc) = (load_c ? C : 0) + Σ_k A(i,k) * b[k*bs + j],
// k = 0..kc-1 in order, one fused multiply-add per k. A(i,k) is a[i*as + k] when KContig
// (row-major A read in place, as = a_rs), else a[k*as + i] (packed panels, as = kMR, or a
// column-major A read in place, as = a_cs).
template <int MR, int NV, bool KContig>
void micro(int64_t kc, const float* a, int64_t as, const float* b, int64_t bs, float* c,
           int64_t ldc, bool load_c) {
  vf acc[MR][NV];
  if (load_c) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = vload(c + i * ldc + kW * v);
  } else {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = vzero();
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    vf bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = vload(b + kW * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const vf av = vbroadcast(KContig ? a + i * as : a + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = vfmadd(av, bv[v], acc[i][v]);
    }
    a += KContig ? 1 : as;
    b += bs;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) vstore(c + i * ldc + kW * v, acc[i][v]);
}

// micro<mr, NV, KContig> for a run-time mr in 1..MR.
template <int MR, int NV, bool KContig>
inline void micro_rows(int64_t mr, int64_t kc, const float* a, int64_t as, const float* b,
                       int64_t bs, float* c, int64_t ldc, bool load_c) {
  if constexpr (MR > 1) {
    if (mr < MR) return micro_rows<MR - 1, NV, KContig>(mr, kc, a, as, b, bs, c, ldc, load_c);
  }
  micro<MR, NV, KContig>(kc, a, as, b, bs, c, ldc, load_c);
}

// One mr x nr tile of C (mr <= kMR, nr <= kNR) from A (see micro) and a B strip.
template <bool KContig>
inline void tile(int64_t mr, int64_t nr, int64_t kc, const float* a, int64_t as, const float* b,
                 int64_t bs, float* c, int64_t ldc, bool load_c) {
  if (nr == kNR) return micro_rows<kMR, kNV, KContig>(mr, kc, a, as, b, bs, c, ldc, load_c);
  if constexpr (kNV > 1) {
    if (nr == kW) return micro_rows<kMR, 1, KContig>(mr, kc, a, as, b, bs, c, ldc, load_c);
  }
  // Partial width: through a local tile, so nothing beyond column nr is read or written.
  alignas(64) float t[kMR * kNR];
  if (load_c)
    for (int64_t i = 0; i < mr; ++i) std::memcpy(t + i * kNR, c + i * ldc, sizeof(float) * nr);
  if (nr <= kW)
    micro_rows<kMR, 1, KContig>(mr, kc, a, as, b, bs, t, kNR, load_c);
  else
    micro_rows<kMR, kNV, KContig>(mr, kc, a, as, b, bs, t, kNR, load_c);
  for (int64_t i = 0; i < mr; ++i) std::memcpy(c + i * ldc, t + i * kNR, sizeof(float) * nr);
}

// A[i0.., k0..] (mc x kc) -> panels of kMR rows: panel p, element (k, i) at ap[p*kMR*kc + k*kMR + i],
// zero beyond mc.
void pack_a(int64_t mc, int64_t kc, const float* A, int64_t a_rs, int64_t a_cs, float* ap) {
  int64_t p0 = 0;
  if (a_rs == 1 && a_cs != 1) {
    // Column-major (the backward's U_ξᵀ): k outer, so that each k's mc values are read once, in
    // order, and copied to every full panel. Panel by panel, each panel re-read the lines of the
    // last one, kc lines a_cs floats apart, which L1 cannot hold when a_cs is 512 (the lines fall
    // in two of its sets).
    // memcpy: the element loop compiled to scalar loads and inserts (GCC 12), 1.25x slower on
    // the backward of 512-channel layers (bench_sgemm, 512x512, n = 64: 73 -> 91 GFLOP/s).
    const int64_t full = mc / kMR * kMR;
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = A + k * a_cs;
      float* dst = ap + k * kMR;
      for (int64_t p = 0; p < full; p += kMR) std::memcpy(dst + p * kc, src + p, sizeof(float) * kMR);
    }
    p0 = full;
  }
  for (int64_t p = p0; p < mc; p += kMR) {
    const int64_t mr = min64(kMR, mc - p);
    const float* src = A + p * a_rs;
    float* dst = ap + p * kc;
    if (a_cs == 1) {  // rows contiguous in k: kW x kW blocks transposed in registers, then row by row
      int64_t k0 = 0;
      if (mr == kMR)
        for (; k0 + kW <= kc; k0 += kW) transpose_panel(src + k0, a_rs, dst + k0 * kMR);
      for (int64_t i = 0; i < kMR; ++i) {
        const float* r = src + i * a_rs;
        if (i < mr)
          for (int64_t k = k0; k < kc; ++k) dst[k * kMR + i] = r[k];
        else
          for (int64_t k = k0; k < kc; ++k) dst[k * kMR + i] = 0.0f;
      }
    } else {
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t i = 0; i < kMR; ++i)
          dst[k * kMR + i] = i < mr ? src[i * a_rs + k * a_cs] : 0.0f;
    }
  }
}

// B[k0.., j0..] (kc x nc) -> strips of kNR columns: strip s, element (k, j) at
// bp[s*kNR*kc + k*kNR + j], zero beyond nc.
void pack_b(int64_t kc, int64_t nc, const float* B, int64_t b_rs, int64_t b_cs, float* bp) {
  const int64_t full = nc / kNR, rest = nc - full * kNR;
  if (b_cs == 1) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B + k * b_rs;
      float* dst = bp + k * kNR;
      for (int64_t s = 0; s < full; ++s)
        for (int v = 0; v < kNV; ++v) vstore(dst + s * kNR * kc + kW * v, vload(src + s * kNR + kW * v));
      if (rest) {
        float* d = dst + full * kNR * kc;
        const float* sr = src + full * kNR;
        for (int64_t j = 0; j < kNR; ++j) d[j] = j < rest ? sr[j] : 0.0f;
      }
    }
    return;
  }
  // Columns contiguous in k (b_rs = 1, a transposed B: Fᵀ in the Gram matrix): kW x kW blocks
  // transposed in registers, the rest (and general strides) column by column.
  const int64_t kfull = b_rs == 1 ? kc / kW * kW : 0;
  for (int64_t s = 0; s * kNR < nc; ++s) {
    float* dst = bp + s * kNR * kc;
    int64_t j = 0;
    for (; kfull > 0 && j + kW <= kNR && s * kNR + j + kW <= nc; j += kW) {
      const float* src = B + (s * kNR + j) * b_cs;
      for (int64_t k = 0; k < kfull; k += kW) transpose_block(src + k, b_cs, dst + k * kNR + j, kNR);
      for (int64_t k = kfull; k < kc; ++k)
        for (int64_t jj = 0; jj < kW; ++jj) dst[k * kNR + j + jj] = src[jj * b_cs + k];
    }
    for (; j < kNR; ++j) {
      const int64_t col = s * kNR + j;
      if (col < nc) {
        const float* src = B + col * b_cs;
        for (int64_t k = 0; k < kc; ++k) dst[k * kNR + j] = src[k * b_rs];
      } else {
        for (int64_t k = 0; k < kc; ++k) dst[k * kNR + j] = 0.0f;
      }
    }
  }
}

bool packs_b(int64_t M, int64_t b_cs) { return M > kMR || b_cs != 1; }
// A is read in place when row-major (a_cs = 1, the Winograd forward's U_ξ) with rows at most
// kMaxInPlaceRowStride apart, or column-major (a_rs = 1, the backward's U_ξᵀ) with columns at
// most kMaxInPlaceColStride apart; any other layout is packed.
bool in_place_rows(int64_t a_rs, int64_t a_cs) { return a_cs == 1 && a_rs <= kMaxInPlaceRowStride; }
bool in_place_cols(int64_t a_rs, int64_t a_cs) {
  return a_rs == 1 && (a_cs <= 256 || (a_cs <= kMaxInPlaceColStride && a_cs % 256 != 0));
}
bool packs_a(int64_t a_rs, int64_t a_cs) { return !in_place_rows(a_rs, a_cs) && !in_place_cols(a_rs, a_cs); }

int64_t sgemm_scratch(int64_t M, int64_t N, int64_t K, int64_t a_rs, int64_t a_cs, int64_t b_cs) {
  const int64_t kc_max = min64(kKC, K), nc_max = min64(kNC, N);
  const int64_t a_size = packs_a(a_rs, a_cs) ? (min64(kMC, M) + kMR - 1) / kMR * kMR * kc_max : 0;
  const int64_t b_size = (packs_b(M, b_cs) ? (nc_max + kNR - 1) / kNR : 1) * kNR * kc_max;
  return a_size + b_size;
}

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
           const float* B, int64_t b_rs, int64_t b_cs, float* C, int64_t ldc, float* scratch) {
  // B is packed into strips when more than one row panel reads it: read in place with row
  // strides like 1024 or 4096 floats, its rows collide in the caches (measured 2x slower at
  // n = G = 1024); with one panel packing is a copy for nothing (2x slower at M = 3). A B that
  // is not row-major is always packed.
  const bool pack_b_block = packs_b(M, b_cs);
  // A row-major or column-major with a short stride (the Winograd forward's U_ξ, the
  // backward's U_ξᵀ up to 256 channels) is read in place; any other layout is packed, kMC rows
  // at a time.
  const bool pack_a_block = packs_a(a_rs, a_cs);
  const bool a_rows = in_place_rows(a_rs, a_cs);
  const int64_t kc_max = min64(kKC, K), nc_max = min64(kNC, N);
  const int64_t b_size = (pack_b_block ? (nc_max + kNR - 1) / kNR : 1) * kNR * kc_max;
  // B's strips first (aligned), then A's panels.
  float* bp = scratch;
  float* ap = bp + b_size;

  for (int64_t jc = 0; jc < N; jc += kNC) {
    const int64_t nc = min64(kNC, N - jc), full = nc / kNR;
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = min64(kKC, K - pc);
      const bool load_c = pc > 0;  // continue the chains of the previous k block
      const float* Bk = B + pc * b_rs + jc * b_cs;
      if (pack_b_block)
        pack_b(kc, nc, Bk, b_rs, b_cs, bp);
      else if (full * kNR < nc)  // only the partial strip, so nothing beyond N is read
        pack_b(kc, nc - full * kNR, Bk + full * kNR, b_rs, 1, bp);
      for (int64_t ic = 0; ic < M; ic += kMC) {
        const int64_t mc = min64(kMC, M - ic);
        const float* Ab = A + ic * a_rs + pc * a_cs;
        if (pack_a_block) pack_a(mc, kc, Ab, a_rs, a_cs, ap);
        for (int64_t ir = 0; ir < mc; ir += kMR) {
          const int64_t mr = min64(kMR, mc - ir);
          float* c = C + (ic + ir) * ldc + jc;
          for (int64_t jr = 0; jr < nc; jr += kNR) {
            const int64_t nr = min64(kNR, nc - jr);
            // Strip jr of B: pointer and row stride.
            const float* b = bp;
            int64_t bs = kNR;
            if (pack_b_block) {
              b = bp + jr * kc;
            } else if (jr < full * kNR) {
              b = Bk + jr;
              bs = b_rs;
            }
            if (pack_a_block)
              tile<false>(mr, nr, kc, ap + ir * kc, kMR, b, bs, c + jr, ldc, load_c);
            else if (a_rows)
              tile<true>(mr, nr, kc, Ab + ir * a_rs, a_rs, b, bs, c + jr, ldc, load_c);
            else
              tile<false>(mr, nr, kc, Ab + ir, a_cs, b, bs, c + jr, ldc, load_c);
          }
        }
      }
    }
  }
}
