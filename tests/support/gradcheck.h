// The one finite-difference gradient checker every differentiable op is tested with.
//
// For f: inputs -> output, it checks the reverse-mode gradient of L = Σ seed ⊙ f(x) (seed a
// fixed random tensor, so non-scalar outputs are checked through a random projection) against
// central differences (L(x + h e_i) - L(x - h e_i)) / 2h, in double, for every element of every
// input. With h = 1e-6 the truncation error is O(h²) and the rounding error about 1e-16·|L|/h,
// far below the tolerance. Inputs must stay more than h away from kinks (ReLU at 0, max-pool
// ties); the tests build them that way.
#pragma once

#include "nst/autograd.h"

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace nst::test {

using Fn = std::function<Var<double>(const std::vector<Var<double>>&)>;

struct GradCheck {
  bool ok = true;
  double worst_error = 0;   // max over elements of |analytic - numeric| / max(1, |numeric|)
  std::string worst_place;  // "input 0 element 17: analytic 0.1 numeric 0.2"
  int64_t checked = 0;      // number of elements compared
};

GradCheck check_gradients(const Fn& f, const std::vector<Tensor<double>>& inputs,
                          uint64_t seed = 1, double h = 1e-6, double tolerance = 1e-6);

// Uniform values in [lo, hi).
template <class T>
Tensor<T> random_tensor(const Shape& shape, std::mt19937_64& rng, double lo = -1, double hi = 1) {
  Tensor<T> t(shape);
  std::uniform_real_distribution<double> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(u(rng));
  return t;
}

// Uniform magnitudes in [margin, 1) with random signs: no value near 0 (ReLU's kink).
Tensor<double> random_away_from_zero(const Shape& shape, std::mt19937_64& rng, double margin = 0.05);

}  // namespace nst::test
