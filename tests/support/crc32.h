// Test helper (header-only): the CRC-32 of PNG chunks (and zlib, gzip), for hand-made PNGs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace nst::testing {

inline uint32_t crc32(const unsigned char* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

inline uint32_t crc32(const std::string& bytes) {
  return crc32(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

}  // namespace nst::testing
