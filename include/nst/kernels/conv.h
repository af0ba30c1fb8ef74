// The convolution kernels' shared vocabulary and the reference kernels: a naive direct
// convolution (the reference every fast kernel is tested against) and im2col + Eigen GEMM over
// bands of output rows, parallelized with OpenMP over disjoint output blocks (the reference the
// Winograd path is compared with, and the path of every shape Winograd does not take).
#pragma once

#include <cstdint>

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

namespace kernels {
// What a forward kernel does to each output value v of channel k: v + bias[k] when bias is set,
// then max(v, 0) when relu is, recording v > 0 in mask (K,OH,OW) when it is set (relu only).
template <class T>
struct ConvEpilogue {
  const T* bias = nullptr;
  bool relu = false;
  uint8_t* mask = nullptr;
};
// The epilogue as a pass over y (K, HW): for kernels that do not apply it themselves.
template <class T>
void apply_epilogue(int64_t K, int64_t HW, T* y, const ConvEpilogue<T>& epi);

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

}  // namespace nst
