// L-BFGS minimizer; see include/nst/optim/lbfgs.h for the algorithm and the contract.
#include "nst/optim/lbfgs.h"

#include "nst/cancel.h"
#include "nst/optim/lbfgs_state.h"

#include "nst/half.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

namespace nst {

namespace {

using Vec = Eigen::VectorXf;

constexpr double kMinCurvature = 1e-10;  // keep a pair only if sᵀy > this
constexpr int kSameLossLimit = 10;       // bit-identical losses in a row -> NoProgress
constexpr int kRiseLimit = 2;             // with bounds: loss rises in a row -> reset (lbfgs.h)
constexpr double kWolfeC1 = 1e-4;        // sufficient decrease
constexpr double kWolfeC2 = 0.9;         // curvature
constexpr int kMaxSearchEvaluations = 25;

// Float32 vectors, double accumulation.
// The vector loops of the two-loop recursion run in parallel over fixed chunks, and a sum
// combines its chunks' partial sums in order: the same bits for any number of threads.
constexpr int64_t kChunk = 1 << 15;

// Σ_c part(begin_c, end_c) over the chunks of [0, n).
template <class Part>
double chunked_sum(int64_t n, const Part& part) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c)
    partial[static_cast<size_t>(c)] = part(c * kChunk, std::min(n, (c + 1) * kChunk));
  double sum = 0;
  for (double p : partial) sum += p;
  return sum;
}

double dot(const Vec& a, const Vec& b) {
  return chunked_sum(a.size(), [&](int64_t i, int64_t j) {
    return a.segment(i, j - i).cast<double>().dot(b.segment(i, j - i).cast<double>());
  });
}
double max_abs(const Vec& v) { return static_cast<double>(v.cwiseAbs().maxCoeff()); }
double norm1(const Vec& v) { return v.cast<double>().cwiseAbs().sum(); }

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(9);
  os << v;
  return os.str();
}

// Minimizer of the cubic through (t1, f1, g1) and (t2, f2, g2) (N&W eq. 3.59), clamped to
// [lo, hi]; the middle of [lo, hi] when the cubic has no minimizer or the numbers degenerate.
double cubic_minimizer(double t1, double f1, double g1, double t2, double f2, double g2, double lo,
                       double hi) {
  const double d1 = g1 + g2 - 3.0 * (f1 - f2) / (t1 - t2);
  const double d2sq = d1 * d1 - g1 * g2;
  if (std::isfinite(d2sq) && d2sq >= 0) {
    const double d2 = std::copysign(std::sqrt(d2sq), t2 - t1);
    const double t = t2 - (t2 - t1) * (g2 + d2 - d1) / (g2 - g1 + 2.0 * d2);
    if (std::isfinite(t)) return std::clamp(t, lo, hi);
  }
  return 0.5 * (lo + hi);
}

// Ring buffer of the newest m pairs (s, y) with ρ = 1 / sᵀy, stored in float or in half
// precision (HalfVector). Slots are allocated as pairs arrive, so a large m on a short run costs
// only the pairs actually stored. A stored pair never changes; each is held by a shared_ptr so
// that a state (optim/lbfgs_state.h) can share it without a copy, and a slot's memory is reused
// for the next pair only when no state holds it.
class PairHistory {
 public:
  PairHistory(int m, bool half) : m_(m), half_(half) {}

  int size() const { return count_; }
  void clear() {
    start_ = 0;
    count_ = 0;
  }

  // Offers the pair (s, y); kept only if sᵀy > kMinCurvature as stored (half precision rounds
  // both vectors: ρ and γ come from the rounded pair, so H stays the exact L-BFGS matrix of
  // the pairs it holds, positive definite). Float pairs are swapped in from the caller's work
  // vectors (no copy once all slots exist); s and y are unspecified afterwards either way.
  bool offer(Vec& s, Vec& y) {
    if (half_) {  // round the pair first: the curvature test and ρ, γ see what is stored
      spare_s_.assign(s.data(), s.size());
      spare_y_.assign(y.data(), y.size());
      spare_s_.decode(s.data());
      spare_y_.decode(y.data());
    }
    const double sy = dot(s, y);
    if (!(sy > kMinCurvature)) return false;
    const int slot = next_slot();
    if (half_) {
      if (slot == static_cast<int>(hs_.size())) {
        hs_.emplace_back();
        hy_.emplace_back();
      }
      store(hs_[static_cast<size_t>(slot)], spare_s_);
      store(hy_[static_cast<size_t>(slot)], spare_y_);
    } else {
      if (slot == static_cast<int>(s_.size())) {
        s_.emplace_back();
        y_.emplace_back();
      }
      store(s_[static_cast<size_t>(slot)], s);
      store(y_[static_cast<size_t>(slot)], y);
    }
    if (slot == static_cast<int>(rho_.size())) {
      rho_.push_back(0);
      alpha_.push_back(0);
    }
    rho_[static_cast<size_t>(slot)] = 1.0 / sy;
    const Vec& y_kept = half_ ? y : *y_[static_cast<size_t>(slot)];  // float pairs were swapped in
    gamma_ = sy / dot(y_kept, y_kept);
    return true;
  }

  // Two-loop recursion: q <- H q, H the L-BFGS inverse-Hessian approximation (N&W Alg. 7.4).
  // Each pass over q applies one pair's update and, chunk by chunk, takes the next pair's dot
  // product with the updated q: the same operations in the same order as separate passes (the
  // same bits), with q read twice per pair instead of four times.
  void apply(Vec& q) {
    if (count_ == 0) return;
    const int64_t n = q.size();
    float* qd = q.data();
    double next = chunked_sum(n, [&](int64_t b, int64_t e) { return dot_range(s_, hs_, index(count_ - 1), qd, b, e); });
    for (int j = count_ - 1; j >= 0; --j) {  // newest to oldest
      const size_t i = index(j);
      alpha_[i] = rho_[i] * next;
      const float a = static_cast<float>(-alpha_[i]);
      const bool more = j > 0;
      const size_t i_next = more ? index(j - 1) : 0;
      next = chunked_sum(n, [&](int64_t b, int64_t e) {
        axpy_range(y_, hy_, i, a, qd, b, e);
        return more ? dot_range(s_, hs_, i_next, qd, b, e) : 0.0;
      });
    }
    const float gamma = static_cast<float>(gamma_);
    next = chunked_sum(n, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) qd[k] *= gamma;
      return dot_range(y_, hy_, index(0), qd, b, e);
    });
    for (int j = 0; j < count_; ++j) {  // oldest to newest
      const size_t i = index(j);
      const double beta = rho_[i] * next;
      const float a = static_cast<float>(alpha_[i] - beta);
      const bool more = j + 1 < count_;
      const size_t i_next = more ? index(j + 1) : 0;
      next = chunked_sum(n, [&](int64_t b, int64_t e) {
        axpy_range(s_, hs_, i, a, qd, b, e);
        return more ? dot_range(y_, hy_, i_next, qd, b, e) : 0.0;
      });
    }
  }

  // The pairs, oldest first, shared into `st`, with ρ and γ.
  void export_to(LbfgsState& st) const {
    for (int j = 0; j < count_; ++j) {
      const size_t i = index(j);
      if (half_) {
        st.half_s.push_back(hs_[i]);
        st.half_y.push_back(hy_[i]);
      } else {
        st.s.push_back(s_[i]);
        st.y.push_back(y_[i]);
      }
      st.rho.push_back(rho_[i]);
    }
    st.gamma = gamma_;
  }
  // The pairs of `st` (checked by the caller), shared, as slots 0.. in order.
  void restore(const LbfgsState& st) {
    clear();
    s_.clear(), y_.clear(), hs_.clear(), hy_.clear(), rho_.clear(), alpha_.clear();
    for (int j = 0; j < st.pairs(); ++j) {
      const size_t i = static_cast<size_t>(j);
      // Shared with st, which outlives the minimization: such a slot is never reused in place
      // (store() sees it shared), so nothing st holds is ever written.
      if (half_) {
        hs_.push_back(std::const_pointer_cast<HalfVector>(st.half_s[i]));
        hy_.push_back(std::const_pointer_cast<HalfVector>(st.half_y[i]));
      } else {
        s_.push_back(std::const_pointer_cast<Vec>(st.s[i]));
        y_.push_back(std::const_pointer_cast<Vec>(st.y[i]));
      }
      rho_.push_back(st.rho[i]);
      alpha_.push_back(0);
    }
    count_ = st.pairs();
    start_ = 0;
    gamma_ = st.gamma;
  }

 private:
  // Moves `v` into `slot`: swapped with the slot's old vector when nothing else holds it (no
  // allocation; `v` gets the old contents), else into a new one (`v` is left empty).
  template <class V>
  static void store(std::shared_ptr<V>& slot, V& v) {
    if (slot && slot.use_count() == 1) {
      std::swap(*slot, v);
    } else {
      slot = std::make_shared<V>();
      std::swap(*slot, v);
    }
  }
  size_t index(int j) const { return static_cast<size_t>((start_ + j) % m_); }  // j = 0: oldest
  int next_slot() {
    if (count_ < m_) return count_++;  // start_ is 0 until the buffer is full
    const int slot = start_;
    start_ = (start_ + 1) % m_;
    return slot;
  }
  // Pair vector i (from the float store v or the half store h) dotted with q over [b, e).
  double dot_range(const std::vector<std::shared_ptr<Vec>>& v, const std::vector<std::shared_ptr<HalfVector>>& h,
                   size_t i, const float* q, int64_t b, int64_t e) const {
    if (half_) return h[i]->dot(q, b, e);
    const Eigen::Map<const Vec> qm(q + b, e - b);
    return v[i]->segment(b, e - b).cast<double>().dot(qm.cast<double>());
  }
  // q += a * pair vector i over [b, e).
  void axpy_range(const std::vector<std::shared_ptr<Vec>>& v, const std::vector<std::shared_ptr<HalfVector>>& h,
                  size_t i, float a, float* q, int64_t b, int64_t e) const {
    if (half_) return h[i]->axpy(a, q, b, e);
    Eigen::Map<Vec> qm(q + b, e - b);
    qm += a * v[i]->segment(b, e - b);
  }

  int m_;
  bool half_;
  int start_ = 0;  // slot of the oldest pair
  int count_ = 0;
  double gamma_ = 1.0;  // sᵀy / yᵀy of the newest pair
  std::vector<std::shared_ptr<Vec>> s_, y_;
  std::vector<std::shared_ptr<HalfVector>> hs_, hy_;
  HalfVector spare_s_, spare_y_;  // the offered pair, rounded; swapped into a slot when kept
  std::vector<double> rho_, alpha_;
};

class Minimizer {
 public:
  Minimizer(const Objective& f, const Vec& x0, const LbfgsOptions& opt,
            const std::function<bool(const LbfgsIteration&)>& on_iteration)
      : f_(f),
        opt_(opt),
        on_iteration_(on_iteration),
        n_(x0.size()),
        history_(opt.history, opt.history_precision == HistoryPrecision::Half),
        x_(x0),
        g_(n_),
        d_(n_),
        x_trial_(n_),
        g_trial_(n_),
        x_lo_(n_),
        g_lo_(n_),
        s_(n_),
        y_(n_),
        x_best_(n_) {}

  LbfgsResult run();
  bool has_best() const { return has_best_; }
  void set_checkpointing(const LbfgsCheckpointing* ck) { ck_ = ck; }
  bool bounded() const { return opt_.lower.size() > 0; }
  const Vec& best_x() const { return x_best_; }

 private:
  enum class Eval { Ok, Cancelled, NonFinite };
  enum class Search { Ok, Failed, Cancelled, NonFinite };

  Eval evaluate(const Vec& x, Vec& g, double& loss);
  Search line_search(double t, double gtd0, double& t_accepted);
  Search probe(double t, double& loss, double& gtd);
  LbfgsResult finish(LbfgsStop stop, std::string message);
  void restore(const LbfgsState& st);
  LbfgsState state(int iteration, bool reported, int evaluations, int same_loss) const;
  void zero_active(Vec& v) const;
  void keep_free_pair();
  std::string eval_failure(Eval e) const;

  const Objective& f_;
  const LbfgsOptions& opt_;
  const std::function<bool(const LbfgsIteration&)>& on_iteration_;
  const Eigen::Index n_;
  PairHistory history_;

  Vec x_, g_;              // current point x_k and its gradient
  Vec d_;                  // search direction
  Vec x_trial_, g_trial_;  // the point being evaluated; after a step, the accepted new point
  Vec x_lo_, g_lo_;        // line search: best point of sufficient decrease so far
  Vec s_, y_;              // work pair, swapped into the history when kept
  Vec x_best_;
  double loss_ = 0;
  double loss_trial_ = 0;
  double best_loss_ = std::numeric_limits<double>::quiet_NaN();
  bool has_best_ = false;
  int iterations_ = 0;
  int evaluations_ = 0;
  int resets_ = 0;
  int skipped_ = 0;
  int rises_ = 0;  // with bounds: loss rises in a row; kRiseLimit: the history was just cleared
  // Checkpointing (optim/lbfgs_state.h): the hooks, and the counters as of the latest report.
  const LbfgsCheckpointing* ck_ = nullptr;
  int report_evaluations_ = 0;
  int report_same_loss_ = 0;
};

Minimizer::Eval Minimizer::evaluate(const Vec& x, Vec& g, double& loss) {
  if (opt_.cancelled && opt_.cancelled()) return Eval::Cancelled;
  g.setZero();
  try {
    loss = f_(x, g);
  } catch (const CancelledError&) {  // cancelled inside the evaluation (nst/cancel.h): discard it
    return Eval::Cancelled;
  }
  ++evaluations_;
  if (g.size() != n_)
    throw std::invalid_argument("lbfgs_minimize: the objective resized the gradient to " +
                                std::to_string(g.size()) + " for " + std::to_string(n_) +
                                " variables");
  if (!std::isfinite(loss) || !g.allFinite()) return Eval::NonFinite;
  if (!has_best_ || loss < best_loss_) {
    x_best_ = x;
    best_loss_ = loss;
    has_best_ = true;
  }
  return Eval::Ok;
}

// v_i = 0 for every active variable: x_i on a bound with -g_i pointing out of the box.
void Minimizer::zero_active(Vec& v) const {
  const float* lo = opt_.lower.data();
  const float* hi = opt_.upper.data();
  for (Eigen::Index i = 0; i < n_; ++i)
    if ((x_[i] <= lo[i] && g_[i] > 0) || (x_[i] >= hi[i] && g_[i] < 0)) v[i] = 0;
}

// After a step from x_trial_ (the old point, swapped) to x_: s_i = y_i = 0 unless variable i is
// strictly inside the box at both ends of the step.
void Minimizer::keep_free_pair() {
  const float* lo = opt_.lower.data();
  const float* hi = opt_.upper.data();
  for (Eigen::Index i = 0; i < n_; ++i) {
    const bool free = x_[i] > lo[i] && x_[i] < hi[i] && x_trial_[i] > lo[i] && x_trial_[i] < hi[i];
    if (!free) s_[i] = y_[i] = 0;
  }
}

std::string Minimizer::eval_failure(Eval e) const {
  if (e == Eval::Cancelled)
    return "cancelled before evaluation " + std::to_string(evaluations_ + 1) + " (iteration " +
           std::to_string(iterations_) + ")";
  return "non-finite loss or gradient at evaluation " + std::to_string(evaluations_) +
         " (iteration " + std::to_string(iterations_) + ")" +
         (has_best_ ? "; returning the best finite point" : "; no finite point, x unchanged");
}

LbfgsResult Minimizer::finish(LbfgsStop stop, std::string message) {
  // A cancelled run stopped after reporting iteration iterations_ without changing x_, g_ or
  // the history since: that report's state continues it.
  if (stop == LbfgsStop::Cancelled && ck_ && ck_->final_state && iterations_ >= 1)
    *ck_->final_state = state(iterations_, true, report_evaluations_, report_same_loss_);
  LbfgsResult r;
  r.stop = stop;
  r.iterations = iterations_;
  r.evaluations = evaluations_;
  r.best_loss = best_loss_;
  r.message = std::move(message);
  if (has_best_) r.message += " (best loss " + fmt(best_loss_) + ")";
  r.resets = resets_;
  r.skipped_pairs = skipped_;
  return r;
}

LbfgsState Minimizer::state(int iteration, bool reported, int evaluations, int same_loss) const {
  LbfgsState st;
  st.precision = opt_.history_precision;
  st.history = opt_.history;
  st.iteration = iteration;
  st.reported = reported;
  st.evaluations = evaluations;
  st.resets = resets_;
  st.skipped_pairs = skipped_;
  st.same_loss = same_loss;
  st.loss_rises = rises_;
  st.x = x_;
  st.g = g_;
  st.loss = loss_;
  st.x_best = has_best_ ? x_best_ : x_;
  st.best_loss = best_loss_;
  st.has_best = has_best_;
  history_.export_to(st);
  return st;
}

void Minimizer::restore(const LbfgsState& st) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("lbfgs_minimize: resume state: " + what); };
  if (st.precision != opt_.history_precision) bad("history precision differs from the options'");
  if (st.history != opt_.history)
    bad("history " + std::to_string(st.history) + " differs from the options' " + std::to_string(opt_.history));
  if (st.iteration < 1 || st.evaluations < 1 || st.resets < 0 || st.skipped_pairs < 0 || st.same_loss < 0 ||
      st.loss_rises < 0 || st.loss_rises > kRiseLimit)
    bad("negative or zero counters");
  if (st.x.size() != n_ || st.g.size() != n_ || st.x_best.size() != n_) bad("vector sizes differ from x's");
  const bool half = st.precision == HistoryPrecision::Half;
  const size_t pairs = st.rho.size();
  if (pairs > static_cast<size_t>(st.history)) bad("more pairs than the history holds");
  if ((half ? st.half_s.size() : st.s.size()) != pairs || (half ? st.half_y.size() : st.y.size()) != pairs ||
      (half ? st.s.size() : st.half_s.size()) != 0 || (half ? st.y.size() : st.half_y.size()) != 0)
    bad("pair counts are inconsistent");
  for (size_t i = 0; i < pairs; ++i) {
    const bool sized = half ? st.half_s[i] && st.half_y[i] && st.half_s[i]->size() == n_ && st.half_y[i]->size() == n_
                            : st.s[i] && st.y[i] && st.s[i]->size() == n_ && st.y[i]->size() == n_;
    if (!sized) bad("pair " + std::to_string(i) + " has the wrong size");
    if (!(std::isfinite(st.rho[i]) && st.rho[i] > 0)) bad("pair " + std::to_string(i) + " has a bad rho");
  }
  if (!std::isfinite(st.loss) || !(std::isfinite(st.gamma) && st.gamma > 0)) bad("non-finite loss or gamma");
  x_ = st.x;
  g_ = st.g;
  loss_ = st.loss;
  x_best_ = st.x_best;
  best_loss_ = st.has_best ? st.best_loss : std::numeric_limits<double>::quiet_NaN();
  has_best_ = st.has_best;
  evaluations_ = st.evaluations;
  resets_ = st.resets;
  skipped_ = st.skipped_pairs;
  rises_ = st.loss_rises;
  iterations_ = st.iteration;
  history_.restore(st);
}

LbfgsResult Minimizer::run() {
  int first = 1, same_loss = 0;
  bool skip_report = false;
  Eval e = Eval::Ok;
  if (ck_ && ck_->resume) {  // continue a saved state (optim/lbfgs_state.h)
    restore(*ck_->resume);
    first = ck_->resume->iteration;
    skip_report = ck_->resume->reported;
    same_loss = ck_->resume->same_loss;
  } else {
    // Iteration 1's evaluation, at the initial point.
    e = evaluate(x_, g_, loss_);
    if (e == Eval::Cancelled) return finish(LbfgsStop::Cancelled, eval_failure(e));
    if (e == Eval::NonFinite) return finish(LbfgsStop::NonFinite, eval_failure(e));
  }

  for (int k = first;; ++k) {
    iterations_ = k;
    report_evaluations_ = evaluations_;
    report_same_loss_ = same_loss;
    if (!(skip_report && k == first) && on_iteration_ && !on_iteration_(LbfgsIteration{k, loss_, evaluations_}))
      return finish(LbfgsStop::Cancelled, "on_iteration returned false at iteration " +
                                              std::to_string(k));
    if (ck_ && ck_->save && ck_->due && ck_->due(k))
      ck_->save(state(k, true, report_evaluations_, report_same_loss_));
    if (opt_.tolerance_grad > 0 && max_abs(g_) <= opt_.tolerance_grad)
      return finish(LbfgsStop::ToleranceGrad, "max|g| = " + fmt(max_abs(g_)) +
                                                  " <= tolerance_grad at iteration " +
                                                  std::to_string(k));

    // Direction d = -H g; steepest descent when there is no curvature information. With
    // bounds, the active variables are left out of g and of d.
    d_ = -g_;
    if (bounded()) zero_active(d_);
    // The first step (and the first after a reset) is scaled by min(1, 1/‖g‖₁); later steps are
    // lr, also while every pair so far was skipped (as torch.optim.LBFGS: a skipped pair must not
    // shrink the steps, or a start in a nearly flat region never leaves it).
    bool scaled = k == 1 || rises_ >= kRiseLimit;  // after a reset for rising losses too
    if (history_.size() > 0) history_.apply(d_);
    if (bounded()) zero_active(d_);
    double gtd = dot(g_, d_);
    if (history_.size() > 0 && !(std::isfinite(gtd) && gtd < 0)) {
      history_.clear();
      ++resets_;
      d_ = -g_;
      if (bounded()) zero_active(d_);
      gtd = dot(g_, d_);
      scaled = true;
    }
    if (!(gtd < 0))  // d = -g and gᵀd = -‖g‖² = 0: the (projected) gradient is exactly zero
      return finish(LbfgsStop::NoProgress, std::string("the ") + (bounded() ? "projected " : "") +
                                               "gradient is exactly zero at iteration " + std::to_string(k));
    double t = opt_.learning_rate;
    if (scaled) t *= std::min(1.0, 1.0 / norm1(g_));

    // Step to x_{k+1} = x_k + t d; its point, gradient and loss end up in x_trial_, g_trial_,
    // loss_trial_, and t in t (the step the line search accepted, with one).
    if (!opt_.line_search) {
      x_trial_ = x_ + static_cast<float>(t) * d_;
      if (bounded()) x_trial_ = x_trial_.cwiseMax(opt_.lower).cwiseMin(opt_.upper);
      if (x_trial_ == x_)
        return finish(LbfgsStop::NoProgress,
                      "the step vanished at iteration " + std::to_string(k));
      e = evaluate(x_trial_, g_trial_, loss_trial_);
      if (e == Eval::Cancelled) return finish(LbfgsStop::Cancelled, eval_failure(e));
      if (e == Eval::NonFinite) return finish(LbfgsStop::NonFinite, eval_failure(e));
    } else {
      switch (line_search(t, gtd, t)) {
        case Search::Ok:
          break;
        case Search::Cancelled:
          return finish(LbfgsStop::Cancelled, eval_failure(Eval::Cancelled));
        case Search::NonFinite:
          return finish(LbfgsStop::NonFinite, eval_failure(Eval::NonFinite));
        case Search::Failed:
          return finish(LbfgsStop::LineSearchFailed,
                        "the strong Wolfe line search found no point of sufficient decrease at "
                        "iteration " + std::to_string(k));
      }
    }
    if (opt_.step_pair == StepPair::Direction) {
      if (opt_.line_search && x_trial_ == x_)  // t d may be nonzero while it moves no coordinate by an ulp
        return finish(LbfgsStop::NoProgress, "the step vanished at iteration " + std::to_string(k));
      s_ = static_cast<float>(t) * d_;
      if (bounded())  // a projected coordinate moved to its bound, not by t d
        for (Eigen::Index i = 0; i < n_; ++i)
          if (x_trial_[i] == opt_.lower[i] || x_trial_[i] == opt_.upper[i]) s_[i] = x_trial_[i] - x_[i];
    } else {
      s_ = x_trial_ - x_;
    }
    y_ = g_trial_ - g_;
    const double loss_old = loss_;
    x_.swap(x_trial_);
    g_.swap(g_trial_);
    loss_ = loss_trial_;

    const double step = max_abs(s_);
    if (bounded()) keep_free_pair();  // after the step is measured: it may be all on the bounds
    if (step == 0)
      return finish(LbfgsStop::NoProgress, "the step vanished at iteration " + std::to_string(k));
    if (opt_.tolerance_change > 0 && std::abs(loss_ - loss_old) < opt_.tolerance_change)
      return finish(LbfgsStop::ToleranceChange, "|loss change| = " + fmt(std::abs(loss_ - loss_old)) +
                                                    " < tolerance_change at iteration " +
                                                    std::to_string(k));
    if (opt_.tolerance_change > 0 && step < opt_.tolerance_change)
      return finish(LbfgsStop::ToleranceChange, "max|step| = " + fmt(step) +
                                                    " < tolerance_change at iteration " +
                                                    std::to_string(k));
    same_loss = loss_ == loss_old ? same_loss + 1 : 0;
    if (bounded()) {
      if (rises_ >= kRiseLimit) rises_ = 0;  // the restart step is taken
      rises_ = loss_ > loss_old ? rises_ + 1 : 0;
    }
    const bool rise_reset = rises_ >= kRiseLimit;
    if (rise_reset) {  // the pairs led the loss up twice in a row: start again from here
      history_.clear();
      ++resets_;
    }
    if (same_loss >= kSameLossLimit)
      return finish(LbfgsStop::NoProgress, "the loss stayed bit-identical for " +
                                               std::to_string(kSameLossLimit) +
                                               " iterations up to iteration " + std::to_string(k));
    if (k == opt_.max_iterations) {
      if (ck_ && ck_->final_state) {  // the state that continues this run past max_iterations
        const int skipped = skipped_;
        if (!rise_reset && !history_.offer(s_, y_)) ++skipped_;
        *ck_->final_state = state(k + 1, false, evaluations_, same_loss);
        skipped_ = skipped;
      }
      return finish(LbfgsStop::MaxIterations,
                    "reached max_iterations = " + std::to_string(opt_.max_iterations));
    }

    // Curvature pair; skipped unless sᵀy is safely positive (keeps H positive definite).
    if (!rise_reset && !history_.offer(s_, y_)) ++skipped_;
  }
}

// Evaluates x_k + t d into x_trial_ / g_trial_; gtd = g(t)ᵀd.
Minimizer::Search Minimizer::probe(double t, double& loss, double& gtd) {
  x_trial_ = x_ + static_cast<float>(t) * d_;
  const Eval e = evaluate(x_trial_, g_trial_, loss);
  if (e == Eval::Cancelled) return Search::Cancelled;
  if (e == Eval::NonFinite) return Search::NonFinite;
  gtd = dot(g_trial_, d_);
  return Search::Ok;
}

// Strong Wolfe line search along d_ from x_ (N&W Alg. 3.5 bracketing, Alg. 3.6 zoom, cubic
// interpolation). On Ok the accepted point is in x_trial_ / g_trial_ / loss_trial_. If the
// evaluations run out (or the bracket shrinks below float resolution) before the curvature
// condition holds, the lowest point of sufficient decrease is accepted; with none, Failed.
Minimizer::Search Minimizer::line_search(double t, double gtd0, double& t_accepted) {
  const double f0 = loss_;
  const double armijo_slope = kWolfeC1 * gtd0;
  const double curvature = -kWolfeC2 * gtd0;
  // A bracket narrower than this moves no coordinate of x by a float ulp.
  const double min_width =
      std::numeric_limits<float>::epsilon() * (1.0 + max_abs(x_)) / max_abs(d_);
  int used = 0;

  // lo: lowest point of sufficient decrease so far (t = 0 is x_ itself); its copy in x_lo_/g_lo_.
  double t_lo = 0, f_lo = f0, gd_lo = gtd0;
  double t_hi = 0, f_hi = 0, gd_hi = 0;
  bool bracketed = false;
  auto keep_lo = [&](double tt, double ff, double gg) {
    t_lo = tt;
    f_lo = ff;
    gd_lo = gg;
    x_lo_ = x_trial_;
    g_lo_ = g_trial_;
  };

  // Bracketing: grow t until it overshoots (no sufficient decrease, or higher than the last
  // point) or the slope turns non-negative.
  double t_prev = 0, f_prev = f0, gd_prev = gtd0;
  while (used < kMaxSearchEvaluations) {
    double ft = 0, gdt = 0;
    const Search r = probe(t, ft, gdt);
    if (r != Search::Ok) return r;
    ++used;
    if (ft > f0 + t * armijo_slope || (used > 1 && ft >= f_prev)) {
      t_hi = t;
      f_hi = ft;
      gd_hi = gdt;  // lo is t_prev, already kept
      bracketed = true;
      break;
    }
    if (std::abs(gdt) <= curvature) {
      loss_trial_ = ft;
      t_accepted = t;
      return Search::Ok;
    }
    keep_lo(t, ft, gdt);
    if (gdt >= 0) {
      t_hi = t_prev;
      f_hi = f_prev;
      gd_hi = gd_prev;
      bracketed = true;
      break;
    }
    const double next = cubic_minimizer(t_prev, f_prev, gd_prev, t, ft, gdt,
                                        t + 0.01 * (t - t_prev), 10.0 * t);
    t_prev = t;
    f_prev = ft;
    gd_prev = gdt;
    t = next;
  }

  // Zoom: shrink [lo, hi] keeping lo the lowest point of sufficient decrease.
  while (bracketed && used < kMaxSearchEvaluations) {
    const double a = std::min(t_lo, t_hi), b = std::max(t_lo, t_hi);
    const double width = b - a;
    if (width <= min_width) break;
    // Stay at least 10% of the bracket away from its ends so that it keeps shrinking.
    t = std::clamp(cubic_minimizer(t_lo, f_lo, gd_lo, t_hi, f_hi, gd_hi, a, b), a + 0.1 * width,
                   b - 0.1 * width);
    double ft = 0, gdt = 0;
    const Search r = probe(t, ft, gdt);
    if (r != Search::Ok) return r;
    ++used;
    if (ft > f0 + t * armijo_slope || ft >= f_lo) {
      t_hi = t;
      f_hi = ft;
      gd_hi = gdt;
    } else {
      if (std::abs(gdt) <= curvature) {
        loss_trial_ = ft;
        t_accepted = t;
        return Search::Ok;
      }
      if (gdt * (t_hi - t_lo) >= 0) {
        t_hi = t_lo;
        f_hi = f_lo;
        gd_hi = gd_lo;
      }
      keep_lo(t, ft, gdt);
    }
  }

  if (t_lo > 0) {  // sufficient decrease without the curvature condition: still progress
    x_trial_.swap(x_lo_);
    g_trial_.swap(g_lo_);
    loss_trial_ = f_lo;
    t_accepted = t_lo;
    return Search::Ok;
  }
  return Search::Failed;
}

}  // namespace

const char* to_string(LbfgsStop stop) {
  switch (stop) {
    case LbfgsStop::MaxIterations: return "max-iterations";
    case LbfgsStop::NonFinite: return "non-finite";
    case LbfgsStop::LineSearchFailed: return "line-search-failed";
    case LbfgsStop::NoProgress: return "no-progress";
    case LbfgsStop::ToleranceGrad: return "tolerance-grad";
    case LbfgsStop::ToleranceChange: return "tolerance-change";
    case LbfgsStop::Cancelled: return "cancelled";
  }
  return "unknown";
}

void LbfgsOptions::validate() const {
  auto fail = [](const char* name, const std::string& value, const char* rule) {
    throw std::invalid_argument(std::string("LbfgsOptions: ") + name + " = " + value + " (" +
                                rule + ")");
  };
  if (max_iterations < 1) fail("max_iterations", std::to_string(max_iterations), "must be >= 1");
  if (history < 1) fail("history", std::to_string(history), "must be >= 1");
  if (!std::isfinite(learning_rate) || learning_rate <= 0)
    fail("learning_rate", fmt(learning_rate), "must be finite and > 0");
  if (!std::isfinite(tolerance_grad) || tolerance_grad < 0)
    fail("tolerance_grad", fmt(tolerance_grad), "must be finite and >= 0");
  if (!std::isfinite(tolerance_change) || tolerance_change < 0)
    fail("tolerance_change", fmt(tolerance_change), "must be finite and >= 0");
  if (lower.size() != upper.size())
    fail("lower/upper", std::to_string(lower.size()) + "/" + std::to_string(upper.size()) + " values",
         "must have the same size");
  if (lower.size() > 0) {
    if (!lower.allFinite() || !upper.allFinite()) fail("lower/upper", "non-finite", "must be finite");
    if ((lower.array() > upper.array()).any()) fail("lower/upper", "lower > upper", "must have lower <= upper");
    if (line_search) fail("line_search", "true", "is not supported with bounds");
  }
}

LbfgsResult lbfgs_minimize(const Objective& f, Eigen::VectorXf& x, const LbfgsOptions& opt,
                           const std::function<bool(const LbfgsIteration&)>& on_iteration) {
  return lbfgs_minimize(f, x, opt, on_iteration, LbfgsCheckpointing{});
}

LbfgsResult lbfgs_minimize(const Objective& f, Eigen::VectorXf& x, const LbfgsOptions& opt,
                           const std::function<bool(const LbfgsIteration&)>& on_iteration,
                           const LbfgsCheckpointing& checkpointing) {
  opt.validate();
  if (!f) throw std::invalid_argument("lbfgs_minimize: the objective is empty");
  if (x.size() == 0) throw std::invalid_argument("lbfgs_minimize: x is empty");
  if (checkpointing.final_state) *checkpointing.final_state = LbfgsState{};
  if (opt.lower.size() > 0 && opt.lower.size() != x.size())
    throw std::invalid_argument("lbfgs_minimize: bounds for " + std::to_string(opt.lower.size()) + " variables, x has " +
                                std::to_string(x.size()));
  Minimizer m(f, opt.lower.size() > 0 ? Vec(x.cwiseMax(opt.lower).cwiseMin(opt.upper)) : x, opt, on_iteration);
  m.set_checkpointing(&checkpointing);
  LbfgsResult r = m.run();
  if (m.has_best()) x = m.best_x();
  return r;
}

}  // namespace nst
