// The safetensors weights reader: valid files of every supported dtype, and hostile ones.
#include "nst/io/safetensors.h"

#include "support/safetensors_writer.h"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <set>

using namespace nst;
using namespace nst::testing;

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The WeightsError message of loading `path`, or "" when it loads.
std::string load_error(const std::string& path, const std::vector<TensorRequest>& wanted) {
  try {
    load_safetensors(path, wanted);
  } catch (const WeightsError& e) {
    return e.what();
  }
  return "";
}

// One tensor entry of a hand-written header.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  uint64_t begin, uint64_t end) {
  return json_quote(name) + ":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

const std::vector<float> kW = {1.f, -2.f, 3.5f, 0.25f, -0.f, 6.f};  // w: F32 [2,3]
const std::vector<TensorRequest> kWantW = {{"w", {2, 3}}};
std::string w_data() { return f32_bytes(kW); }
std::string good_file() { return safetensors_bytes({{"w", "F32", {2, 3}, w_data()}}); }

}  // namespace

TEST_CASE("F16 and BF16 conversion") {
  CHECK(f16_to_float(0x3C00) == 1.0f);
  CHECK(f16_to_float(0xC000) == -2.0f);
  CHECK(f16_to_float(0x7BFF) == 65504.0f);              // largest finite
  CHECK(f16_to_float(0x0400) == std::ldexp(1.0f, -14));  // smallest normal
  CHECK(f16_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(f16_to_float(0x03FF) == std::ldexp(1023.0f, -24));
  CHECK(f16_to_float(0x8001) == -std::ldexp(1.0f, -24));
  CHECK(f16_to_float(0x3555) == 0.333251953125f);
  CHECK(bits_of(f16_to_float(0x0000)) == 0x00000000u);
  CHECK(bits_of(f16_to_float(0x8000)) == 0x80000000u);  // negative zero keeps its sign
  CHECK(f16_to_float(0x7C00) == std::numeric_limits<float>::infinity());
  CHECK(f16_to_float(0xFC00) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(f16_to_float(0x7E00)));
  CHECK(std::isnan(f16_to_float(0x7C01)));  // signalling pattern is still NaN
  CHECK(std::isnan(f16_to_float(0xFFFF)));

  // All 65536 patterns against an independent formula.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    bool neg = (h & 0x8000) != 0;
    float got = f16_to_float(static_cast<uint16_t>(h));
    if (exp == 31) {
      if (mant == 0) CHECK(got == (neg ? -1.0f : 1.0f) * std::numeric_limits<float>::infinity());
      else CHECK(std::isnan(got));
      continue;
    }
    float mag = exp == 0 ? std::ldexp(static_cast<float>(mant), -24)
                         : std::ldexp(static_cast<float>(1024 + mant), static_cast<int>(exp) - 25);
    float want = neg ? -mag : mag;
    if (bits_of(got) != bits_of(want)) {
      INFO("f16 pattern ", h);
      CHECK(bits_of(got) == bits_of(want));
    }
  }

  CHECK(bf16_to_float(0x3F80) == 1.0f);
  CHECK(bf16_to_float(0xC049) == -3.140625f);
  CHECK(bits_of(bf16_to_float(0x8000)) == 0x80000000u);
  CHECK(bf16_to_float(0x0001) == std::ldexp(1.0f, -133));  // float subnormal
  CHECK(bf16_to_float(0x7F7F) == 3.38953139e38f);
  CHECK(bf16_to_float(0xFF80) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(bf16_to_float(0x7FC0)));
}

TEST_CASE("F32, F16 and BF16 files load with exact values") {
  TempDir dir;
  const std::vector<float> f32 = {1.f, -0.f, 1e-45f, std::numeric_limits<float>::max(), -3.75f, 0.1f};
  const std::vector<uint16_t> f16 = {0x3C00, 0x8000, 0x0001, 0x03FF, 0x7BFF, 0xB555};
  const std::vector<uint16_t> bf16 = {0x3F80, 0x8000, 0x0001, 0xC049, 0x7F7F, 0x0080};
  std::string path = dir.path("mixed.safetensors");
  write_file(path, safetensors_bytes({{"a.f32", "F32", {2, 3}, f32_bytes(f32)},
                                      {"b.f16", "F16", {3, 2}, u16_bytes(f16)},
                                      {"c.bf16", "BF16", {6}, u16_bytes(bf16)},
                                      {"scalar", "F32", {}, f32_bytes({42.f})}}));
  WeightsFile wf = load_safetensors(path, {{"c.bf16", {6}}, {"a.f32", {2, 3}}, {"b.f16", {3, 2}}, {"scalar", {}}});
  REQUIRE(wf.tensors.size() == 4);
  CHECK(wf.metadata.empty());

  const Tensor<float>& a = wf.tensors.at("a.f32");
  CHECK(a.shape() == Shape{2, 3});
  for (int64_t i = 0; i < 6; ++i) CHECK(bits_of(a[i]) == bits_of(f32[static_cast<size_t>(i)]));

  const Tensor<float>& b = wf.tensors.at("b.f16");
  CHECK(b.shape() == Shape{3, 2});
  CHECK(b[0] == 1.0f);
  CHECK(bits_of(b[1]) == 0x80000000u);  // -0
  CHECK(b[2] == std::ldexp(1.0f, -24));
  CHECK(b[3] == std::ldexp(1023.0f, -24));
  CHECK(b[4] == 65504.0f);
  CHECK(b[5] == -0.333251953125f);

  const Tensor<float>& c = wf.tensors.at("c.bf16");
  CHECK(c[0] == 1.0f);
  CHECK(bits_of(c[1]) == 0x80000000u);
  CHECK(c[2] == std::ldexp(1.0f, -133));
  CHECK(c[3] == -3.140625f);
  CHECK(c[4] == 3.38953139e38f);
  CHECK(c[5] == std::ldexp(1.0f, -126));

  CHECK(wf.tensors.at("scalar").shape().empty());
  CHECK(wf.tensors.at("scalar")[0] == 42.f);
}

TEST_CASE("only requested tensors are returned; extra and unknown-dtype tensors are ignored") {
  TempDir dir;
  std::string path = dir.path("extra.safetensors");
  write_file(path, safetensors_bytes({{"classifier.0.weight", "F32", {4, 2}, f32_bytes(std::vector<float>(8, 0.5f))},
                                      {"w", "F32", {2, 3}, w_data()},
                                      {"quantized", "Q4_K", {32}, std::string(18, '\x7f')},
                                      {"counter", "I64", {1}, std::string(8, '\0')},
                                      {"empty", "F32", {0, 4}, ""},
                                      {"nan.unused", "F32", {1}, f32_bytes({std::nanf("")})}},
                                     {{"format", "pt"}, {"preprocess", "caffe"}, {"note", "caf\xC3\xA9 \"q\""}}));
  WeightsFile wf = load_safetensors(path, kWantW);
  REQUIRE(wf.tensors.size() == 1);
  const Tensor<float>& w = wf.tensors.at("w");
  for (int64_t i = 0; i < 6; ++i) CHECK(bits_of(w[i]) == bits_of(kW[static_cast<size_t>(i)]));
  CHECK(wf.metadata.size() == 3);
  CHECK(wf.metadata.at("preprocess") == "caffe");
  CHECK(wf.metadata.at("note") == "caf\xC3\xA9 \"q\"");

  // Asking for nothing still validates the header and returns the metadata.
  WeightsFile none = load_safetensors(path, {});
  CHECK(none.tensors.empty());
  CHECK(none.metadata.at("format") == "pt");

  // The same tensor requested twice is fine.
  CHECK(load_safetensors(path, {{"w", {2, 3}}, {"w", {2, 3}}}).tensors.size() == 1);
}

TEST_CASE("header layout variations: padding, whitespace, order, escaped names") {
  TempDir dir;
  std::string data = f32_bytes({7.f, 8.f}) + w_data();
  // Entries out of data order, metadata last, escaped name, newlines and space padding.
  std::string header = "{\n  " + entry("w", "F32", "[2, 3]", 8, 32) + ",\n  " +
                       "\"b\\u0031\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}" +
                       ",\n  \"__metadata__\": {\"preprocess\": \"torchvision\"}\n}";
  std::string path = dir.path("layout.safetensors");
  write_file(path, safetensors_raw(header, data, 64));
  WeightsFile wf = load_safetensors(path, {{"b1", {2}}, {"w", {2, 3}}});
  CHECK(wf.tensors.at("b1")[1] == 8.f);
  CHECK(wf.tensors.at("w")[2] == 3.5f);
  CHECK(wf.metadata.at("preprocess") == "torchvision");
}

TEST_CASE("a large unused tensor is never read") {
  // A 4 GiB sparse file: only w's 24 bytes are read (reading it all would take seconds and
  // allocating it would take 4 GiB).
  TempDir dir;
  const uint64_t big = uint64_t{1} << 32;
  std::string header = "{" + entry("w", "F32", "[2,3]", 0, 24) + "," +
                       entry("classifier.weight", "U8", "[" + std::to_string(big) + "]", 24, 24 + big) + "}";
  std::string path = dir.path("big.safetensors");
  std::string head = safetensors_raw(header, w_data(), 8);
  write_file(path, head);
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(head.size() + big)) == 0);
  WeightsFile wf = load_safetensors(path, kWantW);
  CHECK(wf.tensors.at("w")[5] == 6.f);
}

TEST_CASE("malformed files: each is rejected with its own one-line message") {
  TempDir dir;
  const std::string w24 = w_data();

  struct Case {
    std::string label;
    std::function<void(const std::string& path)> make;  // creates the file (or not)
    std::string expected;                                // substring of the message
    std::vector<TensorRequest> wanted = kWantW;
  };
  auto bytes = [](std::string b) { return [b](const std::string& p) { write_file(p, b); }; };
  auto header = [](std::string h, std::string data) {
    return [h, data](const std::string& p) { write_file(p, safetensors_raw(h, data)); };
  };
  auto one = [](std::string e) { return "{" + e + "}"; };

  std::vector<Case> cases = {
      {"missing file", [](const std::string&) {}, "no such file"},
      {"directory", [](const std::string& p) { std::filesystem::create_directory(p); }, "is a directory"},
      {"fifo", [](const std::string& p) { REQUIRE(::mkfifo(p.c_str(), 0600) == 0); }, "is a FIFO"},
      {"empty file", bytes(""), "file is empty"},
      {"7-byte file", bytes(std::string("\x10\0\0\0\0\0\0", 7)), "file is 7 bytes, too short"},
      {"header length 0", bytes(u64_le(0) + "{}"), "header length is 0"},
      {"header length 2^63", bytes(u64_le(uint64_t{1} << 63) + "{}"),
       "header length 9223372036854775808 exceeds the limit of 100000000 bytes"},
      {"zip file", bytes(std::string("PK\x03\x04\x14\0\0\0", 8) + std::string(100, 'x')),
       "looks like a PyTorch .pth (zip) file"},
      {"header past EOF", bytes(u64_le(100) + "{}"), "header length 100 runs past the end of the file (10 bytes)"},
      {"header not JSON", header("hello", ""), "header is not valid JSON at byte 0: syntax error while parsing value - invalid literal; last read: 'h'"},
      {"truncated JSON", header("{\"w\": {\"dtype\": \"F32\"", ""), "while parsing object - unexpected end of input"},
      {"top level array", header("[]", ""), "header is a JSON array, expected an object"},
      {"trailing garbage", header(one(entry("w", "F32", "[2,3]", 0, 24)) + " x", w24),
       "expected end of input"},
      {"NUL padding", header(std::string("{}\0\0", 4), ""), "header is not valid JSON at byte 2: a NUL byte"},
      {"duplicate tensor name",
       header("{" + entry("w", "F32", "[2,3]", 0, 24) + "," + entry("w", "F32", "[2,3]", 0, 24) + "}", w24),
       "header has duplicate key \"w\""},
      {"deep nesting", header("{\"w\":" + std::string(100, '[') + std::string(100, ']') + "}", ""),
       "header nests JSON deeper than 64 levels"},
      {"invalid UTF-8 name", header(one(entry("w\xE0\x80\xAF", "F32", "[2,3]", 0, 24)), w24), "ill-formed UTF-8 byte; last read: '\"w\\xe0\\x80'"},
      {"entry not an object", header("{\"w\": [1, 2]}", ""), "tensor w header entry is an array, expected an object"},
      {"missing dtype", header("{\"w\": {\"shape\": [2,3], \"data_offsets\": [0,24]}}", w24),
       "tensor w has no \"dtype\" field"},
      {"missing shape", header("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0,24]}}", w24),
       "tensor w has no \"shape\" field"},
      {"missing data_offsets", header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2,3]}}", w24),
       "tensor w has no \"data_offsets\" field"},
      {"unexpected field",
       header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2,3], \"data_offsets\": [0,24], \"extra\": 1}}", w24),
       "tensor w has unexpected field \"extra\""},
      {"dtype not a string", header("{\"w\": {\"dtype\": 4, \"shape\": [2,3], \"data_offsets\": [0,24]}}", w24),
       "tensor w: \"dtype\" is a number, expected a string"},
      {"shape not an array", header(one(entry("w", "F32", "\"2x3\"", 0, 24)), w24),
       "tensor w: \"shape\" is a string, expected an array of integers"},
      {"shape element a string", header(one(entry("w", "F32", "[2,\"3\"]", 0, 24)), w24),
       "tensor w: shape element 1 is a string, expected an integer"},
      {"shape element fractional", header(one(entry("w", "F32", "[2,3.0]", 0, 24)), w24),
       "tensor w: shape element 1 (3.0) is not a 64-bit integer"},
      {"data_offsets not an array",
       header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2,3], \"data_offsets\": {\"b\": 0}}}", w24),
       "tensor w: \"data_offsets\" is an object, expected [begin, end]"},
      {"data_offsets with 3 elements",
       header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2,3], \"data_offsets\": [0,12,24]}}", w24),
       "tensor w: \"data_offsets\" has 3 elements"},
      {"negative offset", header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2,3], \"data_offsets\": [-1,23]}}", w24),
       "tensor w: data_offsets begin is not a non-negative 64-bit integer"},
      {"offset beyond 2^64",
       header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2,3], \"data_offsets\": [0,18446744073709551616]}}", w24),
       "tensor w: data_offsets end is not a non-negative 64-bit integer"},
      {"unknown dtype on a wanted tensor", header(one(entry("w", "Q4_K", "[2,3]", 0, 24)), w24),
       "w has dtype Q4_K, expected F32, F16 or BF16"},
      {"I64 wanted tensor", header(one(entry("w", "I64", "[2,3]", 0, 48)), w24 + w24),
       "w has dtype I64, expected F32, F16 or BF16"},
      {"shape mismatch", header(one(entry("w", "F32", "[3,2]", 0, 24)), w24), "w has shape [3,2], expected [2,3]"},
      {"rank mismatch", header(one(entry("w", "F32", "[6]", 0, 24)), w24), "w has shape [6], expected [2,3]"},
      {"dimension 0", header(one(entry("w", "F32", "[2,0]", 0, 0)), ""), "w has an empty dimension in shape [2,0]"},
      {"dimension overflow", header(one(entry("w", "F32", "[4611686018427387904,4611686018427387904]", 0, 24)), w24),
       "tensor w: shape [4611686018427387904,4611686018427387904] has too many elements"},
      {"byte size overflow", header(one(entry("w", "F64", "[2305843009213693952]", 0, 24)), w24),
       "of F64 is too large (byte size overflows)"},
      {"negative dimension", header(one(entry("w", "F32", "[2,-3]", 0, 24)), w24),
       "tensor w has negative dimension -3"},
      {"dimension beyond int64", header(one(entry("w", "F32", "[9223372036854775808]", 0, 24)), w24),
       "shape element 0 (9223372036854775808) is not a 64-bit integer"},
      {"begin > end", header(one(entry("w", "F32", "[2,3]", 24, 0)), w24), "data_offsets [24,0] have begin > end"},
      {"end past data section", header(one(entry("w", "F32", "[2,3]", 1000, 1024)), w24),
       "tensor w: data_offsets [1000,1024] run past the end of the data section (24 bytes)"},
      {"unused tensor past data section",
       header("{" + entry("w", "F32", "[2,3]", 0, 24) + "," + entry("x", "Q4_K", "[9]", 100, 120) + "}", w24),
       "tensor x: data_offsets [100,120] run past the end"},
      {"size inconsistent with shape", header(one(entry("w", "F32", "[2,3]", 0, 20)), w24),
       "data_offsets [0,20] hold 20 bytes, but shape [2,3] of F32 needs 24"},
      {"unused tensor with inconsistent size",
       header("{" + entry("w", "F32", "[2,3]", 0, 24) + "," + entry("x", "BF16", "[4]", 24, 30) + "}",
              w24 + std::string(6, '\0')),
       "tensor x: data_offsets [24,30] hold 6 bytes, but shape [4] of BF16 needs 8"},
      {"overlapping ranges",
       header("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("w", "F32", "[2,3]", 4, 28) + "}", w24 + "1234"),
       "tensors a [0,8] and w [4,28] overlap in the data section"},
      {"tensor inside another",
       header("{" + entry("big", "U8", "[32]", 0, 32) + "," + entry("w", "F32", "[2,3]", 8, 32) + "}", w24 + w24),
       "tensors big [0,32] and w [8,32] overlap"},
      {"missing wanted tensor", header(one(entry("v", "F32", "[2,3]", 0, 24)), w24),
       "w is missing; hint: is this a VGG19 file?"},
      {"prefixed state dict", header(one(entry("model.w", "F32", "[2,3]", 0, 24)), w24),
       "w is missing; hint: the file has model.w"},
      {"NaN value", header(one(entry("w", "F32", "[2,3]", 0, 24)), f32_bytes({1, 2, 3, 4, std::nanf(""), 6})),
       "tensor w has non-finite value nan at index 4 [1,1]"},
      {"Inf value",
       header(one(entry("w", "F32", "[2,3]", 0, 24)),
              f32_bytes({1, 2, 3, 4, 5, std::numeric_limits<float>::infinity()})),
       "tensor w has non-finite value inf at index 5 [1,2]"},
      {"F16 -inf value", header(one(entry("w", "F16", "[2,3]", 0, 12)), u16_bytes({0, 0xFC00, 0, 0, 0, 0})),
       "tensor w has non-finite value -inf at index 1 [0,1]"},
      {"truncated in data section",
       [](const std::string& p) {
         std::string f = good_file();
         write_file(p, f.substr(0, f.size() - 5));
       },
       "file is truncated: the header describes 24 bytes of tensor data, but only 19 follow the header"},
      {"metadata value not a string",
       header("{\"__metadata__\": {\"epochs\": 90}," + entry("w", "F32", "[2,3]", 0, 24) + "}", w24),
       "__metadata__ value for key \"epochs\" is a number, expected a string"},
      {"metadata not an object", header("{\"__metadata__\": \"caffe\"}", ""),
       "__metadata__ is a string, expected an object of strings"},
      {"control characters in a name are escaped",
       header(one(entry("w\n\x01", "F32", "[2,3]", 0, 20)), w24), "tensor w\\x0a\\x01: data_offsets [0,20]"},
  };

  std::set<std::string> distinct;
  for (const Case& c : cases) {
    distinct.insert(c.expected);
    std::string path = dir.path("case-" + std::to_string(distinct.size()) + ".safetensors");
    c.make(path);
    std::string msg = load_error(path, c.wanted);
    INFO("case: ", c.label, "\n  message: ", msg);
    CHECK(msg.find(c.expected) != std::string::npos);
    CHECK(msg.rfind(path + ": ", 0) == 0);         // starts with the path
    CHECK(msg.find('\n') == std::string::npos);    // one line
  }
  CHECK(distinct.size() == cases.size());
  CHECK(cases.size() >= 30);
  MESSAGE(cases.size(), " malformed files rejected");
}

// The header's JSON: nlohmann's strict parser plus our own rules (the cases of the JSON parser
// nst had before it used nlohmann-json). Each document is the whole header.
TEST_CASE("header JSON: every malformed document is refused with the byte it stopped at") {
  TempDir dir;
  int n = 0;
  auto error_of = [&](const std::string& header_text) {
    const std::string path = dir.path("json-" + std::to_string(n++) + ".safetensors");
    write_file(path, safetensors_raw(header_text, ""));
    return load_error(path, kWantW);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"   ", "at byte 3: syntax error while parsing value - unexpected end of input"},
      {"[1, 2", "at byte 5: syntax error while parsing array - unexpected end of input"},
      {"{\"a\": 1", "while parsing object - unexpected end of input"},
      {"{\"a\"", "while parsing object separator - unexpected end of input"},
      {"[1,", "while parsing value - unexpected end of input"},
      {"@", "at byte 0: syntax error while parsing value - invalid literal; last read: '@'"},
      {"NaN", "invalid literal; last read: 'N'"},
      {"[Infinity]", "invalid literal; last read: '[I'"},
      {"tru", "invalid literal; last read: 'tru'"},
      {"01", "at byte 1: syntax error while parsing value - unexpected number literal"},
      {"-", "expected digit after '-'"},
      {"+1", "invalid literal; last read: '+'"},
      {"1.", "expected digit after '.'"},
      {".5", "invalid literal; last read: '.'"},
      {"1e+", "after exponent sign"},
      {"\"abc", "missing closing quote"},
      {"\"a\tb\"", "control character U+0009 (HT) must be escaped"},
      {"\"a\\x\"", "forbidden character after backslash"},
      {"\"\\u12G4\"", "'\\u' must be followed by 4 hex digits"},
      {"\"\\ud800\"", "surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF"},
      {"\"\\ud800\\u0041\"", "surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF"},
      {"\"\\udc00\"", "surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF"},
      {"\"\xFF\"", "ill-formed UTF-8 byte; last read: '\"\\xff'"},          // invalid lead byte
      {"\"\xC3(\"", "ill-formed UTF-8 byte"},                                   // bad continuation
      {"\"\xE2\x82", "ill-formed UTF-8 byte"},                                   // truncated sequence
      {"\"\xE0\x80\x80\"", "ill-formed UTF-8 byte"},                           // overlong
      {"\"\xED\xA0\x80\"", "ill-formed UTF-8 byte"},                           // encoded surrogate
      {"\"\xF4\x90\x80\x80\"", "ill-formed UTF-8 byte"},                      // beyond U+10FFFF
      {"{1: 2}", "while parsing object key - unexpected number literal; expected string literal"},
      {"{\"a\" 1}", "while parsing object separator - unexpected number literal; expected ':'"},
      {"{\"a\": 1 \"b\": 2}", "while parsing object - unexpected string literal; expected '}'"},
      {"[1 2]", "while parsing array - unexpected number literal; expected ']'"},
      {"[1,]", "at byte 3: syntax error while parsing value - unexpected ']'"},          // trailing comma
      {"{\"a\": 1,}", "at byte 8: syntax error while parsing object key - unexpected '}'"},  // trailing comma
      {"{} x", "at byte 3: syntax error while parsing value - invalid literal; last read: '{} x'; expected end of input"},
      {"1 2", "expected end of input"},
      {"[1] // comment", "expected end of input"},
      {"[1, 2, x]", "at byte 7: "},
      {std::string("{}\0 ", 4), "at byte 2: a NUL byte"},   // nlohmann alone would stop there
      {"\xEF\xBB\xBF{}", "at byte 0: it starts with a byte order mark"},  // nlohmann alone skips it
      {"{\"x\": {\"k\": 1, \"k\": 2}}", "header has duplicate key \"k\""},
      {"{\"a\": 1, \"\\u0061\": 2}", "header has duplicate key \"a\""},  // found after decoding escapes
  };
  for (const auto& [doc, expected] : cases) {
    const std::string msg = error_of(doc);
    INFO("document: ", doc, "\n  message: ", msg);
    CHECK(msg.find(expected) != std::string::npos);
    CHECK(msg.find("header ") != std::string::npos);
    for (unsigned char c : msg) CHECK((c >= 0x20 && c < 0x7f));  // one printable ASCII line
  }
  // Keys may repeat in different objects.
  CHECK(error_of("{\"a\": {\"a\": 1}, \"b\": {\"a\": 2}}").find("duplicate") == std::string::npos);
}

TEST_CASE("header JSON: nesting depth and number of values are bounded") {
  TempDir dir;
  int n = 0;
  auto error_of = [&](const std::string& header_text) {
    const std::string path = dir.path("deep-" + std::to_string(n++) + ".safetensors");
    write_file(path, safetensors_raw(header_text, ""));
    return load_error(path, kWantW);
  };
  // 64 levels are parsed (and then refused for what they hold); 65 are not.
  CHECK(error_of("{\"w\":" + std::string(63, '[') + std::string(63, ']') + "}") ==
        dir.path("deep-0.safetensors") + ": tensor w header entry is an array, expected an object");
  CHECK(error_of("{\"w\":" + std::string(64, '[') + std::string(64, ']') + "}").find(
            "header nests JSON deeper than 64 levels") != std::string::npos);
  // Far deeper than any recursion could go: still a clean error.
  CHECK(error_of(std::string(1000000, '[')).find("deeper than 64 levels") != std::string::npos);
  // 2^20 values pass the count (then fail as a non-object header); one more does not.
  std::string values = "[";
  for (int i = 0; i < (1 << 20) - 2; ++i) values += "0,";
  CHECK(error_of(values + "0]").find("header is a JSON array") != std::string::npos);
  CHECK(error_of(values + "0,0]").find("header holds more than 1048576 JSON values") != std::string::npos);
}

TEST_CASE("header JSON: integers are exact, strings decoded") {
  TempDir dir;
  int n = 0;
  auto error_of = [&](const std::string& shape, const std::string& offsets,
                      const std::vector<TensorRequest>& wanted = kWantW) {
    const std::string path = dir.path("int-" + std::to_string(n++) + ".safetensors");
    write_file(path, safetensors_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":" +
                                         offsets + "}}",
                                     w_data()));
    return load_error(path, wanted);
  };
  CHECK(error_of("[2,3]", "[0,24]").empty());
  CHECK(error_of("[2,3]", "[-0,24]").empty());  // -0 is the integer 0
  CHECK(error_of("[2,3]", "[0,2.4e1]").find("data_offsets end is not a non-negative 64-bit integer") !=
        std::string::npos);
  CHECK(error_of("[2,3]", "[0.0,24]").find("data_offsets begin is not a non-negative") != std::string::npos);
  CHECK(error_of("[2,3e0]", "[0,24]").find("shape element 1 (3.0) is not a 64-bit integer") != std::string::npos);
  CHECK(error_of("[2,9223372036854775807]", "[0,24]").find("too many elements") != std::string::npos);
  CHECK(error_of("[2,-9223372036854775808]", "[0,24]").find("negative dimension -9223372036854775808") !=
        std::string::npos);
  CHECK(error_of("[2,3]", "[0,18446744073709551615]").find("hold 18446744073709551615 bytes") != std::string::npos);
  // Escapes and UTF-8 in names come out decoded.
  const std::string path = dir.path("names.safetensors");
  write_file(path, safetensors_raw("{\"\\u00e9\\ud83d\\ude00\\n\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}",
                                   w_data()));
  CHECK(load_safetensors(path, {{"\xC3\xA9\xF0\x9F\x98\x80\n", {2, 3}}}).tensors.size() == 1);
}

TEST_CASE("exact messages for the common user mistakes") {
  TempDir dir;
  std::string path = dir.path("vgg.safetensors");
  write_file(path, safetensors_bytes({{"features.19.weight", "F32", {2, 2, 3, 1}, f32_bytes(std::vector<float>(12, 1.f))}}));
  // The path appears as given.
  CHECK(load_error(path, {{"features.19.weight", {2, 2, 3, 3}}}) ==
        path + ": features.19.weight has shape [2,2,3,1], expected [2,2,3,3]");
  CHECK(load_error(path, {{"features.0.weight", {64, 3, 3, 3}}}).rfind(
            path + ": features.0.weight is missing; hint: is this a VGG19 file?", 0) == 0);
}

TEST_CASE("other special files: a device, a path through a file") {
  TempDir dir;
  CHECK(load_error("/dev/null", kWantW) == "/dev/null: is a character device, not a regular file");
  std::string file = dir.path("plain");
  write_file(file, good_file());
  CHECK(load_error(file + "/x.safetensors", kWantW).find("not a directory") != std::string::npos);
  CHECK(load_error("", kWantW).find("empty path") != std::string::npos);
}

TEST_CASE("unreadable file") {
  if (::geteuid() == 0) {
    MESSAGE("skipping: running as root, file permissions do not stop reading");
    return;
  }
  TempDir dir;
  std::string path = dir.path("secret.safetensors");
  write_file(path, good_file());
  REQUIRE(::chmod(path.c_str(), 0) == 0);
  CHECK(load_error(path, kWantW).find("cannot be read: permission denied") != std::string::npos);
}

TEST_CASE("a request with a negative dimension is a programming error") {
  TempDir dir;
  std::string path = dir.path("ok.safetensors");
  write_file(path, good_file());
  CHECK_THROWS_AS(load_safetensors(path, {{"w", {2, -3}}}), std::invalid_argument);
}

TEST_CASE("real VGG19 weights file (needs ../shared/weights)") {
  const std::string path = NST_SHARED_DIR "/weights/vgg19-conv.safetensors";
  if (!std::filesystem::exists(path)) {
    MESSAGE("skipping: ", path, " is absent");
    return;
  }
  // torchvision's vgg19().features indices of the 16 convolutions and their (out, in) channels.
  const int idx[16] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34};
  const int64_t out_c[16] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512};
  const int64_t in_c[16] = {3, 64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512};
  std::vector<TensorRequest> want;
  for (int i = 0; i < 16; ++i) {
    std::string base = "features." + std::to_string(idx[i]);
    want.push_back({base + ".weight", {out_c[i], in_c[i], 3, 3}});
    want.push_back({base + ".bias", {out_c[i]}});
  }
  WeightsFile wf = load_safetensors(path, want);
  REQUIRE(wf.tensors.size() == 32);
  CHECK(wf.metadata.at("preprocess") == "caffe");
  CHECK(wf.metadata.at("model") == "vgg19");
  int64_t total = 0;
  for (const TensorRequest& r : want) {
    const Tensor<float>& t = wf.tensors.at(r.name);
    CHECK(t.shape() == r.shape);
    bool finite = true, nonzero = false;
    for (int64_t i = 0; i < t.numel(); ++i) {
      finite = finite && std::isfinite(t[i]);
      nonzero = nonzero || t[i] != 0.f;
    }
    CHECK(finite);
    CHECK(nonzero);
    total += t.numel();
  }
  CHECK(total == 20024384);  // the conv parameters of VGG19
}
