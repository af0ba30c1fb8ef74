#include "nst/half.h"

#include <Eigen/Core>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__F16C__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define NST_F16C 1
#endif

namespace nst {

// The scalar conversions are Eigen's (F16C instructions when the build targets them, else
// Eigen's portable code, which rounds the same way).
float f16_to_float(uint16_t bits) {
  return static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits));
}

uint16_t float_to_f16(float value) {
  return Eigen::numext::bit_cast<uint16_t>(Eigen::half(value));
}

float bf16_to_float(uint16_t bits) {
  return static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(bits));
}

void HalfVector::assign(const float* v, int64_t n) {
  float max_abs = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i]))
      throw std::invalid_argument("HalfVector: value " + std::to_string(i) + " is not finite");
    max_abs = std::max(max_abs, std::abs(v[i]));
  }
  // scale = 2^(e - 14) with max_abs in [2^e, 2^(e+1)): max_abs / scale in [2^14, 2^15).
  scale_ = max_abs > 0 ? std::ldexp(1.0f, std::ilogb(max_abs) - 14) : 1.0f;
  const float inv = 1.0f / scale_;  // exact: a power of two
  bits_.resize(static_cast<size_t>(n));
  uint16_t* b = bits_.data();
  int64_t i = 0;
#ifdef NST_F16C
  const __m256 s = _mm256_set1_ps(inv);
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(v + i), s), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(b + i), h);
  }
#endif
  for (; i < n; ++i) b[i] = float_to_f16(v[i] * inv);
}

// The vector loops: decoded = f16_to_float(bits) * scale, in blocks of 8 with F16C.
double HalfVector::dot(const float* q, int64_t begin, int64_t end) const {
  const int64_t n = end;
  const uint16_t* b = bits_.data();
  double sum = 0;
  int64_t i = begin;
#ifdef NST_F16C
  // Four float accumulators over blocks of 8, flushed to double every 256 values.
  constexpr int64_t kBlock = 256;
  for (; i + kBlock <= n; i += kBlock) {
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
#endif
  for (; i < n; ++i) sum += static_cast<double>(f16_to_float(b[i])) * static_cast<double>(q[i]);
  return sum * static_cast<double>(scale_);
}

void HalfVector::axpy(float a, float* q, int64_t begin, int64_t end) const {
  const int64_t n = end;
  const uint16_t* b = bits_.data();
  const float as = a * scale_;
  int64_t i = begin;
#ifdef NST_F16C
  const __m256 va = _mm256_set1_ps(as);
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    _mm256_storeu_ps(q + i, _mm256_fmadd_ps(va, d, _mm256_loadu_ps(q + i)));
  }
#endif
  for (; i < n; ++i) q[i] = std::fma(as, f16_to_float(b[i]), q[i]);
}

void HalfVector::decode(float* out) const {
  const int64_t n = size();
  for (int64_t i = 0; i < n; ++i) out[i] = f16_to_float(bits_[static_cast<size_t>(i)]) * scale_;
}

}  // namespace nst
