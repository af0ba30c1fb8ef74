// The whole state of an Adam minimization at an iteration boundary (optim/adam.h): what a
// checkpoint stores so that a minimization continued from it gives bit-identical results to
// one that never stopped.
//
// A state is taken after iteration `iteration`'s update: x is x_k and m, v hold the moments
// after it; continuing starts by evaluating x_k as iteration k + 1. β1^k and β2^k are not kept:
// they are recomputed by the same k multiplications. Adam makes one evaluation per iteration,
// so the state has made exactly `iteration` evaluations, and every one was finite (a non-finite
// one ends a run with no state), so the best point is always set.
#pragma once

#include "nst/optim/adam.h"

#include <Eigen/Core>

#include <functional>

namespace nst {

struct AdamState {
  int iteration = 0;        // iterations made (0: no state)
  Eigen::VectorXf x;        // x_k, where iteration k + 1 evaluates
  Eigen::VectorXf m, v;     // the first and second moments after update k (in the units of AdamOptions::scale)
  Eigen::VectorXf x_best;   // the best point evaluated and its loss
  double best_loss = 0;
};

/// Checkpointing hooks of adam_minimize (all optional).
struct AdamCheckpointing {
  /// Continue this state instead of starting at x (x's size must match; its iteration at most
  /// max_iterations). Throws std::invalid_argument for a state that is not consistent.
  const AdamState* resume = nullptr;
  /// Called with the state right after iteration k's update, for each k where due(k) is true
  /// (due empty: never).
  std::function<bool(int iteration)> due;
  std::function<void(const AdamState&)> save;
  /// If not null, receives the state at the end of a run stopped by max_iterations (taken before
  /// the final evaluation, which a continued run makes as its next iteration's), by cancellation
  /// or by on_iteration returning false (a continuable state); left empty (iteration 0) after a
  /// non-finite stop or when no iteration was made.
  AdamState* final_state = nullptr;
};

/// adam_minimize with checkpointing.
LbfgsResult adam_minimize(const Objective& f, Eigen::VectorXf& x, const AdamOptions& opt,
                          const std::function<bool(const LbfgsIteration&)>& on_iteration,
                          const AdamCheckpointing& checkpointing);

}  // namespace nst
