#include "nst/ops/winograd.h"

#include <omp.h>

#include <algorithm>
#include <vector>

namespace nst::kernels {

namespace {

using Index = Eigen::Index;

// Tiles transformed together by one task (vectorized across tiles): scratch of 2 * 36 * kSub.
constexpr int64_t kSub = 64;
// V (36 x Ci x tiles) plus M (36 x Co x tiles) of one group of tiles: stays in the L3 cache.
constexpr int64_t kGroupBytes = 12 << 20;
// Columns (tiles) per GEMM task.
constexpr int64_t kGemmCols = 1024;

// The 1-D transforms, applied to 6 (or 4) rows of n values each; vectorized across the rows'
// elements (the tiles).
//   B^T = [4  0 -5  0  1  0]    A^T = [1  1  1  1  1  0]
//         [0 -4 -4  1  1  0]          [0  1 -1  2 -2  0]
//         [0  4 -4 -1  1  0]          [0  1  1  4  4  0]
//         [0 -2 -1  2  1  0]          [0  1 -1  8 -8  1]
//         [0  2 -1 -2  1  0]
//         [0  4  0 -5  0  1]
template <class T>
inline void input_1d(const T* const in[6], T* const out[6], int64_t n) {
  const T *d0 = in[0], *d1 = in[1], *d2 = in[2], *d3 = in[3], *d4 = in[4], *d5 = in[5];
  T *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3], *o4 = out[4], *o5 = out[5];
#pragma omp simd
  for (int64_t s = 0; s < n; ++s) {
    const T a = d4[s] - T(4) * d2[s];  // shared by rows 1 and 2
    const T b = d3[s] - T(4) * d1[s];
    const T c = d4[s] - d2[s];         // shared by rows 3 and 4
    const T e = T(2) * (d3[s] - d1[s]);
    o0[s] = T(4) * d0[s] - T(5) * d2[s] + d4[s];
    o1[s] = a + b;
    o2[s] = a - b;
    o3[s] = c + e;
    o4[s] = c - e;
    o5[s] = T(4) * d1[s] - T(5) * d3[s] + d5[s];
  }
}

template <class T>
inline void output_1d(const T* const in[6], T* const out[4], int64_t n) {
  const T *m0 = in[0], *m1 = in[1], *m2 = in[2], *m3 = in[3], *m4 = in[4], *m5 = in[5];
  T *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3];
#pragma omp simd
  for (int64_t s = 0; s < n; ++s) {
    const T p12 = m1[s] + m2[s], d12 = m1[s] - m2[s];
    const T p34 = m3[s] + m4[s], d34 = m3[s] - m4[s];
    o0[s] = m0[s] + p12 + p34;
    o1[s] = d12 + T(2) * d34;
    o2[s] = p12 + T(4) * p34;
    o3[s] = d12 + T(8) * d34 + m5[s];
  }
}

// A 3x3 pad-1 convolution seen by the Winograd loop: `in` (Ci,H,W) -> `out` (Co,H,W), with
// W_ξ = U_ξ (forward) or U_ξ^T (backward); Flip reads and writes the images mirrored in both
// axes (backward); Accumulate adds into `out` instead of overwriting it.
struct Geometry {
  int64_t Ci, Co, H, W;
  int64_t tiles_x, tiles;  // 4x4 output tiles, row-major
};

// d (36 x n, position-major) <- the 6x6 input patches of tiles [t0, t0 + n) of one plane.
template <bool Flip, class T>
void gather_patches(const Geometry& g, const T* plane, int64_t t0, int64_t n, T* d) {
  for (int64_t s = 0; s < n; ++s) {
    const int64_t t = t0 + s, y0 = (t / g.tiles_x) * 4 - 1, x0 = (t % g.tiles_x) * 4 - 1;
    const bool inside = y0 >= 0 && y0 + 6 <= g.H && x0 >= 0 && x0 + 6 <= g.W;
    for (int64_t i = 0; i < 6; ++i) {
      const int64_t yy = y0 + i;
      const bool row_in = yy >= 0 && yy < g.H;
      const T* row = plane + (Flip ? (g.H - 1 - yy) * g.W + (g.W - 1) : yy * g.W);
      for (int64_t j = 0; j < 6; ++j) {
        const int64_t xx = x0 + j;
        T v;
        if (inside || (row_in && xx >= 0 && xx < g.W))
          v = Flip ? row[-xx] : row[xx];
        else
          v = T(0);
        d[(i * 6 + j) * kSub + s] = v;
      }
    }
  }
}

// Output tiles [t0, t0 + n) of one plane from o (16 x n), clipped at the image border.
template <bool Flip, bool Accumulate, class T>
void scatter_tiles(const Geometry& g, const T* o, int64_t t0, int64_t n, T* plane) {
  for (int64_t s = 0; s < n; ++s) {
    const int64_t t = t0 + s, y0 = (t / g.tiles_x) * 4, x0 = (t % g.tiles_x) * 4;
    const int64_t rows = std::min<int64_t>(4, g.H - y0), cols = std::min<int64_t>(4, g.W - x0);
    for (int64_t a = 0; a < rows; ++a) {
      const int64_t yy = y0 + a;
      T* row = plane + (Flip ? (g.H - 1 - yy) * g.W + (g.W - 1) : yy * g.W);
      for (int64_t b = 0; b < cols; ++b) {
        T& dst = Flip ? row[-(x0 + b)] : row[x0 + b];
        const T v = o[(a * 4 + b) * kSub + s];
        if (Accumulate)
          dst += v;
        else
          dst = v;
      }
    }
  }
}

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using Strided = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using ConstStrided = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Scratch of the calling thread for V and M of one group, kept between calls.
template <class T>
T* group_workspace(size_t n) {
  static thread_local std::vector<T, Eigen::aligned_allocator<T>> ws;
  if (ws.size() < n) ws.resize(n);
  return ws.data();
}

template <bool Backward, class T>
void winograd_conv(const Geometry& g, const T* in, const T* U, T* out) {
  constexpr bool Flip = Backward, Accumulate = Backward;
  // Tiles per group: a multiple of kSub unless the image has fewer tiles.
  const int64_t per_tile = 36 * (g.Ci + g.Co) * static_cast<int64_t>(sizeof(T));
  int64_t G = std::max<int64_t>(kSub, kGroupBytes / per_tile / kSub * kSub);
  G = std::min(G, g.tiles);
  T* V = group_workspace<T>(static_cast<size_t>(36 * (g.Ci + g.Co) * G));  // (36, Ci, G)
  T* M = V + 36 * g.Ci * G;                                               // (36, Co, G)
  const int64_t HW = g.H * g.W;
  // U_ξ is (K x C) row-major: the forward's (Co x Ci); backward uses its transpose.
  const int64_t K = Backward ? g.Ci : g.Co, C = Backward ? g.Co : g.Ci;

#pragma omp parallel
  {
    alignas(64) T d[36 * kSub], tmp[36 * kSub];
    for (int64_t t0 = 0; t0 < g.tiles; t0 += G) {
      const int64_t Gn = std::min(G, g.tiles - t0);  // tiles in this group
      const int64_t nsub = (Gn + kSub - 1) / kSub;

      // 1. V[ξ][c][t] = (B^T d B)[ξ] for every input channel and tile of the group.
#pragma omp for schedule(dynamic)
      for (int64_t task = 0; task < g.Ci * nsub; ++task) {
        const int64_t c = task / nsub, s0 = (task % nsub) * kSub, n = std::min(kSub, Gn - s0);
        gather_patches<Flip>(g, in + c * HW, t0 + s0, n, d);
        for (int64_t j = 0; j < 6; ++j) {  // B^T d: down each column
          const T* src[6];
          T* dst[6];
          for (int r = 0; r < 6; ++r) src[r] = d + (r * 6 + j) * kSub, dst[r] = tmp + (r * 6 + j) * kSub;
          input_1d(src, dst, n);
        }
        for (int64_t i = 0; i < 6; ++i) {  // (B^T d) B: along each row, into V
          const T* src[6];
          T* dst[6];
          for (int r = 0; r < 6; ++r)
            src[r] = tmp + (i * 6 + r) * kSub, dst[r] = V + ((i * 6 + r) * g.Ci + c) * G + s0;
          input_1d(src, dst, n);
        }
      }

      // 2. M_ξ (Co x Gn) = W_ξ (Co x Ci) · V_ξ (Ci x Gn), one GEMM per position and column chunk.
      const int64_t ncc = (Gn + kGemmCols - 1) / kGemmCols;
#pragma omp for schedule(dynamic)
      for (int64_t task = 0; task < 36 * ncc; ++task) {
        const int64_t xi = task / ncc, j0 = (task % ncc) * kGemmCols;
        const int64_t jn = std::min(kGemmCols, Gn - j0);
        const ConstStrided<T> u(U + xi * K * C, K, C, Eigen::OuterStride<>(C));
        const ConstStrided<T> v(V + xi * g.Ci * G + j0, g.Ci, jn, Eigen::OuterStride<>(G));
        Strided<T> m(M + xi * g.Co * G + j0, g.Co, jn, Eigen::OuterStride<>(G));
        if constexpr (Backward)
          m.noalias() = u.transpose() * v;
        else
          m.noalias() = u * v;
      }

      // 3. out tiles = A^T M A for every output channel and tile of the group.
#pragma omp for schedule(dynamic)
      for (int64_t task = 0; task < g.Co * nsub; ++task) {
        const int64_t k = task / nsub, s0 = (task % nsub) * kSub, n = std::min(kSub, Gn - s0);
        for (int64_t j = 0; j < 6; ++j) {  // A^T M: down each column, 4 x 6 into tmp
          const T* src[6];
          T* dst[4];
          for (int r = 0; r < 6; ++r) src[r] = M + ((r * 6 + j) * g.Co + k) * G + s0;
          for (int r = 0; r < 4; ++r) dst[r] = tmp + (r * 6 + j) * kSub;
          output_1d(src, dst, n);
        }
        for (int64_t a = 0; a < 4; ++a) {  // (A^T M) A: along each row, 4 x 4 into d
          const T* src[6];
          T* dst[4];
          for (int r = 0; r < 6; ++r) src[r] = tmp + (a * 6 + r) * kSub;
          for (int r = 0; r < 4; ++r) dst[r] = d + (a * 4 + r) * kSub;
          output_1d(src, dst, n);
        }
        scatter_tiles<Flip, Accumulate>(g, d, t0 + s0, n, out + k * HW);
      }
    }
  }
}

Geometry geometry(const ConvShape& s, bool backward) {
  if (!winograd_supports(s))
    throw std::invalid_argument("winograd conv: needs a 3x3 kernel with padding 1 (R=" +
                                std::to_string(s.R) + " pad=" + std::to_string(s.pad) + ")");
  const int64_t tiles_x = (s.W + 3) / 4, tiles_y = (s.H + 3) / 4;
  return {backward ? s.K : s.C, backward ? s.C : s.K, s.H, s.W, tiles_x, tiles_x * tiles_y};
}

}  // namespace

template <class T>
void winograd_transform_weights(int64_t K, int64_t C, const T* w, T* U) {
  //   G = [ 1/4     0     0 ]
  //       [-1/6  -1/6  -1/6 ]
  //       [-1/6   1/6  -1/6 ]
  //       [1/24  1/12   1/6 ]
  //       [1/24 -1/12   1/6 ]
  //       [   0     0     1 ]
  static const double G[6][3] = {{1.0 / 4, 0, 0},
                                 {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                 {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                 {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                 {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                 {0, 0, 1}};
#pragma omp parallel for schedule(static)
  for (int64_t kc = 0; kc < K * C; ++kc) {
    const T* g = w + kc * 9;
    double gg[6][3];  // G g
    for (int i = 0; i < 6; ++i)
      for (int q = 0; q < 3; ++q)
        gg[i][q] = G[i][0] * static_cast<double>(g[0 * 3 + q]) + G[i][1] * static_cast<double>(g[1 * 3 + q]) +
                   G[i][2] * static_cast<double>(g[2 * 3 + q]);
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j)
        U[(i * 6 + j) * K * C + kc] =
            static_cast<T>(gg[i][0] * G[j][0] + gg[i][1] * G[j][1] + gg[i][2] * G[j][2]);
  }
}

template <class T>
void conv3x3_forward_winograd(const ConvShape& s, const T* x, const T* U, T* y) {
  winograd_conv<false>(geometry(s, false), x, U, y);
}

template <class T>
void conv3x3_backward_input_winograd(const ConvShape& s, const T* dy, const T* U, T* dx) {
  winograd_conv<true>(geometry(s, true), dy, U, dx);
}

#define NST_INSTANTIATE(T)                                                                      \
  template void winograd_transform_weights<T>(int64_t, int64_t, const T*, T*);                  \
  template void conv3x3_forward_winograd<T>(const ConvShape&, const T*, const T*, T*);          \
  template void conv3x3_backward_input_winograd<T>(const ConvShape&, const T*, const T*, T*);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)
#undef NST_INSTANTIATE

}  // namespace nst::kernels
