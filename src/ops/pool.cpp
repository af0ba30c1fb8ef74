#include "nst/ops/pool.h"

#include "nst/kernels/pool.h"

#include <algorithm>
#include <cstdint>

namespace nst {

namespace {
Shape pooled_shape(const Shape& s, const char* op) {
  require_nchw(s, op);
  if (s[2] < 2 || s[3] < 2)
    throw std::invalid_argument(std::string(op) + ": input " + shape_str(s) +
                                " is smaller than the 2x2 window");
  return {s[0], s[1], s[2] / 2, s[3] / 2};
}
}  // namespace

template <class T>
Var<T> max_pool2(const Var<T>& x) {
  const Shape os = pooled_shape(x.shape(), "max_pool2");
  const int64_t H = x.shape()[2], W = x.shape()[3], OH = os[2], OW = os[3];
  const int64_t planes = os[0] * os[1];
  Tensor<T> y = Tensor<T>::uninitialized(os);
  const bool keep = x.requires_grad();
  // The index 0..3 of each window's maximum, for the backward.
  auto arg = std::make_shared<Buffer<uint8_t>>(keep ? static_cast<size_t>(y.numel()) : 0);
  const T* in = x.value().data();
  uint8_t* a = arg->data();
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < OH; ++oy) {
      const T* r0 = in + (p * H + 2 * oy) * W;
      const int64_t o = (p * OH + oy) * OW;
      kernels::max_pool2_row(r0, r0 + W, OW, y.data() + o, keep ? a + o : nullptr);
    }
  return make_result<T>(std::move(y), {x.node()}, [arg, planes, H, W, OH, OW](const Tensor<T>& g, Node<T>& self) {
    Node<T>& src = *self.inputs[0];
    const bool fresh = src.claim_fresh_grad();
    T* dx = src.grad.data();
    const uint8_t* am = arg->data();
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      T* plane = dx + p * H * W;
      // A fresh gradient is written whole: the window's four values, and zeros in the row and
      // column a floor-mode pooling leaves out.
      if (fresh && H % 2) std::fill(plane + (H - 1) * W, plane + H * W, T(0));
      for (int64_t oy = 0; oy < OH; ++oy) {
        T* r0 = plane + 2 * oy * W;
        T* r1 = r0 + W;
        if (fresh && W % 2) r0[W - 1] = r1[W - 1] = T(0);
        const int64_t o = (p * OH + oy) * OW;
        kernels::max_pool2_backward_row(g.data() + o, am + o, OW, r0, r1, fresh);
      }
    }
  });
}

template <class T>
Var<T> avg_pool2(const Var<T>& x) {
  const Shape os = pooled_shape(x.shape(), "avg_pool2");
  const int64_t H = x.shape()[2], W = x.shape()[3], OH = os[2], OW = os[3];
  const int64_t planes = os[0] * os[1];
  Tensor<T> y = Tensor<T>::uninitialized(os);
  const T* in = x.value().data();
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const T* w0 = in + (p * H + 2 * oy) * W + 2 * ox;
        y[(p * OH + oy) * OW + ox] = (w0[0] + w0[1] + w0[W] + w0[W + 1]) * T(0.25);
      }
  return make_result<T>(std::move(y), {x.node()}, [planes, H, W, OH, OW](const Tensor<T>& g, Node<T>& self) {
    Node<T>& src = *self.inputs[0];
    const bool fresh = src.claim_fresh_grad();
    T* dx = src.grad.data();
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      T* plane = dx + p * H * W;
      if (fresh && H % 2) std::fill(plane + (H - 1) * W, plane + H * W, T(0));
      for (int64_t oy = 0; oy < OH; ++oy) {
        T* d0 = plane + 2 * oy * W;
        if (fresh && W % 2) d0[W - 1] = d0[2 * W - 1] = T(0);
        for (int64_t ox = 0; ox < OW; ++ox) {
          const T q = g[(p * OH + oy) * OW + ox] * T(0.25);
          T* d = d0 + 2 * ox;
          if (fresh) {
            d[0] = d[1] = d[W] = d[W + 1] = q;
          } else {
            d[0] += q;
            d[1] += q;
            d[W] += q;
            d[W + 1] += q;
          }
        }
      }
    }
  });
}

#define NST_INSTANTIATE(T)                       \
  template Var<T> max_pool2<T>(const Var<T>&);   \
  template Var<T> avg_pool2<T>(const Var<T>&);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)
#undef NST_INSTANTIATE

}  // namespace nst
