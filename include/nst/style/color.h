// Colour controls of a stylize() run, on RGB images in 0..255.
//
// Original colours (neural-style's -original_colors 1): the output keeps its luminance Y and
// takes the content's chrominance U, V, with neural-style's YUV:
//   Y = .299R + .587G + .114B;  U = -.14713R - .28886G + .436B;  V = .615R - .51499G - .10001B
// and the exact inverse of that matrix; the content is resized to the output's size first.
//
// Colour matching (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
// Transfer", colour histogram matching): each style image's pixels x (in 0..1) are mapped
// linearly onto the content's colour statistics, x' = A(x - μ_s) + μ_c with A Σ_s Aᵀ = Σ_c,
// Σ = pixel covariance + 1e-5·I, and clipped to the valid range:
//   pca:  A = Σ_c^½ Σ_s^-½                       (matrix square roots by eigendecomposition)
//   chol: A = L_c L_s⁻¹                          (Σ = L Lᵀ, Cholesky)
//   sym:  A = Σ_s^-½ (Σ_s^½ Σ_c Σ_s^½)^½ Σ_s^-½
#pragma once

#include "nst/io/image.h"
#include "nst/style/settings.h"

#include <Eigen/Core>

namespace nst {

// The YUV matrix above (rows Y, U, V) and its inverse.
const Eigen::Matrix3d& rgb_to_yuv_matrix();
const Eigen::Matrix3d& yuv_to_rgb_matrix();

// `stylized`'s Y with `content`'s U and V (content resized to stylized's size); clamped to 0..255.
Image keep_original_colors(const Image& stylized, const Image& content);

// Mean and covariance (+1e-5·I) of an image's pixels in 0..1 units.
struct ColorStats {
  Eigen::Vector3d mean;
  Eigen::Matrix3d cov;
};
ColorStats color_stats(const Image& img);

// The matrix A of `mode` (not None) for the given covariances.
Eigen::Matrix3d color_transform(const Eigen::Matrix3d& cov_style, const Eigen::Matrix3d& cov_content, ColorMatch mode);

// `style` with its colours matched to `content`'s; None returns style unchanged.
Image match_colors(const Image& style, const Image& content, ColorMatch mode);

}  // namespace nst
