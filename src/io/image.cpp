#include "nst/io/image.h"


#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "nst/io/atomic_file.h"
#include "nst/io/regular_file.h"

namespace nst {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& reason) {
  throw ImageError(name + ": " + reason);
}

// ---------------------------------------------------------------------------------------------
// Input: format sniffing and header dimensions, all bounds-checked, before stb sees the bytes.

enum class Format { PNG, JPEG, BMP };

const char* format_name(Format f) {
  switch (f) {
    case Format::PNG: return "PNG";
    case Format::JPEG: return "JPEG";
    case Format::BMP: return "BMP";
  }
  return "?";
}

bool starts_with(const unsigned char* b, size_t n, const char* magic, size_t m) {
  return n >= m && std::memcmp(b, magic, m) == 0;
}

const char kPngMagic[] = "\x89PNG\r\n\x1a\n";  // 8 bytes

bool sniff(const unsigned char* b, size_t n, Format* f) {
  if (starts_with(b, n, kPngMagic, 8)) *f = Format::PNG;
  else if (starts_with(b, n, "\xFF\xD8\xFF", 3)) *f = Format::JPEG;
  else if (starts_with(b, n, "BM", 2)) *f = Format::BMP;
  else return false;
  return true;
}

// A short description of what an unsupported file seems to be, for the error message.
std::string describe_unsupported(const unsigned char* b, size_t n) {
  if (starts_with(b, n, "GIF8", 4)) return "GIF";
  if (starts_with(b, n, "8BPS", 4)) return "PSD";
  if (starts_with(b, n, "#?RADIANCE", 10) || starts_with(b, n, "#?RGBE", 6)) return "Radiance HDR";
  if (starts_with(b, n, "\x53\x80\xF6\x34", 4)) return "Softimage PIC";
  if (starts_with(b, n, "RIFF", 4) && n >= 12 && std::memcmp(b + 8, "WEBP", 4) == 0) return "WebP";
  if (starts_with(b, n, "II*\0", 4) || starts_with(b, n, "MM\0*", 4)) return "TIFF";
  if (starts_with(b, n, "qoif", 4)) return "QOI";
  if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') return "PNM";
  if (n < 8 && std::memcmp(b, kPngMagic, n) == 0) return "truncated PNG signature";
  const size_t k = std::min<size_t>(n, 64);
  bool text = true;
  for (size_t i = 0; i < k; ++i)
    if (!(std::isprint(b[i]) || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')) text = false;
  if (text) return "looks like text";
  std::string hex = "unrecognized signature";
  char buf[4];
  for (size_t i = 0; i < std::min<size_t>(n, 8); ++i) {
    std::snprintf(buf, sizeof buf, " %02X", b[i]);
    hex += buf;
  }
  return hex;
}

uint32_t be16(const unsigned char* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t be32(const unsigned char* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
uint32_t le16(const unsigned char* p) { return uint32_t(p[1]) << 8 | p[0]; }
uint32_t le32(const unsigned char* p) {
  return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
}

// The width and height the header declares, read by us because stb refuses some huge sizes
// with a vague "too large" and we want to name the size and the limit. False when the header
// is not where expected; stbi_info then judges the file.
bool declared_size(Format f, const unsigned char* b, size_t n, int64_t* w, int64_t* h) {
  switch (f) {
    case Format::PNG:  // signature, IHDR length, "IHDR", width, height (big-endian)
      if (n < 24 || std::memcmp(b + 12, "IHDR", 4) != 0) return false;
      *w = be32(b + 16);
      *h = be32(b + 20);
      return true;
    case Format::BMP: {  // file header (14 bytes), then the DIB header's size, width, height
      if (n < 26) return false;
      const uint32_t dib = le32(b + 14);
      if (dib == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
        *w = le16(b + 18);
        *h = le16(b + 20);
      } else {
        *w = static_cast<int32_t>(le32(b + 18));
        *h = static_cast<int32_t>(le32(b + 22));
        if (*h < 0) *h = -*h;  // negative height: rows stored top-down
      }
      return true;
    }
    case Format::JPEG: {  // walk the marker segments to the first start-of-frame
      size_t p = 2;
      while (p < n) {
        if (b[p] != 0xFF) return false;
        while (p < n && b[p] == 0xFF) ++p;  // fill bytes
        if (p >= n) return false;
        const unsigned char m = b[p];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // markers without a length
          ++p;
          continue;
        }
        if (m == 0xD9 || m == 0xDA) return false;  // end of image / start of scan
        if (p + 2 >= n) return false;
        const uint32_t len = be16(b + p + 1);
        if (len < 2) return false;
        const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof) {
          if (p + 7 >= n) return false;
          *h = be16(b + p + 4);
          *w = be16(b + p + 6);
          return true;
        }
        p += 1 + len;
      }
      return false;
    }
  }
  return false;
}

void check_size(const std::string& name, int64_t w, int64_t h, const ImageLimits& lim) {
  const std::string dims = std::to_string(w) + "x" + std::to_string(h);
  if (w <= 0 || h <= 0) fail(name, "image declares a size of " + dims + "; width and height must be at least 1");
  if (w > lim.max_side || h > lim.max_side)
    fail(name, "image is " + dims + ", larger than the limit of " + std::to_string(lim.max_side) +
                   " pixels per side");
  if (w > lim.max_pixels / h)  // w * h > max_pixels, without overflow
    fail(name, "image is " + dims + " = " + std::to_string(uint64_t(w) * uint64_t(h)) + " pixels, more than the limit of " +
                   std::to_string(lim.max_pixels));
}

// stb_image 2.27 builds a JPEG Huffman table from the 16 code counts of a DHT segment without
// checking that they sum to at most 256, and then writes past its 257-entry size table (found by
// fuzz/fuzz_decode_image; the input is in fuzz/crashes/decode_image/). So we walk the JPEG's
// segments ourselves the way stb finds them (resyncing on the next 0xFF after junk, skipping
// entropy-coded data up to the next marker), and refuse a DHT whose counts exceed 256 or overrun
// its segment or the file. Other odd structure is left for stb to judge.
void check_jpeg_huffman_tables(const std::string& name, const unsigned char* b, size_t n) {
  size_t i = 2;  // after SOI
  while (i + 1 < n) {
    if (b[i] != 0xFF) {  // not at a marker: stb skips bytes until the next 0xFF, and so do we
      ++i;
      continue;
    }
    while (i + 1 < n && b[i + 1] == 0xFF) ++i;  // fill bytes
    if (i + 1 >= n) return;
    const unsigned char m = b[i + 1];
    i += 2;
    if (m == 0x00) continue;                               // not a marker (stb stops here)
    if (m == 0xD9) return;                                 // EOI
    if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // RSTn, TEM: no length
    if (i + 2 > n) return;
    const size_t len = be16(b + i);
    // stb reads a DHT's tables even past the end of the file (as zeros), so a cut DHT is refused.
    if (m == 0xC4 && i + len > n) fail(name, "corrupt JPEG: Huffman table segment runs past the end of the file");
    if (len < 2 || i + len > n) return;
    if (m == 0xC4) {  // DHT: one or more tables of 1 + 16 + sum(counts) bytes
      size_t t = i + 2;
      const size_t end = i + len;
      while (t < end) {
        if (t + 17 > end) fail(name, "corrupt JPEG: Huffman table segment is truncated");
        size_t codes = 0;
        for (size_t k = 1; k <= 16; ++k) codes += b[t + k];
        if (codes > 256)
          fail(name, "corrupt JPEG: Huffman table declares " + std::to_string(codes) + " codes (at most 256)");
        if (t + 17 + codes > end) fail(name, "corrupt JPEG: Huffman table runs past its segment");
        t += 17 + codes;
      }
    }
    i += len;
    if (m == 0xDA) {
      // SOS: skip the entropy-coded data as stb's bit reader does: 0xFF, any 0xFF fill bytes, then
      // 0x00 is a data byte; then RSTn is part of the scan; anything else is the next marker.
      while (i < n) {
        if (b[i] != 0xFF) {
          ++i;
          continue;
        }
        size_t j = i + 1;
        while (j < n && b[j] == 0xFF) ++j;
        if (j >= n) return;
        if (b[j] == 0x00 || (b[j] >= 0xD0 && b[j] <= 0xD7)) {
          i = j + 1;
          continue;
        }
        i = j - 1;  // the last 0xFF before the marker
        break;
      }
    }
  }
}

// Two stb_image 2.27 problems with PNG chunks, both found by fuzz/fuzz_decode_image:
//  - stb grows its IDAT buffer to a chunk's declared length before reading it, so a 70-byte file
//    declaring a 2.8 GB IDAT makes it allocate gigabytes: an IDAT running past the end of the
//    file is refused here;
//  - a zero-length first IDAT makes stb call memcpy(NULL, src, 0), undefined behaviour: empty
//    IDAT chunks carry nothing, so they are dropped from a copy of the PNG, which decodes the same.
// Returns that copy, or an empty vector when nothing was dropped.
std::vector<unsigned char> png_without_empty_idat(const std::string& name, const unsigned char* b, size_t n) {
  std::vector<unsigned char> out;
  size_t pos = 8, copied = 0;
  while (pos + 8 <= n) {  // a chunk: length, type, data, CRC
    const size_t len = be32(b + pos);
    const bool idat = std::memcmp(b + pos + 4, "IDAT", 4) == 0;
    if (len > n - pos - 8) {
      if (idat)
        fail(name, "corrupt PNG: an IDAT chunk declares " + std::to_string(len) + " bytes, more than the " +
                       std::to_string(n - pos - 8) + " left in the file");
      break;
    }
    if (len == 0 && idat && pos + 12 <= n) {
      out.insert(out.end(), b + copied, b + pos);
      copied = pos + 12;
    }
    pos += 12 + len;
  }
  if (copied > 0) out.insert(out.end(), b + copied, b + n);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output helpers.

std::string lower_extension(const std::string& path) {
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

// Collects stb_image_write's output. The callback runs inside C code, so it must not throw.
struct Sink {
  std::vector<unsigned char> bytes;
  bool failed = false;
};

void sink_write(void* ctx, void* data, int size) {
  auto* s = static_cast<Sink*>(ctx);
  if (s->failed || size <= 0) return;
  try {
    const auto* p = static_cast<const unsigned char*>(data);
    s->bytes.insert(s->bytes.end(), p, p + size);
  } catch (...) {
    s->failed = true;
  }
}

const char* channel_name(size_t c) { return c == 0 ? "R" : c == 1 ? "G" : "B"; }

void check_image(const Image& img, const std::string& what) {
  if (img.width < 1 || img.height < 1)
    throw std::invalid_argument(what + ": image is " + std::to_string(img.width) + "x" +
                                std::to_string(img.height) + "; width and height must be at least 1");
  const int64_t expect = int64_t(img.width) * img.height * 3;
  if (static_cast<int64_t>(img.rgb.size()) != expect)
    throw std::invalid_argument(what + ": image is " + std::to_string(img.width) + "x" +
                                std::to_string(img.height) + " but holds " +
                                std::to_string(img.rgb.size()) + " values, not " +
                                std::to_string(expect));
}

}  // namespace

// =============================================================================================

Image decode_image(const unsigned char* bytes, size_t size, const std::string& name,
                   const ImageLimits& limits) {
  if (bytes == nullptr || size == 0) fail(name, "empty file");
  if (static_cast<uint64_t>(size) > static_cast<uint64_t>(std::max<int64_t>(limits.max_file_bytes, 0)))
    fail(name, "file is " + std::to_string(size) + " bytes, larger than the limit of " +
                   std::to_string(limits.max_file_bytes) + " bytes");
  if (size > static_cast<size_t>(INT_MAX)) fail(name, "file is too large for the decoder (over 2 GiB)");
  int len = static_cast<int>(size);

  Format fmt;
  if (!sniff(bytes, size, &fmt))
    fail(name, "unsupported image format (" + describe_unsupported(bytes, size) +
                   "); nst reads PNG, JPEG and BMP");

  // stb's reasons are terse codes ("outofdata", "expected marker"): say what they mean.
  static const char kWhy[] = "; the file is corrupt, truncated or uses an unsupported feature (stb_image: ";

  // Sizes are checked before stb allocates anything: first as the header declares them ...
  int64_t dw = 0, dh = 0;
  if (declared_size(fmt, bytes, size, &dw, &dh)) check_size(name, dw, dh, limits);
  if (fmt == Format::JPEG) check_jpeg_huffman_tables(name, bytes, size);
  std::vector<unsigned char> cleaned;
  if (fmt == Format::PNG) cleaned = png_without_empty_idat(name, bytes, size);
  if (!cleaned.empty()) {
    bytes = cleaned.data();
    len = static_cast<int>(cleaned.size());
  }
  // ... then as stb reads them.
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes, len, &w, &h, &comp))
    fail(name, std::string("cannot read ") + format_name(fmt) + " header" + kWhy + stbi_failure_reason() + ")");
  check_size(name, w, h, limits);

  int dw2 = 0, dh2 = 0, dcomp = 0;
  unsigned char* px = stbi_load_from_memory(bytes, len, &dw2, &dh2, &dcomp, 3);
  if (px == nullptr)
    fail(name, std::string("cannot decode ") + format_name(fmt) + " image" + kWhy + stbi_failure_reason() + ")");
  if (dw2 != w || dh2 != h) {
    stbi_image_free(px);
    fail(name, "decoded size " + std::to_string(dw2) + "x" + std::to_string(dh2) +
                   " differs from the header's " + std::to_string(w) + "x" + std::to_string(h));
  }
  Image img;
  img.width = w;
  img.height = h;
  try {
    img.rgb.assign(px, px + size_t(w) * size_t(h) * 3);
  } catch (...) {
    stbi_image_free(px);
    throw;
  }
  stbi_image_free(px);
  return img;
}

Image load_image(const std::string& path, const ImageLimits& limits) {
  if (path.empty()) fail("(empty path)", "no input file given");
  std::vector<unsigned char> bytes;
  try {
    bytes = read_regular_file(path, static_cast<uint64_t>(std::max<int64_t>(limits.max_file_bytes, 0)));
  } catch (const FileError& e) {
    throw ImageError(e.what());
  }
  return decode_image(bytes.data(), bytes.size(), path, limits);
}

// =============================================================================================

Image resize_image(const Image& img, int width, int height) {
  check_image(img, "resize_image");
  constexpr int kMaxSide = INT_MAX / 12;  // stb takes row strides in bytes as int
  if (width < 1 || height < 1 || width > kMaxSide || height > kMaxSide || img.width > kMaxSide)
    throw std::invalid_argument("resize_image: cannot resize " + std::to_string(img.width) + "x" +
                                std::to_string(img.height) + " to " + std::to_string(width) + "x" +
                                std::to_string(height));
  if (width == img.width && height == img.height) return img;

  Image out;
  out.width = width;
  out.height = height;
  out.rgb.resize(size_t(width) * size_t(height) * 3);
  const int ok = stbir_resize_float_generic(
      img.rgb.data(), img.width, img.height, img.width * 3 * int(sizeof(float)), out.rgb.data(), width,
      height, width * 3 * int(sizeof(float)), 3, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
      STBIR_FILTER_DEFAULT, STBIR_COLORSPACE_LINEAR, nullptr);
  if (!ok) throw std::bad_alloc();  // stb fails only when its scratch allocation fails

  // Cubic filters overshoot near edges; keep the output within the input's range
  // (NaN compares false, so it is skipped here and propagates through the clamp).
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (float v : img.rgb) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo <= hi)
    for (float& v : out.rgb) v = v < lo ? lo : v > hi ? hi : v;
  return out;
}

Image resize_longest_side(const Image& img, int longest) {
  check_image(img, "resize_longest_side");
  if (longest < 1)
    throw std::invalid_argument("resize_longest_side: longest side must be at least 1, got " +
                                std::to_string(longest));
  const int64_t w = img.width, h = img.height, m = std::max(w, h);
  // Round to nearest in integers: (side * longest + m/2) / m; the longer side is exact.
  const auto scaled = [&](int64_t side) {
    return static_cast<int>(std::max<int64_t>(1, (side * longest + m / 2) / m));
  };
  return resize_image(img, scaled(w), scaled(h));
}

// =============================================================================================

std::vector<unsigned char> encode_image(const Image& img, const std::string& path, int jpeg_quality) {
  if (jpeg_quality < 1 || jpeg_quality > 100)
    throw std::invalid_argument("jpeg_quality must be 1..100, got " + std::to_string(jpeg_quality));
  const std::string ext = lower_extension(path);
  const bool png = ext == ".png", jpeg = ext == ".jpg" || ext == ".jpeg";
  if (!png && !jpeg)
    fail(path, "unsupported output format '" + ext + "'; use .png, .jpg or .jpeg");
  try {
    check_image(img, "cannot save");
  } catch (const std::invalid_argument& e) {
    fail(path, e.what());
  }

  const size_t n = img.rgb.size();
  for (size_t i = 0; i < n; ++i) {
    const float v = img.rgb[i];
    if (!std::isfinite(v)) {
      const size_t pixel = i / 3;
      fail(path, std::string("pixel (x=") + std::to_string(pixel % size_t(img.width)) +
                     ", y=" + std::to_string(pixel / size_t(img.width)) + ") channel " +
                     channel_name(i % 3) + " is " + (std::isnan(v) ? "NaN" : "Inf") +
                     "; refusing to write an image with non-finite values");
    }
  }
  // Both encoders index with int; PNG also deflates into int-sized buffers.
  if (jpeg && (img.width > 65535 || img.height > 65535))
    fail(path, "JPEG cannot store an image wider or taller than 65535 pixels");
  if (png && int64_t(img.width) * 3 * img.height > (int64_t(1) << 30))
    fail(path, "image is too large to encode as PNG");

  std::vector<unsigned char> px(n);
  for (size_t i = 0; i < n; ++i) {
    const float v = std::min(255.0f, std::max(0.0f, img.rgb[i]));
    px[i] = static_cast<unsigned char>(v + 0.5f);  // round to nearest; v + 0.5 <= 255.5
  }

  Sink sink;
  const int ok = png ? stbi_write_png_to_func(sink_write, &sink, img.width, img.height, 3, px.data(),
                                              img.width * 3)
                     : stbi_write_jpg_to_func(sink_write, &sink, img.width, img.height, 3, px.data(),
                                              jpeg_quality);
  if (sink.failed) throw std::bad_alloc();
  if (!ok || sink.bytes.empty()) fail(path, std::string("encoding ") + (png ? "PNG" : "JPEG") + " failed");
  return std::move(sink.bytes);
}

void save_image(const Image& img, const std::string& path, const SaveOptions& opt) {
  write_file_atomically(path, encode_image(img, path, opt.jpeg_quality), opt.overwrite);
}

}  // namespace nst
