// A stylize() run's whole state at an iteration boundary (a checkpoint), and the hooks that
// save and resume it. A run resumed from a state ends bit-identical to one that never stopped:
// same image, same loss of every iteration. The file format is in style/checkpoint.h.
#pragma once

#include "nst/optim/lbfgs_state.h"
#include "nst/style/gatys.h"

#include <functional>

namespace nst {

struct StylizeCheckpoint {
  LbfgsState optimizer;
  LossTerms last;      // the terms of the latest evaluation (what the next report shows)
  double seconds = 0;  // optimization time spent up to this state, over all sessions
};

struct StylizeCheckpointing {
  // Continue this state (taken with the same settings and images) instead of starting afresh.
  const StylizeCheckpoint* resume = nullptr;
  // save(state) is called after iteration k's report when due(k), and once at the end of a run
  // stopped by its iteration count, a cancellation or on_iteration returning false.
  std::function<bool(int iteration)> due;
  std::function<void(const StylizeCheckpoint&)> save;
};

}  // namespace nst
