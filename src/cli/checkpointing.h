// --checkpoint and --resume for the nst command: reading the checkpoint to resume, refusing one
// made by a different run (naming what differs), and saving the run's state into
// StylizeCallbacks' hooks every --checkpoint-every iterations, at the end and when interrupted.
// The file format is nst/style/checkpoint.h.
#pragma once

#include "cli/options.h"
#include "nst/style/checkpoint.h"

#include <map>
#include <memory>
#include <string>

namespace nst::cli {

class RunCheckpoints {
 public:
  // Reads --resume's checkpoint, if any (CheckpointError), refuses (UsageError) one made with
  // the other optimizer, and takes an L-BFGS checkpoint's history size unless --lbfgs-history
  // was given. `log_header`: the loss log's first line.
  RunCheckpoints(const Options& opt, StylizeSettings& settings, const std::string& log_header);

  bool resuming() const { return resumed_ != nullptr; }
  // Counted over all scales, as the progress lines and the loss log count.
  int resumed_iteration() const {
    return resumed_ ? resumed_->state.iterations_before + resumed_->state.iteration() : 0;
  }

  // Before the run: refuses (UsageError) a checkpoint of another run or one already past
  // --iterations, and installs the resume state and the saving hooks in `callbacks`.
  void start(const StylizeSettings& settings, const Image& content, const std::vector<Image>& styles,
             const Vgg<float>& net, StylizeCallbacks& callbacks);

  // The loss log so far, header first (a resumed run starts with the saved rows); the front end
  // appends each row. Saved into every checkpoint.
  std::string& log_text() { return log_text_; }

 private:
  const Options& opt_;
  std::unique_ptr<CheckpointFile> resumed_;
  std::map<std::string, std::string> identity_;
  std::string log_text_;
};

}  // namespace nst::cli
