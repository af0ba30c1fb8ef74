// The benchmarks' square inputs (bench_nst --resize square, winograd_accuracy): the largest
// centred square of an image.
#pragma once

#include "nst/io/image.h"

#include <algorithm>
#include <cstddef>

namespace nst::bench {

inline Image center_square(const Image& img) {
  const int side = std::min(img.width, img.height);
  const int x0 = (img.width - side) / 2, y0 = (img.height - side) / 2;
  Image out;
  out.width = out.height = side;
  out.rgb.resize(static_cast<size_t>(side) * side * 3);
  for (int y = 0; y < side; ++y)
    std::copy_n(img.rgb.begin() + ((static_cast<ptrdiff_t>(y0 + y) * img.width + x0) * 3), side * 3,
                out.rgb.begin() + static_cast<ptrdiff_t>(y) * side * 3);
  return out;
}

}  // namespace nst::bench
