// nst: stylize an image from the command line. See README.md for the options.
#include "cli/checkpointing.h"
#include "cli/batch.h"
#include "cli/loss_log.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "nst/heap.h"
#include "nst/io/atomic_file.h"
#include "nst/io/image.h"
#include "nst/io/safetensors.h"
#include "nst/model/vgg19.h"
#include "nst/style/memory_estimate.h"
#include "nst/style/memory_plan.h"
#include "nst/style/stylize.h"
#include "nst/threads.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

namespace {

using namespace nst;
using namespace nst::cli;

// The only global state: which signal asked us to stop. A second signal exits at once.
volatile sig_atomic_t g_stop_signal = 0;

extern "C" void on_signal(int sig) {
  if (g_stop_signal) _exit(128 + sig);
  g_stop_signal = sig;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  // Each stop signal is blocked while the handler runs: two signals pending at once (a loaded
  // machine) would otherwise nest, and the inner handler would run first, so the first signal's
  // handler would see the second's flag and exit with the first's code.
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGINT);
  sigaddset(&sa.sa_mask, SIGTERM);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// A run refused because its memory estimate exceeds the limit.
struct MemoryLimitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Inside a catch: the exit code and one-line message for the exception being handled.
int exit_code_of_current_exception(std::string& message) {
  try {
    throw;
  } catch (const UsageError& e) {
    message = e.what();
    return kExitUsage;
  } catch (const InputError& e) {
    message = e.what();
    return kExitNoInput;
  } catch (const OutputPathError& e) {
    message = e.what();
    return kExitCantCreat;
  } catch (const OutputExistsError& e) {
    message = std::string(e.what()) + "; pass --overwrite to replace it";
    return kExitCantCreat;
  } catch (const OutputError& e) {
    message = e.what();
    return kExitCantCreat;
  } catch (const ImageError& e) {
    message = e.what();
    return kExitDataErr;
  } catch (const WeightsError& e) {
    message = e.what();
    return kExitDataErr;
  } catch (const CheckpointError& e) {
    message = e.what();
    return kExitDataErr;
  } catch (const MemoryLimitError& e) {
    message = e.what();
    return kExitOsErr;
  } catch (const std::bad_alloc&) {
    message = "out of memory";
    return kExitOsErr;
  } catch (const SettingsError& e) {
    message = describe(e);
    return kExitUsage;
  } catch (const std::exception& e) {  // another std::invalid_argument here is a bug, not a bad option
    message = std::string("internal error: ") + e.what();
    return kExitSoftware;
  } catch (...) {
    message = "internal error: unknown exception";
    return kExitSoftware;
  }
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "nst: %s\n", message.c_str());
  return code;
}

int run(const Options& opt) {
  const auto started = std::chrono::steady_clock::now();  // --time-limit counts from here
  check_paths(opt);
  const ThreadCountScope threads(opt.threads);  // this thread's runs only (nst/threads.h)
  const int scales = static_cast<int>(scale_sizes(opt.settings.start_size, opt.size).size());
  const int total_iterations = opt.settings.iterations + (scales - 1) * opt.settings.scale_iterations;
  const int width = static_cast<int>(std::to_string(total_iterations).size());
  if (opt.save_every > 0 && !opt.overwrite)
    for (int i = opt.save_every; i <= total_iterations; i += opt.save_every)
      if (access(numbered_path(opt.output, i, width).c_str(), F_OK) == 0)
        throw OutputPathError(numbered_path(opt.output, i, width) + ": exists; pass --overwrite to replace it");

  ImageLimits limits;
  limits.max_side = opt.max_side;
  limits.max_pixels = opt.max_pixels;
  const Image content = resize_longest_side(load_image(opt.content, limits), opt.size);
  std::vector<Image> styles;
  const int style_side = static_cast<int>(std::lround(opt.style_scale * opt.size));
  for (const std::string& s : opt.styles) styles.push_back(resize_longest_side(load_image(s, limits), style_side));
  StylizeSettings settings = opt.settings;
  if (settings.init == InitMode::Image) settings.init_image = load_image(opt.init, limits);
  for (size_t i = 0; i < opt.style_masks.size(); ++i) settings.style_masks[i] = load_image(opt.style_masks[i], limits);
  RunCheckpoints checkpoints(opt, settings, loss_log_header(scales > 1));  // reads --resume's checkpoint

  // Refuse a run that would not fit before the weights are read or anything large allocated.
  int64_t style_h = 1, style_w = 1;
  for (const Image& s : styles)
    if (int64_t{s.width} * s.height > style_h * style_w) style_h = s.height, style_w = s.width;
  const int64_t max_memory = opt.max_memory < 0 ? available_memory_bytes() : opt.max_memory;
  // Too large: tiles (unless --tile was given or the checkpoint has its tile), then fewer L-BFGS
  // pairs (unless --lbfgs-history was given or the run resumes): costs time or some convergence,
  // which beats refusing the run (nst/style/memory_plan.h).
  const MemoryPlan plan = plan_memory(content.height, content.width, style_h, style_w, settings, max_memory,
                                      opt.tile_given || checkpoints.resuming(),
                                      opt.lbfgs_history_given || checkpoints.resuming(), kPlanNames);
  for (const std::string& note : plan.notes) std::fprintf(stderr, "nst: %s\n", note.c_str());
  const MemoryEstimate& need = plan.need;
  if (!plan.fits)
    throw MemoryLimitError("this run needs about " + format_bytes(need.total()) + " (estimate: " +
                           format_bytes(need.activations) + " activations" +
                           (settings.tile > 0 ? " of a tile, " + format_bytes(need.tiled) + " whole-image buffers" : "") +
                           ", " + format_bytes(need.lbfgs) + " L-BFGS history, " + format_bytes(need.weights) +
                           " weights), more than " + (opt.max_memory < 0 ? "the available memory, " : "--max-memory ") +
                           format_bytes(max_memory) + "; lower --size or --lbfgs-history" +
                           (opt.max_memory < 0 ? " or set --max-memory" : " or raise --max-memory"));
  // (VGG19's estimate: an upper bound for VGG16.) The network the weights hold, from the header
  // alone, decides which layer names exist and how small an image may be at each scale.
  check_stylize_inputs(weights_network(opt.weights), content, styles, settings);
  // Only what this run reads: its layers, and the Winograd layers' transforms without the weights.
  const Vgg<float> net = load_vgg(opt.weights, model_use(settings));
  if (settings.tile > 0)
    std::fprintf(stderr, "nst: %s\n", describe_tiling(content.height, content.width, settings, *net.network).c_str());
  // Untiled, every evaluation reuses the previous one's blocks (nst/heap.h). A tiled run is the
  // one that must stay under its budget: its crops differ in size, so a heap that never gives
  // memory back fragments above the live peak the estimate is calibrated on (2048x1536 under
  // --max-memory 3G: 3.32 GiB with the policy).
  if (settings.tile == 0) retain_freed_memory();

  std::fprintf(stderr,
               "nst: %s -> %s, %dx%d, %zu style image%s, %d iterations (%s), %d threads, weights %s (%s, %s), "
               "L-BFGS history %d, estimated peak memory %s\n",
               opt.content.c_str(), opt.output.c_str(), content.width, content.height, styles.size(),
               styles.size() == 1 ? "" : "s", total_iterations, to_string(settings.optimizer), current_thread_count(),
               opt.weights.c_str(), net.network->name.c_str(), to_string(net.preprocess), settings.lbfgs_history,
               format_bytes(need.total()).c_str());

  StylizeCallbacks callbacks;
  checkpoints.start(settings, content, styles, net, callbacks);
  if (checkpoints.resuming())
    std::fprintf(stderr, "nst: resuming %s at iteration %d\n", opt.resume.c_str(), checkpoints.resumed_iteration());
  if (!opt.checkpoint.empty())
    std::fprintf(stderr, "nst: saving the run's state to %s every %d iterations, at the end and when interrupted\n",
                 opt.checkpoint.c_str(), opt.checkpoint_every);
  ProgressReporter progress(stderr, isatty(STDERR_FILENO) == 1, opt.print_every);
  // The loss log grows a row per iteration as the run goes (cli/loss_log.h).
  std::unique_ptr<LossLog> log;
  if (!opt.loss_log.empty()) log = std::make_unique<LossLog>(opt.loss_log, checkpoints.log_text(), opt.overwrite);
  // JPEG output cannot hold the content's alpha: say so once.
  bool told_alpha_dropped = false;
  const auto save = [&](const Image& img, const std::string& path, bool overwrite) {
    if (save_image(img, path, {opt.jpeg_quality, overwrite, opt.bit_depth}).alpha_dropped && !told_alpha_dropped) {
      std::fprintf(stderr, "nst: warning: %s: JPEG has no alpha channel; the content's transparency is dropped\n",
                   path.c_str());
      told_alpha_dropped = true;
    }
  };
  callbacks.cancelled = [] { return g_stop_signal != 0; };
  callbacks.interrupt = callbacks.cancelled;
  double last_seconds = 0;
  callbacks.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>& image) {
    checkpoints.log_text() += loss_log_row(p);
    last_seconds = p.seconds;
    if (log) log->append(loss_log_row(p));  // before the progress line: a reader of both sees the row
    progress.update(p);
    if (opt.save_every > 0 && p.iteration % opt.save_every == 0)
      save(image(), numbered_path(opt.output, p.iteration, width), true);
    return true;
  };
  // --time-limit counts from start-up; stylize() shares what is left among the scales.
  if (opt.time_limit >= 0)
    settings.time_limit =
        std::max(0.0, opt.time_limit - std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  const StylizeResult result = stylize(net, content, styles, settings, callbacks);
  progress.finish();

  const LbfgsResult& r = result.optimizer;
  if (g_stop_signal && !std::isfinite(r.best_loss)) {
    std::fprintf(stderr, "nst: interrupted before the first evaluation; nothing written\n");
    return g_stop_signal == SIGTERM ? kExitSigTerm : kExitSigInt;
  }
  if (!std::isfinite(r.best_loss))
    return fail(kExitSoftware, "no finite image was ever computed (" + r.message + "); nothing written");
  if (r.stop != LbfgsStop::MaxIterations && r.stop != LbfgsStop::Cancelled)
    std::fprintf(stderr, "nst: warning: stopped after %d iterations: %s\n", r.iterations, r.message.c_str());
  // The files we write now may exist only because --save-every or a previous check allowed it.
  save(result.image, opt.output, opt.overwrite);
  if (log) log->append(loss_log_saved_row(result.saved, last_seconds));  // what was written, after the optimizer's rows
  std::fprintf(stderr,
               "nst: wrote %s (loss %.4e: content %.4e, style %.4e, tv %.4e; as saved in %d bits: loss %.4e: "
               "content %.4e, style %.4e, tv %.4e)\n",
               opt.output.c_str(), result.best.total, result.best.content, result.best.style, result.best.tv,
               settings.saved_bit_depth, result.saved.total, result.saved.content, result.saved.style, result.saved.tv);
  if (settings.optimizer == Optimizer::Lbfgs)
    std::fprintf(stderr, "nst: L-BFGS made %d iterations, %d evaluations (%d history resets, %d pairs skipped)\n",
                 r.iterations, r.evaluations, r.resets, r.skipped_pairs);
  else
    std::fprintf(stderr, "nst: Adam made %d iterations, %d evaluations\n", r.iterations, r.evaluations);
  if (result.time_up && !g_stop_signal)
    std::fprintf(stderr, "nst: --time-limit %s reached: stopped after %d of %d iterations\n",
                 format_duration(opt.time_limit).c_str(), r.iterations, total_iterations);
  if (g_stop_signal) {
    std::fprintf(stderr, "nst: interrupted after %d iterations; wrote the best image so far to %s%s%s\n", r.iterations,
                 opt.output.c_str(), opt.checkpoint.empty() ? "" : " and the run's state to ", opt.checkpoint.c_str());
    return g_stop_signal == SIGTERM ? kExitSigTerm : kExitSigInt;
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  install_signal_handlers();
  Options opt;
  try {
    std::string text;
    if (!parse_options(std::vector<std::string>(argv, argv + argc), std::getenv("NST_WEIGHTS"), opt, text)) {
      std::fputs(text.c_str(), stdout);
      return kExitOk;
    }
  } catch (const UsageError& e) {
    return fail(kExitUsage, std::string(e.what()) + " (see nst --help)");
  }
  if (opt.shard_auto) {  // --shard auto/N: the scheduler's index (Slurm job array, Kubernetes Indexed Job)
    const char* slurm = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* slurm_min = std::getenv("SLURM_ARRAY_TASK_MIN");
    const char* k8s = std::getenv("JOB_COMPLETION_INDEX");
    const char* text = slurm ? slurm : k8s;
    char* end = nullptr;
    const long v = text ? std::strtol(text, &end, 10) - (slurm && slurm_min ? std::atol(slurm_min) : 0) : -1;
    if (!text || *end != '\0' || v < 0 || v >= opt.shard_count)
      return fail(kExitUsage, std::string("--shard auto/") + std::to_string(opt.shard_count) + ": " +
                                  (text ? "index " + std::string(text) + " is out of range"
                                        : "neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set"));
    opt.shard_index = static_cast<int>(v);
  }
  try {
    if (opt.batch)
      return run_batch(opt, [] { return g_stop_signal != 0; }, exit_code_of_current_exception,
                       [] { return g_stop_signal == SIGTERM ? int{kExitSigTerm} : int{kExitSigInt}; });
    return run(opt);
  } catch (...) {
    std::string message;
    const int code = exit_code_of_current_exception(message);
    return fail(code, message);
  }
}
