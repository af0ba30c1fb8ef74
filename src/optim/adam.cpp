#include "nst/optim/adam.h"

#include "nst/optim/adam_state.h"

#include "nst/cancel.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace nst {

void AdamOptions::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("Adam: " + what); };
  if (max_iterations < 1) bad("max_iterations must be >= 1, got " + std::to_string(max_iterations));
  if (!std::isfinite(learning_rate) || !(learning_rate > 0)) bad("learning_rate must be finite and > 0");
  if (!std::isfinite(epsilon) || !(epsilon > 0)) bad("epsilon must be finite and > 0");
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) bad("beta1 and beta2 must be in [0, 1)");
  if (scale.size() > 0 && (!scale.allFinite() || !(scale.minCoeff() > 0))) bad("scale must be finite and > 0");
}

LbfgsResult adam_minimize(const Objective& f, Eigen::VectorXf& x, const AdamOptions& opt,
                          const std::function<bool(const LbfgsIteration&)>& on_iteration) {
  return adam_minimize(f, x, opt, on_iteration, AdamCheckpointing{});
}

LbfgsResult adam_minimize(const Objective& f, Eigen::VectorXf& x, const AdamOptions& opt,
                          const std::function<bool(const LbfgsIteration&)>& on_iteration,
                          const AdamCheckpointing& ck) {
  opt.validate();
  const int64_t n = x.size();
  if (n == 0) throw std::invalid_argument("Adam: x is empty");
  if (opt.scale.size() != 0 && opt.scale.size() != n)
    throw std::invalid_argument("Adam: scale has " + std::to_string(opt.scale.size()) + " entries for " +
                                std::to_string(n) + " variables");
  if (ck.final_state) *ck.final_state = AdamState{};
  Eigen::VectorXf g(n), m = Eigen::VectorXf::Zero(n), v = Eigen::VectorXf::Zero(n), best = x;
  LbfgsResult r{LbfgsStop::MaxIterations, 0, 0, std::numeric_limits<double>::quiet_NaN(), ""};
  bool has_best = false;
  int made = 0;  // iterations whose update is applied
  if (ck.resume) {  // continue a saved state (optim/adam_state.h)
    const AdamState& st = *ck.resume;
    auto bad = [](const std::string& what) { throw std::invalid_argument("Adam: resume state: " + what); };
    if (st.iteration < 1) bad("no iteration made");
    if (st.iteration > opt.max_iterations)
      bad("iteration " + std::to_string(st.iteration) + " is past max_iterations " + std::to_string(opt.max_iterations));
    if (st.x.size() != n || st.m.size() != n || st.v.size() != n || st.x_best.size() != n)
      bad("vector sizes differ from x's");
    if (!st.x.allFinite() || !st.m.allFinite() || !st.v.allFinite() || !st.x_best.allFinite() ||
        !std::isfinite(st.best_loss))
      bad("a non-finite value");
    if (!(st.v.minCoeff() >= 0)) bad("a negative second moment");
    x = st.x;
    m = st.m;
    v = st.v;
    best = st.x_best;
    r.best_loss = st.best_loss;
    has_best = true;
    made = r.iterations = r.evaluations = st.iteration;  // one evaluation per iteration
  }
  const auto state = [&] {
    AdamState st;
    st.iteration = made;
    st.x = x;
    st.m = m;
    st.v = v;
    st.x_best = best;
    st.best_loss = r.best_loss;
    return st;
  };
  // One evaluation at x; false when the run must stop (r.stop set).
  auto evaluate = [&](double& loss) {
    if (opt.cancelled && opt.cancelled()) {
      r.stop = LbfgsStop::Cancelled;
      return false;
    }
    g.setZero();
    try {
      loss = f(x, g);
    } catch (const CancelledError&) {  // cancelled inside the evaluation (nst/cancel.h): discard it
      r.stop = LbfgsStop::Cancelled;
      return false;
    }
    ++r.evaluations;
    if (g.size() != n) throw std::invalid_argument("Adam: the objective resized the gradient");
    if (!std::isfinite(loss) || !g.allFinite()) {
      r.stop = LbfgsStop::NonFinite;
      return false;
    }
    if (!has_best || loss < r.best_loss) {
      best = x;
      r.best_loss = loss;
      has_best = true;
    }
    return true;
  };
  const double lr = opt.learning_rate, b1 = opt.beta1, b2 = opt.beta2, eps = opt.epsilon;
  double b1k = 1, b2k = 1;
  for (int k = 1; k <= made; ++k) b1k *= b1, b2k *= b2;  // as the iterations before the state made them
  bool stopped = false;
  for (int k = made + 1; k <= opt.max_iterations; ++k) {
    double loss = 0;
    if (!evaluate(loss)) {
      stopped = true;
      break;
    }
    r.iterations = k;
    // The update is made even when on_iteration stops the run: it changes nothing returned (x is
    // the best point evaluated) and leaves a state that continues the run.
    const bool go_on = !on_iteration || on_iteration({k, loss, r.evaluations});
    b1k *= b1;
    b2k *= b2;
    const float* s = opt.scale.size() ? opt.scale.data() : nullptr;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const double su = s ? s[i] : 1.0;
      const double gi = g[i] / su;  // gradient w.r.t. u = x·scale
      const double mi = b1 * m[i] + (1 - b1) * gi, vi = b2 * v[i] + (1 - b2) * gi * gi;
      m[i] = static_cast<float>(mi);
      v[i] = static_cast<float>(vi);
      const double step = lr * (mi / (1 - b1k)) / (std::sqrt(vi / (1 - b2k)) + eps);
      x[i] = static_cast<float>(x[i] - step / su);
    }
    made = k;
    if (!go_on) {
      r.stop = LbfgsStop::Cancelled;
      stopped = true;
      break;
    }
    if (ck.save && ck.due && ck.due(k)) ck.save(state());
  }
  // A continuable end: the iterations ran out (the state before the final evaluation) or the run
  // was stopped between iterations or inside an evaluation (discarded).
  if (ck.final_state && made >= 1 && (!stopped || r.stop == LbfgsStop::Cancelled)) *ck.final_state = state();
  if (!stopped) {
    double loss = 0;
    evaluate(loss);  // the final point; a failure here keeps the best point so far
    if (r.stop == LbfgsStop::NonFinite || r.stop == LbfgsStop::Cancelled) r.stop = LbfgsStop::MaxIterations;
  }
  r.message = std::string(to_string(r.stop)) + " after " + std::to_string(r.iterations) + " Adam iterations";
  if (has_best) x = best;
  return r;
}

}  // namespace nst
