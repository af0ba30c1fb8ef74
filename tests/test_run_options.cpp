// The options that control a long run: --time-limit; the L-BFGS history fitted to --max-memory.
#include <doctest/doctest.h>

#include "cli/options.h"
#include "nst/style/memory_estimate.h"
#include "nst/style/memory_plan.h"

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

TEST_CASE("tiled estimate, choose_tile and plan_memory: tiles first, then fewer pairs; given values win") {
  nst::StylizeSettings s;  // relu5_1 deepest: tiles are multiples of 64
  const int64_t h = 3072, w = 4096, sh = 3072, sw = 4096;
  const auto total = [&](int64_t tile, int m) {
    nst::StylizeSettings t = s;
    t.tile = tile;
    t.lbfgs_history = m;
    return nst::estimate_stylize_memory(h, w, sh, sw, t).total();
  };
  // The tiled estimate grows with the tile and stays below the untiled one at this size.
  CHECK(total(512, 100) < total(1024, 100));
  CHECK(total(1024, 100) < total(0, 100));
  CHECK(total(1024, 5) < total(1024, 100));
  CHECK(nst::choose_tile(h, w, sh, sw, s, total(1024, 100)) == 1024);
  CHECK(nst::choose_tile(h, w, sh, sw, s, total(1024, 100) + 1) == 1024);
  CHECK(nst::choose_tile(h, w, sh, sw, s, total(1024, 100) - 1) == 960);  // the next alignment step
  CHECK(nst::choose_tile(h, w, sh, sw, s, total(64, 100) - 1) == 0);
  // The plan: untiled when it fits; else the largest tile with the whole history; else fewer pairs.
  nst::StylizeSettings p = s;
  CHECK(nst::plan_memory(h, w, sh, sw, p, total(0, 100), false, false).fits);
  CHECK(p.tile == 0);
  p = s;
  nst::MemoryPlan plan = nst::plan_memory(h, w, sh, sw, p, total(1024, 100), false, false, kPlanNames);
  CHECK(plan.fits);
  CHECK(p.tile == 1024);
  CHECK(p.lbfgs_history == 100);
  REQUIRE(plan.notes.size() == 1);
  CHECK(plan.notes[0].find("evaluating it in tiles of 1024 px (--tile N sets it)") != std::string::npos);
  p = s;
  plan = nst::plan_memory(h, w, sh, sw, p, total(1024, 5), false, false);
  CHECK(plan.fits);
  CHECK(p.tile == 1024);  // the largest tile that fits with kMinAutoPairs ...
  CHECK(p.lbfgs_history == 5);  // ... and then as many pairs as fit with it
  REQUIRE(plan.notes.size() == 2);
  CHECK(plan.notes[1].find("keeping 5 pairs (lbfgs_history sets it)") != std::string::npos);  // the default names
  p = s;  // --lbfgs-history given: only the tile may change
  CHECK_FALSE(nst::plan_memory(h, w, sh, sw, p, total(1024, 5), false, true).fits);
  p = s;  // --tile given: only the history may change
  p.tile = 512;
  CHECK(nst::plan_memory(h, w, sh, sw, p, total(1024, 5), true, false).fits);
  CHECK(p.tile == 512);
  CHECK(p.lbfgs_history > 5);
  p = s;  // tiling refused by the settings (normalized gradients): the history only
  p.loss.normalize_gradients = true;
  CHECK_FALSE(nst::plan_memory(h, w, sh, sw, p, total(1024, 5), false, false).fits);
  CHECK(p.tile == 0);
  CHECK(parse({}).tile_given == false);
  CHECK(parse({"--tile", "512"}).tile_given == true);
  CHECK(parse({"--tile", "512"}).settings.tile == 512);
  CHECK_THROWS_WITH_AS(parse({"--tile", "-1"}), doctest::Contains("--tile"), UsageError);
}
