// 2x2 pooling with stride 2 (floor mode: an odd last row or column is dropped, as PyTorch's
// MaxPool2d(2, 2) / AvgPool2d(2, 2) and neural-style).
#pragma once

#include "nst/autograd.h"

namespace nst {

// (N,C,H,W) -> (N,C,H/2,W/2). The backward keeps only the argmax (one byte per output).
// Ties go to the first maximum in row-major window order.
template <class T>
Var<T> max_pool2(const Var<T>& x);

// (N,C,H,W) -> (N,C,H/2,W/2), the mean of each window.
template <class T>
Var<T> avg_pool2(const Var<T>& x);

}  // namespace nst
