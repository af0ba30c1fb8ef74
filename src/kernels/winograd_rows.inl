// The Winograd tile-row transforms (nst/kernels/winograd_rows.h), included by each kernel set's
// file inside its own namespace and compiled with its flags. Needs <cstdint>, and
// <immintrin.h> where __AVX2__ is defined.

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

// p_q[m] = r[4m + q] for m < n, q < 4 (a 4-way deinterleave), and its inverse. Compilers do not
// vectorize these strided loops; for float they are permutes in registers, 16 values of each
// phase at a time with AVX-512, then 8 with AVX2, the rest one by one.
#if defined(__AVX512F__)
// Lane indices for _mm512_permutex2var_ps over a pair (a, b): even/odd elements of a:b, and
// a's or b's halves interleaved.
inline __m512i even_lanes() { return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30); }
inline __m512i odd_lanes() { return _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31); }
inline __m512i zip_low() { return _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23); }
inline __m512i zip_high() { return _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31); }
#endif

template <class T>
inline void deinterleave4(const T* r, T* p0, T* p1, T* p2, T* p3, int64_t n) {
  int64_t m = 0;
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) {  // 16 at a time: even/odd twice, 8 permutes per 64 values
    const __m512i ev = even_lanes(), od = odd_lanes();
    for (; m + 16 <= n; m += 16) {
      const float* q = r + 4 * m;
      const __m512 z0 = _mm512_loadu_ps(q), z1 = _mm512_loadu_ps(q + 16);
      const __m512 z2 = _mm512_loadu_ps(q + 32), z3 = _mm512_loadu_ps(q + 48);
      const __m512 e01 = _mm512_permutex2var_ps(z0, ev, z1), o01 = _mm512_permutex2var_ps(z0, od, z1);
      const __m512 e23 = _mm512_permutex2var_ps(z2, ev, z3), o23 = _mm512_permutex2var_ps(z2, od, z3);
      _mm512_storeu_ps(p0 + m, _mm512_permutex2var_ps(e01, ev, e23));
      _mm512_storeu_ps(p1 + m, _mm512_permutex2var_ps(o01, ev, o23));
      _mm512_storeu_ps(p2 + m, _mm512_permutex2var_ps(e01, od, e23));
      _mm512_storeu_ps(p3 + m, _mm512_permutex2var_ps(o01, od, o23));
    }
  }
#endif
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
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) {  // 16 at a time: two rounds of zips, 8 permutes per 64 values
    const __m512i lo = zip_low(), hi = zip_high();
    for (; m + 16 <= n; m += 16) {
      const __m512 x = _mm512_loadu_ps(p0 + m), y = _mm512_loadu_ps(p1 + m);
      const __m512 z = _mm512_loadu_ps(p2 + m), w = _mm512_loadu_ps(p3 + m);
      const __m512 xz_lo = _mm512_permutex2var_ps(x, lo, z), xz_hi = _mm512_permutex2var_ps(x, hi, z);
      const __m512 yw_lo = _mm512_permutex2var_ps(y, lo, w), yw_hi = _mm512_permutex2var_ps(y, hi, w);
      float* q = r + 4 * m;
      _mm512_storeu_ps(q, _mm512_permutex2var_ps(xz_lo, lo, yw_lo));
      _mm512_storeu_ps(q + 16, _mm512_permutex2var_ps(xz_lo, hi, yw_lo));
      _mm512_storeu_ps(q + 32, _mm512_permutex2var_ps(xz_hi, lo, yw_hi));
      _mm512_storeu_ps(q + 48, _mm512_permutex2var_ps(xz_hi, hi, yw_hi));
    }
  }
#endif
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
// The same transform in registers, 16 tiles at a time (AVX-512, float): the operations of
// input_1d in its order, so the same bits as input_tile_row, without its scratch rows. Those
// are stored and at once read back at offsets that straddle two stores (p0 + 1), which stalls
// on store forwarding: perf put 40% of input_tile_row's time on that first load.

// input_1d's rows 0-2 from d0..d4 (the first half) and rows 3-5 from d1..d5 (the second), in
// its operations and order.
template <int Half>
inline void input_1d_half_zmm(const __m512 d[6], __m512 o[3]) {
  const auto k = [](float v) { return _mm512_set1_ps(v); };
  const auto mul = [](__m512 x, __m512 y) { return _mm512_mul_ps(x, y); };
  if constexpr (Half == 0) {
    const __m512 a = _mm512_sub_ps(mul(k(2.25f), d[1]), d[3]);
    const __m512 b = _mm512_sub_ps(mul(k(3.375f), d[2]), mul(k(1.5f), d[4]));
    o[0] = _mm512_sub_ps(mul(k(9.f), _mm512_add_ps(d[0], d[4])), mul(k(24.25f), d[2]));
    o[1] = _mm512_add_ps(a, b);
    o[2] = _mm512_sub_ps(a, b);
  } else {
    const __m512 c = _mm512_sub_ps(mul(k(1.5f), d[1]), mul(k(3.375f), d[3]));
    const __m512 e = _mm512_sub_ps(d[2], mul(k(2.25f), d[4]));
    o[0] = _mm512_add_ps(c, e);
    o[1] = _mm512_sub_ps(c, e);
    o[2] = _mm512_sub_ps(mul(k(9.f), _mm512_add_ps(d[1], d[5])), mul(k(24.25f), d[3]));
  }
}

inline void input_1d_zmm(const __m512 d[6], __m512 o[6]) {
  input_1d_half_zmm<0>(d, o);
  input_1d_half_zmm<1>(d, o + 3);
}

// Lanes l of 16 with 0 <= x0 + l < W.
inline __mmask16 columns_inside(int64_t x0, int64_t W) {
  const int64_t lo = std::max<int64_t>(0, -x0), hi = std::min<int64_t>(16, W - x0);
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
}

// The input rows 4ty - 1 .. 4ty + 4 of one tile row, as input_1d_half_zmm reads them.
template <bool Flip>
struct InputRows {
  const float* row[6];      // a zero row for those outside the image
  const uint8_t* mask[6];   // Flip: the mask's rows, or null
  int64_t W;

  // Columns x0 .. x0 + 15 of rows a0 .. a0 + 4, zero outside 0 .. W - 1. Flip: each row is
  // stored mirrored (column x at W - 1 - x) and read as row ⊙ mask when mask is set.
  void load(int a0, int64_t x0, __m512 d[6]) const {
    if constexpr (!Flip) {
      const __mmask16 m = columns_inside(x0, W);
#pragma GCC unroll 5
      for (int a = a0; a < a0 + 5; ++a) d[a] = _mm512_maskz_loadu_ps(m, row[a] + x0);
    } else {
      const int64_t base = W - 16 - x0;  // where column x0 + 15 is stored
      const __mmask16 inside = columns_inside(base, W);
      const __m512i reversed = _mm512_setr_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
#pragma GCC unroll 5
      for (int a = a0; a < a0 + 5; ++a) {
        __mmask16 m = inside;
        if (mask[a]) {
          const __m128i bytes = _mm_maskz_loadu_epi8(m, mask[a] + base);
          m &= _mm_test_epi8_mask(bytes, bytes);
        }
        // (unmasked permutexvar: GCC 12 warns in its own header)
        d[a] = _mm512_maskz_permutexvar_ps(0xFFFF, reversed, _mm512_maskz_loadu_ps(m, row[a] + base));
      }
    }
  }
};

template <bool Flip>
void input_tile_row_zmm(const WinogradRowArgs<float>& args) {
  const WinogradGeometry& g = *args.g;
  const RowScratch<float> s(g, args.scratch);
  const int64_t xi_stride = args.xi_stride;
  float* V = args.v;
  InputRows<Flip> in;
  in.W = g.W;
  for (int a = 0; a < 6; ++a) {
    const int64_t yy = 4 * args.ty - 1 + a;
    const bool inside = yy >= 0 && yy < g.H;
    const int64_t row = (Flip ? g.H - 1 - yy : yy) * g.W;
    in.row[a] = inside ? args.plane_in + row : s.zero;
    in.mask[a] = inside && args.mask_in ? args.mask_in + row : nullptr;
  }
  const __m512i ev = even_lanes(), od = odd_lanes();
  const __m512i next0 = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
  const __m512i next1 = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17);
  // Output rows 0-2, then 3-5 (input_1d_half_zmm), each through both passes: 15 vectors of the
  // vertical pass live at a time.
  auto half = [&](auto h) {
    constexpr int Half = decltype(h)::value;
    // strip[i][c]: strip row Half·3 + i (down the columns) at columns 4·tx0 - 1 + 16c. Tiles
    // tx0 .. tx0 + 15 read columns 4·tx0 - 1 .. 4·tx0 + 64: four vectors and two values of a
    // fifth, which is the next block's first.
    __m512 strip[3][5];
    __m512 d[6];
    __m512 col[3];
    in.load(Half, -1, d);
    input_1d_half_zmm<Half>(d, col);
#pragma GCC unroll 3
    for (int i = 0; i < 3; ++i) strip[i][0] = col[i];
    for (int64_t tx0 = 0; tx0 < g.tiles_x; tx0 += 16) {
      const int64_t x0 = 4 * tx0 - 1;
#pragma GCC unroll 4
      for (int c = 1; c < 5; ++c) {
        in.load(Half, x0 + 16 * c, d);
        input_1d_half_zmm<Half>(d, col);
#pragma GCC unroll 3
        for (int i = 0; i < 3; ++i) strip[i][c] = col[i];
      }
      const int64_t n = std::min<int64_t>(16, g.tiles_x - tx0);
      const __mmask16 keep = static_cast<__mmask16>(n == 16 ? 0xFFFF : (1u << n) - 1);
      // Across the tiles: tile tx reads strip columns 4tx - 1 .. 4tx + 4, the phases p0..p3
      // and p0, p1 of the next tile.
#pragma GCC unroll 3
      for (int i = 0; i < 3; ++i) {
        const __m512* r = strip[i];
        const __m512 e01 = _mm512_permutex2var_ps(r[0], ev, r[1]), o01 = _mm512_permutex2var_ps(r[0], od, r[1]);
        const __m512 e23 = _mm512_permutex2var_ps(r[2], ev, r[3]), o23 = _mm512_permutex2var_ps(r[2], od, r[3]);
        __m512 p[6], o[6];
        p[0] = _mm512_permutex2var_ps(e01, ev, e23);
        p[1] = _mm512_permutex2var_ps(o01, ev, o23);
        p[2] = _mm512_permutex2var_ps(e01, od, e23);
        p[3] = _mm512_permutex2var_ps(o01, od, o23);
        p[4] = _mm512_permutex2var_ps(p[0], next0, r[4]);
        p[5] = _mm512_permutex2var_ps(p[1], next1, r[4]);
        input_1d_zmm(p, o);
        float* v = V + (Half * 3 + i) * 6 * xi_stride + tx0;
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) _mm512_mask_storeu_ps(v + j * xi_stride, keep, o[j]);
      }
#pragma GCC unroll 3
      for (int i = 0; i < 3; ++i) strip[i][0] = strip[i][4];
    }
  };
  half(std::integral_constant<int, 0>());
  half(std::integral_constant<int, 1>());
}

// output_1d on 6 vectors, its operations in its order.
inline void output_1d_zmm(const __m512 m[6], __m512 o[4]) {
  const auto k = [](float v) { return _mm512_set1_ps(v); };
  const auto mul = [](__m512 x, __m512 y) { return _mm512_mul_ps(x, y); };
  const __m512 p12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
  const __m512 p34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
  o[0] = _mm512_add_ps(_mm512_add_ps(m[0], mul(k(27.f), p12)), p34);
  o[1] = _mm512_add_ps(mul(k(18.f), d12), mul(k(1.5f), d34));
  o[2] = _mm512_add_ps(mul(k(12.f), p12), mul(k(2.25f), p34));
  o[3] = _mm512_add_ps(_mm512_add_ps(mul(k(8.f), d12), mul(k(3.375f), d34)), m[5]);
}

// The output transform in registers, 16 tiles (64 columns) at a time: output_tile_row's
// operations in its order, without its scratch rows.
template <bool Flip>
void output_tile_row_zmm(const WinogradRowArgs<float>& args) {
  const WinogradGeometry& g = *args.g;
  const float* M = args.m;
  const int64_t xi_stride = args.xi_stride, W = g.W;
  const bool relu = args.relu, accumulate = args.accumulate, add_bias = args.bias != 0.f;
  const __m512 bias = _mm512_set1_ps(args.bias), zero = _mm512_setzero_ps();
  const __m512i lo = zip_low(), hi = zip_high();
  const __m512i reversed = _mm512_setr_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const int rows = static_cast<int>(std::min<int64_t>(4, g.H - 4 * args.ty));
  float* out_row[4];
  uint8_t* mask_row[4];
  for (int a = 0; a < 4; ++a) {
    const int64_t yy = 4 * args.ty + a;
    out_row[a] = args.plane_out + (Flip ? g.H - 1 - yy : yy) * W;
    mask_row[a] = args.mask_out ? args.mask_out + yy * W : nullptr;
  }
  // Output row a, columns x0 .. x0 + 15 (those below W), from v.
  auto store = [&](int a, int64_t x0, __m512 v) {
    if constexpr (Flip) {
      const int64_t base = W - 16 - x0;  // where column x0 + 15 goes
      const __mmask16 m = columns_inside(base, W);
      v = _mm512_maskz_permutexvar_ps(0xFFFF, reversed, v);
      float* dst = out_row[a] + base;
      if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst), v);
      _mm512_mask_storeu_ps(dst, m, v);
    } else {
      const __mmask16 m = columns_inside(x0, W);
      if (add_bias) v = _mm512_add_ps(v, bias);
      if (relu) {
        const __mmask16 positive = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
        if (mask_row[a]) _mm_mask_storeu_epi8(mask_row[a] + x0, m, _mm_maskz_set1_epi8(positive, 1));
        v = _mm512_maskz_mov_ps(positive, v);
      }
      float* dst = out_row[a] + x0;
      if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst), v);
      _mm512_mask_storeu_ps(dst, m, v);
    }
  };
  for (int64_t tx0 = 0; tx0 < g.tiles_x; tx0 += 16) {
    const int64_t n = std::min<int64_t>(16, g.tiles_x - tx0);
    const __mmask16 keep = static_cast<__mmask16>(n == 16 ? 0xFFFF : (1u << n) - 1);
    // 1. Across the tiles, row i of M: 4 values per tile, interleaved into 64 columns.
    __m512 strip[6][4];
#pragma GCC unroll 6
    for (int i = 0; i < 6; ++i) {
      __m512 m[6], h[4];
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) m[j] = _mm512_maskz_loadu_ps(keep, M + (i * 6 + j) * xi_stride + tx0);
      output_1d_zmm(m, h);
      const __m512 xz_lo = _mm512_permutex2var_ps(h[0], lo, h[2]), xz_hi = _mm512_permutex2var_ps(h[0], hi, h[2]);
      const __m512 yw_lo = _mm512_permutex2var_ps(h[1], lo, h[3]), yw_hi = _mm512_permutex2var_ps(h[1], hi, h[3]);
      strip[i][0] = _mm512_permutex2var_ps(xz_lo, lo, yw_lo);
      strip[i][1] = _mm512_permutex2var_ps(xz_lo, hi, yw_lo);
      strip[i][2] = _mm512_permutex2var_ps(xz_hi, lo, yw_hi);
      strip[i][3] = _mm512_permutex2var_ps(xz_hi, hi, yw_hi);
    }
    // 2. Down the columns: output row a = Σ_i AT[a][i] strip[i].
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const int64_t x0 = 4 * tx0 + 16 * c;
      if (x0 >= W) break;
      const __m512 col[6] = {strip[0][c], strip[1][c], strip[2][c], strip[3][c], strip[4][c], strip[5][c]};
      __m512 o[4];
      output_1d_zmm(col, o);
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
    if (a.flip)
      input_tile_row_zmm<true>(a);
    else
      input_tile_row_zmm<false>(a);
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
      output_tile_row_zmm<true>(a);
    else
      output_tile_row_zmm<false>(a);
    return;
  }
#endif
  if (a.flip)
    output_tile_row<true>(a);
  else
    output_tile_row<false>(a);
}
