// Rules for the library (everything under src/ and include/ except the command's main.cpp),
// checked on the source text: it never ends the process on bad input (no exit, abort,
// terminate or assert), reads no environment and installs no signal handlers; errors are thrown
// to the caller. (Process-wide settings belong to front ends: src/cli/main.cpp holds the signal
// flag and handlers, and opts in to the heap policy of nst/heap.h and the thread count; this test
// checks only the calls named above.)
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

TEST_CASE("no exit/abort/terminate/assert/getenv in the library sources") {
  const std::regex banned(R"((^|[^_\w.])(exit|_Exit|quick_exit|abort|terminate|assert|getenv|signal|sigaction)\s*\()");
  // Negative controls: the pattern does catch what it must, and not names that merely contain it.
  CHECK(std::regex_search(std::string("  if (bad) std::exit(1);"), banned));
  CHECK(std::regex_search(std::string("abort();"), banned));
  CHECK(std::regex_search(std::string("  assert (x);"), banned));
  CHECK_FALSE(std::regex_search(std::string("  static_assert(sizeof(int) == 4);"), banned));
  CHECK_FALSE(std::regex_search(std::string("  on_exit_code(3);"), banned));
  int files = 0;
  for (const char* top : {"src", "include"}) {
    for (const auto& e : fs::recursive_directory_iterator(fs::path(NST_SOURCE_DIR) / top)) {
      const std::string p = e.path().string();
      if (!e.is_regular_file() || p.find("/src/cli/main.cpp") != std::string::npos) continue;
      if (e.path().extension() != ".cpp" && e.path().extension() != ".h") continue;
      ++files;
      std::ifstream in(p);
      std::string line;
      int n = 0;
      while (std::getline(in, line)) {
        ++n;
        const std::string code = line.substr(0, line.find("//"));
        INFO(p << ":" << n << ": " << line);
        CHECK_FALSE(std::regex_search(code, banned));
      }
    }
  }
  CHECK(files > 20);
}
