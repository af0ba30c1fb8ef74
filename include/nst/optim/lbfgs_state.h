// The whole state of an L-BFGS minimization at an iteration boundary (optim/lbfgs.h): what a
// checkpoint stores so that a minimization continued from it gives bit-identical results to
// one that never stopped.
//
// A state is taken either right after an iteration's on_iteration call (`reported`: continuing
// goes on with that iteration's step), or, when max_iterations ran out, at the evaluated next
// point with its curvature pair already offered (not `reported`: continuing starts by reporting
// iteration `iteration`). The history's pairs are shared with the minimizer, not copied: they
// never change once stored.
#pragma once

#include "nst/half.h"
#include "nst/optim/lbfgs.h"

#include <Eigen/Core>

#include <functional>
#include <memory>
#include <vector>

namespace nst {

struct LbfgsState {
  HistoryPrecision precision = HistoryPrecision::Float;
  int history = 0;          // m, the capacity of the history
  int iteration = 0;        // the iteration whose evaluation x, g, loss are (1-based)
  bool reported = false;    // on_iteration(iteration) has been called
  int evaluations = 0;      // calls of f up to this state
  int resets = 0, skipped_pairs = 0;
  int same_loss = 0;        // bit-identical losses in a row so far
  int loss_rises = 0;       // with bounds: loss rises in a row so far (2: the next step restarts)
  Eigen::VectorXf x, g;     // the current point and its gradient
  double loss = 0;
  Eigen::VectorXf x_best;   // the best finite point evaluated and its loss
  double best_loss = 0;
  bool has_best = false;
  // The pairs, oldest first: float vectors, or (precision Half) binary16 vectors.
  std::vector<std::shared_ptr<const Eigen::VectorXf>> s, y;
  std::vector<std::shared_ptr<const HalfVector>> half_s, half_y;
  std::vector<double> rho;  // 1 / sᵀy of each pair
  double gamma = 1;         // sᵀy / yᵀy of the newest pair

  int pairs() const { return static_cast<int>(rho.size()); }
};

/// Checkpointing hooks of lbfgs_minimize (all optional).
struct LbfgsCheckpointing {
  /// Continue this state instead of starting at x (x's size must match). Its precision and
  /// history must equal the options'; throws std::invalid_argument otherwise.
  const LbfgsState* resume = nullptr;
  /// Called with the state right after on_iteration(k) returned true, for each k where
  /// due(k) is true (due empty: never).
  std::function<bool(int iteration)> due;
  std::function<void(const LbfgsState&)> save;
  /// If not null, receives the state at the end of a run stopped by max_iterations or
  /// cancellation (a continuable state); left empty (iteration 0) after any other stop.
  LbfgsState* final_state = nullptr;
};

/// lbfgs_minimize with checkpointing.
LbfgsResult lbfgs_minimize(const Objective& f, Eigen::VectorXf& x, const LbfgsOptions& opt,
                           const std::function<bool(const LbfgsIteration&)>& on_iteration,
                           const LbfgsCheckpointing& checkpointing);

}  // namespace nst
