// Reader for safetensors weight files (the VGG19 convolution weights).
//
//   u64 little-endian N | N bytes UTF-8 JSON header (may be space padded) | data section
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section), plus an optional "__metadata__" object of string -> string.
//
// The file is untrusted input. The whole header is validated (every entry, used or not: field
// types, offsets inside the data section, byte size = numel x dtype size, no overlapping ranges)
// before any tensor data is read, nothing is allocated from a length in the file before that
// length is checked against the bytes that remain, and only the requested tensors' bytes are
// read (a 575 MB file with classifier tensors we do not need costs only the conv layers).
#pragma once

#include "nst/half.h"

#include "nst/tensor.h"

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace nst {

// Every loading problem. what() is one line: "<path>: <problem>" plus, where useful, "; hint: ...".
struct WeightsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A tensor the model needs: its name in the file and its exact expected shape.
struct TensorRequest {
  std::string name;
  Shape shape;
};

struct WeightsFile {
  std::map<std::string, Tensor<float>> tensors;  // exactly the requested ones, as float32
  std::map<std::string, std::string> metadata;   // "__metadata__" (string -> string), empty if absent
  std::vector<std::string> names;                // every tensor in the file, in header order
};

// Loads the requested tensors (dtype F32, F16 or BF16, converted to float32 by nst/half.h; shapes
// must match exactly; values must be finite). Throws WeightsError. A request with a negative
// dimension is a programming error: std::invalid_argument.
WeightsFile load_safetensors(const std::string& path, const std::vector<TensorRequest>& wanted);

// The same from a buffer holding a whole safetensors file (not copied, only read during the
// call); `name` stands for the path in messages.
WeightsFile load_safetensors(const unsigned char* bytes, size_t size, const std::string& name,
                             const std::vector<TensorRequest>& wanted);

}  // namespace nst
