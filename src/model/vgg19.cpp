#include "nst/model/vgg19.h"

#include "nst/io/safetensors.h"
#include "nst/ops/conv2d.h"
#include "nst/ops/elementwise.h"
#include "nst/ops/pool.h"

#include <algorithm>

namespace nst {

namespace {

// Output channels of the 16 convolutions, and after which ones a pooling layer follows.
constexpr int64_t kWidths[16] = {64, 64, 128, 128, 256, 256, 256, 256,
                                 512, 512, 512, 512, 512, 512, 512, 512};
constexpr int kBlockEnd[5] = {1, 3, 7, 11, 15};  // conv index closing each block
// torchvision's features.N index of each convolution.
constexpr int kFeatureIndex[16] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34};

bool ends_block(int conv) { return std::find(std::begin(kBlockEnd), std::end(kBlockEnd), conv) != std::end(kBlockEnd); }

std::vector<std::string> make_names() {
  std::vector<std::string> names;
  int block = 1, in_block = 1;
  for (int i = 0; i < 16; ++i) {
    const std::string id = std::to_string(block) + "_" + std::to_string(in_block);
    names.push_back("conv" + id);
    names.push_back("relu" + id);
    ++in_block;
    if (ends_block(i)) {
      names.push_back("pool" + std::to_string(block));
      ++block;
      in_block = 1;
    }
  }
  return names;
}

std::string weight_name(int conv) { return "features." + std::to_string(kFeatureIndex[conv]) + ".weight"; }
std::string bias_name(int conv) { return "features." + std::to_string(kFeatureIndex[conv]) + ".bias"; }

}  // namespace

Preprocess parse_preprocess(const std::string& name) {
  if (name == "caffe") return Preprocess::Caffe;
  if (name == "torchvision") return Preprocess::Torchvision;
  throw std::invalid_argument("unknown preprocess \"" + name + "\" (expected caffe or torchvision)");
}

const char* to_string(Preprocess p) { return p == Preprocess::Caffe ? "caffe" : "torchvision"; }

const std::vector<std::string>& vgg19_layer_names() {
  static const std::vector<std::string> names = make_names();
  return names;
}

size_t vgg19_layer_index(const std::string& name) {
  const auto& names = vgg19_layer_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end())
    throw std::invalid_argument("unknown VGG19 layer \"" + name +
                                "\" (layers are conv1_1..conv5_4, relu1_1..relu5_4, pool1..pool5)");
  return static_cast<size_t>(it - names.begin());
}

std::vector<TensorRequest> vgg19_tensor_requests() {
  std::vector<TensorRequest> req;
  int64_t in = 3;
  for (int i = 0; i < 16; ++i) {
    req.push_back({weight_name(i), {kWidths[i], in, 3, 3}});
    req.push_back({bias_name(i), {kWidths[i]}});
    in = kWidths[i];
  }
  return req;
}

template <class T>
Vgg19<T> Vgg19<T>::from_tensors(const std::map<std::string, Tensor<T>>& tensors, Preprocess p) {
  Vgg19 net;
  net.preprocess = p;
  int64_t in = 3;
  for (int i = 0; i < 16; ++i) {
    const auto w = tensors.find(weight_name(i)), b = tensors.find(bias_name(i));
    if (w == tensors.end() || b == tensors.end())
      throw std::invalid_argument("VGG19: missing " + (w == tensors.end() ? weight_name(i) : bias_name(i)));
    const Shape& ws = w->second.shape();
    if (ws.size() != 4 || ws[1] != in || ws[2] != 3 || ws[3] != 3 || b->second.shape() != Shape{ws[0]})
      throw std::invalid_argument("VGG19: " + weight_name(i) + " " + shape_str(ws) + " / bias " +
                                  shape_str(b->second.shape()) + " do not fit " +
                                  std::to_string(in) + " input channels");
    auto weight = std::make_shared<const Tensor<T>>(w->second);
    net.convs.push_back({weight, std::make_shared<const Tensor<T>>(b->second),
                         std::make_shared<const ConvWeights<T>>(weight)});
    in = ws[0];
  }
  return net;
}

template <class T>
std::map<std::string, Var<T>> Vgg19<T>::forward(const Var<T>& x, const std::vector<std::string>& wanted,
                                                 Pooling pooling) const {
  std::vector<bool> want(vgg19_layer_names().size(), false);
  size_t deepest = 0;
  for (const std::string& name : wanted) {
    const size_t i = vgg19_layer_index(name);
    want[i] = true;
    deepest = std::max(deepest, i);
  }
  std::map<std::string, Var<T>> out;
  if (wanted.empty()) return out;
  const auto& names = vgg19_layer_names();
  Var<T> h = x;
  int conv = 0;
  for (size_t i = 0; i <= deepest; ++i) {
    const std::string& name = names[i];
    if (name.rfind("conv", 0) == 0) {
      const Conv& c = convs[static_cast<size_t>(conv)];
      ++conv;
      auto weights = c.prepared ? c.prepared : std::make_shared<const ConvWeights<T>>(c.weight);
      // conv + ReLU as one op, unless the conv's own output is wanted.
      if (!want[i] && i + 1 <= deepest && names[i + 1].rfind("relu", 0) == 0) {
        h = conv2d_bias_relu(h, weights, c.bias, 1);
        ++i;
      } else {
        h = bias_add(conv2d(h, weights, 1), c.bias);
      }
    } else if (name.rfind("relu", 0) == 0) {
      h = relu(h);
    } else {
      h = pooling == Pooling::Max ? max_pool2(h) : avg_pool2(h);
    }
    if (want[i]) out[names[i]] = h;  // names[i], not name: a fused ReLU moved i on
  }
  return out;
}

Vgg19<float> load_vgg19(const std::string& path) {
  WeightsFile file = load_safetensors(path, vgg19_tensor_requests());
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
  return Vgg19<float>::from_tensors(file.tensors, p);
}

template struct Vgg19<float>;
template struct Vgg19<double>;

}  // namespace nst
