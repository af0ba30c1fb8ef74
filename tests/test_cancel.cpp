// Cancellation inside an evaluation (nst/cancel.h) and per-thread worker counts (nst/threads.h).
#include <doctest/doctest.h>

#include "nst/cancel.h"
#include "nst/optim/lbfgs.h"
#include "nst/style/stylize.h"
#include "nst/threads.h"
#include "support/tiny_vgg.h"

#include <cmath>
#include <map>
#include <random>
#include <thread>

using namespace nst;
using nst::testing::random_image;
using nst::testing::tiny_vgg;

TEST_CASE("cancellation_point throws only inside a scope whose check is true; scopes nest and are per thread") {
  CHECK_NOTHROW(cancellation_point());
  bool flag = false;
  {
    const CancelScope outer([&] { return flag; });
    CHECK_NOTHROW(cancellation_point());
    flag = true;
    CHECK_THROWS_AS(cancellation_point(), CancelledError);
    // Another thread does not see this thread's scope.
    bool other_threw = false;
    std::thread t([&] {
      try {
        cancellation_point();
      } catch (const CancelledError&) {
        other_threw = true;
      }
    });
    t.join();
    CHECK_FALSE(other_threw);
    {
      const CancelScope inner([] { return false; });
      CHECK_NOTHROW(cancellation_point());
    }
    CHECK_THROWS_AS(cancellation_point(), CancelledError);
  }
  CHECK_NOTHROW(cancellation_point());
}

TEST_CASE("lbfgs: a CancelledError from inside an evaluation stops with Cancelled and keeps the best point") {
  // f(x) = Σ (x_i - 1)²; the 4th evaluation is interrupted.
  int calls = 0;
  const Objective f = [&](const Eigen::VectorXf& x, Eigen::VectorXf& g) {
    if (++calls == 4) throw CancelledError();
    double loss = 0;
    for (int i = 0; i < x.size(); ++i) {
      loss += (x[i] - 1.0) * (x[i] - 1.0);
      g[i] = 2.0f * (x[i] - 1.0f);
    }
    return loss;
  };
  Eigen::VectorXf x = Eigen::VectorXf::Zero(5);
  LbfgsOptions opt;
  opt.max_iterations = 100;
  const LbfgsResult r = lbfgs_minimize(f, x, opt);
  CHECK(r.stop == LbfgsStop::Cancelled);
  CHECK(r.evaluations == 3);  // the interrupted one is not counted
  CHECK(std::isfinite(r.best_loss));
  CHECK(r.best_loss < 5.0);  // better than the start, f(0) = 5
  double fx = 0;
  for (int i = 0; i < x.size(); ++i) fx += (x[i] - 1.0) * (x[i] - 1.0);
  CHECK(fx == doctest::Approx(r.best_loss));
}

TEST_CASE("stylize: interrupt stops a run inside an evaluation, between layers, with the best image so far") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 3);
  const Image content = random_image(32, 24, 1), style = random_image(32, 32, 2);
  StylizeSettings s;
  s.iterations = 50;
  s.loss.content_layers = {"relu4_2"};
  int before_evaluation = 0, inside = 0;
  int inside_at_evaluation_4 = -1;
  StylizeCallbacks cb;
  cb.cancelled = [&] {
    ++before_evaluation;
    return false;
  };
  // Let three evaluations through, then stop a few layers into the fourth.
  cb.interrupt = [&] {
    ++inside;
    if (before_evaluation == 4 && inside_at_evaluation_4 < 0) inside_at_evaluation_4 = inside;
    return before_evaluation == 4 && inside >= inside_at_evaluation_4 + 5;
  };
  int iterations = 0;
  cb.on_iteration = [&](const StylizeProgress&, const std::function<Image()>&) {
    ++iterations;
    return true;
  };
  const StylizeResult r = stylize(net, content, {style}, s, cb);
  CHECK(r.optimizer.stop == LbfgsStop::Cancelled);
  CHECK(before_evaluation == 4);
  CHECK(r.optimizer.evaluations == 3);
  CHECK(iterations == 3);
  CHECK(std::isfinite(r.optimizer.best_loss));
  CHECK(r.image.width == 32);
  CHECK(r.image.height == 24);
  // Checked many times per evaluation (every layer of forward, every node of backward).
  CHECK(inside_at_evaluation_4 > 3 * 20);
}

TEST_CASE("ThreadCountScope sets the calling thread's count only and restores it") {
  const int before = current_thread_count();
  int inside = 0, other = 0;
  {
    const ThreadCountScope scope(before + 3);
    inside = current_thread_count();
    std::thread t([&] { other = current_thread_count(); });
    t.join();
  }
  CHECK(inside == before + 3);
  CHECK(other != before + 3);
  CHECK(current_thread_count() == before);
  {
    const ThreadCountScope unchanged(0);
    CHECK(current_thread_count() == before);
  }
}
