// The strict JSON parser used for safetensors headers.
#include "nst/io/json.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using nst::json::Limits;
using nst::json::parse;
using nst::json::ParseError;
using nst::json::Type;
using nst::json::Value;

namespace {

// The ParseError message for `text`, or "" when it parses.
std::string error_of(const std::string& text, const Limits& limits = Limits{}) {
  try {
    parse(text, limits);
  } catch (const ParseError& e) {
    return e.what();
  }
  return "";
}

#define CHECK_PARSE_ERROR(text, expected)                                   \
  do {                                                                      \
    std::string msg_ = error_of(text);                                      \
    INFO("document: ", std::string(text), "  error: ", msg_);              \
    CHECK(msg_.find(expected) != std::string::npos);                        \
    CHECK(msg_.find('\n') == std::string::npos);                            \
  } while (0)

}  // namespace

TEST_CASE("scalars") {
  CHECK(parse("null").is_null());
  CHECK(parse("true").as_bool() == true);
  CHECK(parse("false").as_bool() == false);
  CHECK(parse(" \t\r\n 42 \n").as_int64() == 42);
  CHECK(parse("\"hi\"").as_string() == "hi");
  CHECK(parse("-1.5e2").as_double() == -150.0);
  CHECK(parse("0.25").as_double() == 0.25);
  CHECK(parse("1E+2").as_double() == 100.0);
}

TEST_CASE("integers are exact and range checked") {
  CHECK(parse("9223372036854775807").as_int64() == INT64_MAX);
  CHECK(parse("-9223372036854775808").as_int64() == INT64_MIN);
  CHECK_FALSE(parse("9223372036854775808").as_int64().has_value());
  CHECK(parse("9223372036854775808").as_uint64() == 9223372036854775808ull);
  CHECK(parse("18446744073709551615").as_uint64() == UINT64_MAX);
  CHECK_FALSE(parse("18446744073709551616").as_uint64().has_value());
  CHECK_FALSE(parse("18446744073709551616").as_int64().has_value());
  CHECK(parse("18446744073709551616").as_double() == 18446744073709551616.0);
  CHECK_FALSE(parse("-1").as_uint64().has_value());
  CHECK(parse("-0").as_uint64() == 0u);
  CHECK(parse("-0").as_int64() == 0);
  // Not integers, even when the value is whole.
  CHECK_FALSE(parse("1.0").as_int64().has_value());
  CHECK_FALSE(parse("1e3").as_uint64().has_value());
  CHECK(parse("1e3").number_text() == "1e3");
  // Huge and tiny doubles saturate instead of failing.
  CHECK(std::isinf(parse("1e999").as_double()));
  CHECK(parse("-1e999").as_double() < 0);
  CHECK(parse("1e-999").as_double() == 0.0);
}

TEST_CASE("arrays and objects keep document order") {
  Value v = parse(R"({"b": [1, 2, [3, {}]], "a": {"x": null}, "c": []})");
  REQUIRE(v.is_object());
  REQUIRE(v.size() == 3);
  CHECK(v.key(0) == "b");
  CHECK(v.key(1) == "a");
  CHECK(v.key(2) == "c");
  const Value& b = v[0];
  REQUIRE(b.is_array());
  CHECK(b.size() == 3);
  CHECK(b[2][0].as_int64() == 3);
  CHECK(b[2][1].is_object());
  CHECK(b[2][1].size() == 0);
  REQUIRE(v.find("a") != nullptr);
  CHECK(v.find("a")->find("x")->is_null());
  CHECK(v.find("zz") == nullptr);
  CHECK(v.find("c")->size() == 0);
  CHECK(parse("[]").size() == 0);
  CHECK(parse("{}").size() == 0);
}

TEST_CASE("string escapes and UTF-8") {
  CHECK(parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string() == "a\"b\\c/d\b\f\n\r\t");
  CHECK(parse(R"("\u0041\u00e9\u20AC")").as_string() == "A\xC3\xA9\xE2\x82\xAC");
  CHECK(parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");  // U+1F600
  CHECK(parse(R"("\u0000x")").as_string() == std::string("\0x", 2));
  CHECK(parse("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"").as_string() == "caf\xC3\xA9 \xF0\x9F\x98\x80");
}

TEST_CASE("wrong-type access is a logic error") {
  CHECK_THROWS_AS(parse("1").as_string(), std::logic_error);
  CHECK_THROWS_AS(parse("\"x\"").as_int64(), std::logic_error);
  CHECK_THROWS_AS(parse("[]").key(0), std::logic_error);
  CHECK_THROWS_AS(parse("true").size(), std::logic_error);
  CHECK_THROWS_AS(parse("[1]")[1], std::out_of_range);
}

TEST_CASE("every error class has its own message") {
  CHECK_PARSE_ERROR("", "empty document");
  CHECK_PARSE_ERROR("   ", "empty document");
  CHECK_PARSE_ERROR("[1, 2", "unexpected end of document inside an array");
  CHECK_PARSE_ERROR("{\"a\": 1", "unexpected end of document inside an object");
  CHECK_PARSE_ERROR("{\"a\"", "unexpected end of document inside an object");
  CHECK_PARSE_ERROR("[1,", "unexpected end of document, expected a value");
  CHECK_PARSE_ERROR("@", "unexpected '@', expected a value");
  CHECK_PARSE_ERROR("NaN", "unexpected 'N', expected a value");
  CHECK_PARSE_ERROR("tru", "invalid literal, expected 'true'");
  CHECK_PARSE_ERROR("nul", "invalid literal, expected 'null'");
  CHECK_PARSE_ERROR("fals", "invalid literal, expected 'false'");
  CHECK_PARSE_ERROR("01", "leading zero");
  CHECK_PARSE_ERROR("-", "invalid number: expected a digit");
  CHECK_PARSE_ERROR("+1", "unexpected '+'");
  CHECK_PARSE_ERROR("1.", "expected a digit after '.'");
  CHECK_PARSE_ERROR(".5", "unexpected '.'");
  CHECK_PARSE_ERROR("1e", "expected a digit in the exponent");
  CHECK_PARSE_ERROR("1e+", "expected a digit in the exponent");
  CHECK_PARSE_ERROR("\"abc", "unterminated string");
  CHECK_PARSE_ERROR("\"abc\\", "unterminated string");
  CHECK_PARSE_ERROR("\"a\tb\"", "unescaped control character byte 0x09");
  CHECK_PARSE_ERROR("\"a\\x\"", "invalid escape '\\x'");
  CHECK_PARSE_ERROR("\"\\u12G4\"", "invalid hex digit 'G'");
  CHECK_PARSE_ERROR("\"\\u12", "unexpected end of document in a \\u escape");
  CHECK_PARSE_ERROR("\"\\ud800\"", "unpaired high surrogate");
  CHECK_PARSE_ERROR("\"\\ud800\\u0041\"", "unpaired high surrogate");
  CHECK_PARSE_ERROR("\"\\udc00\"", "unpaired low surrogate");
  CHECK_PARSE_ERROR("\"\xFF\"", "invalid UTF-8 lead byte 0xff");
  CHECK_PARSE_ERROR("\"\xC3(\"", "invalid UTF-8 continuation byte 0x28");
  CHECK_PARSE_ERROR("\"\xE2\x82", "truncated UTF-8 sequence");
  CHECK_PARSE_ERROR("\"\xE0\x80\x80\"", "overlong UTF-8 sequence");
  CHECK_PARSE_ERROR("\"\xED\xA0\x80\"", "UTF-8 encoded surrogate");
  CHECK_PARSE_ERROR("\"\xF4\x90\x80\x80\"", "beyond U+10FFFF");
  CHECK_PARSE_ERROR("{\"a\": 1, \"a\": 2}", "duplicate key \"a\"");
  CHECK_PARSE_ERROR("{1: 2}", "expected a string key in an object, got '1'");
  CHECK_PARSE_ERROR("{\"a\" 1}", "expected ':' after an object key, got '1'");
  CHECK_PARSE_ERROR("{\"a\": 1 \"b\": 2}", "expected ',' or '}' in an object, got '\"'");
  CHECK_PARSE_ERROR("[1 2]", "expected ',' or ']' in an array, got '2'");
  CHECK_PARSE_ERROR("[1,]", "trailing comma in an array");
  CHECK_PARSE_ERROR("{\"a\": 1,}", "trailing comma in an object");
  CHECK_PARSE_ERROR("{} x", "trailing characters after the JSON value ('x')");
  CHECK_PARSE_ERROR(std::string("{}\0", 3), "trailing characters after the JSON value (byte 0x00)");
  CHECK_PARSE_ERROR("1 2", "trailing characters");
  CHECK_PARSE_ERROR("[1] // comment", "trailing characters");
  CHECK_PARSE_ERROR("\xEF\xBB\xBF{}", "unexpected byte 0xef");  // BOM
}

TEST_CASE("errors carry the byte offset") {
  try {
    parse("[1, 2, x]");
    FAIL("expected a ParseError");
  } catch (const ParseError& e) {
    CHECK(e.offset == 7);
    CHECK(std::string(e.what()).find("at byte 7") != std::string::npos);
  }
}

TEST_CASE("duplicate keys are detected per object, not across objects") {
  CHECK_NOTHROW(parse(R"({"a": {"a": 1}, "b": {"a": 2}})"));
  CHECK_PARSE_ERROR(R"({"x": {"k": 1, "k": 2}})", "duplicate key \"k\"");
  // The duplicate is found after decoding escapes.
  CHECK_PARSE_ERROR(R"({"a": 1, "\u0061": 2})", "duplicate key \"a\"");
}

TEST_CASE("nesting depth is limited") {
  std::string ok = std::string(64, '[') + std::string(64, ']');
  CHECK_NOTHROW(parse(ok));
  std::string deep = std::string(65, '[') + std::string(65, ']');
  CHECK(error_of(deep).find("nesting deeper than 64 levels") != std::string::npos);
  std::string objects;
  for (int i = 0; i < 65; ++i) objects += "{\"a\":";
  objects += "1" + std::string(65, '}');
  CHECK(error_of(objects).find("nesting deeper than 64 levels") != std::string::npos);
  // Far deeper than any stack could recurse: still a clean error.
  std::string very_deep(1000000, '[');
  CHECK(error_of(very_deep).find("nesting deeper") != std::string::npos);
  Limits small;
  small.max_depth = 2;
  CHECK(error_of("[[[]]]", small).find("nesting deeper than 2 levels") != std::string::npos);
  CHECK(error_of("[[]]", small).empty());
}

TEST_CASE("number of values is limited") {
  Limits small;
  small.max_values = 4;
  CHECK(error_of("[1,2,3]", small).empty());
  CHECK(error_of("[1,2,3,4]", small).find("more than 4 values") != std::string::npos);
}
