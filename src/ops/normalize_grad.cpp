#include "nst/ops/normalize_grad.h"

#include <cmath>

namespace nst {

template <class T>
Var<T> normalize_grad(const Var<T>& x, T strength) {
  return make_result<T>(Tensor<T>(x.value()), {x.node()}, [strength](const Tensor<T>& g, Node<T>& self) {
    double l1 = 0;  // in order, in double: the same for any thread count
    for (int64_t i = 0; i < g.numel(); ++i) l1 += std::abs(static_cast<double>(g[i]));
    const double k = static_cast<double>(strength) / (l1 + 1e-8);
    Tensor<T>& dx = self.inputs[0]->grad_buffer();
    for (int64_t i = 0; i < g.numel(); ++i) dx[i] += static_cast<T>(k * static_cast<double>(g[i]));
  });
}

template Var<float> normalize_grad(const Var<float>&, float);
template Var<double> normalize_grad(const Var<double>&, double);

}  // namespace nst
