#include "nst/kernels/conv.h"

#include "nst/tensor.h"

#include <omp.h>

#include <algorithm>
#include <stdexcept>
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

template <class T>
void apply_epilogue(int64_t K, int64_t HW, T* y, const ConvEpilogue<T>& epi) {
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

#define NST_INSTANTIATE(T)                                                                        \
  template void conv2d_forward_naive<T>(const ConvShape&, const T*, const T*, T*);                \
  template void conv2d_forward_im2col<T>(const ConvShape&, const T*, const T*, T*);               \
  template void conv2d_backward_input_naive<T>(const ConvShape&, const T*, const T*, T*);         \
  template void conv2d_backward_input_im2col<T>(const ConvShape&, const T*, const T*, T*);        \
  template void apply_epilogue<T>(int64_t, int64_t, T*, const ConvEpilogue<T>&);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)
#undef NST_INSTANTIATE

}  // namespace kernels
}  // namespace nst
