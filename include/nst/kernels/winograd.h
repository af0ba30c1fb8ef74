// Winograd F(4x4, 3x3) convolution (Lavin & Gray 2015, "Fast Algorithms for Convolutional
// Neural Networks") for 3x3 kernels, stride 1, padding 1: VGG's layers.
//
// Each 4x4 output tile is A^T [ Σ_c U_c ⊙ (B^T d_c B) ] A, with d_c the 6x6 input patch of
// channel c and U_c = G w_c G^T the 6x6 transformed kernel: 36 multiplications per tile and
// channel instead of 144. The sum over c is, for each of the 36 positions ξ, one GEMM
//   M_ξ (K x tiles) = U_ξ (K x C) · V_ξ (C x tiles).
// The weights are transformed once (ConvWeights holds U); backward-to-input reuses the same
// U: dx = flip(conv(flip(dy), w with K and C swapped)), i.e. U_ξ^T and mirrored tiles.
//
// Interpolation points 0, ±2/3, ±3/2 and infinity, not Lavin & Gray's 0, ±1, ±2: the choice
// of points sets how much F(4x4,3x3) amplifies float rounding (Barabasz, Anderson, Soodhalter &
// Gregg 2020, "Error analysis and improving the accuracy of Winograd convolution for deep neural
// networks"). Of 26 point sets measured on VGG19's real layers in float, these gave the lowest
// error: against Lavin & Gray's, 0.54x the forward and 0.45x the input-gradient error
// (relative L2), 0.31x and 0.24x the largest error, at the same speed (a symmetric set: B^T and
// A^T have the zeros of Lavin & Gray's, with a few more multiplications). Every coefficient of
// B^T and A^T is exact in binary (rows and columns scaled, G compensating): coefficients rounded
// to float would perturb the transform the same way every time, a bias that adds up in the loss. benchmarks/winograd_accuracy.cpp measures it, RESULTS.md has the
// table, benchmarks/winograd_points.py derives the matrices. A^T and B^T are in
// src/kernels/winograd_rows.inl, G in winograd.cpp (applied in double, once per weight).
//
// Work is cut into groups of tiles (V and M of a group fit a fixed byte budget) and, within a
// group, into tasks that depend only on the shape; every output element is computed by one
// task in a fixed order, so results are bit-identical for any OMP_NUM_THREADS.
#pragma once

#include "nst/kernels/conv.h"

#include <cstdint>

namespace nst::kernels {

// The row stride of U_ξ (K x C): C, one cache line more where C is a multiple of 256 floats.
// The backward reads U_ξᵀ in place, a row of U per k, 12 values at a time: rows 1 or 2 KiB
// apart (C = 256, 512) fall in four or two sets of the L1 cache (at 512 so badly that they
// were packed instead, a copy of U per backward); a line more spreads them over every set.
inline int64_t winograd_u_stride(int64_t C) { return C % 256 == 0 ? C + 16 : C; }

// Values in the transformed weights U of a (K, C, 3, 3) kernel: 36 * K * winograd_u_stride(C).
inline int64_t winograd_weights_size(int64_t K, int64_t C) { return 36 * K * winograd_u_stride(C); }

// w: (K,C,3,3) -> U: (36, K, winograd_u_stride(C)), U[ξ][k][c] = (G w[k][c] G^T)[ξ], computed
// in double; the padding is zero.
template <class T>
void winograd_transform_weights(int64_t K, int64_t C, const T* w, T* U);

// True when the Winograd kernels handle this shape (R = 3, pad = 1).
inline bool winograd_supports(const ConvShape& s) { return s.R == 3 && s.pad == 1; }

// One sample, s.R == 3 and s.pad == 1. x: (C,H,W), U as above, y: (K,H,W) overwritten, with
// the epilogue (bias, ReLU, mask) applied to each value as it is stored.
template <class T>
void conv3x3_forward_winograd(const ConvShape& s, const T* x, const T* U, T* y,
                              const ConvEpilogue<T>& epi = {});
// One sample. dy: (K,H,W), U as above; dx: (C,H,W) accumulated into (+=), or overwritten when
// accumulate is false. With mask (K,H,W), dy is read as dy ⊙ mask: the gradient through the
// ReLU of a fused forward, without a pass of its own.
template <class T>
void conv3x3_backward_input_winograd(const ConvShape& s, const T* dy, const T* U, T* dx,
                                     const uint8_t* mask = nullptr, bool accumulate = true);

}  // namespace nst::kernels
