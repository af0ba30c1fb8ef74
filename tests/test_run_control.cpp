// Controlling a long run of the nst command (needs the real weights and images in ../shared;
// skips with a message where they are absent): the loss log as it goes, --time-limit, the
// L-BFGS history fitted to --max-memory.
#include <doctest/doctest.h>

#include "cli/options.h"
#include "nst/io/image.h"
#include "nst/style/memory_estimate.h"
#include "support/safetensors_writer.h"
#include "support/shared_data.h"
#include "support/subprocess.h"

#include <signal.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

using namespace nst;
using namespace nst::testing;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A run at 32 px (32x24) printing every iteration.
std::vector<std::string> run_args(const std::string& out, int iterations) {
  return {NST_BINARY, "--content", kContent, "--style", kStyle, "--output", out, "--size", "32",
          "--iterations", std::to_string(iterations), "--print-every", "1", "--weights", kWeights};
}

// Checks `text` is a valid loss log (header, then complete rows numbered 1, 2, ...); returns the
// number of rows.
int check_log(const std::string& text) {
  const std::string header = "iteration,total,content,style,tv,seconds\n";
  REQUIRE(text.compare(0, header.size(), header) == 0);
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  std::istringstream in(text.substr(header.size()));
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    ++rows;
    CHECK(line.rfind(std::to_string(rows) + ",", 0) == 0);
    CHECK(std::count(line.begin(), line.end(), ',') == 5);
  }
  return rows;
}

// "L-BFGS made N iterations" from stderr; -1 if absent.
int iterations_made(const std::string& err) {
  const std::string key = "L-BFGS made ";
  const size_t at = err.find(key);
  return at == std::string::npos ? -1 : std::stoi(err.substr(at + key.size()));
}

}  // namespace

TEST_CASE("the loss log is valid while the run goes and holds every row computed") {
  if (!have_real_data()) return;
  TempDir dir;
  const std::string log = dir.path("loss.csv");
  std::vector<std::string> args = run_args(dir.path("out.png"), 100000);
  args.insert(args.end(), {"--loss-log", log});
  Child c(args);
  REQUIRE(c.wait_for("iteration 3/", 300));
  // The row of an iteration is in the file before its progress line is printed.
  CHECK(check_log(read_all(log)) >= 3);
  c.send(SIGINT);
  const Exit e = c.finish(120);
  INFO(e.err);
  CHECK(e.code == cli::kExitSigInt);
  const int made = iterations_made(e.err);
  CHECK(made >= 3);
  CHECK(check_log(read_all(log)) == made);
}

TEST_CASE("--time-limit: a budget already spent stops after the first iteration, writes the image, exits 0") {
  if (!have_real_data()) return;
  TempDir dir;
  const std::string out = dir.path("out.png"), log = dir.path("loss.csv");
  std::vector<std::string> args = run_args(out, 20);
  args.insert(args.end(), {"--loss-log", log, "--time-limit", "0s"});
  const Exit e = run_child(args, 300);
  INFO(e.err);
  CHECK(e.code == cli::kExitOk);
  CHECK(e.err.find("--time-limit 0s reached: stopped after 1 of 20 iterations") != std::string::npos);
  CHECK(iterations_made(e.err) == 1);
  CHECK(check_log(read_all(log)) == 1);
  CHECK(read_all(out).size() > 0);
}

TEST_CASE("--time-limit: a budget not reached changes nothing") {
  if (!have_real_data()) return;
  TempDir dir;
  std::vector<std::string> args = run_args(dir.path("out.png"), 3);
  args.insert(args.end(), {"--loss-log", dir.path("loss.csv"), "--time-limit", "2h"});
  const Exit e = run_child(args, 300);
  INFO(e.err);
  CHECK(e.code == cli::kExitOk);
  CHECK(e.err.find("reached") == std::string::npos);
  CHECK(iterations_made(e.err) == 3);
  CHECK(check_log(read_all(dir.path("loss.csv"))) == 3);
}

TEST_CASE("--max-memory: a history that does not fit is shortened and said so; an explicit one is refused") {
  if (!have_real_data()) return;
  TempDir dir;
  const Image c = resize_longest_side(load_image(kContent), 32), s = resize_longest_side(load_image(kStyle), 32);
  StylizeSettings st;
  st.lbfgs_history = 7;
  const int64_t budget = estimate_stylize_memory(c.height, c.width, s.height, s.width, st).total();
  std::vector<std::string> args = run_args(dir.path("out.png"), 2);
  args.insert(args.end(), {"--max-memory", std::to_string(budget)});
  const Exit e = run_child(args, 300);
  INFO(e.err);
  CHECK(e.code == cli::kExitOk);
  CHECK(e.err.find("the L-BFGS history of 100 pairs does not fit in " + format_bytes(budget) + ": keeping 7 pairs") !=
        std::string::npos);
  CHECK(e.err.find("L-BFGS history 7, estimated peak memory " + format_bytes(budget)) != std::string::npos);

  args = run_args(dir.path("out2.png"), 2);
  args.insert(args.end(), {"--max-memory", std::to_string(budget), "--lbfgs-history", "100"});
  const Exit refused = run_child(args, 300);
  INFO(refused.err);
  CHECK(refused.code == cli::kExitOsErr);
  CHECK(refused.err.find("lower --size or --lbfgs-history") != std::string::npos);
}
