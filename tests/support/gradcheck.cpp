#include "support/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace nst::test {

namespace {
double projected(const Fn& f, const std::vector<Tensor<double>>& inputs, const Tensor<double>& seed) {
  std::vector<Var<double>> vars;
  for (const auto& t : inputs) vars.push_back(constant(t));
  const Var<double> out = f(vars);
  double s = 0;
  for (int64_t i = 0; i < seed.numel(); ++i) s += seed[i] * out.value()[i];
  return s;
}
}  // namespace

GradCheck check_gradients(const Fn& f, const std::vector<Tensor<double>>& inputs, uint64_t seed,
                          double h, double tolerance) {
  std::mt19937_64 rng(seed);
  std::vector<Var<double>> leaves;
  for (const auto& t : inputs) leaves.push_back(leaf(t, true));
  const Var<double> out = f(leaves);
  const Tensor<double> proj = random_tensor<double>(out.shape(), rng);
  backward(out, proj);

  GradCheck r;
  std::vector<Tensor<double>> probe = inputs;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor<double>& g = leaves[k].grad();
    for (int64_t i = 0; i < inputs[k].numel(); ++i) {
      const double x0 = inputs[k][i];
      probe[k][i] = x0 + h;
      const double up = projected(f, probe, proj);
      probe[k][i] = x0 - h;
      const double down = projected(f, probe, proj);
      probe[k][i] = x0;
      const double numeric = (up - down) / (2 * h);
      const double analytic = g.empty() ? 0.0 : g[i];
      const double err = std::abs(analytic - numeric) / std::max(1.0, std::abs(numeric));
      ++r.checked;
      if (!(err <= r.worst_error)) {  // also catches NaN
        r.worst_error = std::isnan(err) ? INFINITY : err;
        std::ostringstream where;
        where << "input " << k << " element " << i << ": analytic " << analytic << " numeric "
              << numeric;
        r.worst_place = where.str();
      }
    }
  }
  r.ok = r.worst_error <= tolerance;
  return r;
}

Tensor<double> random_away_from_zero(const Shape& shape, std::mt19937_64& rng, double margin) {
  Tensor<double> t(shape);
  std::uniform_real_distribution<double> mag(margin, 1.0);
  std::bernoulli_distribution sign(0.5);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = sign(rng) ? mag(rng) : -mag(rng);
  return t;
}

}  // namespace nst::test
