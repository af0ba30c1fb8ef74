// The --loss-log file as the run goes (cli/loss_log.h): the header from the start, whole rows
// only, an existing file kept without --overwrite, and a failed append (file size limit) cut
// back to the last complete row.
#include <doctest/doctest.h>

#include "cli/loss_log.h"
#include "nst/io/atomic_file.h"
#include "support/safetensors_writer.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

using namespace nst;
using namespace nst::cli;
using nst::testing::TempDir;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

StylizeProgress progress(int iteration, double total) {
  StylizeProgress p;
  p.iteration = iteration;
  p.terms.total = total;
  p.terms.content = total / 2;
  p.terms.style = total / 4;
  p.terms.tv = total / 4;
  p.seconds = 0.25 * iteration;
  return p;
}

}  // namespace

TEST_CASE("rows: the header's six columns, one complete line each") {
  CHECK(loss_log_header() == "iteration,total,content,style,tv,seconds\n");
  CHECK(loss_log_row(progress(3, 8)) == "3,8,4,2,2,0.750\n");
  LossTerms saved;
  saved.total = 9, saved.content = 4, saved.style = 3, saved.tv = 2;
  CHECK(loss_log_saved_row(saved, 1.5) == "saved,9,4,3,2,1.500\n");  // the image as written, last
}

TEST_CASE("the file holds the header from the start and every row as soon as it is appended") {
  TempDir dir;
  const std::string path = dir.path("loss.csv");
  LossLog log(path, loss_log_header(), false);
  CHECK(read_all(path) == loss_log_header());
  std::string expected = loss_log_header();
  for (int i = 1; i <= 5; ++i) {
    log.append(loss_log_row(progress(i, 100.0 / i)));
    expected += loss_log_row(progress(i, 100.0 / i));
    CHECK(read_all(path) == expected);  // visible at once, without closing
  }
}

TEST_CASE("an existing file is kept without overwrite and replaced with it; initial rows are written") {
  TempDir dir;
  const std::string path = dir.path("loss.csv");
  nst::testing::write_file(path, "old");
  CHECK_THROWS_AS(LossLog(path, loss_log_header(), false), OutputError);
  CHECK(read_all(path) == "old");
  const std::string initial = loss_log_header() + loss_log_row(progress(1, 5));
  LossLog log(path, initial, true);
  CHECK(read_all(path) == initial);
  log.append(loss_log_row(progress(2, 4)));
  CHECK(read_all(path) == initial + loss_log_row(progress(2, 4)));
}

TEST_CASE("an append that does not fit (file size limit) leaves the file at its last complete row") {
  TempDir dir;
  const std::string path = dir.path("loss.csv");
  const std::string row1 = loss_log_row(progress(1, 5)), row2 = loss_log_row(progress(2, 4));
  const rlim_t limit = loss_log_header().size() + row1.size() + row2.size() / 2;
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the limit applies to this child only
    signal(SIGXFSZ, SIG_IGN);
    rlimit r{limit, limit};
    setrlimit(RLIMIT_FSIZE, &r);
    try {
      LossLog log(path, loss_log_header(), false);
      log.append(row1);
      try {
        log.append(row2);
      } catch (const OutputError&) {
        try {
          log.append(row2);  // closed after the failure: refused, file unchanged
        } catch (const OutputError&) {
          _exit(0);
        }
      }
      _exit(2);
    } catch (...) {
      _exit(3);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(read_all(path) == loss_log_header() + row1);
}
