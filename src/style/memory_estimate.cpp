#include "nst/style/memory_estimate.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace nst {

namespace {

// Output channels of VGG19's 16 convolutions, in order.
constexpr int64_t kWidths[16] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512};

// Calibration against the peak RSS (/usr/bin/time -v) of the nst command with the real weights,
// relu5_1 deepest, 2 threads, --lbfgs-history 1, 3 iterations, 2026-11-25 (Winograd convolutions):
//   128x96: 316 MiB measured, 320 estimated;  256x192: 384 / 388;  512x384: 611 / 656.
// Per value of the layer walk below: what the graph keeps for backward (not every layer output
// is kept), the gradients alive during backward and the convolution's transform buffers
// (which grow with the same H·W) together cost about 2.5 bytes; 2.75 leaves a small margin.
constexpr double kBytesPerActivation = 2.75;
constexpr int64_t kBaseBytes = 24ll << 20;

struct Walk {
  int64_t activations = 0;  // floats of every layer output up to the deepest layer
  int64_t winograd = 0;     // floats of the transformed weights of the convolutions used
};

Walk walk(int64_t h, int64_t w, size_t deepest) {
  const auto& names = vgg19_layer_names();
  Walk r;
  int64_t c = 3;
  int conv = 0;
  r.activations += c * h * w;  // the input
  for (size_t i = 0; i <= deepest; ++i) {
    const std::string& name = names[i];
    if (name.rfind("conv", 0) == 0) {
      const int64_t k = kWidths[conv++];
      // Winograd F(4x4,3x3): the weights transformed to 6x6 tiles.
      r.winograd += 36 * k * c;
      c = k;
      r.activations += c * h * w;
    } else if (name.rfind("relu", 0) == 0) {
      r.activations += c * h * w;
    } else {  // pool: 2x2, stride 2
      h = std::max<int64_t>(1, h / 2);
      w = std::max<int64_t>(1, w / 2);
      r.activations += c * h * w;
    }
  }
  return r;
}

}  // namespace

MemoryEstimate estimate_stylize_memory(int64_t content_h, int64_t content_w, int64_t style_h, int64_t style_w,
                                       const StylizeSettings& settings) {
  if (content_h < 1 || content_w < 1 || style_h < 1 || style_w < 1)
    throw std::invalid_argument("estimate_stylize_memory: image sizes must be >= 1");
  if (settings.lbfgs_history < 1) throw std::invalid_argument("estimate_stylize_memory: lbfgs_history must be >= 1");
  size_t deepest = 0;
  for (const auto* list : {&settings.loss.content_layers, &settings.loss.style_layers})
    for (const std::string& l : *list) deepest = std::max(deepest, vgg19_layer_index(l));

  const Walk content = walk(content_h, content_w, deepest);
  const Walk style = walk(style_h, style_w, deepest);
  int64_t all_weights = 0, in = 3;
  for (int64_t k : kWidths) {
    all_weights += k * in * 9 + k;
    in = k;
  }
  const double n = 3.0 * static_cast<double>(content_h) * static_cast<double>(content_w);
  MemoryEstimate e;
  e.weights = 4 * (all_weights + content.winograd);
  e.activations = static_cast<int64_t>(kBytesPerActivation * static_cast<double>(std::max(content.activations, style.activations)));
  const double pair_bytes = settings.lbfgs_precision == HistoryPrecision::Half ? 2.0 : 4.0;
  e.lbfgs = static_cast<int64_t>((2.0 * settings.lbfgs_history * pair_bytes + 10.0 * 4.0) * n);
  e.base = kBaseBytes;
  return e;
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
