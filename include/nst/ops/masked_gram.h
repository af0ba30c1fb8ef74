// Guided Gram matrices (Gatys et al. 2017, spatial control): the Gram matrix of feature maps
// over a weighted region,
//   G = (F∘m)(F∘m)ᵀ / (C · Σ m²),   F the (C, H·W) view of x (N = 1), m ≥ 0 the (H, W) mask,
// the m²-weighted mean of f fᵀ over the pixels (a mask of ones gives gram(x)). A mask that is 0
// everywhere gives G = 0.
#pragma once

#include "nst/autograd.h"

namespace nst {

// x (N,C,H,W) times a constant mask (H,W) broadcast over N and C.
template <class T>
Var<T> mask_mul(const Var<T>& x, std::shared_ptr<const Tensor<T>> mask);

// (1,C,H,W) -> (1,C,C), as above: gram(mask_mul(x, m)) · H·W / Σ m².
template <class T>
Var<T> masked_gram(const Var<T>& x, std::shared_ptr<const Tensor<T>> mask);

// 2x2 average pooling of a mask (H,W) -> (H/2, W/2) (floor, as the network's pooling), so that a
// mask at the input size follows a layer's resolution down the network.
template <class T>
Tensor<T> pool_mask(const Tensor<T>& mask);

}  // namespace nst
