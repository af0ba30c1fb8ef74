// Colour controls: neural-style's YUV against hand-computed values and a round trip;
// --original-colors keeps the content's chrominance and the stylized luminance; the colour
// matching transforms satisfy A Σ_s Aᵀ = Σ_c, match hand-computed diagonal cases, and map a
// style image's mean and covariance onto the content's.
#include <doctest/doctest.h>

#include "nst/style/color.h"
#include "support/tiny_vgg.h"

#include <cmath>

using namespace nst;
using nst::testing::random_image;

TEST_CASE("YUV: neural-style's matrix, hand-computed values, its published inverse, a round trip") {
  const Eigen::Matrix3d& m = rgb_to_yuv_matrix();
  const Eigen::Vector3d red = m * Eigen::Vector3d(255, 0, 0);
  CHECK(red[0] == doctest::Approx(76.245));
  CHECK(red[1] == doctest::Approx(-37.51815));
  CHECK(red[2] == doctest::Approx(156.825));
  const Eigen::Vector3d gray = m * Eigen::Vector3d(100, 100, 100);
  CHECK(gray[0] == doctest::Approx(100));
  CHECK(gray[1] == doctest::Approx(100 * (-0.14713 - 0.28886 + 0.436)));  // 0.001: the rows as published
  CHECK(std::abs(gray[2]) < 1e-9);
  // The usual inverse coefficients: R = Y + 1.13983V, G = Y - .39465U - .58060V, B = Y + 2.03211U.
  const Eigen::Matrix3d& inv = yuv_to_rgb_matrix();
  CHECK(inv(0, 2) == doctest::Approx(1.13983).epsilon(1e-4));
  CHECK(inv(1, 1) == doctest::Approx(-0.39465).epsilon(1e-4));
  CHECK(inv(1, 2) == doctest::Approx(-0.58060).epsilon(1e-4));
  CHECK(inv(2, 1) == doctest::Approx(2.03211).epsilon(1e-4));
  CHECK(std::abs(inv(0, 1)) < 1e-4);
  CHECK((inv * m - Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("keep_original_colors: U, V of the content within 1/255 after 8-bit rounding; Y of the stylized") {
  // Mid-range colours, so that no pixel clips.
  const Image stylized = random_image(13, 9, 1, 90, 170);
  const Image content = random_image(13, 9, 2, 90, 170);
  const Image out = keep_original_colors(stylized, content);
  REQUIRE(out.width == 13);
  const Eigen::Matrix3d& m = rgb_to_yuv_matrix();
  double worst_uv = 0, worst_y = 0;
  for (size_t i = 0; i < out.rgb.size() / 3; ++i) {
    Eigen::Vector3d o, s, c;
    for (int k = 0; k < 3; ++k) {
      o[k] = std::round(out.rgb[3 * i + static_cast<size_t>(k)]);  // as saved in 8 bits
      s[k] = stylized.rgb[3 * i + static_cast<size_t>(k)];
      c[k] = content.rgb[3 * i + static_cast<size_t>(k)];
    }
    const Eigen::Vector3d yo = m * o, ys = m * s, yc = m * c;
    worst_uv = std::max({worst_uv, std::abs(yo[1] - yc[1]), std::abs(yo[2] - yc[2])});
    worst_y = std::max(worst_y, std::abs(yo[0] - ys[0]));
  }
  // 1/255 of full scale is 1 in these 0..255 units (8-bit rounding alone moves V by <= 0.62).
  CHECK(worst_uv <= 1.0);
  CHECK(worst_y <= 1.0);
  // And the output is not simply the content or the stylized image.
  CHECK(out.rgb != content.rgb);
  CHECK(out.rgb != stylized.rgb);
}

TEST_CASE("color_transform: A Σs Aᵀ = Σc for pca, chol and sym; hand-computed diagonal case; shapes") {
  Eigen::Matrix3d cs, cc;
  cs << 0.04, 0.01, 0.005, 0.01, 0.03, 0.002, 0.005, 0.002, 0.02;
  cc << 0.02, -0.004, 0.001, -0.004, 0.05, 0.01, 0.001, 0.01, 0.03;
  for (ColorMatch mode : {ColorMatch::Pca, ColorMatch::Cholesky, ColorMatch::Symmetric}) {
    INFO(to_string(mode));
    const Eigen::Matrix3d a = color_transform(cs, cc, mode);
    CHECK((a * cs * a.transpose() - cc).cwiseAbs().maxCoeff() < 1e-12);
  }
  const Eigen::Matrix3d chol = color_transform(cs, cc, ColorMatch::Cholesky);
  CHECK(std::abs(chol(0, 1)) + std::abs(chol(0, 2)) + std::abs(chol(1, 2)) < 1e-12);  // lower triangular
  const Eigen::Matrix3d sym = color_transform(cs, cc, ColorMatch::Symmetric);
  CHECK((sym - sym.transpose()).cwiseAbs().maxCoeff() < 1e-12);
  // The three differ in general.
  CHECK((color_transform(cs, cc, ColorMatch::Pca) - chol).cwiseAbs().maxCoeff() > 1e-3);
  CHECK((sym - chol).cwiseAbs().maxCoeff() > 1e-3);
  // Diagonal covariances: every mode gives A = diag(sqrt(c_k / s_k)).
  const Eigen::Matrix3d ds = Eigen::Vector3d(0.04, 0.01, 0.09).asDiagonal();
  const Eigen::Matrix3d dc = Eigen::Vector3d(0.01, 0.04, 0.01).asDiagonal();
  const Eigen::Matrix3d want = Eigen::Vector3d(0.5, 2.0, 1.0 / 3.0).asDiagonal();
  for (ColorMatch mode : {ColorMatch::Pca, ColorMatch::Cholesky, ColorMatch::Symmetric})
    CHECK((color_transform(ds, dc, mode) - want).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("match_colors: the style's mean and covariance become the content's (no clipping)") {
  const Image style = random_image(40, 30, 3, 60, 120);
  Image content = random_image(30, 20, 4, 100, 160);
  for (size_t i = 0; i < content.rgb.size(); i += 3) content.rgb[i + 1] = 0.5f * content.rgb[i] + 40;  // correlated
  const ColorStats c = color_stats(content);
  for (ColorMatch mode : {ColorMatch::Pca, ColorMatch::Cholesky, ColorMatch::Symmetric}) {
    INFO(to_string(mode));
    const ColorStats m = color_stats(match_colors(style, content, mode));
    CHECK((m.mean - c.mean).cwiseAbs().maxCoeff() < 1e-5);
    CHECK((m.cov - c.cov).cwiseAbs().maxCoeff() < 1e-5);
  }
  CHECK(match_colors(style, content, ColorMatch::None).rgb == style.rgb);
}
