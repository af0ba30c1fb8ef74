// Tiny synthetic VGG networks (any Network table, a few channels per layer) and random images,
// for tests that run the whole pipeline in milliseconds.
#pragma once

#include "nst/io/image.h"
#include "nst/model/vgg19.h"

#include <cmath>
#include <map>
#include <random>
#include <string>

namespace nst::testing {

// Tensors named as in the file (features.N.weight / .bias), `width` output channels each.
template <class T>
std::map<std::string, Tensor<T>> tiny_vgg_tensors(const Network& net, uint64_t seed, int64_t width = 4) {
  std::mt19937_64 rng(seed);
  std::map<std::string, Tensor<T>> m;
  int64_t in = 3;
  for (int i = 0; i < net.conv_count; ++i) {
    const double bound = std::sqrt(6.0 / static_cast<double>(in * 9));
    std::uniform_real_distribution<double> u(-bound, bound);
    Tensor<T> w({width, in, 3, 3}), b({width});
    for (int64_t j = 0; j < w.numel(); ++j) w[j] = static_cast<T>(u(rng));
    for (int64_t j = 0; j < b.numel(); ++j) b[j] = static_cast<T>(0.05);
    m[net.weight_name(i)] = w;
    m[net.bias_name(i)] = b;
    in = width;
  }
  return m;
}

template <class T>
Vgg<T> tiny_vgg(const Network& net, uint64_t seed, int64_t width = 4) {
  return Vgg<T>::from_tensors(tiny_vgg_tensors<T>(net, seed, width), Preprocess::Caffe, net);
}

// Uniform pixels in [lo, hi], rounded.
inline Image random_image(int w, int h, uint64_t seed, float lo = 0, float hi = 255) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(static_cast<size_t>(w * h * 3));
  for (float& v : img.rgb) v = std::round(u(rng));
  return img;
}

}  // namespace nst::testing
