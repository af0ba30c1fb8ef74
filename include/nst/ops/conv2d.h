// 2-D convolution, stride 1, zero padding, odd square kernels (cross-correlation, as PyTorch).
// The weights are frozen: no weight gradient is ever computed; backward goes to the input only.
//
// Three paths: float convolutions of few input channels (C·R·R <= 27: VGG's conv1_1) run as
// bands of im2col + the kernel set's GEMM (nst/kernels/conv_gemm.h); other 3x3 pad-1
// convolutions (the rest of VGG's) as Winograd F(4x4,3x3) (nst/kernels/winograd.h) with weights
// transformed once, in ConvWeights; every other shape as im2col + Eigen GEMM
// (nst/kernels/conv.h), parallelized with OpenMP over disjoint blocks of output rows and
// channels. im2col stays as the reference the fast paths are compared with, and a naive direct
// convolution as the reference all are tested against.
#pragma once

#include "nst/autograd.h"
#include "nst/kernels/conv.h"

#include <memory>
#include <mutex>
#include <vector>

namespace nst {

// Shape of a convolution of x (N,C,H,W) with w (K,C,R,R); validates both.
ConvShape conv_shape(const Shape& x, const Shape& w, int64_t pad);

// Which kernels conv2d runs. Auto: the band GEMM where conv2d_uses_gemm, else Winograd for R = 3
// and pad = 1, else im2col. Im2col forces the reference path; Winograd throws
// std::invalid_argument on other shapes.
enum class ConvAlgo { Auto, Im2col, Winograd };

// Whether conv2d's ConvAlgo::Auto takes the Winograd path: every R = 3, pad = 1 shape that does
// not take the band GEMM, in float and in double (so the gradient checks run through it).
// Speeds of the paths per layer: benchmarks/RESULTS.md.
template <class T>
bool conv2d_uses_winograd(const ConvShape& s);
// Whether ConvAlgo::Auto takes the band-GEMM path (nst/kernels/conv_gemm.h) instead: float
// convolutions of few input channels (C·R·R <= 27: VGG's conv1_1), whatever R and pad.
template <class T>
bool conv2d_uses_gemm(const ConvShape& s);

// Frozen convolution weights (K,C,R,R) and, for 3x3 kernels, their Winograd transform
// U (36,K,C; kernels/winograd.h), computed once on first use (thread-safe) and shared by forward
// and backward.
// Build one per layer when the model is built, not per call.
template <class T>
class ConvWeights {
 public:
  // Throws std::invalid_argument unless w is (K,C,R,R) with R odd.
  explicit ConvWeights(std::shared_ptr<const Tensor<T>> w);
  // The same holding only U, made now: for a layer that only ever runs Winograd (a model loaded
  // for the fast kernels, nst/model/vgg19.h). U is 4x the weights' size, so keeping both costs
  // a quarter more. tensor() then throws std::invalid_argument; R must be 3.
  static std::shared_ptr<const ConvWeights> winograd_only(std::shared_ptr<const Tensor<T>> w);

  const Shape& shape() const { return shape_; }
  bool has_tensor() const { return w_ != nullptr; }
  const Tensor<T>& tensor() const;
  const std::shared_ptr<const Tensor<T>>& tensor_ptr() const { return w_; }  // null after winograd_only
  // U (kernels/winograd.h); only for R == 3.
  const T* winograd() const;

 private:
  Shape shape_;
  std::shared_ptr<const Tensor<T>> w_;
  mutable std::once_flag once_;
  mutable Buffer<T> u_;
};

// x: (N,C,H,W), w: (K,C,R,R) -> (N,K,OH,OW). pad = R/2 keeps the size (VGG: R = 3, pad = 1).
template <class T>
Var<T> conv2d(const Var<T>& x, std::shared_ptr<const ConvWeights<T>> w, int64_t pad,
              ConvAlgo algo = ConvAlgo::Auto);
// The same from a bare tensor: the Winograd weights are transformed on every call (fine for
// tests and one-off calls; a model keeps ConvWeights).
template <class T>
Var<T> conv2d(const Var<T>& x, std::shared_ptr<const Tensor<T>> w, int64_t pad,
              ConvAlgo algo = ConvAlgo::Auto);

// relu(conv2d(x, w) + bias) as one op, VGG's conv + ReLU pair: on the Winograd path the bias
// and ReLU are applied as the output is stored, and the backward multiplies the gradient by
// the ReLU mask while it reads it, so neither takes a pass over memory of its own. Keeps a
// 1-byte mask per output value for the backward, as relu does. bias: (K).
template <class T>
Var<T> conv2d_bias_relu(const Var<T>& x, std::shared_ptr<const ConvWeights<T>> w,
                        std::shared_ptr<const Tensor<T>> bias, int64_t pad,
                        ConvAlgo algo = ConvAlgo::Auto);

}  // namespace nst
