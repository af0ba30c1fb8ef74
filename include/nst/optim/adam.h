// Adam (Kingma & Ba 2015, Algorithm 1, with bias correction) over float32 variables: the
// optimizer neural-style offers beside L-BFGS (-optimizer adam). Like lbfgs_minimize it meets
// the model only through f(x, grad) -> loss, and it returns the same result and iteration
// types, so a caller treats both alike.
//
//   iteration k = 1..N: evaluate f, g at x_{k-1};
//     m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²;  m̂ = m / (1-β1^k);  v̂ = v / (1-β2^k);
//     x_k = x_{k-1} - lr · m̂ / (√v̂ + ε)
//   then one more evaluation at x_N, so that the returned point's loss is known: N iterations
//   make N + 1 evaluations, as lbfgs_minimize without a line search.
// `scale` (optional, x's size): per-variable units. The update runs on u = x ∘ scale (the
// gradient w.r.t. u is g / scale), so lr is in u's units: stylize() passes the pixel units per
// input unit so that lr is in 0..255 pixels whatever the weights' preprocessing.
// Element-wise only (no reductions): bit-identical for any number of threads.
#pragma once

#include "nst/optim/lbfgs.h"

namespace nst {

struct AdamOptions {
  int max_iterations = 1000;
  double learning_rate = 10;  ///< step size (neural-style's default, in 0..255 pixel units)
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;  ///< Kingma & Ba's defaults (also torch's)
  Eigen::VectorXf scale;      ///< per-variable units (see above); empty = 1
  std::function<bool()> cancelled;  ///< optional; checked before every evaluation

  /// Throws std::invalid_argument naming the parameter: max_iterations >= 1, learning_rate and
  /// epsilon finite and > 0, betas in [0, 1), scale empty or finite and > 0.
  void validate() const;
};

/// Minimizes f from x (in/out). On return x holds the best finite point evaluated (x unchanged
/// if none). Stops: MaxIterations, NonFinite (a NaN/Inf loss or gradient), Cancelled.
LbfgsResult adam_minimize(const Objective& f, Eigen::VectorXf& x, const AdamOptions& opt,
                          const std::function<bool(const LbfgsIteration&)>& on_iteration = {});

}  // namespace nst
