#include "nst/io/exif.h"

#include <cstdint>
#include <cstring>

namespace nst {

int exif_orientation(const unsigned char* p, size_t n) {
  if (p == nullptr) return 1;
  if (n >= 6 && std::memcmp(p, "Exif\0\0", 6) == 0) {
    p += 6;
    n -= 6;
  }
  if (n < 8) return 1;
  bool little;
  if (std::memcmp(p, "II*\0", 4) == 0) little = true;
  else if (std::memcmp(p, "MM\0*", 4) == 0) little = false;
  else return 1;
  const auto u16 = [&](size_t at) -> uint32_t {
    return little ? uint32_t{p[at]} | uint32_t{p[at + 1]} << 8 : uint32_t{p[at]} << 8 | uint32_t{p[at + 1]};
  };
  const auto u32 = [&](size_t at) -> uint32_t {
    return little ? u16(at) | u16(at + 2) << 16 : u16(at) << 16 | u16(at + 2);
  };
  const uint32_t ifd = u32(4);
  if (ifd < 8 || ifd > n - 2) return 1;
  const uint32_t count = u16(ifd);
  // Each entry: tag (2), type (2), count (4), value or offset (4).
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = size_t{ifd} + 2 + size_t{i} * 12;
    if (e + 12 > n) return 1;
    if (u16(e) != 0x0112) continue;
    if (u16(e + 2) != 3 || u32(e + 4) != 1) return 1;  // must be one SHORT, stored inline
    const uint32_t v = u16(e + 8);
    return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
  }
  return 1;
}

}  // namespace nst
