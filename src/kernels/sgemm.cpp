#include "nst/kernels/sgemm.h"

#include "nst/tensor.h"
#include "table.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace nst::kernels {

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
           const float* B, int64_t b_rs, int64_t b_cs, float* C, int64_t ldc) {
  if (M < 0 || N < 0 || K < 0)
    throw std::invalid_argument("sgemm: negative size M=" + std::to_string(M) +
                                " N=" + std::to_string(N) + " K=" + std::to_string(K));
  // (With one row of B, K = 1, its row stride is never used: a Gram matrix of 1x1 feature maps
  // passes b_rs = b_cs = 1.)
  if ((K > 1 && b_cs == 1 && b_rs < N) || (M > 0 && ldc < N))
    throw std::invalid_argument("sgemm: row stride shorter than N=" + std::to_string(N) +
                                " (b_rs=" + std::to_string(b_rs) + " ldc=" + std::to_string(ldc) + ")");
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
    return;
  }
  const KernelTable& t = active_table();
  // Per-thread scratch for the packed panels; grows, never shrinks.
  static thread_local Buffer<float> scratch;
  const auto need = static_cast<size_t>(t.sgemm_scratch(M, N, K, a_rs, a_cs, b_cs)) + 16;
  if (scratch.size() < need) scratch.resize(need);
  // 64-byte aligned start.
  float* s = scratch.data();
  s += (16 - (reinterpret_cast<uintptr_t>(s) / sizeof(float)) % 16) % 16;
  t.sgemm(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, s);
}

}  // namespace nst::kernels
