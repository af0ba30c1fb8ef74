#include "nst/half.h"

#include <Eigen/Core>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "nst/kernels/half_vector.h"

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
  kernels::half_encode(v, inv, bits_.data(), n);
}

// The vector loops run the active kernel set (F16C conversions where the CPU has them).
double HalfVector::dot(const float* q, int64_t begin, int64_t end) const {
  return kernels::half_dot(bits_.data(), q, begin, end) * static_cast<double>(scale_);
}

void HalfVector::axpy(float a, float* q, int64_t begin, int64_t end) const {
  kernels::half_axpy(a * scale_, bits_.data(), q, begin, end);
}

void HalfVector::decode(float* out) const {
  const int64_t n = size();
  for (int64_t i = 0; i < n; ++i) out[i] = f16_to_float(bits_[static_cast<size_t>(i)]) * scale_;
}

void HalfVector::set_stored(std::vector<uint16_t> bits, float scale) {
  int e = 0;
  if (!(std::isfinite(scale) && scale > 0 && std::frexp(scale, &e) == 0.5f))
    throw std::invalid_argument("HalfVector: the scale is not a power of two");
  for (size_t i = 0; i < bits.size(); ++i)
    if ((bits[i] & 0x7c00) == 0x7c00) throw std::invalid_argument("HalfVector: value " + std::to_string(i) + " is not finite");
  bits_ = std::move(bits);
  scale_ = scale;
}

}  // namespace nst
