#include "nst/style/memory_plan.h"

#include "nst/style/tiled_loss.h"

#include <algorithm>
#include <cstdio>

namespace nst {

namespace {

bool tiling_allowed(const StylizeSettings& settings) {
  StylizeSettings s = settings;
  s.tile = 1;
  try {
    validate(s);
  } catch (const SettingsError& e) {
    return e.field() != "tile";  // another error is validate()'s to report later, tiled or not
  }
  return true;
}

}  // namespace

MemoryPlan plan_memory(int64_t h, int64_t w, int64_t sh, int64_t sw, StylizeSettings& s, int64_t budget,
                       bool tile_fixed, bool history_fixed, const MemoryPlanNames& names) {
  MemoryPlan plan;
  auto estimate = [&](const StylizeSettings& x) { return estimate_stylize_memory(h, w, sh, sw, x); };
  plan.need = estimate(s);
  if (budget <= 0 || plan.need.total() <= budget) return plan;
  const MemoryEstimate first = plan.need;
  const bool can_tile = !tile_fixed && tiling_allowed(s);
  const int full = s.lbfgs_history;
  // 1. Tiles, with the whole history.
  if (can_tile) {
    StylizeSettings t = s;
    t.tile = 0;
    if (const int64_t tile = choose_tile(h, w, sh, sw, t, budget)) s.tile = tile;
  }
  // 2. Fewer L-BFGS pairs: at least kMinAutoPairs if any tile (or none) allows them, then as
  //    many as fit with that tile.
  if (estimate(s).total() > budget && !history_fixed && s.optimizer == Optimizer::Lbfgs) {
    if (can_tile)
      for (int floor : {std::min(full, kMinAutoPairs), 1}) {
        StylizeSettings t = s;
        t.lbfgs_history = floor;
        t.tile = 0;
        if (estimate(t).total() <= budget) {
          s.tile = 0;
          break;
        }
        if (const int64_t tile = choose_tile(h, w, sh, sw, t, budget)) {
          s.tile = tile;
          break;
        }
      }
    const int m = fit_lbfgs_history(h, w, sh, sw, s, budget);
    if (m >= 1) {
      s.lbfgs_history = m;
      plan.notes.push_back("the L-BFGS history of " + std::to_string(full) + " pairs does not fit in " +
                           format_bytes(budget) + ": keeping " + std::to_string(m) + " pairs (" + names.lbfgs_history + " sets it)");
    }
  }
  if (s.tile > 0 && !tile_fixed)
    plan.notes.insert(plan.notes.begin(), "the run needs about " + format_bytes(first.total()) + " untiled, more than " +
                                              format_bytes(budget) + ": evaluating it in tiles of " +
                                              std::to_string(s.tile) + " px (" + names.tile + " sets it)");
  plan.need = estimate(s);
  plan.fits = plan.need.total() <= budget;
  return plan;
}

std::string describe_tiling(int64_t h, int64_t w, const StylizeSettings& s, const Network& network) {
  if (s.tile <= 0) return "";
  std::vector<std::string> layers = s.loss.content_layers;
  layers.insert(layers.end(), s.loss.style_layers.begin(), s.loss.style_layers.end());
  const TileGrid g = make_tile_grid(network, layers, h, w, s.tile);
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "tiled: %lldx%lld tiles of %lld px, halo %lld px before and %lld after each; about %.2fx the work of "
                "an untiled evaluation (modelled: the convolutions over the tiles with their halos, plus a second "
                "forward pass)",
                static_cast<long long>(g.rows), static_cast<long long>(g.cols), static_cast<long long>(g.tile),
                static_cast<long long>(g.halo), static_cast<long long>(g.halo_after),
                tiled_work_factor(network, layers, g));
  return buf;
}

}  // namespace nst
