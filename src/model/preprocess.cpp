#include "nst/model/preprocess.h"

namespace nst {

namespace {

// Per network channel c: value = (pixel[src[c]] * mul - sub[c]) / div[c].
struct Convention {
  int src[3];  // RGB index feeding each network channel
  float mul;
  float sub[3];
  float div[3];
};

Convention convention(Preprocess p) {
  if (p == Preprocess::Caffe)  // B, G, R; 0..255 minus the mean pixel
    return {{2, 1, 0}, 1.0f, {103.939f, 116.779f, 123.68f}, {1, 1, 1}};
  return {{0, 1, 2}, 1.0f / 255.0f, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
}

}  // namespace

Tensor<float> image_to_input(const Image& img, Preprocess p) {
  const Convention cv = convention(p);
  const int64_t H = img.height, W = img.width;
  if (H < 1 || W < 1 || static_cast<int64_t>(img.rgb.size()) != H * W * 3)
    throw std::invalid_argument("image_to_input: malformed image");
  Tensor<float> x({1, 3, H, W});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < H * W; ++i)
      x[c * H * W + i] = (img.rgb[static_cast<size_t>(i * 3 + cv.src[c])] * cv.mul - cv.sub[c]) / cv.div[c];
  return x;
}

float pixels_per_input_unit(Preprocess p, int channel) {
  const Convention cv = convention(p);
  return cv.div[channel] / cv.mul;
}

Image input_to_image(const Tensor<float>& x, Preprocess p) {
  require_nchw(x.shape(), "input_to_image");
  if (x.dim(0) != 1 || x.dim(1) != 3)
    throw std::invalid_argument("input_to_image: expected [1,3,H,W], got " + shape_str(x.shape()));
  const Convention cv = convention(p);
  const int64_t H = x.dim(2), W = x.dim(3);
  Image img;
  img.width = static_cast<int>(W);
  img.height = static_cast<int>(H);
  img.rgb.resize(static_cast<size_t>(H * W * 3));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < H * W; ++i)
      img.rgb[static_cast<size_t>(i * 3 + cv.src[c])] = (x[c * H * W + i] * cv.div[c] + cv.sub[c]) / cv.mul;
  return img;
}

}  // namespace nst
