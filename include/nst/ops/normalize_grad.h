// neural-style's gradient normalization as an op: the identity forward; backward, the incoming
// gradient g is replaced by strength · g / (‖g‖₁ + 1e-8). Put between a layer's features and
// one loss term (that term's backward then reaches the features normalized), with the term
// itself left unweighted: `strength` is its weight.
#pragma once

#include "nst/autograd.h"

namespace nst {

template <class T>
Var<T> normalize_grad(const Var<T>& x, T strength);

}  // namespace nst
