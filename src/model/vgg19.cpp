#include "nst/model/vgg19.h"

#include "nst/cancel.h"
#include "nst/hash.h"
#include "nst/io/safetensors.h"
#include "nst/ops/conv2d.h"
#include "nst/ops/elementwise.h"
#include "nst/ops/pool.h"

#include <algorithm>
#include <functional>


namespace nst {

Preprocess parse_preprocess(const std::string& name) {
  if (name == "caffe") return Preprocess::Caffe;
  if (name == "torchvision") return Preprocess::Torchvision;
  throw std::invalid_argument("unknown preprocess \"" + name + "\" (expected caffe or torchvision)");
}

const char* to_string(Preprocess p) { return p == Preprocess::Caffe ? "caffe" : "torchvision"; }

template <class T>
Vgg<T> Vgg<T>::from_tensors(std::map<std::string, Tensor<T>> tensors, Preprocess p, const Network& network,
                            const ModelUse& use) {
  Vgg net;
  net.network = &network;
  net.preprocess = p;
  // Every convolution is checked and hashed, also those not kept.
  Hash hash;
  int64_t in = 3;
  std::vector<std::pair<Tensor<T>*, Tensor<T>*>> found;
  for (int i = 0; i < network.conv_count; ++i) {
    const std::string wn = network.weight_name(i), bn = network.bias_name(i);
    const auto w = tensors.find(wn), b = tensors.find(bn);
    if (w == tensors.end() || b == tensors.end())
      throw std::invalid_argument(network.name + ": missing " + (w == tensors.end() ? wn : bn));
    const Shape& ws = w->second.shape();
    if (ws.size() != 4 || ws[1] != in || ws[2] != 3 || ws[3] != 3 || b->second.shape() != Shape{ws[0]})
      throw std::invalid_argument(network.name + ": " + wn + " " + shape_str(ws) + " / bias " +
                                  shape_str(b->second.shape()) + " do not fit " + std::to_string(in) +
                                  " input channels");
    hash.add(w->second.data(), static_cast<size_t>(w->second.numel()) * sizeof(T));
    hash.add(b->second.data(), static_cast<size_t>(b->second.numel()) * sizeof(T));
    found.emplace_back(&w->second, &b->second);
    in = ws[0];
  }
  net.weights_hash = hash.hex();
  int kept = network.conv_count;
  if (!use.layers.empty()) {
    kept = 0;
    for (size_t i = 0; i <= network.deepest(use.layers); ++i) kept = std::max(kept, network.layers[i].conv + 1);
  }
  for (int i = kept; i < network.conv_count; ++i) {
    *found[static_cast<size_t>(i)].first = Tensor<T>();
    *found[static_cast<size_t>(i)].second = Tensor<T>();
  }
  for (int i = 0; i < kept; ++i) {
    // Moved out, so that a layer's weights are freed as soon as only its transform is kept.
    auto weight = std::make_shared<const Tensor<T>>(std::move(*found[static_cast<size_t>(i)].first));
    auto bias = std::make_shared<const Tensor<T>>(std::move(*found[static_cast<size_t>(i)].second));
    const ConvShape s{weight->dim(1), 3, 3, weight->dim(0), 3, 1};
    const bool only_u = !use.raw_weights && conv2d_uses_winograd<T>(s);
    net.convs.push_back({only_u ? ConvWeights<T>::winograd_only(std::move(weight))
                                : std::make_shared<const ConvWeights<T>>(std::move(weight)),
                         std::move(bias)});
  }
  return net;
}

template <class T>
std::map<std::string, Var<T>> Vgg<T>::forward(const Var<T>& x, const std::vector<std::string>& wanted,
                                               Pooling pooling) const {
  const auto& layers = network->layers;
  std::vector<bool> want(layers.size(), false);
  for (const std::string& name : wanted) want[network->index(name)] = true;
  std::map<std::string, Var<T>> out;
  if (wanted.empty()) return out;
  const size_t deepest = network->deepest(wanted);
  Var<T> h = x;
  for (size_t i = 0; i <= deepest; ++i) {
    cancellation_point();  // a cancelled run stops between layers (nst/cancel.h)
    const LayerInfo& layer = layers[i];
    switch (layer.kind) {
      case LayerKind::Conv: {
        if (static_cast<size_t>(layer.conv) >= convs.size())
          throw std::invalid_argument(network->name + ": " + layer.name +
                                      " is past the layers this model was loaded for");
        const Conv& c = convs[static_cast<size_t>(layer.conv)];
        const auto& weights = c.weights;
        // conv + ReLU as one op, unless the conv's own output is wanted.
        if (!want[i] && i + 1 <= deepest && layers[i + 1].kind == LayerKind::Relu) {
          h = conv2d_bias_relu(h, weights, c.bias, 1, conv_algo);
          ++i;
        } else {
          h = bias_add(conv2d(h, weights, 1, conv_algo), c.bias);
        }
        break;
      }
      case LayerKind::Relu:
        h = relu(h);
        break;
      case LayerKind::Pool:
        h = pooling == Pooling::Max ? max_pool2(h) : avg_pool2(h);
        break;
    }
    if (want[i]) out[layers[i].name] = h;  // layers[i], not layer: a fused ReLU moved i on
  }
  return out;
}

namespace {

const Network& network_of(const WeightsFile& header, const std::string& path) {
  const auto it = header.metadata.find("model");
  if (it != header.metadata.end()) {
    for (const Network* n : known_networks())
      if (it->second == n->key) return *n;
    throw WeightsError(path + ": unknown model \"" + it->second +
                       "\" in __metadata__; hint: nst runs \"vgg19\" and \"vgg16\" (torchvision's features)");
  }
  const auto has = [&](const std::string& name) {
    return std::find(header.names.begin(), header.names.end(), name) != header.names.end();
  };
  if (!has("features.34.weight") && has("features.28.weight") && !has("features.30.weight")) return vgg16_network();
  return vgg19_network();
}

}  // namespace

const Network& weights_network(const std::string& path) { return network_of(load_safetensors(path, {}), path); }

namespace {

// The model from whatever `read` loads: a file, or a buffer that `path` names in messages.
Vgg<float> load_vgg_from(const std::string& path, const ModelUse& use,
                         const std::function<WeightsFile(const std::vector<TensorRequest>&)>& read) {
  const Network& network = network_of(read({}), path);
  WeightsFile file;
  try {
    file = read(network.tensor_requests());
  } catch (const WeightsError& e) {
    throw WeightsError(std::string(e.what()) + " (read as " + network.name + " weights)");
  }
  Preprocess p = Preprocess::Torchvision;  // the meaning of a file without the key
  const auto it = file.metadata.find("preprocess");
  if (it != file.metadata.end()) {
    try {
      p = parse_preprocess(it->second);
    } catch (const std::invalid_argument&) {
      throw WeightsError(path + ": unknown preprocess \"" + it->second +
                         "\" in __metadata__; hint: use \"caffe\" (B,G,R, 0..255 minus mean) or "
                         "\"torchvision\" (R,G,B, 0..1, mean/std)");
    }
  }
  return Vgg<float>::from_tensors(std::move(file.tensors), p, network, use);
}


}  // namespace

Vgg<float> load_vgg(const std::string& path, const ModelUse& use) {
  return load_vgg_from(path, use,
                       [&](const std::vector<TensorRequest>& wanted) { return load_safetensors(path, wanted); });
}

Vgg<float> load_vgg(const unsigned char* bytes, size_t size, const std::string& name, const ModelUse& use) {
  return load_vgg_from(name, use, [&](const std::vector<TensorRequest>& wanted) {
    return load_safetensors(bytes, size, name, wanted);
  });
}

template struct Vgg<float>;
template struct Vgg<double>;

}  // namespace nst
