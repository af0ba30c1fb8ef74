// The portable kernel set: plain C++ and Eigen, compiled with the build's flags (x86-64
// baseline by default, aarch64 with NEON, or -march=native with NST_NATIVE=ON). It also serves
// double (tests, gradient checks).
#include "nst/half.h"
#include "nst/kernels/pool.h"
#include "nst/tensor.h"
#include "table.h"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>

namespace nst::kernels {

namespace portable {
namespace {

#include "winograd_rows.inl"
#include "pool_rows.inl"
#include "conv_rows.inl"

// Calls f with a map of the (rows x cols) matrix at p, element (i, j) at p[i*rs + j*cs]: a
// row-major or column-major map with an outer stride where one stride is 1, general otherwise.
template <class F>
void with_map(const float* p, int64_t rows, int64_t cols, int64_t rs, int64_t cs, F&& f) {
  using Index = Eigen::Index;
  if (cs == 1) {
    f(Eigen::Map<const RowMajor<float>, 0, Eigen::OuterStride<>>(p, rows, cols, Eigen::OuterStride<>(rs)));
  } else if (rs == 1) {
    f(Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>>(p, rows, cols, Eigen::OuterStride<>(cs)));
  } else {
    using S = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
    f(Eigen::Map<const RowMajor<float>, 0, S>(p, static_cast<Index>(rows), static_cast<Index>(cols), S(rs, cs)));
  }
}

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs, const float* B,
           int64_t b_rs, int64_t b_cs, float* C, int64_t ldc, float*) {
  Strided<float> c(C, M, N, Eigen::OuterStride<>(ldc));
  with_map(A, M, K, a_rs, a_cs, [&](const auto& a) {
    with_map(B, K, N, b_rs, b_cs, [&](const auto& b) { c.noalias() = a * b; });
  });
}

int64_t sgemm_scratch(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) { return 0; }

void input_row_f(const WinogradRowArgs<float>& a) { input_row(a); }
void output_row_f(const WinogradRowArgs<float>& a) { output_row(a); }

void half_encode(const float* v, float inv_scale, uint16_t* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) b[i] = float_to_f16(v[i] * inv_scale);
}

double half_dot(const uint16_t* b, const float* q, int64_t begin, int64_t end) {
  double sum = 0;
  for (int64_t i = begin; i < end; ++i) sum += static_cast<double>(f16_to_float(b[i])) * static_cast<double>(q[i]);
  return sum;
}

void half_axpy(float a, const uint16_t* b, float* q, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) q[i] = std::fma(a, f16_to_float(b[i]), q[i]);
}

void max_pool2_row_f(const float* x0, const float* x1, int64_t OW, float* y, uint8_t* arg) {
  max_pool2_row_scalar(x0, x1, OW, y, arg);
}
void max_pool2_backward_row_f(const float* g, const uint8_t* arg, int64_t OW, float* d0, float* d1, bool fresh) {
  max_pool2_backward_row_scalar(g, arg, OW, d0, d1, fresh);
}

constexpr KernelTable kTable = {KernelSet::Portable, sgemm, sgemm_scratch, input_row_f, output_row_f,
                                half_encode, half_dot, half_axpy, max_pool2_row_f, max_pool2_backward_row_f,
                                bias_relu_row, masked_copy_row, add_row};

}  // namespace
}  // namespace portable

const KernelTable* portable_table() { return &portable::kTable; }

#if !defined(NST_KERNELS_X86)
const KernelTable* avx2_table() { return nullptr; }
const KernelTable* avx512_table() { return nullptr; }
#endif

int64_t winograd_row_scratch_size(const WinogradGeometry& g) {
  const int64_t S = 4 * g.tiles_x + 8, P = g.tiles_x + 2, W4 = 4 * g.tiles_x;
  return 6 * S + 4 * P + g.W + 4 * g.tiles_x + 10 * W4 + 7 * g.W;
}

template <>
void winograd_input_row<float>(const WinogradRowArgs<float>& a) {
  active_table().winograd_input_row(a);
}
template <>
void winograd_output_row<float>(const WinogradRowArgs<float>& a) {
  active_table().winograd_output_row(a);
}
template <>
void winograd_input_row<double>(const WinogradRowArgs<double>& a) {
  portable::input_row(a);
}
template <>
void winograd_output_row<double>(const WinogradRowArgs<double>& a) {
  portable::output_row(a);
}

template <>
void max_pool2_row<float>(const float* x0, const float* x1, int64_t OW, float* y, uint8_t* arg) {
  active_table().max_pool2_row(x0, x1, OW, y, arg);
}
template <>
void max_pool2_backward_row<float>(const float* g, const uint8_t* arg, int64_t OW, float* d0, float* d1,
                                   bool fresh) {
  active_table().max_pool2_backward_row(g, arg, OW, d0, d1, fresh);
}
template <>
void max_pool2_row<double>(const double* x0, const double* x1, int64_t OW, double* y, uint8_t* arg) {
  portable::max_pool2_row_scalar(x0, x1, OW, y, arg);
}
template <>
void max_pool2_backward_row<double>(const double* g, const uint8_t* arg, int64_t OW, double* d0, double* d1,
                                    bool fresh) {
  portable::max_pool2_backward_row_scalar(g, arg, OW, d0, d1, fresh);
}

}  // namespace nst::kernels
