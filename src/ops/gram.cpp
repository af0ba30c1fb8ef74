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
Var<T> gram(const Var<T>& x) {
  require_nchw(x.shape(), "gram");
  const int64_t N = x.shape()[0], C = x.shape()[1], HW = x.shape()[2] * x.shape()[3];
  if (C * HW == 0) throw std::invalid_argument("gram: empty input " + shape_str(x.shape()));
  const T norm = T(1) / static_cast<T>(C * HW);
  Tensor<T> g = Tensor<T>::uninitialized({N, C, C});
  for (int64_t n = 0; n < N; ++n) {
    const T* f = x.value().data() + n * C * HW;
    const int64_t blocks = (C + kGramRows - 1) / kGramRows;
    T* gn = g.data() + n * C * C;
    // G is symmetric: each block of rows computes only its part left of the diagonal's end
    // (half the products), then the upper triangle is mirrored from the lower.
#pragma omp parallel for schedule(dynamic)
    for (int64_t b = blocks - 1; b >= 0; --b) {  // the widest blocks first
      const int64_t c0 = b * kGramRows, m = std::min(kGramRows, C - c0);
      if constexpr (std::is_same_v<T, float>) {
        // G[c0.., 0..c0+m) = F[c0..] Fᵀ: B = Fᵀ, element (k, j) at f[j*HW + k].
        kernels::sgemm(m, c0 + m, HW, f + c0 * HW, HW, 1, f, 1, HW, gn + c0 * C, C);
        if (norm != T(1))
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < c0 + m; ++j) gn[(c0 + i) * C + j] *= norm;
      } else {
        const ConstStrided<T> fm(f, C, HW, Eigen::OuterStride<>(HW));
        Strided<T> gm(gn + c0 * C, m, c0 + m, Eigen::OuterStride<>(C));
        gm.noalias() = (fm.middleRows(c0, m) * fm.topRows(c0 + m).transpose()) * norm;
      }
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < C; ++i)
      for (int64_t j = i + 1; j < C; ++j) gn[i * C + j] = gn[j * C + i];
  }
  // dF = (dG + dGᵀ) F / (C·H·W): the backward reads the input features.
  auto feats = x.value_ptr();
  return make_result<T>(std::move(g), {x.node()}, [feats, N, C, HW, norm](const Tensor<T>& dg, Node<T>& self) {
    Node<T>& src = *self.inputs[0];
    const bool fresh = src.claim_fresh_grad();
    T* dx = src.grad.data();
    for (int64_t n = 0; n < N; ++n) {
      const ConstStrided<T> dgm(dg.data() + n * C * C, C, C, Eigen::OuterStride<>(C));
      const RowMajor<T> sym = (dgm + dgm.transpose()) * norm;
      const T* f = feats->data() + n * C * HW;
      const int64_t blocks = (HW + kGradCols - 1) / kGradCols;
#pragma omp parallel for schedule(static)
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t j0 = b * kGradCols, jn = std::min(kGradCols, HW - j0);
        const ConstStrided<T> fm(f + j0, C, jn, Eigen::OuterStride<>(HW));
        Strided<T> dm(dx + n * C * HW + j0, C, jn, Eigen::OuterStride<>(HW));
        if constexpr (std::is_same_v<T, float>) {  // the kernel set's sgemm
          if (fresh) {
            kernels::sgemm(C, jn, C, sym.data(), C, 1, f + j0, HW, 1, dm.data(), HW);
          } else {
            static thread_local Buffer<float> tmp;
            if (tmp.size() < static_cast<size_t>(C * jn)) tmp.resize(static_cast<size_t>(C * jn));
            kernels::sgemm(C, jn, C, sym.data(), C, 1, f + j0, HW, 1, tmp.data(), jn);
            dm += Eigen::Map<const RowMajor<float>>(tmp.data(), C, jn);
          }
          continue;
        }
        if (fresh)
          dm.noalias() = sym * fm;
        else
          dm.noalias() += sym * fm;
      }
    }
  });
}

template Var<float> gram<float>(const Var<float>&);
template Var<double> gram<double>(const Var<double>&);

}  // namespace nst
