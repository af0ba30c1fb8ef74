// Controlling a long run of the nst command (needs the real weights and images in ../shared;
// skips with a message where they are absent): the loss log as it goes.
#include <doctest/doctest.h>

#include "cli/options.h"
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
