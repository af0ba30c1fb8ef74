// max pooling's rows (nst/kernels/pool.h) with AVX2: 8 outputs at a time, the last ones by
// pool_rows.inl's loops. Included by isa_avx2.cpp inside its own namespace, after pool_rows.inl.

// The even (odd) elements of the 16 floats lo:hi, in order.
inline __m256 pool_even(__m256 lo, __m256 hi) {
  const __m256 s = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));  // lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}
inline __m256 pool_odd(__m256 lo, __m256 hi) {
  const __m256 s = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}
// e0 o0 e1 o1 ... e7 o7 stored at p (16 floats).
inline void pool_store_zip(float* p, __m256 e, __m256 o) {
  const __m256 u = _mm256_unpacklo_ps(e, o), v = _mm256_unpackhi_ps(e, o);  // e0 o0 e1 o1 | e4 o4 e5 o5 ...
  _mm256_storeu_ps(p, _mm256_permute2f128_ps(u, v, 0x20));
  _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(u, v, 0x31));
}

void max_pool2_row(const float* x0, const float* x1, int64_t OW, float* y, uint8_t* arg) {
  int64_t ox = 0;
  for (; ox + 8 <= OW; ox += 8) {
    const float* p0 = x0 + 2 * ox;
    const float* p1 = x1 + 2 * ox;
    const __m256 a0 = _mm256_loadu_ps(p0), a1 = _mm256_loadu_ps(p0 + 8);
    const __m256 b0 = _mm256_loadu_ps(p1), b1 = _mm256_loadu_ps(p1 + 8);
    const __m256 v[4] = {pool_even(a0, a1), pool_odd(a0, a1), pool_even(b0, b1), pool_odd(b0, b1)};
    __m256 best = v[0];
    __m256i k = _mm256_setzero_si256();
    for (int i = 1; i < 4; ++i) {
      const __m256 gt = _mm256_cmp_ps(v[i], best, _CMP_GT_OQ);  // false for NaN, as `>`
      best = _mm256_blendv_ps(best, v[i], gt);
      k = _mm256_blendv_epi8(k, _mm256_set1_epi32(i), _mm256_castps_si256(gt));
    }
    _mm256_storeu_ps(y + ox, best);
    if (arg) {
      const __m128i k16 = _mm_packs_epi32(_mm256_castsi256_si128(k), _mm256_extracti128_si256(k, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(arg + ox), _mm_packus_epi16(k16, k16));
    }
  }
  max_pool2_row_scalar(x0 + 2 * ox, x1 + 2 * ox, OW - ox, y + ox, arg ? arg + ox : nullptr);
}

void max_pool2_backward_row(const float* g, const uint8_t* arg, int64_t OW, float* d0, float* d1, bool fresh) {
  int64_t ox = 0;
  for (; ox + 8 <= OW; ox += 8) {
    const __m256 gv = _mm256_loadu_ps(g + ox);
    const __m256i k = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(arg + ox)));
    float* rows[2] = {d0 + 2 * ox, d1 + 2 * ox};
    for (int r = 0; r < 2; ++r) {
      // Lanes whose maximum is in this row's even (left) and odd (right) column.
      const __m256 left = _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(2 * r)));
      const __m256 right = _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(2 * r + 1)));
      __m256 e, o;
      if (fresh) {
        e = _mm256_and_ps(left, gv);
        o = _mm256_and_ps(right, gv);
      } else {
        const __m256 a0 = _mm256_loadu_ps(rows[r]), a1 = _mm256_loadu_ps(rows[r] + 8);
        e = pool_even(a0, a1);
        o = pool_odd(a0, a1);
        e = _mm256_blendv_ps(e, _mm256_add_ps(e, gv), left);
        o = _mm256_blendv_ps(o, _mm256_add_ps(o, gv), right);
      }
      pool_store_zip(rows[r], e, o);
    }
  }
  max_pool2_backward_row_scalar(g + ox, arg + ox, OW - ox, d0 + 2 * ox, d1 + 2 * ox, fresh);
}
