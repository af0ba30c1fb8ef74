#include "nst/hash.h"

#include <cstdio>
#include <cstring>

namespace nst {

namespace {
constexpr uint64_t kPrime = 0x100000001b3ull;
}  // namespace

void Hash::add(const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h_ = (h_ ^ w) * kPrime;
  }
  for (; i < size; ++i) h_ = (h_ ^ p[i]) * kPrime;
  h_ = (h_ ^ size) * kPrime;
}

std::string Hash::hex() const {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
  return buf;
}

}  // namespace nst
