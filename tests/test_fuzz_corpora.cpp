// Replays every committed fuzz input — the seed corpora in fuzz/corpus/<target>/ and every saved
// crash in fuzz/crashes/<target>/ — through the fuzz targets' own entry points
// (fuzz/entry_points.h), in the normal build and under the sanitizer build of .ci/run. Each input
// must be accepted or rejected with the documented exception; nothing else may escape.
#include <doctest/doctest.h>

#include "../fuzz/entry_points.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const std::string kFuzz = std::string(NST_SOURCE_DIR) + "/fuzz";

std::vector<unsigned char> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Runs `entry` on every file of fuzz/corpus/<target> and fuzz/crashes/<target>; returns how many.
template <class Entry>
int replay(const std::string& target, Entry entry) {
  int n = 0;
  for (const char* kind : {"corpus", "crashes"}) {
    const fs::path dir = fs::path(kFuzz) / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!e.is_regular_file() || e.path().filename().string()[0] == '.') continue;
      const std::vector<unsigned char> bytes = read_bytes(e.path());
      INFO(e.path().string());
      CHECK_NOTHROW(entry(bytes.data(), bytes.size()));
      ++n;
    }
  }
  MESSAGE(target << ": " << n << " inputs replayed");
  return n;
}

}  // namespace

TEST_CASE("fuzz corpora and crashes replay cleanly: decode_image") {
  CHECK(replay("decode_image", nst::fuzz::decode_image_input) >= 20);
  // The seeds mean something: a valid PNG, BMP and JPEG decode to their sizes.
  for (const auto& [name, w, h] : std::vector<std::tuple<std::string, int, int>>{
           {"png_rgb8_5x4", 5, 4}, {"png_interlaced_rgb8_9x9", 9, 9}, {"png_palette2_6x3", 6, 3},
           {"png_rgb16_3x2", 3, 2}, {"bmp_24_5x3", 5, 3}, {"jpeg_rgb_q30_17x9", 17, 9},
           {"jpeg_exif_orientation_6_8x8", 8, 8}, {"png_exif_orientation_6_3x2", 2, 3},
           {"webp_lossy_rgb_9x5", 9, 5}, {"webp_lossless_rgba_9x5", 9, 5}, {"png_rgba16_2x2", 2, 2}}) {
    const auto bytes = read_bytes(kFuzz + "/corpus/decode_image/" + name);
    const nst::Image img = nst::decode_image(bytes.data(), bytes.size(), name);
    CHECK(img.width == w);
    CHECK(img.height == h);
  }
}

// The six inputs that broke stb_image 2.27 (fuzz/README.md) are refused by libpng and
// libjpeg-turbo themselves, each with a one-line ImageError naming the library's reason.
TEST_CASE("the six inputs that broke stb_image are refused by libjpeg-turbo and libpng") {
  for (const char* name : {"stb_jpeg_dht_over_256_codes", "stb_jpeg_dht_after_junk", "stb_jpeg_dht_after_stuffed_fill",
                           "stb_png_empty_first_idat", "stb_png_idat_length_past_eof_allocates_gigabytes",
                           "stb_png_idat_header_cut_allocates_gigabytes"}) {
    const auto bytes = read_bytes(kFuzz + "/crashes/decode_image/" + name);
    REQUIRE(!bytes.empty());
    INFO(name);
    const bool jpeg = std::string(name).find("jpeg") != std::string::npos;
    try {
      const nst::Image img = nst::decode_image(bytes.data(), bytes.size(), "x");
      FAIL("decoded " << img.width << "x" << img.height);
    } catch (const nst::ImageError& e) {
      const std::string msg = e.what();
      CHECK(msg.find(jpeg ? "(libjpeg: " : "(libpng: ") != std::string::npos);
      CHECK(msg.find('\n') == std::string::npos);
    }
  }
}

TEST_CASE("a PNG with empty IDAT chunks decodes like the same PNG without them") {
  const auto png = read_bytes(kFuzz + "/corpus/decode_image/png_rgb8_5x4");
  const nst::Image want = nst::decode_image(png.data(), png.size(), "ok.png");
  // Insert a zero-length IDAT (length 0, type, CRC of "IDAT") before the first IDAT and at the end.
  const unsigned char empty_idat[12] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xAF, 0x06, 0x1E};
  std::vector<unsigned char> odd(png.begin(), png.end());
  const size_t at = 8 + 25;  // after the signature and IHDR
  odd.insert(odd.begin() + static_cast<std::ptrdiff_t>(at), empty_idat, empty_idat + 12);
  odd.insert(odd.end() - 12, empty_idat, empty_idat + 12);
  const nst::Image got = nst::decode_image(odd.data(), odd.size(), "odd.png");
  CHECK(got.width == want.width);
  CHECK(got.rgb == want.rgb);
}

TEST_CASE("fuzz corpora and crashes replay cleanly: load_checkpoint") {
  CHECK(replay("load_checkpoint", nst::fuzz::load_checkpoint_input) >= 3);
  // The seeds mean something: the valid ones load.
  for (const char* name : {"valid_float", "valid_half"})
    CHECK(nst::load_checkpoint(kFuzz + "/corpus/load_checkpoint/" + name).state.optimizer.pairs() == 3);
}

TEST_CASE("fuzz corpora and crashes replay cleanly: load_safetensors") {
  CHECK(replay("load_safetensors", nst::fuzz::load_safetensors_input) >= 10);
  // The valid seed loads through the memfd path and holds what make_seeds.py wrote.
  const auto bytes = read_bytes(kFuzz + "/corpus/load_safetensors/valid");
  const int fd = memfd_create("valid", MFD_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  const nst::WeightsFile f = nst::load_safetensors("/proc/self/fd/" + std::to_string(fd), nst::fuzz::weights_requests());
  close(fd);
  CHECK(f.tensors.at("conv.bias")[1] == -0.5f);
  CHECK(f.tensors.at("half")[3] == 65504.0f);
  CHECK(f.tensors.at("brain")[2] == -3.0f);
  CHECK(f.metadata.at("preprocess") == "caffe");
}

TEST_CASE("fuzz corpora and crashes replay cleanly: exif_orientation") {
  CHECK(replay("exif_orientation", nst::fuzz::exif_orientation_input) >= 20);
  // The seeds mean something: each orientation is found in either byte order, bad ones are 1.
  for (int o = 1; o <= 8; ++o)
    for (const char* order : {"le_", "be_"}) {
      const auto bytes = read_bytes(kFuzz + "/corpus/exif_orientation/" + order + std::to_string(o));
      CHECK(nst::exif_orientation(bytes.data(), bytes.size()) == o);
    }
  for (const auto& [name, want] : std::vector<std::pair<std::string, int>>{
           {"app1_prefix_6", 6}, {"after_other_tags_8", 8}, {"value_9", 1}, {"count_2", 1}, {"type_long", 1},
           {"truncated", 1}, {"ifd_offset_past_end", 1}, {"huge_entry_count", 1}}) {
    const auto bytes = read_bytes(kFuzz + "/corpus/exif_orientation/" + name);
    CHECK(nst::exif_orientation(bytes.data(), bytes.size()) == want);
  }
}

TEST_CASE("fuzz corpora and crashes replay cleanly: parse_options") {
  CHECK(replay("parse_options", nst::fuzz::parse_options_input) >= 8);
}
