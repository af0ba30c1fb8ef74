#include "nst/ops/masked_gram.h"

#include "nst/ops/elementwise.h"
#include "nst/ops/gram.h"

namespace nst {

template <class T>
Var<T> mask_mul(const Var<T>& x, std::shared_ptr<const Tensor<T>> mask) {
  require_nchw(x.shape(), "mask_mul");
  const int64_t NC = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  if (!mask || mask->shape() != Shape{H, W})
    throw std::invalid_argument("mask_mul: mask " + (mask ? shape_str(mask->shape()) : "null") +
                                " does not fit input " + shape_str(x.shape()));
  Tensor<T> y = Tensor<T>::uninitialized(x.shape());
  const T* in = x.value().data();
  const T* m = mask->data();
#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < NC; ++nc)
    for (int64_t i = 0; i < H * W; ++i) y[nc * H * W + i] = in[nc * H * W + i] * m[i];
  return make_result<T>(std::move(y), {x.node()}, [mask, NC, H, W](const Tensor<T>& g, Node<T>& self) {
    Tensor<T>& dx = self.inputs[0]->grad_buffer();
    const T* mm = mask->data();
#pragma omp parallel for schedule(static)
    for (int64_t nc = 0; nc < NC; ++nc)
      for (int64_t i = 0; i < H * W; ++i) dx[nc * H * W + i] += g[nc * H * W + i] * mm[i];
  });
}

template <class T>
Var<T> masked_gram(const Var<T>& x, std::shared_ptr<const Tensor<T>> mask) {
  require_nchw(x.shape(), "masked_gram");
  if (x.shape()[0] != 1) throw std::invalid_argument("masked_gram: expects N = 1, got " + shape_str(x.shape()));
  const Var<T> fm = mask_mul(x, mask);
  double sq = 0;
  for (int64_t i = 0; i < mask->numel(); ++i) sq += static_cast<double>((*mask)[i]) * static_cast<double>((*mask)[i]);
  const double hw = static_cast<double>(x.shape()[2] * x.shape()[3]);
  return scale(gram(fm), static_cast<T>(sq > 0 ? hw / sq : 0.0));
}

template <class T>
Tensor<T> pool_mask(const Tensor<T>& mask) {
  if (mask.shape().size() != 2) throw std::invalid_argument("pool_mask: expects (H,W), got " + shape_str(mask.shape()));
  const int64_t H = mask.dim(0) / 2, W = mask.dim(1) / 2, W0 = mask.dim(1);
  Tensor<T> out({H, W});
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < W; ++j)
      out[i * W + j] = (mask[2 * i * W0 + 2 * j] + mask[2 * i * W0 + 2 * j + 1] + mask[(2 * i + 1) * W0 + 2 * j] +
                        mask[(2 * i + 1) * W0 + 2 * j + 1]) /
                       T(4);
  return out;
}

template Var<float> mask_mul(const Var<float>&, std::shared_ptr<const Tensor<float>>);
template Var<double> mask_mul(const Var<double>&, std::shared_ptr<const Tensor<double>>);
template Var<float> masked_gram(const Var<float>&, std::shared_ptr<const Tensor<float>>);
template Var<double> masked_gram(const Var<double>&, std::shared_ptr<const Tensor<double>>);
template Tensor<float> pool_mask(const Tensor<float>&);
template Tensor<double> pool_mask(const Tensor<double>&);

}  // namespace nst
