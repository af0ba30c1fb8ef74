// The AVX2 + FMA + F16C kernel set, compiled with -mavx2 -mfma -mf16c (CMakeLists.txt):
// 6x16 GEMM register tiles in 12 ymm accumulators. See table.h for what this file may include.
#include "table.h"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace nst::kernels::avx2 {
namespace {

using vf = __m256;
constexpr int kW = 8;
inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, vf v) { _mm256_storeu_ps(p, v); }
inline vf vzero() { return _mm256_setzero_ps(); }
inline vf vbroadcast(const float* p) { return _mm256_broadcast_ss(p); }
inline vf vfmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
// An 8 x 8 block transposed in registers: unpack pairs of rows, 4 x 4 blocks in each 128-bit
// lane, then the two lanes.
// dst[k*ds + j] = src[j*ss + k] for the first `rows` j (the others read as 0), k < 8; of each
// dst row the first `lanes` values are written.
inline void transpose8(const float* src, int64_t ss, int rows, float* dst, int64_t ds, int lanes) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(src + i * ss) : _mm256_setzero_ps();
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  // r[4g + q], lane L: column 4L + q of rows 4g .. 4g + 3.
  for (int g = 0; g < 2; ++g) {
    const __m256* p = t + 4 * g;
    r[4 * g + 0] = _mm256_shuffle_ps(p[0], p[2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * g + 1] = _mm256_shuffle_ps(p[0], p[2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * g + 2] = _mm256_shuffle_ps(p[1], p[3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * g + 3] = _mm256_shuffle_ps(p[1], p[3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int q = 0; q < 4; ++q) {
    _mm256_maskstore_ps(dst + q * ds, mask, _mm256_permute2f128_ps(r[q], r[4 + q], 0x20));
    _mm256_maskstore_ps(dst + (4 + q) * ds, mask, _mm256_permute2f128_ps(r[q], r[4 + q], 0x31));
  }
}
constexpr int kMR = 6, kNV = 2;
inline void transpose_block(const float* src, int64_t ss, float* dst, int64_t ds) { transpose8(src, ss, 8, dst, ds, 8); }
inline void transpose_panel(const float* src, int64_t ss, float* dst) { transpose8(src, ss, kMR, dst, kMR, kMR); }
constexpr int64_t kMC = 144;

#include "sgemm_blocked.inl"
#include "winograd_rows.inl"
#include "half_f16c.inl"
#include "pool_rows.inl"
#include "conv_rows.inl"
#include "pool_avx2.inl"

void input_row_f(const WinogradRowArgs<float>& a) { input_row(a); }
void output_row_f(const WinogradRowArgs<float>& a) { output_row(a); }

constexpr KernelTable kTable = {KernelSet::Avx2, sgemm, sgemm_scratch, input_row_f, output_row_f,
                                half_encode, half_dot, half_axpy, max_pool2_row,
                                max_pool2_backward_row, bias_relu_row, masked_copy_row, add_row};

}  // namespace
}  // namespace nst::kernels::avx2

namespace nst::kernels {
const KernelTable* avx2_table() { return &avx2::kTable; }
}  // namespace nst::kernels
