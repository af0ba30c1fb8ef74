// Image input and output. Input may be hostile: every size is checked before anything is
// allocated from it, only PNG, JPEG, WebP and BMP reach a decoder (libpng, libjpeg-turbo,
// libwebp; stb_image for BMP), and no input crashes. Output never loses data: it is written
// atomically (see atomic_file.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nst {

// A bad input or output image. what() is one line: "<path>: <reason>".
struct ImageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// RGB held as float: rgb is (H,W,3) interleaved R,G,B, row-major, top row first, values
// 0..255 (integers for 8-bit files; a 16-bit file's value v is v / 257, full precision).
// rgb.size() == width * height * 3. The other members are optional, empty when absent; what
// decode_image finds there, save_image writes back.
struct Image {
  int width = 0, height = 0;
  std::vector<float> rgb;
  std::vector<float> alpha;                // (H,W), 0..255 like rgb; empty: opaque
  std::vector<unsigned char> icc_profile;  // the embedded ICC colour profile; empty: none
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

// Decodes PNG, JPEG, WebP or BMP bytes (gray, palette and 16-bit inputs are converted to RGB;
// 16-bit samples keep their precision). Alpha (PNG, WebP, BMP) goes to img.alpha when some pixel
// is not opaque, an embedded ICC profile (PNG, JPEG, WebP) to img.icc_profile, and an EXIF
// orientation (JPEG, PNG eXIf, WebP) is applied, so the image comes out upright.
// `name_for_errors` prefixes every message.
Image decode_image(const unsigned char* bytes, size_t size, const std::string& name_for_errors,
                   const ImageLimits& limits = {});

// Resamples to width x height (each >= 1) with stb_image_resize's default filters in linear
// float (Catmull-Rom up, Mitchell down), edges clamped. Output values stay within the input's
// value range (no ringing overshoot). Alpha is resized the same way; the ICC profile is kept.
// Same size: an exact copy. Throws std::invalid_argument.
Image resize_image(const Image& img, int width, int height);

// Resizes so that the longer side is `longest`, keeping the aspect ratio; the other side is
// rounded to nearest and at least 1. Throws std::invalid_argument if longest < 1.
Image resize_longest_side(const Image& img, int longest);
// The (width, height) resize_longest_side gives a width x height image.
std::pair<int, int> longest_side_size(int width, int height, int longest);

struct SaveOptions {
  int jpeg_quality = 95;   // 1..100, for JPEG and (lossy) WebP
  bool overwrite = false;  // replace an existing file
  int bit_depth = 8;       // 8, or 16 (PNG only)
};

// What saving did that the caller may want to tell a person.
struct SaveResult {
  bool alpha_dropped = false;  // the image has alpha and the format (JPEG) cannot store it
};

// Writes PNG for .png, JPEG for .jpg/.jpeg, WebP for .webp (case-insensitive; libpng,
// libjpeg-turbo, libwebp); other extensions throw ImageError "unsupported output format".
// Alpha goes to PNG and WebP, the ICC profile to all three. Refuses NaN/Inf values; clamps to
// [0,255] and rounds to nearest (16-bit PNG: round(v * 257)). Output errors (exists, missing
// directory, disk full, ...) throw OutputError (OutputExistsError when the file exists).
SaveResult save_image(const Image& img, const std::string& path, const SaveOptions& opt = {});

// The bytes save_image would write; the format comes from the extension of path_for_format.
std::vector<unsigned char> encode_image(const Image& img, const std::string& path_for_format,
                                        const SaveOptions& opt, SaveResult* result = nullptr);
std::vector<unsigned char> encode_image(const Image& img, const std::string& path_for_format,
                                        int jpeg_quality);

}  // namespace nst
