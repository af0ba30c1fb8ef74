// L-BFGS: convergence on Rosenbrock and an ill-conditioned quadratic, the iteration/evaluation
// contract, the NaN/Inf and cancellation safeguards, option validation, the first-step scaling,
// skipped curvature pairs, the history size and determinism.
#include "nst/optim/lbfgs.h"
#include "nst/half.h"

#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <omp.h>

#include <cmath>
#include <limits>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <random>
#include <stdexcept>
#include <vector>

using nst::LbfgsIteration;
using nst::LbfgsOptions;
using nst::LbfgsResult;
using nst::LbfgsStop;
using nst::lbfgs_minimize;
using Vec = Eigen::VectorXf;

namespace {

// f(a, b) = (1 - a)² + 100 (b - a²)², minimum 0 at (1, 1); computed in double.
double rosenbrock(const Vec& x, Vec& g) {
  const double a = x[0], b = x[1];
  g[0] = static_cast<float>(-2.0 * (1.0 - a) - 400.0 * a * (b - a * a));
  g[1] = static_cast<float>(200.0 * (b - a * a));
  return (1.0 - a) * (1.0 - a) + 100.0 * (b - a * a) * (b - a * a);
}

Vec rosenbrock_start() {
  Vec x(2);
  x << -1.2f, 1.0f;
  return x;
}

// f(x) = ½ (x - c)ᵀ A (x - c), A = Q diag(λ) Qᵀ with λ log-spaced over [1, 1e4] and Q a random
// orthogonal matrix (QR of a Gaussian matrix, fixed seed). Everything in double.
struct Quadratic {
  Eigen::MatrixXd a;
  Eigen::VectorXd c;

  explicit Quadratic(int n, unsigned seed = 7, double decades = 4) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    Eigen::MatrixXd m(n, n);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) m(i, j) = normal(rng);
    const Eigen::MatrixXd q = Eigen::HouseholderQR<Eigen::MatrixXd>(m).householderQ();
    Eigen::VectorXd lambda(n);
    for (int i = 0; i < n; ++i) lambda[i] = std::pow(10.0, decades * i / (n - 1));
    a = q * lambda.asDiagonal() * q.transpose();
    c.resize(n);
    for (int i = 0; i < n; ++i) c[i] = normal(rng);
  }

  double operator()(const Vec& x, Vec& g) const {
    const Eigen::VectorXd r = x.cast<double>() - c;
    const Eigen::VectorXd ar = a * r;
    g = ar.cast<float>();
    return 0.5 * r.dot(ar);
  }
};

// Records every evaluated point and its loss.
struct Recorder {
  std::vector<Vec> points;
  std::vector<double> losses;
  void add(const Vec& x, double loss) {
    points.push_back(x);
    losses.push_back(loss);
  }
  // The point with the lowest finite loss (first among ties).
  size_t best() const {
    size_t b = 0;
    for (size_t i = 1; i < losses.size(); ++i)
      if (std::isfinite(losses[i]) && losses[i] < losses[b]) b = i;
    return b;
  }
};

bool bit_identical(const Vec& a, const Vec& b) {
  return a.size() == b.size() && (a.array() == b.array()).all();
}

}  // namespace

TEST_CASE("Rosenbrock from (-1.2, 1) with the strong Wolfe line search reaches (1, 1)") {
  Vec x = rosenbrock_start();
  LbfgsOptions opt;
  opt.max_iterations = 200;
  opt.line_search = true;
  opt.tolerance_grad = 1e-6;
  const LbfgsResult r = lbfgs_minimize(rosenbrock, x, opt);
  MESSAGE("line search: " << std::string(nst::to_string(r.stop)) << ", " << r.iterations << " iterations, "
                          << r.evaluations << " evaluations, loss " << r.best_loss << ", x = ("
                          << x[0] << ", " << x[1] << "): " << r.message);
  CHECK(std::abs(x[0] - 1.0f) < 1e-3f);
  CHECK(std::abs(x[1] - 1.0f) < 1e-3f);
  CHECK(r.best_loss < 1e-6);
  CHECK(r.iterations < 100);
  CHECK(r.evaluations > r.iterations);  // the line search evaluates more than once sometimes
  Vec g(2);
  CHECK(rosenbrock(x, g) == r.best_loss);
}

TEST_CASE("Rosenbrock from (-1.2, 1) with the fixed step (lr = 1)") {
  Vec x = rosenbrock_start();
  Vec g(2);
  const double f0 = rosenbrock(x, g);
  LbfgsOptions opt;
  opt.max_iterations = 500;
  const LbfgsResult r = lbfgs_minimize(rosenbrock, x, opt);
  MESSAGE("fixed step: " << std::string(nst::to_string(r.stop)) << ", " << r.iterations << " iterations, "
                         << r.evaluations << " evaluations, loss " << r.best_loss << ", x = ("
                         << x[0] << ", " << x[1] << "): " << r.message);
  // Observed: no line search needed here; it lands exactly on (1, 1) in under 100 iterations,
  // where the float32 gradient is exactly zero, and stops there.
  CHECK(r.best_loss < 1e-6 * f0);
  CHECK(std::abs(x[0] - 1.0f) < 1e-3f);
  CHECK(std::abs(x[1] - 1.0f) < 1e-3f);
  CHECK(r.iterations < 150);
  CHECK(r.stop == LbfgsStop::NoProgress);
  CHECK(r.evaluations == r.iterations);  // stopped before stepping: no final evaluation needed
}

TEST_CASE("100-D quadratic with eigenvalues 1..1e4 in a rotated basis") {
  const Quadratic q(100);
  for (const bool search : {false, true}) {
    CAPTURE(search);
    Vec x = Vec::Zero(100);
    Vec g(100);
    const double f0 = q(x, g);
    LbfgsOptions opt;
    opt.max_iterations = 300;
    opt.line_search = search;
    opt.history = 10;
    int reached = 0;  // first iteration whose loss is below 1e-6 f0
    const LbfgsResult r = lbfgs_minimize(
        [&](const Vec& xx, Vec& gg) { return q(xx, gg); }, x, opt,
        [&](const LbfgsIteration& it) {
          if (reached == 0 && it.loss < 1e-6 * f0) reached = it.iteration;
          return true;
        });
    MESSAGE("quadratic, line_search " << search << ": " << std::string(nst::to_string(r.stop)) << " after "
                                      << r.iterations << " iterations, " << r.evaluations
                                      << " evaluations, f/f0 = " << r.best_loss / f0
                                      << ", below 1e-6 f0 at iteration " << reached);
    CHECK(r.best_loss < 1e-6 * f0);
    CHECK(q(x, g) == r.best_loss);
  }
}

TEST_CASE("exactly max_iterations iterations; the callback sees 1..N; N + 1 evaluations") {
  const Quadratic q(20);
  Recorder rec;
  auto f = [&](const Vec& x, Vec& g) {
    const double loss = q(x, g);
    rec.add(x, loss);
    return loss;
  };
  Vec x = Vec::Constant(20, 0.5f);
  const Vec x0 = x;
  Vec g(20);
  const double f_x0 = q(x0, g);
  std::vector<LbfgsIteration> seen;
  LbfgsOptions opt;
  opt.max_iterations = 7;
  const LbfgsResult r = lbfgs_minimize(f, x, opt, [&](const LbfgsIteration& it) {
    seen.push_back(it);
    return true;
  });
  CHECK(r.stop == LbfgsStop::MaxIterations);
  CHECK(r.iterations == 7);
  CHECK(r.evaluations == 8);
  CHECK(rec.losses.size() == 8);
  REQUIRE(seen.size() == 7);
  for (size_t k = 0; k < seen.size(); ++k) {
    CHECK(seen[k].iteration == static_cast<int>(k) + 1);
    CHECK(seen[k].evaluations == static_cast<int>(k) + 1);
    CHECK(seen[k].loss == rec.losses[k]);  // the loss at x_k, before the update
  }
  CHECK(seen[0].loss == f_x0);
  CHECK(bit_identical(rec.points[0], x0));
  // The returned point is the best of all evaluated ones, the final one included.
  CHECK(bit_identical(x, rec.points[rec.best()]));
  CHECK(r.best_loss == rec.losses[rec.best()]);

  SUBCASE("max_iterations = 1 evaluates the start and the one step") {
    rec = Recorder{};
    Vec x1 = x0;
    opt.max_iterations = 1;
    const LbfgsResult r1 = lbfgs_minimize(f, x1, opt);
    CHECK(r1.iterations == 1);
    CHECK(r1.evaluations == 2);
  }
}

TEST_CASE("a NaN loss at the 5th evaluation stops with NonFinite and returns the best point") {
  for (const bool search : {false, true}) {
    CAPTURE(search);
    Recorder rec;
    auto f = [&](const Vec& x, Vec& g) {
      double loss = rosenbrock(x, g);
      if (rec.losses.size() == 4) loss = std::numeric_limits<double>::quiet_NaN();
      rec.add(x, loss);
      return loss;
    };
    Vec x = rosenbrock_start();
    LbfgsOptions opt;
    opt.max_iterations = 100;
    opt.line_search = search;
    const LbfgsResult r = lbfgs_minimize(f, x, opt);
    CHECK(r.stop == LbfgsStop::NonFinite);
    CHECK(r.evaluations == 5);
    CHECK(r.message.find("non-finite") != std::string::npos);
    REQUIRE(rec.losses.size() == 5);
    const size_t b = rec.best();
    CHECK(b < 4);
    CHECK(bit_identical(x, rec.points[b]));
    CHECK(r.best_loss == rec.losses[b]);
    CHECK(x.allFinite());
  }
}

TEST_CASE("fixed step on Rosenbrock goes uphill; an Inf gradient then returns the best point, not the last") {
  Recorder rec;
  auto f = [&](const Vec& x, Vec& g) {
    const double loss = rosenbrock(x, g);
    rec.add(x, loss);
    return loss;
  };
  // Find an evaluation whose loss is higher than an earlier one, then poison the next one.
  Vec x = rosenbrock_start();
  LbfgsOptions opt;
  opt.max_iterations = 60;
  lbfgs_minimize(f, x, opt);
  size_t poison = 0;
  for (size_t i = 1; i < rec.losses.size() && poison == 0; ++i)
    if (rec.losses[i] > rec.losses[i - 1]) poison = i + 1;
  REQUIRE(poison > 0);

  Recorder rec2;
  auto g_inf = [&](const Vec& xx, Vec& gg) {
    const double loss = rosenbrock(xx, gg);
    if (rec2.losses.size() == poison) gg[1] = std::numeric_limits<float>::infinity();
    rec2.add(xx, loss);
    return loss;
  };
  x = rosenbrock_start();
  const LbfgsResult r = lbfgs_minimize(g_inf, x, opt);
  CHECK(r.stop == LbfgsStop::NonFinite);
  CHECK(r.evaluations == static_cast<int>(poison) + 1);
  // The poisoned point's loss is finite but its gradient is not: only the points before count.
  Recorder finite;
  for (size_t i = 0; i < poison; ++i) finite.add(rec2.points[i], rec2.losses[i]);
  const size_t b = finite.best();
  CHECK(b < poison - 1);  // the best point is not the last finite one
  CHECK(bit_identical(x, finite.points[b]));
  CHECK(r.best_loss == finite.losses[b]);
}

TEST_CASE("an Inf gradient at the 5th evaluation stops with NonFinite and returns the best point") {
  Recorder rec;
  const Quadratic q(10);
  auto f = [&](const Vec& x, Vec& g) {
    const double loss = q(x, g);
    if (rec.losses.size() == 4) g[3] = std::numeric_limits<float>::infinity();
    rec.add(x, loss);
    return loss;
  };
  Vec x = Vec::Zero(10);
  LbfgsOptions opt;
  opt.max_iterations = 100;
  const LbfgsResult r = lbfgs_minimize(f, x, opt);
  CHECK(r.stop == LbfgsStop::NonFinite);
  CHECK(r.iterations == 4);
  CHECK(r.evaluations == 5);
  // The 5th point's loss was finite (and lowest) but its gradient was not: it must not win.
  Recorder first4;
  for (size_t i = 0; i < 4; ++i) first4.add(rec.points[i], rec.losses[i]);
  CHECK(bit_identical(x, first4.points[first4.best()]));
  CHECK(r.best_loss == first4.losses[first4.best()]);
}

TEST_CASE("a non-finite loss at the very first evaluation leaves x unchanged") {
  Vec x = rosenbrock_start();
  const Vec x0 = x;
  const LbfgsResult r = lbfgs_minimize(
      [](const Vec&, Vec&) { return std::numeric_limits<double>::infinity(); }, x, LbfgsOptions{});
  CHECK(r.stop == LbfgsStop::NonFinite);
  CHECK(r.iterations == 0);
  CHECK(r.evaluations == 1);
  CHECK(std::isnan(r.best_loss));
  CHECK(bit_identical(x, x0));
}

TEST_CASE("cancellation") {
  Recorder rec;
  auto f = [&](const Vec& x, Vec& g) {
    const double loss = rosenbrock(x, g);
    rec.add(x, loss);
    return loss;
  };
  LbfgsOptions opt;
  opt.max_iterations = 100;

  SUBCASE("cancelled() is checked before every evaluation") {
    int calls = 0;
    opt.cancelled = [&] { return ++calls > 3; };
    Vec x = rosenbrock_start();
    const LbfgsResult r = lbfgs_minimize(f, x, opt);
    CHECK(r.stop == LbfgsStop::Cancelled);
    CHECK(r.evaluations == 3);
    CHECK(calls == 4);
    CHECK(bit_identical(x, rec.points[rec.best()]));
  }
  SUBCASE("cancelled before the first evaluation") {
    opt.cancelled = [] { return true; };
    Vec x = rosenbrock_start();
    const LbfgsResult r = lbfgs_minimize(f, x, opt);
    CHECK(r.stop == LbfgsStop::Cancelled);
    CHECK(r.evaluations == 0);
    CHECK(r.iterations == 0);
    CHECK(bit_identical(x, rosenbrock_start()));
  }
  SUBCASE("on_iteration returning false") {
    Vec x = rosenbrock_start();
    const LbfgsResult r =
        lbfgs_minimize(f, x, opt, [](const LbfgsIteration& it) { return it.iteration < 4; });
    CHECK(r.stop == LbfgsStop::Cancelled);
    CHECK(r.iterations == 4);
    CHECK(r.evaluations == 4);
    CHECK(bit_identical(x, rec.points[rec.best()]));
  }
}

TEST_CASE("option validation names the parameter and its value") {
  CHECK_NOTHROW(LbfgsOptions{}.validate());
  auto bad = [](auto set) {
    LbfgsOptions o;
    set(o);
    return o;
  };
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(bad([](LbfgsOptions& o) { o.max_iterations = 0; }).validate(),
                       doctest::Contains("max_iterations = 0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(bad([](LbfgsOptions& o) { o.history = -3; }).validate(),
                       doctest::Contains("history = -3"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(bad([](LbfgsOptions& o) { o.learning_rate = 0; }).validate(),
                       doctest::Contains("learning_rate = 0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(bad([](LbfgsOptions& o) { o.learning_rate = -0.5; }).validate(),
                       doctest::Contains("learning_rate = -0.5"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(bad([&](LbfgsOptions& o) { o.learning_rate = nan; }).validate(),
                       doctest::Contains("learning_rate = nan"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(bad([&](LbfgsOptions& o) { o.learning_rate = inf; }).validate(),
                       doctest::Contains("learning_rate = inf"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(bad([](LbfgsOptions& o) { o.tolerance_grad = -1e-5; }).validate(),
                       doctest::Contains("tolerance_grad = -1e-05"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(bad([&](LbfgsOptions& o) { o.tolerance_grad = inf; }).validate(),
                       doctest::Contains("tolerance_grad = inf"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(bad([](LbfgsOptions& o) { o.tolerance_change = -1; }).validate(),
                       doctest::Contains("tolerance_change = -1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(bad([&](LbfgsOptions& o) { o.tolerance_change = nan; }).validate(),
                       doctest::Contains("tolerance_change = nan"), std::invalid_argument);

  // lbfgs_minimize validates before evaluating anything.
  int calls = 0;
  Vec x = rosenbrock_start();
  LbfgsOptions o;
  o.history = 0;
  CHECK_THROWS_AS(lbfgs_minimize(
                      [&](const Vec& xx, Vec& g) {
                        ++calls;
                        return rosenbrock(xx, g);
                      },
                      x, o),
                  std::invalid_argument);
  CHECK(calls == 0);
  Vec empty;
  CHECK_THROWS_AS(lbfgs_minimize(rosenbrock, empty, LbfgsOptions{}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(lbfgs_minimize([](const Vec&, Vec& g) { g.resize(1); return 0.0; }, x,
                                      LbfgsOptions{}),
                       doctest::Contains("resized the gradient"), std::invalid_argument);
}

TEST_CASE("the first step is min(1, 1/|g|_1) * lr along -g") {
  // f = ½ Σ w_i x_i², g = w ⊙ x.
  const Eigen::VectorXf w = (Vec(3) << 1.0f, 2.0f, 4.0f).finished();
  Recorder rec;
  auto f = [&](const Vec& x, Vec& g) {
    g = w.cwiseProduct(x);
    const double loss = 0.5 * x.cast<double>().dot(g.cast<double>());
    rec.add(x, loss);
    return loss;
  };
  LbfgsOptions opt;
  opt.max_iterations = 1;

  SUBCASE("large gradient: t = lr / |g|_1") {
    Vec x0(3);
    x0 << 100.0f, -200.0f, 300.0f;  // g = (100, -400, 1200), |g|_1 = 1700
    for (const double lr : {1.0, 0.25}) {
      CAPTURE(lr);
      rec = Recorder{};
      opt.learning_rate = lr;
      Vec x = x0;
      lbfgs_minimize(f, x, opt);
      REQUIRE(rec.points.size() == 2);
      const Vec g0 = w.cwiseProduct(x0);
      const Vec expected = x0 - static_cast<float>(lr / 1700.0) * g0;
      CHECK((rec.points[1] - expected).cwiseAbs().maxCoeff() < 1e-4f);
      // Not the unscaled step, which would go to x0 - lr g.
      CHECK((rec.points[1] - (x0 - static_cast<float>(lr) * g0)).norm() > 100.0f);
    }
  }
  SUBCASE("small gradient: t = lr") {
    Vec x0(3);
    x0 << 0.1f, -0.05f, 0.02f;  // g = (0.1, -0.1, 0.08), |g|_1 = 0.28
    rec = Recorder{};
    opt.learning_rate = 0.5;
    Vec x = x0;
    lbfgs_minimize(f, x, opt);
    REQUIRE(rec.points.size() == 2);
    const Vec expected = x0 - 0.5f * w.cwiseProduct(x0);
    CHECK((rec.points[1] - expected).cwiseAbs().maxCoeff() < 1e-7f);
  }
}

TEST_CASE("pairs with s'y <= 1e-10 are skipped") {
  SUBCASE("linear function: y = 0 every time, no NaN, steepest descent; only step 1 is scaled") {
    const Vec c = (Vec(4) << 1.0f, -2.0f, 0.5f, 0.5f).finished();  // |c|_1 = 4
    auto f = [&](const Vec& x, Vec& g) {
      g = c;
      return x.cast<double>().dot(c.cast<double>());
    };
    Vec x = Vec::Zero(4);
    LbfgsOptions opt;
    opt.max_iterations = 5;
    const LbfgsResult r = lbfgs_minimize(f, x, opt);
    CHECK(r.stop == LbfgsStop::MaxIterations);
    CHECK(r.skipped_pairs == 4);  // one candidate pair per iteration but the last
    CHECK(r.resets == 0);
    CHECK(x.allFinite());
    // Step 1 is -c / |c|_1; the four after it are -c (lr = 1: skipped pairs do not shrink the
    // step, as torch.optim.LBFGS), so x = -(1/4 + 4) c.
    CHECK((x - (-17.0f / 4.0f) * c).cwiseAbs().maxCoeff() < 1e-5f);
    CHECK(r.best_loss == doctest::Approx(-17.0 / 4.0 * c.squaredNorm()).epsilon(1e-6));
  }
  SUBCASE("linear function with a floor: the gradient vanishes, NoProgress with the best point") {
    const Vec c = (Vec(2) << 3.0f, 1.0f).finished();
    auto f = [&](const Vec& x, Vec& g) {
      const double v = x.cast<double>().dot(c.cast<double>());
      if (v <= -2.0) {
        g.setZero();
        return -2.0;
      }
      g = c;
      return v;
    };
    Vec x = Vec::Zero(2);
    LbfgsOptions opt;
    opt.max_iterations = 100;
    const LbfgsResult r = lbfgs_minimize(f, x, opt);
    CHECK(r.stop == LbfgsStop::NoProgress);
    CHECK(r.best_loss == -2.0);
    CHECK(r.iterations < 20);
    CHECK(x.allFinite());
  }
}

TEST_CASE("NoProgress") {
  SUBCASE("the loss stays bit-identical for 10 iterations") {
    auto f = [](const Vec&, Vec& g) {
      g.setConstant(0.5f);
      return 3.0;
    };
    Vec x = Vec::Zero(4);
    LbfgsOptions opt;
    opt.max_iterations = 100;
    const LbfgsResult r = lbfgs_minimize(f, x, opt);
    CHECK(r.stop == LbfgsStop::NoProgress);
    CHECK(r.iterations == 10);
    CHECK(r.evaluations == 11);
    CHECK(r.best_loss == 3.0);
    CHECK(bit_identical(x, Vec::Zero(4)));  // ties keep the first point
  }
  SUBCASE("the step is below float resolution of x") {
    auto f = [](const Vec& x, Vec& g) {
      g.setConstant(1e-4f);
      return 1e-4 * x.cast<double>().sum();
    };
    Vec x = Vec::Constant(3, 1e8f);
    LbfgsOptions opt;
    const LbfgsResult r = lbfgs_minimize(f, x, opt);
    CHECK(r.stop == LbfgsStop::NoProgress);
    CHECK(r.iterations == 1);
    CHECK(r.evaluations == 1);
    CHECK(r.message.find("vanished") != std::string::npos);
  }
}

namespace {

// A run of lbfgs_minimize with the fixed step lr = 1, recording every point and gradient.
struct RecordedRun {
  std::vector<Eigen::VectorXd> xs, gs;
  LbfgsResult result;
};
RecordedRun record_quadratic_run(int n, int m, nst::HistoryPrecision precision) {
  const Quadratic q(n, 3);
  RecordedRun run;
  auto f = [&](const Vec& x, Vec& g) {
    const double loss = q(x, g);
    run.xs.push_back(x.cast<double>());
    run.gs.push_back(g.cast<double>());
    return loss;
  };
  Vec x = Vec::Zero(n);
  LbfgsOptions opt;
  opt.max_iterations = 9;
  opt.history = m;
  opt.history_precision = precision;
  run.result = lbfgs_minimize(f, x, opt);
  return run;
}

// The L-BFGS direction -H_k g_k of iteration k + 1 (0-based point k) built densely in double:
// H = (I - ρ s yᵀ) H (I - ρ y sᵀ) + ρ s sᵀ over the newest m pairs, oldest first, from
// H0 = γ I with γ = sᵀy / yᵀy of the newest pair; pair(i) gives (s, y) of step i -> i + 1.
template <class Pair>
Eigen::VectorXd dense_direction(const RecordedRun& run, size_t k, int m, const Pair& pair) {
  const Eigen::Index n = run.xs[0].size();
  const size_t first = k >= static_cast<size_t>(m) ? k - m : 0;
  const auto [s_new, y_new] = pair(k - 1);
  Eigen::MatrixXd h = Eigen::MatrixXd::Identity(n, n) * (s_new.dot(y_new) / y_new.dot(y_new));
  for (size_t i = first; i < k; ++i) {
    const auto [s, y] = pair(i);
    const double rho = 1.0 / s.dot(y);
    const Eigen::MatrixXd v = Eigen::MatrixXd::Identity(n, n) - rho * y * s.transpose();
    h = v.transpose() * h * v + rho * s * s.transpose();
  }
  return -h * run.gs[k];
}

}  // namespace

TEST_CASE("the direction matches the dense L-BFGS inverse Hessian of the last m pairs") {
  // Fixed step with lr = 1: after iteration 1, x_{k+1} - x_k = d_k = -H_k g_k exactly up to
  // float rounding. Rebuild H_k in double from the recorded points and gradients and compare,
  // while the ring wraps.
  const int n = 8, m = 3;
  const RecordedRun run = record_quadratic_run(n, m, nst::HistoryPrecision::Float);
  REQUIRE(run.result.evaluations == 10);
  CHECK(run.result.skipped_pairs == 0);
  auto pair = [&](size_t i) {
    return std::make_pair(Eigen::VectorXd(run.xs[i + 1] - run.xs[i]), Eigen::VectorXd(run.gs[i + 1] - run.gs[i]));
  };
  for (size_t k = 1; k + 1 < run.xs.size(); ++k) {
    CAPTURE(k);
    const Eigen::VectorXd d_ref = dense_direction(run, k, m, pair);
    const Eigen::VectorXd d = run.xs[k + 1] - run.xs[k];
    CHECK((d - d_ref).norm() <= 1e-3 * d_ref.norm());
  }
}

TEST_CASE("history size m is respected, and runs are deterministic") {
  const Quadratic q(100, 11);
  auto run = [&](int m) {
    Vec x = Vec::Zero(100);
    LbfgsOptions opt;
    opt.max_iterations = 40;
    opt.history = m;
    const LbfgsResult r = lbfgs_minimize([&](const Vec& xx, Vec& g) { return q(xx, g); }, x, opt);
    CHECK(r.stop == LbfgsStop::MaxIterations);
    return std::make_pair(x, r.best_loss);
  };
  const auto m1a = run(1), m1b = run(1), m10a = run(10), m10b = run(10), m100 = run(100);
  CHECK(bit_identical(m1a.first, m1b.first));
  CHECK(m1a.second == m1b.second);
  CHECK(bit_identical(m10a.first, m10b.first));
  CHECK(m10a.second == m10b.second);
  CHECK_FALSE(bit_identical(m1a.first, m10a.first));
  CHECK(m1a.second != m10a.second);
  // With 40 iterations, m = 100 never fills its buffer: a different result again from m = 10.
  CHECK_FALSE(bit_identical(m10a.first, m100.first));
  MESSAGE("loss after 40 iterations: m=1 " << m1a.second << ", m=10 " << m10a.second
                                          << ", m=100 " << m100.second);
}

TEST_CASE("tolerances stop early") {
  const Quadratic q(30);
  auto f = [&](const Vec& x, Vec& g) { return q(x, g); };
  SUBCASE("tolerance_grad") {
    Vec x = Vec::Zero(30);
    LbfgsOptions opt;
    opt.tolerance_grad = 1e-2;
    const LbfgsResult r = lbfgs_minimize(f, x, opt);
    CHECK(r.stop == LbfgsStop::ToleranceGrad);
    CHECK(r.iterations < 1000);
    Vec g(30);
    q(x, g);
    CHECK(g.cwiseAbs().maxCoeff() <= 1e-2f);
  }
  SUBCASE("tolerance_change") {
    Vec x = Vec::Zero(30);
    LbfgsOptions opt;
    opt.tolerance_change = 1e-3;
    const LbfgsResult r = lbfgs_minimize(f, x, opt);
    CHECK(r.stop == LbfgsStop::ToleranceChange);
    CHECK(r.iterations < 1000);
  }
}

TEST_CASE("a gradient that points uphill makes the line search fail and keeps the start") {
  // f = ½|x|² but the 'gradient' has the wrong sign: every trial point is worse.
  auto f = [](const Vec& x, Vec& g) {
    g = -x;
    return 0.5 * x.cast<double>().squaredNorm();
  };
  Vec x = (Vec(3) << 1.0f, 2.0f, -3.0f).finished();
  const Vec x0 = x;
  LbfgsOptions opt;
  opt.line_search = true;
  const LbfgsResult r = lbfgs_minimize(f, x, opt);
  CHECK(r.stop == LbfgsStop::LineSearchFailed);
  CHECK(r.iterations == 1);
  CHECK(r.evaluations > 2);
  CHECK(r.evaluations <= 26);
  CHECK(bit_identical(x, x0));
  CHECK(r.best_loss == 7.0);
}

#ifdef __GLIBC__
TEST_CASE("history slots are allocated as pairs arrive, and memory stays flat once the ring is full") {
  // Heap bytes in use (glibc), read from the callback: Eigen allocates through malloc.
  auto heap = [] {
    const struct mallinfo2 mi = mallinfo2();
    return static_cast<double>(mi.uordblks + mi.hblkhd);
  };
  if (heap() == 0) {  // another allocator (e.g. a sanitizer's) replaced glibc's malloc
    MESSAGE("mallinfo2 reports nothing under this allocator; skipped");
    return;
  }
  const int n = 10000;  // 40 kB per vector
  const double vec_bytes = 4.0 * n;
  const Vec w = Vec::LinSpaced(n, 1.0f, 100.0f);
  auto f = [&](const Vec& x, Vec& g) {
    g = w.cwiseProduct(x - Vec::Ones(n));
    return 0.5 * (x - Vec::Ones(n)).cast<double>().dot(g.cast<double>());
  };
  SUBCASE("history = 1000 on a 6-iteration run allocates only the 5 pairs it stores") {
    double at1 = 0, at6 = 0;
    Vec x = Vec::Zero(n);
    LbfgsOptions opt;
    opt.max_iterations = 6;
    opt.history = 1000;
    lbfgs_minimize(f, x, opt, [&](const LbfgsIteration& it) {
      if (it.iteration == 1) at1 = heap();
      if (it.iteration == 6) at6 = heap();
      return true;
    });
    // By iteration 6's callback a pair has been kept after each of iterations 1..5: 10 vectors.
    // An eager buffer would take 2 x 1000 vectors (80 MB).
    CHECK(at6 - at1 <= 12 * vec_bytes);
    CHECK(at6 - at1 >= 6 * vec_bytes);
  }
  SUBCASE("history = 3: no growth once the ring is full") {
    double at10 = 0, at40 = 0;
    Vec x = Vec::Zero(n);
    LbfgsOptions opt;
    opt.max_iterations = 40;
    opt.history = 3;
    lbfgs_minimize(f, x, opt, [&](const LbfgsIteration& it) {
      if (it.iteration == 10) at10 = heap();
      if (it.iteration == 40) at40 = heap();
      return true;
    });
    CHECK(at40 == at10);
  }
}
#endif

TEST_CASE("line search on a kink: no point meets the curvature condition, the lowest one is taken") {
  // f = |x - 0.35| in 1-D: |f'| = 1 everywhere, so |g(t)ᵀd| <= 0.9 |g(0)ᵀd| never holds. The
  // zoom shrinks the bracket to float resolution and accepts its lowest point of sufficient
  // decrease, which here is not its last probe (observed: lowest is evaluation 15 of 16).
  const double a = 0.35;
  Recorder rec;
  auto f = [&](const Vec& x, Vec& g) {
    const double r = static_cast<double>(x[0]) - a;
    g[0] = r >= 0 ? 1.0f : -1.0f;
    rec.add(x, std::abs(r));
    return std::abs(r);
  };
  Vec x = Vec::Zero(1);
  LbfgsOptions opt;
  opt.line_search = true;
  opt.max_iterations = 2;
  std::vector<int> evals_at;  // evaluations made up to each iteration's callback
  std::vector<double> losses;
  const LbfgsResult r = lbfgs_minimize(f, x, opt, [&](const LbfgsIteration& it) {
    evals_at.push_back(it.evaluations);
    losses.push_back(it.loss);
    return true;
  });
  REQUIRE(evals_at.size() == 2);
  const size_t end1 = static_cast<size_t>(evals_at[1]);  // iteration 1's search: [1, end1)
  size_t lo = 1;
  for (size_t i = 1; i < end1; ++i)
    if (rec.losses[i] < rec.losses[lo]) lo = i;
  CHECK(lo + 1 < end1);                // the lowest point was not the last probe
  CHECK(losses[1] == rec.losses[lo]);  // iteration 2 starts from it
  CHECK(std::abs(rec.points[lo][0] - a) < 1e-6);
  // Iteration 2's first trial is x_lo + t d from that point. In 1-D the two-loop over one pair
  // gives d = -(s/y) g; here y = g_lo - g0 = 0 (both -1), the pair is skipped and d = -g, t = 1.
  const double x_lo = rec.points[lo][0];
  const double g_lo = x_lo >= a ? 1.0 : -1.0;
  const double y = g_lo - (-1.0);
  const double expected = y > 0 ? x_lo - g_lo * x_lo / y : x_lo - g_lo;
  REQUIRE(rec.points.size() > end1);
  CHECK(rec.points[end1][0] == doctest::Approx(expected).epsilon(1e-6));
  CHECK(r.best_loss < 1e-6);
  CHECK(bit_identical(x, rec.points[rec.best()]));
}

TEST_CASE("to_string names every stop reason") {
  CHECK(std::string(nst::to_string(LbfgsStop::MaxIterations)) == "max-iterations");
  CHECK(std::string(nst::to_string(LbfgsStop::NonFinite)) == "non-finite");
  CHECK(std::string(nst::to_string(LbfgsStop::LineSearchFailed)) == "line-search-failed");
  CHECK(std::string(nst::to_string(LbfgsStop::NoProgress)) == "no-progress");
  CHECK(std::string(nst::to_string(LbfgsStop::ToleranceGrad)) == "tolerance-grad");
  CHECK(std::string(nst::to_string(LbfgsStop::ToleranceChange)) == "tolerance-change");
  CHECK(std::string(nst::to_string(LbfgsStop::Cancelled)) == "cancelled");
}

TEST_CASE("half-precision history: converges like float on the quadratic, deterministic, not float") {
  const Quadratic q(100);
  for (const bool search : {false, true}) {
    CAPTURE(search);
    int reached[2] = {0, 0};
    Vec xs[2];
    for (const auto precision : {nst::HistoryPrecision::Float, nst::HistoryPrecision::Half}) {
      const int p = precision == nst::HistoryPrecision::Half;
      Vec x = Vec::Zero(100), g(100);
      const double f0 = q(x, g);
      LbfgsOptions opt;
      opt.max_iterations = 300;
      opt.line_search = search;
      opt.history = 10;
      opt.history_precision = precision;
      const LbfgsResult r = lbfgs_minimize(
          [&](const Vec& xx, Vec& gg) { return q(xx, gg); }, x, opt, [&](const LbfgsIteration& it) {
            if (reached[p] == 0 && it.loss < 1e-6 * f0) reached[p] = it.iteration;
            return true;
          });
      CHECK(r.best_loss < 1e-6 * f0);
      xs[p] = x;
      if (p) {  // the same run again: bit-identical
        Vec x2 = Vec::Zero(100);
        lbfgs_minimize([&](const Vec& xx, Vec& gg) { return q(xx, gg); }, x2, opt);
        CHECK(bit_identical(x, x2));
      }
    }
    MESSAGE("below 1e-6 f0 at iteration " << reached[0] << " (float pairs), " << reached[1] << " (half pairs)");
    CHECK(reached[1] > 0);
    CHECK(reached[1] <= reached[0] + reached[0] / 4);
    CHECK_FALSE(bit_identical(xs[0], xs[1]));  // the pairs really are rounded
  }
}

TEST_CASE("half-precision history: the direction is the dense L-BFGS matrix of the rounded pairs") {
  // As above, but each pair is first rounded as HalfVector stores it; ρ and γ come from the
  // rounded pairs.
  const int n = 8, m = 3;
  const RecordedRun run = record_quadratic_run(n, m, nst::HistoryPrecision::Half);
  REQUIRE(run.result.evaluations == 10);
  CHECK(run.result.skipped_pairs == 0);
  auto rounded = [](const Vec& v) {
    nst::HalfVector h;
    h.assign(v.data(), v.size());
    Vec out(v.size());
    h.decode(out.data());
    return Eigen::VectorXd(out.cast<double>());
  };
  auto rounded_pair = [&](size_t i) {  // (s, y) as L-BFGS formed them in float, then rounded
    const Vec s = run.xs[i + 1].cast<float>() - run.xs[i].cast<float>();
    const Vec y = run.gs[i + 1].cast<float>() - run.gs[i].cast<float>();
    return std::make_pair(rounded(s), rounded(y));
  };
  auto float_pair = [&](size_t i) {
    return std::make_pair(Eigen::VectorXd(run.xs[i + 1] - run.xs[i]), Eigen::VectorXd(run.gs[i + 1] - run.gs[i]));
  };
  double worst_rounded = 0, worst_unrounded = 0;
  for (size_t k = 1; k + 1 < run.xs.size(); ++k) {
    const Eigen::VectorXd d = run.xs[k + 1] - run.xs[k];
    const Eigen::VectorXd with_rounded = dense_direction(run, k, m, rounded_pair);
    const Eigen::VectorXd with_float = dense_direction(run, k, m, float_pair);
    worst_rounded = std::max(worst_rounded, (d - with_rounded).norm() / with_rounded.norm());
    worst_unrounded = std::max(worst_unrounded, (d - with_float).norm() / with_float.norm());
  }
  MESSAGE("direction error against rounded pairs " << worst_rounded << ", against float pairs " << worst_unrounded);
  CHECK(worst_rounded < 1e-4);
  CHECK(worst_unrounded > worst_rounded);  // the reference with rounded pairs is the closer one
}

TEST_CASE("long vectors: the parallel chunked loops give bit-identical runs for 1, 2 and 3 threads") {
  // n spans several chunks of the two-loop recursion's parallel loops (and a partial one).
  const int64_t n = 200003;
  Eigen::VectorXd a(n), c(n);
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = std::pow(10.0, 3.0 * u(rng));
    c[i] = u(rng) - 0.5;
  }
  auto f = [&](const Vec& x, Vec& g) {  // Σ a_i (x_i - c_i)² / 2 + a coupling of neighbours
    double loss = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double r = x[i] - c[i], nb = i + 1 < n ? x[i + 1] - x[i] : 0.0;
      loss += 0.5 * a[i] * r * r + 0.5 * nb * nb;
      g[i] = static_cast<float>(a[i] * r - nb + (i > 0 ? x[i] - x[i - 1] : 0.0));
    }
    return loss;
  };
  const int saved = omp_get_max_threads();
  for (const auto precision : {nst::HistoryPrecision::Float, nst::HistoryPrecision::Half}) {
    std::vector<Vec> results;
    for (int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      Vec x = Vec::Zero(n);
      LbfgsOptions opt;
      opt.max_iterations = 15;
      opt.history = 5;
      opt.history_precision = precision;
      const LbfgsResult r = lbfgs_minimize(f, x, opt);
      CHECK(r.stop == LbfgsStop::MaxIterations);
      results.push_back(x);
    }
    CHECK(bit_identical(results[0], results[1]));
    CHECK(bit_identical(results[0], results[2]));
  }
  omp_set_num_threads(saved);
}

TEST_CASE("step_pair: s is t·d or the float displacement; the second direction uses that pair") {
  // Variables near 1e4 (float ulp 1e-3) and a first step t = 1/‖g‖₁ that moves each by at most
  // ~0.03: the displacement x_1 - x_0 keeps only a few bits of t·d. Each rule's second direction
  // must be the dense L-BFGS direction of its own first pair, and the two pairs must differ.
  const int n = 64;
  Eigen::VectorXd lambda(n), c(n), x0(n);
  for (int i = 0; i < n; ++i) {
    lambda[i] = 1.0 + 9.0 * i / (n - 1);
    x0[i] = 1e4 + 10.0 * std::cos(i);
    c[i] = x0[i] + 50.0 * std::sin(0.7 * i + 0.3);
  }
  for (const nst::StepPair rule : {nst::StepPair::Direction, nst::StepPair::Displacement}) {
    CAPTURE(static_cast<int>(rule));
    RecordedRun run;
    auto f = [&](const Vec& x, Vec& g) {
      const Eigen::VectorXd r = x.cast<double>() - c;
      g = lambda.cwiseProduct(r).cast<float>();
      run.xs.push_back(x.cast<double>());
      run.gs.push_back(g.cast<double>());
      return 0.5 * r.dot(lambda.cwiseProduct(r));
    };
    Vec x = x0.cast<float>();
    LbfgsOptions opt;
    opt.max_iterations = 2;
    opt.step_pair = rule;
    lbfgs_minimize(f, x, opt);
    REQUIRE(run.xs.size() == 3);
    const double t0 = std::min(1.0, 1.0 / run.gs[0].cwiseAbs().sum());
    const Eigen::VectorXd td = static_cast<double>(static_cast<float>(t0)) * -run.gs[0].cast<float>().cast<double>();
    const Eigen::VectorXd disp = run.xs[1] - run.xs[0];
    MESSAGE("first pair: ‖(x1 - x0) - t·d‖ / ‖t·d‖ = " << (disp - td).norm() / td.norm());
    CHECK((disp - td).norm() > 1e-2 * td.norm());  // the displacement really is mostly rounding
    auto pair = [&](size_t) {
      return std::make_pair(rule == nst::StepPair::Direction ? td : disp, Eigen::VectorXd(run.gs[1] - run.gs[0]));
    };
    auto other = [&](size_t) {
      return std::make_pair(rule == nst::StepPair::Direction ? disp : td, Eigen::VectorXd(run.gs[1] - run.gs[0]));
    };
    const Eigen::VectorXd d = run.xs[2] - run.xs[1];
    const Eigen::VectorXd d_ref = dense_direction(run, 1, 100, pair);
    const Eigen::VectorXd d_other = dense_direction(run, 1, 100, other);
    CHECK((d - d_ref).norm() <= 1e-4 * d_ref.norm());
    CHECK((d - d_other).norm() > 1e-3 * d_other.norm());
  }
}

TEST_CASE("bounds: every evaluated point stays in the box, and the run meets the KKT conditions") {
  // A rotated quadratic (eigenvalues 1..100) whose unconstrained minimum c lies partly outside
  // [-0.5, 0.5]^n: the constrained minimum has variables on both bounds with the gradient
  // pointing outward there. (The fixed step has no line search to rescue it: with eigenvalues
  // up to 1e4 the projected steps overshoot and the run makes no progress.)
  const int n = 30;
  Quadratic q(n, 11, 2);
  q.c *= 1.5;
  const Vec lo = Vec::Constant(n, -0.5f), hi = Vec::Constant(n, 0.5f);
  for (const nst::StepPair rule : {nst::StepPair::Direction, nst::StepPair::Displacement}) {
    CAPTURE(static_cast<int>(rule));
    bool inside = true;
    auto f = [&](const Vec& x, Vec& g) {
      inside = inside && (x.array() >= lo.array()).all() && (x.array() <= hi.array()).all();
      return q(x, g);
    };
    Vec x = Vec::Constant(n, 3.0f);  // outside: projected first
    LbfgsOptions opt;
    opt.max_iterations = 400;
    opt.history = 10;
    opt.step_pair = rule;
    opt.lower = lo;
    opt.upper = hi;
    const LbfgsResult r = lbfgs_minimize(f, x, opt);
    CHECK(inside);
    Vec g(n);
    const double loss = q(x, g);
    int on_bound = 0;
    double worst = 0;  // KKT residual: |g| when free, the inward part of g on a bound
    for (int i = 0; i < n; ++i) {
      if (x[i] <= lo[i]) ++on_bound, worst = std::max(worst, static_cast<double>(std::max(0.0f, -g[i])));
      else if (x[i] >= hi[i]) ++on_bound, worst = std::max(worst, static_cast<double>(std::max(0.0f, g[i])));
      else worst = std::max(worst, static_cast<double>(std::abs(g[i])));
    }
    Vec clamped = q.c.cast<float>().cwiseMax(lo).cwiseMin(hi), g2(n);
    MESSAGE(r.message << ": loss " << loss << " (clamped minimum " << q(clamped, g2) << "), " << on_bound
                      << " variables on a bound, KKT residual " << worst);
    CHECK(on_bound > 0);
    CHECK(worst < 1e-2);
    CHECK(loss <= q(clamped, g2));
  }
}

TEST_CASE("bounds: two loss rises in a row reset the history; the next step is scaled as the first") {
  // f = ½ Σ w_i x_i², but the reported loss is raised at evaluations 3 and 4 (the gradient is
  // f's): the loss rises at iterations 3 and 4. With bounds (a box nothing reaches) the history
  // is then cleared, and the 5th point is x_4 - min(1, 1/|g_4|_1) g_4. Without bounds nothing
  // changes: two rises are the unbounded method's business (neural-style, torch.optim.LBFGS).
  const Eigen::VectorXf w = (Vec(3) << 1.0f, 2.0f, 4.0f).finished();
  for (const bool bounded : {true, false}) {
    CAPTURE(bounded);
    Recorder rec;
    std::vector<Vec> grads;
    auto f = [&](const Vec& x, Vec& g) {
      g = w.cwiseProduct(x);
      double loss = 0.5 * x.cast<double>().dot(g.cast<double>());
      const size_t e = rec.points.size() + 1;  // this evaluation's number
      if (e == 3) loss += 1e6;
      if (e == 4) loss += 2e6;
      rec.add(x, loss);
      grads.push_back(g);
      return loss;
    };
    LbfgsOptions opt;
    opt.max_iterations = 6;
    if (bounded) {
      opt.lower = Vec::Constant(3, -1e4f);
      opt.upper = Vec::Constant(3, 1e4f);
    }
    Vec x(3);
    x << 100.0f, -200.0f, 300.0f;
    const LbfgsResult r = lbfgs_minimize(f, x, opt);
    REQUIRE(rec.points.size() >= 5);
    REQUIRE(rec.losses[2] > rec.losses[1]);
    REQUIRE(rec.losses[3] > rec.losses[2]);
    const Vec& g4 = grads[3];
    const Vec restart = rec.points[3] - static_cast<float>(std::min(1.0, 1.0 / g4.cwiseAbs().cast<double>().sum())) * g4;
    const float off = (rec.points[4] - restart).cwiseAbs().maxCoeff();
    MESSAGE("resets " << r.resets << ", 5th point off the scaled steepest step by " << off);
    if (bounded) {
      CHECK(r.resets == 1);
      CHECK(off < 1e-4f);
    } else {
      CHECK(r.resets == 0);
      CHECK(off > 1e-2f);
    }
  }
}

TEST_CASE("bounds: validation") {
  auto f = [](const Vec& x, Vec& g) {
    g = x;
    return 0.5 * x.squaredNorm();
  };
  Vec x = Vec::Ones(3);
  LbfgsOptions opt;
  opt.lower = Vec::Zero(3);
  CHECK_THROWS_WITH_AS(lbfgs_minimize(f, x, opt), doctest::Contains("lower/upper"), std::invalid_argument);
  opt.upper = Vec::Constant(3, -1.0f);
  CHECK_THROWS_WITH_AS(lbfgs_minimize(f, x, opt), doctest::Contains("lower <= upper"), std::invalid_argument);
  opt.upper = Vec::Ones(3);
  opt.line_search = true;
  CHECK_THROWS_WITH_AS(lbfgs_minimize(f, x, opt), doctest::Contains("line_search"), std::invalid_argument);
  opt.line_search = false;
  opt.lower = opt.upper = Vec::Zero(2);
  CHECK_THROWS_WITH_AS(lbfgs_minimize(f, x, opt), doctest::Contains("bounds for 2"), std::invalid_argument);
  CHECK(x == Vec::Ones(3));
}
