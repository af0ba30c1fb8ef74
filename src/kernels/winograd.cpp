#include "nst/kernels/winograd.h"

#include "nst/kernels/sgemm.h"
#include "nst/kernels/winograd_rows.h"
#include "nst/tensor.h"

#include <omp.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace nst::kernels {

namespace {

// A group of tiles is whole tile rows whose V (36 x Ci x tiles) plus M (36 x Co x tiles) fit
// in 12 MiB (the L3 cache) but has at least 256 tiles, or packing U_ξ (Co x Ci) for each GEMM
// costs much of the GEMM (measured: -20% on 512-channel layers at 64x64). At most
// 36 * 1024 channels * 256 tiles * 4 bytes = 38 MiB for VGG in float.
constexpr int64_t kGroupBytes = 12 << 20;
constexpr int64_t kMinGroupTiles = 256;
// With at least this many groups, threads take whole groups (no barriers), of this many tiles
// for few channels.
constexpr int64_t kMinOwnGroups = 8;
constexpr int64_t kOwnGroupTiles = 32;
// Columns (tiles) per GEMM task.
constexpr int64_t kGemmCols = 1024;

using Geometry = WinogradGeometry;

// Values between the positions ξ of V or M that hold n values each: n rounded up to whole cache
// lines, then to 3 lines modulo 8, so that the 36 positions of one tile row start in different
// sets of the L1 cache. The transforms write (or read) one tile row at all 36 positions; with
// n = Ci·G a multiple of 1024 (VGG: 64 channels x 64 tiles) they all fell in the same few sets.
// Input transform of 64 channels x 64 tiles, one core of the Emerald Rapids: 20 -> 15 ns per
// tile and channel (padding by 1 line: 18-19; by 3, 7, 9 or 15 lines: 14-15.5).
int64_t xi_stride(int64_t n) {
  int64_t lines = (n + 15) / 16;
  lines += (3 - lines % 8 + 8) % 8;
  return lines * 16;
}

// Asks the cache for the plane's rows [y0, y1) (clipped to the image; mirrored with flip, as the
// backward reads and writes them), for reading or, with Write, for writing. The transforms take
// one channel's rows of a tile row per task (6 KiB at 256 px), then move to the next channel's
// plane: streams too short for the hardware prefetchers, so every task fetches the rows of the
// channel after its own while it works. Zen 5, 1 thread, s/iteration: 256 px 0.23 -> 0.20,
// 512 px 0.82 -> 0.74; bits unchanged. Always inlined: as a function of its own, GCC 12 finds it
// free of side effects and drops every call.
template <bool Write, class P>
[[gnu::always_inline]] inline void prefetch_rows(const P* plane, const Geometry& g, int64_t y0, int64_t y1, bool flip) {
  y0 = std::max<int64_t>(y0, 0);
  y1 = std::min(y1, g.H);
  if (y0 >= y1) return;
  const char* first = reinterpret_cast<const char*>(plane + (flip ? g.H - y1 : y0) * g.W);
  const int64_t bytes = (y1 - y0) * g.W * static_cast<int64_t>(sizeof(P));
  for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(first + b, Write ? 1 : 0);
}

// V (36, Ci, G) then M (36, Co, G) of a group of G tiles, at those strides: values.
int64_t group_values(const Geometry& g, int64_t G) { return 36 * (xi_stride(g.Ci * G) + xi_stride(g.Co * G)); }

// What the convolution does besides the products: the forward's epilogue (bias, ReLU, mask of
// its output), the backward's ReLU mask on its input, and whether the output is accumulated
// into or overwritten.
template <class T>
struct Extras {
  ConvEpilogue<T> epi;               // forward only
  const uint8_t* in_mask = nullptr;  // backward: input read as in ⊙ in_mask, (Ci,H,W)
  bool accumulate = false;           // add into out instead of overwriting it
};

// Per-thread scratch for the tile-row transforms (winograd_rows.h), zero-filled once.
template <class T>
struct RowScratch {
  Buffer<T> buf;
  explicit RowScratch(const Geometry& g) : buf(static_cast<size_t>(winograd_row_scratch_size(g)), T(0)) {}
};

// Scratch of the calling thread for V and M of one group, kept between calls.
template <class T>
T* group_workspace(size_t n) {
  static thread_local Buffer<T> ws;
  if (ws.size() < n) ws.resize(n);
  return ws.data();
}

// The three steps on one group of `rows` tile rows from tile row ty0, in `work` (group_values(g,
// G) values): V (36, Ci, G) then M (36, Co, G), G >= rows * tiles_x, their positions ξ
// xi_stride(Ci·G) and xi_stride(Co·G) apart. Inside a parallel region each step is split among
// the team (Shared); otherwise one thread does the whole group.
//
// U_ξ is (K x C) row-major, rows winograd_u_stride(C) apart: the forward's (Co x Ci); the
// backward reads its transpose, unless `u_is_co_ci`: U already transposed to (Co x Ci) per
// position, rows Ci apart (transpose_for_backward).
template <bool Backward, bool Shared, class T>
void run_group(const Geometry& g, const T* in, const T* U, bool u_is_co_ci, T* out, const Extras<T>& ex,
               int64_t ty0, int64_t rows, int64_t G, T* work, RowScratch<T>& scratch) {
  constexpr bool Flip = Backward;
  const int64_t HW = g.H * g.W, Gn = rows * g.tiles_x;
  const int64_t vs = xi_stride(g.Ci * G), ms = xi_stride(g.Co * G);  // between positions ξ
  T* V = work;
  T* M = work + 36 * vs;
  const bool transposed = Backward && !u_is_co_ci;
  // U_ξ's row stride; the forward's C is Ci, the backward's Co.
  const int64_t u_ld = u_is_co_ci ? g.Ci : winograd_u_stride(Backward ? g.Co : g.Ci);

  // Runs body(0..n-1): split among the team, or all here. Static, in contiguous ranges: the
  // tasks cost the same, and a thread's tasks then write neighbouring parts of V and M. With
  // schedule(dynamic) the two threads took alternate tile rows, whose V segments share cache
  // lines when a row has fewer than 16 tiles (layers of 32 x 32 and smaller), and fetched every
  // task from one shared counter: at 2 threads the input transform cost 2.8x its one-thread CPU
  // time (perf, Zen 4, 256 px; now 1.0x).
  auto each = [](int64_t n, auto&& body) {
    if constexpr (Shared) {
#pragma omp for schedule(static)
      for (int64_t task = 0; task < n; ++task) body(task);
    } else {
      for (int64_t task = 0; task < n; ++task) body(task);
    }
  };

  // 1. V[ξ][c][t] = (B^T d B)[ξ] for every input channel and tile of the group.
  each(g.Ci * rows, [&](int64_t task) {
    const int64_t c = task / rows, r = task % rows;
    WinogradRowArgs<T> a;
    a.g = &g;
    a.ty = ty0 + r;
    a.flip = Flip;
    a.scratch = scratch.buf.data();
    a.xi_stride = vs;
    a.plane_in = in + c * HW;
    a.mask_in = ex.in_mask ? ex.in_mask + c * HW : nullptr;
    a.v = V + c * G + r * g.tiles_x;
    if (c + 1 < g.Ci) {  // the next channel's rows 4ty - 1 .. 4ty + 4
      prefetch_rows<false>(a.plane_in + HW, g, 4 * a.ty - 1, 4 * a.ty + 5, Flip);
      if (a.mask_in) prefetch_rows<false>(a.mask_in + HW, g, 4 * a.ty - 1, 4 * a.ty + 5, Flip);
    }
    winograd_input_row(a);
  });

  // 2. M_ξ (Co x Gn) = W_ξ (Co x Ci) · V_ξ (Ci x Gn), one GEMM per position and column chunk.
  const int64_t ncc = (Gn + kGemmCols - 1) / kGemmCols;
  each(36 * ncc, [&](int64_t task) {
    const int64_t xi = task / ncc, j0 = (task % ncc) * kGemmCols;
    const int64_t jn = std::min(kGemmCols, Gn - j0);
    const T* uxi = U + xi * (transposed ? g.Ci : g.Co) * u_ld;
    const T* vxi = V + xi * vs + j0;
    T* mxi = M + xi * ms + j0;
    // Float: the kernel set's sgemm (the same chain of products for either layout of U_ξ, so
    // the same bits). Double: Eigen.
    if constexpr (std::is_same_v<T, float>) {
      if (transposed)
        sgemm(g.Co, jn, g.Ci, uxi, 1, u_ld, vxi, G, 1, mxi, G);  // U_ξᵀ: (i, k) at U_ξ[k][i]
      else
        sgemm(g.Co, jn, g.Ci, uxi, u_ld, 1, vxi, G, 1, mxi, G);
    } else {
      const ConstStrided<T> v(vxi, g.Ci, jn, Eigen::OuterStride<>(G));
      Strided<T> m(mxi, g.Co, jn, Eigen::OuterStride<>(G));
      if (transposed)
        m.noalias() = ConstStrided<T>(uxi, g.Ci, g.Co, Eigen::OuterStride<>(u_ld)).transpose() * v;
      else
        m.noalias() = ConstStrided<T>(uxi, g.Co, g.Ci, Eigen::OuterStride<>(u_ld)) * v;
    }
  });

  // 3. out tiles = A^T M A for every output channel and tile of the group.
  each(g.Co * rows, [&](int64_t task) {
    const int64_t k = task / rows, r = task % rows;
    WinogradRowArgs<T> a;
    a.g = &g;
    a.ty = ty0 + r;
    a.flip = Flip;
    a.scratch = scratch.buf.data();
    a.xi_stride = ms;
    a.m = M + k * G + r * g.tiles_x;
    a.plane_out = out + k * HW;
    a.bias = ex.epi.bias ? ex.epi.bias[k] : T(0);
    a.relu = ex.epi.relu;
    a.mask_out = ex.epi.mask ? ex.epi.mask + k * HW : nullptr;
    a.accumulate = ex.accumulate;
    if (k + 1 < g.Co) {  // the next channel's rows 4ty .. 4ty + 3
      prefetch_rows<true>(a.plane_out + HW, g, 4 * a.ty, 4 * a.ty + 4, Flip);
      if (a.mask_out) prefetch_rows<true>(a.mask_out + HW, g, 4 * a.ty, 4 * a.ty + 4, Flip);
    }
    winograd_output_row(a);
  });
}

// U (36, K, C, rows winograd_u_stride(C) apart) of the forward -> (36, C, K): for the backward,
// whose GEMMs multiply by U_ξᵀ, read in place. Costs one pass over U per call; with many groups
// each would otherwise pack U_ξᵀ again (measured in the commit that added this).
template <class T>
Buffer<T> transpose_for_backward(const Geometry& g, const T* U) {
  // In the backward's geometry the forward's K is g.Ci and its C is g.Co.
  const int64_t K = g.Ci, C = g.Co, ld = winograd_u_stride(C);
  Buffer<T> ut(static_cast<size_t>(36 * K * C));
#pragma omp parallel for schedule(static)
  for (int64_t xi = 0; xi < 36; ++xi) {
    const T* src = U + xi * K * ld;
    T* dst = ut.data() + xi * K * C;
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < C; ++c) dst[c * K + k] = src[k * ld + c];
  }
  return ut;
}

template <bool Backward, class T>
void winograd_conv(const Geometry& g, const T* in, const T* U, T* out, const Extras<T>& ex) {
  // Per-thread row scratch, allocated here so that running out of memory throws to the caller.
  std::vector<RowScratch<T>> scratches;
  scratches.reserve(static_cast<size_t>(omp_get_max_threads()));
  for (int i = 0; i < omp_get_max_threads(); ++i) scratches.emplace_back(g);
  const int64_t tile_bytes = 36 * (g.Ci + g.Co) * static_cast<int64_t>(sizeof(T));

  // Images of many tiles: each thread takes whole groups (rounded up to tile rows) with its own
  // V and M: no barrier between groups. Up to 128 x 128 channels, where packing U_ξ is cheap,
  // small groups keep a group's V and M in the core's L2 (128 channels: 1.2 MiB at 32 tiles):
  // 128 tiles beat 256 on Zen 4 (512 px, 1 thread: conv1_2 117 vs 130 ms, conv2_1 57 vs 62 ms
  // forward), and 32 beat 128 on Emerald Rapids (2 MiB L2; 512 px, 1 thread, two rounds:
  // conv2_2 64-67 vs 83-84 ms forward, 70-71 vs 91-93 backward; conv1_2 level).
  const int64_t own_tiles = g.Ci * g.Co <= 128 * 128 ? kOwnGroupTiles : kMinGroupTiles;
  const int64_t own_rows = std::min(g.tiles_y, (own_tiles + g.tiles_x - 1) / g.tiles_x);
  const int64_t own_groups = (g.tiles_y + own_rows - 1) / own_rows;
  if (own_groups >= kMinOwnGroups) {
    const int64_t G = own_rows * g.tiles_x;
    // The backward reads U_ξᵀ: transposed once here, every group's GEMM reads it in place
    // instead of packing it again (512 px, 1 thread: see transpose_for_backward).
    Buffer<T> ut;
    if constexpr (Backward) ut = transpose_for_backward(g, U);
    const T* u = Backward ? ut.data() : U;
    bool failed = false;
#pragma omp parallel
    {
      RowScratch<T>& scratch = scratches[static_cast<size_t>(omp_get_thread_num())];
      T* V = nullptr;
      try {
        V = group_workspace<T>(static_cast<size_t>(group_values(g, G)));
      } catch (const std::bad_alloc&) {
#pragma omp atomic write
        failed = true;
      }
#pragma omp for schedule(dynamic)
      for (int64_t grp = 0; grp < own_groups; ++grp) {
        if (!V) continue;
        const int64_t ty0 = grp * own_rows, rows = std::min(own_rows, g.tiles_y - ty0);
        run_group<Backward, false>(g, in, u, Backward, out, ex, ty0, rows, G, V, scratch);
      }
    }
    if (failed) throw std::bad_alloc();
    return;
  }

  // Few tiles (deep layers): groups as large as the budget allows, each split among the team.
  const int64_t group_rows =
      std::clamp<int64_t>(std::max(kGroupBytes / (tile_bytes * g.tiles_x), own_rows), 1, g.tiles_y);
  const int64_t G = group_rows * g.tiles_x;
  T* V = group_workspace<T>(static_cast<size_t>(group_values(g, G)));
#pragma omp parallel
  {
    RowScratch<T>& scratch = scratches[static_cast<size_t>(omp_get_thread_num())];
    for (int64_t ty0 = 0; ty0 < g.tiles_y; ty0 += group_rows)
      run_group<Backward, true>(g, in, U, false, out, ex, ty0, std::min(group_rows, g.tiles_y - ty0), G,
                                V, scratch);
  }
}

Geometry geometry(const ConvShape& s, bool backward) {
  if (!winograd_supports(s))
    throw std::invalid_argument("winograd conv: needs a 3x3 kernel with padding 1 (R=" +
                                std::to_string(s.R) + " pad=" + std::to_string(s.pad) + ")");
  const int64_t tiles_x = (s.W + 3) / 4, tiles_y = (s.H + 3) / 4;
  return {backward ? s.K : s.C, backward ? s.C : s.K, s.H, s.W, tiles_x, tiles_y, tiles_x * tiles_y};
}

}  // namespace

template <class T>
void winograd_transform_weights(int64_t K, int64_t C, const T* w, T* U) {
  // Points 0, ±2/3, ±3/2, infinity (winograd.h; the scaling of B^T and A^T in
  // winograd_rows.inl):
  //   G = [    1/9       0       0 ]
  //       [   1/65   2/195   4/585 ]
  //       [  -1/65   2/195  -4/585 ]
  //       [-32/585 -16/195   -8/65 ]
  //       [ 32/585 -16/195    8/65 ]
  //       [      0       0     1/9 ]
  static const double G[6][3] = {{1.0 / 9, 0, 0},
                                 {1.0 / 65, 2.0 / 195, 4.0 / 585},
                                 {-1.0 / 65, 2.0 / 195, -4.0 / 585},
                                 {-32.0 / 585, -16.0 / 195, -8.0 / 65},
                                 {32.0 / 585, -16.0 / 195, 8.0 / 65},
                                 {0, 0, 1.0 / 9}};
  const int64_t ld = winograd_u_stride(C);
#pragma omp parallel for schedule(static)
  for (int64_t kc = 0; kc < K * C; ++kc) {
    const int64_t k = kc / C, c = kc % C;
    const T* g = w + kc * 9;
    double gg[6][3];  // G g
    for (int i = 0; i < 6; ++i)
      for (int q = 0; q < 3; ++q)
        gg[i][q] = G[i][0] * static_cast<double>(g[0 * 3 + q]) + G[i][1] * static_cast<double>(g[1 * 3 + q]) +
                   G[i][2] * static_cast<double>(g[2 * 3 + q]);
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j)
        U[((i * 6 + j) * K + k) * ld + c] =
            static_cast<T>(gg[i][0] * G[j][0] + gg[i][1] * G[j][1] + gg[i][2] * G[j][2]);
  }
  if (ld > C)
    for (int64_t row = 0; row < 36 * K; ++row) std::fill(U + row * ld + C, U + (row + 1) * ld, T(0));
}

template <class T>
void conv3x3_forward_winograd(const ConvShape& s, const T* x, const T* U, T* y, const ConvEpilogue<T>& epi) {
  if (epi.mask && !epi.relu) throw std::invalid_argument("winograd conv: a mask needs relu");
  Extras<T> ex;
  ex.epi = epi;
  winograd_conv<false>(geometry(s, false), x, U, y, ex);
}

template <class T>
void conv3x3_backward_input_winograd(const ConvShape& s, const T* dy, const T* U, T* dx,
                                     const uint8_t* mask, bool accumulate) {
  Extras<T> ex;
  ex.in_mask = mask;
  ex.accumulate = accumulate;
  winograd_conv<true>(geometry(s, true), dy, U, dx, ex);
}

#define NST_INSTANTIATE(T)                                                                      \
  template void winograd_transform_weights<T>(int64_t, int64_t, const T*, T*);                  \
  template void conv3x3_forward_winograd<T>(const ConvShape&, const T*, const T*, T*,            \
                                            const ConvEpilogue<T>&);                            \
  template void conv3x3_backward_input_winograd<T>(const ConvShape&, const T*, const T*, T*,     \
                                                   const uint8_t*, bool);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)
#undef NST_INSTANTIATE

}  // namespace nst::kernels
