#include "nst/io/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_set>

namespace nst::json {

ParseError::ParseError(const std::string& problem, size_t byte_offset)
    : std::runtime_error(problem + " at byte " + std::to_string(byte_offset)),
      offset(byte_offset) {}

const char* type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "boolean";
    case Type::Number: return "number";
    case Type::String: return "string";
    case Type::Array: return "array";
    case Type::Object: return "object";
  }
  return "?";
}

// ---- Value accessors ----

void Value::require(Type t, const char* what) const {
  if (type_ != t)
    throw std::logic_error(std::string("json::Value::") + what + " on a " + type_name(type_));
}

bool Value::as_bool() const {
  require(Type::Bool, "as_bool");
  return bool_;
}

double Value::as_double() const {
  require(Type::Number, "as_double");
  return number_;
}

std::optional<int64_t> Value::as_int64() const {
  require(Type::Number, "as_int64");
  if (!integral_ || !magnitude_ok_) return std::nullopt;
  constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
  if (!negative_) {
    if (magnitude_ > kMax) return std::nullopt;
    return static_cast<int64_t>(magnitude_);
  }
  if (magnitude_ > kMax + 1) return std::nullopt;
  if (magnitude_ == kMax + 1) return INT64_MIN;
  return -static_cast<int64_t>(magnitude_);
}

std::optional<uint64_t> Value::as_uint64() const {
  require(Type::Number, "as_uint64");
  if (!integral_ || !magnitude_ok_) return std::nullopt;
  if (negative_ && magnitude_ != 0) return std::nullopt;  // "-0" is 0
  return magnitude_;
}

const std::string& Value::number_text() const {
  require(Type::Number, "number_text");
  return text_;
}

const std::string& Value::as_string() const {
  require(Type::String, "as_string");
  return text_;
}

size_t Value::size() const {
  if (type_ != Type::Array && type_ != Type::Object)
    throw std::logic_error(std::string("json::Value::size on a ") + type_name(type_));
  return items_.size();
}

const Value& Value::operator[](size_t i) const {
  if (type_ != Type::Array && type_ != Type::Object)
    throw std::logic_error(std::string("json::Value::operator[] on a ") + type_name(type_));
  return items_.at(i);
}

const std::string& Value::key(size_t i) const {
  require(Type::Object, "key");
  return keys_.at(i);
}

const Value* Value::find(std::string_view k) const {
  require(Type::Object, "find");
  for (size_t i = 0; i < keys_.size(); ++i)
    if (keys_[i] == k) return &items_[i];
  return nullptr;
}

// ---- Parser ----

namespace {

// A short, printable rendering of the byte at `p` for messages: 'x' or 0x1f.
std::string describe_byte(unsigned char c) {
  char buf[16];
  if (c >= 0x20 && c < 0x7f)
    std::snprintf(buf, sizeof buf, "'%c'", static_cast<char>(c));
  else
    std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
  return buf;
}

// Printable, length-capped rendering of a key for the duplicate-key message (one line).
std::string printable_key(const std::string& k) {
  std::string out;
  for (unsigned char c : k) {
    if (out.size() >= 80) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

class Parser {
 public:
  Parser(std::string_view text, const Limits& limits) : s_(text), limits_(limits) {}

  Value parse_document() {
    skip_ws();
    if (at_end()) fail("empty document", pos_);
    Value v = parse_value(0);
    skip_ws();
    if (!at_end()) fail("trailing characters after the JSON value (" + describe_byte(peek()) + ")", pos_);
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& problem, size_t at) const { throw ParseError(problem, at); }

  bool at_end() const { return pos_ >= s_.size(); }
  unsigned char peek() const { return static_cast<unsigned char>(s_[pos_]); }

  void skip_ws() {
    while (!at_end()) {
      unsigned char c = peek();
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void count_value(size_t at) {
    if (++values_ > limits_.max_values)
      fail("document has more than " + std::to_string(limits_.max_values) + " values", at);
  }

  Value parse_value(int depth) {
    if (at_end()) fail("unexpected end of document, expected a value", pos_);
    count_value(pos_);
    unsigned char c = peek();
    switch (c) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': {
        Value v;
        v.type_ = Type::String;
        v.text_ = parse_string();
        return v;
      }
      case 't': return parse_literal("true", Type::Bool, true);
      case 'f': return parse_literal("false", Type::Bool, false);
      case 'n': return parse_literal("null", Type::Null, false);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
        fail("unexpected " + describe_byte(c) + ", expected a value", pos_);
    }
  }

  Value parse_literal(std::string_view word, Type t, bool b) {
    if (s_.substr(pos_, word.size()) != word) fail("invalid literal, expected '" + std::string(word) + "'", pos_);
    pos_ += word.size();
    Value v;
    v.type_ = t;
    v.bool_ = b;
    return v;
  }

  void check_depth(int depth, size_t at) const {
    if (depth > limits_.max_depth)
      fail("nesting deeper than " + std::to_string(limits_.max_depth) + " levels", at);
  }

  Value parse_array(int depth) {
    check_depth(depth, pos_);
    ++pos_;  // '['
    Value v;
    v.type_ = Type::Array;
    skip_ws();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      skip_ws();
      v.items_.push_back(parse_value(depth));
      skip_ws();
      if (at_end()) fail("unexpected end of document inside an array", pos_);
      unsigned char c = peek();
      ++pos_;
      if (c == ']') return v;
      if (c != ',') fail("expected ',' or ']' in an array, got " + describe_byte(c), pos_ - 1);
      skip_ws();
      if (!at_end() && peek() == ']') fail("trailing comma in an array", pos_);
    }
  }

  Value parse_object(int depth) {
    check_depth(depth, pos_);
    ++pos_;  // '{'
    Value v;
    v.type_ = Type::Object;
    std::unordered_set<std::string> seen;
    skip_ws();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return v;
    }
    for (;;) {
      skip_ws();
      if (at_end()) fail("unexpected end of document inside an object", pos_);
      if (peek() != '"') {
        if (peek() == '}') fail("trailing comma in an object", pos_);
        fail("expected a string key in an object, got " + describe_byte(peek()), pos_);
      }
      size_t key_at = pos_;
      std::string k = parse_string();
      if (!seen.insert(k).second) fail("duplicate key \"" + printable_key(k) + "\"", key_at);
      skip_ws();
      if (at_end()) fail("unexpected end of document inside an object", pos_);
      if (peek() != ':') fail("expected ':' after an object key, got " + describe_byte(peek()), pos_);
      ++pos_;
      skip_ws();
      Value item = parse_value(depth);
      v.keys_.push_back(std::move(k));
      v.items_.push_back(std::move(item));
      skip_ws();
      if (at_end()) fail("unexpected end of document inside an object", pos_);
      unsigned char c = peek();
      ++pos_;
      if (c == '}') return v;
      if (c != ',') fail("expected ',' or '}' in an object, got " + describe_byte(c), pos_ - 1);
    }
  }

  uint32_t parse_hex4() {
    if (s_.size() - pos_ < 4) fail("unexpected end of document in a \\u escape", pos_);
    uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      unsigned char c = peek();
      uint32_t d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10u;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10u;
      else fail("invalid hex digit " + describe_byte(c) + " in a \\u escape", pos_);
      cp = cp * 16 + d;
      ++pos_;
    }
    return cp;
  }

  // Validates one UTF-8 sequence starting at pos_ (lead byte >= 0x80) and appends it.
  void copy_utf8(std::string& out) {
    size_t start = pos_;
    unsigned char c = peek();
    int extra;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { extra = 1; cp = c & 0x1Fu; }
    else if (c >= 0xE0 && c <= 0xEF) { extra = 2; cp = c & 0x0Fu; }
    else if (c >= 0xF0 && c <= 0xF4) { extra = 3; cp = c & 0x07u; }
    else fail("invalid UTF-8 lead byte 0x" + hex2(c) + " in a string", start);
    ++pos_;
    for (int i = 0; i < extra; ++i) {
      if (at_end()) fail("truncated UTF-8 sequence in a string", start);
      unsigned char k = peek();
      if ((k & 0xC0) != 0x80) fail("invalid UTF-8 continuation byte 0x" + hex2(k) + " in a string", pos_);
      cp = (cp << 6) | (k & 0x3Fu);
      ++pos_;
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra]) fail("overlong UTF-8 sequence in a string", start);
    if (cp > 0x10FFFF) fail("UTF-8 code point beyond U+10FFFF in a string", start);
    if (cp >= 0xD800 && cp <= 0xDFFF) fail("UTF-8 encoded surrogate in a string", start);
    out.append(s_.substr(start, pos_ - start));
  }

  static std::string hex2(unsigned char c) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%02x", c);
    return buf;
  }

  std::string parse_string() {
    size_t start = pos_;
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string", start);
      unsigned char c = peek();
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character " + describe_byte(c) + " in a string", pos_);
      if (c >= 0x80) {
        copy_utf8(out);
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      size_t esc_at = pos_;
      ++pos_;
      if (at_end()) fail("unterminated string", start);
      unsigned char e = peek();
      ++pos_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = parse_hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("unpaired low surrogate in a \\u escape", esc_at);
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
              fail("unpaired high surrogate in a \\u escape", esc_at);
            pos_ += 2;
            uint32_t lo = parse_hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired high surrogate in a \\u escape", esc_at);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail("invalid escape '\\" + std::string(1, static_cast<char>(e)) + "' in a string", esc_at);
      }
    }
  }

  static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

  Value parse_number() {
    size_t start = pos_;
    Value v;
    v.type_ = Type::Number;
    if (peek() == '-') {
      v.negative_ = true;
      ++pos_;
    }
    if (at_end() || !is_digit(peek())) fail("invalid number: expected a digit", pos_);
    size_t int_start = pos_;
    if (peek() == '0') {
      ++pos_;
      if (!at_end() && is_digit(peek())) fail("invalid number: leading zero", int_start);
    } else {
      while (!at_end() && is_digit(peek())) ++pos_;
    }
    size_t int_end = pos_;
    bool integral = true;
    if (!at_end() && peek() == '.') {
      integral = false;
      ++pos_;
      if (at_end() || !is_digit(peek())) fail("invalid number: expected a digit after '.'", pos_);
      while (!at_end() && is_digit(peek())) ++pos_;
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      integral = false;
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (at_end() || !is_digit(peek())) fail("invalid number: expected a digit in the exponent", pos_);
      while (!at_end() && is_digit(peek())) ++pos_;
    }
    v.text_ = std::string(s_.substr(start, pos_ - start));
    v.integral_ = integral;
    if (integral) {
      uint64_t m = 0;
      auto r = std::from_chars(s_.data() + int_start, s_.data() + int_end, m);
      v.magnitude_ok_ = r.ec == std::errc() && r.ptr == s_.data() + int_end;
      v.magnitude_ = v.magnitude_ok_ ? m : 0;
    }
    // from_chars for double is locale independent; out-of-range gives +-inf (or 0 for tiny).
    double d = 0.0;
    auto r = std::from_chars(v.text_.data(), v.text_.data() + v.text_.size(), d);
    if (r.ec == std::errc::result_out_of_range) {
      bool tiny = false;  // decide by the exponent's sign
      size_t epos = v.text_.find_first_of("eE");
      if (epos != std::string::npos && epos + 1 < v.text_.size() && v.text_[epos + 1] == '-') tiny = true;
      d = tiny ? 0.0 : HUGE_VAL;
      if (v.negative_) d = -d;
    }
    v.number_ = d;
    return v;
  }

  std::string_view s_;
  Limits limits_;
  size_t pos_ = 0;
  size_t values_ = 0;
};

Value parse(std::string_view text, const Limits& limits) {
  Parser p(text, limits);
  return p.parse_document();
}

}  // namespace nst::json
