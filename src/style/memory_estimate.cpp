#include "nst/style/memory_estimate.h"

#include "nst/kernels/winograd.h"
#include "nst/style/tiled_loss.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace nst {

namespace {

// Calibration against the peak RSS (/usr/bin/time -v) of the nst command with the real weights,
// relu5_1 deepest, 2 threads, --lbfgs-history 1, 3 iterations, 2026-11-25 (Winograd convolutions):
//   128x96: 316 MiB measured, 320 estimated;  256x192: 384 / 388;  512x384: 611 / 656.
// Per value of the layer walk below: what the graph keeps for backward (not every layer output
// is kept), the gradients alive during backward and the convolution's transform buffers
// (which grow with the same H·W) together cost about 2.5 bytes; 2.75 leaves a small margin.
constexpr double kBytesPerActivation = 2.75;
constexpr int64_t kBaseBytes = 24ll << 20;
// Tiled runs, calibrated the same way (2026-11-29, 2 threads, --lbfgs-history 2, 1-2 iterations,
// retained heap; measured peak / this estimate): 512x384 with tiles of 128 and 256 px: 527 / 528
// and 561 / 575 MiB; 1024x768, tiles of 256 and 512: 852 / 882 and 1125 / 1180 MiB (before
// stylize() released its image-size inputs); 2048x1536, tiles of 512: 1694 / 1735 MiB (with 10
// floats; 12 below). Fitted: a crop's layer values (the largest crop, a tile with
// its halos) cost about 1.5 bytes each (the whole-image calibration above counts buffers a
// tiled evaluation frees between tiles); about 48 MiB does not shrink with the tile (the
// convolutions' per-thread work buffers); and about 10 image-size floats more than the L-BFGS
// term's are alive (the TV term's image and gradient, the evaluation's gradient sums, the
// images and the heap's fragments between tiles of different sizes); 12 leaves a margin where
// the image-size terms dominate (4096 px).
// Re-measured 2026-12-05 (Xeon, 2 threads, the tiled loss on sgemm, heap policy off for tiled
// runs; peak RSS / estimate at 1.6 bytes per value, 4 iterations, the pairs not yet stored added):
// 1024x768, tiles of 384, 10 pairs: 1018 / 1022 MiB; 2048x1536, tiles of 1088, 5 pairs:
// 3331 / 3072 MiB (over); 4096x3072, tiles of 1024, 5 pairs: 5954 / 6144 MiB. Per value, the
// crops of the 2048 run needed 1.85 bytes; 1.95 covers it with a small margin, and estimates the
// two others 5-10% high (smaller tiles than they could have: slower, never over the budget).
constexpr double kTiledBytesPerActivation = 1.95;
constexpr int64_t kTiledFixedBytes = 48ll << 20;
constexpr double kTiledWholeVectors = 12.0;

struct Walk {
  int64_t activations = 0;  // floats of every layer output up to the deepest layer
  int64_t winograd = 0;     // floats of the transformed weights of the convolutions used
};

Walk walk(const Network& network, int64_t h, int64_t w, size_t deepest) {
  Walk r;
  int64_t c = 3;
  r.activations += c * h * w;  // the input
  for (size_t i = 0; i <= deepest; ++i) {
    const LayerInfo& layer = network.layers[i];
    if (layer.kind == LayerKind::Conv) r.winograd += kernels::winograd_weights_size(layer.channels, c);
    if (layer.kind == LayerKind::Pool) {  // 2x2, stride 2
      h = std::max<int64_t>(1, h / 2);
      w = std::max<int64_t>(1, w / 2);
    }
    c = layer.channels;
    r.activations += c * h * w;
  }
  return r;
}

}  // namespace

MemoryEstimate estimate_stylize_memory(int64_t content_h, int64_t content_w, int64_t style_h, int64_t style_w,
                                       const StylizeSettings& settings, const Network& network) {
  if (content_h < 1 || content_w < 1 || style_h < 1 || style_w < 1)
    throw std::invalid_argument("estimate_stylize_memory: image sizes must be >= 1");
  if (settings.lbfgs_history < 1) throw std::invalid_argument("estimate_stylize_memory: lbfgs_history must be >= 1");
  std::vector<std::string> layers = settings.loss.content_layers;
  layers.insert(layers.end(), settings.loss.style_layers.begin(), settings.loss.style_layers.end());
  const size_t deepest = network.deepest(layers);

  // Tiled: the largest crop (a tile with its halos) of the content and of the style images.
  int64_t ch = content_h, cw = content_w, sh = style_h, sw = style_w;
  if (settings.tile > 0) {
    const TileGrid g = make_tile_grid(network, layers, content_h, content_w, settings.tile);
    const int64_t crop = g.halo + g.tile + g.halo_after;
    ch = std::min(ch, crop);
    cw = std::min(cw, crop);
    sh = std::min(sh, crop);
    sw = std::min(sw, crop);
  }
  const Walk content = walk(network, ch, cw, deepest);
  const Walk style = walk(network, sh, sw, deepest);
  int64_t all_weights = 0;
  for (const TensorRequest& t : network.tensor_requests()) all_weights += shape_numel(t.shape);
  const double n = 3.0 * static_cast<double>(content_h) * static_cast<double>(content_w);
  MemoryEstimate e;
  // Every weight and the transforms of the layers used: a model as the C API loads it. The
  // command loads less (ModelUse, nst/model/vgg19.h: 60-80 MB at the default layers), so its
  // peak is 14-22% under this estimate at 128-512 px (2026-12-06), on the safe side.
  e.weights = 4 * (all_weights + content.winograd);
  const double per_value = settings.tile > 0 ? kTiledBytesPerActivation : kBytesPerActivation;
  e.activations = static_cast<int64_t>(per_value * static_cast<double>(std::max(content.activations, style.activations)));
  const double pair_bytes = settings.lbfgs_precision == HistoryPrecision::Half ? 2.0 : 4.0;
  // Adam keeps two moment vectors instead of the history.
  const double history = settings.optimizer == Optimizer::Adam ? 2.0 * 4.0 : 2.0 * settings.lbfgs_history * pair_bytes;
  e.lbfgs = static_cast<int64_t>((history + 10.0 * 4.0) * n);
  e.base = kBaseBytes;
  if (settings.tile > 0) {
    // Whole-image buffers of the tiled evaluation: the content layers' targets, and the image
    // and its gradient of the total-variation term.
    double targets = 0;
    for (const std::string& name : settings.loss.content_layers) {
      const LayerInfo& info = network.layer(name);
      targets += static_cast<double>(info.channels) * static_cast<double>(content_h >> info.pool_level) *
                 static_cast<double>(content_w >> info.pool_level);
    }
    e.tiled = static_cast<int64_t>(4.0 * (targets + kTiledWholeVectors * n)) + kTiledFixedBytes;
  }
  return e;
}

int64_t choose_tile(int64_t content_h, int64_t content_w, int64_t style_h, int64_t style_w,
                    const StylizeSettings& settings, int64_t budget, const Network& network) {
  std::vector<std::string> layers = settings.loss.content_layers;
  layers.insert(layers.end(), settings.loss.style_layers.begin(), settings.loss.style_layers.end());
  const int64_t align = tile_alignment(network, layers);
  StylizeSettings s = settings;
  // Tiles below the longest side, largest first (one as large as the image is no split).
  for (int64_t t = (std::max(content_h, content_w) - 1) / align * align; t >= align; t -= align) {
    s.tile = t;
    if (estimate_stylize_memory(content_h, content_w, style_h, style_w, s, network).total() <= budget) return t;
  }
  return 0;
}

int fit_lbfgs_history(int64_t content_h, int64_t content_w, int64_t style_h, int64_t style_w,
                      const StylizeSettings& settings, int64_t budget, const Network& network) {
  StylizeSettings s = settings;
  auto fits = [&](int m) {
    s.lbfgs_history = m;
    return estimate_stylize_memory(content_h, content_w, style_h, style_w, s, network).total() <= budget;
  };
  if (!fits(1)) return 0;
  int lo = 1, hi = settings.lbfgs_history;  // fits(lo); the estimate grows with m
  while (lo < hi) {
    const int mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

std::string format_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  else std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

}  // namespace nst
