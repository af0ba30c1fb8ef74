// Images <-> network input tensors, by the weights' preprocessing convention (vgg19.h).
#pragma once

#include "nst/io/image.h"
#include "nst/model/vgg19.h"

namespace nst {

// RGB 0..255 -> (1, 3, H, W) in the convention's channel order and units.
Tensor<float> image_to_input(const Image& img, Preprocess p);
// Pixel (0..255) units per input unit of network channel c (0..2, network order): 1 for caffe,
// 255·std_c for torchvision (≈ 58.4, 57.1, 57.4).
float pixels_per_input_unit(Preprocess p, int channel);
// The inverse. Values are not clamped (save_image clamps); NaN/Inf stay and are refused there.
Image input_to_image(const Tensor<float>& x, Preprocess p);

}  // namespace nst
