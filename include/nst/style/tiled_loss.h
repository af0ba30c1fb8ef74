// The Gatys loss and its gradient computed in spatial tiles, exactly: the same numbers as
// GatysLoss (to float rounding) with the memory of one tile's forward and backward instead of
// the whole image's. For print sizes that do not fit in memory otherwise.
//
// The image is cut into a grid of interior tiles of `tile` pixels a side (the last row/column
// smaller), each evaluated with a halo of context around it:
//   - the tile offsets and the halo are multiples of 2^pools of the deepest layer used, so every
//     pooling window of a tile is the whole image's window;
//   - the halo is at least the receptive-field radius of the deepest layer (receptive_radius()),
//     so every feature of a tile's interior, and everything its gradient flows through, is the
//     whole image's value: the zero padding at a tile's edge never reaches the interior.
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

struct TileGrid {
  int64_t height = 0, width = 0;  // the image
  int64_t tile = 0;               // interior side (a multiple of align; the last row/column smaller)
  int64_t halo = 0;               // context on each side (a multiple of align, >= the radius)
  int64_t align = 1;              // 2^pools up to the deepest layer
  int64_t rows = 0, cols = 0;
  int64_t count() const { return rows * cols; }
};

// The grid for an image of h x w with interiors of at most `tile` pixels (rounded down to a
// multiple of the alignment, at least one alignment step). Throws std::invalid_argument for
// sizes < 1.
TileGrid make_tile_grid(const Network& network, const std::vector<std::string>& layers, int64_t h, int64_t w,
                        int64_t tile);

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
};

}  // namespace nst
