// Gram matrix of feature maps: G = F Fᵀ / (C·H·W), F the (C, H·W) view of one sample.
#pragma once

#include "nst/autograd.h"

namespace nst {

// (N,C,H,W) -> (N,C,C).
template <class T>
Var<T> gram(const Var<T>& x);

}  // namespace nst
