// `nst batch` (or `nst --batch`): many content images, one set of styles and settings, the
// weights loaded once. For existing schedulers (GNU parallel, Slurm arrays, Kubernetes Indexed
// Jobs): --shard picks a deterministic slice of the sorted inputs, each item's seed comes from
// the seed and the input's name (results do not depend on the sharding), outputs are written
// atomically with a record of the settings (OUTPUT.nst.json) so --skip-existing can skip what
// is complete and redo what a changed setting made stale, and --events writes JSON Lines.
#pragma once

#include "cli/options.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace nst::cli {

// The inputs of a batch, sorted: the image files (.png .jpg .jpeg .bmp) directly inside a
// directory, or the paths listed one per line in a text file (blank lines and lines starting
// with # skipped; relative paths are relative to the list's directory). Throws InputError.
std::vector<std::string> list_batch_inputs(const std::string& dir_or_list);

// Items index, index + count, index + 2 count, ... of the sorted list (0 <= index < count).
std::vector<std::string> shard_slice(const std::vector<std::string>& sorted, int index, int count);

// The seed of one item: a mix of `seed` and the input's file name (not its directory).
uint64_t item_seed(uint64_t seed, const std::string& input);

// OUTPUT_DIR/<input's name without extension>.png
std::string batch_output_path(const std::string& output_dir, const std::string& input);

// The command line without the options that do not change the images (sharding, skipping,
// events, threads, progress, --overwrite, the input/output folders): part of the settings hash.
std::string settings_key(const std::vector<std::string>& args);

// Runs the batch; human lines go to stderr. `stop` says a signal asked us to stop (the item in
// progress is abandoned, nothing is written for it). `exit_code_of` maps the exception being
// handled to an exit code and a message. Returns 0, or the exit code of the first failure
// (after the rest with --keep-going), or `stopped_code()` when stopped.
int run_batch(const Options& opt, const std::function<bool()>& stop,
              const std::function<int(std::string& message)>& exit_code_of,
              const std::function<int()>& stopped_code);

}  // namespace nst::cli
