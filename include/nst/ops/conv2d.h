// 2-D convolution, stride 1, zero padding, odd square kernels (cross-correlation, as PyTorch).
// The weights are frozen: no weight gradient is ever computed; backward goes to the input only.
//
// Forward and backward-to-input run as im2col + Eigen GEMM over bands of output rows,
// parallelized with OpenMP over bands (disjoint outputs); a naive direct convolution stays
// beside them as the reference they are tested against.
#pragma once

#include "nst/autograd.h"

#include <memory>

namespace nst {

struct ConvShape {
  int64_t C = 0, H = 0, W = 0;  // input channels, height, width
  int64_t K = 0, R = 0;         // output channels, kernel size (R x R, R odd)
  int64_t pad = 0;              // zero padding on every side
  int64_t OH() const { return H + 2 * pad - R + 1; }
  int64_t OW() const { return W + 2 * pad - R + 1; }
  // Throws std::invalid_argument unless the shape is one this convolution supports.
  void validate() const;
};

// Shape of a convolution of x (N,C,H,W) with w (K,C,R,R); validates both.
ConvShape conv_shape(const Shape& x, const Shape& w, int64_t pad);

namespace kernels {
// One sample. x: (C,H,W), w: (K,C,R,R), y: (K,OH,OW) overwritten.
template <class T>
void conv2d_forward_naive(const ConvShape& s, const T* x, const T* w, T* y);
template <class T>
void conv2d_forward_im2col(const ConvShape& s, const T* x, const T* w, T* y);
// One sample. dy: (K,OH,OW); dx: (C,H,W) accumulated into (+=).
template <class T>
void conv2d_backward_input_naive(const ConvShape& s, const T* dy, const T* w, T* dx);
template <class T>
void conv2d_backward_input_im2col(const ConvShape& s, const T* dy, const T* w, T* dx);
}  // namespace kernels

// x: (N,C,H,W), w: (K,C,R,R) -> (N,K,OH,OW). pad = R/2 keeps the size (VGG: R = 3, pad = 1).
template <class T>
Var<T> conv2d(const Var<T>& x, std::shared_ptr<const Tensor<T>> w, int64_t pad);

}  // namespace nst
