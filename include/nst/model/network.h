// The one description of each network nst can run: its layers in order, with name, kind, output
// channels, pooling level and the index of its tensors in a torchvision safetensors file. The
// forward pass, the memory estimate, the smallest image side for a set of layers, the weights
// loader and the benchmarks all read it; a second network is one more table.
#pragma once

#include "nst/io/safetensors.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nst {

enum class LayerKind { Conv, Relu, Pool };

struct LayerInfo {
  std::string name;   // neural-style's names: conv3_1, relu3_1, pool3, ...
  LayerKind kind;
  int64_t channels;   // output channels (the full-size network's)
  int pool_level;     // 2x2 pools applied up to and including this layer: side = input side >> pool_level
  int conv;           // index of the convolution (Conv: its own; Relu: the one it follows); -1 for Pool
  int tensor_index;   // torchvision's features.N of this layer (its weights for a Conv)
};

struct Network {
  std::string name;               // "VGG19", "VGG16"
  std::string key;                // "vgg19", "vgg16": the safetensors `model` metadata value
  std::vector<LayerInfo> layers;  // in network order
  int conv_count = 0;

  // Index of a layer; throws std::invalid_argument naming the network and its valid names.
  size_t index(const std::string& layer) const;
  const LayerInfo& layer(const std::string& layer_name) const { return layers[index(layer_name)]; }
  // The deepest of the given layers (index); 0 for an empty list.
  size_t deepest(const std::vector<std::string>& names) const;
  // Smallest image side for every given layer to exist: 2^(pools up to the deepest).
  int64_t min_side(const std::vector<std::string>& names) const;
  // "conv1_1..conv5_4, relu1_1..relu5_4, pool1..pool5"
  std::string layer_ranges() const;
  // The convolutions' tensors (features.N.weight / .bias) with their full-size shapes.
  std::vector<TensorRequest> tensor_requests() const;
  // The name of convolution i's weight / bias tensor.
  std::string weight_name(int conv) const;
  std::string bias_name(int conv) const;
};

const Network& vgg19_network();
const Network& vgg16_network();
// All networks nst knows, VGG19 first.
std::vector<const Network*> known_networks();

}  // namespace nst
