// The AVX-512 kernel set, compiled with -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma -mf16c (CMakeLists.txt):
// 12x32 GEMM register tiles in 24 zmm accumulators. See table.h for what this file may include.
#include "table.h"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace nst::kernels::avx512 {
namespace {

using vf = __m512;
constexpr int kW = 16;
inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, vf v) { _mm512_storeu_ps(p, v); }
inline vf vzero() { return _mm512_setzero_ps(); }
inline vf vbroadcast(const float* p) { return _mm512_set1_ps(*p); }
inline vf vfmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
constexpr int kMR = 12, kNV = 2;
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
