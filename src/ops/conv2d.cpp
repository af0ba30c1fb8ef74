#include "nst/ops/conv2d.h"

#include "nst/ops/winograd.h"

#include <omp.h>

#include <algorithm>
#include <string>

namespace nst {

void ConvShape::validate() const {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("conv2d: " + why + " (C=" + std::to_string(C) +
                                " H=" + std::to_string(H) + " W=" + std::to_string(W) +
                                " K=" + std::to_string(K) + " R=" + std::to_string(R) +
                                " pad=" + std::to_string(pad) + ")");
  };
  if (C < 1 || H < 1 || W < 1 || K < 1) fail("empty input or weights");
  if (R < 1 || R % 2 == 0) fail("kernel size must be odd");
  if (pad < 0 || pad > R / 2) fail("padding must be in 0..R/2");
  if (OH() < 1 || OW() < 1) fail("kernel larger than the padded input");
}

ConvShape conv_shape(const Shape& x, const Shape& w, int64_t pad) {
  require_nchw(x, "conv2d input");
  require_nchw(w, "conv2d weights");
  if (w[1] != x[1] || w[2] != w[3])
    throw std::invalid_argument("conv2d: weights " + shape_str(w) + " do not fit input " +
                                shape_str(x) + " (expected [K," + std::to_string(x[1]) + ",R,R])");
  ConvShape s{x[1], x[2], x[3], w[0], w[2], pad};
  s.validate();
  return s;
}

namespace kernels {

template <class T>
void conv2d_forward_naive(const ConvShape& s, const T* x, const T* w, T* y) {
  const int64_t OH = s.OH(), OW = s.OW();
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        T acc = 0;
        for (int64_t c = 0; c < s.C; ++c)
          for (int64_t ky = 0; ky < s.R; ++ky)
            for (int64_t kx = 0; kx < s.R; ++kx) {
              const int64_t iy = oy + ky - s.pad, ix = ox + kx - s.pad;
              if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
              acc += w[((k * s.C + c) * s.R + ky) * s.R + kx] * x[(c * s.H + iy) * s.W + ix];
            }
        y[(k * OH + oy) * OW + ox] = acc;
      }
}

template <class T>
void conv2d_backward_input_naive(const ConvShape& s, const T* dy, const T* w, T* dx) {
  const int64_t OH = s.OH(), OW = s.OW();
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const T g = dy[(k * OH + oy) * OW + ox];
        for (int64_t c = 0; c < s.C; ++c)
          for (int64_t ky = 0; ky < s.R; ++ky)
            for (int64_t kx = 0; kx < s.R; ++kx) {
              const int64_t iy = oy + ky - s.pad, ix = ox + kx - s.pad;
              if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
              dx[(c * s.H + iy) * s.W + ix] += w[((k * s.C + c) * s.R + ky) * s.R + kx] * g;
            }
      }
}

namespace {

using Index = Eigen::Index;

// The im2col matrix of a group of whole output rows [oy0, oy0 + rows) is (C·R·R) x (rows·OW):
// row (c, ky, kx) holds the input pixel under kernel tap (ky, kx) for each output pixel.
// How the work is cut depends only on the shape, never on the number of threads, so every
// GEMM call and every sum has the same operands and order whatever OMP_NUM_THREADS is.
struct Plan {
  int64_t crr = 0;         // rows of the im2col matrix
  int64_t group_rows = 0;  // output rows per group
  int64_t chunk_cols = 0;  // columns per GEMM task
};

constexpr int64_t kGroupBytes = 32 << 20;  // im2col buffer per group
constexpr int64_t kChunkCols = 256;        // columns per GEMM task
constexpr int64_t kMinTasks = 8;           // split GEMM rows too when a group has fewer chunks

template <class T>
Plan make_plan(const ConvShape& s) {
  Plan p;
  p.crr = s.C * s.R * s.R;
  const int64_t row_bytes = p.crr * s.OW() * static_cast<int64_t>(sizeof(T));
  p.group_rows = std::clamp<int64_t>(kGroupBytes / row_bytes, 1, s.OH());
  p.chunk_cols = kChunkCols;
  return p;
}

// Row blocks for the GEMM of a group with `cols` columns and `m` output rows.
int64_t row_block(int64_t m, int64_t cols, int64_t chunk_cols) {
  const int64_t chunks = (cols + chunk_cols - 1) / chunk_cols;
  if (chunks >= kMinTasks) return m;
  const int64_t parts = (kMinTasks + chunks - 1) / chunks;
  const int64_t rb = (m + parts - 1) / parts;
  return std::min(m, std::max<int64_t>(16, (rb + 15) / 16 * 16));
}

template <class T>
void im2col_rows(const ConvShape& s, const T* x, int64_t oy0, int64_t rows, T* col) {
  const int64_t OW = s.OW(), cols = rows * OW, crr = s.C * s.R * s.R;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < crr; ++r) {
    const int64_t c = r / (s.R * s.R), ky = (r / s.R) % s.R, kx = r % s.R;
    T* out = col + r * cols;
    for (int64_t oy = oy0; oy < oy0 + rows; ++oy) {
      const int64_t iy = oy + ky - s.pad;
      T* o = out + (oy - oy0) * OW;
      if (iy < 0 || iy >= s.H) {
        std::fill(o, o + OW, T(0));
        continue;
      }
      const T* in = x + (c * s.H + iy) * s.W;
      for (int64_t ox = 0; ox < OW; ++ox) {
        const int64_t ix = ox + kx - s.pad;
        o[ox] = (ix >= 0 && ix < s.W) ? in[ix] : T(0);
      }
    }
  }
}

// dx += col2im(dcol) for the output rows [oy0, oy0 + rows): overlapping taps accumulate.
// Parallel over input channels, whose planes are disjoint; taps are added in a fixed order.
template <class T>
void col2im_rows(const ConvShape& s, const T* dcol, int64_t oy0, int64_t rows, T* dx) {
  const int64_t OW = s.OW(), cols = rows * OW;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < s.C; ++c) {
    T* plane = dx + c * s.H * s.W;
    for (int64_t ky = 0; ky < s.R; ++ky)
      for (int64_t kx = 0; kx < s.R; ++kx) {
        const T* in = dcol + ((c * s.R + ky) * s.R + kx) * cols;
        for (int64_t oy = oy0; oy < oy0 + rows; ++oy) {
          const int64_t iy = oy + ky - s.pad;
          if (iy < 0 || iy >= s.H) continue;
          const T* g = in + (oy - oy0) * OW;
          T* o = plane + iy * s.W;
          const int64_t ox0 = std::max<int64_t>(0, s.pad - kx);
          const int64_t ox1 = std::min<int64_t>(OW, s.W + s.pad - kx);
          for (int64_t ox = ox0; ox < ox1; ++ox) o[ox + kx - s.pad] += g[ox];
        }
      }
  }
}

}  // namespace

template <class T>
void conv2d_forward_im2col(const ConvShape& s, const T* x, const T* w, T* y) {
  const Plan p = make_plan<T>(s);
  const int64_t OH = s.OH(), OW = s.OW(), HW = OH * OW;
  Buffer<T> col(static_cast<size_t>(p.crr * p.group_rows * OW));
  const ConstStrided<T> wm(w, s.K, p.crr, Eigen::OuterStride<>(p.crr));
  for (int64_t oy0 = 0; oy0 < OH; oy0 += p.group_rows) {
    const int64_t rows = std::min(p.group_rows, OH - oy0), cols = rows * OW;
    im2col_rows(s, x, oy0, rows, col.data());
    const int64_t rb = row_block(s.K, cols, p.chunk_cols);
    const int64_t nrb = (s.K + rb - 1) / rb, ncb = (cols + p.chunk_cols - 1) / p.chunk_cols;
#pragma omp parallel for schedule(static)
    for (int64_t task = 0; task < nrb * ncb; ++task) {
      const int64_t k0 = (task / ncb) * rb, j0 = (task % ncb) * p.chunk_cols;
      const int64_t km = std::min(rb, s.K - k0), jn = std::min(p.chunk_cols, cols - j0);
      ConstStrided<T> cm(col.data() + j0, p.crr, jn, Eigen::OuterStride<>(cols));
      Strided<T> ym(y + k0 * HW + oy0 * OW + j0, km, jn, Eigen::OuterStride<>(HW));
      ym.noalias() = wm.middleRows(k0, km) * cm;
    }
  }
}

template <class T>
void conv2d_backward_input_im2col(const ConvShape& s, const T* dy, const T* w, T* dx) {
  const Plan p = make_plan<T>(s);
  const int64_t OH = s.OH(), OW = s.OW(), HW = OH * OW;
  Buffer<T> dcol(static_cast<size_t>(p.crr * p.group_rows * OW));
  const ConstStrided<T> wm(w, s.K, p.crr, Eigen::OuterStride<>(p.crr));
  for (int64_t oy0 = 0; oy0 < OH; oy0 += p.group_rows) {
    const int64_t rows = std::min(p.group_rows, OH - oy0), cols = rows * OW;
    const int64_t rb = row_block(p.crr, cols, p.chunk_cols);
    const int64_t nrb = (p.crr + rb - 1) / rb, ncb = (cols + p.chunk_cols - 1) / p.chunk_cols;
#pragma omp parallel for schedule(static)
    for (int64_t task = 0; task < nrb * ncb; ++task) {
      const int64_t r0 = (task / ncb) * rb, j0 = (task % ncb) * p.chunk_cols;
      const int64_t rm = std::min(rb, p.crr - r0), jn = std::min(p.chunk_cols, cols - j0);
      ConstStrided<T> gm(dy + oy0 * OW + j0, s.K, jn, Eigen::OuterStride<>(HW));
      Strided<T> dm(dcol.data() + r0 * cols + j0, rm, jn, Eigen::OuterStride<>(cols));
      dm.noalias() = wm.middleCols(r0, rm).transpose() * gm;
    }
    col2im_rows(s, dcol.data(), oy0, rows, dx);
  }
}

}  // namespace kernels

template <class T>
void kernels::apply_epilogue(int64_t K, int64_t HW, T* y, const ConvEpilogue<T>& epi) {
  if (epi.mask && !epi.relu) throw std::invalid_argument("conv epilogue: a mask needs relu");
  if (!epi.bias && !epi.relu) return;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < K; ++k) {
    T* v = y + k * HW;
    const T b = epi.bias ? epi.bias[k] : T(0);
    for (int64_t i = 0; i < HW; ++i) {
      const T u = v[i] + b;
      if (epi.mask) epi.mask[k * HW + i] = u > T(0);
      v[i] = epi.relu && !(u > T(0)) ? T(0) : u;
    }
  }
}

template <class T>
bool conv2d_uses_winograd(const ConvShape& s) {
  return kernels::winograd_supports(s);
}

template <class T>
ConvWeights<T>::ConvWeights(std::shared_ptr<const Tensor<T>> w) : w_(std::move(w)) {
  if (!w_) throw std::invalid_argument("conv2d: no weights");
  require_nchw(w_->shape(), "conv2d weights");
  const Shape& ws = w_->shape();
  if (ws[2] != ws[3] || ws[2] % 2 == 0)
    throw std::invalid_argument("conv2d: weights " + shape_str(ws) + " are not (K,C,R,R) with R odd");
}

template <class T>
const T* ConvWeights<T>::winograd() const {
  if (w_->dim(2) != 3) throw std::logic_error("ConvWeights::winograd: kernel is not 3x3");
  std::call_once(once_, [this] {
    const int64_t K = w_->dim(0), C = w_->dim(1);
    u_.resize(static_cast<size_t>(kernels::winograd_weights_size(K, C)));
    kernels::winograd_transform_weights(K, C, w_->data(), u_.data());
  });
  return u_.data();
}

namespace {

// conv2d, with bias and ReLU fused in when given (conv2d_bias_relu).
template <class T>
Var<T> conv_op(const Var<T>& x, std::shared_ptr<const ConvWeights<T>> w, std::shared_ptr<const Tensor<T>> bias,
               bool relu, int64_t pad, ConvAlgo algo) {
  if (!w) throw std::invalid_argument("conv2d: no weights");
  const ConvShape s = conv_shape(x.shape(), w->tensor().shape(), pad);
  if (bias && bias->shape() != Shape{s.K})
    throw std::invalid_argument("conv2d: bias " + shape_str(bias->shape()) + " does not fit " +
                                std::to_string(s.K) + " output channels");
  const bool wino = algo == ConvAlgo::Winograd || (algo == ConvAlgo::Auto && conv2d_uses_winograd<T>(s));
  if (wino && !kernels::winograd_supports(s))
    throw std::invalid_argument("conv2d: Winograd needs a 3x3 kernel with padding 1");
  const int64_t N = x.shape()[0];
  const int64_t in_size = s.C * s.H * s.W, out_size = s.K * s.OH() * s.OW();
  Tensor<T> y = Tensor<T>::uninitialized({N, s.K, s.OH(), s.OW()});
  // The ReLU mask the backward reads: only when there will be a backward.
  std::shared_ptr<Buffer<uint8_t>> mask;
  if (relu && x.requires_grad()) mask = std::make_shared<Buffer<uint8_t>>(static_cast<size_t>(N * out_size));
  for (int64_t n = 0; n < N; ++n) {
    const T* xn = x.value().data() + n * in_size;
    T* yn = y.data() + n * out_size;
    kernels::ConvEpilogue<T> epi;
    epi.bias = bias ? bias->data() : nullptr;
    epi.relu = relu;
    epi.mask = mask ? mask->data() + n * out_size : nullptr;
    if (wino) {
      kernels::conv3x3_forward_winograd(s, xn, w->winograd(), yn, epi);
    } else {
      kernels::conv2d_forward_im2col(s, xn, w->tensor().data(), yn);
      kernels::apply_epilogue(s.K, s.OH() * s.OW(), yn, epi);
    }
  }
  return make_result<T>(std::move(y), {x.node()}, [s, w, wino, N, in_size, out_size, mask](const Tensor<T>& g, Node<T>& self) {
    Node<T>& src = *self.inputs[0];
    const bool fresh = src.claim_fresh_grad();
    T* dx = src.grad.data();
    if (wino) {
      for (int64_t n = 0; n < N; ++n)
        kernels::conv3x3_backward_input_winograd(s, g.data() + n * out_size, w->winograd(), dx + n * in_size,
                                                 mask ? mask->data() + n * out_size : nullptr, !fresh);
      return;
    }
    // im2col accumulates: start from zero, and apply the mask as a pass of its own.
    if (fresh) std::fill(dx, dx + N * in_size, T(0));
    const T* gp = g.data();
    Tensor<T> masked;
    if (mask) {
      masked = Tensor<T>::uninitialized(g.shape());
      const uint8_t* m = mask->data();
      for (int64_t i = 0; i < g.numel(); ++i) masked[i] = m[i] ? g[i] : T(0);
      gp = masked.data();
    }
    for (int64_t n = 0; n < N; ++n)
      kernels::conv2d_backward_input_im2col(s, gp + n * out_size, w->tensor().data(), dx + n * in_size);
  });
}

}  // namespace

template <class T>
Var<T> conv2d(const Var<T>& x, std::shared_ptr<const ConvWeights<T>> w, int64_t pad, ConvAlgo algo) {
  return conv_op<T>(x, std::move(w), nullptr, false, pad, algo);
}

template <class T>
Var<T> conv2d_bias_relu(const Var<T>& x, std::shared_ptr<const ConvWeights<T>> w,
                        std::shared_ptr<const Tensor<T>> bias, int64_t pad, ConvAlgo algo) {
  if (!bias) throw std::invalid_argument("conv2d_bias_relu: no bias");
  return conv_op<T>(x, std::move(w), std::move(bias), true, pad, algo);
}

template <class T>
Var<T> conv2d(const Var<T>& x, std::shared_ptr<const Tensor<T>> w, int64_t pad, ConvAlgo algo) {
  if (!w) throw std::invalid_argument("conv2d: no weights");
  conv_shape(x.shape(), w->shape(), pad);  // shape errors before any weight transform
  return conv2d(x, std::make_shared<const ConvWeights<T>>(std::move(w)), pad, algo);
}

#define NST_INSTANTIATE(T)                                                                     \
  template void kernels::conv2d_forward_naive<T>(const ConvShape&, const T*, const T*, T*);    \
  template void kernels::conv2d_forward_im2col<T>(const ConvShape&, const T*, const T*, T*);   \
  template void kernels::conv2d_backward_input_naive<T>(const ConvShape&, const T*, const T*,  \
                                                        T*);                                   \
  template void kernels::conv2d_backward_input_im2col<T>(const ConvShape&, const T*, const T*, \
                                                         T*);                                  \
  template bool conv2d_uses_winograd<T>(const ConvShape&);                                    \
  template class ConvWeights<T>;                                                              \
  template Var<T> conv2d<T>(const Var<T>&, std::shared_ptr<const ConvWeights<T>>, int64_t,     \
                            ConvAlgo);                                                         \
  template Var<T> conv2d<T>(const Var<T>&, std::shared_ptr<const Tensor<T>>, int64_t, ConvAlgo); \
  template void kernels::apply_epilogue<T>(int64_t, int64_t, T*, const kernels::ConvEpilogue<T>&); \
  template Var<T> conv2d_bias_relu<T>(const Var<T>&, std::shared_ptr<const ConvWeights<T>>,       \
                                      std::shared_ptr<const Tensor<T>>, int64_t, ConvAlgo);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)
#undef NST_INSTANTIATE

}  // namespace nst
