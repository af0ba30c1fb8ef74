// ProgressReporter and format_duration: what a person sees on stderr during a run.
#include <doctest/doctest.h>

#include "cli/progress.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

using nst::StylizeProgress;
using nst::cli::format_duration;
using nst::cli::ProgressReporter;

namespace {

// Captures what a reporter writes, through a real FILE* (open_memstream).
struct Captured {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* f = open_memstream(&buf, &size);
  ~Captured() {
    if (f) std::fclose(f);
    std::free(buf);
  }
  std::string text() {
    std::fflush(f);
    return std::string(buf, size);
  }
};

StylizeProgress at(int iteration, int iterations, double seconds) {
  StylizeProgress p;
  p.iteration = iteration;
  p.iterations = iterations;
  p.seconds = seconds;
  p.terms.total = 1.5;
  p.terms.content = 0.25;
  p.terms.style = 1.25;
  p.terms.tv = 0.0;
  return p;
}

size_t count(const std::string& s, const std::string& part) {
  size_t n = 0;
  for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("format_duration: seconds, minutes, hours; rounding; nonsense is '?'") {
  CHECK(format_duration(0) == "0s");
  CHECK(format_duration(59.4) == "59s");
  CHECK(format_duration(59.6) == "1m00s");
  CHECK(format_duration(185) == "3m05s");
  CHECK(format_duration(3725) == "1h02m");
  CHECK(format_duration(-1) == "?");
  CHECK(format_duration(std::nan("")) == "?");
  CHECK(format_duration(INFINITY) == "?");
}

TEST_CASE("not on a terminal: a full line at the first, every N-th and the last iteration") {
  Captured out;
  REQUIRE(out.f != nullptr);
  ProgressReporter r(out.f, false, 10);
  for (int i = 1; i <= 25; ++i) r.update(at(i, 25, 0.5 * i));
  r.finish();
  const std::string text = out.text();
  CHECK(count(text, "\n") == 4);  // 1, 10, 20, 25
  CHECK(count(text, "\r") == 0);
  CHECK(text.find("iteration 1/25: ") == 0);
  CHECK(text.find("iteration 10/25: total 1.5000e+00 content 2.5000e-01 style 1.2500e+00 tv 0.0000e+00 "
                  "(0.50 s/it, ETA 8s)\n") != std::string::npos);
  CHECK(text.find("iteration 20/25: ") != std::string::npos);
  CHECK(text.find("iteration 25/25: ") != std::string::npos);
  CHECK(text.find("ETA 0s)\n") != std::string::npos);
  CHECK(text.find("iteration 11/25") == std::string::npos);
}

TEST_CASE("not on a terminal with print_every 0: silent") {
  Captured out;
  ProgressReporter r(out.f, false, 0);
  for (int i = 1; i <= 5; ++i) r.update(at(i, 5, i));
  r.finish();
  CHECK(out.text().empty());
}

TEST_CASE("on a terminal: one line rewritten in place, ended once by finish") {
  Captured out;
  ProgressReporter r(out.f, true, 10);
  r.finish();  // nothing showing yet: nothing to end
  CHECK(out.text().empty());
  for (int i = 1; i <= 3; ++i) r.update(at(i, 100, 2.0 * i));
  std::string text = out.text();
  CHECK(count(text, "\r\033[K") == 3);  // every update clears and redraws the line
  CHECK(count(text, "\n") == 0);
  CHECK(text.find("iteration 3/100  loss 1.5000e+00  2.00 s/it  ETA 3m14s") != std::string::npos);
  r.finish();
  r.finish();
  text = out.text();
  CHECK(count(text, "\n") == 1);
  CHECK(text.back() == '\n');
}

TEST_CASE("multi-scale runs name the scale and its size in front of every line") {
  Captured out;
  ProgressReporter r(out.f, false, 1);
  StylizeProgress p = at(1, 10, 1.0);
  p.scales = 3;
  p.scale = 2;
  p.width = 256;
  p.height = 192;
  r.update(p);
  CHECK(out.text().find("scale 2/3 (256 px) iteration 1/10: ") == 0);
}
