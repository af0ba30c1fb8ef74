#include "cli/checkpointing.h"

#include <cstdlib>

namespace nst::cli {

RunCheckpoints::RunCheckpoints(const Options& opt, StylizeSettings& settings, const std::string& log_header)
    : opt_(opt), log_text_(log_header) {
  if (opt.resume.empty()) return;
  resumed_ = std::make_unique<CheckpointFile>(load_checkpoint(opt.resume));
  const Optimizer saved = resumed_->state.kind;
  if (saved != settings.optimizer)
    throw UsageError(opt.resume + ": the checkpoint was made with --optimizer " + to_string(saved) +
                     ", this run uses --optimizer " + to_string(settings.optimizer) + "; resume it with --optimizer " +
                     to_string(saved));
  if (saved == Optimizer::Lbfgs && !opt.lbfgs_history_given) settings.lbfgs_history = resumed_->state.optimizer.history;
  if (!opt.tile_given) {  // the split decides the bits: the checkpoint's (absent: untiled)
    const auto it = resumed_->identity.find("tile");
    char* end = nullptr;
    const long long tile = it == resumed_->identity.end() ? 0 : std::strtoll(it->second.c_str(), &end, 10);
    if (end && (*end != '\0' || end == it->second.c_str() || tile < 1))
      throw UsageError(opt.resume + ": the checkpoint's tile \"" + it->second + "\" is not a tile size");
    settings.tile = tile;
  }
  log_text_ = resumed_->loss_log;
}

void RunCheckpoints::start(const StylizeSettings& settings, const Image& content, const std::vector<Image>& styles,
                           const Vgg<float>& net, StylizeCallbacks& callbacks) {
  if (!resumed_ && opt_.checkpoint.empty()) return;
  identity_ = describe_run(settings, content, styles, net);
  if (resumed_) {
    const std::string diff = identity_difference(identity_, resumed_->identity);
    if (!diff.empty())
      throw UsageError(opt_.resume + ": the checkpoint is of a different run (" + diff +
                       "); resume with the same settings and inputs");
    const int at = resumed_->state.iteration();
    const int scales = static_cast<int>(scale_sizes(settings.start_size, opt_.size).size());
    if (resumed_->state.scale == scales - 1 && at > settings.iterations)
      throw UsageError(opt_.resume + ": the checkpoint is at iteration " + std::to_string(at) + "; pass --iterations " +
                       std::to_string(at) + " or more to continue it");
    callbacks.checkpointing.resume = &resumed_->state;
  }
  if (opt_.checkpoint.empty()) return;
  const int every = opt_.checkpoint_every;
  callbacks.checkpointing.due = [every](int iteration) { return iteration % every == 0; };
  callbacks.checkpointing.save = [this](const StylizeCheckpoint& state) {
    // check_paths allowed the first write; later ones replace our own file.
    save_checkpoint(opt_.checkpoint, state, identity_, log_text_, true);
  };
}

}  // namespace nst::cli
