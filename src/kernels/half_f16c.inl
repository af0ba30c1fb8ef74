// HalfVector's loops with F16C conversions (nst/half.h), included by each x86 SIMD kernel set's
// file inside its own namespace. 256-bit: the conversions are 8 wide on either set.

void half_encode(const float* v, float inv_scale, uint16_t* b, int64_t n) {
  int64_t i = 0;
  const __m256 s = _mm256_set1_ps(inv_scale);
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(v + i), s), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(b + i), h);
  }
  for (; i < n; ++i) b[i] = _cvtss_sh(v[i] * inv_scale, _MM_FROUND_TO_NEAREST_INT);
}

// Four float accumulators over blocks of 8, flushed to double every 256 values.
double half_dot(const uint16_t* b, const float* q, int64_t begin, int64_t end) {
  double sum = 0;
  int64_t i = begin;
  constexpr int64_t kBlock = 256;
  for (; i + kBlock <= end; i += kBlock) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t j = i; j < i + kBlock; j += 8) {
      const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + j)));
      acc = _mm256_fmadd_ps(d, _mm256_loadu_ps(q + j), acc);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc);
    double block = 0;
    for (float l : lanes) block += static_cast<double>(l);
    sum += block;
  }
  for (; i < end; ++i) sum += static_cast<double>(_cvtsh_ss(b[i])) * static_cast<double>(q[i]);
  return sum;
}

void half_axpy(float a, const uint16_t* b, float* q, int64_t begin, int64_t end) {
  int64_t i = begin;
  const __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= end; i += 8) {
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    _mm256_storeu_ps(q + i, _mm256_fmadd_ps(va, d, _mm256_loadu_ps(q + i)));
  }
  for (; i < end; ++i)
    q[i] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(_cvtsh_ss(b[i])), _mm_set_ss(q[i])));
}
