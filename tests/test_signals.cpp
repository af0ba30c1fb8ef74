// Interrupting the nst command (needs the real weights and images in ../shared; skips with a
// message where they are absent):
//   SIGINT / SIGTERM while iterating: the evaluation in progress is abandoned, the best image so far is
//   written (a valid image of the right size), stderr says where, exit 130 / 143;
//   a second signal exits at once and leaves the destination untouched (or, if the first signal's
//   image was already in place, that complete image);
//   kill -9 at random moments around the final write leaves the old file or a complete new one.
#include <doctest/doctest.h>

#include "support/shared_data.h"
#include "cli/options.h"
#include "nst/io/image.h"
#include "support/safetensors_writer.h"
#include "support/subprocess.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace nst;
using namespace nst::testing;
using nst::testing::Child;
using nst::testing::Exit;
using nst::testing::TempDir;

namespace {


std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A long run at 64 px (64x48 output) that prints every iteration.
std::vector<std::string> long_run(const std::string& out, bool overwrite) {
  std::vector<std::string> argv{NST_BINARY, "--content", kContent, "--style",        kStyle,     "--output", out,
                                "--size",   "64",     "--iterations", "100000", "--print-every", "1",
                                "--weights", kWeights};
  if (overwrite) argv.push_back("--overwrite");
  return argv;
}

// Waits (bounded) until the run has started iterating.
void wait_iterating(Child& c) {
  INFO(c.err());
  REQUIRE(c.wait_for("iteration 1/", 300));
}

void check_interrupted(int sig, int expected_code) {
  TempDir dir;
  const std::string out = dir.path("out.png");
  Child c(long_run(out, false));
  wait_iterating(c);
  c.send(sig);
  const Exit e = c.finish(120);
  INFO(e.err);
  CHECK_FALSE(e.timed_out);
  CHECK(e.exited);
  CHECK(e.code == expected_code);
  CHECK(e.err.find("interrupted after") != std::string::npos);
  CHECK(e.err.find("wrote the best image so far to " + out) != std::string::npos);
  const Image img = load_image(out);
  CHECK(img.width == 64);
  CHECK(img.height == 48);
  // Only the output (no temporary file) is left in the directory.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.str())) {
    (void)entry;
    ++files;
  }
  CHECK(files == 1);
}

}  // namespace

TEST_CASE("SIGINT while iterating: exit 130, the best image so far written, stderr says where") {
  if (!have_real_data()) return;
  check_interrupted(SIGINT, cli::kExitSigInt);
}

TEST_CASE("SIGTERM while iterating: exit 143, the best image so far written") {
  if (!have_real_data()) return;
  check_interrupted(SIGTERM, cli::kExitSigTerm);
}

TEST_CASE("a second signal exits at once: the destination is the old file or a complete image") {
  if (!have_real_data()) return;
  TempDir dir;
  const std::string out = dir.path("out.png");
  nst::testing::write_file(out, "the old output");
  Child c(long_run(out, true));
  wait_iterating(c);
  c.send(SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double second = c.elapsed();
  c.send(SIGTERM);
  const Exit e = c.finish(60);
  INFO(e.err);
  CHECK(e.exited);
  // Either the second signal cut the run short (its code), or the first had already finished the
  // evaluation and written the image in those 20 ms (then the file is a valid new image). A second
  // signal that lands after the image was moved into place (during the directory's sync or the
  // report that follow it) exits with its code too, the complete image in place: the destination
  // is then the old file or a whole image, never a partial one (load_image throws on that).
  if (e.code == 128 + SIGTERM) {
    CHECK(e.seconds - second < 1.0);
    if (read_all(out) != "the old output") {
      CHECK(load_image(out).width == 64);
      MESSAGE("the second signal arrived after the first signal's image was in place");
    }
  } else {
    CHECK(e.code == cli::kExitSigInt);
    CHECK(load_image(out).width == 64);
    MESSAGE("the first signal's write finished before the second signal arrived");
  }
}

TEST_CASE("kill -9 at random moments around the final write: the old file or a complete new image") {
  if (!have_real_data()) return;
  TempDir dir;
  const std::string out = dir.path("out.png");
  Image old;
  old.width = 20;
  old.height = 10;
  old.rgb.assign(20 * 10 * 3, 128.0f);
  save_image(old, out);
  const std::string old_bytes = read_all(out);

  // How long SIGINT -> exit takes (the rest of an evaluation plus the write): the kill delays
  // are spread over that window.
  double window = 1.0;
  {
    Child c(long_run(out + ".probe.png", false));
    wait_iterating(c);
    const double t0 = c.elapsed();
    c.send(SIGINT);
    const Exit e = c.finish(120);
    REQUIRE(e.code == cli::kExitSigInt);
    window = e.seconds - t0;
  }
  std::remove((out + ".probe.png").c_str());

  std::mt19937 rng(12345);
  std::uniform_real_distribution<double> frac(0.0, 1.2);
  int kept_old = 0, got_new = 0, stray_temps = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  int trials = 0;
  for (; trials < 12 && std::chrono::steady_clock::now() < deadline; ++trials) {
    Child c(long_run(out, true));
    wait_iterating(c);
    c.send(SIGINT);
    std::this_thread::sleep_for(std::chrono::duration<double>(frac(rng) * window));
    c.send(SIGKILL);
    c.finish(60);
    const std::string now = read_all(out);
    if (now == old_bytes) {
      ++kept_old;
    } else {
      const Image img = load_image(out);  // throws (fails the test) on a partial file
      CHECK(img.width == 64);
      CHECK(img.height == 48);
      ++got_new;
      save_image(old, out, {95, true});  // back to the old file for the next trial
    }
    for (const auto& entry : std::filesystem::directory_iterator(dir.str()))
      if (entry.path().filename().string().rfind(".out.png.tmp", 0) == 0) {
        ++stray_temps;
        std::filesystem::remove(entry.path());
      }
  }
  MESSAGE(trials << " runs killed with SIGKILL within " << window << " s after SIGINT: " << kept_old
                 << " left the old file, " << got_new << " a complete new image, " << stray_temps
                 << " left a temporary file behind");
  CHECK(kept_old + got_new == trials);
  CHECK(trials >= 3);
}
