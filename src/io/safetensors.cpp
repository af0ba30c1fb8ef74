#include "nst/io/safetensors.h"

#include "nst/io/regular_file.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>

namespace nst {

namespace {

// Real headers are a few KB (timm's 575 MB VGG19: under 3 KB); the safetensors reference
// implementation uses the same 100 MB cap.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Bounds the parsed header's memory: a JSON value costs ~100 bytes, a tensor entry ~10 values.
constexpr size_t kMaxHeaderValues = size_t{1} << 20;
// Real headers nest 3 deep ({name: {shape: [...]}}).
constexpr int kMaxHeaderDepth = 64;
// Tensor bytes are read and converted in chunks of this size (a multiple of every element size).
constexpr size_t kChunkBytes = size_t{1} << 20;

struct DTypeInfo {
  const char* name;
  uint64_t size;
};
// The safetensors dtypes we know the element size of; others are allowed in unused entries.
constexpr DTypeInfo kDTypes[] = {
    {"F64", 8},     {"F32", 4},     {"F16", 2},     {"BF16", 2},     {"I64", 8},
    {"I32", 4},     {"I16", 2},     {"I8", 1},      {"U64", 8},      {"U32", 4},
    {"U16", 2},     {"U8", 1},      {"BOOL", 1},    {"F8_E4M3", 1},  {"F8_E5M2", 1},
    {"C64", 8},
};

std::optional<uint64_t> dtype_size(const std::string& dtype) {
  for (const DTypeInfo& d : kDTypes)
    if (dtype == d.name) return d.size;
  return std::nullopt;
}

// A name from the file, safe to put in a one-line message: control characters escaped, long
// names cut (at a UTF-8 character boundary; the JSON parser has already validated the UTF-8).
std::string shown(const std::string& s) {
  constexpr size_t kMaxShown = 120;
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (out.size() >= kMaxShown && (c & 0xC0) != 0x80) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

using Json = nlohmann::ordered_json;  // keeps the document's order of keys

// "a number", "an object", ...: for messages about a JSON value of the wrong type.
std::string a_type(const Json& v) {
  return std::string(v.is_array() || v.is_object() ? "an " : "a ") + v.type_name();
}

// A header problem that nlohmann's parser does not look for.
struct HeaderRuleError {
  std::string problem;
};

// The checks on the header's JSON that are ours, run as a SAX pass before the document is built:
// no duplicate keys (nlohmann keeps the last one silently; which one would a reader use?), at
// most kMaxHeaderDepth levels of nesting and kMaxHeaderValues values. Parse errors keep
// nlohmann's description and byte position.
class HeaderChecks : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override {
    open();
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    if (!keys_.back().insert(k).second) throw HeaderRuleError{"has duplicate key \"" + shown(k) + "\""};
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    open();
    keys_.emplace_back();  // unused; keeps keys_ parallel to the nesting
    return true;
  }
  bool end_array() override {
    keys_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) override {
    // ex.what(): "[json.exception.parse_error.101] parse error at line 1, column 8: <description>"
    std::string what = ex.what();
    const size_t col = what.find(", column ");
    const size_t colon = col == std::string::npos ? std::string::npos : what.find(": ", col);
    if (colon != std::string::npos) what = what.substr(colon + 2);
    // The description quotes the bytes last read, which may be anything: escape them, cut it.
    std::string clean;
    for (unsigned char c : what) {
      if (clean.size() > 300) {
        clean += "...";
        break;
      }
      if (c < 0x20 || c >= 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        clean += buf;
      } else {
        clean += static_cast<char>(c);
      }
    }
    // nlohmann counts the byte it stopped on from 1.
    throw HeaderRuleError{"is not valid JSON at byte " + std::to_string(position > 0 ? position - 1 : 0) + ": " +
                          clean};
  }

 private:
  bool value() {
    if (++values_ > kMaxHeaderValues)
      throw HeaderRuleError{"holds more than " + std::to_string(kMaxHeaderValues) + " JSON values"};
    return true;
  }
  void open() {
    value();
    if (keys_.size() >= static_cast<size_t>(kMaxHeaderDepth))
      throw HeaderRuleError{"nests JSON deeper than " + std::to_string(kMaxHeaderDepth) + " levels"};
  }
  size_t values_ = 0;
  std::vector<std::set<std::string>> keys_;
};

// Parses the header's JSON: nlohmann's strict RFC 8259 parser (no comments, no trailing
// commas, no NaN, valid UTF-8, nothing after the value) plus HeaderChecks.
Json parse_header_json(const std::string& text) {
  // nlohmann skips a leading byte order mark and stops at a NUL byte as at the end of input;
  // JSON allows neither.
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0)
    throw HeaderRuleError{"is not valid JSON at byte 0: it starts with a byte order mark"};
  if (const size_t nul = text.find('\0'); nul != std::string::npos)
    throw HeaderRuleError{"is not valid JSON at byte " + std::to_string(nul) + ": a NUL byte"};
  HeaderChecks checks;
  Json::sax_parse(text, &checks, nlohmann::detail::input_format_t::json, /*strict=*/true);
  return Json::parse(text);  // cannot fail now: the same parser accepted it above
}

std::string range_str(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + "," + std::to_string(end) + "]";
}

// The exact integer a JSON number holds, or nothing: nlohmann keeps a number written without
// fraction or exponent that fits 64 bits as an integer, so 1.0, 1e3 and 2^64 come out empty
// instead of rounded.
std::optional<int64_t> as_int64(const Json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(u);
    return std::nullopt;
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}
std::optional<uint64_t> as_uint64(const Json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());  // "-0"
  return std::nullopt;
}

// One tensor entry of the header, validated.
struct Entry {
  std::string name;
  std::string dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the data section
};

// Reads from an open file descriptor, or from a caller's buffer, turning every failure into a
// WeightsError for `path` (the buffer's name).
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {}
  Reader(const unsigned char* bytes, size_t size, const std::string& name)
      : path_(name), mem_(bytes), size_(size) {}

  [[noreturn]] void fail(const std::string& problem, const std::string& hint = "") const {
    throw WeightsError(path_ + ": " + problem + (hint.empty() ? "" : "; hint: " + hint));
  }

  // Opens the path, which must be a regular file (nst/io/regular_file.h).
  void open() {
    if (path_.empty()) fail("empty path", "pass the path of a .safetensors weights file");
    try {
      file_ = std::make_unique<RegularFile>(path_);
    } catch (const FileError& e) {
      std::string hint;
      if (e.kind == FileError::Kind::Missing && e.reason == "no such file")
        hint = "check the path; the project README explains where to get VGG19 weights";
      else if (e.kind == FileError::Kind::NotRegular && e.reason.find("directory") != std::string::npos)
        hint = "pass the .safetensors file inside it";
      else if (e.kind == FileError::Kind::NotRegular && e.reason.find("FIFO") != std::string::npos)
        hint = "save the weights to a file first";
      else if (e.kind == FileError::Kind::Denied)
        hint = "check the file's permissions";
      fail(e.reason, hint);
    }
    size_ = file_->size();
  }

  uint64_t size() const { return size_; }

  // Reads exactly n bytes at `offset` (the caller has checked offset + n <= size()).
  void read_exact(void* dst, size_t n, uint64_t offset, const std::string& what) const {
    auto* p = static_cast<unsigned char*>(dst);
    if (mem_) {
      if (offset > size_ || n > size_ - offset) fail("read past the end of the buffer in " + what);
      std::memcpy(p, mem_ + offset, n);
      return;
    }
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(file_->fd(), p + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        fail("read error in " + what + " at byte " + std::to_string(offset + done) + ": " +
             std::strerror(errno));
      }
      if (r == 0)
        fail("short read in " + what + ": got " + std::to_string(done) + " of " + std::to_string(n) +
                 " bytes at byte " + std::to_string(offset) + " (the file was " +
                 std::to_string(size_) + " bytes when opened)",
             "the file is truncated or was changed while being read");
      done += static_cast<size_t>(r);
    }
  }

 private:
  std::string path_;
  std::unique_ptr<RegularFile> file_;
  const unsigned char* mem_ = nullptr;  // set: read from this buffer instead of a file
  uint64_t size_ = 0;
};

// A guess at what the file is when it is not safetensors, from its first bytes.
std::string format_hint(const unsigned char* b) {
  if (b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4)
    return "this looks like a PyTorch .pth (zip) file; convert it to safetensors (see the README)";
  if (b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
    return "this looks like a pickled PyTorch file; convert it to safetensors (see the README)";
  return "is this a safetensors file?";
}

// Parses one header entry; `r` only reports errors.
Entry parse_entry(const Reader& r, const std::string& name, const Json& v) {
  const std::string who = "tensor " + shown(name);
  if (!v.is_object())
    r.fail(who + " header entry is " + a_type(v) + ", expected an object");
  for (const auto& item : v.items()) {
    const std::string& k = item.key();
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      r.fail(who + " has unexpected field \"" + shown(k) + "\"",
             "entries have exactly dtype, shape and data_offsets");
  }
  if (!v.contains("dtype")) r.fail(who + " has no \"dtype\" field");
  if (!v.contains("shape")) r.fail(who + " has no \"shape\" field");
  if (!v.contains("data_offsets")) r.fail(who + " has no \"data_offsets\" field");
  const Json* dtype = &v["dtype"];
  const Json* shape = &v["shape"];
  const Json* offsets = &v["data_offsets"];

  Entry e;
  e.name = name;
  if (!dtype->is_string())
    r.fail(who + ": \"dtype\" is " + a_type(*dtype) + ", expected a string");
  e.dtype = dtype->get<std::string>();

  if (!shape->is_array())
    r.fail(who + ": \"shape\" is " + a_type(*shape) +
           ", expected an array of integers");
  for (size_t i = 0; i < shape->size(); ++i) {
    const Json& d = (*shape)[i];
    if (!d.is_number())
      r.fail(who + ": shape element " + std::to_string(i) + " is " +
             a_type(d) + ", expected an integer");
    std::optional<int64_t> n = as_int64(d);
    if (!n) r.fail(who + ": shape element " + std::to_string(i) + " (" + shown(d.dump()) +
                   ") is not a 64-bit integer");
    if (*n < 0) r.fail(who + " has negative dimension " + std::to_string(*n) + " in its shape");
    e.shape.push_back(*n);
  }
  uint64_t numel = 1;
  for (int64_t d : e.shape) {
    auto ud = static_cast<uint64_t>(d);
    if (ud != 0 && numel > static_cast<uint64_t>(INT64_MAX) / ud)
      r.fail(who + ": shape " + shape_str(e.shape) + " has too many elements (overflows 64 bits)");
    numel *= ud;
  }

  if (!offsets->is_array())
    r.fail(who + ": \"data_offsets\" is " + a_type(*offsets) +
           ", expected [begin, end]");
  if (offsets->size() != 2)
    r.fail(who + ": \"data_offsets\" has " + std::to_string(offsets->size()) +
           " elements, expected [begin, end]");
  uint64_t be[2];
  for (size_t i = 0; i < 2; ++i) {
    std::optional<uint64_t> n = as_uint64((*offsets)[i]);
    if (!n) r.fail(who + ": data_offsets " + (i == 0 ? "begin" : "end") + " is not a non-negative 64-bit integer");
    be[i] = *n;
  }
  e.begin = be[0];
  e.end = be[1];
  if (e.begin > e.end)
    r.fail(who + ": data_offsets " + range_str(e.begin, e.end) + " have begin > end");

  if (std::optional<uint64_t> esize = dtype_size(e.dtype)) {
    if (numel > UINT64_MAX / *esize)
      r.fail(who + ": shape " + shape_str(e.shape) + " of " + e.dtype + " is too large (byte size overflows)");
    uint64_t need = numel * *esize;
    if (e.end - e.begin != need)
      r.fail(who + ": data_offsets " + range_str(e.begin, e.end) + " hold " + std::to_string(e.end - e.begin) +
             " bytes, but shape " + shape_str(e.shape) + " of " + e.dtype + " needs " + std::to_string(need));
  }
  return e;
}

// Checks the byte ranges of all entries against each other and against the data section.
void check_ranges(const Reader& r, const std::vector<Entry>& entries, uint64_t data_bytes) {
  std::vector<const Entry*> sorted;
  for (const Entry& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  // Overlaps: ranges sorted by begin; compare with the furthest-reaching earlier non-empty range.
  const Entry* reach = nullptr;
  bool contiguous = true;  // non-empty ranges tile [0, max end) without holes, as writers do
  uint64_t covered = 0;
  for (const Entry* e : sorted) {
    if (e->begin == e->end) continue;  // zero-length tensors occupy no bytes
    if (reach && e->begin < reach->end)
      r.fail("tensors " + shown(reach->name) + " " + range_str(reach->begin, reach->end) + " and " +
                 shown(e->name) + " " + range_str(e->begin, e->end) + " overlap in the data section",
             "the file is damaged");
    if (e->begin != covered) contiguous = false;
    covered = e->end;
    if (!reach || e->end > reach->end) reach = e;
  }
  // Past the end: a well-formed layout that merely goes on beyond the file is a truncated file;
  // anything else is a broken header.
  uint64_t max_end = 0;
  for (const Entry& e : entries) max_end = std::max(max_end, e.end);
  if (max_end <= data_bytes) return;
  if (contiguous)
    r.fail("file is truncated: the header describes " + std::to_string(max_end) +
               " bytes of tensor data, but only " + std::to_string(data_bytes) + " follow the header",
           "the download is incomplete; fetch the file again");
  for (const Entry* e : sorted)
    if (e->end > data_bytes)
      r.fail("tensor " + shown(e->name) + ": data_offsets " + range_str(e->begin, e->end) +
                 " run past the end of the data section (" + std::to_string(data_bytes) + " bytes)",
             "the file is damaged");
}

// Decoding of one element from little-endian bytes.
inline float decode_f32(const unsigned char* p) {
  uint32_t u = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t load_u16(const unsigned char* p) {
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}

// "[o,i,h,w]" of flat index i in shape s.
std::string index_str(const Shape& s, int64_t i) {
  Shape idx(s.size());
  for (size_t k = s.size(); k-- > 0;) {
    idx[k] = i % s[k];
    i /= s[k];
  }
  return shape_str(idx);
}

// Reads and converts the bytes of `e` (dtype F32/F16/BF16, already validated) into a tensor.
Tensor<float> read_tensor(const Reader& r, const Entry& e, uint64_t data_start) {
  Tensor<float> t(e.shape);
  const uint64_t esize = e.dtype == "F32" ? 4 : 2;
  const uint64_t total = e.end - e.begin;  // == numel * esize, checked against the file size
  std::vector<unsigned char> buf(static_cast<size_t>(std::min<uint64_t>(total, kChunkBytes)));
  float* out = t.data();
  int64_t index = 0;
  for (uint64_t done = 0; done < total;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(total - done, buf.size()));
    r.read_exact(buf.data(), n, data_start + e.begin + done, "tensor " + shown(e.name));
    size_t count = n / esize;
    if (e.dtype == "F32")
      for (size_t k = 0; k < count; ++k) out[index + int64_t(k)] = decode_f32(&buf[4 * k]);
    else if (e.dtype == "F16")
      for (size_t k = 0; k < count; ++k) out[index + int64_t(k)] = f16_to_float(load_u16(&buf[2 * k]));
    else
      for (size_t k = 0; k < count; ++k) out[index + int64_t(k)] = bf16_to_float(load_u16(&buf[2 * k]));
    for (size_t k = 0; k < count; ++k) {
      float v = out[index + int64_t(k)];
      if (!std::isfinite(v)) {
        int64_t at = index + int64_t(k);
        r.fail("tensor " + shown(e.name) + " has non-finite value " +
                   (std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf") + " at index " + std::to_string(at) +
                   " " + index_str(e.shape, at),
               "the file is damaged");
      }
    }
    index += int64_t(count);
    done += n;
  }
  return t;
}

// A hint for a missing tensor: a tensor in the file whose name ends with the wanted one
// (e.g. "model.features.0.weight" for "features.0.weight") means a prefixed state dict.
std::string missing_hint(const std::vector<Entry>& entries, const std::string& want) {
  for (const Entry& e : entries)
    if (e.name.size() > want.size() && e.name.compare(e.name.size() - want.size(), want.size(), want) == 0 &&
        e.name[e.name.size() - want.size() - 1] == '.')
      return "the file has " + shown(e.name) + "; save the state dict without the prefix";
  return "is this a VGG19 file? names must follow torchvision's vgg19().features (features.N.weight/bias)";
}

}  // namespace

namespace {

void check_requests(const std::vector<TensorRequest>& wanted) {
  for (const TensorRequest& req : wanted)
    for (int64_t d : req.shape)
      if (d < 0)
        throw std::invalid_argument("load_safetensors: request " + req.name + " has negative dimension in " +
                                    shape_str(req.shape));
}

WeightsFile load_from(const Reader& r, const std::vector<TensorRequest>& wanted);

}  // namespace

WeightsFile load_safetensors(const std::string& path, const std::vector<TensorRequest>& wanted) {
  check_requests(wanted);
  Reader r(path);
  r.open();
  return load_from(r, wanted);
}

WeightsFile load_safetensors(const unsigned char* bytes, size_t size, const std::string& name,
                             const std::vector<TensorRequest>& wanted) {
  check_requests(wanted);
  if (!bytes && size > 0) throw std::invalid_argument("load_safetensors: null buffer of " + std::to_string(size) + " bytes");
  const Reader r(bytes ? bytes : reinterpret_cast<const unsigned char*>(""), size, name);
  return load_from(r, wanted);
}

namespace {

WeightsFile load_from(const Reader& r, const std::vector<TensorRequest>& wanted) {

  // Header length.
  const uint64_t file_size = r.size();
  if (file_size == 0) r.fail("file is empty", "the download failed; fetch the file again");
  if (file_size < 8)
    r.fail("file is " + std::to_string(file_size) + " bytes, too short for a safetensors file (at least 8)",
           "is this a safetensors file?");
  unsigned char len_bytes[8];
  r.read_exact(len_bytes, 8, 0, "the header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | len_bytes[i];
  if (header_len == 0) r.fail("header length is 0", format_hint(len_bytes));
  if (header_len > kMaxHeaderBytes)
    r.fail("header length " + std::to_string(header_len) + " exceeds the limit of " +
               std::to_string(kMaxHeaderBytes) + " bytes",
           format_hint(len_bytes));
  if (header_len > file_size - 8)
    r.fail("header length " + std::to_string(header_len) + " runs past the end of the file (" +
               std::to_string(file_size) + " bytes)",
           "the file is truncated, or is not a safetensors file");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_bytes = file_size - data_start;

  // Header JSON.
  std::string header(static_cast<size_t>(header_len), '\0');
  r.read_exact(header.data(), header.size(), 8, "the header");
  Json root;
  try {
    root = parse_header_json(header);
  } catch (const HeaderRuleError& e) {
    r.fail("header " + e.problem, "the file is damaged or not a safetensors file");
  }
  if (!root.is_object()) r.fail("header is a JSON " + std::string(root.type_name()) + ", expected an object");

  // Entries: every one is validated, used or not.
  WeightsFile out;
  std::vector<Entry> entries;
  for (const auto& item : root.items()) {
    const std::string& name = item.key();
    const Json& v = item.value();
    if (name == "__metadata__") {
      if (!v.is_object()) r.fail("__metadata__ is " + a_type(v) + ", expected an object of strings");
      for (const auto& m : v.items()) {
        if (!m.value().is_string())
          r.fail("__metadata__ value for key \"" + shown(m.key()) + "\" is " + a_type(m.value()) +
                 ", expected a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(r, name, v));
    out.names.push_back(name);
  }
  check_ranges(r, entries, data_bytes);

  // The requested tensors.
  for (const TensorRequest& req : wanted) {
    auto it = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.name == req.name; });
    if (it == entries.end()) r.fail(shown(req.name) + " is missing", missing_hint(entries, req.name));
    const Entry& e = *it;
    if (e.dtype != "F32" && e.dtype != "F16" && e.dtype != "BF16")
      r.fail(shown(e.name) + " has dtype " + shown(e.dtype) + ", expected F32, F16 or BF16");
    for (int64_t d : e.shape)
      if (d == 0)
        r.fail(shown(e.name) + " has an empty dimension in shape " + shape_str(e.shape),
               "the file is damaged or holds an untrained placeholder");
    if (e.shape != req.shape)
      r.fail(shown(e.name) + " has shape " + shape_str(e.shape) + ", expected " + shape_str(req.shape));
    if (out.tensors.count(req.name)) continue;  // requested twice
    out.tensors.emplace(req.name, read_tensor(r, e, data_start));
  }
  return out;
}

}  // namespace

}  // namespace nst
