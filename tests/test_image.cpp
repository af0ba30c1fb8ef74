// Image input/output: decoding hostile bytes, load_image on odd paths, resizing, and saving.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

// stb is a private dependency of nst_core, so its include directory is not ours: use the
// system path. The implementation comes with nst_core's link line (libstb).
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/crc32.h"
#include "support/exif_bytes.h"
#include "support/shared_data.h"
#include "support/temp_dir.h"
#include "nst/io/atomic_file.h"
#include "nst/io/image.h"

namespace fs = std::filesystem;
using nst::Image;
using nst::ImageError;
using Bytes = std::vector<unsigned char>;

namespace {

using nst::testing::exif_block;
using nst::testing::TempDir;
using nst::testing::with_exif_app1;

void write_bytes(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void append_to(void* ctx, void* data, int size) {
  auto* out = static_cast<Bytes*>(ctx);
  const auto* p = static_cast<const unsigned char*>(data);
  out->insert(out->end(), p, p + size);
}

// stb_image_write encoders into memory; comp = channels of `px`.
Bytes stb_png(int w, int h, int comp, const Bytes& px) {
  Bytes out;
  REQUIRE(stbi_write_png_to_func(append_to, &out, w, h, comp, px.data(), w * comp));
  return out;
}
Bytes stb_jpg(int w, int h, int comp, const Bytes& px, int quality) {
  Bytes out;
  REQUIRE(stbi_write_jpg_to_func(append_to, &out, w, h, comp, px.data(), quality));
  return out;
}
Bytes stb_bmp(int w, int h, int comp, const Bytes& px) {
  Bytes out;
  REQUIRE(stbi_write_bmp_to_func(append_to, &out, w, h, comp, px.data()));
  return out;
}

// A hand-made PNG, for what stb_image_write cannot make (16-bit, palette, bad headers).
using nst::testing::crc32;

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(v >> s));
}

void png_chunk(Bytes& png, const char* type, const Bytes& data) {
  put_be32(png, static_cast<uint32_t>(data.size()));
  Bytes body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  put_be32(png, crc32(body.data(), body.size()));
}

Bytes png_signature() { return {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}; }

Bytes ihdr(uint32_t w, uint32_t h, int depth, int color_type) {
  Bytes d;
  put_be32(d, w);
  put_be32(d, h);
  for (int v : {depth, color_type, 0, 0, 0}) d.push_back(static_cast<unsigned char>(v));
  return d;
}

// zlib stream with one stored (uncompressed) deflate block; raw must be < 65536 bytes.
Bytes zlib_stored(const Bytes& raw) {
  Bytes z = {0x78, 0x01, 0x01};
  const auto len = static_cast<uint16_t>(raw.size());
  const auto nlen = static_cast<uint16_t>(~len);
  for (uint16_t v : {len, nlen}) {
    z.push_back(static_cast<unsigned char>(v & 0xFF));
    z.push_back(static_cast<unsigned char>(v >> 8));
  }
  z.insert(z.end(), raw.begin(), raw.end());
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(z, b << 16 | a);
  return z;
}

// `rows`: each scanline's bytes without the filter byte (filter 0 is added).
Bytes make_png(uint32_t w, uint32_t h, int depth, int color_type, const std::vector<Bytes>& rows,
               const Bytes& plte = {}) {
  Bytes png = png_signature();
  png_chunk(png, "IHDR", ihdr(w, h, depth, color_type));
  if (!plte.empty()) png_chunk(png, "PLTE", plte);
  Bytes raw;
  for (const Bytes& r : rows) {
    raw.push_back(0);
    raw.insert(raw.end(), r.begin(), r.end());
  }
  png_chunk(png, "IDAT", zlib_stored(raw));
  png_chunk(png, "IEND", {});
  return png;
}

Image decode(const Bytes& b, const nst::ImageLimits& lim = {}) {
  return nst::decode_image(b.data(), b.size(), "mem.png", lim);
}

std::string decode_error(const Bytes& b, const nst::ImageLimits& lim = {}) {
  try {
    decode(b, lim);
  } catch (const ImageError& e) {
    return e.what();
  }
  return "";
}

std::string load_error(const std::string& path, const nst::ImageLimits& lim = {}) {
  try {
    nst::load_image(path, lim);
  } catch (const ImageError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<float> operator+(std::vector<float> a, const std::vector<float>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Either a well-formed image or an ImageError: the contract for any input.
void decode_must_not_crash(const Bytes& b) {
  try {
    const Image img = decode(b);
    CHECK(img.width >= 1);
    CHECK(img.height >= 1);
    REQUIRE(img.rgb.size() == size_t(img.width) * size_t(img.height) * 3);
  } catch (const ImageError& e) {
    CHECK(std::string(e.what()).rfind("mem.png: ", 0) == 0);
  }
}

Bytes rgb_pattern(int w, int h) {
  Bytes px(size_t(w) * size_t(h) * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>((i * 37 + i / 3 * 11) % 256);
  return px;
}

Image to_image(int w, int h, const Bytes& px) {
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.assign(px.begin(), px.end());
  return img;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Decoding

TEST_CASE("PNG, BMP: exact RGB, top row first; JPEG: close") {
  const int w = 7, h = 5;
  const Bytes px = rgb_pattern(w, h);
  for (const Bytes& file : {stb_png(w, h, 3, px), stb_bmp(w, h, 3, px)}) {
    const Image img = decode(file);
    REQUIRE(img.width == w);
    REQUIRE(img.height == h);
    REQUIRE(img.rgb.size() == px.size());
    for (size_t i = 0; i < px.size(); ++i) CHECK(img.rgb[i] == float(px[i]));
  }
  Bytes flat(size_t(16) * 16 * 3);
  for (size_t i = 0; i < flat.size(); ++i) flat[i] = static_cast<unsigned char>(i % 3 == 0 ? 200 : i % 3 == 1 ? 90 : 30);
  const Image jpg = decode(stb_jpg(16, 16, 3, flat, 95));
  REQUIRE(jpg.width == 16);
  REQUIRE(jpg.height == 16);
  for (size_t i = 0; i < flat.size(); ++i) CHECK(std::abs(jpg.rgb[i] - float(flat[i])) <= 4.0f);
}

TEST_CASE("gray, gray+alpha, RGBA, palette and 16-bit PNGs become RGB; alpha kept apart; 16 bits kept") {
  SUBCASE("gray (stb writer)") {
    const Image img = decode(stb_png(2, 1, 1, {10, 250}));
    CHECK(img.rgb == std::vector<float>{10, 10, 10, 250, 250, 250});
  }
  SUBCASE("gray + alpha") {
    const Image img = decode(stb_png(2, 1, 2, {10, 0, 250, 128}));
    CHECK(img.rgb == std::vector<float>{10, 10, 10, 250, 250, 250});
    CHECK(img.alpha == std::vector<float>{0, 128});
  }
  SUBCASE("RGBA") {
    const Image img = decode(stb_png(2, 1, 4, {1, 2, 3, 0, 200, 100, 50, 255}));
    CHECK(img.rgb == std::vector<float>{1, 2, 3, 200, 100, 50});
    CHECK(img.alpha == std::vector<float>{0, 255});
    // All opaque: no alpha to carry.
    CHECK(decode(stb_png(2, 1, 4, {1, 2, 3, 255, 200, 100, 50, 255})).alpha.empty());
  }
  SUBCASE("palette") {
    const Bytes plte = {255, 0, 0, 0, 255, 0, 7, 8, 9};
    const Image img = decode(make_png(3, 2, 8, 3, {{0, 1, 2}, {2, 2, 0}}, plte));
    CHECK(img.rgb == std::vector<float>{255, 0, 0, 0, 255, 0, 7, 8, 9, 7, 8, 9, 7, 8, 9, 255, 0, 0});
  }
  SUBCASE("16-bit RGB keeps all 16 bits (value / 257)") {
    const Image img = decode(make_png(1, 2, 16, 2, {{0xAB, 0xCD, 0x00, 0xFF, 0xFF, 0x00}, {1, 2, 3, 4, 5, 6}}));
    const std::vector<float> want = {0xABCD / 257.0f, 0x00FF / 257.0f, 0xFF00 / 257.0f,
                                     0x0102 / 257.0f, 0x0304 / 257.0f, 0x0506 / 257.0f};
    CHECK(img.rgb == want);
    CHECK(img.rgb[0] != std::round(img.rgb[0]));  // not reduced to 8 bits first
  }
  SUBCASE("16-bit gray") {
    const Image img = decode(make_png(2, 1, 16, 0, {{0x12, 0x34, 0xFE, 0xFF}}));
    CHECK(img.rgb == std::vector<float>(3, 0x1234 / 257.0f) + std::vector<float>(3, 0xFEFF / 257.0f));
  }
  SUBCASE("hand-made 8-bit RGB, checking our PNG builder itself") {
    const Image img = decode(make_png(1, 1, 8, 2, {{9, 8, 7}}));
    CHECK(img.rgb == std::vector<float>{9, 8, 7});
  }
}

TEST_CASE("1x1 and 1x4000 images decode with the right shape") {
  const Image one = decode(stb_png(1, 1, 3, {1, 2, 3}));
  CHECK(one.width == 1);
  CHECK(one.height == 1);
  CHECK(one.rgb == std::vector<float>{1, 2, 3});

  const Bytes tall = rgb_pattern(1, 4000);
  for (const Bytes& file : {stb_png(1, 4000, 3, tall), stb_bmp(1, 4000, 3, tall)}) {
    const Image img = decode(file);
    CHECK(img.width == 1);
    CHECK(img.height == 4000);
    CHECK(img.rgb[3 * 3999 + 2] == float(tall[3 * 3999 + 2]));
  }
  const Image wide = decode(stb_png(4000, 1, 3, rgb_pattern(4000, 1)));
  CHECK(wide.width == 4000);
  CHECK(wide.height == 1);
}

TEST_CASE("a tiny header declaring a huge image is rejected before decoding, naming size and limit") {
  // PNG: signature + IHDR only, 33 bytes.
  Bytes png = png_signature();
  png_chunk(png, "IHDR", ihdr(100000, 100000, 8, 2));
  const std::string msg = decode_error(png);
  CHECK(msg == "mem.png: image is 100000x100000, larger than the limit of 16384 pixels per side");

  // Within max_side but over max_pixels.
  nst::ImageLimits lim;
  lim.max_pixels = 1000;
  CHECK(decode_error(stb_png(40, 30, 3, rgb_pattern(40, 30)), lim) ==
        "mem.png: image is 40x30 = 1200 pixels, more than the limit of 1000");

  // BMP header declaring 50000 x -50000 (top-down).
  Bytes bmp = stb_bmp(2, 2, 3, rgb_pattern(2, 2));
  const int32_t wv = 50000, hv = -50000;
  std::memcpy(&bmp[18], &wv, 4);  // little-endian host (x86-64)
  std::memcpy(&bmp[22], &hv, 4);
  CHECK(contains(decode_error(bmp), "image is 50000x50000, larger than the limit of 16384"));

  // JPEG whose frame header declares 65535 x 65535.
  Bytes jpg = stb_jpg(8, 8, 3, rgb_pattern(8, 8), 90);
  bool patched = false;
  for (size_t i = 2; i + 8 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
      jpg[i + 5] = jpg[i + 6] = jpg[i + 7] = jpg[i + 8] = 0xFF;
      patched = true;
      break;
    }
  REQUIRE(patched);
  CHECK(contains(decode_error(jpg), "image is 65535x65535, larger than the limit"));
}

TEST_CASE("a declared size of zero is rejected") {
  Bytes png = png_signature();
  png_chunk(png, "IHDR", ihdr(0, 10, 8, 2));
  CHECK(contains(decode_error(png), "declares a size of 0x10; width and height must be at least 1"));
  Bytes bmp = stb_bmp(2, 2, 3, rgb_pattern(2, 2));
  bmp[18] = bmp[19] = bmp[20] = bmp[21] = 0;
  CHECK(contains(decode_error(bmp), "declares a size of 0x2"));
}

TEST_CASE("formats other than PNG, JPEG, WebP and BMP never reach a decoder") {
  const std::string tail = "; nst reads PNG, JPEG, WebP and BMP";
  const Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0};
  CHECK(decode_error(gif) == "mem.png: unsupported image format (GIF)" + tail);
  const Bytes psd = {'8', 'B', 'P', 'S', 0, 1, 0, 0, 0, 0, 0, 0};
  CHECK(decode_error(psd) == "mem.png: unsupported image format (PSD)" + tail);
  const std::string hdr = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 1\n";
  CHECK(contains(decode_error(Bytes(hdr.begin(), hdr.end())), "(Radiance HDR)"));
  const Bytes pic = {0x53, 0x80, 0xF6, 0x34, 0, 0, 0, 0};
  CHECK(contains(decode_error(pic), "(Softimage PIC)"));
  const std::string text = "hello, I am not an image\n";
  CHECK(decode_error(Bytes(text.begin(), text.end())) ==
        "mem.png: unsupported image format (looks like text)" + tail);
  CHECK(decode_error({0x00, 0x01, 0x02, 0xFE}) ==
        "mem.png: unsupported image format (unrecognized signature 00 01 02 FE)" + tail);
  CHECK(contains(decode_error({0x89, 'P', 'N'}), "(truncated PNG signature)"));
  CHECK(decode_error({}) == "mem.png: empty file");
}

TEST_CASE("truncated files: every prefix of a PNG, JPEG and BMP fails cleanly or decodes") {
  const Bytes px = rgb_pattern(9, 6);
  for (const Bytes& file : {stb_png(9, 6, 3, px), stb_jpg(9, 6, 3, px, 80), stb_bmp(9, 6, 3, px)}) {
    for (size_t n = 1; n < file.size(); ++n) decode_must_not_crash(Bytes(file.begin(), file.begin() + long(n)));
  }
  // A PNG cut inside its image data is an error, with stb's reason in the message.
  const Bytes png = stb_png(9, 6, 3, px);
  const std::string msg = decode_error(Bytes(png.begin(), png.begin() + 40));
  CHECK(msg.rfind("mem.png: cannot ", 0) == 0);
}

TEST_CASE("a PNG with a corrupted CRC: an image or an ImageError, never a crash") {
  Bytes png = make_png(2, 2, 8, 2, {{1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 12}});
  png[29] ^= 0xFF;  // last byte of the IHDR CRC (8 signature + 8 + 13 data = offset 29..32)
  decode_must_not_crash(png);
  png[png.size() - 20] ^= 0x55;  // inside IDAT
  decode_must_not_crash(png);
}

TEST_CASE("random bytes and mutated files never crash the decoder") {
  std::mt19937 rng(1234);
  auto byte = [&] { return static_cast<unsigned char>(rng() & 0xFF); };
  const Bytes magics[] = {png_signature(), {0xFF, 0xD8, 0xFF}, {'B', 'M'}, {}};
  for (int it = 0; it < 400; ++it) {
    Bytes b = magics[it % 4];
    const size_t n = rng() % 300;
    for (size_t i = 0; i < n; ++i) b.push_back(byte());
    if (b.empty()) continue;
    decode_must_not_crash(b);
  }
  const Bytes px = rgb_pattern(12, 10);
  for (const Bytes& file : {stb_png(12, 10, 3, px), stb_jpg(12, 10, 3, px, 75), stb_bmp(12, 10, 3, px)}) {
    for (int it = 0; it < 300; ++it) {
      Bytes b = file;
      const int flips = 1 + int(rng() % 4);
      for (int k = 0; k < flips; ++k) b[rng() % b.size()] = byte();
      decode_must_not_crash(b);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// load_image on paths

TEST_CASE("load_image: missing, directory, FIFO, device, empty, oversized, text named .png") {
  TempDir dir;
  CHECK(load_error(dir / "missing.png") == dir / "missing.png" + ": no such file");
  CHECK(load_error(dir.str()) == dir.str() + ": is a directory, not a regular file");

  REQUIRE(::mkfifo((dir / "fifo.png").c_str(), 0600) == 0);
  CHECK(load_error(dir / "fifo.png") == dir / "fifo.png" + ": is a FIFO (named pipe), not a regular file");

  if (fs::exists("/dev/zero"))
    CHECK(load_error("/dev/zero") == "/dev/zero: is a character device, not a regular file");

  write_bytes(dir / "empty.png", {});
  CHECK(load_error(dir / "empty.png") == dir / "empty.png" + ": empty file");

  const std::string text = "definitely not a PNG\n";
  write_bytes(dir / "text.png", Bytes(text.begin(), text.end()));
  CHECK(contains(load_error(dir / "text.png"), "unsupported image format (looks like text)"));

  const Bytes png = stb_png(4, 4, 3, rgb_pattern(4, 4));
  write_bytes(dir / "ok.png", png);
  nst::ImageLimits lim;
  lim.max_file_bytes = int64_t(png.size()) - 1;
  CHECK(load_error(dir / "ok.png", lim) == dir / "ok.png" + ": file is " + std::to_string(png.size()) +
                                               " bytes, larger than the limit of " +
                                               std::to_string(png.size() - 1) + " bytes");
  const Image img = nst::load_image(dir / "ok.png");
  CHECK(img.width == 4);
  CHECK(img.rgb.size() == 48);

  CHECK(load_error("") == "(empty path): no input file given");
  write_bytes(dir / "plainfile", {1});
  CHECK(load_error(dir / "plainfile/x.png") == dir / "plainfile/x.png" + ": a component of the path is not a directory");
}

TEST_CASE("load_image reads a symlink to an image") {
  TempDir dir;
  write_bytes(dir / "a.png", stb_png(2, 2, 3, rgb_pattern(2, 2)));
  fs::create_symlink(dir / "a.png", dir / "link.png");
  CHECK(nst::load_image(dir / "link.png").width == 2);
}

TEST_CASE("the shared test photo loads with plausible size and values") {
  const std::string path = std::string(NST_SHARED_DIR) + "/images/tubingen.jpg";
  if (!nst::testing::have_shared({path})) return;
  const Image img = nst::load_image(path);
  CHECK(img.width >= 64);
  CHECK(img.height >= 64);
  CHECK(img.width <= 16384);
  CHECK(img.height <= 16384);
  REQUIRE(img.rgb.size() == size_t(img.width) * size_t(img.height) * 3);
  float lo = 255, hi = 0;
  size_t bad = 0;
  for (float v : img.rgb) {
    if (!(v >= 0.0f && v <= 255.0f && v == std::floor(v))) ++bad;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(bad == 0);
  CHECK(lo >= 0.0f);
  CHECK(hi <= 255.0f);
  CHECK(hi - lo > 100);  // a photo, not a flat image
}

// ---------------------------------------------------------------------------------------------
// Resizing

TEST_CASE("resize: same size is an exact copy; a constant image stays constant") {
  const Image img = to_image(5, 3, rgb_pattern(5, 3));
  const Image same = nst::resize_image(img, 5, 3);
  CHECK(same.width == 5);
  CHECK(same.height == 3);
  CHECK(same.rgb == img.rgb);

  Image flat;
  flat.width = 37;
  flat.height = 23;
  flat.rgb.assign(size_t(37) * 23 * 3, 123.25f);
  for (auto [w, h] : {std::pair{10, 7}, std::pair{80, 50}, std::pair{1, 1}, std::pair{37, 200}}) {
    const Image r = nst::resize_image(flat, w, h);
    REQUIRE(r.width == w);
    REQUIRE(r.height == h);
    REQUIRE(r.rgb.size() == size_t(w) * size_t(h) * 3);
    CHECK(std::count(r.rgb.begin(), r.rgb.end(), 123.25f) == long(r.rgb.size()));
  }
}

TEST_CASE("resize: a sharp edge does not ring outside the input's range") {
  Image img;
  img.width = 8;
  img.height = 8;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c) img.rgb.push_back(x < 4 ? 0.0f : 255.0f);
  for (auto [w, h] : {std::pair{3, 3}, std::pair{29, 5}}) {
    const Image r = nst::resize_image(img, w, h);
    for (float v : r.rgb) {
      REQUIRE(v >= 0.0f);
      REQUIRE(v <= 255.0f);
    }
    CHECK(r.rgb.front() < 10.0f);  // left edge dark, right edge bright
    CHECK(r.rgb.back() > 245.0f);
  }
}

TEST_CASE("resize_longest_side keeps the aspect ratio, rounding, each side at least 1") {
  auto dims = [](int w, int h, int longest) {
    Image img;
    img.width = w;
    img.height = h;
    img.rgb.assign(size_t(w) * size_t(h) * 3, 50.0f);
    const Image r = nst::resize_longest_side(img, longest);
    return std::pair{r.width, r.height};
  };
  CHECK(dims(1024, 768, 512) == std::pair{512, 384});
  CHECK(dims(768, 1024, 512) == std::pair{384, 512});
  CHECK(dims(3, 1000, 512) == std::pair{2, 512});
  CHECK(dims(1, 4000, 512) == std::pair{1, 512});
  CHECK(dims(4000, 1, 512) == std::pair{512, 1});
  CHECK(dims(100, 100, 100) == std::pair{100, 100});
  CHECK(dims(10, 5, 25) == std::pair{25, 13});  // 12.5 rounds up
  CHECK(dims(1000, 333, 3) == std::pair{3, 1});
}

TEST_CASE("resize rejects bad sizes and inconsistent images") {
  const Image img = to_image(2, 2, rgb_pattern(2, 2));
  CHECK_THROWS_AS(nst::resize_image(img, 0, 5), std::invalid_argument);
  CHECK_THROWS_AS(nst::resize_image(img, 5, -1), std::invalid_argument);
  CHECK_THROWS_AS(nst::resize_longest_side(img, 0), std::invalid_argument);
  Image bad = img;
  bad.rgb.pop_back();
  CHECK_THROWS_AS(nst::resize_image(bad, 3, 3), std::invalid_argument);
  CHECK_THROWS_AS(nst::resize_image(Image{}, 3, 3), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Saving

TEST_CASE("PNG save/load round trip is exact; values are clamped and rounded to nearest") {
  TempDir dir;
  const Image img = to_image(13, 9, rgb_pattern(13, 9));
  nst::save_image(img, dir / "out.png");
  const Image back = nst::load_image(dir / "out.png");
  CHECK(back.width == 13);
  CHECK(back.height == 9);
  CHECK(back.rgb == img.rgb);

  Image odd;
  odd.width = 6;
  odd.height = 1;
  odd.rgb = {100.4f, 100.6f, -5.0f, 300.0f, 254.5f, 0.49f, 0.5f, 1e30f, -1e30f, 127.5f, 12.0f, 255.0f,
             3, 3, 3, 4, 4, 4};
  nst::save_image(odd, dir / "odd.PNG");
  CHECK(nst::load_image(dir / "odd.PNG").rgb ==
        std::vector<float>{100, 101, 0, 255, 255, 0, 1, 255, 0, 128, 12, 255, 3, 3, 3, 4, 4, 4});
  CHECK(dir.list() == std::set<std::string>{"odd.PNG", "out.png"});
}

TEST_CASE("JPEG save/load round trip is close; .jpg/.jpeg in any case") {
  TempDir dir;
  Image img;
  img.width = 64;
  img.height = 48;
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) {
      img.rgb.push_back(float(x * 4));
      img.rgb.push_back(float(y * 5));
      img.rgb.push_back(128.0f);
    }
  for (const char* name : {"a.jpg", "b.JPEG", "c.JpG"}) {
    nst::save_image(img, dir / name);
    const Image back = nst::load_image(dir / name);
    REQUIRE(back.width == 64);
    REQUIRE(back.height == 48);
    double err = 0;
    for (size_t i = 0; i < img.rgb.size(); ++i) err += std::abs(back.rgb[i] - img.rgb[i]);
    CHECK(err / double(img.rgb.size()) < 3.0);
  }
  const Bytes lo = nst::encode_image(img, "x.jpg", 5), hi = nst::encode_image(img, "x.jpg", 100);
  CHECK(lo.size() < hi.size());
  CHECK(lo[0] == 0xFF);
  CHECK(lo[1] == 0xD8);
  CHECK(nst::encode_image(img, "x.png", 95)[1] == 'P');
}

TEST_CASE("NaN or Inf pixels are refused and no file is created") {
  TempDir dir;
  Image img = to_image(4, 3, rgb_pattern(4, 3));
  img.rgb[3 * (4 * 2 + 1) + 1] = std::numeric_limits<float>::quiet_NaN();
  try {
    nst::save_image(img, dir / "nan.png");
    FAIL("saved an image with NaN");
  } catch (const ImageError& e) {
    CHECK(std::string(e.what()) == dir / "nan.png" +
                                       ": pixel (x=1, y=2) channel G is NaN; refusing to write an "
                                       "image with non-finite values");
  }
  img.rgb[3 * (4 * 2 + 1) + 1] = 0;
  img.rgb[0] = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(nst::save_image(img, dir / "inf.jpg"), ImageError);
  CHECK(dir.list().empty());
}

TEST_CASE("save: unsupported format, bad quality, inconsistent image") {
  TempDir dir;
  const Image img = to_image(2, 2, rgb_pattern(2, 2));
  for (const char* name : {"out.bmp", "out", "out.png.txt", "dir.png/out"}) {
    try {
      nst::save_image(img, dir / name);
      FAIL("saved " << name);
    } catch (const ImageError& e) {
      CHECK(contains(e.what(), "unsupported output format"));
    }
  }
  CHECK_THROWS_AS(nst::save_image(img, dir / "q.jpg", {0, false}), std::invalid_argument);
  CHECK_THROWS_AS(nst::save_image(img, dir / "q.jpg", {101, false}), std::invalid_argument);
  Image bad = img;
  bad.rgb.resize(5);
  CHECK_THROWS_AS(nst::save_image(bad, dir / "bad.png"), ImageError);
  CHECK(dir.list().empty());
}

TEST_CASE("save never replaces an existing file unless told to") {
  TempDir dir;
  const std::string out = dir / "out.png";
  const Bytes old = {'o', 'l', 'd'};
  write_bytes(out, old);
  const Image img = to_image(2, 2, rgb_pattern(2, 2));
  try {
    nst::save_image(img, out);
    FAIL("replaced an existing file");
  } catch (const nst::OutputError& e) {
    CHECK(std::string(e.what()) == out + ": exists; not replaced");
  }
  CHECK(read_bytes(out) == old);
  nst::save_image(img, out, {95, true});
  CHECK(nst::load_image(out).rgb == img.rgb);
  CHECK(dir.list() == std::set<std::string>{"out.png"});
}

TEST_CASE("save into a missing directory fails and leaves nothing") {
  TempDir dir;
  CHECK_THROWS_AS(nst::save_image(to_image(1, 1, {1, 2, 3}), dir / "nope/out.png"), nst::OutputError);
  CHECK(dir.list().empty());
}

// ---------------------------------------------------------------------------------------------
// Images as people have them: EXIF orientation, alpha, 16 bits, WebP, ICC profiles. The inputs
// are made here, with nst's own encoders (libpng, libjpeg-turbo, libwebp) or by hand.

namespace {

// `png` with an eXIf chunk right after IHDR.
Bytes with_exif_chunk(const Bytes& png, int o) {
  Bytes head(png.begin(), png.begin() + 33), tail(png.begin() + 33, png.end());  // signature + IHDR
  png_chunk(head, "eXIf", exif_block(o));
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

// The display transforms, written independently of the decoder's index formula.
Image flip_h(const Image& a) {
  Image b = a;
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x)
      for (int k = 0; k < 3; ++k)
        b.rgb[size_t(3 * (y * a.width + x) + k)] = a.rgb[size_t(3 * (y * a.width + (a.width - 1 - x)) + k)];
  return b;
}
Image rotate_cw(const Image& a) {  // 90 degrees clockwise: the left column becomes the top row
  Image b;
  b.width = a.height;
  b.height = a.width;
  b.rgb.resize(a.rgb.size());
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x)
      for (int k = 0; k < 3; ++k)
        b.rgb[size_t(3 * (x * b.width + (a.height - 1 - y)) + k)] = a.rgb[size_t(3 * (y * a.width + x) + k)];
  return b;
}
Image upright(const Image& stored, int o) {
  switch (o) {
    case 2: return flip_h(stored);
    case 3: return rotate_cw(rotate_cw(stored));
    case 4: return flip_h(rotate_cw(rotate_cw(stored)));
    case 5: return flip_h(rotate_cw(stored));
    case 6: return rotate_cw(stored);
    case 7: return rotate_cw(flip_h(stored));
    case 8: return rotate_cw(rotate_cw(rotate_cw(stored)));
    default: return stored;
  }
}

// An ICC profile libpng accepts (v2.1 RGB display profile header, no tags, then 892 bytes of
// our own): 1024 bytes. (Debian's libpng 1.6.39 drops iCCP chunks under about 92 bytes as "too
// short", so the profile must not compress to almost nothing.)
Bytes tiny_icc_profile() {
  Bytes p(1024, 0);
  std::mt19937 rng(14);
  for (size_t i = 132; i < p.size(); ++i) p[i] = static_cast<unsigned char>(rng());
  const auto put = [&](size_t at, const char* four) { std::memcpy(&p[at], four, 4); };
  p[2] = 4;                        // profile size: 1024
  p[8] = 0x02;                     // version 2.1
  p[9] = 0x10;
  put(12, "mntr");
  put(16, "RGB ");
  put(20, "XYZ ");
  put(36, "acsp");
  const uint32_t d50[3] = {0x0000F6D6, 0x00010000, 0x0000D32D};
  for (int i = 0; i < 3; ++i)
    for (int b = 0; b < 4; ++b) p[size_t(68 + 4 * i + b)] = static_cast<unsigned char>(d50[i] >> (24 - 8 * b));
  p[100] = 'n';  // some bytes of our own, to see they survive
  p[101] = 's';
  p[102] = 't';
  return p;
}

Image opaque_gradient(int w, int h) {
  Image img;
  img.width = w;
  img.height = h;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (float v : {float(x * 255 / std::max(1, w - 1)), float(y * 255 / std::max(1, h - 1)), 90.0f})
        img.rgb.push_back(v);
  return img;
}

double mean_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::abs(double(a[i]) - double(b[i]));
  return s / double(a.size());
}

}  // namespace

TEST_CASE("EXIF orientation: all 8 values come out upright (PNG eXIf, lossless)") {
  const int w = 3, h = 2;
  Bytes px(size_t(w * h * 3));
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>(i * 10);
  const Image stored = to_image(w, h, px);
  const Bytes png = stb_png(w, h, 3, px);
  CHECK(decode(png).rgb == stored.rgb);
  for (int o = 1; o <= 8; ++o) {
    INFO("orientation ", o);
    const Image got = decode(with_exif_chunk(png, o));
    const Image want = upright(stored, o);
    CHECK(got.width == want.width);
    CHECK(got.height == want.height);
    CHECK(got.rgb == want.rgb);
  }
  // A value outside 1..8 is ignored.
  CHECK(decode(with_exif_chunk(png, 9)).rgb == stored.rgb);
}

TEST_CASE("a phone JPEG stored sideways (EXIF orientation 6) is stylized and written upright") {
  // Stored 16x8: left half red, right half blue; orientation 6 = turn 90 degrees clockwise, so a
  // person sees 8x16, red on top.
  Image stored;
  stored.width = 16;
  stored.height = 8;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 16; ++x)
      for (float v : {x < 8 ? 230.f : 20.f, 20.f, x < 8 ? 20.f : 230.f}) stored.rgb.push_back(v);
  const Bytes jpeg = with_exif_app1(nst::encode_image(stored, "x.jpg", 95), 6);
  TempDir dir;
  write_bytes(dir / "phone.jpg", jpeg);
  const Image img = nst::load_image(dir / "phone.jpg");
  REQUIRE(img.width == 8);
  REQUIRE(img.height == 16);
  const auto pixel = [&](const Image& im, int x, int y, int k) { return im.rgb[size_t(3 * (y * im.width + x) + k)]; };
  CHECK(pixel(img, 4, 2, 0) > 200);  // top: red
  CHECK(pixel(img, 4, 2, 2) < 50);
  CHECK(pixel(img, 4, 13, 0) < 50);  // bottom: blue
  CHECK(pixel(img, 4, 13, 2) > 200);
  // Written back (no EXIF is written), it reads upright without any orientation to apply.
  for (const char* name : {"out.png", "out.jpg", "out.webp"}) {
    nst::save_image(img, dir / name);
    const Image back = nst::load_image(dir / name);
    CHECK(back.width == 8);
    CHECK(back.height == 16);
    CHECK(pixel(back, 4, 2, 0) > 200);
  }
}

TEST_CASE("alpha: kept exactly in PNG and WebP output; JPEG output says it was dropped") {
  TempDir dir;
  Image img = opaque_gradient(9, 7);
  for (int i = 0; i < 63; ++i) img.alpha.push_back(float((i * 41) % 256));
  img.alpha[0] = 0;
  img.alpha[1] = 255;
  for (const char* name : {"a.png", "a.webp"}) {
    INFO(name);
    const nst::SaveResult r = nst::save_image(img, dir / name);
    CHECK_FALSE(r.alpha_dropped);
    const Image back = nst::load_image(dir / name);
    CHECK(back.alpha == img.alpha);
    if (std::string(name) == "a.png") CHECK(back.rgb == img.rgb);
  }
  const nst::SaveResult r = nst::save_image(img, dir / "a.jpg");
  CHECK(r.alpha_dropped);
  CHECK(nst::load_image(dir / "a.jpg").alpha.empty());
  CHECK_FALSE(nst::save_image(opaque_gradient(4, 4), dir / "opaque.jpg").alpha_dropped);
  // Resizing resizes alpha with the colours.
  const Image small = nst::resize_longest_side(img, 5);
  CHECK(small.alpha.size() == size_t(small.width) * size_t(small.height));
  // An alpha of the wrong size is a caller's bug.
  Image bad = img;
  bad.alpha.pop_back();
  CHECK_THROWS_AS(nst::save_image(bad, dir / "bad.png"), ImageError);
}

TEST_CASE("16-bit PNG: read at full precision, written with bit_depth 16, exact round trip") {
  TempDir dir;
  Image img;
  img.width = 4;
  img.height = 3;
  for (int i = 0; i < 36; ++i) img.rgb.push_back(float((i * 1777 + 3) % 65536) / 257.0f);
  img.alpha = std::vector<float>(12, 65000 / 257.0f);
  nst::SaveOptions opt;
  opt.bit_depth = 16;
  nst::save_image(img, dir / "deep.png", opt);
  const Bytes file = read_bytes(dir / "deep.png");
  CHECK(file[24] == 16);  // IHDR bit depth
  CHECK(file[25] == 6);   // RGBA
  const Image back = nst::load_image(dir / "deep.png");
  CHECK(back.rgb == img.rgb);
  CHECK(back.alpha == img.alpha);
  // 8-bit output of the same image rounds to 8 bits.
  nst::save_image(img, dir / "flat.png");
  CHECK(read_bytes(dir / "flat.png")[24] == 8);
  for (float v : nst::load_image(dir / "flat.png").rgb) CHECK(v == std::round(v));
  // 16 bits only in PNG.
  CHECK_THROWS_WITH_AS(nst::save_image(img, dir / "deep.jpg", opt), doctest::Contains("16-bit output needs PNG"),
                       ImageError);
  opt.bit_depth = 12;
  CHECK_THROWS_AS(nst::save_image(img, dir / "x.png", opt), std::invalid_argument);
  CHECK(dir.list() == std::set<std::string>{"deep.png", "flat.png"});
}

TEST_CASE("WebP in and out") {
  TempDir dir;
  const Image img = opaque_gradient(40, 30);
  nst::save_image(img, dir / "g.webp");
  const Bytes file = read_bytes(dir / "g.webp");
  REQUIRE(file.size() > 12);
  CHECK(std::memcmp(file.data(), "RIFF", 4) == 0);
  CHECK(std::memcmp(file.data() + 8, "WEBP", 4) == 0);
  const Image back = nst::load_image(dir / "g.webp");
  REQUIRE(back.width == 40);
  REQUIRE(back.height == 30);
  CHECK(back.alpha.empty());
  CHECK(mean_abs_diff(back.rgb, img.rgb) < 3.0);
  // Truncated WebP: a clean error.
  CHECK(contains(decode_error(Bytes(file.begin(), file.begin() + long(file.size() / 2))), "WebP"));
  // The quality setting is used.
  nst::SaveOptions lo;
  lo.jpeg_quality = 5;
  CHECK(nst::encode_image(img, "x.webp", lo).size() < file.size());
}

TEST_CASE("an embedded ICC profile goes from the input to PNG, JPEG and WebP output") {
  TempDir dir;
  Image img = opaque_gradient(6, 5);
  img.icc_profile = tiny_icc_profile();
  for (const char* first : {"p.png", "p.jpg", "p.webp"}) {
    nst::save_image(img, dir / first);
    const Image in = nst::load_image(dir / first);
    INFO(first);
    CHECK(in.icc_profile == img.icc_profile);
    for (const char* second : {"q.png", "q.jpg", "q.webp"}) {
      nst::save_image(in, dir / second, {95, true});
      CHECK(nst::load_image(dir / second).icc_profile == img.icc_profile);
    }
  }
  nst::save_image(opaque_gradient(6, 5), dir / "none.png");
  CHECK(nst::load_image(dir / "none.png").icc_profile.empty());
}
