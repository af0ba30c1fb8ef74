// The Winograd F(4x4, 3x3) transforms of one tile row (see winograd.h for the algorithm): the
// input transform V = Bᵀ d B of the tiles of one channel plane's tile row, and the output
// transform Aᵀ M A back into a plane's four image rows, each done first along the image rows
// (contiguous, vectorized across pixels), then across tiles. Float runs the active kernel set
// (kernel_set.h); double the portable code.
#pragma once

#include <cstdint>

namespace nst::kernels {

// A 3x3 pad-1 convolution seen by the Winograd loop: Ci input and Co output channels of H x W,
// cut into tiles_x x tiles_y = tiles output tiles of 4x4 (row-major). For the backward to the
// input, Ci and Co are the convolution's K and C (the gradient flows from K to C channels).
struct WinogradGeometry {
  int64_t Ci, Co, H, W;
  int64_t tiles_x, tiles_y, tiles;
};

// Values of T in one thread's row scratch for geometry g; it must be zero-filled once when it
// is allocated (its padding parts are never written), then can be reused for any tile row.
int64_t winograd_row_scratch_size(const WinogradGeometry& g);

template <class T>
struct WinogradRowArgs {
  const WinogradGeometry* g = nullptr;
  int64_t ty = 0;           // the tile row
  bool flip = false;        // backward: images read and written mirrored in both axes
  T* scratch = nullptr;     // winograd_row_scratch_size(*g) values, see above
  int64_t xi_stride = 0;    // V or M: position ξ of tile tx at [ξ * xi_stride + tx]
  // Input transform: V from the plane (H x W), read as plane ⊙ mask when mask is set (flip only).
  const T* plane_in = nullptr;
  const uint8_t* mask_in = nullptr;
  T* v = nullptr;
  // Output transform: the plane's rows 4ty..4ty+3 from M; without flip, + bias, then ReLU
  // (recording value > 0 in mask_out when set); added to the plane when accumulate.
  const T* m = nullptr;
  T* plane_out = nullptr;
  T bias = 0;
  bool relu = false;
  uint8_t* mask_out = nullptr;
  bool accumulate = false;
};

template <class T>
void winograd_input_row(const WinogradRowArgs<T>& a);
template <class T>
void winograd_output_row(const WinogradRowArgs<T>& a);

}  // namespace nst::kernels
