// A stylize() run's whole state at an iteration boundary (a checkpoint), and the hooks that
// save and resume it. A run resumed from a state ends bit-identical to one that never stopped:
// same image, same loss of every iteration. The file format is in style/checkpoint.h.
#pragma once

#include "nst/optim/adam_state.h"
#include "nst/optim/lbfgs_state.h"
#include "nst/style/gatys.h"
#include "nst/style/settings.h"

#include <functional>

namespace nst {

struct StylizeCheckpoint {
  Optimizer kind = Optimizer::Lbfgs;  // the optimizer whose state this is: settings.optimizer's
  LbfgsState optimizer;  // kind Lbfgs: the L-BFGS state of the scale below
  AdamState adam;        // kind Adam: the Adam state of the scale below
  int scale = 0;         // multi-scale: the 0-based scale the optimizer state belongs to
  int iterations_before = 0, evaluations_before = 0;  // made at the scales before it
  LossTerms last;      // the terms of the latest evaluation (what the next report shows)
  double seconds = 0;  // optimization time spent up to this state, over all sessions

  // The iteration of its scale the state continues at (the next evaluation's): an L-BFGS
  // state's own iteration, an Adam state's next one.
  int iteration() const { return kind == Optimizer::Adam ? adam.iteration + 1 : optimizer.iteration; }
};

struct StylizeCheckpointing {
  // Continue this state (taken with the same settings and images) instead of starting afresh.
  const StylizeCheckpoint* resume = nullptr;
  // save(state) is called after iteration k's report when due(k) (k counted over all scales),
  // and once at the end of each scale stopped by its iteration count, a cancellation or
  // on_iteration returning false.
  std::function<bool(int iteration)> due;
  std::function<void(const StylizeCheckpoint&)> save;
};

}  // namespace nst
