// nst_job: one run at a time over a shared model; progress, cancellation, output.
#include "capi/internal.h"

#include "nst/optim/lbfgs.h"
#include "nst/style/memory_estimate.h"
#include "nst/threads.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

namespace {

using nst::capi::fail;

// Records a failure on the job and on the thread.
nst_status job_fail(nst_job* job, nst_status st, const std::string& message) {
  try {
    job->error = message;
  } catch (...) {
    job->error.clear();
  }
  return fail(st, message);
}

void log(const nst_job* job, int level, const std::string& message) {
  if (job->log) job->log(level, message.c_str(), job->log_user);
}

nst_status run(nst_job* job, const nst_image* content_c, const nst_image* styles_c, int32_t style_count,
               const nst_settings* settings_c) {
  const auto started = std::chrono::steady_clock::now();
  nst::capi::RunSettings rs = nst::capi::convert_settings(settings_c);
  if (style_count < 1) throw std::invalid_argument("nst_job_run: style_count must be >= 1, got " + std::to_string(style_count));
  if (!styles_c) throw std::invalid_argument("nst_job_run: styles is null");

  nst::Image content = nst::capi::image_from_c(content_c, "content");
  std::vector<nst::Image> styles;
  for (int32_t i = 0; i < style_count; ++i)
    styles.push_back(nst::capi::image_from_c(&styles_c[i], ("style " + std::to_string(i)).c_str()));
  if (rs.size > 0) {
    const auto [cw, ch] = nst::capi::run_size(rs, content.width, content.height, false);
    content = nst::resize_image(content, cw, ch);
    for (nst::Image& s : styles) {
      const auto [sw, sh] = nst::capi::run_size(rs, s.width, s.height, true);
      s = nst::resize_image(s, sw, sh);
    }
  }
  int64_t style_h = 1, style_w = 1;
  for (const nst::Image& s : styles)
    if (int64_t{s.width} * s.height > style_h * style_w) style_h = s.height, style_w = s.width;
  // Over max_memory: tiles (unless tile > 0 was given), then fewer L-BFGS pairs (unless
  // lbfgs_history was changed from its default), as the nst command does; refused only if even
  // that does not fit.
  const nst::MemoryPlan plan = nst::capi::plan_run(rs, content.height, content.width, style_h, style_w);
  const nst::MemoryEstimate& need = plan.need;
  if (!plan.fits)
    throw nst::capi::MemoryLimitError(
        "this run needs about " + nst::format_bytes(need.total()) +
        (rs.stylize.tile > 0 ? " in tiles of " + std::to_string(rs.stylize.tile) + " px" : std::string()) +
        (rs.stylize.optimizer == nst::Optimizer::Lbfgs
             ? " with " + std::to_string(rs.stylize.lbfgs_history) + " L-BFGS pairs"
             : std::string()) +
        ", more than max_memory " +
        nst::format_bytes(rs.max_memory) + "; lower size or lbfgs_history, or raise max_memory");
  for (const std::string& note : plan.notes) log(job, NST_LOG_INFO, note);
  if (rs.stylize.tile > 0)
    log(job, NST_LOG_INFO,
        nst::describe_tiling(content.height, content.width, rs.stylize, *job->model->net.network));

  const nst::ThreadCountScope threads(rs.threads);
  log(job, NST_LOG_INFO,
      "stylizing " + std::to_string(content.width) + "x" + std::to_string(content.height) + " with " +
          std::to_string(styles.size()) + " style image(s), " + std::to_string(rs.stylize.iterations) +
          " iterations, " + std::to_string(nst::current_thread_count()) + " threads, L-BFGS history " +
          std::to_string(rs.stylize.lbfgs_history) + ", estimated peak memory " + nst::format_bytes(need.total()));

  nst::StylizeCallbacks callbacks;
  callbacks.cancelled = [job] { return job->cancel.load(std::memory_order_relaxed) != 0; };
  callbacks.interrupt = callbacks.cancelled;
  callbacks.on_iteration = [job, &content](const nst::StylizeProgress& p, const std::function<nst::Image()>& image) {
    if (!job->progress) return true;
    nst_progress c{};
    c.struct_size = sizeof c;
    c.iteration = p.iteration;
    c.iterations = p.iterations;
    c.loss_total = p.terms.total;
    c.loss_content = p.terms.content;
    c.loss_style = p.terms.style;
    c.loss_tv = p.terms.tv;
    c.elapsed_seconds = p.seconds;
    c.eta_seconds = p.iteration > 0 ? p.seconds / p.iteration * (p.iterations - p.iteration) : 0;
    c.width = content.width;
    c.height = content.height;
    job->current = &image;
    const int stop = job->progress(job, &c, job->progress_user);
    job->current = nullptr;
    return stop == 0;
  };
  if (job->cancel.load() != 0) return job_fail(job, NST_CANCELLED, "cancelled before the run started");
  // time_limit counts from the job's start; stylize() shares what is left among the scales.
  nst::StylizeSettings settings = rs.stylize;
  if (rs.time_limit > 0)
    settings.time_limit =
        std::max(0.0, rs.time_limit - std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  const nst::StylizeResult result = nst::stylize(job->model->net, content, styles, settings, callbacks);
  job->time_up = result.time_up;

  const nst::LbfgsResult& r = result.optimizer;
  job->stop_reason = nst::to_string(r.stop);
  job->info.iterations = r.iterations;
  job->info.evaluations = r.evaluations;
  job->info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const bool cancelled = r.stop == nst::LbfgsStop::Cancelled && !job->time_up;
  if (job->time_up) job->stop_reason = "time-limit";
  if (!std::isfinite(r.best_loss)) {
    if (cancelled) return job_fail(job, NST_CANCELLED, "cancelled before the first evaluation finished; no output");
    return job_fail(job, NST_NOT_FINITE, "no finite image was ever computed (" + r.message + ")");
  }
  job->output = result.image;
  job->has_output = true;
  job->info.loss_total = result.best.total;
  job->info.loss_content = result.best.content;
  job->info.loss_style = result.best.style;
  job->info.loss_tv = result.best.tv;
  if (r.stop != nst::LbfgsStop::MaxIterations && r.stop != nst::LbfgsStop::Cancelled)
    log(job, NST_LOG_WARNING, "stopped after " + std::to_string(r.iterations) + " iterations: " + r.message);
  log(job, NST_LOG_INFO,
      "done: " + std::to_string(r.iterations) + " iterations, " + std::to_string(r.evaluations) + " evaluations, loss " +
          std::to_string(result.best.total) + (cancelled ? " (cancelled; best image so far)" : ""));
  if (cancelled) return job_fail(job, NST_CANCELLED, "cancelled after " + std::to_string(r.iterations) + " iterations");
  return NST_OK;
}

}  // namespace

extern "C" {

nst_status nst_job_create(const nst_model* model, nst_job** out) {
  try {
    if (!out) return fail(NST_INVALID_ARGUMENT, "nst_job_create: out is null");
    *out = nullptr;
    if (!model) return fail(NST_INVALID_ARGUMENT, "nst_job_create: model is null");
    auto job = std::make_unique<nst_job>();
    job->model = model;
    *out = job.release();
    nst::capi::clear_last_error();
    return NST_OK;
  } catch (...) {
    std::string message;
    return fail(nst::capi::status_of_current_exception(message), message);
  }
}

void nst_job_free(nst_job* job) { delete job; }

void nst_job_set_progress(nst_job* job, nst_progress_fn fn, void* user_data) {
  if (!job) return;
  job->progress = fn;
  job->progress_user = user_data;
}

void nst_job_set_log(nst_job* job, nst_log_fn fn, void* user_data) {
  if (!job) return;
  job->log = fn;
  job->log_user = user_data;
}

void nst_job_cancel(nst_job* job) {
  if (job) job->cancel.store(1);
}

nst_status nst_job_run(nst_job* job, const nst_image* content, const nst_image* styles, int32_t style_count,
                       const nst_settings* settings) {
  if (!job) return fail(NST_INVALID_ARGUMENT, "nst_job_run: job is null");
  nst_status st = NST_INTERNAL;
  try {
    job->error.clear();
    job->has_output = false;
    job->output = nst::Image();
    job->info = nst_run_info{};
    job->info.loss_total = job->info.loss_content = job->info.loss_style = job->info.loss_tv =
        std::numeric_limits<double>::quiet_NaN();
    job->stop_reason.clear();
    job->current = nullptr;
    job->time_up = false;
    st = run(job, content, styles, style_count, settings);
    if (st == NST_OK) nst::capi::clear_last_error();
  } catch (...) {
    job->current = nullptr;
    std::string message;
    st = nst::capi::status_of_current_exception(message);
    st = job_fail(job, st, message);
    if (st != NST_CANCELLED) log(job, NST_LOG_ERROR, message);
  }
  job->cancel.store(0);
  return st;
}

nst_status nst_job_output_size(const nst_job* job, int32_t* width, int32_t* height) {
  if (!job || !width || !height) return fail(NST_INVALID_ARGUMENT, "nst_job_output_size: null argument");
  if (!job->has_output) {
    *width = *height = 0;
    return fail(NST_NO_OUTPUT, "nst_job_output_size: the job has no output");
  }
  *width = job->output.width;
  *height = job->output.height;
  return NST_OK;
}

nst_status nst_job_read_output(const nst_job* job, unsigned char* dst, size_t stride) {
  if (!job || !dst) return fail(NST_INVALID_ARGUMENT, "nst_job_read_output: null argument");
  if (!job->has_output) return fail(NST_NO_OUTPUT, "nst_job_read_output: the job has no output");
  if (stride != 0 && stride < static_cast<size_t>(job->output.width) * 3)
    return fail(NST_INVALID_ARGUMENT, "nst_job_read_output: stride is less than width * 3");
  nst::capi::image_to_c(job->output, dst, stride);
  return NST_OK;
}

nst_status nst_job_read_current(nst_job* job, unsigned char* dst, size_t stride) {
  if (!job || !dst) return fail(NST_INVALID_ARGUMENT, "nst_job_read_current: null argument");
  if (!job->current) return fail(NST_NO_OUTPUT, "nst_job_read_current: only valid inside the progress callback");
  try {
    const nst::Image img = (*job->current)();
    if (stride != 0 && stride < static_cast<size_t>(img.width) * 3)
      return fail(NST_INVALID_ARGUMENT, "nst_job_read_current: stride is less than width * 3");
    nst::capi::image_to_c(img, dst, stride);
    return NST_OK;
  } catch (...) {
    std::string message;
    return fail(nst::capi::status_of_current_exception(message), message);
  }
}

nst_status nst_job_run_info(const nst_job* job, nst_run_info* info) {
  if (!job || !info) return fail(NST_INVALID_ARGUMENT, "nst_job_run_info: null argument");
  if (info->struct_size < sizeof(size_t)) return fail(NST_INVALID_ARGUMENT, "nst_job_run_info: set struct_size");
  nst_run_info full = job->info;
  full.struct_size = sizeof full;
  full.stop_reason = job->stop_reason.c_str();
  const size_t n = info->struct_size < sizeof full ? info->struct_size : sizeof full;
  std::memcpy(static_cast<void*>(info), &full, n);
  info->struct_size = n;
  return NST_OK;
}

const char* nst_job_error(const nst_job* job) { return job ? job->error.c_str() : ""; }

}  // extern "C"
