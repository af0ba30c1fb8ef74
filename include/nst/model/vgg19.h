// The convolutional part of a VGG network (Simonyan & Zisserman 2014): 3x3 convolutions with
// ReLU in five blocks, each block followed by 2x2 pooling. Which VGG (VGG19: 16 convolutions,
// VGG16: 13) and its layer names (neural-style's: conv1_1, relu1_1, conv1_2, relu1_2, pool1,
// conv2_1, ...) come from its Network description (network.h).
#pragma once

#include "nst/autograd.h"
#include "nst/model/network.h"
#include "nst/ops/conv2d.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nst {

enum class Pooling { Max, Avg };

// How an RGB image (0..255) becomes the network's input.
//  Caffe:       channels B,G,R, values 0..255 minus the mean pixel (the original VGG19).
//  Torchvision: channels R,G,B, values /255, minus mean, divided by std (torchvision, timm).
enum class Preprocess { Caffe, Torchvision };

// "caffe" / "torchvision"; a file without the key is torchvision (the weights README).
Preprocess parse_preprocess(const std::string& name);
const char* to_string(Preprocess p);

template <class T>
class ConvWeights;

template <class T>
struct Vgg {
  struct Conv {
    std::shared_ptr<const Tensor<T>> weight;  // (K, C, 3, 3)
    std::shared_ptr<const Tensor<T>> bias;    // (K)
    // `weight` with its Winograd transform, made once (on first use); forward uses it when set.
    std::shared_ptr<const ConvWeights<T>> prepared;
  };
  const Network* network = &vgg19_network();
  std::vector<Conv> convs;  // network->conv_count, in network order
  Preprocess preprocess = Preprocess::Caffe;
  // Which convolution kernels forward runs: Auto (Winograd for the 3x3 layers), or Im2col for
  // exact direct convolutions (the reference mode; conv2d.h).
  ConvAlgo conv_algo = ConvAlgo::Auto;

  // From tensors named features.N.weight / features.N.bias (torchvision indices). Channel
  // counts may be anything consistent (tests use tiny networks); throws std::invalid_argument.
  static Vgg from_tensors(const std::map<std::string, Tensor<T>>& tensors, Preprocess p,
                          const Network& network = vgg19_network());

  // Runs x (1, 3, H, W; preprocessed) through the network only as deep as the deepest wanted
  // layer and returns the wanted layers' outputs.
  std::map<std::string, Var<T>> forward(const Var<T>& x, const std::vector<std::string>& wanted,
                                        Pooling pooling) const;
};

// The network a safetensors file holds, from its header only: the `model` metadata key
// ("vgg19" / "vgg16") if present, else its tensor names (features.34.weight: VGG19;
// features.28.weight without features.30: VGG16); VGG19 when neither tells. Throws WeightsError.
const Network& weights_network(const std::string& path);

// Loads a VGG (the network weights_network() names) from a safetensors file (see
// ../shared/weights/README.md); throws WeightsError naming the file and the network.
Vgg<float> load_vgg(const std::string& path);
// The same from a buffer holding the whole file (read during the call only); `name` is used in
// messages.
Vgg<float> load_vgg(const unsigned char* bytes, size_t size, const std::string& name);

}  // namespace nst
