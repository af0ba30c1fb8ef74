// Image input and output. Input may be hostile: every size is checked before anything is
// allocated from it, only PNG, JPEG and BMP reach the decoder, and no input crashes.
// Output never loses data: it is written atomically (see atomic_file.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace nst {

// A bad input or output image. what() is one line: "<path>: <reason>".
struct ImageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// 8-bit RGB held as float: rgb is (H,W,3) interleaved R,G,B, row-major, top row first,
// values 0..255. rgb.size() == width * height * 3.
struct Image {
  int width = 0, height = 0;
  std::vector<float> rgb;
};

// What load_image/decode_image accept. Checked against the header before decoding.
struct ImageLimits {
  int64_t max_side = 16384;                // width and height each
  int64_t max_pixels = 89478485;           // width * height
  int64_t max_file_bytes = 512ll << 20;    // size of the encoded file
};

// Reads a regular file (not a directory, FIFO or device) of at most limits.max_file_bytes and
// decodes it. Throws ImageError.
Image load_image(const std::string& path, const ImageLimits& limits = {});

// Decodes PNG, JPEG or BMP bytes to 8-bit RGB (gray, gray+alpha, palette, RGBA and 16-bit
// inputs are converted; alpha is dropped). `name_for_errors` prefixes every message.
Image decode_image(const unsigned char* bytes, size_t size, const std::string& name_for_errors,
                   const ImageLimits& limits = {});

// Resamples to width x height (each >= 1) with stb_image_resize's default filters in linear
// float (Catmull-Rom up, Mitchell down), edges clamped. Output values stay within the input's
// value range (no ringing overshoot). Same size: an exact copy. Throws std::invalid_argument.
Image resize_image(const Image& img, int width, int height);

// Resizes so that the longer side is `longest`, keeping the aspect ratio; the other side is
// rounded to nearest and at least 1. Throws std::invalid_argument if longest < 1.
Image resize_longest_side(const Image& img, int longest);

struct SaveOptions {
  int jpeg_quality = 95;   // 1..100
  bool overwrite = false;  // replace an existing file
};

// Writes PNG for .png, JPEG for .jpg/.jpeg (case-insensitive); other extensions throw
// ImageError "unsupported output format". Refuses NaN/Inf pixels; clamps to [0,255] and rounds
// to nearest. Output errors (exists, missing directory, disk full, ...) throw OutputError.
void save_image(const Image& img, const std::string& path, const SaveOptions& opt = {});

// The bytes save_image would write; the format comes from the extension of path_for_format.
std::vector<unsigned char> encode_image(const Image& img, const std::string& path_for_format,
                                        int jpeg_quality);

}  // namespace nst
