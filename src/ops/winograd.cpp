#include "nst/ops/winograd.h"

#include "nst/ops/sgemm.h"

#include <omp.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <type_traits>
#include <vector>

namespace nst::kernels {

namespace {

// A group of tiles is whole tile rows whose V (36 x Ci x tiles) plus M (36 x Co x tiles) fit
// in 12 MiB (the L3 cache) but has at least 256 tiles, or packing U_ξ (Co x Ci) for each GEMM
// costs much of the GEMM (measured: -20% on 512-channel layers at 64x64). At most
// 36 * 1024 channels * 256 tiles * 4 bytes = 38 MiB for VGG in float.
constexpr int64_t kGroupBytes = 12 << 20;
constexpr int64_t kMinGroupTiles = 256;
// With at least this many groups, threads take whole groups (no barriers), of this many tiles
// for few channels.
constexpr int64_t kMinOwnGroups = 8;
constexpr int64_t kOwnGroupTiles = 128;
// Columns (tiles) per GEMM task.
constexpr int64_t kGemmCols = 1024;

// The 1-D transforms, applied to 6 (or 4) rows of n values each; vectorized across the rows'
// elements (the tiles).
//   B^T = [4  0 -5  0  1  0]    A^T = [1  1  1  1  1  0]
//         [0 -4 -4  1  1  0]          [0  1 -1  2 -2  0]
//         [0  4 -4 -1  1  0]          [0  1  1  4  4  0]
//         [0 -2 -1  2  1  0]          [0  1 -1  8 -8  1]
//         [0  2 -1 -2  1  0]
//         [0  4  0 -5  0  1]
template <class T>
inline void input_1d(const T* const in[6], T* const out[6], int64_t n) {
  const T *d0 = in[0], *d1 = in[1], *d2 = in[2], *d3 = in[3], *d4 = in[4], *d5 = in[5];
  T *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3], *o4 = out[4], *o5 = out[5];
#pragma omp simd
  for (int64_t s = 0; s < n; ++s) {
    const T a = d4[s] - T(4) * d2[s];  // shared by rows 1 and 2
    const T b = d3[s] - T(4) * d1[s];
    const T c = d4[s] - d2[s];         // shared by rows 3 and 4
    const T e = T(2) * (d3[s] - d1[s]);
    o0[s] = T(4) * d0[s] - T(5) * d2[s] + d4[s];
    o1[s] = a + b;
    o2[s] = a - b;
    o3[s] = c + e;
    o4[s] = c - e;
    o5[s] = T(4) * d1[s] - T(5) * d3[s] + d5[s];
  }
}

template <class T>
inline void output_1d(const T* const in[6], T* const out[4], int64_t n) {
  const T *m0 = in[0], *m1 = in[1], *m2 = in[2], *m3 = in[3], *m4 = in[4], *m5 = in[5];
  T *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3];
#pragma omp simd
  for (int64_t s = 0; s < n; ++s) {
    const T p12 = m1[s] + m2[s], d12 = m1[s] - m2[s];
    const T p34 = m3[s] + m4[s], d34 = m3[s] - m4[s];
    o0[s] = m0[s] + p12 + p34;
    o1[s] = d12 + T(2) * d34;
    o2[s] = p12 + T(4) * p34;
    o3[s] = d12 + T(8) * d34 + m5[s];
  }
}

// p_q[m] = r[4m + q] for m < n, q < 4 (a 4-way deinterleave), and its inverse. Compilers do not
// vectorize these strided loops; for float on AVX2 they are 4x8 transposes in registers.
template <class T>
inline void deinterleave4(const T* r, T* p0, T* p1, T* p2, T* p3, int64_t n) {
  int64_t m = 0;
#if defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    const __m256i order = _mm256_setr_epi32(0, 4, 2, 6, 1, 5, 3, 7);
    for (; m + 8 <= n; m += 8) {
      const float* q = r + 4 * m;
      const __m256 a0 = _mm256_loadu_ps(q), a1 = _mm256_loadu_ps(q + 8);
      const __m256 a2 = _mm256_loadu_ps(q + 16), a3 = _mm256_loadu_ps(q + 24);
      const __m256 lo01 = _mm256_unpacklo_ps(a0, a1), hi01 = _mm256_unpackhi_ps(a0, a1);
      const __m256 lo23 = _mm256_unpacklo_ps(a2, a3), hi23 = _mm256_unpackhi_ps(a2, a3);
      _mm256_storeu_ps(p0 + m, _mm256_permutevar8x32_ps(_mm256_unpacklo_ps(lo01, lo23), order));
      _mm256_storeu_ps(p1 + m, _mm256_permutevar8x32_ps(_mm256_unpackhi_ps(lo01, lo23), order));
      _mm256_storeu_ps(p2 + m, _mm256_permutevar8x32_ps(_mm256_unpacklo_ps(hi01, hi23), order));
      _mm256_storeu_ps(p3 + m, _mm256_permutevar8x32_ps(_mm256_unpackhi_ps(hi01, hi23), order));
    }
  }
#endif
  for (; m < n; ++m) {
    p0[m] = r[4 * m];
    p1[m] = r[4 * m + 1];
    p2[m] = r[4 * m + 2];
    p3[m] = r[4 * m + 3];
  }
}

// r[4m + q] = p_q[m] for m < n, q < 4.
template <class T>
inline void interleave4(const T* p0, const T* p1, const T* p2, const T* p3, T* r, int64_t n) {
  int64_t m = 0;
#if defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    for (; m + 8 <= n; m += 8) {
      const __m256 x = _mm256_loadu_ps(p0 + m), y = _mm256_loadu_ps(p1 + m);
      const __m256 z = _mm256_loadu_ps(p2 + m), w = _mm256_loadu_ps(p3 + m);
      const __m256 xy_lo = _mm256_unpacklo_ps(x, y), xy_hi = _mm256_unpackhi_ps(x, y);
      const __m256 zw_lo = _mm256_unpacklo_ps(z, w), zw_hi = _mm256_unpackhi_ps(z, w);
      const __m256 v0 = _mm256_shuffle_ps(xy_lo, zw_lo, 0x44), v1 = _mm256_shuffle_ps(xy_lo, zw_lo, 0xEE);
      const __m256 v2 = _mm256_shuffle_ps(xy_hi, zw_hi, 0x44), v3 = _mm256_shuffle_ps(xy_hi, zw_hi, 0xEE);
      float* q = r + 4 * m;
      _mm256_storeu_ps(q, _mm256_permute2f128_ps(v0, v1, 0x20));
      _mm256_storeu_ps(q + 8, _mm256_permute2f128_ps(v2, v3, 0x20));
      _mm256_storeu_ps(q + 16, _mm256_permute2f128_ps(v0, v1, 0x31));
      _mm256_storeu_ps(q + 24, _mm256_permute2f128_ps(v2, v3, 0x31));
    }
  }
#endif
  for (; m < n; ++m) {
    r[4 * m] = p0[m];
    r[4 * m + 1] = p1[m];
    r[4 * m + 2] = p2[m];
    r[4 * m + 3] = p3[m];
  }
}

// A 3x3 pad-1 convolution seen by the Winograd loop: `in` (Ci,H,W) -> `out` (Co,H,W), with
// W_ξ = U_ξ (forward) or U_ξ^T (backward); Flip reads and writes the images mirrored in both
// axes (backward); Accumulate adds into `out` instead of overwriting it.
struct Geometry {
  int64_t Ci, Co, H, W;
  int64_t tiles_x, tiles_y, tiles;  // 4x4 output tiles, row-major
  int64_t strip() const { return 4 * tiles_x + 8; }  // a padded image row, see below
};

// What the convolution does besides the products: the forward's epilogue (bias, ReLU, mask of
// its output), the backward's ReLU mask on its input, and whether the output is accumulated
// into or overwritten.
template <class T>
struct Extras {
  ConvEpilogue<T> epi;               // forward only
  const uint8_t* in_mask = nullptr;  // backward: input read as in ⊙ in_mask, (Ci,H,W)
  bool accumulate = false;           // add into out instead of overwriting it
};

// Per-thread scratch for one tile row: input and output transforms are done a tile row at a
// time, first along the image rows (contiguous, vectorized across pixels), then across tiles.
template <class T>
struct RowScratch {
  Buffer<T> buf;
  T *strip, *phase, *zero, *h, *ostrip, *orow, *masked;
  explicit RowScratch(const Geometry& g) {
    const int64_t S = g.strip(), P = g.tiles_x + 2, W4 = 4 * g.tiles_x;
    buf.assign(static_cast<size_t>(6 * S + 4 * P + g.W + 4 * g.tiles_x + 10 * W4 + 7 * g.W), T(0));
    strip = buf.data();        // 6 x S: input rows transformed vertically, strip[1 + x] = column
                               // x; strip[0] and strip[1 + W..] stay zero (padding)
    phase = strip + 6 * S;     // 4 x P: phase[q][m] = strip row [4m + q]
    zero = phase + 4 * P;      // W zeros: the padding rows
    h = zero + g.W;            // 4 x tiles_x
    ostrip = h + 4 * g.tiles_x;  // 6 x W4: M transformed across tiles, interleaved
    orow = ostrip + 6 * W4;      // 4 x W4: output rows of a tile row
    masked = orow + 4 * W4;      // 7 x W: input rows masked and/or mirrored, and a temporary
  }
  // Moving keeps buf's storage, so the pointers stay valid; a copy would not.
  RowScratch(RowScratch&&) noexcept = default;
  RowScratch(const RowScratch&) = delete;
  RowScratch& operator=(const RowScratch&) = delete;
};

// V_ξ for the tiles_x tiles of tile row ty of one channel plane: V_ξ[tx] at V[ξ * xi_stride + tx].
// Flip (backward): the plane is read mirrored, and as plane ⊙ mask_plane with a mask.
template <bool Flip, class T>
void input_tile_row(const Geometry& g, const T* plane, const uint8_t* mask_plane, int64_t ty, T* V,
                    int64_t xi_stride, RowScratch<T>& s) {
  const int64_t S = g.strip(), P = g.tiles_x + 2;
  // 1. Down the columns: strip[i] = Σ_a BT[i][a] x[4ty - 1 + a][.], zero rows outside.
  const T* src[6];
  for (int a = 0; a < 6; ++a) {
    const int64_t yy = 4 * ty - 1 + a;
    if (yy < 0 || yy >= g.H) {
      src[a] = s.zero;
      continue;
    }
    const int64_t row = (Flip ? g.H - 1 - yy : yy) * g.W;
    const T* v = plane + row;
    src[a] = v;
    if constexpr (!Flip) continue;
    // Mirrored, and masked when there is a mask: rows in scratch.
    const uint8_t* m = mask_plane ? mask_plane + row : nullptr;
    T* out = s.masked + a * g.W;
    const int64_t last = g.W - 1;
    if (m) {  // two passes that vectorize (one reversed and masked does not, GCC 12)
      T* tmp = s.masked + 6 * g.W;
#pragma omp simd
      for (int64_t x = 0; x < g.W; ++x) {
        const T value = v[x];
        tmp[x] = m[x] ? value : T(0);
      }
#pragma omp simd
      for (int64_t x = 0; x < g.W; ++x) out[x] = tmp[last - x];
    } else {
#pragma omp simd
      for (int64_t x = 0; x < g.W; ++x) out[x] = v[last - x];
    }
    src[a] = out;
  }
  T* dst[6];
  for (int i = 0; i < 6; ++i) dst[i] = s.strip + i * S + 1;
  input_1d(src, dst, g.W);
  // 2. Across the tiles: tile tx reads strip[4tx .. 4tx + 5] of each row.
  for (int i = 0; i < 6; ++i) {
    const T* r = s.strip + i * S;
    T *p0 = s.phase, *p1 = p0 + P, *p2 = p1 + P, *p3 = p2 + P;
    deinterleave4(r, p0, p1, p2, p3, g.tiles_x + 1);
    const T* hs[6] = {p0, p1, p2, p3, p0 + 1, p1 + 1};
    T* out[6];
    for (int j = 0; j < 6; ++j) out[j] = V + (i * 6 + j) * xi_stride;
    input_1d(hs, out, g.tiles_x);
  }
}

// Output tile row ty of one channel plane from M_ξ[tx] at M[ξ * xi_stride + tx].
// Forward (no Flip): + bias, ReLU and mask as set; backward: plain. Accumulate or overwrite.
template <bool Flip, class T>
void output_tile_row(const Geometry& g, const T* M, int64_t xi_stride, int64_t ty, T* plane,
                     T bias, bool relu, uint8_t* mask_plane, bool accumulate, RowScratch<T>& s) {
  const int64_t W4 = 4 * g.tiles_x;
  // 1. Across the tiles: for each row i, h[b][tx] = Σ_j AT[b][j] M[i*6+j][tx], interleaved
  //    into ostrip[i][4tx + b].
  for (int i = 0; i < 6; ++i) {
    const T* src[6];
    for (int j = 0; j < 6; ++j) src[j] = M + (i * 6 + j) * xi_stride;
    T* h4[4] = {s.h, s.h + g.tiles_x, s.h + 2 * g.tiles_x, s.h + 3 * g.tiles_x};
    output_1d(src, h4, g.tiles_x);
    interleave4(h4[0], h4[1], h4[2], h4[3], s.ostrip + i * W4, g.tiles_x);
  }
  // 2. Down the columns: output row 4ty + a = Σ_i AT[a][i] ostrip[i].
  const T* src[6];
  for (int i = 0; i < 6; ++i) src[i] = s.ostrip + i * W4;
  T* o[4] = {s.orow, s.orow + W4, s.orow + 2 * W4, s.orow + 3 * W4};
  output_1d(src, o, g.W);
  for (int a = 0; a < 4 && 4 * ty + a < g.H; ++a) {
    const int64_t yy = 4 * ty + a;
    T* v = o[a];
    if constexpr (Flip) {
      T* dst = plane + (g.H - 1 - yy) * g.W + (g.W - 1);
      if (accumulate)
        for (int64_t x = 0; x < g.W; ++x) dst[-x] += v[x];
      else
        for (int64_t x = 0; x < g.W; ++x) dst[-x] = v[x];
    } else {
      T* dst = plane + yy * g.W;
      if (bias != T(0)) {
#pragma omp simd
        for (int64_t x = 0; x < g.W; ++x) v[x] += bias;
      }
      if (relu) {
        if (mask_plane) {
          uint8_t* m = mask_plane + yy * g.W;
#pragma omp simd
          for (int64_t x = 0; x < g.W; ++x) m[x] = v[x] > T(0);
        }
#pragma omp simd
        for (int64_t x = 0; x < g.W; ++x) v[x] = v[x] > T(0) ? v[x] : T(0);
      }
      if (accumulate) {
#pragma omp simd
        for (int64_t x = 0; x < g.W; ++x) dst[x] += v[x];
      } else {
#pragma omp simd
        for (int64_t x = 0; x < g.W; ++x) dst[x] = v[x];
      }
    }
  }
}

// Scratch of the calling thread for V and M of one group, kept between calls.
template <class T>
T* group_workspace(size_t n) {
  static thread_local Buffer<T> ws;
  if (ws.size() < n) ws.resize(n);
  return ws.data();
}

// The three steps on one group of `rows` tile rows from tile row ty0. V: (36, Ci, G) and
// M: (36, Co, G) with G >= rows * tiles_x. Inside a parallel region each step is split among
// the team (Shared); otherwise one thread does the whole group.
template <bool Backward, bool Shared, class T>
void run_group(const Geometry& g, const T* in, const T* U, T* out, const Extras<T>& ex, int64_t ty0,
               int64_t rows, int64_t G, T* V, T* M, RowScratch<T>& scratch) {
  constexpr bool Flip = Backward;
  const int64_t HW = g.H * g.W, Gn = rows * g.tiles_x;
  // U_ξ is (K x C) row-major: the forward's (Co x Ci); backward uses its transpose.
  const int64_t K = Backward ? g.Ci : g.Co, C = Backward ? g.Co : g.Ci;

  // Runs body(0..n-1): split among the team, or all here.
  auto each = [](int64_t n, auto&& body) {
    if constexpr (Shared) {
#pragma omp for schedule(dynamic)
      for (int64_t task = 0; task < n; ++task) body(task);
    } else {
      for (int64_t task = 0; task < n; ++task) body(task);
    }
  };

  // 1. V[ξ][c][t] = (B^T d B)[ξ] for every input channel and tile of the group.
  each(g.Ci * rows, [&](int64_t task) {
    const int64_t c = task / rows, r = task % rows;
    input_tile_row<Flip>(g, in + c * HW, ex.in_mask ? ex.in_mask + c * HW : nullptr, ty0 + r,
                         V + c * G + r * g.tiles_x, g.Ci * G, scratch);
  });

  // 2. M_ξ (Co x Gn) = W_ξ (Co x Ci) · V_ξ (Ci x Gn), one GEMM per position and column chunk.
  const int64_t ncc = (Gn + kGemmCols - 1) / kGemmCols;
  each(36 * ncc, [&](int64_t task) {
    const int64_t xi = task / ncc, j0 = (task % ncc) * kGemmCols;
    const int64_t jn = std::min(kGemmCols, Gn - j0);
    const T* uxi = U + xi * K * C;
    const T* vxi = V + xi * g.Ci * G + j0;
    T* mxi = M + xi * g.Co * G + j0;
    // Float on AVX2 + FMA: our register-blocked kernel (sgemm.h), 1.4-1.6x Eigen here.
    // Elsewhere (double, portable builds) Eigen, which is faster than sgemm's fallback.
    if constexpr (std::is_same_v<T, float>) {
      if (detail::sgemm_uses_avx2()) {
        if constexpr (Backward)
          sgemm(g.Co, jn, g.Ci, uxi, 1, C, vxi, G, mxi, G);  // U_ξᵀ: (i, k) at U_ξ[k][i]
        else
          sgemm(g.Co, jn, g.Ci, uxi, C, 1, vxi, G, mxi, G);
        return;
      }
    }
    const ConstStrided<T> u(uxi, K, C, Eigen::OuterStride<>(C));
    const ConstStrided<T> v(vxi, g.Ci, jn, Eigen::OuterStride<>(G));  // double: Eigen
    Strided<T> m(mxi, g.Co, jn, Eigen::OuterStride<>(G));
    if constexpr (Backward)
      m.noalias() = u.transpose() * v;
    else
      m.noalias() = u * v;
  });

  // 3. out tiles = A^T M A for every output channel and tile of the group.
  each(g.Co * rows, [&](int64_t task) {
    const int64_t k = task / rows, r = task % rows;
    output_tile_row<Flip>(g, M + k * G + r * g.tiles_x, g.Co * G, ty0 + r, out + k * HW,
                          ex.epi.bias ? ex.epi.bias[k] : T(0), ex.epi.relu, ex.epi.mask ? ex.epi.mask + k * HW : nullptr,
                          ex.accumulate, scratch);
  });
}

template <bool Backward, class T>
void winograd_conv(const Geometry& g, const T* in, const T* U, T* out, const Extras<T>& ex) {
  // Per-thread row scratch, allocated here so that running out of memory throws to the caller.
  std::vector<RowScratch<T>> scratches;
  scratches.reserve(static_cast<size_t>(omp_get_max_threads()));
  for (int i = 0; i < omp_get_max_threads(); ++i) scratches.emplace_back(g);
  const int64_t tile_bytes = 36 * (g.Ci + g.Co) * static_cast<int64_t>(sizeof(T));

  // Images of many tiles: each thread takes whole groups (rounded up to tile rows) with its own
  // V and M: no barrier between groups. Up to 128 x 128 channels, where packing U_ξ is cheap,
  // groups of 128 tiles stay closer to the cache than 256 (512 px, 1 thread: conv1_2 117 vs
  // 130 ms, conv2_1 57 vs 62 ms forward).
  const int64_t own_tiles = g.Ci * g.Co <= 128 * 128 ? kOwnGroupTiles : kMinGroupTiles;
  const int64_t own_rows = std::min(g.tiles_y, (own_tiles + g.tiles_x - 1) / g.tiles_x);
  const int64_t own_groups = (g.tiles_y + own_rows - 1) / own_rows;
  if (own_groups >= kMinOwnGroups) {
    const int64_t G = own_rows * g.tiles_x;
    bool failed = false;
#pragma omp parallel
    {
      RowScratch<T>& scratch = scratches[static_cast<size_t>(omp_get_thread_num())];
      T* V = nullptr;
      try {
        V = group_workspace<T>(static_cast<size_t>(G * tile_bytes / static_cast<int64_t>(sizeof(T))));
      } catch (const std::bad_alloc&) {
#pragma omp atomic write
        failed = true;
      }
#pragma omp for schedule(dynamic)
      for (int64_t grp = 0; grp < own_groups; ++grp) {
        if (!V) continue;
        const int64_t ty0 = grp * own_rows, rows = std::min(own_rows, g.tiles_y - ty0);
        run_group<Backward, false>(g, in, U, out, ex, ty0, rows, G, V, V + 36 * g.Ci * G, scratch);
      }
    }
    if (failed) throw std::bad_alloc();
    return;
  }

  // Few tiles (deep layers): groups as large as the budget allows, each split among the team.
  const int64_t group_rows =
      std::clamp<int64_t>(std::max(kGroupBytes / (tile_bytes * g.tiles_x), own_rows), 1, g.tiles_y);
  const int64_t G = group_rows * g.tiles_x;
  T* V = group_workspace<T>(static_cast<size_t>(G * tile_bytes / static_cast<int64_t>(sizeof(T))));
#pragma omp parallel
  {
    RowScratch<T>& scratch = scratches[static_cast<size_t>(omp_get_thread_num())];
    for (int64_t ty0 = 0; ty0 < g.tiles_y; ty0 += group_rows)
      run_group<Backward, true>(g, in, U, out, ex, ty0, std::min(group_rows, g.tiles_y - ty0), G, V,
                                V + 36 * g.Ci * G, scratch);
  }
}

Geometry geometry(const ConvShape& s, bool backward) {
  if (!winograd_supports(s))
    throw std::invalid_argument("winograd conv: needs a 3x3 kernel with padding 1 (R=" +
                                std::to_string(s.R) + " pad=" + std::to_string(s.pad) + ")");
  const int64_t tiles_x = (s.W + 3) / 4, tiles_y = (s.H + 3) / 4;
  return {backward ? s.K : s.C, backward ? s.C : s.K, s.H, s.W, tiles_x, tiles_y, tiles_x * tiles_y};
}

}  // namespace

template <class T>
void winograd_transform_weights(int64_t K, int64_t C, const T* w, T* U) {
  //   G = [ 1/4     0     0 ]
  //       [-1/6  -1/6  -1/6 ]
  //       [-1/6   1/6  -1/6 ]
  //       [1/24  1/12   1/6 ]
  //       [1/24 -1/12   1/6 ]
  //       [   0     0     1 ]
  static const double G[6][3] = {{1.0 / 4, 0, 0},
                                 {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                 {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                 {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                 {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                 {0, 0, 1}};
#pragma omp parallel for schedule(static)
  for (int64_t kc = 0; kc < K * C; ++kc) {
    const T* g = w + kc * 9;
    double gg[6][3];  // G g
    for (int i = 0; i < 6; ++i)
      for (int q = 0; q < 3; ++q)
        gg[i][q] = G[i][0] * static_cast<double>(g[0 * 3 + q]) + G[i][1] * static_cast<double>(g[1 * 3 + q]) +
                   G[i][2] * static_cast<double>(g[2 * 3 + q]);
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j)
        U[(i * 6 + j) * K * C + kc] =
            static_cast<T>(gg[i][0] * G[j][0] + gg[i][1] * G[j][1] + gg[i][2] * G[j][2]);
  }
}

template <class T>
void conv3x3_forward_winograd(const ConvShape& s, const T* x, const T* U, T* y, const ConvEpilogue<T>& epi) {
  if (epi.mask && !epi.relu) throw std::invalid_argument("winograd conv: a mask needs relu");
  Extras<T> ex;
  ex.epi = epi;
  winograd_conv<false>(geometry(s, false), x, U, y, ex);
}

template <class T>
void conv3x3_backward_input_winograd(const ConvShape& s, const T* dy, const T* U, T* dx,
                                     const uint8_t* mask, bool accumulate) {
  Extras<T> ex;
  ex.in_mask = mask;
  ex.accumulate = accumulate;
  winograd_conv<true>(geometry(s, true), dy, U, dx, ex);
}

#define NST_INSTANTIATE(T)                                                                      \
  template void winograd_transform_weights<T>(int64_t, int64_t, const T*, T*);                  \
  template void conv3x3_forward_winograd<T>(const ConvShape&, const T*, const T*, T*,            \
                                            const ConvEpilogue<T>&);                            \
  template void conv3x3_backward_input_winograd<T>(const ConvShape&, const T*, const T*, T*,     \
                                                   const uint8_t*, bool);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)
#undef NST_INSTANTIATE

}  // namespace nst::kernels
