// The options that control a long run: --time-limit; the L-BFGS history fitted to --max-memory.
#include <doctest/doctest.h>

#include "cli/options.h"
#include "nst/style/memory_estimate.h"

#include <string>
#include <vector>

using namespace nst::cli;

namespace {

Options parse(const std::vector<std::string>& extra) {
  std::vector<std::string> args{"nst", "--content", "c.png", "--style", "s.png", "--output", "o.png"};
  args.insert(args.end(), extra.begin(), extra.end());
  Options opt;
  std::string text;
  parse_options(args, nullptr, opt, text);
  return opt;
}

}  // namespace

TEST_CASE("--time-limit takes seconds, minutes or hours; none by default") {
  CHECK(parse({}).time_limit < 0);
  CHECK(parse({"--time-limit", "30m"}).time_limit == 1800);
  CHECK(parse({"--time-limit", "45s"}).time_limit == 45);
  CHECK(parse({"--time-limit", "2h"}).time_limit == 7200);
  CHECK(parse({"--time-limit", "1.5H"}).time_limit == 5400);
  CHECK(parse({"--time-limit", "0s"}).time_limit == 0);
  for (const char* bad : {"", "30", "m", ".s", "-1s", "1d", "1.2.3m", "1e3s", "inf h", "100000000h"})
    CHECK_THROWS_WITH_AS(parse({"--time-limit", bad}), doctest::Contains("--time-limit"), UsageError);
}

TEST_CASE("fit_lbfgs_history: the largest history whose estimate fits the budget") {
  nst::StylizeSettings s;  // 100 pairs
  const auto total = [&](int m) {
    nst::StylizeSettings t = s;
    t.lbfgs_history = m;
    return nst::estimate_stylize_memory(768, 1024, 512, 512, t).total();
  };
  CHECK(nst::fit_lbfgs_history(768, 1024, 512, 512, s, total(100)) == 100);
  CHECK(nst::fit_lbfgs_history(768, 1024, 512, 512, s, total(100) * 2) == 100);  // never more than asked
  CHECK(nst::fit_lbfgs_history(768, 1024, 512, 512, s, total(37)) == 37);
  CHECK(nst::fit_lbfgs_history(768, 1024, 512, 512, s, total(38) - 1) == 37);
  CHECK(nst::fit_lbfgs_history(768, 1024, 512, 512, s, total(1)) == 1);
  CHECK(nst::fit_lbfgs_history(768, 1024, 512, 512, s, total(1) - 1) == 0);
  CHECK(parse({}).lbfgs_history_given == false);
  CHECK(parse({"--lbfgs-history", "100"}).lbfgs_history_given == true);
}
