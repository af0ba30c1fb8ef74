// The checkpoint file of a stylize() run: its whole state (style/stylize_state.h), what the run
// was (settings and input hashes, to refuse resuming anything else) and the front end's loss
// log so far. Format: safetensors (io/safetensors.h), read back with the weights loader's checks:
//
//   L-BFGS (version 2; version 1 files, of one scale, are still read):
//   tensors   x, g, x_best            F32 [n]   the point, its gradient, the best point
//             s.J, y.J (J = 0..P-1)   F32 [n], or F16 [n] (binary16 bits) with a history in
//                                     half precision: the L-BFGS pairs, oldest first
//   Adam (version 3):
//   tensors   x, m, v, x_best         F32 [n]   the point, the moments, the best point
//   metadata  format = nst-checkpoint, version, optimizer = lbfgs | adam (absent in version 1
//             and 2 files written before Adam's); every counter and scalar of the state (doubles
//             as C99 hex floats, exact); the multi-scale position; id.<key> = the run's identity;
//             loss_log; checksum = a 64-bit hash of all other metadata and all tensor data
//
// Written atomically (io/atomic_file.h) and streamed: no second copy of the history in memory.
#pragma once

#include "nst/style/stylize.h"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

namespace nst {

// A checkpoint that cannot be read or is not one; what() is one line "<path>: <problem>".
struct CheckpointError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CheckpointFile {
  StylizeCheckpoint state;
  std::map<std::string, std::string> identity;  // key -> value: what must match to resume
  std::string loss_log;                         // the front end's log text up to this state
};

// Throws OutputError (io/atomic_file.h) when the file cannot be written.
void save_checkpoint(const std::string& path, const StylizeCheckpoint& state,
                     const std::map<std::string, std::string>& identity, const std::string& loss_log,
                     bool overwrite);
// Throws CheckpointError for anything but a well-formed checkpoint of a version this nst reads.
CheckpointFile load_checkpoint(const std::string& path);

// What a stylize() run is, as key -> text: every setting that affects its result except
// `iterations` (a finished run may be continued further), and a hash of each input (content,
// styles, init image, network weights). Two runs with equal descriptions compute the same bits.
std::map<std::string, std::string> describe_run(const StylizeSettings& settings, const Image& content,
                                                const std::vector<Image>& styles, const Vgg<float>& net);

// The first key (in order) whose value differs or that only one side has, with both values:
// "content_weight: 5 here, 10 in the checkpoint". Empty when they are equal.
std::string identity_difference(const std::map<std::string, std::string>& here,
                                const std::map<std::string, std::string>& saved);

}  // namespace nst
