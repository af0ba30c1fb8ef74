// Test helper (header-only): EXIF orientation blocks, and a JPEG with one inserted, as phone
// cameras write them.
#pragma once

#include <algorithm>
#include <iterator>
#include <vector>

namespace nst::testing {

// A TIFF block ("II", IFD0 with one entry: orientation = o), as in a PNG eXIf chunk; a JPEG APP1
// segment holds the same after "Exif\0\0".
inline std::vector<unsigned char> exif_block(int o) {
  std::vector<unsigned char> t = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0};
  t.push_back(static_cast<unsigned char>(o));
  for (int i = 0; i < 7; ++i) t.push_back(0);  // value padding, next-IFD offset 0
  return t;
}

// `jpeg` with an EXIF APP1 segment holding orientation o right after SOI. (Built in vectors
// sized up front: GCC 12 gave a false -Warray-bounds on inserting into a 6-byte vector.)
inline std::vector<unsigned char> with_exif_app1(const std::vector<unsigned char>& jpeg, int o) {
  const std::vector<unsigned char> t = exif_block(o);
  const unsigned char header[] = {0xFF, 0xD8, 0xFF, 0xE1, 0, static_cast<unsigned char>(6 + t.size() + 2),
                                  'E', 'x', 'i', 'f', 0, 0};
  std::vector<unsigned char> out(sizeof header + t.size() + (jpeg.size() - 2));
  auto at = std::copy(std::begin(header), std::end(header), out.begin());
  at = std::copy(t.begin(), t.end(), at);
  std::copy(jpeg.begin() + 2, jpeg.end(), at);
  return out;
}

}  // namespace nst::testing
