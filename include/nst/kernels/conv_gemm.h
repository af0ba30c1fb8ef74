// Convolution of few input channels (VGG's first layer: RGB) as bands of whole output rows,
// each an im2col of (C·R·R) x n values and one float GEMM (sgemm.h) with the weights (K x C·R·R):
// Winograd's products have only C rows there (an inner dimension of 3 in its GEMMs) and run far
// below the GEMM's speed, while this GEMM's inner dimension is C·R·R = 27. The backward to the
// input takes the same bands: dcol (C·R·R x n) = Wᵀ (C·R·R x K) · dy (K x n), whose taps are then
// added into dx. Float only (the kernel set's sgemm).
//
// Bands are whole rows, about 1024 values, fixed by the shape. In the forward each band is one
// thread's and each output value one chain of fused multiply-adds over (c, ky, kx) in order. In
// the backward a band's taps reach R - 1 input rows beyond it: the even bands run first, then
// the odd ones, and each dx value is its start (or 0) plus the taps of the bands that reach it, in
// that order and (ky, kx) order within a band, each tap one chain over k. The same bits for any
// number of threads, on every kernel set (the AVX2 and AVX-512 sets' GEMMs give the same bits).
#pragma once

#include "nst/kernels/conv.h"

#include <cstdint>

namespace nst::kernels {

// One sample. x: (C,H,W), w: (K,C,R,R), y: (K,OH,OW) overwritten, with the epilogue applied to
// each band as it is computed.
void conv2d_forward_gemm(const ConvShape& s, const float* x, const float* w, float* y,
                         const ConvEpilogue<float>& epi = {});
// One sample. dy: (K,OH,OW) read as dy ⊙ mask when mask (K,OH,OW) is set; dx: (C,H,W)
// accumulated into (+=), or overwritten when accumulate is false.
void conv2d_backward_input_gemm(const ConvShape& s, const float* dy, const float* w, float* dx,
                                const uint8_t* mask = nullptr, bool accumulate = true);

}  // namespace nst::kernels
