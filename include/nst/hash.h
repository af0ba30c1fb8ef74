// A 64-bit hash of byte blocks fed in order: FNV-1a's constants, over 8-byte words where
// possible (fast enough for a history of gigabytes). Not cryptographic: it detects damage and
// tells inputs apart (checkpoints: nst/style/checkpoint.h; a model's weights: nst/model/vgg19.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace nst {

class Hash {
 public:
  void add(const void* data, size_t size);
  // 16 lowercase hex digits.
  std::string hex() const;

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

}  // namespace nst
