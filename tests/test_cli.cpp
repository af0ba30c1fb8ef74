// The nst command's front end: every bad option is rejected by parse_options with one line naming
// the option; check_paths refuses bad inputs and outputs; and the real binary, given bad options,
// paths, images or weights, exits with the documented code and a single "nst: " line on stderr,
// quickly (before any heavy work), creating no output and changing no existing file.
#include <doctest/doctest.h>

#include "cli/options.h"
#include "nst/kernels/kernel_set.h"
#include "nst/io/image.h"
#include "nst/style/memory_estimate.h"
#include "support/crc32.h"
#include "support/read_watch.h"
#include "support/shared_data.h"
#include "support/safetensors_writer.h"
#include "support/sanitizer.h"
#include "support/subprocess.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

using namespace nst;
using namespace nst::cli;
using nst::testing::Child;
using nst::testing::crc32;
using nst::testing::Exit;
using nst::testing::have_shared;
using nst::testing::ReadWatch;
using nst::testing::TempDir;
using nst::testing::run_child;
using nst::testing::write_file;

namespace {

using nst::testing::kShared;
const std::string& kRealWeights = nst::testing::kWeights;

using nst::testing::kAsan;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// parse_options on "nst --content c.png --style s.png --output o.png" + extra; returns the
// UsageError message, or "" if it parsed.
std::string parse_error(const std::vector<std::string>& extra, Options* out = nullptr) {
  std::vector<std::string> args{"nst", "--content", "c.png", "--style", "s.png", "--output", "o.png"};
  args.insert(args.end(), extra.begin(), extra.end());
  Options opt;
  std::string text;
  try {
    parse_options(args, nullptr, opt, text);
  } catch (const UsageError& e) {
    return e.what();
  }
  if (out) *out = opt;
  return "";
}

// The message names the option and is one line.
void check_rejected(const std::vector<std::string>& extra, const std::string& option) {
  const std::string msg = parse_error(extra);
  INFO("args: " << extra.front() << " " << (extra.size() > 1 ? extra[1] : "") << " -> " << msg);
  CHECK(!msg.empty());
  CHECK(contains(msg, option));
  CHECK(!contains(msg, "\n"));
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// A 33-byte PNG (signature + IHDR) declaring width x height RGB.
std::string png_header_only(uint32_t width, uint32_t height) {
  const std::string body = "IHDR" + be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + body + be32(crc32(body));
}

// A small valid PNG photo-like image.
void write_png(const std::string& path, int w, int h) {
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(static_cast<size_t>(w * h * 3));
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<float>((i * 37) % 256);
  save_image(img, path, {95, true});
}

// The binary's verdict on a run: exit code, one stderr line starting "nst: ".
struct Verdict {
  Exit exit;
  bool one_line = false;
};

Verdict run_nst(const std::vector<std::string>& args, double timeout = 30) {
  std::vector<std::string> argv{NST_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  Verdict v{run_child(argv, timeout), false};
  const std::string& e = v.exit.err;
  v.one_line = e.rfind("nst: ", 0) == 0 && e.find('\n') == e.size() - 1;
  return v;
}

// A scratch directory with valid small inputs (content.png, style.png) and a dummy weights file
// (never read: every case below is rejected before the weights are loaded).
struct Scene {
  TempDir dir;
  std::string content = dir.path("content.png"), style = dir.path("style.png");
  std::string weights = dir.path("dummy.safetensors"), out = dir.path("out.png");
  Scene() {
    write_png(content, 40, 30);
    write_png(style, 32, 32);
    write_file(weights, "not weights; must never be read in these tests");
  }
  std::vector<std::string> args(const std::string& content_path) const {
    return {"--content", content_path, "--style", style, "--output", out, "--size", "32", "--weights", weights};
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// parse_options

TEST_CASE("parse_options: defaults parse; --help and --version print and return false") {
  Options opt;
  CHECK(parse_error({}, &opt) == "");
  CHECK(opt.size == 512);
  CHECK(opt.max_memory == -1);
  CHECK(opt.weights == "weights/vgg19.safetensors");
  std::string text;
  Options o2;
  CHECK_FALSE(parse_options({"nst", "--help"}, nullptr, o2, text));
  CHECK(contains(text, "--max-memory"));
  CHECK(contains(text, "--overwrite"));
  CHECK_FALSE(parse_options({"nst", "--version"}, nullptr, o2, text));
  CHECK(text == std::string("nst 0.1.0, kernels: ") +
                     nst::kernels::kernel_set_name(nst::kernels::active_kernel_set()) + "\n");
  Options o3;
  REQUIRE(parse_options({"nst", "--content", "a.jpg", "--style", "b.jpg", "--output", "c.png"}, "/w.safetensors", o3,
                        text));
  CHECK(o3.weights == "/w.safetensors");
}

TEST_CASE("parse_options: iterations, history, threads and other counts out of range name the option") {
  check_rejected({"--iterations", "0"}, "--iterations");
  check_rejected({"--iterations", "-5"}, "--iterations");
  check_rejected({"--iterations", "ten"}, "--iterations");
  check_rejected({"--iterations", "99999999999999"}, "--iterations");
  check_rejected({"--lbfgs-history", "0"}, "--lbfgs-history");
  check_rejected({"--threads", "-1"}, "--threads");
  check_rejected({"--threads", "5000"}, "--threads");
  check_rejected({"--print-every", "-1"}, "--print-every");
  check_rejected({"--save-every", "-1"}, "--save-every");
  check_rejected({"--jpeg-quality", "0"}, "--jpeg-quality");
  check_rejected({"--jpeg-quality", "101"}, "--jpeg-quality");
  check_rejected({"--seed", "-1"}, "--seed");
}

TEST_CASE("parse_options: NaN, infinite and negative weights name the option") {
  for (const char* opt : {"--content-weight", "--style-weight", "--tv-weight"})
    for (const char* v : {"nan", "NaN", "inf", "-inf", "1e999", "-1", "x"}) check_rejected({opt, v}, opt);
  check_rejected({"--style-layer-weights", "1,nan,1,1,1"}, "--style-layer-weights");
  check_rejected({"--style-layer-weights", "1,1"}, "--style-layer-weights");
  check_rejected({"--style-layer-weights", "1,1,1,1,-2"}, "--style-layer-weights");
  check_rejected({"--style-scale", "0"}, "--style-scale");
  check_rejected({"--style-scale", "nan"}, "--style-scale");
  check_rejected({"--style-scale", "1000"}, "--style-scale");
}

TEST_CASE("parse_options: size 0, negative, beyond --max-side, too small for the layers") {
  check_rejected({"--size", "0"}, "--size");
  check_rejected({"--size", "-3"}, "--size");
  check_rejected({"--size", "16385"}, "--size");
  check_rejected({"--size", "600", "--max-side", "500"}, "--size");
  check_rejected({"--size", "8"}, "--size");  // relu5_1 needs 16
  CHECK(parse_error({"--size", "8", "--style-layers", "relu1_1", "--content-layers", "relu1_1"}) == "");
  check_rejected({"--max-side", "0"}, "--max-side");
  check_rejected({"--max-pixels", "-1"}, "--max-pixels");
}

TEST_CASE("parse_options: unknown layers, flags, pooling, output formats") {
  check_rejected({"--content-layers", "relu9_9"}, "--content-layers");
  check_rejected({"--style-layers", "relu1_1,conv"}, "--style-layers");
  check_rejected({"--style-layers", "relu1_1,,relu2_1"}, "relu1_1,,relu2_1");
  check_rejected({"--content-layers", "", "--style-layers", ""}, "--content-layers");
  check_rejected({"--frobnicate"}, "--frobnicate");
  check_rejected({"--iterations"}, "--iterations");  // value missing
  check_rejected({"--pooling", "median"}, "--pooling");
  check_rejected({"--lbfgs-precision", "double"}, "--lbfgs-precision");
  CHECK(parse_error({"--lbfgs-precision", "float"}) == "");
  CHECK(parse_error({"--pooling", "avg"}) == "");
  for (const char* out : {"out.gif", "out", "out.png.bak", "dir.png/out", "out.tiff"}) {
    std::vector<std::string> args{"nst", "--content", "c.png", "--style", "s.png", "--output", out};
    Options opt;
    std::string text;
    CHECK_THROWS_WITH_AS(parse_options(args, nullptr, opt, text), doctest::Contains("--output"), UsageError);
  }
  CHECK(parse_error({"--loss-log", "loss.txt"}) != "");
  // WebP output; 16-bit output only as PNG.
  for (const char* out : {"out.webp", "OUT.WEBP", "out.jpg", "out.png"}) {
    std::vector<std::string> args{"nst", "--content", "c.png", "--style", "s.png", "--output", out};
    Options opt;
    std::string text;
    CHECK_NOTHROW(parse_options(args, nullptr, opt, text));
    CHECK(opt.bit_depth == 8);
    args.insert(args.end(), {"--bit-depth", "16"});
    if (std::string(out) == "out.png") {
      CHECK_NOTHROW(parse_options(args, nullptr, opt, text));
      CHECK(opt.bit_depth == 16);
    } else {
      CHECK_THROWS_WITH_AS(parse_options(args, nullptr, opt, text), doctest::Contains("--bit-depth 16 needs a .png"),
                           UsageError);
    }
  }
  check_rejected({"--bit-depth", "12"}, "--bit-depth");
  check_rejected({"--bit-depth", "x"}, "--bit-depth");
  // A required option missing.
  Options opt;
  std::string text;
  CHECK_THROWS_WITH_AS(parse_options({"nst", "--style", "s.png", "--output", "o.png"}, nullptr, opt, text),
                       doctest::Contains("--content"), UsageError);
}

TEST_CASE("parse_options: the style-transfer controls and their bad combinations are one-line errors") {
  Options opt;
  REQUIRE(parse_error({"--optimizer", "adam", "--learning-rate", "5", "--init", "style", "--original-colors",
                       "--color-match", "chol", "--start-size", "128", "--scale-iterations", "50",
                       "--normalize-gradients", "--style-mask", "m.png"},
                      &opt) == "");
  CHECK(opt.settings.optimizer == Optimizer::Adam);
  CHECK(opt.settings.learning_rate == 5);
  CHECK(opt.settings.init == InitMode::Style);
  CHECK(opt.settings.original_colors);
  CHECK(opt.settings.color_match == ColorMatch::Cholesky);
  CHECK(opt.settings.start_size == 128);
  CHECK(opt.settings.scale_iterations == 50);
  CHECK(opt.settings.loss.normalize_gradients);
  CHECK(opt.style_masks == std::vector<std::string>{"m.png"});
  // Defaults come from StylizeSettings.
  Options d;
  REQUIRE(parse_error({}, &d) == "");
  CHECK(d.settings.optimizer == StylizeSettings{}.optimizer);
  CHECK(d.settings.color_match == ColorMatch::None);
  CHECK(d.settings.init == InitMode::Random);
  check_rejected({"--style-mask", "a.png", "--style-mask", "b.png"}, "--style-mask");  // 2 masks, 1 style
  check_rejected({"--start-size", "600"}, "--start-size");                             // > --size 512
  check_rejected({"--start-size", "8"}, "--start-size");                               // too small for relu5_1
  check_rejected({"--scale-iterations", "10"}, "--scale-iterations");                  // without --start-size
  check_rejected({"--start-size", "64", "--scale-iterations", "0"}, "--scale-iterations");
  check_rejected({"--normalize-gradients", "--line-search"}, "--normalize-gradients");
  check_rejected({"--learning-rate", "5"}, "--learning-rate");                         // with L-BFGS
  check_rejected({"--optimizer", "adam", "--lbfgs-history", "5"}, "--lbfgs-history");
  check_rejected({"--optimizer", "adam", "--line-search"}, "--line-search");
  check_rejected({"--optimizer", "adam", "--learning-rate", "-1"}, "--learning-rate");
  check_rejected({"--optimizer", "sgd"}, "--optimizer");
  check_rejected({"--color-match", "lab"}, "--color-match");
}

TEST_CASE("parse_options: --clamp is on by default, off with --no-clamp, --line-search or --reference") {
  auto settings_of = [](const std::vector<std::string>& extra) {
    Options o;
    REQUIRE(parse_error(extra, &o) == "");
    return o.settings;
  };
  // The box the run gets (the library resolves Auto: on unless a line search).
  auto clamp_of = [&](const std::vector<std::string>& extra) { return clamp_enabled(settings_of(extra)); };
  CHECK(clamp_of({}));
  CHECK(clamp_of({"--clamp"}));
  CHECK_FALSE(clamp_of({"--no-clamp"}));
  CHECK_FALSE(clamp_of({"--line-search"}));
  CHECK_FALSE(clamp_of({"--line-search", "--no-clamp"}));
  CHECK_FALSE(clamp_of({"--reference"}));
  CHECK_FALSE(clamp_of({"--reference", "--clamp"}));  // the reference overrides it
  // The flags map to the setting: nothing to Auto, --clamp to On, --no-clamp and --reference to Off.
  CHECK(settings_of({}).clamp == Clamp::Auto);
  CHECK(settings_of({"--line-search"}).clamp == Clamp::Auto);
  CHECK(settings_of({"--clamp"}).clamp == Clamp::On);
  CHECK(settings_of({"--no-clamp"}).clamp == Clamp::Off);
  CHECK(settings_of({"--reference"}).clamp == Clamp::Off);
  check_rejected({"--line-search", "--clamp"}, "--clamp");
  check_rejected({"--optimizer", "adam", "--no-clamp"}, "--clamp");
}

TEST_CASE("parse_options: --style-blend needs one finite non-negative weight per style, not all zero") {
  check_rejected({"--style-blend", "1,2"}, "--style-blend");
  check_rejected({"--style-blend", "0"}, "--style-blend");
  check_rejected({"--style-blend", "nan"}, "--style-blend");
  check_rejected({"--style-blend", "-1"}, "--style-blend");
  check_rejected({"--style-blend", "inf"}, "--style-blend");
  Options opt;
  std::string text;
  REQUIRE(parse_options({"nst", "--content", "c.png", "--style", "a.png", "--style", "b.png", "--style-blend", "1,3",
                         "--output", "o.png"},
                        nullptr, opt, text));
  CHECK(opt.settings.style_blend == std::vector<double>{1, 3});
}

TEST_CASE("parse_options: --max-memory takes bytes with K/M/G/T suffixes") {
  Options opt;
  REQUIRE(parse_error({"--max-memory", "8G"}, &opt) == "");
  CHECK(opt.max_memory == (int64_t{8} << 30));
  CHECK(parse_byte_size("x", "512M") == (int64_t{512} << 20));
  CHECK(parse_byte_size("x", "1.5GiB") == (int64_t{3} << 29));
  CHECK(parse_byte_size("x", "100000") == 100000);
  CHECK(parse_byte_size("x", "64k") == 65536);
  CHECK(parse_byte_size("x", "2TB") == (int64_t{2} << 40));
  CHECK(parse_byte_size("x", "0") == 0);
  for (const char* bad : {"", "-1", "G", "8Q", "1.2.3", "8 G", "1e3", "nan", "99999999999T", "8GG"})
    CHECK_THROWS_WITH_AS(parse_byte_size("--max-memory", bad), doctest::Contains("--max-memory"), UsageError);
  check_rejected({"--max-memory", "lots"}, "--max-memory");
  // MemAvailable is positive and at most the machine's RAM (sysinfo, an independent source).
  struct sysinfo si {};
  REQUIRE(sysinfo(&si) == 0);
  const int64_t avail = available_memory_bytes();
  CHECK(avail > 0);
  CHECK(avail <= int64_t(si.totalram) * int64_t(si.mem_unit));
}

// ---------------------------------------------------------------------------------------------
// check_paths

TEST_CASE("check_paths: outputs that are inputs, in missing or non-directories, or exist") {
  Scene s;
  Options opt;
  REQUIRE(parse_error({}, &opt) == "");
  opt.content = s.content;
  opt.styles = {s.style};
  opt.weights = s.weights;
  opt.output = s.out;
  CHECK_NOTHROW(check_paths(opt));

  Options o = opt;
  o.output = s.content;
  CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("also an input"), OutputPathError);
  o.output = s.dir.str() + "/./content.png";  // same file, another spelling
  CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("also an input"), OutputPathError);
  REQUIRE(link(s.style.c_str(), s.dir.path("hardlink.png").c_str()) == 0);
  o.output = s.dir.path("hardlink.png");
  o.overwrite = true;
  CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("also an input"), OutputPathError);
  REQUIRE(symlink(s.content.c_str(), s.dir.path("symlink.png").c_str()) == 0);
  o.output = s.dir.path("symlink.png");
  CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("also an input"), OutputPathError);
  o.output = s.weights.substr(0, s.weights.size() - 12) + ".png";  // not the weights: fine
  CHECK_NOTHROW(check_paths(o));

  o = opt;
  o.output = s.dir.path("missing/out.png");
  CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("does not exist"), OutputPathError);
  o.output = s.content + "/out.png";  // a file where a directory should be
  CHECK_THROWS_AS(check_paths(o), OutputPathError);
  o.output = s.dir.str();
  CHECK_THROWS_AS(check_paths(o), OutputPathError);

  write_file(s.out, "old");
  o = opt;
  CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("--overwrite"), OutputPathError);
  o.overwrite = true;
  CHECK_NOTHROW(check_paths(o));
  o.loss_log = s.out;
  CHECK_THROWS_AS(check_paths(o), OutputPathError);
  CHECK(read_all(s.out) == "old");
}

TEST_CASE("check_paths: missing, unreadable, directory and FIFO inputs; missing weights with a hint") {
  Scene s;
  Options opt;
  REQUIRE(parse_error({}, &opt) == "");
  opt.content = s.content;
  opt.styles = {s.style};
  opt.weights = s.weights;
  opt.output = s.out;

  Options o = opt;
  o.content = s.dir.path("missing.png");
  CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("missing.png: cannot open content image"), InputError);
  o = opt;
  o.styles = {s.style, s.dir.str()};
  CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("is a directory"), InputError);
  REQUIRE(mkfifo(s.dir.path("fifo.png").c_str(), 0600) == 0);
  o = opt;
  o.content = s.dir.path("fifo.png");
  CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("not a regular file"), InputError);
  o = opt;
  o.weights = s.dir.path("fifo.png");
  CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("cannot open weights file: is a FIFO (named pipe), not a regular file"), InputError);
  o = opt;
  o.weights = s.dir.path("nope.safetensors");
  CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("hint: pass --weights FILE or set NST_WEIGHTS"), InputError);
  o = opt;
  o.content = "/dev/zero";
  CHECK_THROWS_AS(check_paths(o), InputError);

  write_png(s.dir.path("secret.png"), 4, 4);
  chmod(s.dir.path("secret.png").c_str(), 0);
  if (geteuid() == 0) {
    MESSAGE("skipped the unreadable-file case: running as root, every file is readable");
  } else {
    o = opt;
    o.content = s.dir.path("secret.png");
    CHECK_THROWS_WITH_AS(check_paths(o), doctest::Contains("cannot open content image: cannot be read: permission denied"), InputError);
  }
}

// ---------------------------------------------------------------------------------------------
// The binary

TEST_CASE("nst binary: bad options exit 64 with one line, fast, even with a huge or blocking weights path") {
  Scene s;
  REQUIRE(mkfifo(s.dir.path("fifo.safetensors").c_str(), 0600) == 0);
  const std::vector<std::vector<std::string>> bad = {
      {"--iterations", "0"},          {"--iterations", "-1"},      {"--style-weight", "nan"},
      {"--content-weight", "inf"},    {"--size", "0"},             {"--size", "100000"},
      {"--content-layers", "relu6_1"}, {"--no-such-flag"},          {"--style-blend", "1,1"},
      {"--pooling", "min"},           {"--max-memory", "8X"},      {"--tv-weight", "-1"},
  };
  const std::string slow_weights = access(kRealWeights.c_str(), R_OK) == 0 ? kRealWeights : s.dir.path("fifo.safetensors");
  for (const auto& extra : bad) {
    for (const std::string& weights : {slow_weights, s.dir.path("fifo.safetensors")}) {
      std::vector<std::string> args{"--content", s.content, "--style", s.style, "--output", s.out, "--weights", weights};
      args.insert(args.end(), extra.begin(), extra.end());
      ReadWatch content(s.content), style(s.style);
      const Verdict v = run_nst(args, 20);
      INFO(extra[0] << " with weights " << weights << ": " << v.exit.err);
      CHECK(v.exit.code == kExitUsage);
      CHECK(v.one_line);
      CHECK(contains(v.exit.err, extra[0]));
      // Refused before any file was looked at: the images were not even opened, and the run
      // ended (a FIFO for weights would have blocked an open; run_nst kills at 20 s).
      CHECK_FALSE(content.opened());
      CHECK_FALSE(style.opened());
      CHECK_FALSE(exists(s.out));
    }
  }
  // An unsupported output extension too.
  const Verdict v = run_nst({"--content", s.content, "--style", s.style, "--output", s.dir.path("out.gif")});
  CHECK(v.exit.code == kExitUsage);
  CHECK(v.one_line);
  CHECK_FALSE(exists(s.dir.path("out.gif")));
  // No arguments at all.
  const Verdict none = run_nst({});
  CHECK(none.exit.code == kExitUsage);
  CHECK(none.one_line);
}

TEST_CASE("nst binary: a weights path that is a FIFO or missing is refused at once (66)") {
  Scene s;
  REQUIRE(mkfifo(s.dir.path("fifo.safetensors").c_str(), 0600) == 0);
  for (const std::string& w : {s.dir.path("fifo.safetensors"), s.dir.path("missing.safetensors"), s.dir.str()}) {
    std::vector<std::string> args = s.args(s.content);
    args.back() = w;
    ReadWatch content(s.content), style(s.style);
    const Verdict v = run_nst(args, 20);
    INFO(w << ": " << v.exit.err);
    CHECK(v.exit.code == kExitNoInput);
    CHECK(v.one_line);
    CHECK(contains(v.exit.err, w));
    CHECK_FALSE(content.read());  // refused in the path checks, before any image was decoded
    CHECK_FALSE(style.read());
    CHECK_FALSE(exists(s.out));
  }
}

TEST_CASE("nst binary: hostile content images exit 65/66 with one line naming the file; nothing written") {
  Scene s;
  std::mt19937 rng(7);
  std::string random_bytes(4096, '\0');
  for (char& c : random_bytes) c = static_cast<char>(rng());
  struct Case {
    std::string name, bytes;
    int code;
    std::string reason;
  };
  const std::vector<Case> files = {
      {"empty.png", "", kExitDataErr, "empty file"},
      {"random.png", random_bytes, kExitDataErr, "unsupported image format"},
      {"text.png", "this is not an image, honestly\n", kExitDataErr, "looks like text"},
      {"anim.gif", std::string("GIF89a\x01\x00\x01\x00\x80\x00\x00", 13), kExitDataErr, "GIF"},
      {"bomb.png", png_header_only(100000, 100000), kExitDataErr, "100000x100000"},
      {"truncated.png", png_header_only(64, 64) + "IDAT", kExitDataErr, "truncated.png"},
      {"zero.png", png_header_only(0, 10), kExitDataErr, "zero.png"},
  };
  int tried = 0;
  for (const Case& c : files) {
    const std::string path = s.dir.path(c.name);
    write_file(path, c.bytes);
    // Both as the content and as the style image, with an existing output and --overwrite: the
    // existing file must survive.
    write_file(s.out, "precious");
    for (int as_style = 0; as_style < 2; ++as_style) {
      std::vector<std::string> args = s.args(as_style ? s.content : path);
      if (as_style) args[3] = path;
      args.push_back("--overwrite");
      ReadWatch weights(s.weights);
      const Verdict v = run_nst(args);
      ++tried;
      INFO(c.name << (as_style ? " as style: " : " as content: ") << v.exit.err);
      CHECK(v.exit.code == c.code);
      CHECK(v.one_line);
      CHECK(contains(v.exit.err, path));
      CHECK(contains(v.exit.err, c.reason));
      CHECK_FALSE(weights.read());  // refused before the weights were read
      CHECK(read_all(s.out) == "precious");
    }
  }
  std::remove(s.out.c_str());
  REQUIRE(mkfifo(s.dir.path("fifo.png").c_str(), 0600) == 0);
  for (const std::string& path : {s.dir.path("fifo.png"), std::string("/dev/zero"), s.dir.str(),
                                  s.dir.path("missing.png")}) {
    ReadWatch weights(s.weights);
    const Verdict v = run_nst(s.args(path), 20);
    ++tried;
    INFO(path << ": " << v.exit.err);
    CHECK(v.exit.code == kExitNoInput);
    CHECK(v.one_line);
    CHECK(contains(v.exit.err, path));
    CHECK_FALSE(weights.read());  // refused before the weights were read
    CHECK_FALSE(exists(s.out));
  }
  MESSAGE(tried << " hostile image inputs tried through the binary");
}

TEST_CASE("nst binary: output problems exit 73, existing files unchanged") {
  Scene s;
  // Output is the content image, by another spelling.
  Verdict v = run_nst({"--content", s.content, "--style", s.style, "--output", s.dir.str() + "/./content.png",
                       "--weights", s.weights, "--overwrite"});
  CHECK(v.exit.code == kExitCantCreat);
  CHECK(v.one_line);
  CHECK(nst::load_image(s.content).width == 40);
  // Missing directory.
  v = run_nst({"--content", s.content, "--style", s.style, "--output", s.dir.path("no/out.png"), "--weights", s.weights});
  CHECK(v.exit.code == kExitCantCreat);
  CHECK(v.one_line);
  CHECK(contains(v.exit.err, "does not exist"));
  // Existing output without --overwrite.
  write_file(s.out, "precious");
  v = run_nst(s.args(s.content));
  CHECK(v.exit.code == kExitCantCreat);
  CHECK(v.one_line);
  CHECK(contains(v.exit.err, "--overwrite"));
  CHECK(read_all(s.out) == "precious");
}

TEST_CASE("nst binary: an image whose short side ends below the layers' minimum is a usage error naming --size") {
  if (!have_shared({kRealWeights})) return;
  Scene s;  // content 40x30: at --size 16 it is 16x12, and relu5_1 needs 16 pixels per side
  const Verdict v = run_nst({"--content", s.content, "--style", s.style, "--output", s.out, "--size", "16",
                             "--iterations", "1", "--weights", kRealWeights});
  // Found before the weights are read: the only line.
  CHECK(v.exit.code == kExitUsage);
  CHECK(v.exit.err == "nst: --size: content image is 16x12; the chosen layers need at least 16 pixels per side\n");
  CHECK_FALSE(exists(s.out));
}

TEST_CASE("nst binary: a malformed weights file exits 65 naming the file; nothing written") {
  Scene s;
  const std::string bad = s.dir.path("bad.safetensors");
  const std::vector<std::string> files = {
      "",                                                          // empty
      nst::testing::u64_le(1ull << 60) + "{}",                     // header length past EOF
      nst::testing::safetensors_raw("{not json", ""),              // bad JSON
      nst::testing::safetensors_raw("{\"features.0.weight\":{\"dtype\":\"F32\",\"shape\":[64,3,3,3],"
                                    "\"data_offsets\":[0,6912]}}", std::string(16, '\0')),  // data past EOF
      nst::testing::safetensors_bytes({{"x", "F32", {1}, nst::testing::f32_bytes({1})}}),  // tensors missing
  };
  for (const std::string& bytes : files) {
    write_file(bad, bytes);
    std::vector<std::string> args = s.args(s.content);
    args.back() = bad;
    const Verdict v = run_nst(args, 60);
    INFO(v.exit.err);
    CHECK(v.exit.code == kExitDataErr);
    CHECK(v.one_line);
    CHECK(contains(v.exit.err, bad));
    CHECK_FALSE(exists(s.out));
  }
}

TEST_CASE("nst binary: a run over --max-memory is refused before the weights are read, giving the estimate") {
  Scene s;
  std::vector<std::string> args = s.args(s.content);
  args.insert(args.end(), {"--max-memory", "1M"});
  const Verdict v = run_nst(args);
  INFO(v.exit.err);
  CHECK(v.exit.code == kExitOsErr);
  CHECK(v.one_line);
  CHECK(contains(v.exit.err, "needs about"));
  CHECK(contains(v.exit.err, "--max-memory 1.0 MiB"));
  CHECK_FALSE(exists(s.out));
  // The estimate itself grows with the size and the history.
  StylizeSettings st;
  const MemoryEstimate small = estimate_stylize_memory(96, 128, 96, 128, st);
  const MemoryEstimate big = estimate_stylize_memory(384, 512, 384, 512, st);
  CHECK(big.total() > small.total());
  CHECK(big.lbfgs == int64_t((2 * 100 * 2 + 10 * 4) * 3 * 384 * 512));  // half-precision pairs
  st.lbfgs_precision = HistoryPrecision::Float;
  CHECK(estimate_stylize_memory(384, 512, 384, 512, st).lbfgs == int64_t((2 * 100 + 10) * 3 * 384 * 512 * 4));
  st.lbfgs_history = 5;
  CHECK(estimate_stylize_memory(384, 512, 384, 512, st).total() < big.total());
  CHECK(format_bytes(1) == "1 B");
  CHECK(format_bytes(3ll << 29) == "1.5 GiB");
  CHECK_THROWS_AS(estimate_stylize_memory(0, 10, 10, 10, st), std::invalid_argument);
}

TEST_CASE("nst binary: a real allocation failure (RLIMIT_AS) mid-run is a clean 'out of memory', exit 71") {
  if (kAsan) {
    MESSAGE("skipped under AddressSanitizer: its shadow memory cannot run under an address-space limit");
    return;
  }
  if (!have_shared({kRealWeights})) return;
  TempDir dir;
  const std::string content = dir.path("c.png"), out = dir.path("out.png");
  write_png(content, 1024, 768);
  // ~600 MiB of address space: enough for the process and the weights, far from enough for the
  // activations of a 1024-pixel run. The estimate check is turned off to reach the allocation.
  const Verdict v = [&] {
    std::vector<std::string> argv{NST_BINARY, "--content", content, "--style", content, "--output", out, "--size",
                                  "1024", "--weights", kRealWeights, "--max-memory", "0", "--threads", "1"};
    Verdict r{run_child(argv, 120,
                        [] {
                          rlimit lim{600ull << 20, 600ull << 20};
                          setrlimit(RLIMIT_AS, &lim);
                        }),
              false};
    r.one_line = r.exit.err.find("nst: out of memory") != std::string::npos;
    return r;
  }();
  INFO(v.exit.err);
  CHECK(v.exit.exited);
  CHECK(v.exit.code == kExitOsErr);
  CHECK(v.one_line);
  CHECK_FALSE(exists(out));
}

TEST_CASE("memory estimate vs the measured peak RSS of a real 128-pixel run") {
  if (kAsan) {
    MESSAGE("skipped under AddressSanitizer: its shadow memory and quarantine inflate the RSS");
    return;
  }
  const std::string content = kShared + "/images/tubingen.jpg", style = kShared + "/images/starry_night.jpg";
  if (!have_shared({kRealWeights, content, style})) return;
  TempDir dir;
  const Exit e = run_child({NST_BINARY, "--content", content, "--style", style, "--output", dir.path("o.png"), "--size",
                            "128", "--iterations", "3", "--lbfgs-history", "1", "--threads", "2", "--weights",
                            kRealWeights},
                           300);
  INFO(e.err);
  REQUIRE(e.code == 0);
  const Image c = resize_longest_side(load_image(content), 128), s = resize_longest_side(load_image(style), 128);
  StylizeSettings st;
  st.lbfgs_history = 1;
  const double estimate = static_cast<double>(estimate_stylize_memory(c.height, c.width, s.height, s.width, st).total());
  const double measured = static_cast<double>(e.max_rss_kb) * 1024;
  MESSAGE("128 px: estimate " << format_bytes(int64_t(estimate)) << ", measured peak RSS "
                              << format_bytes(int64_t(measured)) << " (ratio " << estimate / measured << ")");
  CHECK(contains(e.err, "estimated peak memory " + format_bytes(int64_t(estimate))));
  CHECK(estimate >= 0.9 * measured);
  CHECK(estimate <= 1.5 * measured);
}
