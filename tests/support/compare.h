// Comparing a fast kernel's result with its reference.
#pragma once

#include "nst/tensor.h"

#include <algorithm>
#include <cmath>

namespace nst::testing {

// max |a - b| / max |b|: errors measured against the size of the result.
template <class T>
double max_rel_diff(const Tensor<T>& a, const Tensor<T>& b) {
  double scale = 0, diff = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  }
  return diff / std::max(scale, 1e-30);
}

}  // namespace nst::testing
