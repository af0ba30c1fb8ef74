// The autograd engine's contract: accumulation, constants, release of the graph.
#include <doctest/doctest.h>

#include "nst/autograd.h"
#include "nst/ops/elementwise.h"
#include "nst/ops/losses.h"

using namespace nst;

TEST_CASE("a value used twice gets both contributions") {
  Var<double> x = leaf(Tensor<double>({3}, 2.0), true);
  Var<double> y = sum<double>({scale(x, 3.0), x});  // y = 4x
  backward(y, Tensor<double>({3}, 1.0));
  for (int64_t i = 0; i < 3; ++i) CHECK(x.grad()[i] == 4.0);
}

TEST_CASE("leaf gradients accumulate across backward calls until zero_grad") {
  Var<float> x = leaf(Tensor<float>({2}, 1.0f), true);
  backward(scale(x, 2.0f), Tensor<float>({2}, 1.0f));
  backward(scale(x, 5.0f), Tensor<float>({2}, 1.0f));
  CHECK(x.grad()[0] == 7.0f);
  x.zero_grad();
  CHECK(x.grad().empty());
}

TEST_CASE("ops on constants record nothing (the no-grad mode)") {
  Var<float> c = constant(Tensor<float>({1, 1, 2, 2}, 1.0f));
  Var<float> y = relu(scale(c, 2.0f));
  CHECK_FALSE(y.requires_grad());
  CHECK(y.node() == nullptr);
  // Mixed: only the input that needs a gradient receives one.
  Var<float> x = leaf(Tensor<float>({1, 1, 2, 2}, 3.0f), true);
  Var<float> s = sum<float>({x, c});
  CHECK(s.requires_grad());
  backward(s, Tensor<float>({1, 1, 2, 2}, 1.0f));
  CHECK(x.grad()[0] == 1.0f);
  CHECK(c.grad().empty());
}

TEST_CASE("the graph is released after backward; values nothing reads are not kept") {
  Var<double> x = leaf(Tensor<double>({4}, 1.0), true);
  std::weak_ptr<Node<double>> interior;
  std::weak_ptr<const Tensor<double>> scaled_value;
  Var<double> loss;
  {
    Var<double> a = scale(x, 2.0);
    interior = a.node();
    scaled_value = a.value_ptr();
    loss = sum<double>({a});
  }
  // scale's backward does not read its input or output, so a's value is already gone.
  CHECK(scaled_value.expired());
  CHECK_FALSE(interior.expired());  // still part of the graph
  backward(loss, Tensor<double>({4}, 1.0));
  CHECK(loss.node()->inputs.empty());
  CHECK(interior.expired());
  CHECK(x.grad()[0] == 2.0);
}

TEST_CASE("backward from a non-scalar needs a seed of the same shape") {
  Var<double> x = leaf(Tensor<double>({2}, 1.0), true);
  CHECK_THROWS_AS(backward(scale(x, 1.0)), std::invalid_argument);
  CHECK_THROWS_AS(backward(scale(x, 1.0), Tensor<double>({3}, 1.0)), std::invalid_argument);
}

TEST_CASE("shape errors name the op and the shapes") {
  Var<float> x = leaf(Tensor<float>({2, 3}), true);
  auto t = std::make_shared<const Tensor<float>>(Shape{3, 2});
  CHECK_THROWS_WITH_AS(mse(x, t), "mse: shapes [2,3] and [3,2] differ", std::invalid_argument);
  CHECK_THROWS_WITH_AS(total_variation(x), "total_variation: expected an NCHW tensor, got shape [2,3]",
                       std::invalid_argument);
}
