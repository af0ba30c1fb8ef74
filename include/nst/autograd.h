// Reverse-mode automatic differentiation over Tensor<T>.
//
// A Var is a value plus, when it depends on something that needs a gradient, a Node in the
// graph. Values and graph are held separately on purpose: an op's backward captures only what
// it will read (a ReLU mask, a pooling argmax, a Gram input), so a feature map nothing needs
// is freed as soon as the caller drops its Var, while the graph stays.
//
// - leaf(t, true): a value that needs a gradient (the image). Its gradient accumulates (+=)
//   in grad() across backward() calls until zero_grad().
// - constant(t): a value that never does (frozen weights, targets). An op whose inputs are all
//   constants records nothing: its result is a constant too. That is the no-grad mode:
//   compute fixed targets (content features, style Grams) from a constant image.
// - backward(loss): from a scalar (or with an explicit seed gradient), visits the graph once in
//   reverse topological order; a Var used twice gets both contributions. Afterwards the graph
//   below `loss` is released: backward closures and interior gradients are freed.
#pragma once

#include "nst/tensor.h"

#include <functional>
#include <memory>
#include <vector>

namespace nst {

template <class T>
struct Node {
  Shape shape;
  Tensor<T> grad;                            // empty until a gradient flows in
  std::vector<std::shared_ptr<Node>> inputs;  // one per op input; null for constant inputs
  // Reads this node's gradient `gout` and accumulates into inputs' gradients.
  std::function<void(const Tensor<T>& gout, Node& self)> backward;

  // This node's gradient buffer, zero-filled on first use.
  Tensor<T>& grad_buffer() {
    if (grad.empty() && shape_numel(shape) > 0) grad = Tensor<T>(shape);
    return grad;
  }
  // For a backward that writes every element of this gradient: true when no gradient has
  // flowed in yet, after allocating `grad` uninitialized (overwrite it: no zero-filling pass);
  // false when one has (add into `grad`).
  bool claim_fresh_grad() {
    if (!grad.empty()) return false;
    grad = Tensor<T>::uninitialized(shape);
    return true;
  }
};

template <class T>
using NodePtr = std::shared_ptr<Node<T>>;

template <class T>
class Var {
 public:
  Var() = default;
  Var(std::shared_ptr<const Tensor<T>> value, NodePtr<T> node)
      : value_(std::move(value)), node_(std::move(node)) {}

  const Tensor<T>& value() const { return *value_; }
  const std::shared_ptr<const Tensor<T>>& value_ptr() const { return value_; }
  const Shape& shape() const { return value_->shape(); }
  // True when this value depends on something that needs a gradient.
  bool requires_grad() const { return node_ != nullptr; }
  const NodePtr<T>& node() const { return node_; }

  // The accumulated gradient of a leaf (empty if none has flowed in).
  const Tensor<T>& grad() const;
  void zero_grad();

 private:
  std::shared_ptr<const Tensor<T>> value_;
  NodePtr<T> node_;
};

template <class T>
Var<T> leaf(Tensor<T> value, bool requires_grad);
template <class T>
Var<T> constant(Tensor<T> value) {
  return leaf(std::move(value), false);
}

// The result of an op: a constant when no input needs a gradient (the backward is dropped),
// otherwise a node whose backward receives the gradient of this result.
template <class T>
Var<T> make_result(Tensor<T> value, std::vector<NodePtr<T>> inputs,
                   std::function<void(const Tensor<T>&, Node<T>&)> backward);

// Backpropagates from a one-element `loss` (seed 1).
template <class T>
void backward(const Var<T>& loss);
// Backpropagates from `out` with an explicit seed gradient of out's shape.
template <class T>
void backward(const Var<T>& out, const Tensor<T>& seed);

}  // namespace nst
