// Test helpers (header-only): a VGG19-shaped network with 4 channels per layer and random
// weights, and a random 8-bit-valued RGB image, for fast runs of the whole pipeline.
#pragma once

#include "nst/io/image.h"
#include "nst/model/vgg19.h"

#include <cmath>
#include <map>
#include <random>
#include <string>

namespace nst::testing {

inline Vgg<float> tiny_net(uint64_t seed) {
  static const int kFeature[16] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34};
  std::mt19937_64 rng(seed);
  std::map<std::string, Tensor<float>> m;
  int64_t in = 3;
  for (int i = 0; i < 16; ++i) {
    const std::string base = "features." + std::to_string(kFeature[i]);
    const float bound = std::sqrt(6.0f / static_cast<float>(in * 9));
    std::uniform_real_distribution<float> u(-bound, bound);
    Tensor<float> w({4, in, 3, 3}), b({4});
    for (int64_t j = 0; j < w.numel(); ++j) w[j] = u(rng);
    for (int64_t j = 0; j < b.numel(); ++j) b[j] = 0.05f;
    m[base + ".weight"] = w;
    m[base + ".bias"] = b;
    in = 4;
  }
  return Vgg<float>::from_tensors(m, Preprocess::Caffe);
}

inline Image random_image(int w, int h, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0, 255);
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(static_cast<size_t>(w * h * 3));
  for (float& v : img.rgb) v = std::round(u(rng));
  return img;
}

}  // namespace nst::testing
