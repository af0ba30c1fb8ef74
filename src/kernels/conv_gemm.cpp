#include "nst/kernels/conv_gemm.h"

#include "nst/kernels/sgemm.h"
#include "nst/tensor.h"
#include "table.h"

#include <omp.h>

#include <algorithm>
#include <stdexcept>

namespace nst::kernels {

namespace {

// Output values per band (whole rows, at least one): the GEMM's column block (sgemm.h's nc).
constexpr int64_t kGemmBandCols = 1024;

int64_t band_rows(const ConvShape& s) { return std::clamp<int64_t>(kGemmBandCols / s.OW(), 1, s.OH()); }

// The row stride of a scratch matrix of n columns: n plus 16 floats, so that the rows of a
// band of 1024 columns are not 4 KiB apart (the GEMM reads or packs them together, and rows a
// multiple of 4 KiB apart share a set of the L1 cache).
int64_t padded(int64_t n) { return n + 16; }

// Scratch of the calling thread, kept between calls.
float* thread_scratch(size_t n) {
  static thread_local Buffer<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// col (C·R·R, rows·OW), row stride ld = the input under each tap for the output rows
// [oy0, oy0 + rows).
void im2col_band(const ConvShape& s, const float* x, int64_t oy0, int64_t rows, float* col, int64_t ld) {
  const int64_t OW = s.OW();
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t ky = 0; ky < s.R; ++ky)
      for (int64_t kx = 0; kx < s.R; ++kx) {
        float* out = col + ((c * s.R + ky) * s.R + kx) * ld;
        const int64_t ox0 = std::clamp<int64_t>(s.pad - kx, 0, OW), ox1 = std::clamp<int64_t>(s.W + s.pad - kx, ox0, OW);
        for (int64_t oy = oy0; oy < oy0 + rows; ++oy) {
          float* o = out + (oy - oy0) * OW;
          const int64_t iy = oy + ky - s.pad;
          if (iy < 0 || iy >= s.H) {
            std::fill(o, o + OW, 0.0f);
            continue;
          }
          const float* in = x + (c * s.H + iy) * s.W;  // o[ox] = in[ox + kx - pad]
          std::fill(o, o + ox0, 0.0f);
          std::copy(in + ox0 + kx - s.pad, in + ox1 + kx - s.pad, o + ox0);
          std::fill(o + ox1, o + OW, 0.0f);
        }
      }
}

// The epilogue on y's values [j0, j0 + n) of each channel (HW apart).
void epilogue_band(int64_t K, int64_t HW, int64_t j0, int64_t n, float* y, const ConvEpilogue<float>& epi) {
  if (!epi.bias && !epi.relu) return;
  const KernelTable& t = active_table();
  for (int64_t k = 0; k < K; ++k)
    t.bias_relu_row(y + k * HW + j0, n, epi.bias ? epi.bias[k] : 0.0f, epi.relu, epi.mask ? epi.mask + k * HW + j0 : nullptr);
}

}  // namespace

void conv2d_forward_gemm(const ConvShape& s, const float* x, const float* w, float* y, const ConvEpilogue<float>& epi) {
  if (epi.mask && !epi.relu) throw std::invalid_argument("conv epilogue: a mask needs relu");
  s.validate();
  const int64_t OH = s.OH(), OW = s.OW(), HW = OH * OW, crr = s.C * s.R * s.R;
  const int64_t rows = band_rows(s), bands = (OH + rows - 1) / rows;
  bool failed = false;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < bands; ++b) {
    const int64_t oy0 = b * rows, r = std::min(rows, OH - oy0), n = r * OW;
    float* col = nullptr;
    try {
      col = thread_scratch(static_cast<size_t>(crr * padded(rows * OW)));
    } catch (const std::bad_alloc&) {
#pragma omp atomic write
      failed = true;
    }
    if (!col) continue;
    // (A product into padded scratch, with the epilogue storing it to y, measured slower.)
    im2col_band(s, x, oy0, r, col, padded(n));
    sgemm(s.K, n, crr, w, crr, 1, col, padded(n), 1, y + oy0 * OW, HW);
    epilogue_band(s.K, HW, oy0 * OW, n, y, epi);
  }
  if (failed) throw std::bad_alloc();
}

void conv2d_backward_input_gemm(const ConvShape& s, const float* dy, const float* w, float* dx, const uint8_t* mask,
                                bool accumulate) {
  s.validate();
  const KernelTable& t = active_table();
  const int64_t OH = s.OH(), OW = s.OW(), HW = OH * OW, crr = s.C * s.R * s.R;
  // Wᵀ (C·R·R x K): element ((c, ky, kx), k) = w[k][c][ky][kx].
  Buffer<float> wt(static_cast<size_t>(crr * s.K));
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t i = 0; i < crr; ++i) wt[static_cast<size_t>(i * s.K + k)] = w[k * crr + i];
  if (!accumulate) {
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < s.C; ++c) std::fill(dx + c * s.H * s.W, dx + (c + 1) * s.H * s.W, 0.0f);
  }
  // Bands of output rows [oy0, oy0 + rows): dcol (C·R·R x n) = Wᵀ · dy's band, whose taps land
  // on the input rows oy0 - pad .. oy0 + rows - 1 + R - 1 - pad, R - 1 rows more than the band.
  // With rows >= R - 1, bands of one parity never write the same input row: the even bands
  // run first, then the odd ones, each added in a fixed order whatever the number of threads.
  const int64_t rows = std::clamp<int64_t>(std::max(kGemmBandCols / OW, s.R - 1), 1, OH);
  const int64_t bands = (OH + rows - 1) / rows;
  bool failed = false;
  for (int64_t parity = 0; parity < 2; ++parity) {
#pragma omp parallel for schedule(static)
    for (int64_t b = parity; b < bands; b += 2) {
      const int64_t oy0 = b * rows, r = std::min(rows, OH - oy0), n = r * OW;
      float* scratch = nullptr;
      try {
        scratch = thread_scratch(static_cast<size_t>((s.K + crr) * padded(rows * OW)));
      } catch (const std::bad_alloc&) {
#pragma omp atomic write
        failed = true;
      }
      if (!scratch) continue;
      // dy's band as B (K x n), through the mask when there is one: copied, as dy's channels
      // are HW apart (a power of two at VGG's sizes, all in one set of the L1 cache).
      float* g = scratch;
      float* dcol = scratch + s.K * padded(n);
      for (int64_t k = 0; k < s.K; ++k) {
        const float* src = dy + k * HW + oy0 * OW;
        if (mask)
          t.masked_copy_row(src, mask + k * HW + oy0 * OW, g + k * padded(n), n);
        else
          std::copy(src, src + n, g + k * padded(n));
      }
      sgemm(crr, n, s.K, wt.data(), s.K, 1, g, padded(n), 1, dcol, padded(n));
      // dx[c][oy + ky - pad][ox + kx - pad] += dcol[(c, ky, kx)][oy, ox], taps in order.
      for (int64_t c = 0; c < s.C; ++c)
        for (int64_t ky = 0; ky < s.R; ++ky)
          for (int64_t kx = 0; kx < s.R; ++kx) {
            const float* tc = dcol + ((c * s.R + ky) * s.R + kx) * padded(n);
            const int64_t ox0 = std::clamp<int64_t>(s.pad - kx, 0, OW), ox1 = std::clamp<int64_t>(s.W + s.pad - kx, ox0, OW);
            for (int64_t oy = oy0; oy < oy0 + r; ++oy) {
              const int64_t iy = oy + ky - s.pad;
              if (iy < 0 || iy >= s.H) continue;
              float* d = dx + (c * s.H + iy) * s.W;  // d[ox + kx - pad] += tc[ox]
              t.add_row(d + ox0 + kx - s.pad, tc + (oy - oy0) * OW + ox0, ox1 - ox0);
            }
          }
    }
    if (failed) throw std::bad_alloc();
  }
}

}  // namespace nst::kernels
