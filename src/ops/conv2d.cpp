#include "nst/ops/conv2d.h"

#include "nst/kernels/conv_gemm.h"
#include "nst/kernels/winograd.h"

#include <omp.h>

#include <algorithm>
#include <string>
#include <type_traits>

namespace nst {

namespace {
// Float convolutions with at most this many taps per output value (C·R·R) run as band GEMMs
// (nst/kernels/conv_gemm.h): VGG's conv1_1, C = 3.
constexpr int64_t kMaxGemmTaps = 27;
}  // namespace

ConvShape conv_shape(const Shape& x, const Shape& w, int64_t pad) {
  require_nchw(x, "conv2d input");
  require_nchw(w, "conv2d weights");
  if (w[1] != x[1] || w[2] != w[3])
    throw std::invalid_argument("conv2d: weights " + shape_str(w) + " do not fit input " +
                                shape_str(x) + " (expected [K," + std::to_string(x[1]) + ",R,R])");
  ConvShape s{x[1], x[2], x[3], w[0], w[2], pad};
  s.validate();
  return s;
}

template <class T>
bool conv2d_uses_gemm(const ConvShape& s) {
  return std::is_same_v<T, float> && s.C * s.R * s.R <= kMaxGemmTaps;
}

template <class T>
bool conv2d_uses_winograd(const ConvShape& s) {
  return kernels::winograd_supports(s) && !conv2d_uses_gemm<T>(s);
}

template <class T>
ConvWeights<T>::ConvWeights(std::shared_ptr<const Tensor<T>> w) : w_(std::move(w)) {
  if (!w_) throw std::invalid_argument("conv2d: no weights");
  require_nchw(w_->shape(), "conv2d weights");
  shape_ = w_->shape();
  if (shape_[2] != shape_[3] || shape_[2] % 2 == 0)
    throw std::invalid_argument("conv2d: weights " + shape_str(shape_) + " are not (K,C,R,R) with R odd");
}

template <class T>
std::shared_ptr<const ConvWeights<T>> ConvWeights<T>::winograd_only(std::shared_ptr<const Tensor<T>> w) {
  auto cw = std::make_shared<ConvWeights<T>>(std::move(w));
  cw->winograd();
  cw->w_.reset();
  return cw;
}

template <class T>
const Tensor<T>& ConvWeights<T>::tensor() const {
  if (!w_)
    throw std::invalid_argument("conv2d: the weights " + shape_str(shape_) +
                                " were kept only as their Winograd transform (a model loaded for the fast "
                                "kernels); this path needs them as they are: load the model with its weights");
  return *w_;
}

template <class T>
const T* ConvWeights<T>::winograd() const {
  if (shape_[2] != 3) throw std::logic_error("ConvWeights::winograd: kernel is not 3x3");
  std::call_once(once_, [this] {
    const int64_t K = shape_[0], C = shape_[1];
    u_.resize(static_cast<size_t>(kernels::winograd_weights_size(K, C)));
    kernels::winograd_transform_weights(K, C, w_->data(), u_.data());
  });
  return u_.data();
}

namespace {

// conv2d, with bias and ReLU fused in when given (conv2d_bias_relu).
template <class T>
Var<T> conv_op(const Var<T>& x, std::shared_ptr<const ConvWeights<T>> w, std::shared_ptr<const Tensor<T>> bias,
               bool relu, int64_t pad, ConvAlgo algo) {
  if (!w) throw std::invalid_argument("conv2d: no weights");
  const ConvShape s = conv_shape(x.shape(), w->shape(), pad);
  if (bias && bias->shape() != Shape{s.K})
    throw std::invalid_argument("conv2d: bias " + shape_str(bias->shape()) + " does not fit " +
                                std::to_string(s.K) + " output channels");
  const bool wino = algo == ConvAlgo::Winograd || (algo == ConvAlgo::Auto && conv2d_uses_winograd<T>(s));
  const bool gemm = algo == ConvAlgo::Auto && conv2d_uses_gemm<T>(s);
  if (wino && !kernels::winograd_supports(s))
    throw std::invalid_argument("conv2d: Winograd needs a 3x3 kernel with padding 1");
  if (!wino) (void)w->tensor();  // before any work: throws for weights kept only as U
  const int64_t N = x.shape()[0];
  const int64_t in_size = s.C * s.H * s.W, out_size = s.K * s.OH() * s.OW();
  Tensor<T> y = Tensor<T>::uninitialized({N, s.K, s.OH(), s.OW()});
  // The ReLU mask the backward reads: only when there will be a backward.
  std::shared_ptr<Buffer<uint8_t>> mask;
  if (relu && x.requires_grad()) mask = std::make_shared<Buffer<uint8_t>>(static_cast<size_t>(N * out_size));
  for (int64_t n = 0; n < N; ++n) {
    const T* xn = x.value().data() + n * in_size;
    T* yn = y.data() + n * out_size;
    kernels::ConvEpilogue<T> epi;
    epi.bias = bias ? bias->data() : nullptr;
    epi.relu = relu;
    epi.mask = mask ? mask->data() + n * out_size : nullptr;
    if (wino) {
      kernels::conv3x3_forward_winograd(s, xn, w->winograd(), yn, epi);
    } else if (gemm) {
      if constexpr (std::is_same_v<T, float>) kernels::conv2d_forward_gemm(s, xn, w->tensor().data(), yn, epi);
    } else {
      kernels::conv2d_forward_im2col(s, xn, w->tensor().data(), yn);
      kernels::apply_epilogue(s.K, s.OH() * s.OW(), yn, epi);
    }
  }
  return make_result<T>(std::move(y), {x.node()}, [s, w, wino, gemm, N, in_size, out_size, mask](const Tensor<T>& g, Node<T>& self) {
    Node<T>& src = *self.inputs[0];
    const bool fresh = src.claim_fresh_grad();
    T* dx = src.grad.data();
    if (wino) {
      for (int64_t n = 0; n < N; ++n)
        kernels::conv3x3_backward_input_winograd(s, g.data() + n * out_size, w->winograd(), dx + n * in_size,
                                                 mask ? mask->data() + n * out_size : nullptr, !fresh);
      return;
    }
    if constexpr (std::is_same_v<T, float>) {
      if (gemm) {
        for (int64_t n = 0; n < N; ++n)
          kernels::conv2d_backward_input_gemm(s, g.data() + n * out_size, w->tensor().data(), dx + n * in_size,
                                              mask ? mask->data() + n * out_size : nullptr, !fresh);
        return;
      }
    }
    // im2col accumulates: start from zero, and apply the mask as a pass of its own.
    if (fresh) std::fill(dx, dx + N * in_size, T(0));
    const T* gp = g.data();
    Tensor<T> masked;
    if (mask) {
      masked = Tensor<T>::uninitialized(g.shape());
      const uint8_t* m = mask->data();
      for (int64_t i = 0; i < g.numel(); ++i) masked[i] = m[i] ? g[i] : T(0);
      gp = masked.data();
    }
    for (int64_t n = 0; n < N; ++n)
      kernels::conv2d_backward_input_im2col(s, gp + n * out_size, w->tensor().data(), dx + n * in_size);
  });
}

}  // namespace

template <class T>
Var<T> conv2d(const Var<T>& x, std::shared_ptr<const ConvWeights<T>> w, int64_t pad, ConvAlgo algo) {
  return conv_op<T>(x, std::move(w), nullptr, false, pad, algo);
}

template <class T>
Var<T> conv2d_bias_relu(const Var<T>& x, std::shared_ptr<const ConvWeights<T>> w,
                        std::shared_ptr<const Tensor<T>> bias, int64_t pad, ConvAlgo algo) {
  if (!bias) throw std::invalid_argument("conv2d_bias_relu: no bias");
  return conv_op<T>(x, std::move(w), std::move(bias), true, pad, algo);
}

template <class T>
Var<T> conv2d(const Var<T>& x, std::shared_ptr<const Tensor<T>> w, int64_t pad, ConvAlgo algo) {
  if (!w) throw std::invalid_argument("conv2d: no weights");
  conv_shape(x.shape(), w->shape(), pad);  // shape errors before any weight transform
  return conv2d(x, std::make_shared<const ConvWeights<T>>(std::move(w)), pad, algo);
}

#define NST_INSTANTIATE(T)                                                                     \
  template bool conv2d_uses_gemm<T>(const ConvShape&);                                        \
  template bool conv2d_uses_winograd<T>(const ConvShape&);                                    \
  template class ConvWeights<T>;                                                              \
  template Var<T> conv2d<T>(const Var<T>&, std::shared_ptr<const ConvWeights<T>>, int64_t,     \
                            ConvAlgo);                                                         \
  template Var<T> conv2d<T>(const Var<T>&, std::shared_ptr<const Tensor<T>>, int64_t, ConvAlgo); \
  template Var<T> conv2d_bias_relu<T>(const Var<T>&, std::shared_ptr<const ConvWeights<T>>,       \
                                      std::shared_ptr<const Tensor<T>>, int64_t, ConvAlgo);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)
#undef NST_INSTANTIATE

}  // namespace nst
