// The vector operations of the in-register Winograd tile-row transforms (winograd_rows.inl)
// with AVX-512: 16 floats, lane masks in k registers. Included by isa_avx512.cpp, through
// winograd_rows.inl, inside its own namespace.

struct WinogradVec {
  using V = __m512;
  using Flags = __mmask16;
  static constexpr int kLanes = 16;

  static V set1(float v) { return _mm512_set1_ps(v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }

  // Lanes lo .. hi - 1.
  static __mmask16 lanes(int lo, int hi) {
    if (hi <= lo) return 0;
    return static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
  }
  // p[l] for the lanes lo .. hi - 1, zero in the others (whose p[l] is not read).
  static V load(const float* p, int lo, int hi) { return _mm512_maskz_loadu_ps(lanes(lo, hi), p); }
  // The same, also zero where m[l] == 0.
  static V load_nonzero(const float* p, const uint8_t* m, int lo, int hi) {
    const __mmask16 k = lanes(lo, hi);
    const __m128i bytes = _mm_maskz_loadu_epi8(k, m);
    return _mm512_maskz_loadu_ps(k & _mm_test_epi8_mask(bytes, bytes), p);
  }
  // p[l] = v[l] for the lanes lo .. hi - 1 only.
  static void store(float* p, int lo, int hi, V v) { _mm512_mask_storeu_ps(p, lanes(lo, hi), v); }
  static V reverse(V v) {
    const __m512i r = _mm512_setr_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    return _mm512_maskz_permutexvar_ps(0xFFFF, r, v);  // (unmasked: GCC 12 warns in its own header)
  }

  // v > 0 (false for NaN); v where f, +0 elsewhere; m[l] = f[l] (1 or 0) for lanes lo .. hi - 1.
  static Flags positive(V v) { return _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ); }
  static V keep(Flags f, V v) { return _mm512_maskz_mov_ps(f, v); }
  static void store_flags(uint8_t* m, int lo, int hi, Flags f) {
    _mm_mask_storeu_epi8(m, lanes(lo, hi), _mm_maskz_set1_epi8(f, 1));
  }

  // p[q][t] = r[4t + q] over the 64 values of r[0..3]: even/odd twice, 8 permutes.
  static void deinterleave4(const V r[4], V p[4]) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const V e01 = _mm512_permutex2var_ps(r[0], ev, r[1]), o01 = _mm512_permutex2var_ps(r[0], od, r[1]);
    const V e23 = _mm512_permutex2var_ps(r[2], ev, r[3]), o23 = _mm512_permutex2var_ps(r[2], od, r[3]);
    p[0] = _mm512_permutex2var_ps(e01, ev, e23);
    p[1] = _mm512_permutex2var_ps(o01, ev, o23);
    p[2] = _mm512_permutex2var_ps(e01, od, e23);
    p[3] = _mm512_permutex2var_ps(o01, od, o23);
  }
  // (p[1], ..., p[15], r[q]), q = 0 or 1: a phase of the next tile.
  static V next(V p, V r, int q) {
    return _mm512_permutex2var_ps(p, _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 + q), r);
  }
  // r[0..3][4t + q] = h[q][t]: the inverse of deinterleave4, two rounds of zips.
  static void interleave4(const V h[4], V r[4]) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const V xz_lo = _mm512_permutex2var_ps(h[0], lo, h[2]), xz_hi = _mm512_permutex2var_ps(h[0], hi, h[2]);
    const V yw_lo = _mm512_permutex2var_ps(h[1], lo, h[3]), yw_hi = _mm512_permutex2var_ps(h[1], hi, h[3]);
    r[0] = _mm512_permutex2var_ps(xz_lo, lo, yw_lo);
    r[1] = _mm512_permutex2var_ps(xz_lo, hi, yw_lo);
    r[2] = _mm512_permutex2var_ps(xz_hi, lo, yw_hi);
    r[3] = _mm512_permutex2var_ps(xz_hi, hi, yw_hi);
  }
};
