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

#include "support/temp_dir.h"
#include "nst/io/atomic_file.h"
#include "nst/io/image.h"

namespace fs = std::filesystem;
using nst::Image;
using nst::ImageError;
using Bytes = std::vector<unsigned char>;

namespace {

using nst::testing::TempDir;

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
uint32_t crc32(const unsigned char* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

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

TEST_CASE("gray, gray+alpha, RGBA, palette and 16-bit PNGs become 8-bit RGB, alpha dropped") {
  SUBCASE("gray (stb writer)") {
    const Image img = decode(stb_png(2, 1, 1, {10, 250}));
    CHECK(img.rgb == std::vector<float>{10, 10, 10, 250, 250, 250});
  }
  SUBCASE("gray + alpha") {
    const Image img = decode(stb_png(2, 1, 2, {10, 0, 250, 128}));
    CHECK(img.rgb == std::vector<float>{10, 10, 10, 250, 250, 250});
  }
  SUBCASE("RGBA") {
    const Image img = decode(stb_png(2, 1, 4, {1, 2, 3, 0, 200, 100, 50, 255}));
    CHECK(img.rgb == std::vector<float>{1, 2, 3, 200, 100, 50});
  }
  SUBCASE("palette") {
    const Bytes plte = {255, 0, 0, 0, 255, 0, 7, 8, 9};
    const Image img = decode(make_png(3, 2, 8, 3, {{0, 1, 2}, {2, 2, 0}}, plte));
    CHECK(img.rgb == std::vector<float>{255, 0, 0, 0, 255, 0, 7, 8, 9, 7, 8, 9, 7, 8, 9, 255, 0, 0});
  }
  SUBCASE("16-bit RGB keeps the high byte") {
    const Image img = decode(make_png(1, 2, 16, 2, {{0xAB, 0xCD, 0x00, 0xFF, 0xFF, 0x00}, {1, 2, 3, 4, 5, 6}}));
    CHECK(img.rgb == std::vector<float>{0xAB, 0x00, 0xFF, 1, 3, 5});
  }
  SUBCASE("16-bit gray") {
    const Image img = decode(make_png(2, 1, 16, 0, {{0x12, 0x34, 0xFE, 0xFF}}));
    CHECK(img.rgb == std::vector<float>{0x12, 0x12, 0x12, 0xFE, 0xFE, 0xFE});
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

TEST_CASE("formats other than PNG, JPEG and BMP never reach the decoder") {
  const std::string tail = "; nst reads PNG, JPEG and BMP";
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
  CHECK(load_error(dir.path) == dir.path + ": is a directory, not a regular file");

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
  if (!fs::exists(path)) {
    MESSAGE("skipped: " << path << " is absent");
    return;
  }
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
