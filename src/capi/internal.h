// Shared by the C API's sources (src/capi/*.cpp): the handles' contents, the conversion of
// C settings and images, and the one place where C++ exceptions become status codes.
#pragma once

#include "nst/io/image.h"
#include "nst/model/vgg19.h"
#include "nst/nst.h"
#include "nst/style/memory_plan.h"
#include "nst/style/stylize.h"

#include <atomic>
#include <functional>
#include <stdexcept>
#include <string>

struct nst_model {
  nst::Vgg<float> net;
};

struct nst_job {
  const nst_model* model = nullptr;
  // Set by nst_job_cancel (any thread, signal handlers): lock-free, so async-signal-safe.
  std::atomic<int> cancel{0};
  nst_progress_fn progress = nullptr;
  void* progress_user = nullptr;
  nst_log_fn log = nullptr;
  void* log_user = nullptr;
  std::string error;  // last failure's message
  bool has_output = false;
  nst::Image output;
  nst_run_info info{};
  std::string stop_reason;
  const std::function<nst::Image()>* current = nullptr;  // set only during the progress callback
  bool time_up = false;  // the last run stopped at nst_settings.time_limit
};
static_assert(ATOMIC_INT_LOCK_FREE == 2, "nst_job_cancel needs a lock-free atomic int");

namespace nst::capi {

// A run refused by nst_settings.max_memory.
struct MemoryLimitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A file that cannot be read (not a format problem).
struct IoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// An unusable image buffer.
struct BadImageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Inside a catch (...): the status for the exception being handled, its message in `message`.
nst_status status_of_current_exception(std::string& message);
// Records `message` as this thread's nst_last_error and returns `status`.
nst_status fail(nst_status status, const std::string& message);
// Clears this thread's nst_last_error.
void clear_last_error();

// Everything a run needs beyond StylizeSettings: the C settings' front-end fields.
struct RunSettings {
  StylizeSettings stylize;
  int size = 0;
  double style_scale = 1.0;
  int threads = 0;
  int64_t max_memory = 0;
  double time_limit = 0;  // seconds; <= 0: none
  // Chosen by the caller, so not changed to fit max_memory (nst/style/memory_plan.h): a tile > 0;
  // an L-BFGS history other than nst_settings_default's.
  bool tile_fixed = false;
  bool history_fixed = false;
};
// The caller's settings (of any struct_size this library knows) over the defaults. Throws
// std::invalid_argument naming the field.
RunSettings convert_settings(const nst_settings* settings);

// Borrowed RGB bytes to an Image; `what` names it in messages. Throws BadImageError.
Image image_from_c(const nst_image* img, const char* what);
// Image to caller-owned RGB bytes (clamped to 0..255, rounded to nearest).
void image_to_c(const Image& img, unsigned char* dst, size_t stride);

// Size of an image of width x height once `settings` resize it (size / style_scale rules).
std::pair<int, int> run_size(const RunSettings& s, int width, int height, bool style);

// s.stylize fitted into s.max_memory (nst/style/memory_plan.h) for a content of h x w and a
// largest style of sh x sw: its tile and lbfgs_history may change. The one plan of
// nst_job_run and nst_estimate_memory.
MemoryPlan plan_run(RunSettings& s, int64_t h, int64_t w, int64_t sh, int64_t sw);

}  // namespace nst::capi
