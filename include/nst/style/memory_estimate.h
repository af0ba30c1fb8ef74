// An estimate, made before any heavy work, of the peak memory a stylize() run needs, so that a
// front end can refuse a run that would not fit instead of failing (or swapping) half way.
//
// The model (bytes; n = 3·H·W variables of the content image):
//   weights      all the network's convolutions as float32, plus the Winograd transform (36/9 of
//                the 3x3 weights) of the convolutions the run uses
//   activations  a calibrated number of bytes per value of every layer output up to the deepest
//                layer used (conv, relu, pool): what the graph keeps for backward, the gradients
//                and the convolutions' work buffers; the larger of the content-size and
//                style-size passes
//   lbfgs        the history: 2·m·n values of 4 bytes (float) or 2 bytes (half, the default),
//                plus the vectors of L-BFGS and stylize() (about 10·n·4)
//   base         the process itself (code, libraries, thread stacks, decoded images)
//   tiled        settings.tile > 0 (style/tiled_loss.h): the activations are those of the largest
//                crop (a tile with its halos) instead of the whole image; what stays at the whole
//                image's size is here: the content layers' targets, 12·n floats (the TV term's
//                image and gradient, the gradient sums, fragments), and work buffers that do not
//                shrink with the tile. The
//                L-BFGS term is unchanged. Calibrated at 1024 px (memory_estimate.cpp); checked at
//                2048 and 4096 in benchmarks/RESULTS.md.
// The activation and base terms are calibrated against the peak RSS of real runs (numbers in
// src/style/memory_estimate.cpp): within about 10% above the measured peak at 128..512 pixels.
// Not modelled: more threads than 2 (per-thread buffers), allocator fragmentation.
#pragma once

#include "nst/style/stylize.h"

#include <cstdint>
#include <string>

namespace nst {

struct MemoryEstimate {
  int64_t weights = 0, activations = 0, lbfgs = 0, base = 0, tiled = 0;
  int64_t total() const { return weights + activations + lbfgs + base + tiled; }
};

// content_h x content_w: the content image as stylize() gets it; style_h x style_w: the largest
// style image; network: the one the weights hold. Throws std::invalid_argument for sizes < 1 or
// unknown layers.
MemoryEstimate estimate_stylize_memory(int64_t content_h, int64_t content_w, int64_t style_h, int64_t style_w,
                                       const StylizeSettings& settings, const Network& network = vgg19_network());

// The largest L-BFGS history m <= settings.lbfgs_history whose estimate (above) is at most
// `budget` bytes; 0 if not even m = 1 fits. For a run that fits by keeping fewer pairs.
int fit_lbfgs_history(int64_t content_h, int64_t content_w, int64_t style_h, int64_t style_w,
                      const StylizeSettings& settings, int64_t budget, const Network& network = vgg19_network());

// The largest tile size (a multiple of the grid's alignment, style/tiled_loss.h, below the
// content's longest side) whose estimate with settings (its lbfgs_history) is at most `budget`
// bytes; 0 if none is. settings.tile is ignored.
int64_t choose_tile(int64_t content_h, int64_t content_w, int64_t style_h, int64_t style_w,
                    const StylizeSettings& settings, int64_t budget, const Network& network = vgg19_network());

// "1.5 GiB", "312 MiB", "900 KiB", "12 B".
std::string format_bytes(int64_t bytes);

}  // namespace nst
