#include "nst/style/tiled_loss.h"

#include "nst/ops/conv2d.h"
#include "nst/ops/elementwise.h"
#include "nst/ops/gram.h"
#include "nst/ops/losses.h"
#include "nst/style/settings.h"

#include <Eigen/Core>

#include <algorithm>
#include <stdexcept>

namespace nst {

int64_t receptive_radius(const Network& network, size_t deepest) {
  int64_t radius = 0, stride = 1;
  for (size_t i = 0; i <= deepest && i < network.layers.size(); ++i) {
    switch (network.layers[i].kind) {
      case LayerKind::Conv:
        radius += stride;  // 3x3: one pixel of the current grid on each side
        break;
      case LayerKind::Pool:
        radius += stride;  // 2x2, stride 2: one more pixel of the current grid on one side
        stride *= 2;
        break;
      case LayerKind::Relu:
        break;
    }
  }
  return radius;
}

HaloReach winograd_reach(const Network& network, size_t deepest) {
  // Where in a 4-wide Winograd output tile an output sits (k = x mod 4) -> how far before and
  // after it the inputs its rounding depends on reach: y0 reads d0..d4, y1 and y2 d1..d4, y3
  // d1..d5, with d0 = x - k - 1 (kernels/winograd.h: Bᵀ and Aᵀ).
  static const int64_t kBefore[4] = {1, 1, 2, 3}, kAfter[4] = {3, 2, 1, 1};
  auto mod4 = [](int64_t v) { return ((v % 4) + 4) % 4; };
  int64_t before = 0, after = -1;  // offsets from the interior's first / one past its last feature
  const size_t last = std::min(deepest, network.layers.size() - 1);
  for (size_t n = last + 1; n-- > 0;) {
    switch (network.layers[n].kind) {
      case LayerKind::Conv:
        before -= kBefore[mod4(before)];
        after += kAfter[mod4(after)];
        break;
      case LayerKind::Pool:  // output x reads inputs 2x, 2x + 1
        before *= 2;
        after = 2 * after + 1;
        break;
      case LayerKind::Relu:
        break;
    }
  }
  return {-before, after + 1};
}

int64_t tile_alignment(const Network& network, const std::vector<std::string>& layers) {
  return 4 * network.min_side(layers);  // Winograd F(4x4,3x3) output tiles at the deepest level
}

TileGrid make_tile_grid(const Network& network, const std::vector<std::string>& layers, int64_t h, int64_t w,
                        int64_t tile) {
  if (h < 1 || w < 1 || tile < 1) throw std::invalid_argument("make_tile_grid: sizes must be >= 1");
  TileGrid g;
  g.height = h;
  g.width = w;
  g.align = tile_alignment(network, layers);
  g.tile = std::max(g.align, tile / g.align * g.align);
  const HaloReach reach = winograd_reach(network, network.deepest(layers));
  const int64_t pool = network.min_side(layers);
  g.halo = (reach.before + g.align - 1) / g.align * g.align;
  g.halo_after = (reach.after + pool - 1) / pool * pool;
  g.rows = (h + g.tile - 1) / g.tile;
  g.cols = (w + g.tile - 1) / g.tile;
  return g;
}

namespace {

struct Region {
  int64_t r0, r1, c0, c1;  // input rows/cols of the tile with its halo
  int64_t i0, i1, j0, j1;  // the interior
};

Region region(const TileGrid& g, int64_t row, int64_t col) {
  Region r;
  r.i0 = row * g.tile;
  r.i1 = std::min(g.height, r.i0 + g.tile);
  r.j0 = col * g.tile;
  r.j1 = std::min(g.width, r.j0 + g.tile);
  r.r0 = std::max<int64_t>(0, r.i0 - g.halo);
  r.r1 = std::min(g.height, r.i1 + g.halo_after);
  r.c0 = std::max<int64_t>(0, r.j0 - g.halo);
  r.c1 = std::min(g.width, r.j1 + g.halo_after);
  return r;
}

template <class T>
Tensor<T> crop(const Tensor<T>& x, const Region& r) {
  const int64_t c = x.shape()[1], w = x.shape()[3];
  Tensor<T> out({1, c, r.r1 - r.r0, r.c1 - r.c0});
  const int64_t ow = r.c1 - r.c0;
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = r.r0; y < r.r1; ++y)
      std::copy(x.data() + (k * x.shape()[2] + y) * w + r.c0, x.data() + (k * x.shape()[2] + y) * w + r.c1,
                out.data() + (k * (r.r1 - r.r0) + (y - r.r0)) * ow);
  return out;
}

// Where a tile's interior lies in a feature map of pool level p: rows [y0, y1) of the tile's
// map and [gy0, ...) of the whole image's (likewise columns).
struct FeatureWindow {
  int64_t y0, y1, x0, x1;  // in the tile's feature map
  int64_t gy0, gx0;        // the same first row/column in the whole image's map
};

FeatureWindow window(const TileGrid& g, const Region& r, int pool_level) {
  const int64_t hl = g.height >> pool_level, wl = g.width >> pool_level;
  FeatureWindow f;
  f.gy0 = r.i0 >> pool_level;
  f.gx0 = r.j0 >> pool_level;
  const int64_t gy1 = r.i1 == g.height ? hl : r.i1 >> pool_level;
  const int64_t gx1 = r.j1 == g.width ? wl : r.j1 >> pool_level;
  f.y0 = f.gy0 - (r.r0 >> pool_level);
  f.x0 = f.gx0 - (r.c0 >> pool_level);
  f.y1 = f.y0 + (gy1 - f.gy0);
  f.x1 = f.x0 + (gx1 - f.gx0);
  return f;
}

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The interior of a (1, C, h, w) feature map as a C x n row-major matrix (n positions, by row).
template <class T>
RowMatrix<T> interior(const Tensor<T>& f, const FeatureWindow& w) {
  const int64_t c = f.shape()[1], h = f.shape()[2], wd = f.shape()[3];
  const int64_t rows = w.y1 - w.y0, cols = w.x1 - w.x0;
  RowMatrix<T> m(c, rows * cols);
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < rows; ++y)
      std::copy_n(f.data() + (k * h + w.y0 + y) * wd + w.x0, cols, m.data() + (k * rows + y) * cols);
  return m;
}

// A feature-shaped tensor, zero outside the window, holding the C x n matrix m inside it.
template <class T>
std::shared_ptr<const Tensor<T>> place(const Shape& shape, const RowMatrix<T>& m, const FeatureWindow& w) {
  auto out = std::make_shared<Tensor<T>>(shape);
  const int64_t c = shape[1], h = shape[2], wd = shape[3];
  const int64_t rows = w.y1 - w.y0, cols = w.x1 - w.x0;
  T* o = out->data();
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < rows; ++y)
      std::copy_n(m.data() + (k * rows + y) * cols, cols, o + (k * h + w.y0 + y) * wd + w.x0);
  return out;
}

// Multiply-adds of the 3x3 convolutions up to `deepest` on an h x w input.
double conv_work(const Network& network, size_t deepest, int64_t h, int64_t w) {
  double work = 0;
  int64_t c = 3;
  for (size_t i = 0; i <= deepest && i < network.layers.size(); ++i) {
    const LayerInfo& layer = network.layers[i];
    if (layer.kind == LayerKind::Conv) {
      work += 9.0 * static_cast<double>(h) * static_cast<double>(w) * static_cast<double>(c * layer.channels);
      c = layer.channels;
    }
    if (layer.kind == LayerKind::Pool) h /= 2, w /= 2;
  }
  return work;
}

}  // namespace

double tiled_work_factor(const Network& network, const std::vector<std::string>& layers, const TileGrid& g) {
  const size_t deepest = network.deepest(layers);
  double tiles = 0;
  for (int64_t row = 0; row < g.rows; ++row)
    for (int64_t col = 0; col < g.cols; ++col) {
      const Region r = region(g, row, col);
      tiles += conv_work(network, deepest, r.r1 - r.r0, r.c1 - r.c0);
    }
  return tiles / conv_work(network, deepest, g.height, g.width) * 4.0 / 3.0;
}

template <class T>
struct TiledGatysLoss<T>::Sums {
  std::vector<Eigen::MatrixXd> grams;   // per style layer: Σ F Fᵀ over the interiors
  std::vector<double> content;          // per content layer: Σ (F − P)²
  std::vector<int64_t> style_n, content_n;  // C·H·W of each layer's whole map
  std::vector<int64_t> style_c;
};

template <class T>
typename TiledGatysLoss<T>::Sums TiledGatysLoss<T>::accumulate(const Tensor<T>& x, const TileGrid& grid,
                                                                bool with_content) const {
  const Network& network = *net_.network;
  Sums s;
  // (Channel counts from the features themselves: the weights may have other widths than the
  // network's table, e.g. the tests' tiny networks.)
  s.grams.resize(config_.style_layers.size());
  s.style_c.assign(config_.style_layers.size(), 0);
  s.style_n.assign(config_.style_layers.size(), 0);
  s.content.assign(config_.content_layers.size(), 0.0);
  const std::vector<std::string> wanted = with_content ? layers_ : config_.style_layers;
  for (int64_t row = 0; row < grid.rows; ++row)
    for (int64_t col = 0; col < grid.cols; ++col) {
      const Region r = region(grid, row, col);
      auto feats = net_.forward(constant(crop(x, r)), wanted, config_.pooling);
      for (size_t l = 0; l < config_.style_layers.size(); ++l) {
        const Tensor<T>& f = feats.at(config_.style_layers[l]).value();
        const RowMatrix<T> m = interior(f, window(grid, r, network.layer(config_.style_layers[l]).pool_level));
        RowMatrix<T> g(m.rows(), m.rows());
        gram_product(m.data(), m.rows(), m.cols(), m.cols(), g.data());
        if (s.grams[l].size() == 0) s.grams[l] = Eigen::MatrixXd::Zero(g.rows(), g.cols());
        s.grams[l] += g.template cast<double>();
      }
      if (!with_content) continue;
      for (size_t l = 0; l < config_.content_layers.size(); ++l) {
        const int level = network.layer(config_.content_layers[l]).pool_level;
        const FeatureWindow w = window(grid, r, level);
        const Tensor<T>& f = feats.at(config_.content_layers[l]).value();
        const Tensor<T>& p = content_targets_[l];
        const int64_t c = f.shape()[1], fh = f.shape()[2], fw = f.shape()[3], ph = p.shape()[2], pw = p.shape()[3];
        double sum = 0;
        for (int64_t k = 0; k < c; ++k)
          for (int64_t y = 0; y < w.y1 - w.y0; ++y) {
            const T* fr = f.data() + (k * fh + w.y0 + y) * fw + w.x0;
            const T* pr = p.data() + (k * ph + w.gy0 + y) * pw + w.gx0;
            for (int64_t i = 0; i < w.x1 - w.x0; ++i) {
              const double d = static_cast<double>(fr[i]) - static_cast<double>(pr[i]);
              sum += d * d;
            }
          }
        s.content[l] += sum;
      }
    }
  for (size_t l = 0; l < config_.style_layers.size(); ++l) {
    const int level = network.layer(config_.style_layers[l]).pool_level;
    s.style_c[l] = s.grams[l].rows();
    s.style_n[l] = s.style_c[l] * (grid.height >> level) * (grid.width >> level);
  }
  for (size_t l = 0; l < config_.content_layers.size(); ++l) {
    const Shape& p = content_targets_[l].shape();
    s.content_n.push_back(p[1] * p[2] * p[3]);
  }
  return s;
}

template <class T>
TiledGatysLoss<T>::TiledGatysLoss(const Vgg<T>& net, const Tensor<T>& content, const std::vector<Tensor<T>>& styles,
                                  std::vector<double> blend, GatysConfig config, int64_t tile)
    : net_(net), config_(std::move(config)), tile_(tile) {
  validate(config_, *net.network);
  if (config_.normalize_gradients)
    throw SettingsError("loss.normalize_gradients", "not supported by the tiled evaluation");
  validate_style_blend(blend, static_cast<int64_t>(styles.size()), "style_blend");
  if (config_.style_layer_weights.empty()) config_.style_layer_weights.assign(config_.style_layers.size(), 1.0);
  if (!config_.style_layers.empty() && styles.empty()) throw SettingsError("style_layers", "style layers but no style image");
  if (blend.empty()) blend.assign(styles.size(), 1.0);
  double blend_sum = 0;
  for (double b : blend) blend_sum += b;
  layers_ = config_.content_layers;
  layers_.insert(layers_.end(), config_.style_layers.begin(), config_.style_layers.end());
  const Network& network = *net.network;
  grid_ = make_tile_grid(network, layers_, content.shape()[2], content.shape()[3], tile);

  // Content targets: each tile's interior features, put in place (allocated at the first tile,
  // which tells the channel count).
  content_targets_.resize(config_.content_layers.size());
  if (!config_.content_layers.empty())
    for (int64_t row = 0; row < grid_.rows; ++row)
      for (int64_t col = 0; col < grid_.cols; ++col) {
        const Region r = region(grid_, row, col);
        auto feats = net_.forward(constant(crop(content, r)), config_.content_layers, config_.pooling);
        for (size_t l = 0; l < config_.content_layers.size(); ++l) {
          const FeatureWindow w = window(grid_, r, network.layer(config_.content_layers[l]).pool_level);
          const Tensor<T>& f = feats.at(config_.content_layers[l]).value();
          Tensor<T>& p = content_targets_[l];
          if (p.empty()) {
            const int level = network.layer(config_.content_layers[l]).pool_level;
            p = Tensor<T>({1, f.shape()[1], grid_.height >> level, grid_.width >> level});
          }
          const int64_t c = f.shape()[1], fh = f.shape()[2], fw = f.shape()[3], ph = p.shape()[2], pw = p.shape()[3];
          for (int64_t k = 0; k < c; ++k)
            for (int64_t y = w.y0; y < w.y1; ++y)
              for (int64_t x = w.x0; x < w.x1; ++x)
                p[(k * ph + w.gy0 + y - w.y0) * pw + w.gx0 + x - w.x0] = f[(k * fh + y) * fw + x];
        }
      }
  // Style targets: Gram sums over each style image's tiles, normalized and blended.
  style_targets_.resize(config_.style_layers.size());
  for (size_t i = 0; i < styles.size() && !config_.style_layers.empty(); ++i) {
    const TileGrid sg = make_tile_grid(network, layers_, styles[i].shape()[2], styles[i].shape()[3], tile);
    const Sums s = accumulate(styles[i], sg, false);
    const double b = blend[i] / blend_sum;
    for (size_t l = 0; l < config_.style_layers.size(); ++l) {
      const Eigen::MatrixXd& g = s.grams[l];
      if (style_targets_[l].empty()) style_targets_[l] = Tensor<T>({g.rows(), g.cols()});
      for (int64_t a = 0; a < g.rows(); ++a)
        for (int64_t c = 0; c < g.cols(); ++c)
          style_targets_[l][a * g.cols() + c] += static_cast<T>(b * g(a, c) / static_cast<double>(s.style_n[l]));
    }
  }
  for (size_t l = 0; l < config_.content_layers.size(); ++l)
    content_factors_.push_back(content_term_factor(config_, content_targets_[l], config_.content_layers[l]));
  for (size_t l = 0; l < style_targets_.size(); ++l)
    style_factors_.push_back(style_term_factor(config_, l, style_targets_[l]));
  to_unit_pixels_ = tv_input_weights<T>(config_, net.preprocess);
  tv_factor_ = tv_term_factor(config_, grid_.height, grid_.width);
}

template <class T>
LossTerms TiledGatysLoss<T>::evaluate(const Tensor<T>& x, Tensor<T>* grad) const {
  const Shape shape{1, 3, grid_.height, grid_.width};
  require_same_shape(x.shape(), shape, "TiledGatysLoss::evaluate");
  if (grad) require_same_shape(grad->shape(), shape, "TiledGatysLoss::evaluate gradient");
  const Network& network = *net_.network;
  const Sums s = accumulate(x, grid_, true);

  // The loss, and each style layer's (G − A) as the gradient's coefficient matrix.
  LossTerms out;
  std::vector<RowMatrix<T>> style_coef;
  for (size_t l = 0; l < config_.style_layers.size(); ++l) {
    const int64_t c = s.style_c[l];
    const double n = static_cast<double>(s.style_n[l]);
    double sq = 0;
    RowMatrix<T> coef(c, c);
    const double k = 4.0 * config_.style_weight * style_factors_[l] / (static_cast<double>(c * c) * n);
    for (int64_t a = 0; a < c; ++a)
      for (int64_t b = 0; b < c; ++b) {
        const double d = s.grams[l](a, b) / n - static_cast<double>(style_targets_[l][a * c + b]);
        sq += d * d;
        coef(a, b) = static_cast<T>(k * d);
      }
    out.style += config_.style_weight * style_factors_[l] * sq / static_cast<double>(c * c);
    style_coef.push_back(std::move(coef));
  }
  for (size_t l = 0; l < config_.content_layers.size(); ++l)
    out.content += config_.content_weight * content_factors_[l] * s.content[l] / static_cast<double>(s.content_n[l]);
  const Var<T> image = leaf(x, grad != nullptr);
  const Var<T> tv_input = to_unit_pixels_ ? conv2d(image, to_unit_pixels_, 0) : image;
  const Var<T> tv = scale(total_variation(tv_input), static_cast<T>(config_.tv_weight * tv_factor_));
  out.tv = static_cast<double>(tv.value()[0]);
  out.total = out.content + out.style + out.tv;
  if (!grad) return out;
  backward(tv);
  for (int64_t i = 0; i < x.numel(); ++i) (*grad)[i] += image.grad()[i];

  // Pass 2: each tile's backward from its interior's feature gradients.
  for (int64_t row = 0; row < grid_.rows; ++row)
    for (int64_t col = 0; col < grid_.cols; ++col) {
      const Region r = region(grid_, row, col);
      const Var<T> tile = leaf(crop(x, r), true);
      std::vector<Var<T>> terms;
      {
        auto feats = net_.forward(tile, layers_, config_.pooling);
        for (size_t l = 0; l < config_.content_layers.size(); ++l) {
          const std::string& name = config_.content_layers[l];
          const FeatureWindow w = window(grid_, r, network.layer(name).pool_level);
          const Var<T>& f = feats.at(name);
          const Tensor<T>& p = content_targets_[l];
          const int64_t c = f.shape()[1], fh = f.shape()[2], fw = f.shape()[3], ph = p.shape()[2], pw = p.shape()[3];
          const T k = static_cast<T>(2.0 * config_.content_weight * content_factors_[l] /
                                     static_cast<double>(s.content_n[l]));
          auto coef = std::make_shared<Tensor<T>>(f.shape());
#pragma omp parallel for schedule(static)
          for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t y = 0; y < w.y1 - w.y0; ++y) {
              const T* fr = f.value().data() + (ch * fh + w.y0 + y) * fw + w.x0;
              const T* pr = p.data() + (ch * ph + w.gy0 + y) * pw + w.gx0;
              T* cr = coef->data() + (ch * fh + w.y0 + y) * fw + w.x0;
              for (int64_t i = 0; i < w.x1 - w.x0; ++i) cr[i] = k * (fr[i] - pr[i]);
            }
          terms.push_back(dot_constant(f, std::shared_ptr<const Tensor<T>>(std::move(coef))));
        }
        for (size_t l = 0; l < config_.style_layers.size(); ++l) {
          const std::string& name = config_.style_layers[l];
          const FeatureWindow w = window(grid_, r, network.layer(name).pool_level);
          const Var<T>& f = feats.at(name);
          const RowMatrix<T> m = interior(f.value(), w);
          RowMatrix<T> d(m.rows(), m.cols());
          gram_left_product(style_coef[l].data(), m.data(), m.rows(), m.cols(), m.cols(), d.data(), false);
          terms.push_back(dot_constant(f, place(f.shape(), d, w)));
        }
      }  // feature maps no backward reads are freed here
      backward(terms.size() == 1 ? terms[0] : sum(terms));
      const Tensor<T>& g = tile.grad();
      const int64_t th = r.r1 - r.r0, tw = r.c1 - r.c0;
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < th; ++y)
          for (int64_t xx = 0; xx < tw; ++xx)
            (*grad)[(c * grid_.height + r.r0 + y) * grid_.width + r.c0 + xx] += g[(c * th + y) * tw + xx];
    }
  return out;
}

template class TiledGatysLoss<float>;
template class TiledGatysLoss<double>;

}  // namespace nst
