#include "nst/kernels/half_vector.h"

#include "table.h"

namespace nst::kernels {

void half_encode(const float* v, float inv_scale, uint16_t* bits, int64_t n) {
  active_table().half_encode(v, inv_scale, bits, n);
}

double half_dot(const uint16_t* bits, const float* q, int64_t begin, int64_t end) {
  return active_table().half_dot(bits, q, begin, end);
}

void half_axpy(float a, const uint16_t* bits, float* q, int64_t begin, int64_t end) {
  active_table().half_axpy(a, bits, q, begin, end);
}

}  // namespace nst::kernels
