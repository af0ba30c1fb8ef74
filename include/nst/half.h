// IEEE 754 binary16 ("half") and bfloat16 conversions (Eigen's Eigen::half / Eigen::bfloat16),
// and a float vector stored in half precision.
#pragma once

#include <cstdint>
#include <vector>

namespace nst {

// Exact: subnormals, infinities and NaN (with its payload) included.
float f16_to_float(uint16_t bits);
// Rounds to nearest, ties to even, as the F16C instruction vcvtps2ph does; overflow gives
// ±inf, NaN stays a (quiet) NaN.
uint16_t float_to_f16(float value);
// bfloat16 (the top 16 bits of a float) to float: exact.
float bf16_to_float(uint16_t bits);

// A float vector stored as binary16 times one power-of-two scale, chosen so that the largest
// magnitude encodes to [2^14, 2^15): half the memory of float, with a relative error of at
// most 2^-11 on values down to 2^-28 of the largest (below that, half's subnormals: an absolute
// error of at most 2^-39 of the largest). For L-BFGS's (s, y) pairs: see optim/lbfgs.h.
class HalfVector {
 public:
  // Encodes v[0..n); every value must be finite (throws std::invalid_argument otherwise).
  void assign(const float* v, int64_t n);
  int64_t size() const { return static_cast<int64_t>(bits_.size()); }
  // The decoded vector's dot product with q (n = size()), accumulated in double; or over the
  // elements [begin, end) only.
  double dot(const float* q) const { return dot(q, 0, size()); }
  double dot(const float* q, int64_t begin, int64_t end) const;
  // q += a * decoded; or over [begin, end) only.
  void axpy(float a, float* q) const { axpy(a, q, 0, size()); }
  void axpy(float a, float* q, int64_t begin, int64_t end) const;
  // out = decoded.
  void decode(float* out) const;
  // The stored form (for checkpoints): binary16 bits and the power-of-two scale.
  const std::vector<uint16_t>& bits() const { return bits_; }
  float scale() const { return scale_; }
  // Sets the stored form. Throws std::invalid_argument unless scale is a finite power of two > 0
  // and every value is finite.
  void set_stored(std::vector<uint16_t> bits, float scale);

 private:
  std::vector<uint16_t> bits_;
  float scale_ = 1;  // a power of two
};

}  // namespace nst
