// The Gatys loss and its gradient computed in spatial tiles, exactly: the same numbers as
// GatysLoss (to float rounding) with the memory of one tile's forward and backward instead of
// the whole image's. For print sizes that do not fit in memory otherwise.
//
// The image is cut into a grid of interior tiles of `tile` pixels a side (the last row/column
// smaller), each evaluated with a halo of context around it:
//   - every tile's crop starts (offset - halo) at a multiple of align = 4·2^pools of the deepest
//     layer used: at every pooling level p up to that layer the crop's origin is a multiple of
//     4 in that level's pixels. So every pooling window of a tile is the whole image's window,
//     and every 3x3 convolution sees its input cut into the same Winograd F(4x4,3x3) tiles as
//     the whole image's (kernels/winograd.h): Winograd's rounding depends on where an output
//     sits in its 4x4 tile, and a crop at another origin gives interior features that differ in
//     the last bits, which ReLU and max-pool ties then turn into other gradient routes
//     (measured: 7.8e-4 relative L2 on the gradient with 20-px tiles at 96 px). Aligned, every
//     interior feature is bit-identical to the whole image's (tested);
//   - the halo before a tile (rows above, columns left) covers the inputs the interior's
//     features depend on bit for bit (winograd_reach(), more than the receptive-field radius
//     receptive_radius()), rounded up to align; the halo after it the same reach rounded up to
//     2^pools only. So every feature of a tile's interior is the whole image's value bit for
//     bit (tested), and so is every ReLU and max-pool decision its gradient flows through: the
//     zero padding at a crop's edge never reaches the interior. (The backward's mirrored
//     Winograd tiles sit elsewhere than the whole image's, and the tiles' input gradients are
//     summed tile by tile: that changes the rounding of sums only, ~1e-6 relative.)
// Pass 1 (no graph) runs each tile forward and accumulates, in a fixed tile order, every style
// layer's Gram sum F Fᵀ and every content layer's Σ (F − P)² over the interiors only. That gives
// the loss, and the gradient of the loss with respect to each interior feature:
//   content:  2·cw/N · (F − P)        style:  4·sw·w_l/(C²·N) · (G − A) F      (N = C·H·W)
// Pass 2 runs each tile forward again with a graph and backpropagates those feature gradients
// (zero on the halo) as Σ ⟨F, ∂L/∂F⟩ (ops/losses.h dot_constant); the tiles' input gradients,
// halos included, add up to the whole image's gradient. The total-variation term is computed
// on the whole image directly (it needs no network).
// Cost: two forwards and one backward per tile, over the tile plus its halo.
// The bits depend on the split (the tile size), not on the thread count; two budgets that give
// the same tile size give the same image.
#pragma once

#include "nst/style/gatys.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nst {

// Input pixels a feature of layer `deepest` (index in `network`) depends on, on each side:
// Σ over the layers up to it of (3x3 conv: 1, 2x2 pool: 1) × the stride before that layer.
int64_t receptive_radius(const Network& network, size_t deepest);

// How far the inputs reach that a tile interior's features at the deepest layer depend on, bit
// for bit, when the interior's first and one-past-last positions are multiples of 4 at every
// level (the grid's alignment): in input pixels before the first and after the last position.
// A Winograd F(4x4,3x3) output is computed from its tile's whole 6x6 input patch, so its bits
// depend on inputs up to 3 positions away where the mathematics needs 1 (the terms cancel in
// exact arithmetic, not in float): VGG19's relu5_1 needs 109 pixels each side, not 85.
struct HaloReach {
  int64_t before = 0, after = 0;
};
HaloReach winograd_reach(const Network& network, size_t deepest);

struct TileGrid {
  int64_t height = 0, width = 0;  // the image
  int64_t tile = 0;               // interior side (a multiple of align; the last row/column smaller)
  int64_t halo = 0;               // context before a tile (a multiple of align, >= the reach)
  int64_t halo_after = 0;         // context after a tile (a multiple of 2^pools, >= the reach)
  int64_t align = 1;              // 4·2^pools up to the deepest layer
  int64_t rows = 0, cols = 0;
  int64_t count() const { return rows * cols; }
};

// The grid for an image of h x w with interiors of at most `tile` pixels (rounded down to a
// multiple of the alignment, at least one alignment step). Throws std::invalid_argument for
// sizes < 1.
// The alignment step of the tile size for these layers: 4·2^pools up to the deepest.
int64_t tile_alignment(const Network& network, const std::vector<std::string>& layers);
TileGrid make_tile_grid(const Network& network, const std::vector<std::string>& layers, int64_t h, int64_t w,
                        int64_t tile);

// The work of one tiled evaluation relative to an untiled one, as modelled: the convolutions'
// multiply-adds over every crop (tiles with their halos) against the whole image's, times 4/3
// for the second forward pass (a backward costs about two forwards). 1x1 grid: 4/3.
double tiled_work_factor(const Network& network, const std::vector<std::string>& layers, const TileGrid& grid);

template <class T>
class TiledGatysLoss {
 public:
  // As GatysLoss (the targets are computed tiled too, with the same tile size).
  TiledGatysLoss(const Vgg<T>& net, const Tensor<T>& content, const std::vector<Tensor<T>>& styles,
                 std::vector<double> blend, GatysConfig config, int64_t tile);

  // Loss at x (content's shape); adds ∇loss into *grad if grad is not null.
  LossTerms evaluate(const Tensor<T>& x, Tensor<T>* grad) const;

  const TileGrid& grid() const { return grid_; }

 private:
  struct Sums;
  Sums accumulate(const Tensor<T>& x, const TileGrid& grid, bool with_content) const;

  const Vgg<T>& net_;
  GatysConfig config_;
  int64_t tile_;
  TileGrid grid_;
  std::vector<std::string> layers_;
  std::vector<Tensor<T>> content_targets_;  // per content layer, the whole image's features
  std::vector<Tensor<T>> style_targets_;    // per style layer: blended Gram (C x C)
  // Each term's factor (gatys.h: content_term_factor, style_term_factor) and relative mode's TV
  // input, as in GatysLoss.
  std::vector<double> content_factors_, style_factors_;
  std::shared_ptr<const ConvWeights<T>> to_unit_pixels_;
  double tv_factor_ = 1.0;  // tv_term_factor of the whole image
};

}  // namespace nst
