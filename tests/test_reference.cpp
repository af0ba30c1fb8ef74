// nst --reference against PyTorch: the loss trajectory of torch.optim.LBFGS (no line search) on
// nst's loss with direct convolutions, generated once by tests/data/reference/make_trajectory.py
// (trajectory.csv, float32 and float64 columns), from content.png at 128 px (synthetic images
// stored at that size, so that both sides read identical pixels). Rows 1-8 must agree within
// 1e-3 relative to PyTorch float32 (which itself stays within 2e-4 of float64 there).
#include "support/shared_data.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace nst::testing;

namespace {

const std::string kData = std::string(NST_SOURCE_DIR) + "/tests/data/reference/";

// Column `col` (0-based) of every data row of a CSV file with a header line.
std::vector<double> column(const std::string& path, size_t col) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), path << " cannot be read");
  std::string line;
  std::getline(in, line);  // header
  std::vector<double> out;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string cell;
    for (size_t i = 0; i <= col; ++i) std::getline(ss, cell, ',');
    out.push_back(std::stod(cell));
  }
  return out;
}

}  // namespace

TEST_CASE("nst --reference follows torch.optim.LBFGS's loss trajectory, rows 1-8 within 1e-3") {
  if (access(kWeights.c_str(), R_OK) != 0) {
    MESSAGE("skipped: " << kWeights << " is absent (real weights live in ../shared)");
    return;
  }
  TempDir dir;
  const int rows = 8;
  const Exit e = run_child({NST_BINARY, "--content", kData + "content.png", "--style", kData + "style.png",
                            "--size", "128", "--init", "content", "--iterations", std::to_string(rows),
                            "--reference", "--weights", kWeights, "--output", dir / "out.png", "--loss-log",
                            dir / "loss.csv"},
                           600);
  INFO(e.err);
  REQUIRE(e.exited);
  REQUIRE(e.code == 0);
  const std::vector<double> nst = column(dir / "loss.csv", 1);
  const std::vector<double> f32 = column(kData + "trajectory.csv", 1);
  const std::vector<double> f64 = column(kData + "trajectory.csv", 2);
  REQUIRE(nst.size() >= static_cast<size_t>(rows));
  REQUIRE(f32.size() >= static_cast<size_t>(rows));
  for (int i = 0; i < rows; ++i) {
    const double err = std::abs(nst[i] - f32[i]) / f32[i];
    MESSAGE("row " << i + 1 << ": nst " << nst[i] << ", PyTorch f32 " << f32[i] << " (f64 " << f64[i]
                   << "): relative difference " << err);
    CHECK(err <= 1e-3);
  }
}
