#include "nst/ops/losses.h"

#include <algorithm>
#include <vector>

namespace nst {

namespace {

constexpr int64_t kSumChunk = 1 << 14;

// Σ term(i) for i in [0, n), in double: fixed chunks summed in parallel, then in order.
template <class F>
double chunked_sum(int64_t n, F term) {
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> part(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    double s = 0;
    for (int64_t i = c * kSumChunk; i < std::min(n, (c + 1) * kSumChunk); ++i) s += term(i);
    part[static_cast<size_t>(c)] = s;
  }
  double total = 0;
  for (double s : part) total += s;
  return total;
}

template <class T>
Tensor<T> scalar(double v) {
  return Tensor<T>(Shape{}, static_cast<T>(v));
}

}  // namespace

template <class T>
Var<T> mse(const Var<T>& x, std::shared_ptr<const Tensor<T>> target) {
  if (!target) throw std::invalid_argument("mse: no target");
  require_same_shape(x.shape(), target->shape(), "mse");
  const int64_t n = x.value().numel();
  if (n == 0) throw std::invalid_argument("mse: empty input");
  const T* a = x.value().data();
  const T* t = target->data();
  const double total = chunked_sum(n, [&](int64_t i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(t[i]);
    return d * d;
  });
  auto in = x.value_ptr();
  return make_result<T>(scalar<T>(total / static_cast<double>(n)), {x.node()},
                        [in, target, n](const Tensor<T>& g, Node<T>& self) {
                          T* dx = self.inputs[0]->grad_buffer().data();
                          const T k = T(2) * g[0] / static_cast<T>(n);
                          const T* a2 = in->data();
                          const T* t2 = target->data();
#pragma omp parallel for schedule(static)
                          for (int64_t i = 0; i < n; ++i) dx[i] += k * (a2[i] - t2[i]);
                        });
}

template <class T>
Var<T> dot_constant(const Var<T>& x, std::shared_ptr<const Tensor<T>> c) {
  if (!c) throw std::invalid_argument("dot_constant: no constant");
  require_same_shape(x.shape(), c->shape(), "dot_constant");
  const int64_t n = x.value().numel();
  const T* a = x.value().data();
  const T* b = c->data();
  const double total = chunked_sum(n, [&](int64_t i) { return static_cast<double>(a[i]) * static_cast<double>(b[i]); });
  return make_result<T>(scalar<T>(total), {x.node()}, [c, n](const Tensor<T>& g, Node<T>& self) {
    T* dx = self.inputs[0]->grad_buffer().data();
    const T k = g[0];
    const T* b2 = c->data();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) dx[i] += k * b2[i];
  });
}

template <class T>
Var<T> total_variation(const Var<T>& x) {
  require_nchw(x.shape(), "total_variation");
  const int64_t H = x.shape()[2], W = x.shape()[3];
  const int64_t rows = x.shape()[0] * x.shape()[1] * H;  // all image rows of all planes
  const T* a = x.value().data();
  // One term per image row: its horizontal differences and those to the row below.
  const double total = chunked_sum(rows, [&](int64_t r) {
    const T* p = a + r * W;
    const bool has_below = (r % H) != H - 1;
    double s = 0;
    for (int64_t w = 0; w < W; ++w) {
      if (w + 1 < W) {
        const double d = static_cast<double>(p[w + 1]) - p[w];
        s += d * d;
      }
      if (has_below) {
        const double d = static_cast<double>(p[w + W]) - p[w];
        s += d * d;
      }
    }
    return s;
  });
  auto in = x.value_ptr();
  return make_result<T>(scalar<T>(0.5 * total), {x.node()}, [in, rows, H, W](const Tensor<T>& g, Node<T>& self) {
    T* dx = self.inputs[0]->grad_buffer().data();
    const T k = g[0];
    const T* v = in->data();
    // Each pixel gathers the derivatives of the (up to four) differences it takes part in.
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t h = r % H;
      const T* p = v + r * W;
      T* d = dx + r * W;
      for (int64_t w = 0; w < W; ++w) {
        T s = 0;
        if (w > 0) s += p[w] - p[w - 1];
        if (w + 1 < W) s -= p[w + 1] - p[w];
        if (h > 0) s += p[w] - p[w - W];
        if (h + 1 < H) s -= p[w + W] - p[w];
        d[w] += k * s;
      }
    }
  });
}

template Var<float> mse<float>(const Var<float>&, std::shared_ptr<const Tensor<float>>);
template Var<double> mse<double>(const Var<double>&, std::shared_ptr<const Tensor<double>>);
template Var<float> dot_constant<float>(const Var<float>&, std::shared_ptr<const Tensor<float>>);
template Var<double> dot_constant<double>(const Var<double>&, std::shared_ptr<const Tensor<double>>);
template Var<float> total_variation<float>(const Var<float>&);
template Var<double> total_variation<double>(const Var<double>&);

}  // namespace nst
