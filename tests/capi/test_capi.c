/* The C API from C99 (built with -std=c99 -pedantic-errors -Werror), against the shared library:
 * versions, status names, errors (thread-local and per job), settings checks, loading from a
 * file and from memory, a small real run with progress and the current image, cancellation
 * (before a run, from the progress callback, from another thread), output with a stride,
 * determinism across models, thread counts and concurrent jobs sharing one model, the memory
 * estimate. Real VGG19 weights from ../shared at tiny sizes; exits 77 (skipped) without them. */
#define _POSIX_C_SOURCE 200809L /* nanosleep, pthreads under -std=c99 */
#include "nst/nst.h"

#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures = 0;
#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                       \
    }                                                                   \
  } while (0)

#define W 40
#define H 28
#define SW 20
#define SH 24

static unsigned char content_px[H][W * 3 + 5]; /* padded rows: stride W*3+5 */
static unsigned char style_px[SH * SW * 3];

static void make_images(void) {
  int x, y;
  for (y = 0; y < H; ++y)
    for (x = 0; x < W; ++x) {
      content_px[y][3 * x + 0] = (unsigned char)(x * 6);
      content_px[y][3 * x + 1] = (unsigned char)(y * 9);
      content_px[y][3 * x + 2] = (unsigned char)((x * y) % 256);
    }
  for (y = 0; y < SH; ++y)
    for (x = 0; x < SW; ++x) {
      unsigned char* p = style_px + 3 * (y * SW + x);
      p[0] = (unsigned char)(((x / 4 + y / 4) % 2) * 255);
      p[1] = (unsigned char)(x * 12);
      p[2] = (unsigned char)(255 - y * 10);
    }
}

static nst_image content_image(void) {
  nst_image img;
  img.pixels = &content_px[0][0];
  img.width = W;
  img.height = H;
  img.stride = sizeof content_px[0];
  return img;
}

static nst_image style_image(void) {
  nst_image img;
  img.pixels = style_px;
  img.width = SW;
  img.height = SH;
  img.stride = 0;
  return img;
}

static void small_settings(nst_settings* s, int iterations) {
  nst_settings_default(s);
  s->iterations = iterations;
  s->lbfgs_history = 5;
  /* Shallow layers only: the deep layers' weights dominate the cost at tiny sizes. */
  s->content_layers = "relu2_1";
  s->style_layers = "relu1_1,relu2_1";
}

/* Runs and returns the output (malloc'ed, W*H*3) or NULL; *status gets the status. */
static unsigned char* run_to_buffer(nst_job* job, const nst_settings* s, nst_status* status) {
  nst_image c = content_image(), st = style_image();
  int32_t w = 0, h = 0;
  unsigned char* out;
  *status = nst_job_run(job, &c, &st, 1, s);
  if (nst_job_output_size(job, &w, &h) != NST_OK) return NULL;
  if (w != W || h != H) return NULL;
  out = (unsigned char*)malloc((size_t)w * h * 3);
  if (nst_job_read_output(job, out, 0) != NST_OK) {
    free(out);
    return NULL;
  }
  return out;
}

struct progress_log {
  int calls;
  int last_iteration;
  int cancel_at;      /* return nonzero at this iteration (0: never) */
  int read_ok;
  int finite;
  double eta_first;
};

static int on_progress(nst_job* job, const nst_progress* p, void* user) {
  struct progress_log* log = (struct progress_log*)user;
  unsigned char* img = (unsigned char*)malloc((size_t)p->width * p->height * 3);
  ++log->calls;
  log->last_iteration = p->iteration;
  if (p->iteration == 1) log->eta_first = p->eta_seconds;
  if (!(isfinite(p->loss_total) && isfinite(p->loss_style) && isfinite(p->elapsed_seconds) && p->eta_seconds >= 0))
    log->finite = 0;
  if (p->width == W && p->height == H && nst_job_read_current(job, img, 0) == NST_OK) ++log->read_ok;
  free(img);
  return log->cancel_at > 0 && p->iteration >= log->cancel_at;
}

static int log_lines = 0;
static char log_text[16384]; /* the messages since the last clear, one per line (truncated) */
static void on_log(int level, const char* message, void* user) {
  size_t n = strlen(log_text);
  (void)level;
  (void)user;
  if (message && *message) ++log_lines;
  if (message && n + strlen(message) + 2 < sizeof log_text) {
    strcat(log_text, message);
    strcat(log_text, "\n");
  }
}

struct thread_run {
  nst_job* job;
  const nst_settings* settings;
  nst_status status;
  unsigned char* out;
};

static void* thread_main(void* arg) {
  struct thread_run* r = (struct thread_run*)arg;
  r->out = run_to_buffer(r->job, r->settings, &r->status);
  return NULL;
}

/* Cancels a job from another thread once its first iteration reported progress. */
struct canceller {
  nst_job* job;
  volatile int started;
};
static int mark_started(nst_job* job, const nst_progress* p, void* user) {
  struct canceller* c = (struct canceller*)user;
  (void)job;
  (void)p;
  c->started = 1;
  return 0;
}
static void* cancel_main(void* arg) {
  struct canceller* c = (struct canceller*)arg;
  struct timespec ts;
  ts.tv_sec = 0;
  ts.tv_nsec = 1000000;
  while (!c->started) nanosleep(&ts, NULL);
  nst_job_cancel(c->job);
  return NULL;
}

static unsigned char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  unsigned char* buf;
  long n;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = (unsigned char*)malloc((size_t)n);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

int main(void) {
  const char* weights = NST_SHARED_DIR "/weights/vgg19-conv.safetensors";
  nst_model *model = NULL, *model_mem = NULL, *bad = NULL;
  nst_job *job = NULL, *job2 = NULL;
  nst_settings s;
  nst_status st;
  unsigned char *ref, *out, *buf;
  size_t size = 0;
  FILE* probe;

  /* Versions: the macros, the library and the build agree. */
  CHECK(strcmp(nst_version(), NST_VERSION_STRING) == 0);
  CHECK(strcmp(NST_VERSION_STRING, NST_PROJECT_VERSION) == 0);
  CHECK(nst_version_number() == NST_VERSION_NUMBER);
  CHECK(nst_abi_version() == NST_ABI_VERSION);

  /* Status names. */
  CHECK(strcmp(nst_status_name(NST_OK), "NST_OK") == 0);
  CHECK(strcmp(nst_status_name(NST_CANCELLED), "NST_CANCELLED") == 0);
  CHECK(strcmp(nst_status_name(NST_ABI_MISMATCH), "NST_ABI_MISMATCH") == 0);
  CHECK(strcmp(nst_status_name((nst_status)12345), "NST_UNKNOWN_STATUS") == 0);

  /* Errors without a handle: thread-local message, out set to NULL. */
  bad = (nst_model*)&s;
  CHECK(nst_model_load_file("/nonexistent/vgg.safetensors", NST_ABI_VERSION, &bad) == NST_IO_ERROR);
  CHECK(bad == NULL);
  CHECK(strstr(nst_last_error(), "/nonexistent/vgg.safetensors") != NULL);
  CHECK(nst_model_load_file(weights, NST_ABI_VERSION + 1, &bad) == NST_ABI_MISMATCH);
  CHECK(strstr(nst_last_error(), "ABI") != NULL);
  CHECK(nst_model_load_memory("not a safetensors file", 22, NST_ABI_VERSION, &bad) == NST_BAD_WEIGHTS);
  CHECK(strlen(nst_last_error()) > 0);
  CHECK(nst_model_load_file(NULL, NST_ABI_VERSION, &bad) == NST_INVALID_ARGUMENT);
  CHECK(nst_job_create(NULL, &job) == NST_INVALID_ARGUMENT);
  nst_model_free(NULL);
  nst_job_free(NULL);

  probe = fopen(weights, "rb");
  if (!probe) {
    printf("skipped: %s not found\n", weights);
    return failures ? 1 : 77;
  }
  fclose(probe);
  make_images();

  CHECK(nst_model_load_file(weights, NST_ABI_VERSION, &model) == NST_OK);
  buf = read_file(weights, &size);
  CHECK(buf != NULL);
  CHECK(nst_model_load_memory(buf, size, NST_ABI_VERSION, &model_mem) == NST_OK);
  /* A truncated buffer is refused, naming the problem. */
  CHECK(nst_model_load_memory(buf, size / 2, NST_ABI_VERSION, &bad) == NST_BAD_WEIGHTS);
  CHECK(strstr(nst_last_error(), "truncated") != NULL);
  free(buf);
  if (!model || !model_mem) return 1;
  CHECK(nst_job_create(model, &job) == NST_OK);
  CHECK(nst_job_create(model_mem, &job2) == NST_OK);

  /* Bad settings: named in the job's message, nothing run. */
  small_settings(&s, 0);
  {
    nst_image c = content_image(), sty = style_image();
    CHECK(nst_job_run(job, &c, &sty, 1, &s) == NST_INVALID_ARGUMENT);
    CHECK(strstr(nst_job_error(job), "iterations") != NULL);
    s.iterations = 2;
    s.style_layers = "relu1_1,nope";
    CHECK(nst_job_run(job, &c, &sty, 1, &s) == NST_INVALID_ARGUMENT);
    CHECK(strstr(nst_job_error(job), "nope") != NULL);
    small_settings(&s, 2);
    s.line_search = 1; /* L-BFGS keeps pixels in 0..255 unless it searches lines: no conflict here */
    CHECK(nst_job_run(job, &c, &sty, 1, &s) == NST_OK);
    small_settings(&s, 2);
    s.struct_size = 8;
    CHECK(nst_job_run(job, &c, &sty, 1, &s) == NST_INVALID_ARGUMENT);
    CHECK(strstr(nst_job_error(job), "struct_size") != NULL);
    small_settings(&s, 2);
    c.stride = W; /* less than width * 3 */
    CHECK(nst_job_run(job, &c, &sty, 1, &s) == NST_BAD_IMAGE);
    CHECK(strstr(nst_job_error(job), "stride") != NULL);
    c = content_image();
    CHECK(nst_job_run(job, &c, &sty, 0, &s) == NST_INVALID_ARGUMENT);
    s.max_memory = 1000; /* bytes */
    CHECK(nst_job_run(job, &c, &sty, 1, &s) == NST_MEMORY_LIMIT);
    CHECK(nst_job_output_size(job, &c.width, &c.height) == NST_NO_OUTPUT);
  }

  /* A real run: progress every iteration with finite terms and the current image; logs. */
  {
    struct progress_log log = {0, 0, 0, 0, 1, -1};
    nst_run_info info;
    small_settings(&s, 3);
    nst_job_set_progress(job, on_progress, &log);
    nst_job_set_log(job, on_log, NULL);
    ref = run_to_buffer(job, &s, &st);
    CHECK(st == NST_OK);
    CHECK(ref != NULL);
    CHECK(log.calls == 3 && log.last_iteration == 3 && log.read_ok == 3 && log.finite);
    CHECK(log.eta_first >= 0);
    CHECK(log_lines >= 2);
    CHECK(strcmp(nst_job_error(job), "") == 0);
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK(nst_job_run_info(job, &info) == NST_OK);
    CHECK(info.iterations == 3 && info.evaluations == 4);
    CHECK(isfinite(info.loss_total) && info.loss_total > 0);
    CHECK(strcmp(info.stop_reason, "max-iterations") == 0);
    /* read_current is refused outside the callback */
    {
      unsigned char px[W * H * 3];
      CHECK(nst_job_read_current(job, px, 0) == NST_NO_OUTPUT);
    }
    /* A padded output stride leaves the padding alone and gives the same pixels. */
    {
      const size_t stride = W * 3 + 7;
      unsigned char* padded = (unsigned char*)malloc(stride * H);
      int y, same = 1;
      memset(padded, 0xAB, stride * H);
      CHECK(nst_job_read_output(job, padded, stride) == NST_OK);
      for (y = 0; y < H; ++y) {
        if (memcmp(padded + y * stride, ref + y * W * 3, W * 3) != 0) same = 0;
        if (padded[y * stride + W * 3] != 0xAB) same = 0;
      }
      CHECK(same);
      CHECK(nst_job_read_output(job, padded, W) == NST_INVALID_ARGUMENT);
      free(padded);
    }

    /* The same run again: from the memory-loaded model, with 1 thread, identical bytes. */
    s.threads = 1;
    out = run_to_buffer(job2, &s, &st);
    CHECK(st == NST_OK && out && ref && memcmp(out, ref, W * H * 3) == 0);
    free(out);
    s.threads = 0;

    /* Cancel from the callback at iteration 2: NST_CANCELLED with the best image so far. */
    log.calls = 0;
    log.cancel_at = 2;
    small_settings(&s, 50);
    out = run_to_buffer(job, &s, &st);
    CHECK(st == NST_CANCELLED);
    CHECK(out != NULL);
    CHECK(log.calls == 2);
    CHECK(nst_job_run_info(job, &info) == NST_OK && strcmp(info.stop_reason, "cancelled") == 0);
    free(out);
    nst_job_set_progress(job, NULL, NULL);
  }

  /* An older caller (struct_size up to max_memory): the fields after it keep their defaults,
   * whatever the bytes there; the same run gives the same image. */
  small_settings(&s, 3);
  s.struct_size = offsetof(nst_settings, max_memory) + sizeof s.max_memory;
  s.optimizer = 77;
  s.color_match = -5;
  s.style_mask_count = 1000;
  out = run_to_buffer(job, &s, &st);
  CHECK(st == NST_OK && out && ref && memcmp(out, ref, W * H * 3) == 0);
  free(out);
  /* The appended fields are read when struct_size covers them. */
  CHECK(nst_job_run(job, NULL, NULL, 1, &s) != NST_OK);
  small_settings(&s, 2);
  s.color_match = -5;
  {
    nst_image c = content_image(), sty = style_image();
    nst_run_info info;
    CHECK(nst_job_run(job, &c, &sty, 1, &s) == NST_INVALID_ARGUMENT);
    CHECK(strstr(nst_job_error(job), "color_match") != NULL);
    small_settings(&s, 2);
    s.optimizer = NST_OPTIMIZER_ADAM;
    CHECK(nst_job_run(job, &c, &sty, 1, &s) == NST_OK);
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK(nst_job_run_info(job, &info) == NST_OK && info.iterations == 2);
  }

  /* A cancel before the run: NST_CANCELLED at once, no output; the next run is not affected. */
  small_settings(&s, 3);
  nst_job_cancel(job);
  out = run_to_buffer(job, &s, &st);
  CHECK(st == NST_CANCELLED && out == NULL);
  out = run_to_buffer(job, &s, &st);
  CHECK(st == NST_OK && out && ref && memcmp(out, ref, W * H * 3) == 0);
  free(out);

  /* A cancel from another thread while the job runs (1000 iterations planned). */
  {
    struct canceller c;
    pthread_t t;
    nst_run_info info;
    c.job = job;
    c.started = 0;
    small_settings(&s, 1000);
    nst_job_set_progress(job, mark_started, &c);
    CHECK(pthread_create(&t, NULL, cancel_main, &c) == 0);
    out = run_to_buffer(job, &s, &st);
    pthread_join(t, NULL);
    CHECK(st == NST_CANCELLED && out != NULL);
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK(nst_job_run_info(job, &info) == NST_OK && info.iterations < 1000);
    free(out);
    nst_job_set_progress(job, NULL, NULL);
  }

  /* Two jobs on two threads sharing one model at the same time: both give the reference. */
  {
    struct thread_run a, b;
    pthread_t ta, tb;
    nst_job* job3 = NULL;
    small_settings(&s, 3);
    CHECK(nst_job_create(model, &job3) == NST_OK);
    a.job = job;
    b.job = job3;
    a.settings = b.settings = &s;
    a.out = b.out = NULL;
    CHECK(pthread_create(&ta, NULL, thread_main, &a) == 0);
    CHECK(pthread_create(&tb, NULL, thread_main, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.status == NST_OK && b.status == NST_OK);
    CHECK(a.out && b.out && ref && memcmp(a.out, ref, W * H * 3) == 0 && memcmp(b.out, ref, W * H * 3) == 0);
    free(a.out);
    free(b.out);
    nst_job_free(job3);
  }

  /* max_memory: a run over it is fitted as the nst command does (tiles, then fewer L-BFGS pairs)
   * instead of refused; refused only when nothing fits; a given tile or history is kept. */
  {
    /* 384x288 with relu2_1: the smallest kind of run where tiles need less than the whole
     * image (below it, the tiled evaluation's fixed buffers outweigh the activations saved). */
    enum { BW = 384, BH = 288 };
    unsigned char* big = (unsigned char*)malloc((size_t)BW * BH * 3);
    nst_image c, sty = style_image();
    nst_memory_estimate untiled, tiled128, tiled8, planned;
    int32_t w = 0, h = 0;
    int i;
    for (i = 0; i < BW * BH * 3; ++i) big[i] = (unsigned char)((i * 7 + i / (BW * 3) * 13) % 256);
    c.pixels = big;
    c.width = BW;
    c.height = BH;
    c.stride = 0;
    small_settings(&s, 1); /* lbfgs_history 5: given, so only the tile may change */
    nst_job_set_log(job, on_log, NULL);
    CHECK(nst_estimate_memory(&s, BW, BH, SW, SH, &untiled) == NST_OK);
    s.tile = 128;
    CHECK(nst_estimate_memory(&s, BW, BH, SW, SH, &tiled128) == NST_OK);
    s.tile = 8;
    CHECK(nst_estimate_memory(&s, BW, BH, SW, SH, &tiled8) == NST_OK);
    CHECK(tiled8.total < tiled128.total && tiled128.total < untiled.total);
    CHECK(tiled128.total == tiled128.weights + tiled128.activations + tiled128.lbfgs + tiled128.base);
    /* Between the tiled and the untiled estimates: tiles of 128 px (the largest that fit), where
     * this used to be NST_MEMORY_LIMIT; the estimate says what the run will need. */
    s.tile = 0;
    s.max_memory = tiled128.total;
    CHECK(nst_estimate_memory(&s, BW, BH, SW, SH, &planned) == NST_OK);
    CHECK(planned.total == tiled128.total);
    log_text[0] = 0;
    st = nst_job_run(job, &c, &sty, 1, &s);
    CHECK(st == NST_OK);
    if (st != NST_OK) fprintf(stderr, "  %s\n", nst_job_error(job));
    CHECK(nst_job_output_size(job, &w, &h) == NST_OK && w == BW && h == BH);
    CHECK(strstr(log_text, "evaluating it in tiles of 128 px (tile sets it)") != NULL);
    CHECK(strstr(log_text, "tiled: 3x3 tiles of 128 px") != NULL);
    if (!strstr(log_text, "tiles of 128 px")) fprintf(stderr, "  log:\n%s", log_text);
    /* A given tile is kept: 256 px does not fit this budget (128 would), so the run is refused. */
    s.tile = 256;
    CHECK(nst_job_run(job, &c, &sty, 1, &s) == NST_MEMORY_LIMIT);
    CHECK(strstr(nst_job_error(job), "in tiles of 256 px") != NULL);
    CHECK(nst_job_output_size(job, &w, &h) == NST_NO_OUTPUT);
    /* Nothing fits (not the smallest tile, and the history is given): refused, no output. */
    s.tile = 0;
    s.max_memory = tiled8.total - 1;
    CHECK(nst_job_run(job, &c, &sty, 1, &s) == NST_MEMORY_LIMIT);
    CHECK(strstr(nst_job_error(job), "max_memory") != NULL);
    CHECK(nst_job_output_size(job, &w, &h) == NST_NO_OUTPUT);
    CHECK(nst_estimate_memory(&s, BW, BH, SW, SH, &planned) == NST_OK && planned.total > s.max_memory);

    /* The L-BFGS history at nst_settings_default's value may shrink to fit (no tile fits this
     * small image better than the whole); any other value is kept. */
    {
      nst_settings d;
      nst_memory_estimate five;
      nst_settings_default(&d);
      small_settings(&s, 1); /* lbfgs_history 5 */
      CHECK(nst_estimate_memory(&s, W, H, SW, SH, &five) == NST_OK);
      s.lbfgs_history = d.lbfgs_history;
      s.max_memory = five.total;
      log_text[0] = 0;
      out = run_to_buffer(job, &s, &st);
      CHECK(st == NST_OK && out != NULL);
      free(out);
      CHECK(strstr(log_text, "keeping 5 pairs (lbfgs_history sets it)") != NULL);
      CHECK(strstr(log_text, "L-BFGS history 5,") != NULL);
      s.lbfgs_history = d.lbfgs_history - 1;
      CHECK(run_to_buffer(job, &s, &st) == NULL && st == NST_MEMORY_LIMIT);
    }

    /* A given tile without a budget: the run is tiled as asked. */
    small_settings(&s, 1);
    s.tile = 16;
    log_text[0] = 0;
    out = run_to_buffer(job, &s, &st);
    CHECK(st == NST_OK && out != NULL);
    free(out);
    CHECK(strstr(log_text, "tiles of 16 px") != NULL);
    CHECK(strstr(log_text, "evaluating it in tiles") == NULL);
    s.tile = -1;
    CHECK(nst_job_run(job, &c, &sty, 1, &s) == NST_INVALID_ARGUMENT);
    CHECK(strstr(nst_job_error(job), "tile") != NULL);
    nst_job_set_log(job, NULL, NULL);
    free(big);
  }

  /* Memory estimate: positive parts that add up; larger with size; size resizes the inputs. */
  {
    nst_memory_estimate e1, e2, e3;
    nst_settings_default(&s);
    CHECK(nst_estimate_memory(&s, 256, 256, 256, 256, &e1) == NST_OK);
    CHECK(e1.total == e1.weights + e1.activations + e1.lbfgs + e1.base && e1.activations > 0);
    CHECK(nst_estimate_memory(&s, 512, 512, 256, 256, &e2) == NST_OK);
    CHECK(e2.total > e1.total);
    s.size = 256;
    CHECK(nst_estimate_memory(&s, 1024, 1024, 1024, 1024, &e3) == NST_OK);
    CHECK(e3.total == e1.total);
    CHECK(nst_estimate_memory(&s, 0, 10, 10, 10, &e3) == NST_INVALID_ARGUMENT);
  }

  free(ref);
  nst_job_free(job);
  nst_job_free(job2);
  nst_model_free(model);
  nst_model_free(model_mem);
  if (failures) fprintf(stderr, "%d checks failed\n", failures);
  else printf("all checks passed\n");
  return failures ? 1 : 0;
}
