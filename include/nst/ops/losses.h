// Scalar losses. Results have shape [] (one element). Sums run in double over fixed chunks
// combined in a fixed order, so they do not depend on the number of threads.
#pragma once

#include "nst/autograd.h"

#include <memory>

namespace nst {

// mean((x - target)²) over all elements; the target is a constant of x's shape.
template <class T>
Var<T> mse(const Var<T>& x, std::shared_ptr<const Tensor<T>> target);

// Total variation of x (N,C,H,W): ½ Σ over n, c of the squared differences of horizontally
// and of vertically adjacent pixels.
template <class T>
Var<T> total_variation(const Var<T>& x);

// Σ x ⊙ c over all elements: the inner product with a constant of x's shape. Its gradient is c:
// the way to backpropagate a known gradient c of x as a scalar loss (style/tiled_loss.h).
template <class T>
Var<T> dot_constant(const Var<T>& x, std::shared_ptr<const Tensor<T>> c);

}  // namespace nst
