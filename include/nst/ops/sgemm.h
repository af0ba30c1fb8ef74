// Single-threaded float matrix product for the Winograd convolution's GEMMs (step 2 of
// src/ops/winograd.cpp): a register-blocked 6x16 AVX2+FMA kernel (12 ymm accumulators), k in
// blocks of 256 and columns in blocks of 1024; B packed into 16-column strips when more than 6
// rows share it, A read in place when row-major and packed otherwise. A portable fallback
// serves builds without AVX2/FMA (-DNST_NATIVE=OFF). On the VGG19 Winograd shapes it runs at
// 80-93 GFLOP/s on one Zen 3 core (peak 96), about 1.4-1.5x Eigen 3.4 (benchmarks/bench_sgemm).
//
// Shapes and layouts:
//   C (M x N), row-major, row stride ldc          : element (i,j) at C[i*ldc + j]
//   A (M x K), any strides                         : element (i,k) at A[i*a_rs + k*a_cs]
//   B (K x N), row-major, row stride ldb           : element (k,j) at B[k*ldb + j]
//   C = A · B, overwritten (not accumulated). Only C(i, 0..N-1) for i < M is written: columns
//   N..ldc-1 are left alone.
// For the Winograd positions ξ:
//   forward  M_ξ (Co x n) = U_ξ (Co x Ci)  · V_ξ : sgemm(Co, n, Ci, U, Ci, 1, V, G, M, G)
//   backward M_ξ (Ci x n) = U_ξᵀ (Ci x Co) · V_ξ : sgemm(Ci, n, Co, U, 1, Ci, V, G, M, G)
//
// Determinism: every element is one chain of fused multiply-adds over k = 0, 1, ..., K-1 in
// order, starting from 0, whatever its position in the blocking, the alignment of the pointers,
// M, N or the thread that runs it. So a column or row sub-range of a product gives the same bits
// as the whole product, and concurrent calls (each thread uses its own scratch) are independent.
// (The portable fallback keeps the same order; it need not give the same bits as the AVX2 path,
// which uses fused multiply-adds.)
//
// Memory: packed panels live in a thread_local buffer that grows to at most about 1.2 MiB
// (256 x 1024 floats of B, 144 x 256 of A) and is then reused: after a thread's first calls
// nothing is allocated.
//
// Throws std::invalid_argument for negative sizes or row strides shorter than a row.
#pragma once

#include <cstdint>

namespace nst::kernels {

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
           const float* B, int64_t ldb, float* C, int64_t ldc);

namespace detail {
// The portable path that sgemm uses without AVX2+FMA; exposed so tests cover it on any build.
void sgemm_portable(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
                    const float* B, int64_t ldb, float* C, int64_t ldc);
// True when sgemm runs the AVX2+FMA kernel.
bool sgemm_uses_avx2();
}  // namespace detail

}  // namespace nst::kernels
