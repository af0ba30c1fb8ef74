// Single-threaded float matrix product, the kernel under the Winograd convolution's products
// (src/kernels/winograd.cpp) and the Gram matrices (src/ops/gram.cpp). Runs the active kernel
// set (kernel_set.h):
//   avx512   : 12x32 register tiles (24 zmm accumulators), B packed in 32-column strips
//   avx2     : 6x16 register tiles (12 ymm accumulators), B packed in 16-column strips
//   portable : Eigen's GEMM, compiled for the build's baseline
// Both SIMD sets: k in blocks of 256, columns in blocks of 1024; B packed when more than one
// row panel reads it (or when it is not row-major), A read in place when row-major or
// column-major with a short stride and packed otherwise; an operand packed across its rows (the
// Gram's F and Fᵀ) is transposed in registers, a vector's width square at a time. Speeds:
// benchmarks/bench_sgemm, benchmarks/RESULTS.md.
//
// Shapes and layouts (any strides, in elements):
//   C (M x N), row-major, row stride ldc  : element (i,j) at C[i*ldc + j]
//   A (M x K)                              : element (i,k) at A[i*a_rs + k*a_cs]
//   B (K x N)                              : element (k,j) at B[k*b_rs + j*b_cs]
//   C = A · B, overwritten (not accumulated). Only C(i, 0..N-1) for i < M is written: columns
//   N..ldc-1 are left alone.
// Users:
//   Winograd forward  M_ξ (Co x n) = U_ξ (Co x Ci) · V_ξ : sgemm(Co, n, Ci, U, Ci, 1, V, G, 1, M, G)
//   Winograd backward M_ξ (Ci x n) = U_ξᵀ (Ci x Co) · V_ξ: sgemm(Ci, n, Co, U, 1, Ci, V, G, 1, M, G)
//   Gram forward      G (C x C) = F Fᵀ, F (C x HW)     : sgemm(m, n, HW, F, HW, 1, F, 1, HW, G, C)
//   Gram backward     dF (C x HW) = S F, S (C x C)       : sgemm(C, n, C, S, C, 1, F, HW, 1, dF, HW)
//
// Determinism: on the SIMD sets every element is one chain of fused multiply-adds over
// k = 0, 1, ..., K-1 in order, starting from 0, whatever its position in the blocking, the
// alignment of the pointers, M, N or the thread that runs it: a column or row sub-range of a
// product gives the same bits as the whole product, and the avx2 and avx512 sets give the same
// bits. The portable set's order depends on the shape only (and Eigen's blocking).
//
// Memory: packed panels live in a thread_local buffer that grows to at most about 1.6 MiB
// (256 x 1024 floats of B, 144 x 256 of A) and is then reused.
//
// Throws std::invalid_argument for negative sizes or row strides shorter than a row.
#pragma once

#include <cstdint>

namespace nst::kernels {

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
           const float* B, int64_t b_rs, int64_t b_cs, float* C, int64_t ldc);

}  // namespace nst::kernels
