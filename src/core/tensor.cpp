#include "nst/tensor.h"

#include <limits>

namespace nst {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) throw std::invalid_argument("negative dimension in shape " + shape_str(s));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw std::invalid_argument("shape " + shape_str(s) + " has too many elements");
    n *= d;
  }
  return n;
}

void require_nchw(const Shape& s, const char* op) {
  if (s.size() != 4)
    throw std::invalid_argument(std::string(op) + ": expected an NCHW tensor, got shape " +
                                shape_str(s));
}

void require_same_shape(const Shape& a, const Shape& b, const char* op) {
  if (a != b)
    throw std::invalid_argument(std::string(op) + ": shapes " + shape_str(a) + " and " +
                                shape_str(b) + " differ");
}

}  // namespace nst
