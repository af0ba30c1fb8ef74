/* stylize: the C API end to end. Reads binary PPM (P6) images, prints progress, stops on
 * Ctrl-C with the best image so far, writes a PPM.
 *   stylize WEIGHTS CONTENT.ppm STYLE.ppm OUT.ppm [ITERATIONS] [SIZE] */
#define _POSIX_C_SOURCE 200809L
#include <nst/nst.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static nst_job* g_job; /* for the signal handler: nst_job_cancel is async-signal-safe */
static void on_sigint(int sig) {
  (void)sig;
  nst_job_cancel(g_job);
}

static unsigned char* read_ppm(const char* path, int* w, int* h) {
  FILE* f = fopen(path, "rb");
  unsigned char* px = NULL;
  int maxval;
  if (f && fscanf(f, "P6 %d %d %d", w, h, &maxval) == 3 && maxval == 255 && fgetc(f) != EOF && *w > 0 && *h > 0) {
    px = malloc((size_t)*w * *h * 3);
    if (px && fread(px, 3, (size_t)*w * *h, f) != (size_t)*w * *h) {
      free(px);
      px = NULL;
    }
  }
  if (f) fclose(f);
  if (!px) fprintf(stderr, "%s: not a binary PPM (P6, maxval 255)\n", path);
  return px;
}

static int progress(nst_job* job, const nst_progress* p, void* user) {
  (void)job;
  (void)user;
  fprintf(stderr, "iteration %d/%d  loss %.4e (content %.3e, style %.3e)  %.1fs, ETA %.1fs\n", p->iteration,
          p->iterations, p->loss_total, p->loss_content, p->loss_style, p->elapsed_seconds, p->eta_seconds);
  return 0; /* nonzero would stop the run */
}

static void log_line(int level, const char* message, void* user) {
  (void)user;
  fprintf(stderr, "nst[%d]: %s\n", level, message);
}

int main(int argc, char** argv) {
  nst_model* model = NULL;
  nst_job* job = NULL;
  nst_settings settings;
  nst_image content, style;
  nst_status st;
  int cw, ch, sw, sh, code = 1;
  int32_t w, h;
  unsigned char *cpx, *spx, *out = NULL;
  FILE* f;

  if (argc < 5) {
    fprintf(stderr, "usage: %s WEIGHTS CONTENT.ppm STYLE.ppm OUT.ppm [ITERATIONS] [SIZE]\n", argv[0]);
    return 2;
  }
  fprintf(stderr, "nst %s (headers %s)\n", nst_version(), NST_VERSION_STRING);
  cpx = read_ppm(argv[2], &cw, &ch);
  spx = read_ppm(argv[3], &sw, &sh);
  if (!cpx || !spx) return 1;

  st = nst_model_load_file(argv[1], NST_ABI_VERSION, &model);
  if (st != NST_OK) {
    fprintf(stderr, "%s: %s\n", nst_status_name(st), nst_last_error());
    return 1;
  }
  if (nst_job_create(model, &job) != NST_OK) goto done;
  nst_job_set_progress(job, progress, NULL);
  nst_job_set_log(job, log_line, NULL);
  g_job = job;
  signal(SIGINT, on_sigint);

  nst_settings_default(&settings);
  settings.iterations = argc > 5 ? atoi(argv[5]) : 100;
  settings.size = argc > 6 ? atoi(argv[6]) : 0; /* 0: the content's own size */
  content.pixels = cpx, content.width = cw, content.height = ch, content.stride = 0;
  style.pixels = spx, style.width = sw, style.height = sh, style.stride = 0;

  st = nst_job_run(job, &content, &style, 1, &settings);
  if (st != NST_OK && st != NST_CANCELLED) {
    fprintf(stderr, "%s: %s\n", nst_status_name(st), nst_job_error(job));
    goto done;
  }
  if (nst_job_output_size(job, &w, &h) != NST_OK) {
    fprintf(stderr, "cancelled before any image was computed\n");
    goto done;
  }
  out = malloc((size_t)w * h * 3); /* the caller owns the output */
  nst_job_read_output(job, out, 0);
  f = fopen(argv[4], "wb");
  if (f && fprintf(f, "P6\n%d %d\n255\n", (int)w, (int)h) > 0 && fwrite(out, 3, (size_t)w * h, f) == (size_t)w * h &&
      fclose(f) == 0) {
    fprintf(stderr, "wrote %s (%dx%d)%s\n", argv[4], (int)w, (int)h, st == NST_CANCELLED ? ", cancelled" : "");
    code = st == NST_OK ? 0 : 130;
  } else {
    fprintf(stderr, "%s: cannot write\n", argv[4]);
  }
done:
  free(out);
  free(cpx);
  free(spx);
  nst_job_free(job);
  nst_model_free(model);
  return code;
}
