// VGG19's convolutional part (Simonyan & Zisserman 2014): 16 3x3 convolutions with ReLU in
// five blocks, each block followed by 2x2 pooling. Layers are named as in neural-style:
// conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ..., relu5_4, pool5.
#pragma once

#include "nst/autograd.h"

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

// All layer names in network order.
const std::vector<std::string>& vgg19_layer_names();
// Index of a layer name in vgg19_layer_names(); throws std::invalid_argument listing the valid
// names when it is not one.
size_t vgg19_layer_index(const std::string& name);

template <class T>
class ConvWeights;

template <class T>
struct Vgg19 {
  struct Conv {
    std::shared_ptr<const Tensor<T>> weight;  // (K, C, 3, 3)
    std::shared_ptr<const Tensor<T>> bias;    // (K)
    // `weight` with its Winograd transform, made once (on first use); forward uses it when set.
    std::shared_ptr<const ConvWeights<T>> prepared;
  };
  std::vector<Conv> convs;  // 16, in network order
  Preprocess preprocess = Preprocess::Caffe;

  // From tensors named features.N.weight / features.N.bias (torchvision indices). Channel
  // counts may be anything consistent (tests use tiny networks); throws std::invalid_argument.
  static Vgg19 from_tensors(const std::map<std::string, Tensor<T>>& tensors, Preprocess p);

  // Runs x (1, 3, H, W; preprocessed) through the network only as deep as the deepest wanted
  // layer and returns the wanted layers' outputs.
  std::map<std::string, Var<T>> forward(const Var<T>& x, const std::vector<std::string>& wanted,
                                        Pooling pooling) const;
};

// torchvision's names and the full VGG19 shapes of the 32 convolution tensors.
struct TensorRequest;
std::vector<TensorRequest> vgg19_tensor_requests();

// Loads VGG19 from a safetensors file (see ../shared/weights/README.md); throws WeightsError.
Vgg19<float> load_vgg19(const std::string& path);

}  // namespace nst
