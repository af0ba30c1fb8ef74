// Gram matrix of feature maps: G = F Fᵀ / (C·H·W), F the (C, H·W) view of one sample.
#pragma once

#include "nst/autograd.h"

namespace nst {

// (N,C,H,W) -> (N,C,C).
template <class T>
Var<T> gram(const Var<T>& x);

// The two products under gram() and its backward, for callers that sum Gram matrices over
// pieces of a feature map (style/tiled_loss.cpp). Row-major, one sample; parallel, with the
// work cut by shape only, so the bits do not depend on the thread count.
// G (C x C) = F Fᵀ, unnormalized, written whole (symmetric); F is C x HW with row stride ld.
template <class T>
void gram_product(const T* f, int64_t C, int64_t HW, int64_t ld, T* g);
// D (C x HW, row stride ld) = S F, or D += S F with accumulate; S is C x C.
template <class T>
void gram_left_product(const T* s, const T* f, int64_t C, int64_t HW, int64_t ld, T* d, bool accumulate);

}  // namespace nst
