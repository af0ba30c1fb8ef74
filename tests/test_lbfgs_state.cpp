// L-BFGS state save and resume (optim/lbfgs_state.h): a minimization stopped at any iteration
// boundary (iteration count reached, cancelled, on_iteration returning false) and continued from
// its state gives bit-identical points, losses and counters to one that never stopped; so does
// one continued from a state saved on the way. Float and half history, fixed step and line search.
#include "nst/optim/lbfgs_state.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

using namespace nst;
using Vec = Eigen::VectorXf;

namespace {

// A separable non-quadratic bowl in n variables: f = Σ w_i (x_i - 1)² + 0.1 Σ (x_i - 1)⁴.
struct Bowl {
  Vec w;
  explicit Bowl(int n) : w(Vec::LinSpaced(n, 1.0f, 50.0f)) {}
  double operator()(const Vec& x, Vec& g) const {
    double f = 0;
    for (int i = 0; i < x.size(); ++i) {
      const double r = static_cast<double>(x[i]) - 1.0;
      f += w[i] * r * r + 0.1 * r * r * r * r;
      g[i] = static_cast<float>(2.0 * w[i] * r + 0.4 * r * r * r);
    }
    return f;
  }
};

struct Trace {
  std::vector<double> losses;      // one per on_iteration call
  std::vector<int> evaluations;    // evaluations at each call
  Vec x;
  LbfgsResult result;
};

Vec start(int n) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  Vec x(n);
  for (int i = 0; i < n; ++i) x[i] = normal(rng);
  return x;
}

LbfgsOptions options(int iterations, HistoryPrecision precision, bool line_search) {
  LbfgsOptions o;
  o.max_iterations = iterations;
  o.history = 4;  // small: the ring wraps within the run
  o.history_precision = precision;
  o.line_search = line_search;
  o.learning_rate = line_search ? 1.0 : 0.5;
  return o;
}

// Runs from `x` (or `resume`), appending to `t`; `stop_at` > 0 makes on_iteration return false
// there; `final` receives the final state.
void run(Trace& t, const LbfgsOptions& o, const LbfgsState* resume, LbfgsState* final, int stop_at = 0,
         int save_every = 0, std::vector<LbfgsState>* saved = nullptr) {
  const Bowl f(300);
  if (t.x.size() == 0) t.x = start(300);
  LbfgsCheckpointing ck;
  ck.resume = resume;
  ck.final_state = final;
  if (save_every > 0) {
    ck.due = [&](int k) { return k % save_every == 0; };
    ck.save = [&](const LbfgsState& st) { saved->push_back(st); };
  }
  t.result = lbfgs_minimize(f, t.x, o, [&](const LbfgsIteration& it) {
    t.losses.push_back(it.loss);
    t.evaluations.push_back(it.evaluations);
    return it.iteration != stop_at;
  }, ck);
}

bool same(const Vec& a, const Vec& b) { return a.size() == b.size() && (a.array() == b.array()).all(); }

void check_same(const Trace& whole, const Trace& parts) {
  CHECK(whole.losses == parts.losses);  // exact: bit-identical doubles
  CHECK(whole.evaluations == parts.evaluations);
  CHECK(same(whole.x, parts.x));
  CHECK(whole.result.stop == parts.result.stop);
  CHECK(whole.result.iterations == parts.result.iterations);
  CHECK(whole.result.evaluations == parts.result.evaluations);
  CHECK(whole.result.best_loss == parts.result.best_loss);
  CHECK(whole.result.resets == parts.result.resets);
  CHECK(whole.result.skipped_pairs == parts.result.skipped_pairs);
}

}  // namespace

TEST_CASE("stopped at any boundary and resumed: bit-identical to the uninterrupted run") {
  for (const HistoryPrecision precision : {HistoryPrecision::Float, HistoryPrecision::Half})
    for (const bool line_search : {false, true}) {
      CAPTURE(static_cast<int>(precision));
      CAPTURE(line_search);
      Trace whole;
      run(whole, options(25, precision, line_search), nullptr, nullptr);
      REQUIRE(whole.result.stop == LbfgsStop::MaxIterations);
      REQUIRE(whole.losses.size() == 25);
      CHECK(whole.losses.back() < whole.losses.front() / 100);

      {  // a run of 9 continued to 25 (the state at the end of the iteration count)
        Trace parts;
        LbfgsState st;
        run(parts, options(9, precision, line_search), nullptr, &st);
        CHECK(st.iteration == 10);
        CHECK_FALSE(st.reported);
        CHECK(st.pairs() == 4);
        Trace rest = parts;
        rest.x = Vec::Zero(300);  // the state carries the point
        run(rest, options(25, precision, line_search), &st, nullptr);
        check_same(whole, rest);
      }
      {  // on_iteration returning false at 7, then continued
        Trace parts;
        LbfgsState st;
        run(parts, options(25, precision, line_search), nullptr, &st, 7);
        CHECK(parts.result.stop == LbfgsStop::Cancelled);
        CHECK(st.iteration == 7);
        CHECK(st.reported);
        run(parts, options(25, precision, line_search), &st, nullptr);
        check_same(whole, parts);
      }
      {  // states saved every 5 iterations: each one continues to the same end
        Trace first;
        std::vector<LbfgsState> saved;
        run(first, options(25, precision, line_search), nullptr, nullptr, 0, 5, &saved);
        check_same(whole, first);  // saving changes nothing
        REQUIRE(saved.size() == 5);
        for (const LbfgsState& st : saved) {
          CAPTURE(st.iteration);
          Trace parts;
          parts.losses.assign(whole.losses.begin(), whole.losses.begin() + st.iteration);
          parts.evaluations.assign(whole.evaluations.begin(), whole.evaluations.begin() + st.iteration);
          parts.x = Vec::Zero(300);
          run(parts, options(25, precision, line_search), &st, nullptr);
          check_same(whole, parts);
        }
      }
    }
}

TEST_CASE("cancelled before an evaluation: the state of the last report continues the run") {
  Trace whole;
  run(whole, options(20, HistoryPrecision::Half, false), nullptr, nullptr);
  const Bowl f(300);
  int calls = 0;
  LbfgsOptions o = options(20, HistoryPrecision::Half, false);
  o.cancelled = [&] { return ++calls > 8; };  // the 9th evaluation is refused
  Trace parts;
  parts.x = start(300);
  LbfgsState st;
  LbfgsCheckpointing ck;
  ck.final_state = &st;
  parts.result = lbfgs_minimize(f, parts.x, o, [&](const LbfgsIteration& it) {
    parts.losses.push_back(it.loss);
    parts.evaluations.push_back(it.evaluations);
    return true;
  }, ck);
  CHECK(parts.result.stop == LbfgsStop::Cancelled);
  CHECK(st.iteration == 8);
  CHECK(st.reported);
  CHECK(st.evaluations == 8);
  run(parts, options(20, HistoryPrecision::Half, false), &st, nullptr);
  check_same(whole, parts);
}

TEST_CASE("a state that does not fit the options or x is refused") {
  LbfgsState st;
  Trace t;
  run(t, options(6, HistoryPrecision::Half, false), nullptr, &st);
  Trace again;
  again.x = Vec::Zero(300);
  CHECK_THROWS_AS(run(again, options(10, HistoryPrecision::Float, false), &st, nullptr), std::invalid_argument);
  LbfgsOptions o = options(10, HistoryPrecision::Half, false);
  o.history = 5;
  CHECK_THROWS_AS(run(again, o, &st, nullptr), std::invalid_argument);
  LbfgsState bad = st;
  bad.rho.push_back(1.0);
  CHECK_THROWS_AS(run(again, options(10, HistoryPrecision::Half, false), &bad, nullptr), std::invalid_argument);
  bad = st;
  bad.g = Vec::Zero(299);
  CHECK_THROWS_AS(run(again, options(10, HistoryPrecision::Half, false), &bad, nullptr), std::invalid_argument);
}
