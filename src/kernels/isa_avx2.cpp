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
constexpr int kMR = 6, kNV = 2;
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
