#include "nst/ops/pool.h"

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
  Tensor<T> y(os);
  const bool keep = x.requires_grad();
  auto arg = std::make_shared<std::vector<uint8_t>>(keep ? static_cast<size_t>(y.numel()) : 0);
  const T* in = x.value().data();
  uint8_t* a = arg->data();
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const T* w0 = in + (p * H + 2 * oy) * W + 2 * ox;
        const T v[4] = {w0[0], w0[1], w0[W], w0[W + 1]};
        uint8_t best = 0;
        for (uint8_t k = 1; k < 4; ++k)
          if (v[k] > v[best]) best = k;
        const int64_t o = (p * OH + oy) * OW + ox;
        y[o] = v[best];
        if (keep) a[o] = best;
      }
  return make_result<T>(std::move(y), {x.node()}, [arg, planes, H, W, OH, OW](const Tensor<T>& g, Node<T>& self) {
    T* dx = self.inputs[0]->grad_buffer().data();
    const uint8_t* am = arg->data();
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          const int64_t o = (p * OH + oy) * OW + ox;
          const int64_t k = am[o];
          dx[(p * H + 2 * oy + k / 2) * W + 2 * ox + k % 2] += g[o];
        }
  });
}

template <class T>
Var<T> avg_pool2(const Var<T>& x) {
  const Shape os = pooled_shape(x.shape(), "avg_pool2");
  const int64_t H = x.shape()[2], W = x.shape()[3], OH = os[2], OW = os[3];
  const int64_t planes = os[0] * os[1];
  Tensor<T> y(os);
  const T* in = x.value().data();
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const T* w0 = in + (p * H + 2 * oy) * W + 2 * ox;
        y[(p * OH + oy) * OW + ox] = (w0[0] + w0[1] + w0[W] + w0[W + 1]) * T(0.25);
      }
  return make_result<T>(std::move(y), {x.node()}, [planes, H, W, OH, OW](const Tensor<T>& g, Node<T>& self) {
    T* dx = self.inputs[0]->grad_buffer().data();
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          const T q = g[(p * OH + oy) * OW + ox] * T(0.25);
          T* d0 = dx + (p * H + 2 * oy) * W + 2 * ox;
          d0[0] += q;
          d0[1] += q;
          d0[W] += q;
          d0[W + 1] += q;
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
