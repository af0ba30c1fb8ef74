// Test helper (header-only): writes synthetic safetensors files, valid or deliberately broken.
// (TempDir, used with it everywhere, is in temp_dir.h.)
//
//   TempDir dir;                                         // mkdtemp under /tmp
//   std::vector<RawTensor> ts = {{"w", "F32", {2, 3}, f32_bytes({...})}};
//   write_file(dir.path("ok.safetensors"), safetensors_bytes(ts, {{"preprocess", "caffe"}}));
//   write_file(dir.path("bad.safetensors"), safetensors_raw("{\"w\": 1}", ""));
#pragma once

#include "support/temp_dir.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace nst::testing {

struct RawTensor {
  std::string name;
  std::string dtype;            // written as is, so unknown dtypes are possible
  std::vector<int64_t> shape;
  std::string bytes;            // raw little-endian data
};

// A JSON string literal for s (quotes, backslashes and control characters escaped).
inline std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

inline std::string u64_le(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

// The header JSON for `tensors` laid out contiguously in order (what safetensors writers do).
inline std::string safetensors_header(const std::vector<RawTensor>& tensors,
                                      const std::map<std::string, std::string>& metadata = {}) {
  std::string h = "{";
  bool first = true;
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (auto it = metadata.begin(); it != metadata.end(); ++it) {
      if (it != metadata.begin()) h += ",";
      h += json_quote(it->first) + ":" + json_quote(it->second);
    }
    h += "}";
    first = false;
  }
  uint64_t offset = 0;
  for (const RawTensor& t : tensors) {
    if (!first) h += ",";
    first = false;
    h += json_quote(t.name) + ":{\"dtype\":" + json_quote(t.dtype) + ",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) h += (i ? "," : "") + std::to_string(t.shape[i]);
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.bytes.size()) + "]}";
    offset += t.bytes.size();
  }
  return h + "}";
}

// A complete file: length | header | data. `header` is written as given (any bytes at all);
// `pad_to` > 1 space-pads the header to a multiple of that many bytes, as real writers do.
inline std::string safetensors_raw(const std::string& header, const std::string& data, size_t pad_to = 1) {
  std::string h = header;
  if (pad_to > 1)
    while (h.size() % pad_to != 0) h += ' ';
  return u64_le(h.size()) + h + data;
}

// A valid file holding `tensors` (data contiguous, in order) and `metadata`.
inline std::string safetensors_bytes(const std::vector<RawTensor>& tensors,
                                     const std::map<std::string, std::string>& metadata = {}) {
  std::string data;
  for (const RawTensor& t : tensors) data += t.bytes;
  return safetensors_raw(safetensors_header(tensors, metadata), data, 8);
}

// Little-endian element bytes.
inline std::string f32_bytes(const std::vector<float>& v) {
  std::string out;
  for (float f : v) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    for (int i = 0; i < 4; ++i) out += static_cast<char>((u >> (8 * i)) & 0xFF);
  }
  return out;
}
inline std::string u16_bytes(const std::vector<uint16_t>& v) {  // F16 / BF16 bit patterns
  std::string out;
  for (uint16_t u : v) {
    out += static_cast<char>(u & 0xFF);
    out += static_cast<char>(u >> 8);
  }
  return out;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("write_file: cannot write " + path);
}

// A fresh directory under /tmp, removed with everything in it at destruction.

}  // namespace nst::testing
