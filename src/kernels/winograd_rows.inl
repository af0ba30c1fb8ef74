// The Winograd tile-row transforms (nst/kernels/winograd_rows.h), included by each kernel set's
// file inside its own namespace and compiled with its flags. Needs <cstdint>, <immintrin.h>
// where __AVX2__ is defined, and <algorithm> and <type_traits> where __AVX512F__ is.

// The 1-D transforms, applied to 6 (or 4) rows of n values each; vectorized across the rows'
// elements (the tiles). Interpolation points 0, ±2/3, ±3/2 and infinity (winograd.h), the rows
// of B^T and the ±2/3 columns of A^T scaled so that every coefficient is exact in binary (G
// takes the inverse factors; benchmarks/winograd_points.py --nst derives and checks them):
//   B^T = [9    0   -97/4      0    9  0]    A^T = [1   27   27     1     1  0]
//         [0  9/4    27/8     -1 -3/2  0]          [0   18  -18   3/2  -3/2  0]
//         [0  9/4   -27/8     -1  3/2  0]          [0   12   12   9/4   9/4  0]
//         [0  3/2       1  -27/8 -9/4  0]          [0    8   -8  27/8 -27/8  1]
//         [0  3/2      -1  -27/8  9/4  0]
//         [0    9       0  -97/4    0  9]
template <class T>
inline void input_1d(const T* const in[6], T* const out[6], int64_t n) {
  const T *d0 = in[0], *d1 = in[1], *d2 = in[2], *d3 = in[3], *d4 = in[4], *d5 = in[5];
  T *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3], *o4 = out[4], *o5 = out[5];
#pragma omp simd
  for (int64_t s = 0; s < n; ++s) {
    const T a = T(2.25) * d1[s] - d3[s];  // shared by rows 1 and 2
    const T b = T(3.375) * d2[s] - T(1.5) * d4[s];
    const T c = T(1.5) * d1[s] - T(3.375) * d3[s];  // shared by rows 3 and 4
    const T e = d2[s] - T(2.25) * d4[s];
    o0[s] = T(9) * (d0[s] + d4[s]) - T(24.25) * d2[s];
    o1[s] = a + b;
    o2[s] = a - b;
    o3[s] = c + e;
    o4[s] = c - e;
    o5[s] = T(9) * (d1[s] + d5[s]) - T(24.25) * d3[s];
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
    o0[s] = m0[s] + T(27) * p12 + p34;
    o1[s] = T(18) * d12 + T(1.5) * d34;
    o2[s] = T(12) * p12 + T(2.25) * p34;
    o3[s] = T(8) * d12 + T(3.375) * d34 + m5[s];
  }
}

// p_q[m] = r[4m + q] for m < n, q < 4 (a 4-way deinterleave), and its inverse, for the rows
// kept in scratch (the AVX2 and portable sets, and double). Compilers do not vectorize these
// strided loops; with AVX2 they are permutes in registers, 8 values of each phase at a time,
// the rest one by one.

template <class T>
inline void deinterleave4(const T* r, T* p0, T* p1, T* p2, T* p3, int64_t n) {
  int64_t m = 0;
#if defined(__AVX2__)
  if constexpr (sizeof(T) == 4) {
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
  if constexpr (sizeof(T) == 4) {
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

// The row scratch, carved from one zero-filled block (winograd_row_scratch_size values).
template <class T>
struct RowScratch {
  T *strip, *phase, *zero, *h, *ostrip, *orow, *masked;
  RowScratch(const WinogradGeometry& g, T* base) {
    const int64_t S = 4 * g.tiles_x + 8, P = g.tiles_x + 2, W4 = 4 * g.tiles_x;
    strip = base;                // 6 x S: input rows transformed vertically, strip[1 + x] = column
                                 // x; strip[0] and strip[1 + W..] stay zero (padding)
    phase = strip + 6 * S;       // 4 x P: phase[q][m] = strip row [4m + q]
    zero = phase + 4 * P;        // W zeros: the padding rows
    h = zero + g.W;              // 4 x tiles_x
    ostrip = h + 4 * g.tiles_x;  // 6 x W4: M transformed across tiles, interleaved
    orow = ostrip + 6 * W4;      // 4 x W4: output rows of a tile row
    masked = orow + 4 * W4;      // 7 x W: input rows masked and/or mirrored, and a temporary
  }
};

// V_ξ for the tiles_x tiles of tile row ty of one channel plane.
template <bool Flip, class T>
void input_tile_row(const WinogradRowArgs<T>& args) {
  const WinogradGeometry& g = *args.g;
  const RowScratch<T> s(g, args.scratch);
  const T* plane = args.plane_in;
  const uint8_t* mask_plane = args.mask_in;
  const int64_t ty = args.ty, xi_stride = args.xi_stride;
  T* V = args.v;
  const int64_t S = 4 * g.tiles_x + 8, P = g.tiles_x + 2;
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

#if defined(__AVX512F__)
// The same transforms in registers, a vector of WinogradVec::kLanes tiles at a time, without
// the scratch rows: the operations of input_1d and output_1d in their order, so the bits of
// input_tile_row and output_tile_row. Those store a strip or its phases and at once read them
// back, the input's at p0 + 1, a load that straddles two recent stores and so waits for them to
// retire (perf put 40% of the input transform on that load). A vector set plugs in with its
// WinogradVec (winograd_zmm.inl: AVX-512, 16 tiles). AVX2 keeps the scratch rows: the same code
// with 8-float vectors measured slower there, input 1.3x in the backward (16 registers: half
// the vertical pass spills; its shuffles all take one port).
#include "winograd_zmm.inl"

using Vec = WinogradVec;
using VecF = Vec::V;
constexpr int kVecTiles = Vec::kLanes;

// input_1d's rows 0-2 from d0..d4 (Half 0), or its rows 3-5 from d1..d5 (Half 1).
template <int Half>
inline void input_1d_vec(const VecF d[6], VecF o[3]) {
  const auto k = Vec::set1;
  if constexpr (Half == 0) {
    const VecF a = Vec::sub(Vec::mul(k(2.25f), d[1]), d[3]);
    const VecF b = Vec::sub(Vec::mul(k(3.375f), d[2]), Vec::mul(k(1.5f), d[4]));
    o[0] = Vec::sub(Vec::mul(k(9.f), Vec::add(d[0], d[4])), Vec::mul(k(24.25f), d[2]));
    o[1] = Vec::add(a, b);
    o[2] = Vec::sub(a, b);
  } else {
    const VecF c = Vec::sub(Vec::mul(k(1.5f), d[1]), Vec::mul(k(3.375f), d[3]));
    const VecF e = Vec::sub(d[2], Vec::mul(k(2.25f), d[4]));
    o[0] = Vec::add(c, e);
    o[1] = Vec::sub(c, e);
    o[2] = Vec::sub(Vec::mul(k(9.f), Vec::add(d[1], d[5])), Vec::mul(k(24.25f), d[3]));
  }
}

inline void output_1d_vec(const VecF m[6], VecF o[4]) {
  const auto k = Vec::set1;
  const VecF p12 = Vec::add(m[1], m[2]), d12 = Vec::sub(m[1], m[2]);
  const VecF p34 = Vec::add(m[3], m[4]), d34 = Vec::sub(m[3], m[4]);
  o[0] = Vec::add(Vec::add(m[0], Vec::mul(k(27.f), p12)), p34);
  o[1] = Vec::add(Vec::mul(k(18.f), d12), Vec::mul(k(1.5f), d34));
  o[2] = Vec::add(Vec::mul(k(12.f), p12), Vec::mul(k(2.25f), p34));
  o[3] = Vec::add(Vec::add(Vec::mul(k(8.f), d12), Vec::mul(k(3.375f), d34)), m[5]);
}

// The lanes lo .. hi - 1 of a vector of columns x0 .. x0 + kLanes - 1 that lie in 0 .. W - 1.
struct Lanes {
  int lo, hi;
  Lanes(int64_t x0, int64_t W)
      : lo(static_cast<int>(std::clamp<int64_t>(-x0, 0, Vec::kLanes))),
        hi(static_cast<int>(std::clamp<int64_t>(W - x0, lo, Vec::kLanes))) {}
};

// Columns x0 .. x0 + kLanes - 1 of an image row of W values, zero outside 0 .. W - 1. Flip: the
// row is stored mirrored (column x at W - 1 - x); Masked: read as row ⊙ mask.
template <bool Flip, bool Masked>
inline VecF load_columns(const float* row, const uint8_t* mask, int64_t x0, int64_t W) {
  if constexpr (!Flip) {
    const Lanes in(x0, W);
    return Vec::load(row + x0, in.lo, in.hi);
  } else {
    const int64_t base = W - Vec::kLanes - x0;  // where column x0 + kLanes - 1 is stored
    const Lanes in(base, W);
    if constexpr (Masked) return Vec::reverse(Vec::load_nonzero(row + base, mask + base, in.lo, in.hi));
    return Vec::reverse(Vec::load(row + base, in.lo, in.hi));
  }
}

// V_ξ of a tile row, kVecTiles tiles at a time: their columns 4·tx0 - 1 .. 4·tx0 + 4·kVecTiles
// are four vectors and two values of a fifth, which is the next block's first.
// Masked (backward only): the input is read as plane_in ⊙ mask_in.
template <bool Flip, bool Masked>
void input_tile_row_vec(const WinogradRowArgs<float>& args) {
  const WinogradGeometry& g = *args.g;
  const RowScratch<float> s(g, args.scratch);
  const int64_t xi_stride = args.xi_stride, W = g.W;
  float* V = args.v;
  const float* rows[6];  // image rows 4ty - 1 .. 4ty + 4; a zero row outside the image
  const uint8_t* masks[6];
  for (int a = 0; a < 6; ++a) {
    const int64_t yy = 4 * args.ty - 1 + a;
    const bool inside = yy >= 0 && yy < g.H;
    const int64_t row = (Flip ? g.H - 1 - yy : yy) * W;
    rows[a] = inside ? args.plane_in + row : s.zero;
    masks[a] = inside && Masked ? args.mask_in + row : reinterpret_cast<const uint8_t*>(s.zero);
  }
  // Strip rows 0-2, then 3-5 (input_1d_vec's halves), each through both passes: 15 vectors of
  // the vertical pass live at a time.
  auto half = [&](auto h) {
    constexpr int Half = decltype(h)::value;
    // Down the columns: strip row Half·3 + i at the kLanes columns from x0.
    auto vertical = [&](int64_t x0, VecF out[3]) {
      VecF d[6];
#pragma GCC unroll 5
      for (int a = Half; a < Half + 5; ++a) d[a] = load_columns<Flip, Masked>(rows[a], masks[a], x0, W);
      input_1d_vec<Half>(d, out);
    };
    VecF strip[3][5];  // [i][c]: strip row Half·3 + i at columns 4·tx0 - 1 + kLanes·c
    VecF col[3];
    vertical(-1, col);
#pragma GCC unroll 3
    for (int i = 0; i < 3; ++i) strip[i][0] = col[i];
    for (int64_t tx0 = 0; tx0 < g.tiles_x; tx0 += kVecTiles) {
#pragma GCC unroll 4
      for (int c = 1; c < 5; ++c) {
        vertical(4 * tx0 - 1 + Vec::kLanes * c, col);
#pragma GCC unroll 3
        for (int i = 0; i < 3; ++i) strip[i][c] = col[i];
      }
      const int n = static_cast<int>(std::min<int64_t>(kVecTiles, g.tiles_x - tx0));
      // Across the tiles: tile tx reads strip columns 4tx - 1 .. 4tx + 4, the phases p0..p3
      // and p0, p1 of the next tile.
#pragma GCC unroll 3
      for (int i = 0; i < 3; ++i) {
        VecF p[6], o[6];
        Vec::deinterleave4(strip[i], p);
        p[4] = Vec::next(p[0], strip[i][4], 0);
        p[5] = Vec::next(p[1], strip[i][4], 1);
        input_1d_vec<0>(p, o);
        input_1d_vec<1>(p, o + 3);
        float* v = V + (Half * 3 + i) * 6 * xi_stride + tx0;
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) Vec::store(v + j * xi_stride, 0, n, o[j]);
      }
#pragma GCC unroll 3
      for (int i = 0; i < 3; ++i) strip[i][0] = strip[i][4];
    }
  };
  half(std::integral_constant<int, 0>());
  half(std::integral_constant<int, 1>());
}

// Output tile row ty from M, kVecTiles tiles (4·kVecTiles columns) at a time.
template <bool Flip>
void output_tile_row_vec(const WinogradRowArgs<float>& args) {
  const WinogradGeometry& g = *args.g;
  const float* M = args.m;
  const int64_t xi_stride = args.xi_stride, W = g.W;
  const bool relu = args.relu, accumulate = args.accumulate, add_bias = args.bias != 0.f;
  const VecF bias = Vec::set1(args.bias);
  const int rows = static_cast<int>(std::min<int64_t>(4, g.H - 4 * args.ty));
  float* out_row[4];
  uint8_t* mask_row[4];
  for (int a = 0; a < 4; ++a) {
    const int64_t yy = 4 * args.ty + a;
    out_row[a] = args.plane_out + (Flip ? g.H - 1 - yy : yy) * W;
    mask_row[a] = args.mask_out ? args.mask_out + yy * W : nullptr;
  }
  // Output row a, columns x0 .. x0 + kLanes - 1 (those below W), from v: mirrored (Flip), or
  // with bias, ReLU and mask; added to the row when accumulating.
  auto store = [&](int a, int64_t x0, VecF v) {
    int64_t at = x0;
    if constexpr (Flip) {
      at = W - Vec::kLanes - x0;  // where column x0 + kLanes - 1 goes
      v = Vec::reverse(v);
    } else {
      if (add_bias) v = Vec::add(v, bias);
      if (relu) {
        const Vec::Flags positive = Vec::positive(v);
        if (mask_row[a]) {
          const Lanes in(x0, W);
          Vec::store_flags(mask_row[a] + x0, in.lo, in.hi, positive);
        }
        v = Vec::keep(positive, v);
      }
    }
    const Lanes in(at, W);
    float* dst = out_row[a] + at;
    if (accumulate) v = Vec::add(Vec::load(dst, in.lo, in.hi), v);
    Vec::store(dst, in.lo, in.hi, v);
  };
  for (int64_t tx0 = 0; tx0 < g.tiles_x; tx0 += kVecTiles) {
    const int n = static_cast<int>(std::min<int64_t>(kVecTiles, g.tiles_x - tx0));
    // 1. Across the tiles, row i of M: 4 values per tile, interleaved into 4·kLanes columns.
    VecF strip[6][4];
#pragma GCC unroll 6
    for (int i = 0; i < 6; ++i) {
      VecF m[6], h[4];
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) m[j] = Vec::load(M + (i * 6 + j) * xi_stride + tx0, 0, n);
      output_1d_vec(m, h);
      Vec::interleave4(h, strip[i]);
    }
    // 2. Down the columns: output row a = Σ_i AT[a][i] strip[i].
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const int64_t x0 = 4 * tx0 + Vec::kLanes * c;
      if (x0 >= W) break;
      const VecF col[6] = {strip[0][c], strip[1][c], strip[2][c], strip[3][c], strip[4][c], strip[5][c]};
      VecF o[4];
      output_1d_vec(col, o);
      for (int a = 0; a < rows; ++a) store(a, x0, o[a]);
    }
  }
}
#endif

// Output tile row ty of one channel plane from M.
template <bool Flip, class T>
void output_tile_row(const WinogradRowArgs<T>& args) {
  const WinogradGeometry& g = *args.g;
  const RowScratch<T> s(g, args.scratch);
  const T* M = args.m;
  const int64_t xi_stride = args.xi_stride, ty = args.ty;
  T* plane = args.plane_out;
  const T bias = args.bias;
  const bool relu = args.relu, accumulate = args.accumulate;
  uint8_t* mask_plane = args.mask_out;
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

template <class T>
void input_row(const WinogradRowArgs<T>& a) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) {
    if (!a.flip)
      input_tile_row_vec<false, false>(a);
    else if (a.mask_in)
      input_tile_row_vec<true, true>(a);
    else
      input_tile_row_vec<true, false>(a);
    return;
  }
#endif
  if (a.flip)
    input_tile_row<true>(a);
  else
    input_tile_row<false>(a);
}

template <class T>
void output_row(const WinogradRowArgs<T>& a) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) {
    if (a.flip)
      output_tile_row_vec<true>(a);
    else
      output_tile_row_vec<false>(a);
    return;
  }
#endif
  if (a.flip)
    output_tile_row<true>(a);
  else
    output_tile_row<false>(a);
}
