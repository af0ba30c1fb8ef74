#include "nst/io/safetensors.h"

#include "nst/io/json.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>

namespace nst {

namespace {

// Real headers are a few KB (timm's 575 MB VGG19: under 3 KB); the safetensors reference
// implementation uses the same 100 MB cap.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Bounds the parsed header's memory: a JSON value costs ~100 bytes, a tensor entry ~10 values.
constexpr size_t kMaxHeaderValues = size_t{1} << 20;
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

// "a number", "an object", ...: for messages about a JSON value of the wrong type.
std::string a_type(json::Type t) {
  const char* n = json::type_name(t);
  return std::string(t == json::Type::Array || t == json::Type::Object ? "an " : "a ") + n;
}

std::string range_str(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + "," + std::to_string(end) + "]";
}

// One tensor entry of the header, validated.
struct Entry {
  std::string name;
  std::string dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the data section
};

// Reads from an open file descriptor, turning every failure into a WeightsError for `path`.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {}
  ~Reader() {
    if (fd_ >= 0) ::close(fd_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  [[noreturn]] void fail(const std::string& problem, const std::string& hint = "") const {
    throw WeightsError(path_ + ": " + problem + (hint.empty() ? "" : "; hint: " + hint));
  }

  // Checks that the path is a readable regular file and opens it. The type is checked before
  // opening (opening a FIFO would block) and again on the descriptor (the path may change).
  void open() {
    struct stat st {};
    if (path_.empty()) fail("empty path", "pass the path of a .safetensors weights file");
    if (::stat(path_.c_str(), &st) != 0) {
      int err = errno;
      if (err == ENOENT)
        fail("no such file", "check the path; the project README explains where to get VGG19 weights");
      if (err == ENOTDIR) fail("a component of the path is not a directory");
      if (err == EACCES) fail("permission denied while looking up the file");
      fail(std::string("cannot access the file: ") + std::strerror(err));
    }
    check_regular(st);
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd_ < 0) {
      int err = errno;
      if (err == EACCES) fail("cannot be read: permission denied", "check the file's permissions");
      fail(std::string("cannot open the file: ") + std::strerror(err));
    }
    if (::fstat(fd_, &st) != 0) fail(std::string("cannot stat the open file: ") + std::strerror(errno));
    check_regular(st);
    size_ = static_cast<uint64_t>(st.st_size);
  }

  uint64_t size() const { return size_; }

  // Reads exactly n bytes at `offset` (the caller has checked offset + n <= size()).
  void read_exact(void* dst, size_t n, uint64_t offset, const std::string& what) const {
    auto* p = static_cast<unsigned char*>(dst);
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
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
  void check_regular(const struct stat& st) const {
    if (S_ISDIR(st.st_mode)) fail("is a directory, not a weights file", "pass the .safetensors file inside it");
    if (S_ISFIFO(st.st_mode)) fail("is a FIFO (named pipe), not a regular file", "save the weights to a file first");
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) fail("is a device, not a regular file");
    if (S_ISSOCK(st.st_mode)) fail("is a socket, not a regular file");
    if (!S_ISREG(st.st_mode)) fail("is not a regular file");
  }

  std::string path_;
  int fd_ = -1;
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
Entry parse_entry(const Reader& r, const std::string& name, const json::Value& v) {
  const std::string who = "tensor " + shown(name);
  if (!v.is_object())
    r.fail(who + " header entry is " + a_type(v.type()) + ", expected an object");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string& k = v.key(i);
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      r.fail(who + " has unexpected field \"" + shown(k) + "\"",
             "entries have exactly dtype, shape and data_offsets");
  }
  const json::Value* dtype = v.find("dtype");
  const json::Value* shape = v.find("shape");
  const json::Value* offsets = v.find("data_offsets");
  if (!dtype) r.fail(who + " has no \"dtype\" field");
  if (!shape) r.fail(who + " has no \"shape\" field");
  if (!offsets) r.fail(who + " has no \"data_offsets\" field");

  Entry e;
  e.name = name;
  if (!dtype->is_string())
    r.fail(who + ": \"dtype\" is " + a_type(dtype->type()) + ", expected a string");
  e.dtype = dtype->as_string();

  if (!shape->is_array())
    r.fail(who + ": \"shape\" is " + a_type(shape->type()) +
           ", expected an array of integers");
  for (size_t i = 0; i < shape->size(); ++i) {
    const json::Value& d = (*shape)[i];
    if (!d.is_number())
      r.fail(who + ": shape element " + std::to_string(i) + " is " +
             a_type(d.type()) + ", expected an integer");
    std::optional<int64_t> n = d.as_int64();
    if (!n) r.fail(who + ": shape element " + std::to_string(i) + " (" + shown(d.number_text()) +
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
    r.fail(who + ": \"data_offsets\" is " + a_type(offsets->type()) +
           ", expected [begin, end]");
  if (offsets->size() != 2)
    r.fail(who + ": \"data_offsets\" has " + std::to_string(offsets->size()) +
           " elements, expected [begin, end]");
  uint64_t be[2];
  for (size_t i = 0; i < 2; ++i) {
    const json::Value& o = (*offsets)[i];
    std::optional<uint64_t> n = o.is_number() ? o.as_uint64() : std::nullopt;
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

float bf16_to_float(uint16_t h) {
  uint32_t bits = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

WeightsFile load_safetensors(const std::string& path, const std::vector<TensorRequest>& wanted) {
  for (const TensorRequest& req : wanted)
    for (int64_t d : req.shape)
      if (d < 0)
        throw std::invalid_argument("load_safetensors: request " + req.name + " has negative dimension in " +
                                    shape_str(req.shape));

  Reader r(path);
  r.open();

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
  json::Value root;
  try {
    json::Limits limits;
    limits.max_depth = 64;
    limits.max_values = kMaxHeaderValues;
    root = json::parse(header, limits);
  } catch (const json::ParseError& e) {
    r.fail(std::string("header is not valid JSON: ") + e.what(), "the file is damaged or not a safetensors file");
  }
  if (!root.is_object())
    r.fail("header is a JSON " + std::string(json::type_name(root.type())) + ", expected an object");

  // Entries: every one is validated, used or not.
  WeightsFile out;
  std::vector<Entry> entries;
  for (size_t i = 0; i < root.size(); ++i) {
    const std::string& name = root.key(i);
    const json::Value& v = root[i];
    if (name == "__metadata__") {
      if (!v.is_object())
        r.fail("__metadata__ is " + a_type(v.type()) + ", expected an object of strings");
      for (size_t k = 0; k < v.size(); ++k) {
        if (!v[k].is_string())
          r.fail("__metadata__ value for key \"" + shown(v.key(k)) + "\" is " +
                 a_type(v[k].type()) + ", expected a string");
        out.metadata[v.key(k)] = v[k].as_string();
      }
      continue;
    }
    entries.push_back(parse_entry(r, name, v));
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

}  // namespace nst
