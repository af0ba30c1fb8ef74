#include "nst/autograd.h"

#include "nst/cancel.h"

#include <algorithm>
#include <unordered_set>

namespace nst {

template <class T>
const Tensor<T>& Var<T>::grad() const {
  static const Tensor<T> kEmpty;
  return node_ ? node_->grad : kEmpty;
}

template <class T>
void Var<T>::zero_grad() {
  if (node_) node_->grad = Tensor<T>();
}

template <class T>
Var<T> leaf(Tensor<T> value, bool requires_grad) {
  NodePtr<T> node;
  if (requires_grad) {
    node = std::make_shared<Node<T>>();
    node->shape = value.shape();
  }
  return Var<T>(std::make_shared<const Tensor<T>>(std::move(value)), std::move(node));
}

template <class T>
Var<T> make_result(Tensor<T> value, std::vector<NodePtr<T>> inputs,
                   std::function<void(const Tensor<T>&, Node<T>&)> backward_fn) {
  const bool any = std::any_of(inputs.begin(), inputs.end(), [](const NodePtr<T>& n) { return n; });
  NodePtr<T> node;
  if (any) {
    node = std::make_shared<Node<T>>();
    node->shape = value.shape();
    node->inputs = std::move(inputs);
    node->backward = std::move(backward_fn);
  }
  return Var<T>(std::make_shared<const Tensor<T>>(std::move(value)), std::move(node));
}

namespace {

// Nodes reachable from `root`, each after all nodes that consume it (reverse topological order).
// Owning pointers: releasing a node's inputs during backward must not free nodes still queued.
template <class T>
std::vector<NodePtr<T>> reverse_topological(const NodePtr<T>& root) {
  std::vector<NodePtr<T>> post;  // post-order: inputs before consumers
  std::unordered_set<Node<T>*> seen{root.get()};
  std::vector<std::pair<NodePtr<T>, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      NodePtr<T> in = node->inputs[next++];
      if (in && seen.insert(in.get()).second) stack.push_back({std::move(in), 0});
    } else {
      post.push_back(node);
      stack.pop_back();
    }
  }
  std::reverse(post.begin(), post.end());
  return post;
}

}  // namespace

template <class T>
void backward(const Var<T>& out, const Tensor<T>& seed) {
  require_same_shape(seed.shape(), out.shape(), "backward seed");
  if (!out.requires_grad()) return;  // nothing to differentiate
  const NodePtr<T>& root = out.node();
  const std::vector<NodePtr<T>> order = reverse_topological(root);
  {
    Tensor<T>& g = root->grad_buffer();
    for (int64_t i = 0; i < g.numel(); ++i) g[i] += seed[i];
  }
  for (const NodePtr<T>& node : order) {
    cancellation_point();  // a cancelled run stops between nodes (nst/cancel.h)
    if (!node->backward) continue;  // a leaf: keep its gradient
    if (!node->grad.empty()) node->backward(node->grad, *node);
    // Release this part of the graph: nothing will read it again.
    node->grad = Tensor<T>();
    node->backward = nullptr;
    node->inputs.clear();
  }
}

template <class T>
void backward(const Var<T>& loss) {
  if (loss.value().numel() != 1)
    throw std::invalid_argument("backward: loss must have one element, got shape " +
                                shape_str(loss.shape()));
  backward(loss, Tensor<T>(loss.shape(), T(1)));
}

#define NST_INSTANTIATE(T)                                                               \
  template class Var<T>;                                                                 \
  template Var<T> leaf<T>(Tensor<T>, bool);                                              \
  template Var<T> make_result<T>(Tensor<T>, std::vector<NodePtr<T>>,                     \
                                 std::function<void(const Tensor<T>&, Node<T>&)>);       \
  template void backward<T>(const Var<T>&);                                              \
  template void backward<T>(const Var<T>&, const Tensor<T>&);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)
#undef NST_INSTANTIATE

}  // namespace nst
