#include "nst/io/image.h"

// libpng and libjpeg report errors by longjmp. Only the functions named *_in_setjmp_scope call
// setjmp; they hold no C++ object with a destructor, call nothing that throws, and pass their
// results through plain pointers, so a longjmp skips no destructor. The C++ code around them owns
// every buffer and the library handles (freed by destructors, outside the setjmp scopes).
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <stb_image.h>
#include <stb_image_resize.h>
#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "nst/io/atomic_file.h"
#include "nst/io/exif.h"
#include "nst/io/regular_file.h"

namespace nst {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& reason) {
  throw ImageError(name + ": " + reason);
}

// ---------------------------------------------------------------------------------------------
// Input: format sniffing and header dimensions, all bounds-checked, before a decoder sees the
// bytes.

enum class Format { PNG, JPEG, WebP, BMP };

const char* format_name(Format f) {
  switch (f) {
    case Format::PNG: return "PNG";
    case Format::JPEG: return "JPEG";
    case Format::WebP: return "WebP";
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
  else if (starts_with(b, n, "RIFF", 4) && n >= 12 && std::memcmp(b + 8, "WEBP", 4) == 0) *f = Format::WebP;
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

// The width and height the header declares, read by us so that the message names the size and
// the limit. False when the header is not where expected; the decoder then judges the file.
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
    case Format::WebP: {
      int ww = 0, hh = 0;
      if (!WebPGetInfo(b, n, &ww, &hh)) return false;
      *w = ww;
      *h = hh;
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

// What every decoder hands back: interleaved samples of 1 or 2 bytes (2: big-endian, as PNG
// stores them), 3 or 4 channels, plus the ICC profile and EXIF block if the file has them.
struct Decoded {
  int width = 0, height = 0, channels = 3, bytes_per_sample = 1;
  std::vector<unsigned char> samples;
  std::vector<unsigned char> icc, exif;
};

// "; the file is corrupt, truncated or uses an unsupported feature (libpng: ...)".
std::string corrupt(const char* library, const char* reason) {
  return std::string("; the file is corrupt, truncated or uses an unsupported feature (") + library + ": " +
         reason + ")";
}

constexpr size_t kErrorLen = 200;

// ---------------------------------------------------------------------------------------------
// PNG through libpng.

struct PngSource {
  const unsigned char* data;
  size_t size, pos;
};

struct PngRead {
  png_structp png = nullptr;
  png_infop info = nullptr;
  char error[kErrorLen] = "";
  PngSource source{};
  ~PngRead() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

void png_on_error(png_structp png, png_const_charp message) {
  std::snprintf(static_cast<char*>(png_get_error_ptr(png)), kErrorLen, "%s", message);
  png_longjmp(png, 1);
}
void png_on_warning(png_structp, png_const_charp) {}  // recoverable: ancillary CRC errors and the like

void png_read_bytes(png_structp png, png_bytep out, size_t n) {
  auto* s = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > s->size - s->pos) png_error(png, "the file ends early");
  std::memcpy(out, s->data + s->pos, n);
  s->pos += n;
}

// Header: limits, IHDR, transforms to 8/16-bit RGB(A). Returns false with r->error set.
bool png_header_in_setjmp_scope(PngRead* r, uint32_t max_side, int* w, int* h, int* channels, int* bytes) {
  if (setjmp(png_jmpbuf(r->png))) return false;
  png_set_user_limits(r->png, max_side, max_side);
  png_set_chunk_cache_max(r->png, 1000);             // ancillary chunks kept
  png_set_chunk_malloc_max(r->png, 64u << 20);       // bytes of any one chunk (ICC, text, eXIf)
  png_set_crc_action(r->png, PNG_CRC_DEFAULT, PNG_CRC_DEFAULT);  // critical: error; ancillary: skip
  png_set_read_fn(r->png, &r->source, png_read_bytes);
  png_read_info(r->png, r->info);
  const int color = png_get_color_type(r->png, r->info);
  png_set_expand(r->png);  // palette -> RGB, gray below 8 bits -> 8, tRNS -> alpha
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(r->png);
  png_set_interlace_handling(r->png);
  png_read_update_info(r->png, r->info);
  *w = static_cast<int>(png_get_image_width(r->png, r->info));
  *h = static_cast<int>(png_get_image_height(r->png, r->info));
  *channels = png_get_channels(r->png, r->info);
  *bytes = png_get_bit_depth(r->png, r->info) == 16 ? 2 : 1;
  return true;
}

bool png_pixels_in_setjmp_scope(PngRead* r, png_bytepp rows) {
  if (setjmp(png_jmpbuf(r->png))) return false;
  png_read_image(r->png, rows);
  png_read_end(r->png, r->info);  // checks the chunks after the image data, up to IEND
  return true;
}

Decoded decode_png(const unsigned char* bytes, size_t size, const std::string& name, const ImageLimits& limits) {
  PngRead r;
  r.source = {bytes, size, 0};
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r.error, png_on_error, png_on_warning);
  if (!r.png || !(r.info = png_create_info_struct(r.png))) throw std::bad_alloc();
  const auto max_side = static_cast<uint32_t>(std::min<int64_t>(std::max<int64_t>(limits.max_side, 1), PNG_UINT_31_MAX));
  Decoded d;
  if (!png_header_in_setjmp_scope(&r, max_side, &d.width, &d.height, &d.channels, &d.bytes_per_sample))
    fail(name, std::string("cannot read PNG header") + corrupt("libpng", r.error));
  check_size(name, d.width, d.height, limits);
  if (d.channels != 3 && d.channels != 4) fail(name, "cannot decode PNG image: unexpected channel count");
  const size_t row = size_t(d.width) * size_t(d.channels) * size_t(d.bytes_per_sample);
  if (png_get_rowbytes(r.png, r.info) != row) fail(name, "cannot decode PNG image: unexpected row size");
  d.samples.resize(row * size_t(d.height));
  std::vector<png_bytep> rows(size_t(d.height));
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = d.samples.data() + y * row;
  if (!png_pixels_in_setjmp_scope(&r, rows.data()))
    fail(name, std::string("cannot decode PNG image") + corrupt("libpng", r.error));
  png_charp icc_name = nullptr;
  int compression = 0;
  png_bytep icc = nullptr;
  png_uint_32 icc_size = 0;
  if (png_get_iCCP(r.png, r.info, &icc_name, &compression, &icc, &icc_size) && icc && icc_size > 0)
    d.icc.assign(icc, icc + icc_size);
#ifdef PNG_eXIf_SUPPORTED
  png_bytep exif = nullptr;
  png_uint_32 exif_size = 0;
  if (png_get_eXIf_1(r.png, r.info, &exif_size, &exif) && exif && exif_size > 0) d.exif.assign(exif, exif + exif_size);
#endif
  return d;
}

// ---------------------------------------------------------------------------------------------
// JPEG through libjpeg-turbo.

struct JpegErrors {
  jpeg_error_mgr mgr;  // first: libjpeg passes &mgr, we cast back
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_on_error(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegErrors*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings are corrupt data libjpeg can step over; a file that ends early is refused (as stb did),
// the rest (extraneous bytes before a marker, common in camera files) ignored.
void jpeg_on_message(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(c);
  if (level < 0) ++c->err->num_warnings;
}

// Progressive JPEGs can hold thousands of tiny scans that cost a full pass each: cap them.
void jpeg_on_progress(j_common_ptr c) {
  auto* d = reinterpret_cast<j_decompress_ptr>(c);
  if (c->is_decompressor && d->input_scan_number > 1000) {
    auto* e = reinterpret_cast<JpegErrors*>(c->err);
    std::snprintf(e->message, sizeof e->message, "more than 1000 progressive scans");
    std::longjmp(e->jump, 1);
  }
}

struct JpegRead {
  jpeg_decompress_struct cinfo{};
  JpegErrors errors{};
  jpeg_progress_mgr progress{};
  bool created = false;
  unsigned char* icc = nullptr;  // malloc'd by jpeg_read_icc_profile
  unsigned int icc_size = 0;
  ~JpegRead() {
    if (created) jpeg_destroy_decompress(&cinfo);
    std::free(icc);
  }
};

bool jpeg_header_in_setjmp_scope(JpegRead* r, const unsigned char* bytes, size_t size) {
  r->cinfo.err = jpeg_std_error(&r->errors.mgr);
  r->errors.mgr.error_exit = jpeg_on_error;
  r->errors.mgr.emit_message = jpeg_on_message;
  if (setjmp(r->errors.jump)) return false;
  jpeg_create_decompress(&r->cinfo);
  r->created = true;
  r->progress.progress_monitor = jpeg_on_progress;
  r->cinfo.progress = &r->progress;
  jpeg_mem_src(&r->cinfo, bytes, static_cast<unsigned long>(size));
  jpeg_save_markers(&r->cinfo, JPEG_APP0 + 1, 0xFFFF);  // EXIF
  jpeg_save_markers(&r->cinfo, JPEG_APP0 + 2, 0xFFFF);  // ICC profile (in pieces)
  jpeg_read_header(&r->cinfo, TRUE);
  if (!jpeg_read_icc_profile(&r->cinfo, &r->icc, &r->icc_size)) r->icc_size = 0;  // none, or malformed: none
  r->cinfo.out_color_space = JCS_RGB;
  return true;
}

bool jpeg_pixels_in_setjmp_scope(JpegRead* r, unsigned char* out, size_t row_bytes) {
  if (setjmp(r->errors.jump)) return false;
  jpeg_start_decompress(&r->cinfo);
  if (r->cinfo.output_components != 3) {
    std::snprintf(r->errors.message, sizeof r->errors.message, "unexpected component count");
    return false;
  }
  while (r->cinfo.output_scanline < r->cinfo.output_height) {
    JSAMPROW row = out + size_t(r->cinfo.output_scanline) * row_bytes;
    jpeg_read_scanlines(&r->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&r->cinfo);
  return true;
}

Decoded decode_jpeg(const unsigned char* bytes, size_t size, const std::string& name, const ImageLimits& limits) {
  JpegRead r;
  Decoded d;
  if (!jpeg_header_in_setjmp_scope(&r, bytes, size))
    fail(name, std::string("cannot read JPEG header") + corrupt("libjpeg", r.errors.message));
  d.width = static_cast<int>(r.cinfo.image_width);
  d.height = static_cast<int>(r.cinfo.image_height);
  check_size(name, r.cinfo.image_width, r.cinfo.image_height, limits);
  if (r.icc && r.icc_size > 0) d.icc.assign(r.icc, r.icc + r.icc_size);
  for (jpeg_saved_marker_ptr m = r.cinfo.marker_list; m; m = m->next)
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      d.exif.assign(m->data, m->data + m->data_length);
      break;
    }
  d.samples.resize(size_t(d.width) * size_t(d.height) * 3);
  if (!jpeg_pixels_in_setjmp_scope(&r, d.samples.data(), size_t(d.width) * 3))
    fail(name, std::string("cannot decode JPEG image") + corrupt("libjpeg", r.errors.message));
  return d;
}

// ---------------------------------------------------------------------------------------------
// WebP through libwebp (no longjmp: plain status codes).

const char* webp_status(VP8StatusCode s) {
  switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data";
    default: return "error";
  }
}

// Owns a demuxer over a whole WebP file, for its ICCP and EXIF chunks.
struct Demux {
  ::WebPDemuxer* demux;
  explicit Demux(const WebPData* data) : demux(WebPDemux(data)) {}
  ~Demux() {
    if (demux) WebPDemuxDelete(demux);
  }
  Demux(const Demux&) = delete;
  Demux& operator=(const Demux&) = delete;
  std::vector<unsigned char> chunk(const char* fourcc) const {
    std::vector<unsigned char> out;
    WebPChunkIterator it;
    if (demux && WebPDemuxGetChunk(demux, fourcc, 1, &it)) {
      out.assign(it.chunk.bytes, it.chunk.bytes + it.chunk.size);
      WebPDemuxReleaseChunkIterator(&it);
    }
    return out;
  }
};

Decoded decode_webp(const unsigned char* bytes, size_t size, const std::string& name, const ImageLimits& limits) {
  WebPBitstreamFeatures f;
  const VP8StatusCode s = WebPGetFeatures(bytes, size, &f);
  if (s != VP8_STATUS_OK) fail(name, std::string("cannot read WebP header") + corrupt("libwebp", webp_status(s)));
  check_size(name, f.width, f.height, limits);
  if (f.has_animation) fail(name, "animated WebP is not supported; extract one frame first");
  Decoded d;
  d.width = f.width;
  d.height = f.height;
  d.channels = f.has_alpha ? 4 : 3;
  const size_t row = size_t(d.width) * size_t(d.channels);
  d.samples.resize(row * size_t(d.height));
  const uint8_t* ok = f.has_alpha
                          ? WebPDecodeRGBAInto(bytes, size, d.samples.data(), d.samples.size(), static_cast<int>(row))
                          : WebPDecodeRGBInto(bytes, size, d.samples.data(), d.samples.size(), static_cast<int>(row));
  if (!ok) fail(name, std::string("cannot decode WebP image") + corrupt("libwebp", "decoding failed"));
  const WebPData data{bytes, size};
  const Demux demux(&data);
  d.icc = demux.chunk("ICCP");
  d.exif = demux.chunk("EXIF");
  return d;
}

// ---------------------------------------------------------------------------------------------
// BMP through stb_image (no longjmp; BMP is a simple format stb handles with checked sizes).

Decoded decode_bmp(const unsigned char* bytes, size_t size, const std::string& name, const ImageLimits& limits) {
  if (size > static_cast<size_t>(INT_MAX)) fail(name, "file is too large for the BMP decoder (over 2 GiB)");
  const int len = static_cast<int>(size);
  static const char kWhy[] = "; the file is corrupt, truncated or uses an unsupported feature (stb_image: ";
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes, len, &w, &h, &comp))
    fail(name, std::string("cannot read BMP header") + kWhy + stbi_failure_reason() + ")");
  check_size(name, w, h, limits);
  const int channels = comp == 2 || comp == 4 ? 4 : 3;
  int dw = 0, dh = 0, dcomp = 0;
  unsigned char* px = stbi_load_from_memory(bytes, len, &dw, &dh, &dcomp, channels);
  if (px == nullptr) fail(name, std::string("cannot decode BMP image") + kWhy + stbi_failure_reason() + ")");
  Decoded d;
  d.width = w;
  d.height = h;
  d.channels = channels;
  try {
    if (dw != w || dh != h)
      fail(name, "decoded size " + std::to_string(dw) + "x" + std::to_string(dh) + " differs from the header's " +
                     std::to_string(w) + "x" + std::to_string(h));
    d.samples.assign(px, px + size_t(w) * size_t(h) * size_t(channels));
  } catch (...) {
    stbi_image_free(px);
    throw;
  }
  stbi_image_free(px);
  return d;
}

// ---------------------------------------------------------------------------------------------
// From decoded samples to an Image.

// Where output pixel (x, y) of an image oriented upright comes from in the stored w x h image,
// for EXIF orientation o (nst/io/exif.h). Orientations 5..8 swap width and height.
inline size_t source_index(int o, int x, int y, int w, int h) {
  int sx = x, sy = y;
  switch (o) {
    case 2: sx = w - 1 - x; break;
    case 3: sx = w - 1 - x; sy = h - 1 - y; break;
    case 4: sy = h - 1 - y; break;
    case 5: sx = y; sy = x; break;
    case 6: sx = y; sy = h - 1 - x; break;
    case 7: sx = w - 1 - y; sy = h - 1 - x; break;
    case 8: sx = w - 1 - y; sy = x; break;
    default: break;
  }
  return size_t(sy) * size_t(w) + size_t(sx);
}

Image to_image(const Decoded& d) {
  const int o = exif_orientation(d.exif.data(), d.exif.size());
  const bool swap = o >= 5;
  Image img;
  img.width = swap ? d.height : d.width;
  img.height = swap ? d.width : d.height;
  const size_t n = size_t(d.width) * size_t(d.height);
  img.rgb.resize(n * 3);
  const bool has_alpha = d.channels == 4;
  bool translucent = false;
  if (has_alpha) img.alpha.resize(n);
  const int c = d.channels;
  const unsigned char* s = d.samples.data();
  const auto sample = [&](size_t i) -> float {  // sample i of the stored image
    return d.bytes_per_sample == 2 ? static_cast<float>(uint32_t(s[2 * i]) << 8 | s[2 * i + 1]) / 257.0f
                                   : static_cast<float>(s[i]);
  };
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const size_t src = source_index(o, x, y, d.width, d.height);
      const size_t dst = size_t(y) * size_t(img.width) + size_t(x);
      for (int k = 0; k < 3; ++k) img.rgb[3 * dst + size_t(k)] = sample(src * size_t(c) + size_t(k));
      if (has_alpha) {
        const float a = sample(src * size_t(c) + 3);
        img.alpha[dst] = a;
        if (a != 255.0f) translucent = true;
      }
    }
  if (!translucent) img.alpha.clear();  // all opaque: no alpha to carry
  img.icc_profile = d.icc;
  return img;
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

const char* channel_name(size_t c) { return c == 0 ? "R" : c == 1 ? "G" : "B"; }

void check_image(const Image& img, const std::string& what) {
  if (img.width < 1 || img.height < 1)
    throw std::invalid_argument(what + ": image is " + std::to_string(img.width) + "x" +
                                std::to_string(img.height) + "; width and height must be at least 1");
  const int64_t pixels = int64_t(img.width) * img.height;
  if (static_cast<int64_t>(img.rgb.size()) != pixels * 3)
    throw std::invalid_argument(what + ": image is " + std::to_string(img.width) + "x" +
                                std::to_string(img.height) + " but holds " +
                                std::to_string(img.rgb.size()) + " values, not " +
                                std::to_string(pixels * 3));
  if (!img.alpha.empty() && static_cast<int64_t>(img.alpha.size()) != pixels)
    throw std::invalid_argument(what + ": image is " + std::to_string(img.width) + "x" +
                                std::to_string(img.height) + " but its alpha holds " +
                                std::to_string(img.alpha.size()) + " values");
}

// Collects an encoder's output. Called from inside C code: must not throw.
struct Sink {
  std::vector<unsigned char> bytes;
  bool failed = false;
  void append(const void* data, size_t size) noexcept {
    if (failed) return;
    try {
      const auto* p = static_cast<const unsigned char*>(data);
      bytes.insert(bytes.end(), p, p + size);
    } catch (...) {
      failed = true;
    }
  }
};

struct PngWrite {
  png_structp png = nullptr;
  png_infop info = nullptr;
  char error[kErrorLen] = "";
  Sink sink;
  ~PngWrite() {
    if (png) png_destroy_write_struct(&png, info ? &info : nullptr);
  }
};

void png_write_bytes(png_structp png, png_bytep data, size_t n) {
  auto* sink = static_cast<Sink*>(png_get_io_ptr(png));
  sink->append(data, n);
  if (sink->failed) png_error(png, "out of memory");
}
void png_flush_nothing(png_structp) {}

bool png_encode_in_setjmp_scope(PngWrite* p, int w, int h, int depth, int color, png_bytepp rows,
                                const unsigned char* icc, size_t icc_size) {
  if (setjmp(png_jmpbuf(p->png))) return false;
  png_set_write_fn(p->png, &p->sink, png_write_bytes, png_flush_nothing);
  png_set_benign_errors(p->png, 1);  // a profile libpng finds odd is left out with a warning
  png_set_IHDR(p->png, p->info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), depth, color,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (icc && icc_size > 0)
    png_set_iCCP(p->png, p->info, "ICC profile", PNG_COMPRESSION_TYPE_BASE, icc, static_cast<png_uint_32>(icc_size));
  png_write_info(p->png, p->info);
  png_write_image(p->png, rows);
  png_write_end(p->png, p->info);
  return true;
}

// libjpeg's destination: a fixed buffer flushed into a Sink (jpeg_mem_dest's own buffers would
// leak or dangle when an error longjmps out half way).
struct JpegDestination {
  jpeg_destination_mgr mgr;  // first: libjpeg passes &mgr, we cast back
  Sink* sink;
  unsigned char buffer[1 << 16];
};

void jpeg_flush(j_compress_ptr c, size_t n) {
  auto* d = reinterpret_cast<JpegDestination*>(c->dest);
  d->sink->append(d->buffer, n);
  if (d->sink->failed) {
    c->err->msg_code = JERR_OUT_OF_MEMORY;
    (*c->err->error_exit)(reinterpret_cast<j_common_ptr>(c));
  }
  d->mgr.next_output_byte = d->buffer;
  d->mgr.free_in_buffer = sizeof d->buffer;
}
void jpeg_dest_init(j_compress_ptr c) {
  auto* d = reinterpret_cast<JpegDestination*>(c->dest);
  d->mgr.next_output_byte = d->buffer;
  d->mgr.free_in_buffer = sizeof d->buffer;
}
boolean jpeg_dest_empty(j_compress_ptr c) {
  jpeg_flush(c, sizeof reinterpret_cast<JpegDestination*>(c->dest)->buffer);
  return TRUE;
}
void jpeg_dest_term(j_compress_ptr c) {
  auto* d = reinterpret_cast<JpegDestination*>(c->dest);
  jpeg_flush(c, sizeof d->buffer - d->mgr.free_in_buffer);
}

struct JpegWrite {
  jpeg_compress_struct cinfo{};
  JpegErrors errors{};
  JpegDestination dest{};
  Sink sink;
  bool created = false;
  ~JpegWrite() {
    if (created) jpeg_destroy_compress(&cinfo);
  }
};

bool jpeg_encode_in_setjmp_scope(JpegWrite* j, int w, int h, int quality, const unsigned char* rgb,
                                 const unsigned char* icc, unsigned int icc_size) {
  j->cinfo.err = jpeg_std_error(&j->errors.mgr);
  j->errors.mgr.error_exit = jpeg_on_error;
  if (setjmp(j->errors.jump)) return false;
  jpeg_create_compress(&j->cinfo);
  j->created = true;
  j->dest.sink = &j->sink;
  j->dest.mgr.init_destination = jpeg_dest_init;
  j->dest.mgr.empty_output_buffer = jpeg_dest_empty;
  j->dest.mgr.term_destination = jpeg_dest_term;
  j->cinfo.dest = &j->dest.mgr;
  j->cinfo.image_width = static_cast<JDIMENSION>(w);
  j->cinfo.image_height = static_cast<JDIMENSION>(h);
  j->cinfo.input_components = 3;
  j->cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&j->cinfo);
  jpeg_set_quality(&j->cinfo, quality, TRUE);
  if (quality >= 90)  // full-resolution colour at high quality (libjpeg's default halves it)
    for (int c = 0; c < 3; ++c) j->cinfo.comp_info[c].h_samp_factor = j->cinfo.comp_info[c].v_samp_factor = 1;
  jpeg_start_compress(&j->cinfo, TRUE);
  if (icc && icc_size > 0) jpeg_write_icc_profile(&j->cinfo, icc, icc_size);
  while (j->cinfo.next_scanline < j->cinfo.image_height) {
    JSAMPROW row = const_cast<unsigned char*>(rgb) + size_t(j->cinfo.next_scanline) * size_t(w) * 3;
    jpeg_write_scanlines(&j->cinfo, &row, 1);
  }
  jpeg_finish_compress(&j->cinfo);
  return true;
}

uint8_t to_u8(float v) {
  return static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v)) + 0.5f);  // v + 0.5 <= 255.5
}
uint16_t to_u16(float v) {
  return static_cast<uint16_t>(std::min(65535.0f, std::max(0.0f, v * 257.0f)) + 0.5f);
}

// Interleaved 8- or 16-bit (big-endian) samples of rgb (+ alpha), row-major.
std::vector<unsigned char> interleave(const Image& img, bool with_alpha, int bytes_per_sample) {
  const size_t n = size_t(img.width) * size_t(img.height);
  const size_t c = with_alpha ? 4 : 3;
  std::vector<unsigned char> out(n * c * size_t(bytes_per_sample));
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < c; ++k) {
      const float v = k < 3 ? img.rgb[3 * i + k] : img.alpha[i];
      const size_t at = (i * c + k) * size_t(bytes_per_sample);
      if (bytes_per_sample == 2) {
        const uint16_t u = to_u16(v);
        out[at] = static_cast<unsigned char>(u >> 8);
        out[at + 1] = static_cast<unsigned char>(u & 0xFF);
      } else {
        out[at] = to_u8(v);
      }
    }
  return out;
}

struct WebPMemory {
  uint8_t* bytes = nullptr;
  ~WebPMemory() { WebPFree(bytes); }
};

struct WebPMuxer {
  WebPMux* mux = WebPMuxNew();
  WebPData assembled{};
  ~WebPMuxer() {
    WebPDataClear(&assembled);
    if (mux) WebPMuxDelete(mux);
  }
};

}  // namespace

// =============================================================================================

Image decode_image(const unsigned char* bytes, size_t size, const std::string& name,
                   const ImageLimits& limits) {
  if (bytes == nullptr || size == 0) fail(name, "empty file");
  if (static_cast<uint64_t>(size) > static_cast<uint64_t>(std::max<int64_t>(limits.max_file_bytes, 0)))
    fail(name, "file is " + std::to_string(size) + " bytes, larger than the limit of " +
                   std::to_string(limits.max_file_bytes) + " bytes");

  Format fmt;
  if (!sniff(bytes, size, &fmt))
    fail(name, "unsupported image format (" + describe_unsupported(bytes, size) +
                   "); nst reads PNG, JPEG, WebP and BMP");

  // Sizes are checked before a decoder allocates anything: first as the header declares them,
  // then as the decoder reads them.
  int64_t dw = 0, dh = 0;
  if (declared_size(fmt, bytes, size, &dw, &dh)) check_size(name, dw, dh, limits);
  switch (fmt) {
    case Format::PNG: return to_image(decode_png(bytes, size, name, limits));
    case Format::JPEG: return to_image(decode_jpeg(bytes, size, name, limits));
    case Format::WebP: return to_image(decode_webp(bytes, size, name, limits));
    case Format::BMP: return to_image(decode_bmp(bytes, size, name, limits));
  }
  fail(name, std::string("unsupported image format (") + format_name(fmt) + ")");
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

  // Resamples `channels` interleaved planes and clamps to the input's range: cubic filters
  // overshoot near edges (NaN compares false, so it is skipped here and propagates).
  const auto resample = [&](const std::vector<float>& in, int channels) {
    std::vector<float> out(size_t(width) * size_t(height) * size_t(channels));
    const int ok = stbir_resize_float_generic(
        in.data(), img.width, img.height, img.width * channels * int(sizeof(float)), out.data(), width, height,
        width * channels * int(sizeof(float)), channels, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
        STBIR_FILTER_DEFAULT, STBIR_COLORSPACE_LINEAR, nullptr);
    if (!ok) throw std::bad_alloc();  // stb fails only when its scratch allocation fails
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (float v : in) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo <= hi)
      for (float& v : out) v = v < lo ? lo : v > hi ? hi : v;
    return out;
  };
  Image out;
  out.width = width;
  out.height = height;
  out.rgb = resample(img.rgb, 3);
  if (!img.alpha.empty()) out.alpha = resample(img.alpha, 1);
  out.icc_profile = img.icc_profile;
  return out;
}

std::pair<int, int> longest_side_size(int width, int height, int longest) {
  if (width < 1 || height < 1 || longest < 1)
    throw std::invalid_argument("resize_longest_side: sizes must be at least 1, got " + std::to_string(width) + "x" +
                                std::to_string(height) + " to longest side " + std::to_string(longest));
  const int64_t w = width, h = height, m = std::max(w, h);
  // Round to nearest in integers: (side * longest + m/2) / m; the longer side is exact.
  const auto scaled = [&](int64_t side) {
    return static_cast<int>(std::max<int64_t>(1, (side * longest + m / 2) / m));
  };
  return {scaled(w), scaled(h)};
}

Image resize_longest_side(const Image& img, int longest) {
  check_image(img, "resize_longest_side");
  const auto [w, h] = longest_side_size(img.width, img.height, longest);
  return resize_image(img, w, h);
}

// =============================================================================================

std::vector<unsigned char> encode_image(const Image& img, const std::string& path, const SaveOptions& opt,
                                        SaveResult* result) {
  if (opt.jpeg_quality < 1 || opt.jpeg_quality > 100)
    throw std::invalid_argument("jpeg_quality must be 1..100, got " + std::to_string(opt.jpeg_quality));
  if (opt.bit_depth != 8 && opt.bit_depth != 16)
    throw std::invalid_argument("bit_depth must be 8 or 16, got " + std::to_string(opt.bit_depth));
  const std::string ext = lower_extension(path);
  const bool png = ext == ".png", jpeg = ext == ".jpg" || ext == ".jpeg", webp = ext == ".webp";
  if (!png && !jpeg && !webp)
    fail(path, "unsupported output format '" + ext + "'; use .png, .jpg, .jpeg or .webp");
  if (opt.bit_depth == 16 && !png) fail(path, "16-bit output needs PNG; JPEG and WebP store 8 bits");
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
  for (size_t i = 0; i < img.alpha.size(); ++i)
    if (!std::isfinite(img.alpha[i]))
      fail(path, "alpha of pixel (x=" + std::to_string(i % size_t(img.width)) + ", y=" +
                     std::to_string(i / size_t(img.width)) + ") is not finite; refusing to write it");
  if (jpeg && (img.width > 65535 || img.height > 65535))
    fail(path, "JPEG cannot store an image wider or taller than 65535 pixels");
  if (webp && (img.width > WEBP_MAX_DIMENSION || img.height > WEBP_MAX_DIMENSION))
    fail(path, "WebP cannot store an image wider or taller than " + std::to_string(WEBP_MAX_DIMENSION) + " pixels");
  if (png && int64_t(img.width) * 8 * img.height > (int64_t(1) << 31))
    fail(path, "image is too large to encode as PNG");

  const bool alpha = !img.alpha.empty() && !jpeg;
  if (result) result->alpha_dropped = !img.alpha.empty() && jpeg;
  const std::vector<unsigned char>& icc = img.icc_profile;

  if (png) {
    const int bytes = opt.bit_depth / 8;
    std::vector<unsigned char> px = interleave(img, alpha, bytes);
    const size_t row = size_t(img.width) * (alpha ? 4 : 3) * size_t(bytes);
    std::vector<png_bytep> rows(size_t(img.height));
    for (size_t y = 0; y < rows.size(); ++y) rows[y] = px.data() + y * row;
    PngWrite p;
    p.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, p.error, png_on_error, png_on_warning);
    if (!p.png || !(p.info = png_create_info_struct(p.png))) throw std::bad_alloc();
    if (!png_encode_in_setjmp_scope(&p, img.width, img.height, opt.bit_depth,
                                    alpha ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, rows.data(),
                                    icc.empty() ? nullptr : icc.data(), icc.size())) {
      if (p.sink.failed) throw std::bad_alloc();
      fail(path, std::string("encoding PNG failed (libpng: ") + p.error + ")");
    }
    return std::move(p.sink.bytes);
  }
  if (jpeg) {
    const std::vector<unsigned char> px = interleave(img, false, 1);
    JpegWrite j;
    if (!jpeg_encode_in_setjmp_scope(&j, img.width, img.height, opt.jpeg_quality, px.data(),
                                     icc.empty() ? nullptr : icc.data(), static_cast<unsigned int>(icc.size()))) {
      if (j.sink.failed) throw std::bad_alloc();
      fail(path, std::string("encoding JPEG failed (libjpeg: ") + j.errors.message + ")");
    }
    return std::move(j.sink.bytes);
  }
  // WebP: lossy at jpeg_quality; alpha (if any) losslessly.
  const std::vector<unsigned char> px = interleave(img, alpha, 1);
  WebPMemory encoded;
  const int stride = img.width * (alpha ? 4 : 3);
  const auto q = static_cast<float>(opt.jpeg_quality);
  const size_t size = alpha ? WebPEncodeRGBA(px.data(), img.width, img.height, stride, q, &encoded.bytes)
                            : WebPEncodeRGB(px.data(), img.width, img.height, stride, q, &encoded.bytes);
  if (size == 0 || encoded.bytes == nullptr) fail(path, "encoding WebP failed");
  if (icc.empty()) return std::vector<unsigned char>(encoded.bytes, encoded.bytes + size);
  WebPMuxer m;
  const WebPData image{encoded.bytes, size}, profile{icc.data(), icc.size()};
  if (!m.mux || WebPMuxSetImage(m.mux, &image, 0) != WEBP_MUX_OK ||
      WebPMuxSetChunk(m.mux, "ICCP", &profile, 0) != WEBP_MUX_OK || WebPMuxAssemble(m.mux, &m.assembled) != WEBP_MUX_OK)
    fail(path, "encoding WebP failed (adding the ICC profile)");
  return std::vector<unsigned char>(m.assembled.bytes, m.assembled.bytes + m.assembled.size);
}

std::vector<unsigned char> encode_image(const Image& img, const std::string& path, int jpeg_quality) {
  SaveOptions opt;
  opt.jpeg_quality = jpeg_quality;
  return encode_image(img, path, opt);
}

SaveResult save_image(const Image& img, const std::string& path, const SaveOptions& opt) {
  SaveResult result;
  write_file_atomically(path, encode_image(img, path, opt, &result), opt.overwrite);
  return result;
}

}  // namespace nst
