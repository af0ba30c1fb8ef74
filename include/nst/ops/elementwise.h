// Per-channel bias, ReLU, scaling and summing.
#pragma once

#include "nst/autograd.h"

#include <memory>
#include <vector>

namespace nst {

// x: (N,C,H,W), b: (C) -> x + b[c]. The bias is frozen (no gradient).
template <class T>
Var<T> bias_add(const Var<T>& x, std::shared_ptr<const Tensor<T>> b);

// max(x, 0). The backward keeps only a one-byte mask of x > 0 (gradient 0 at x == 0).
template <class T>
Var<T> relu(const Var<T>& x);

// a * x, any shape.
template <class T>
Var<T> scale(const Var<T>& x, T a);

// Element-wise sum of same-shape values (at least one), e.g. loss terms into one scalar.
template <class T>
Var<T> sum(const std::vector<Var<T>>& xs);

}  // namespace nst
