// Test helper (header-only): EXIF orientation blocks, and a JPEG with one inserted, as phone
// cameras write them.
#pragma once

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

// `jpeg` with an EXIF APP1 segment holding orientation o right after SOI.
inline std::vector<unsigned char> with_exif_app1(const std::vector<unsigned char>& jpeg, int o) {
  std::vector<unsigned char> body = {'E', 'x', 'i', 'f', 0, 0};
  const std::vector<unsigned char> t = exif_block(o);
  body.insert(body.end(), t.begin(), t.end());
  std::vector<unsigned char> out = {0xFF, 0xD8, 0xFF, 0xE1, 0, static_cast<unsigned char>(body.size() + 2)};
  out.insert(out.end(), body.begin(), body.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

}  // namespace nst::testing
