#include "nst/ops/gram.h"

#include "nst/kernels/sgemm.h"

#include <algorithm>
#include <type_traits>

namespace nst {

namespace {
// Work is cut by shape only (never by thread count): rows of G, columns of dF.
constexpr int64_t kGramRows = 32;
constexpr int64_t kGradCols = 1024;
}  // namespace

template <class T>
void gram_product(const T* f, int64_t C, int64_t HW, int64_t ld, T* g) {
  const int64_t blocks = (C + kGramRows - 1) / kGramRows;
  // G is symmetric: each block of rows computes only its part left of the diagonal's end
  // (half the products), then the upper triangle is mirrored from the lower.
#pragma omp parallel for schedule(dynamic)
  for (int64_t b = blocks - 1; b >= 0; --b) {  // the widest blocks first
    const int64_t c0 = b * kGramRows, m = std::min(kGramRows, C - c0);
    if constexpr (std::is_same_v<T, float>) {
      // G[c0.., 0..c0+m) = F[c0..] Fᵀ: B = Fᵀ, element (k, j) at f[j*ld + k].
      kernels::sgemm(m, c0 + m, HW, f + c0 * ld, ld, 1, f, 1, ld, g + c0 * C, C);
    } else {
      const ConstStrided<T> fm(f, C, HW, Eigen::OuterStride<>(ld));
      Strided<T> gm(g + c0 * C, m, c0 + m, Eigen::OuterStride<>(C));
      gm.noalias() = fm.middleRows(c0, m) * fm.topRows(c0 + m).transpose();
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < C; ++i)
    for (int64_t j = i + 1; j < C; ++j) g[i * C + j] = g[j * C + i];
}

template <class T>
void gram_left_product(const T* s, const T* f, int64_t C, int64_t HW, int64_t ld, T* d, bool accumulate) {
  const int64_t blocks = (HW + kGradCols - 1) / kGradCols;
  const ConstStrided<T> sm(s, C, C, Eigen::OuterStride<>(C));
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t j0 = b * kGradCols, jn = std::min(kGradCols, HW - j0);
    const ConstStrided<T> fm(f + j0, C, jn, Eigen::OuterStride<>(ld));
    Strided<T> dm(d + j0, C, jn, Eigen::OuterStride<>(ld));
    if constexpr (std::is_same_v<T, float>) {  // the kernel set's sgemm
      if (!accumulate) {
        kernels::sgemm(C, jn, C, s, C, 1, f + j0, ld, 1, d + j0, ld);
      } else {
        static thread_local Buffer<float> tmp;
        if (tmp.size() < static_cast<size_t>(C * jn)) tmp.resize(static_cast<size_t>(C * jn));
        kernels::sgemm(C, jn, C, s, C, 1, f + j0, ld, 1, tmp.data(), jn);
        dm += Eigen::Map<const RowMajor<float>>(tmp.data(), C, jn);
      }
    } else if (!accumulate) {
      dm.noalias() = sm * fm;
    } else {
      dm.noalias() += sm * fm;
    }
  }
}

template <class T>
Var<T> gram(const Var<T>& x) {
  require_nchw(x.shape(), "gram");
  const int64_t N = x.shape()[0], C = x.shape()[1], HW = x.shape()[2] * x.shape()[3];
  if (C * HW == 0) throw std::invalid_argument("gram: empty input " + shape_str(x.shape()));
  const T norm = T(1) / static_cast<T>(C * HW);
  Tensor<T> g = Tensor<T>::uninitialized({N, C, C});
  for (int64_t n = 0; n < N; ++n) {
    T* gn = g.data() + n * C * C;
    gram_product(x.value().data() + n * C * HW, C, HW, HW, gn);
    if (norm != T(1))
      for (int64_t i = 0; i < C * C; ++i) gn[i] *= norm;
  }
  // dF = (dG + dGᵀ) F / (C·H·W): the backward reads the input features.
  auto feats = x.value_ptr();
  return make_result<T>(std::move(g), {x.node()}, [feats, N, C, HW, norm](const Tensor<T>& dg, Node<T>& self) {
    Node<T>& src = *self.inputs[0];
    const bool fresh = src.claim_fresh_grad();
    for (int64_t n = 0; n < N; ++n) {
      const ConstStrided<T> dgm(dg.data() + n * C * C, C, C, Eigen::OuterStride<>(C));
      const RowMajor<T> sym = (dgm + dgm.transpose()) * norm;
      gram_left_product(sym.data(), feats->data() + n * C * HW, C, HW, HW, src.grad.data() + n * C * HW, !fresh);
    }
  });
}

#define NST_INSTANTIATE(T)                                                                       \
  template Var<T> gram<T>(const Var<T>&);                                                        \
  template void gram_product<T>(const T*, int64_t, int64_t, int64_t, T*);                       \
  template void gram_left_product<T>(const T*, const T*, int64_t, int64_t, int64_t, T*, bool);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)
#undef NST_INSTANTIATE

}  // namespace nst
