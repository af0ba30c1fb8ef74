#include "nst/ops/elementwise.h"

#include <cstdint>

namespace nst {

template <class T>
Var<T> bias_add(const Var<T>& x, std::shared_ptr<const Tensor<T>> b) {
  require_nchw(x.shape(), "bias_add");
  const int64_t N = x.shape()[0], C = x.shape()[1], HW = x.shape()[2] * x.shape()[3];
  if (!b || b->shape() != Shape{C})
    throw std::invalid_argument("bias_add: bias " + (b ? shape_str(b->shape()) : "null") +
                                " does not fit input " + shape_str(x.shape()));
  Tensor<T> y = Tensor<T>::uninitialized(x.shape());
  const T* in = x.value().data();
#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const T bc = (*b)[nc % C];
    for (int64_t i = nc * HW; i < (nc + 1) * HW; ++i) y[i] = in[i] + bc;
  }
  return make_result<T>(std::move(y), {x.node()}, [](const Tensor<T>& g, Node<T>& self) {
    Node<T>& src = *self.inputs[0];
    const bool fresh = src.claim_fresh_grad();
    Tensor<T>& dx = src.grad;
    const int64_t n = g.numel();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) dx[i] = fresh ? g[i] : dx[i] + g[i];
  });
}

template <class T>
Var<T> relu(const Var<T>& x) {
  const Tensor<T>& in = x.value();
  const int64_t n = in.numel();
  Tensor<T> y = Tensor<T>::uninitialized(in.shape());
  auto mask = std::make_shared<Buffer<uint8_t>>(x.requires_grad() ? static_cast<size_t>(n) : 0);
  uint8_t* m = mask->data();
  const bool keep = x.requires_grad();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const bool pos = in[i] > T(0);
    y[i] = pos ? in[i] : T(0);
    if (keep) m[i] = pos;
  }
  return make_result<T>(std::move(y), {x.node()}, [mask](const Tensor<T>& g, Node<T>& self) {
    Node<T>& src = *self.inputs[0];
    const bool fresh = src.claim_fresh_grad();
    Tensor<T>& dx = src.grad;
    const uint8_t* mm = mask->data();
    const int64_t count = g.numel();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) {
      const T gi = mm[i] ? g[i] : T(0);
      dx[i] = fresh ? gi : dx[i] + gi;
    }
  });
}

template <class T>
Var<T> scale(const Var<T>& x, T a) {
  Tensor<T> y(x.shape());
  for (int64_t i = 0; i < y.numel(); ++i) y[i] = a * x.value()[i];
  return make_result<T>(std::move(y), {x.node()}, [a](const Tensor<T>& g, Node<T>& self) {
    Tensor<T>& dx = self.inputs[0]->grad_buffer();
    for (int64_t i = 0; i < g.numel(); ++i) dx[i] += a * g[i];
  });
}

template <class T>
Var<T> sum(const std::vector<Var<T>>& xs) {
  if (xs.empty()) throw std::invalid_argument("sum: no terms");
  Tensor<T> y(xs[0].shape());
  std::vector<NodePtr<T>> inputs;
  for (const Var<T>& x : xs) {
    require_same_shape(x.shape(), y.shape(), "sum");
    for (int64_t i = 0; i < y.numel(); ++i) y[i] += x.value()[i];
    inputs.push_back(x.node());
  }
  return make_result<T>(std::move(y), std::move(inputs), [](const Tensor<T>& g, Node<T>& self) {
    for (const NodePtr<T>& in : self.inputs) {
      if (!in) continue;
      Tensor<T>& dx = in->grad_buffer();
      for (int64_t i = 0; i < g.numel(); ++i) dx[i] += g[i];
    }
  });
}

#define NST_INSTANTIATE(T)                                                    \
  template Var<T> bias_add<T>(const Var<T>&, std::shared_ptr<const Tensor<T>>); \
  template Var<T> relu<T>(const Var<T>&);                                     \
  template Var<T> scale<T>(const Var<T>&, T);                                 \
  template Var<T> sum<T>(const std::vector<Var<T>>&);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)
#undef NST_INSTANTIATE

}  // namespace nst
