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

// What the runs of a model will read of it, so that loading keeps nothing else. The default
// keeps everything: every convolution, with its weights as the file holds them and their
// Winograd transform made on first use.
struct ModelUse {
  // The layers the runs read; the convolutions past the deepest are not kept. Empty: all.
  std::vector<std::string> layers;
  // false: a convolution that conv2d's Auto choice runs with Winograd keeps only its transform,
  // made at load (ConvWeights::winograd_only); only ConvAlgo::Im2col (the reference mode)
  // needs the weights themselves there. The others (VGG's conv1_1) keep theirs either way.
  bool raw_weights = true;
};

template <class T>
struct Vgg {
  struct Conv {
    std::shared_ptr<const ConvWeights<T>> weights;  // (K, C, 3, 3), and their Winograd transform
    std::shared_ptr<const Tensor<T>> bias;          // (K)
  };
  const Network* network = &vgg19_network();
  // network->conv_count of them in network order, or the first ones only (ModelUse::layers).
  std::vector<Conv> convs;
  Preprocess preprocess = Preprocess::Caffe;
  // Which convolution kernels forward runs: Auto (Winograd for the 3x3 layers), or Im2col for
  // exact direct convolutions (the reference mode; conv2d.h).
  ConvAlgo conv_algo = ConvAlgo::Auto;
  // Hash (nst/hash.h) of every convolution's weights and bias as the file holds them, in network
  // order, those a ModelUse did not keep included: what a checkpoint records of the weights.
  // from_tensors sets it; code that changes the weights afterwards must set it anew.
  std::string weights_hash;

  // From tensors named features.N.weight / features.N.bias (torchvision indices), which it
  // consumes layer by layer: a layer's weights are freed as soon as its transform replaces
  // them (ModelUse::raw_weights false), and those of layers not kept before any is made. Channel
  // counts may be anything consistent (tests use tiny networks); throws std::invalid_argument,
  // also for a layer `use` names that the network lacks.
  static Vgg from_tensors(std::map<std::string, Tensor<T>> tensors, Preprocess p,
                          const Network& network = vgg19_network(), const ModelUse& use = {});

  // Runs x (1, 3, H, W; preprocessed) through the network only as deep as the deepest wanted
  // layer and returns the wanted layers' outputs. Throws std::invalid_argument for a layer
  // past the convolutions the model kept.
  std::map<std::string, Var<T>> forward(const Var<T>& x, const std::vector<std::string>& wanted,
                                        Pooling pooling) const;
};

// The network a safetensors file holds, from its header only: the `model` metadata key
// ("vgg19" / "vgg16") if present, else its tensor names (features.34.weight: VGG19;
// features.28.weight without features.30: VGG16); VGG19 when neither tells. Throws WeightsError.
const Network& weights_network(const std::string& path);

// Loads a VGG (the network weights_network() names) from a safetensors file (see
// ../shared/weights/README.md); throws WeightsError naming the file and the network.
// `use` says what to keep (all by default).
Vgg<float> load_vgg(const std::string& path, const ModelUse& use = {});
// The same from a buffer holding the whole file (read during the call only); `name` is used in
// messages.
Vgg<float> load_vgg(const unsigned char* bytes, size_t size, const std::string& name, const ModelUse& use = {});

}  // namespace nst
