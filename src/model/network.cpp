#include "nst/model/network.h"

#include <algorithm>
#include <stdexcept>

namespace nst {

namespace {

// A VGG (Simonyan & Zisserman 2014) from its blocks: convolutions per block and their width.
// Each block is (conv + ReLU) x n followed by a 2x2 pool; torchvision numbers every layer.
Network make_vgg(const std::string& name, const std::string& key, const std::vector<int>& convs_per_block) {
  const int64_t widths[5] = {64, 128, 256, 512, 512};
  Network net;
  net.name = name;
  net.key = key;
  int conv = 0;
  for (size_t b = 0; b < convs_per_block.size(); ++b) {
    const std::string block = std::to_string(b + 1);
    const int level = static_cast<int>(b);
    for (int i = 1; i <= convs_per_block[b]; ++i) {
      const std::string id = block + "_" + std::to_string(i);
      net.layers.push_back({"conv" + id, LayerKind::Conv, widths[b], level, conv, 0});
      net.layers.push_back({"relu" + id, LayerKind::Relu, widths[b], level, conv, 0});
      ++conv;
    }
    net.layers.push_back({"pool" + block, LayerKind::Pool, widths[b], level + 1, -1, 0});
  }
  for (size_t i = 0; i < net.layers.size(); ++i) net.layers[i].tensor_index = static_cast<int>(i);
  net.conv_count = conv;
  return net;
}

}  // namespace

const Network& vgg19_network() {
  static const Network net = make_vgg("VGG19", "vgg19", {2, 2, 4, 4, 4});
  return net;
}

const Network& vgg16_network() {
  static const Network net = make_vgg("VGG16", "vgg16", {2, 2, 3, 3, 3});
  return net;
}

std::vector<const Network*> known_networks() { return {&vgg19_network(), &vgg16_network()}; }

size_t Network::index(const std::string& layer) const {
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].name == layer) return i;
  throw std::invalid_argument("unknown " + name + " layer \"" + layer + "\" (layers are " + layer_ranges() + ")");
}

size_t Network::deepest(const std::vector<std::string>& names) const {
  size_t d = 0;
  for (const std::string& n : names) d = std::max(d, index(n));
  return d;
}

int64_t Network::min_side(const std::vector<std::string>& names) const {
  if (names.empty()) return 1;
  return int64_t{1} << layers[deepest(names)].pool_level;
}

std::string Network::layer_ranges() const {
  std::string out;
  for (const char* prefix : {"conv", "relu", "pool"}) {
    std::string first, last;
    for (const LayerInfo& l : layers)
      if (l.name.rfind(prefix, 0) == 0) {
        if (first.empty()) first = l.name;
        last = l.name;
      }
    if (!out.empty()) out += ", ";
    out += first + ".." + last;
  }
  return out;
}

std::string Network::weight_name(int conv) const {
  for (const LayerInfo& l : layers)
    if (l.kind == LayerKind::Conv && l.conv == conv) return "features." + std::to_string(l.tensor_index) + ".weight";
  throw std::out_of_range(name + ": no convolution " + std::to_string(conv));
}

std::string Network::bias_name(int conv) const {
  const std::string w = weight_name(conv);
  return w.substr(0, w.size() - 6) + "bias";
}

std::vector<TensorRequest> Network::tensor_requests() const {
  std::vector<TensorRequest> req;
  int64_t in = 3;
  for (const LayerInfo& l : layers) {
    if (l.kind != LayerKind::Conv) continue;
    req.push_back({weight_name(l.conv), {l.channels, in, 3, 3}});
    req.push_back({bias_name(l.conv), {l.channels}});
    in = l.channels;
  }
  return req;
}

}  // namespace nst
