// A small, strict JSON parser (RFC 8259), written for reading safetensors headers: untrusted
// input, so every malformed document is an error with a one-line message, never a crash.
//
// Strictness: no comments, no trailing commas, no NaN/Infinity, no leading zeros, no unescaped
// control characters, strings must be valid UTF-8 (escapes \uXXXX included, surrogate pairs
// must be paired), duplicate object keys are rejected, nesting depth and the number of values
// are bounded, and nothing but whitespace may follow the top-level value.
//
// Numbers keep their exact integer value when the text is an integer (no fraction, no exponent)
// that fits in int64 / uint64; as_int64()/as_uint64() return nothing otherwise, so callers that
// need an integer reject 1.0, 1e3 and 2^64 instead of rounding them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nst::json {

// what() is one line: "<problem> at byte <offset>".
struct ParseError : std::runtime_error {
  ParseError(const std::string& problem, size_t byte_offset);
  size_t offset;  // byte offset in the document where the problem was found
};

enum class Type { Null, Bool, Number, String, Array, Object };
// "null", "boolean", "number", "string", "array", "object": for error messages.
const char* type_name(Type t);

struct Limits {
  int max_depth = 64;             // arrays/objects nested deeper than this are rejected
  size_t max_values = SIZE_MAX;   // total number of values in the document
};

class Value {
 public:
  Value() = default;  // null

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Accessors throw std::logic_error when the value has another type.
  bool as_bool() const;
  double as_double() const;                  // nearest double (may be +-inf for huge numbers)
  std::optional<int64_t> as_int64() const;   // exact integer in range, else nothing
  std::optional<uint64_t> as_uint64() const; // exact non-negative integer in range, else nothing
  const std::string& number_text() const;    // the number as written in the document
  const std::string& as_string() const;      // decoded UTF-8

  // Arrays and objects.
  size_t size() const;
  const Value& operator[](size_t i) const;   // array element / object value i (document order)
  const std::string& key(size_t i) const;    // object key i (document order)
  const Value* find(std::string_view key) const;  // object member, nullptr if absent

 private:
  friend class Parser;
  void require(Type t, const char* what) const;

  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0.0;
  bool integral_ = false;      // number text has no fraction and no exponent
  bool negative_ = false;      // number text starts with '-'
  bool magnitude_ok_ = false;  // |value| fits in uint64 (only meaningful when integral_)
  uint64_t magnitude_ = 0;
  std::string text_;                 // string contents, or the number's text
  std::vector<Value> items_;         // array elements / object values
  std::vector<std::string> keys_;    // object keys, parallel to items_
};

// Parses a complete document; throws ParseError.
Value parse(std::string_view text, const Limits& limits = Limits{});

}  // namespace nst::json
