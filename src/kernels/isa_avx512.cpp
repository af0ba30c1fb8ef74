// The AVX-512 kernel set, compiled with -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma -mf16c (CMakeLists.txt):
// 12x32 GEMM register tiles in 24 zmm accumulators. See table.h for what this file may include.
#include "table.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace nst::kernels::avx512 {
namespace {

using vf = __m512;
constexpr int kW = 16;
inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, vf v) { _mm512_storeu_ps(p, v); }
inline vf vzero() { return _mm512_setzero_ps(); }
inline vf vbroadcast(const float* p) { return _mm512_set1_ps(*p); }
inline vf vfmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
// A 16 x 16 block transposed in registers: unpack pairs of rows, then 4 x 4 blocks in each
// 128-bit lane, then the 4 x 4 lanes (64 shuffles instead of 256 scalar moves). The masked
// forms with all lanes set: the plain ones start from _mm512_undefined_ps(), which GCC 12
// reports as used uninitialized.
constexpr __mmask16 kAll = 0xFFFF;
inline __m512 unpacklo(__m512 a, __m512 b) { return _mm512_mask_unpacklo_ps(a, kAll, a, b); }
inline __m512 unpackhi(__m512 a, __m512 b) { return _mm512_mask_unpackhi_ps(a, kAll, a, b); }
template <int Imm>
inline __m512 shuffle(__m512 a, __m512 b) { return _mm512_mask_shuffle_ps(a, kAll, a, b, Imm); }
template <int Imm>
inline __m512 shuffle_lanes(__m512 a, __m512 b) { return _mm512_mask_shuffle_f32x4(a, kAll, a, b, Imm); }
// dst[k*ds + j] = src[j*ss + k] for the first `rows` j (the others read as 0), k < 16; of each
// dst row the first `lanes` values are written.
inline void transpose16(const float* src, int64_t ss, int rows, float* dst, int64_t ds, __mmask16 lanes) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_loadu_ps(src + i * ss) : _mm512_setzero_ps();
  for (int i = 0; i < 16; i += 2) {
    t[i] = unpacklo(r[i], r[i + 1]);  // per lane: a0 b0 a1 b1
    t[i + 1] = unpackhi(r[i], r[i + 1]);  // a2 b2 a3 b3
  }
  // r[4g + q], lane L: column 4L + q of rows 4g .. 4g + 3.
  for (int g = 0; g < 4; ++g) {
    const __m512 *p = t + 4 * g;
    r[4 * g + 0] = shuffle<_MM_SHUFFLE(1, 0, 1, 0)>(p[0], p[2]);
    r[4 * g + 1] = shuffle<_MM_SHUFFLE(3, 2, 3, 2)>(p[0], p[2]);
    r[4 * g + 2] = shuffle<_MM_SHUFFLE(1, 0, 1, 0)>(p[1], p[3]);
    r[4 * g + 3] = shuffle<_MM_SHUFFLE(3, 2, 3, 2)>(p[1], p[3]);
  }
  // Output row 4L + q = lane L of r[q], r[4 + q], r[8 + q], r[12 + q].
  for (int q = 0; q < 4; ++q) {
    const __m512 w0 = shuffle_lanes<_MM_SHUFFLE(1, 0, 1, 0)>(r[q], r[4 + q]);
    const __m512 w1 = shuffle_lanes<_MM_SHUFFLE(3, 2, 3, 2)>(r[q], r[4 + q]);
    const __m512 w2 = shuffle_lanes<_MM_SHUFFLE(1, 0, 1, 0)>(r[8 + q], r[12 + q]);
    const __m512 w3 = shuffle_lanes<_MM_SHUFFLE(3, 2, 3, 2)>(r[8 + q], r[12 + q]);
    _mm512_mask_storeu_ps(dst + (0 + q) * ds, lanes, shuffle_lanes<_MM_SHUFFLE(2, 0, 2, 0)>(w0, w2));
    _mm512_mask_storeu_ps(dst + (4 + q) * ds, lanes, shuffle_lanes<_MM_SHUFFLE(3, 1, 3, 1)>(w0, w2));
    _mm512_mask_storeu_ps(dst + (8 + q) * ds, lanes, shuffle_lanes<_MM_SHUFFLE(2, 0, 2, 0)>(w1, w3));
    _mm512_mask_storeu_ps(dst + (12 + q) * ds, lanes, shuffle_lanes<_MM_SHUFFLE(3, 1, 3, 1)>(w1, w3));
  }
}
constexpr int kMR = 12, kNV = 2;
inline void transpose_block(const float* src, int64_t ss, float* dst, int64_t ds) {
  transpose16(src, ss, 16, dst, ds, kAll);
}
inline void transpose_panel(const float* src, int64_t ss, float* dst) {
  transpose16(src, ss, kMR, dst, kMR, (1u << kMR) - 1);
}
constexpr int64_t kMC = 144;

#include "sgemm_blocked.inl"
#include "winograd_rows.inl"
#include "half_f16c.inl"
#include "pool_avx512.inl"
#include "conv_rows.inl"

void input_row_f(const WinogradRowArgs<float>& a) { input_row(a); }
void output_row_f(const WinogradRowArgs<float>& a) { output_row(a); }

constexpr KernelTable kTable = {KernelSet::Avx512, sgemm, sgemm_scratch, input_row_f, output_row_f,
                                half_encode, half_dot, half_axpy, max_pool2_row,
                                max_pool2_backward_row, bias_relu_row, masked_copy_row, add_row};

}  // namespace
}  // namespace nst::kernels::avx512

namespace nst::kernels {
const KernelTable* avx512_table() { return &avx512::kTable; }
}  // namespace nst::kernels
