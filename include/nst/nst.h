/* nst: neural style transfer on the CPU, as a C library (C99; C++ callers may include it too).
 *
 * A minimal program (error handling shortened; see README.md for the complete example):
 *
 *   nst_model* model;
 *   if (nst_model_load_file("vgg19.safetensors", NST_ABI_VERSION, &model) != NST_OK)
 *     fprintf(stderr, "%s\n", nst_last_error());
 *   nst_job* job;
 *   nst_job_create(model, &job);
 *   nst_settings s;
 *   nst_settings_default(&s);
 *   s.iterations = 300;
 *   nst_image content = {rgb, width, height, 0};     (borrowed, 8-bit RGB, rows top first)
 *   nst_image style = {style_rgb, style_w, style_h, 0};
 *   nst_status st = nst_job_run(job, &content, &style, 1, &s);
 *   if (st == NST_OK || st == NST_CANCELLED) {         (cancelled: the best image so far)
 *     int w, h;
 *     if (nst_job_output_size(job, &w, &h) == NST_OK) {
 *       unsigned char* out = malloc((size_t)w * h * 3);
 *       nst_job_read_output(job, out, 0);
 *     }
 *   } else {
 *     fprintf(stderr, "%s: %s\n", nst_status_name(st), nst_job_error(job));
 *   }
 *   nst_job_free(job);
 *   nst_model_free(model);
 *
 * Threads:
 *   - nst_model: read-only once loaded. Any number of jobs, on any threads, may share one model
 *     at the same time. Free it only after every job using it is freed.
 *   - nst_job: one thread at a time (nst_job_run runs on the calling thread and returns when the
 *     run is over). Different jobs may run concurrently on different threads.
 *   - nst_job_cancel may be called from any thread and from a signal handler (it only sets an
 *     atomic flag), while the job runs or not.
 *   - Worker threads are per run (nst_settings.threads); nothing process-wide is changed.
 *   - nst_last_error is per thread.
 *
 * Errors: every function that can fail returns an nst_status. Nothing is ever thrown, printed or
 * exited across this interface: failures are reported by status and message only, and the
 * library writes nothing to stdout/stderr (install a log callback to see its messages).
 */
#ifndef NST_NST_H
#define NST_NST_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define NST_API
#elif defined(__GNUC__)
#define NST_API __attribute__((visibility("default")))
#else
#define NST_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the headers you compile against; nst_version() gives the library's. */
#define NST_VERSION_MAJOR 0
#define NST_VERSION_MINOR 1
#define NST_VERSION_PATCH 0
#define NST_VERSION_STRING "0.1.0"
#define NST_VERSION_NUMBER (NST_VERSION_MAJOR * 10000 + NST_VERSION_MINOR * 100 + NST_VERSION_PATCH)
/* The binary interface. It changes only when existing functions or struct fields change
 * meaning or layout (appending fields to nst_settings / nst_progress / nst_run_info does not
 * change it); it is the shared library's SONAME number (libnst.so.1). Pass NST_ABI_VERSION to
 * nst_model_load_*: a library of another ABI refuses with NST_ABI_MISMATCH. */
#define NST_ABI_VERSION 1

typedef enum nst_status {
  NST_OK = 0,
  NST_CANCELLED = 1,         /* nst_job_cancel or the progress callback stopped the run; the best
                                image so far is the output (none if no evaluation finished) */
  NST_INVALID_ARGUMENT = 2,  /* a bad parameter or setting; the message names it */
  NST_IO_ERROR = 3,          /* a file could not be read */
  NST_BAD_WEIGHTS = 4,       /* the weights are not a usable VGG19 safetensors file */
  NST_BAD_IMAGE = 5,         /* an image buffer is unusable (size, stride, too small) */
  NST_OUT_OF_MEMORY = 6,     /* an allocation failed */
  NST_MEMORY_LIMIT = 7,      /* the run's estimated memory exceeds nst_settings.max_memory */
  NST_NOT_FINITE = 8,        /* no finite image was ever computed; no output */
  NST_ABI_MISMATCH = 9,      /* compiled against headers of another NST_ABI_VERSION */
  NST_NO_OUTPUT = 10,        /* asked for an image that does not exist (yet) */
  NST_INTERNAL = 99          /* a bug in nst; the message says what */
} nst_status;

/* "NST_OK", "NST_CANCELLED", ...; "NST_UNKNOWN_STATUS" for other values. Never null. */
NST_API const char* nst_status_name(nst_status status);

/* The library's version: "0.1.0", NST_VERSION_NUMBER's encoding, NST_ABI_VERSION. */
NST_API const char* nst_version(void);
NST_API int nst_version_number(void);
NST_API int nst_abi_version(void);

/* The message of the last failed call made on this thread (any function), "" if none. Valid
 * until the next failing call on the same thread. Never null. */
NST_API const char* nst_last_error(void);

/* ---- Images ------------------------------------------------------------------------------ */

/* An 8-bit RGB image the caller owns: rows top first, each row `width` pixels R,G,B, rows
 * `stride` bytes apart (0: width * 3). The library only reads it during the call it is passed
 * to. */
typedef struct nst_image {
  const unsigned char* pixels;
  int32_t width;
  int32_t height;
  size_t stride;
} nst_image;

/* ---- Model ------------------------------------------------------------------------------- */

typedef struct nst_model nst_model;

/* Loads VGG19 convolution weights from a safetensors file (see the weights README).
 * abi_version: pass NST_ABI_VERSION. */
NST_API nst_status nst_model_load_file(const char* path, int abi_version, nst_model** out);
/* The same from a buffer holding the whole file; the buffer is only read during the call. */
NST_API nst_status nst_model_load_memory(const void* data, size_t size, int abi_version, nst_model** out);
/* Null is ignored. */
NST_API void nst_model_free(nst_model* model);

/* ---- Settings ---------------------------------------------------------------------------- */

enum { NST_POOLING_MAX = 0, NST_POOLING_AVG = 1 };
enum { NST_INIT_RANDOM = 0, NST_INIT_CONTENT = 1, NST_INIT_IMAGE = 2, NST_INIT_STYLE = 3 };
enum { NST_LBFGS_HALF = 0, NST_LBFGS_FLOAT = 1 };
enum { NST_OPTIMIZER_LBFGS = 0, NST_OPTIMIZER_ADAM = 1 };
enum { NST_COLOR_MATCH_NONE = 0, NST_COLOR_MATCH_PCA = 1, NST_COLOR_MATCH_CHOLESKY = 2, NST_COLOR_MATCH_SYMMETRIC = 3 };

/* Every control of a run. Fill with nst_settings_default(), then change what you need. New
 * fields are only ever appended; struct_size (set by nst_settings_default to the size you
 * compiled with) tells the library which ones you know, the rest keep their defaults. The
 * defaults and meanings are those of the nst command's options of the same names. Strings and
 * arrays are borrowed for the duration of nst_job_run / nst_estimate_memory. */
typedef struct nst_settings {
  size_t struct_size;
  int32_t iterations;             /* --iterations: L-BFGS iterations (1000) */
  double content_weight;          /* --content-weight (5) */
  double style_weight;            /* --style-weight (100) */
  double tv_weight;               /* --tv-weight (1e-3) */
  const char* content_layers;     /* --content-layers, comma-separated ("relu4_2"; null: default) */
  const char* style_layers;       /* --style-layers (null: relu1_1,...,relu5_1) */
  const double* style_layer_weights; /* --style-layer-weights: one per style layer (null: 1 each) */
  int32_t style_layer_weight_count;
  const double* style_blend;      /* --style-blend: one per style image (null: equal) */
  int32_t style_blend_count;
  int32_t pooling;                /* --pooling: NST_POOLING_MAX (default) or NST_POOLING_AVG */
  int32_t init;                   /* --init: NST_INIT_RANDOM (default), _CONTENT, _STYLE or _IMAGE */
  const nst_image* init_image;    /* NST_INIT_IMAGE: resized to the content's size */
  uint64_t seed;                  /* --seed of the random initial image (0) */
  int32_t lbfgs_history;          /* --lbfgs-history (100). Left at nst_settings_default's value
                                     it counts as not given: with max_memory, the run may keep fewer
                                     pairs to fit (as nst without --lbfgs-history). Any other value
                                     is kept as given */
  int32_t lbfgs_precision;        /* --lbfgs-precision: NST_LBFGS_HALF (default) or _FLOAT */
  int32_t line_search;            /* --line-search: nonzero for a strong Wolfe line search (0); without
                                     one, L-BFGS keeps every pixel in 0..255 (--clamp, the CLI default) */
  int32_t size;                   /* --size: longest side of the output; content is resized to it.
                                     0 (default): the content image's own size */
  double style_scale;             /* --style-scale: style images' longest side = style_scale * size
                                     (1). With size 0 the style images are used as given */
  int32_t threads;                /* --threads: worker threads of this run (0: OpenMP's default) */
  int64_t max_memory;             /* --max-memory in bytes: a run estimated to need more is fitted
                                     into it as the nst command does: evaluated in tiles (tile 0:
                                     the largest that fits), then with fewer L-BFGS pairs (see
                                     lbfgs_history); what it changed is logged (nst_job_set_log).
                                     Refused (NST_MEMORY_LIMIT) only if even that does not fit.
                                     0 (default): no limit */
  /* Appended after the first fields (the struct_size mechanism; still NST_ABI_VERSION 1). */
  int32_t optimizer;              /* --optimizer: NST_OPTIMIZER_LBFGS (default) or _ADAM */
  double learning_rate;           /* --learning-rate: Adam's step in 0..255 pixel units (10) */
  int32_t normalize_gradients;    /* --normalize-gradients: nonzero to divide each term's gradient
                                     by its L1 norm (not with line_search) */
  int32_t original_colors;        /* --original-colors: nonzero keeps the content's colours */
  int32_t color_match;            /* --color-match: NST_COLOR_MATCH_NONE (default), _PCA, ... */
  int32_t start_size;             /* --start-size: multi-scale from this longest side (0: one scale) */
  int32_t scale_iterations;       /* --scale-iterations: at each scale but the last (200) */
  int32_t style_mask_count;       /* --style-mask: 0, or one mask per style image */
  const nst_image* style_masks;   /* the masks (white: that style applies), any size; borrowed */
  double time_limit;              /* --time-limit in seconds: stop at the first iteration boundary
                                     after it, with the best image so far (NST_OK); with start_size,
                                     shared among the scales by planned cost (see README). <= 0: none */
  int32_t tile;                   /* --tile: evaluate the loss in tiles of about this many px a side
                                     (rounded down to the layers' alignment; the same loss to float
                                     rounding, the memory of one tile, more time). > 0: kept as
                                     given. 0 (default): the whole image, or tiles chosen to fit
                                     max_memory. Not with style masks or normalize_gradients */
} nst_settings;

NST_API void nst_settings_default(nst_settings* settings);

/* ---- Jobs -------------------------------------------------------------------------------- */

typedef struct nst_job nst_job;

/* The model must outlive the job. */
NST_API nst_status nst_job_create(const nst_model* model, nst_job** out);
/* Null is ignored. Must not be called while the job runs. */
NST_API void nst_job_free(nst_job* job);

/* What the progress callback sees after each iteration's evaluation. Fields are appended only. */
typedef struct nst_progress {
  size_t struct_size;      /* sizeof(nst_progress) of the library */
  int32_t iteration;       /* 1-based */
  int32_t iterations;      /* planned */
  double loss_total;       /* the loss evaluated in this iteration and its weighted terms */
  double loss_content;
  double loss_style;
  double loss_tv;
  double elapsed_seconds;  /* since the optimization started */
  double eta_seconds;      /* estimate of the time left */
  int32_t width;           /* size of the image being optimized (nst_job_read_current) */
  int32_t height;
} nst_progress;

/* Called on the thread running the job after each iteration. Return 0 to continue, nonzero to
 * stop (the run returns NST_CANCELLED with the best image so far). It may call
 * nst_job_read_current and nst_job_cancel on this job, nothing else on it. */
typedef int (*nst_progress_fn)(nst_job* job, const nst_progress* progress, void* user_data);
NST_API void nst_job_set_progress(nst_job* job, nst_progress_fn fn, void* user_data);

enum { NST_LOG_ERROR = 0, NST_LOG_WARNING = 1, NST_LOG_INFO = 2 };
/* Messages of the runs of this job (one line each, no newline). Silent if none is set. */
typedef void (*nst_log_fn)(int level, const char* message, void* user_data);
NST_API void nst_job_set_log(nst_job* job, nst_log_fn fn, void* user_data);

/* Stylizes `content` in the style of `styles[0..style_count)` on the calling thread. Returns
 * NST_OK, or NST_CANCELLED (with an output if at least one evaluation finished), or an error
 * with its message in nst_job_error. A cancel requested before the run starts makes it return
 * NST_CANCELLED at once; the request is cleared when the run returns. */
NST_API nst_status nst_job_run(nst_job* job, const nst_image* content, const nst_image* styles,
                               int32_t style_count, const nst_settings* settings);

/* Asks the job to stop at its next check (between the network's layers inside an evaluation,
 * and between evaluations). Async-signal-safe; callable from any thread. */
NST_API void nst_job_cancel(nst_job* job);

/* The last run's output size; NST_NO_OUTPUT if it produced none. */
NST_API nst_status nst_job_output_size(const nst_job* job, int32_t* width, int32_t* height);
/* Copies the last run's output into the caller's buffer: height rows of width*3 bytes, `stride`
 * bytes apart (0: width * 3). */
NST_API nst_status nst_job_read_output(const nst_job* job, unsigned char* dst, size_t stride);
/* Inside the progress callback only: the image just evaluated (progress->width x height). */
NST_API nst_status nst_job_read_current(nst_job* job, unsigned char* dst, size_t stride);

/* About the last run. Fields are appended only; set struct_size = sizeof(nst_run_info). */
typedef struct nst_run_info {
  size_t struct_size;
  int32_t iterations;   /* iterations made */
  int32_t evaluations;  /* evaluations of the loss */
  double loss_total;    /* the output's loss and its terms (NaN without an output) */
  double loss_content;
  double loss_style;
  double loss_tv;
  double seconds;       /* wall time of the run */
  const char* stop_reason; /* "max-iterations", "cancelled", ...; valid until the next run */
} nst_run_info;
NST_API nst_status nst_job_run_info(const nst_job* job, nst_run_info* info);

/* The message of the job's last failure ("" if its last run succeeded). Never null; valid until
 * the job's next call. */
NST_API const char* nst_job_error(const nst_job* job);

/* ---- Memory ------------------------------------------------------------------------------ */

/* Estimated peak memory of a run (bytes), before anything heavy is allocated: the content
 * image at content_width x content_height and the largest style image at style_width x
 * style_height, as nst_job_run would use them (after settings->size / style_scale resizing),
 * and planned as nst_job_run plans it: with max_memory > 0, tiled and with fewer L-BFGS pairs
 * where the run would be (total > max_memory: nst_job_run would refuse it). A tiled run's
 * activations are those of one tile plus the buffers that stay at the whole image's size. */
typedef struct nst_memory_estimate {
  int64_t total, weights, activations, lbfgs, base;
} nst_memory_estimate;
NST_API nst_status nst_estimate_memory(const nst_settings* settings, int32_t content_width,
                                       int32_t content_height, int32_t style_width,
                                       int32_t style_height, nst_memory_estimate* out);

#ifdef __cplusplus
}
#endif

#endif /* NST_NST_H */
