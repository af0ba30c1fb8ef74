// Adam state save and resume (optim/adam_state.h): a minimization stopped at any iteration
// boundary (iteration count reached, cancelled, on_iteration returning false) and continued from
// its state gives bit-identical points, losses and counters to one that never stopped; so does
// one continued from a state saved on the way.
#include "nst/optim/adam_state.h"

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

using namespace nst;
using Vec = Eigen::VectorXf;

namespace {

// A separable non-quadratic bowl in n variables: f = Σ w_i (x_i - 1)² + 0.1 Σ (x_i - 1)⁴.
double bowl(const Vec& x, Vec& g) {
  double f = 0;
  for (int i = 0; i < x.size(); ++i) {
    const double w = 1.0 + i, r = static_cast<double>(x[i]) - 1.0;
    f += w * r * r + 0.1 * r * r * r * r;
    g[i] = static_cast<float>(2.0 * w * r + 0.4 * r * r * r);
  }
  return f;
}

constexpr int kN = 37;

AdamOptions options(int iterations) {
  AdamOptions o;
  o.max_iterations = iterations;
  o.learning_rate = 0.3;
  o.scale = Vec::LinSpaced(kN, 0.5f, 2.0f);  // per-variable units, as stylize() passes them
  return o;
}

struct Trace {
  std::vector<double> losses;  // of iteration 1, 2, ... (index iteration - 1)
  Vec x;
  LbfgsResult result;
};

// Runs `iterations` from x0 or from `resume`; `stop_at` > 0: on_iteration returns false there.
Trace run(int iterations, const AdamCheckpointing& ck, int stop_at = 0, std::vector<double> losses = {}) {
  Trace t;
  t.losses = std::move(losses);
  t.x = Vec::LinSpaced(kN, -2.0f, 3.0f);
  t.result = adam_minimize(bowl, t.x, options(iterations), [&](const LbfgsIteration& it) {
    t.losses.resize(static_cast<size_t>(it.iteration));
    t.losses[static_cast<size_t>(it.iteration - 1)] = it.loss;
    return it.iteration != stop_at;
  }, ck);
  return t;
}

bool same(const Vec& a, const Vec& b) { return a.size() == b.size() && (a.array() == b.array()).all(); }

void check_same_run(const Trace& a, const Trace& b) {
  CHECK(a.losses == b.losses);
  CHECK(same(a.x, b.x));
  CHECK(a.result.iterations == b.result.iterations);
  CHECK(a.result.evaluations == b.result.evaluations);
  CHECK(a.result.best_loss == b.result.best_loss);
  CHECK(a.result.stop == b.result.stop);
}

}  // namespace

TEST_CASE("Adam stopped at any boundary and resumed: bit-identical to the uninterrupted run") {
  constexpr int kIterations = 12;
  std::vector<AdamState> saved;
  AdamCheckpointing ck;
  ck.due = [](int) { return true; };
  ck.save = [&](const AdamState& st) { saved.push_back(st); };
  AdamState end;
  ck.final_state = &end;
  const Trace full = run(kIterations, ck);
  REQUIRE(full.result.stop == LbfgsStop::MaxIterations);
  REQUIRE(full.result.evaluations == kIterations + 1);
  REQUIRE(saved.size() == kIterations);
  CHECK(end.iteration == kIterations);
  CHECK(full.losses.back() > full.result.best_loss);  // the final evaluation found a better point
  // Without the hooks: the same run (saving changes nothing).
  check_same_run(run(kIterations, {}), full);

  // From every saved state, and from the end state (a run of 12 continued to 12 or to 15).
  saved.push_back(end);
  for (const AdamState& st : saved) {
    CAPTURE(st.iteration);
    CHECK(st.m.size() == kN);
    CHECK(st.v.minCoeff() >= 0);
    AdamCheckpointing resume;
    resume.resume = &st;
    const Trace r = run(kIterations, resume, 0, {full.losses.begin(), full.losses.begin() + st.iteration});
    check_same_run(r, full);
  }
  const Trace longer = run(15, {});
  for (int stop : {3, 12}) {  // a run of `stop` iterations, continued to 15
    CAPTURE(stop);
    AdamCheckpointing first;
    AdamState st;
    first.final_state = &st;
    const Trace part = run(stop, first);
    REQUIRE(st.iteration == stop);
    AdamCheckpointing resume;
    resume.resume = &st;
    check_same_run(run(15, resume, 0, part.losses), longer);
  }
}

TEST_CASE("Adam stopped by on_iteration or cancelled: the final state continues the run") {
  const Trace full = run(10, {});
  {  // on_iteration returns false at 4: the update is made, the state is at 4
    AdamState st;
    AdamCheckpointing ck;
    ck.final_state = &st;
    const Trace part = run(10, ck, 4);
    CHECK(part.result.stop == LbfgsStop::Cancelled);
    CHECK(part.result.iterations == 4);
    REQUIRE(st.iteration == 4);
    AdamCheckpointing resume;
    resume.resume = &st;
    check_same_run(run(10, resume, 0, part.losses), full);
  }
  {  // cancelled before evaluation 7
    int evaluations = 0;
    AdamOptions o = options(10);
    o.cancelled = [&] { return evaluations == 6; };
    AdamState st;
    AdamCheckpointing ck;
    ck.final_state = &st;
    Vec x = Vec::LinSpaced(kN, -2.0f, 3.0f);
    std::vector<double> losses;
    const LbfgsResult r = adam_minimize(bowl, x, o, [&](const LbfgsIteration& it) {
      evaluations = it.evaluations;
      losses.push_back(it.loss);
      return true;
    }, ck);
    CHECK(r.stop == LbfgsStop::Cancelled);
    REQUIRE(st.iteration == 6);
    AdamCheckpointing resume;
    resume.resume = &st;
    check_same_run(run(10, resume, 0, losses), full);
  }
  {  // a non-finite loss leaves no state
    AdamState st;
    AdamCheckpointing ck;
    ck.final_state = &st;
    Vec x = Vec::Zero(kN);
    int calls = 0;
    adam_minimize([&](const Vec& v, Vec& g) { return ++calls == 3 ? std::nan("") : bowl(v, g); }, x, options(10), {}, ck);
    CHECK(st.iteration == 0);
  }
}

TEST_CASE("an Adam state that does not fit the options or x is refused") {
  AdamState st;
  AdamCheckpointing ck;
  ck.final_state = &st;
  run(5, ck);
  REQUIRE(st.iteration == 5);
  AdamCheckpointing resume;
  resume.resume = &st;
  Vec x = Vec::Zero(kN);
  CHECK_THROWS_WITH_AS(adam_minimize(bowl, x, options(4), {}, resume), doctest::Contains("past max_iterations"),
                       std::invalid_argument);
  Vec longer = Vec::Zero(kN + 1);
  AdamOptions o = options(10);
  o.scale = Vec();
  CHECK_THROWS_WITH_AS(adam_minimize(bowl, longer, o, {}, resume), doctest::Contains("sizes"), std::invalid_argument);
  AdamState bad = st;
  bad.v[3] = -1.0f;
  resume.resume = &bad;
  CHECK_THROWS_WITH_AS(adam_minimize(bowl, x, options(10), {}, resume), doctest::Contains("negative"),
                       std::invalid_argument);
  bad = st;
  bad.iteration = 0;
  CHECK_THROWS_AS(adam_minimize(bowl, x, options(10), {}, resume), std::invalid_argument);
}
