#include "nst/style/color.h"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/LU>

#include <algorithm>

namespace nst {

namespace {

float clamp255(double v) { return static_cast<float>(std::clamp(v, 0.0, 255.0)); }

// Σ^p of a symmetric positive definite matrix, by its eigendecomposition.
Eigen::Matrix3d spd_power(const Eigen::Matrix3d& m, double p) {
  const Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> es(m);
  const Eigen::Vector3d d = es.eigenvalues().array().max(1e-12).pow(p);
  return es.eigenvectors() * d.asDiagonal() * es.eigenvectors().transpose();
}

}  // namespace

const Eigen::Matrix3d& rgb_to_yuv_matrix() {
  static const Eigen::Matrix3d m = (Eigen::Matrix3d() << 0.299, 0.587, 0.114,  //
                                    -0.14713, -0.28886, 0.436,                 //
                                    0.615, -0.51499, -0.10001)
                                       .finished();
  return m;
}

const Eigen::Matrix3d& yuv_to_rgb_matrix() {
  static const Eigen::Matrix3d m = rgb_to_yuv_matrix().inverse();
  return m;
}

Image keep_original_colors(const Image& stylized, const Image& content_any_size) {
  const Image content = resize_image(content_any_size, stylized.width, stylized.height);
  const Eigen::Matrix3d& to_yuv = rgb_to_yuv_matrix();
  const Eigen::Matrix3d& to_rgb = yuv_to_rgb_matrix();
  Image out = stylized;
  const size_t n = static_cast<size_t>(stylized.width) * static_cast<size_t>(stylized.height);
  for (size_t i = 0; i < n; ++i) {
    const Eigen::Vector3d s(stylized.rgb[3 * i], stylized.rgb[3 * i + 1], stylized.rgb[3 * i + 2]);
    const Eigen::Vector3d c(content.rgb[3 * i], content.rgb[3 * i + 1], content.rgb[3 * i + 2]);
    Eigen::Vector3d yuv = to_yuv * c;
    yuv[0] = to_yuv.row(0).dot(s);
    const Eigen::Vector3d rgb = to_rgb * yuv;
    for (int k = 0; k < 3; ++k) out.rgb[3 * i + static_cast<size_t>(k)] = clamp255(rgb[k]);
  }
  return out;
}

ColorStats color_stats(const Image& img) {
  const size_t n = static_cast<size_t>(img.width) * static_cast<size_t>(img.height);
  if (n == 0 || img.rgb.size() != 3 * n) throw std::invalid_argument("color_stats: malformed image");
  ColorStats st;
  st.mean.setZero();
  for (size_t i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) st.mean[k] += img.rgb[3 * i + static_cast<size_t>(k)] / 255.0;
  st.mean /= static_cast<double>(n);
  st.cov.setZero();
  for (size_t i = 0; i < n; ++i) {
    const Eigen::Vector3d d = Eigen::Vector3d(img.rgb[3 * i], img.rgb[3 * i + 1], img.rgb[3 * i + 2]) / 255.0 - st.mean;
    st.cov += d * d.transpose();
  }
  st.cov /= static_cast<double>(n);
  st.cov += 1e-5 * Eigen::Matrix3d::Identity();
  return st;
}

Eigen::Matrix3d color_transform(const Eigen::Matrix3d& cs, const Eigen::Matrix3d& cc, ColorMatch mode) {
  switch (mode) {
    case ColorMatch::Pca:
      return spd_power(cc, 0.5) * spd_power(cs, -0.5);
    case ColorMatch::Cholesky: {
      const Eigen::Matrix3d lc = cc.llt().matrixL(), ls = cs.llt().matrixL();
      return lc * ls.inverse();
    }
    case ColorMatch::Symmetric: {
      const Eigen::Matrix3d s_half = spd_power(cs, 0.5), s_inv_half = spd_power(cs, -0.5);
      return s_inv_half * spd_power(s_half * cc * s_half, 0.5) * s_inv_half;
    }
    case ColorMatch::None:
      break;
  }
  return Eigen::Matrix3d::Identity();
}

Image match_colors(const Image& style, const Image& content, ColorMatch mode) {
  if (mode == ColorMatch::None) return style;
  const ColorStats s = color_stats(style), c = color_stats(content);
  const Eigen::Matrix3d a = color_transform(s.cov, c.cov, mode);
  Image out = style;
  const size_t n = static_cast<size_t>(style.width) * static_cast<size_t>(style.height);
  for (size_t i = 0; i < n; ++i) {
    const Eigen::Vector3d x = Eigen::Vector3d(style.rgb[3 * i], style.rgb[3 * i + 1], style.rgb[3 * i + 2]) / 255.0;
    const Eigen::Vector3d y = a * (x - s.mean) + c.mean;
    for (int k = 0; k < 3; ++k) out.rgb[3 * i + static_cast<size_t>(k)] = clamp255(255.0 * y[k]);
  }
  return out;
}

}  // namespace nst
