// How a run is fitted into a memory budget: as it is; else evaluated in tiles (style/
// tiled_loss.h), the largest tile whose estimate fits with the whole L-BFGS history; else with
// fewer L-BFGS pairs too. A rule of the engine, shared by its front ends: `nst` and `nst batch`
// (--max-memory, or the available memory) and the C API (nst_settings.max_memory). It prints
// nothing: what it changed comes back as notes for the front end to show.
#pragma once

#include "nst/style/memory_estimate.h"
#include "nst/style/settings.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nst {

struct MemoryPlan {
  MemoryEstimate need;             // of the settings as planned
  bool fits = true;                // need.total() <= budget (or no budget)
  std::vector<std::string> notes;  // what was changed to fit, one line each
};

// Fewest L-BFGS pairs the automatic choice keeps when it has to choose between pairs and
// tile size: fewer pairs cost convergence, smaller tiles cost time (halos).
// (5: at 4096 px under 6 GiB every pair costs 190 MiB, which the tile would otherwise get.)
constexpr int kMinAutoPairs = 5;

// How the notes name the settings that override the plan ("... (--tile N sets it)"): each front
// end its own, e.g. the command's options "--tile N" and "--lbfgs-history N".
struct MemoryPlanNames {
  std::string tile = "tile";
  std::string lbfgs_history = "lbfgs_history";
};

// Plans `settings` (its tile and lbfgs_history may change) for a content of h x w and a
// largest style of sh x sw within `budget` bytes (<= 0: no limit). tile_fixed: the caller chose
// the tile (--tile, a checkpoint's tile, nst_settings.tile > 0): it is not changed.
// history_fixed: likewise for the L-BFGS history. Tiling is tried only where the settings allow
// it (validate(): no masks or normalized gradients).
MemoryPlan plan_memory(int64_t h, int64_t w, int64_t sh, int64_t sw, StylizeSettings& settings, int64_t budget,
                       bool tile_fixed, bool history_fixed, const MemoryPlanNames& names = {});

// The start-up line of a tiled run: "tiled: 3x3 tiles of 1024 px, halo 128/112 px, about 1.9x
// the work of an untiled evaluation (...)"; "" when settings.tile is 0.
std::string describe_tiling(int64_t h, int64_t w, const StylizeSettings& settings, const Network& network);

}  // namespace nst
