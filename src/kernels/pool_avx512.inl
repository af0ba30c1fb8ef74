// max pooling's rows (nst/kernels/pool.h) with AVX-512 (F, VL, BW): 16 outputs at a time, the
// last ones through masked loads and stores. Included by isa_avx512.cpp inside its own
// namespace.

// The masks of n <= 16 outputs and of their 2n inputs, as two vectors of 16.
struct PoolMasks {
  __mmask16 out, lo, hi;
  explicit PoolMasks(int64_t n)
      : out(static_cast<__mmask16>((1u << n) - 1)),
        lo(static_cast<__mmask16>(n >= 8 ? 0xFFFFu : (1u << (2 * n)) - 1)),
        hi(static_cast<__mmask16>(n <= 8 ? 0u : (1u << (2 * n - 16)) - 1)) {}
};

inline __m512i pool_even() { return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30); }
inline __m512i pool_odd() { return _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31); }
// Interleaving e (even) and o (odd): the first and the second 16 of e0 o0 e1 o1 ...
inline __m512i pool_zip_lo() { return _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23); }
inline __m512i pool_zip_hi() { return _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31); }

void max_pool2_row(const float* x0, const float* x1, int64_t OW, float* y, uint8_t* arg) {
  const __m512i ev = pool_even(), od = pool_odd();
  for (int64_t ox = 0; ox < OW; ox += 16) {
    const PoolMasks m(OW - ox < 16 ? OW - ox : 16);
    const float* p0 = x0 + 2 * ox;
    const float* p1 = x1 + 2 * ox;
    const __m512 a0 = _mm512_maskz_loadu_ps(m.lo, p0), a1 = _mm512_maskz_loadu_ps(m.hi, p0 + 16);
    const __m512 b0 = _mm512_maskz_loadu_ps(m.lo, p1), b1 = _mm512_maskz_loadu_ps(m.hi, p1 + 16);
    const __m512 v[4] = {_mm512_permutex2var_ps(a0, ev, a1), _mm512_permutex2var_ps(a0, od, a1),
                         _mm512_permutex2var_ps(b0, ev, b1), _mm512_permutex2var_ps(b0, od, b1)};
    __m512 best = v[0];
    __m128i k = _mm_setzero_si128();
    for (int i = 1; i < 4; ++i) {
      const __mmask16 gt = _mm512_cmp_ps_mask(v[i], best, _CMP_GT_OQ);  // false for NaN, as `>`
      best = _mm512_mask_blend_ps(gt, best, v[i]);
      k = _mm_mask_mov_epi8(k, gt, _mm_set1_epi8(static_cast<char>(i)));
    }
    _mm512_mask_storeu_ps(y + ox, m.out, best);
    if (arg) _mm_mask_storeu_epi8(arg + ox, m.out, k);
  }
}

void max_pool2_backward_row(const float* g, const uint8_t* arg, int64_t OW, float* d0, float* d1, bool fresh) {
  const __m512i ev = pool_even(), od = pool_odd(), zl = pool_zip_lo(), zh = pool_zip_hi();
  for (int64_t ox = 0; ox < OW; ox += 16) {
    const PoolMasks m(OW - ox < 16 ? OW - ox : 16);
    const __m512 gv = _mm512_maskz_loadu_ps(m.out, g + ox);
    const __m128i k = _mm_maskz_loadu_epi8(m.out, arg + ox);
    float* rows[2] = {d0 + 2 * ox, d1 + 2 * ox};
    for (int r = 0; r < 2; ++r) {
      // Lanes whose maximum is in this row's even (left) and odd (right) column.
      const __mmask16 left = _mm_cmpeq_epi8_mask(k, _mm_set1_epi8(static_cast<char>(2 * r)));
      const __mmask16 right = _mm_cmpeq_epi8_mask(k, _mm_set1_epi8(static_cast<char>(2 * r + 1)));
      __m512 e, o;
      if (fresh) {
        e = _mm512_maskz_mov_ps(left, gv);
        o = _mm512_maskz_mov_ps(right, gv);
      } else {
        const __m512 a0 = _mm512_maskz_loadu_ps(m.lo, rows[r]), a1 = _mm512_maskz_loadu_ps(m.hi, rows[r] + 16);
        e = _mm512_permutex2var_ps(a0, ev, a1);
        o = _mm512_permutex2var_ps(a0, od, a1);
        e = _mm512_mask_add_ps(e, left, e, gv);
        o = _mm512_mask_add_ps(o, right, o, gv);
      }
      _mm512_mask_storeu_ps(rows[r], m.lo, _mm512_permutex2var_ps(e, zl, o));
      _mm512_mask_storeu_ps(rows[r] + 16, m.hi, _mm512_permutex2var_ps(e, zh, o));
    }
  }
}
