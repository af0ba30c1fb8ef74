// The vector loops of nst::HalfVector (nst/half.h): binary16 values times one scale, run by the
// active kernel set (kernel_set.h): F16C conversions, 8 at a time, on the x86 SIMD sets; the
// exact scalar conversions of half.h on the portable set. Encoding rounds to nearest, ties to
// even, on every set.
#pragma once

#include <cstdint>

namespace nst::kernels {

// bits[i] = binary16(v[i] * inv_scale), i < n.
void half_encode(const float* v, float inv_scale, uint16_t* bits, int64_t n);
// Σ_{begin <= i < end} decoded(bits[i]) * q[i], accumulated in double (the SIMD sets sum blocks
// of 256 in float first).
double half_dot(const uint16_t* bits, const float* q, int64_t begin, int64_t end);
// q[i] = fma(a, decoded(bits[i]), q[i]) for begin <= i < end.
void half_axpy(float a, const uint16_t* bits, float* q, int64_t begin, int64_t end);

}  // namespace nst::kernels
