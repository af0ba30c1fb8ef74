// bench_nst: how fast nst runs Gatys style transfer on this CPU, with the real VGG19 weights and
// the real images (tubingen content, starry_night style).
//
// For each image size and thread count it reports: forward time (VGG19 to relu5_1, no graph),
// the recorded forward + losses, the backward, one GatysLoss::evaluate with gradient, one full
// L-BFGS iteration (nst::stylize, median per-iteration time after warm-up), GFLOP/s against the
// direct-convolution FLOP count, per-layer convolution times, peak RSS, and a thread-scaling
// table (also an SVG plot). Before timing anything it checks the fast convolution path (the
// public conv2d op) against the naive reference, and against im2col on the full layer shapes, and
// aborts if they disagree.
//
// Every (size, threads) configuration runs in its own child process (this program re-executed
// with --child), so each gets a clean peak RSS (wait4's ru_maxrss) and a fresh OpenMP runtime.
//
// Images: by default center-cropped to a square and resized to size x size (--resize square);
// --resize longest resizes so the longest side is the size, as the nst command does. The style
// image gets the same treatment at the same size (style scale 1).
//
// Usage: bench_nst [--sizes 128,256,512] [--threads 1,2] [--repeats 3] [--iters 6] [--warmup 2]
//                  [--quick] [--full] [--svg FILE] [--resize square|longest] [--no-layers]
//                  [--layer-ref] [--history-fill] [--weights F] [--content F] [--style F]
//                  [--kernels avx512|avx2|portable]
//        bench_nst --compare --size S --threads T --iters N [--dump DIR] [--init content|random]
//          (one process, for compare_pytorch.py: per-iteration losses and times, RSS)
#include "center_square.h"
#include "nst/heap.h"
#include "nst/io/image.h"
#include "nst/model/preprocess.h"
#include "nst/model/vgg19.h"
#include "nst/ops/conv2d.h"
#include "nst/ops/elementwise.h"
#include "nst/kernels/kernel_set.h"
#include "nst/ops/gram.h"
#include "nst/ops/losses.h"
#include "nst/style/gatys.h"
#include "nst/style/stylize.h"

// The conv engine gains prepared weights (ConvWeights: the Winograd transform made once) with
// winograd.h; time and check through them where they exist, through the bare tensor otherwise.
#if __has_include("nst/kernels/winograd.h")
#define NST_BENCH_CONV_WEIGHTS 1
#include "nst/kernels/winograd.h"
#endif

#include <omp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace nst;

namespace {

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::vector<int> sizes{128, 256, 512};
  std::vector<int> threads{1, 2};
  int repeats = 3;   // timed repetitions of forward / evaluate / per-layer kernels (median)
  int iters = 6;     // L-BFGS iterations per configuration
  int warmup = 2;    // leading L-BFGS iterations left out of the median
  bool layers = true;
  bool system_heap = false;  // skip retain_freed_memory (to measure what it saves)
  bool layer_ref = false;     // also time the im2col reference kernels per layer
  bool history_fill = false;  // run history + 3 iterations so the L-BFGS history is full
  bool full_check = true;     // fast path vs im2col on the full layer shapes (first thread count)
  std::string resize = "square";
  std::string svg;
  std::string weights, content, style;
  // child / compare mode
  bool child = false, compare = false;
  std::string kernels;  // --kernels: a kernel set other than the best this CPU runs
  int size = 256, nthreads = 1;
  std::string dump, init = "content";
  HistoryPrecision precision = HistoryPrecision::Half;  // --lbfgs-precision, as the nst command
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "bench_nst: %s\n", msg.c_str());
  std::exit(2);
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 100000) die("bad list item \"" + item + "\" in \"" + s + "\"");
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) die("empty list");
  return out;
}

int parse_int(const std::string& s) { return parse_list(s).at(0); }

bool readable(const std::string& p) { return !p.empty() && access(p.c_str(), R_OK) == 0; }

// $ENV, then ../shared/..., ../../shared/... (from the repo root or a build directory).
std::string find_shared(const char* env, const std::string& rel) {
  if (const char* e = std::getenv(env); e && *e) return e;
  for (const char* base : {"../shared/", "../../shared/", "/work/shared/"})
    if (readable(base + rel)) return base + rel;
  return "../shared/" + rel;
}

void usage() {
  std::puts(
      "bench_nst: nst speed with the real VGG19 weights and images\n"
      "  --sizes LIST      image sizes (default 128,256,512; --full adds 1024)\n"
      "  --threads LIST    thread counts (default 1,2)\n"
      "  --repeats N       timed repetitions of forward/evaluate/per-layer (default 3, median)\n"
      "  --iters N         L-BFGS iterations per configuration (default 6)\n"
      "  --warmup N        leading L-BFGS iterations not timed (default 2)\n"
      "  --quick           sizes 128,256, repeats 2, iters 4, no full-shape check\n"
      "  --full            sizes 128,256,512,1024\n"
      "  --svg FILE        write the thread-scaling plot\n"
      "  --resize MODE     square (center crop, size x size; default) or longest (longest side = size)\n"
      "  --no-layers       skip the per-layer timings\n"
      "  --system-heap     leave glibc's heap policy as it is (no nst::retain_freed_memory)\n"
      "  --lbfgs-precision half|float   how L-BFGS stores its pairs (default half, as nst)\n"
      "  --layer-ref       also time the im2col reference kernels per layer\n"
      "  --no-full-check   skip the fast-vs-im2col check on full layer shapes\n"
      "  --history-fill    run history+3 L-BFGS iterations (peak RSS with a full history)\n"
      "  --kernels SET     run the kernel set avx512, avx2 or portable (default: the best this CPU runs)\n"
      "  --weights F --content F --style F   (default ../shared/weights/vgg19-conv.safetensors,\n"
      "                    ../shared/images/tubingen.jpg, starry_night.jpg; or $NST_WEIGHTS)\n"
      "  --compare --size S --threads T --iters N [--dump DIR] [--init content|random]\n"
      "                    one run for compare_pytorch.py: prints per-iteration losses and times");
}

Options parse(int argc, char** argv) {
  Options o;
  bool sizes_given = false, full = false, quick = false;
  auto need = [&](int& i) -> std::string {
    if (i + 1 >= argc) die(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (a == "--sizes") {
      o.sizes = parse_list(need(i));
      sizes_given = true;
    } else if (a == "--threads") {
      const std::string v = need(i);
      o.threads = parse_list(v);
      o.nthreads = o.threads[0];
    } else if (a == "--repeats") {
      o.repeats = parse_int(need(i));
    } else if (a == "--iters") {
      o.iters = parse_int(need(i));
    } else if (a == "--warmup") {
      const std::string v = need(i);
      o.warmup = v == "0" ? 0 : parse_int(v);
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--full") {
      full = true;
    } else if (a == "--svg") {
      o.svg = need(i);
    } else if (a == "--resize") {
      o.resize = need(i);
      if (o.resize != "square" && o.resize != "longest") die("--resize: square or longest");
    } else if (a == "--no-layers") {
      o.layers = false;
    } else if (a == "--system-heap") {
      o.system_heap = true;
    } else if (a == "--layer-ref") {
      o.layer_ref = true;
    } else if (a == "--no-full-check") {
      o.full_check = false;
    } else if (a == "--history-fill") {
      o.history_fill = true;
    } else if (a == "--weights") {
      o.weights = need(i);
    } else if (a == "--content") {
      o.content = need(i);
    } else if (a == "--style") {
      o.style = need(i);
    } else if (a == "--kernels") {
      o.kernels = need(i);
    } else if (a == "--child") {
      o.child = true;
    } else if (a == "--compare") {
      o.compare = true;
    } else if (a == "--size") {
      o.size = parse_int(need(i));
    } else if (a == "--dump") {
      o.dump = need(i);
    } else if (a == "--init") {
      o.init = need(i);
      if (o.init != "content" && o.init != "random") die("--init: content or random");
    } else if (a == "--lbfgs-precision") {
      const std::string p = need(i);
      if (p != "half" && p != "float") die("--lbfgs-precision: half or float");
      o.precision = p == "half" ? HistoryPrecision::Half : HistoryPrecision::Float;
    } else {
      die("unknown option " + a + " (see --help)");
    }
  }
  if (quick) {
    if (!sizes_given) o.sizes = {128, 256};
    o.repeats = std::min(o.repeats, 2);
    o.iters = std::min(o.iters, 4);
    o.full_check = false;
  }
  if (full && !sizes_given) o.sizes = {128, 256, 512, 1024};
  if (o.iters <= o.warmup) die("--iters must exceed --warmup");
  if (o.weights.empty()) o.weights = find_shared("NST_WEIGHTS", "weights/vgg19-conv.safetensors");
  if (o.content.empty()) o.content = find_shared("NST_CONTENT", "images/tubingen.jpg");
  if (o.style.empty()) o.style = find_shared("NST_STYLE", "images/starry_night.jpg");
  for (const std::string& p : {o.weights, o.content, o.style})
    if (!readable(p)) die(p + ": not readable (real weights and images live in ../shared; see --help)");
  return o;
}

// ---------------------------------------------------------------------------------------------
// Timing, statistics, FLOPs

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median of `repeats` timed runs of f after one untimed warm-up run.
double time_median(int repeats, const std::function<void()>& f) {
  f();
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    f();
    t.push_back(seconds_since(t0));
  }
  return median(t);
}

long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// The convolutions up to relu5_1 (13 in VGG19), from the network description: name, C, K,
// block (1-based; spatial = size >> (block-1)).
struct ConvLayer {
  const char* name;
  int64_t C, K;
  int block;
  int index;  // into Vgg19::convs
};
const std::vector<ConvLayer> kLayers = [] {
  const Network& net = vgg19_network();
  std::vector<ConvLayer> out;
  int64_t in = 3;
  for (size_t i = 0; i <= net.index("relu5_1"); ++i) {
    const LayerInfo& l = net.layers[i];
    if (l.kind != LayerKind::Conv) continue;
    out.push_back({l.name.c_str(), in, l.channels, l.pool_level + 1, l.conv});
    in = l.channels;
  }
  return out;
}();
// Style Gram layers (relu1_1..relu5_1): channels and block.
struct GramLayer {
  int64_t C;
  int block;
};
const std::vector<GramLayer> kGrams = [] {
  std::vector<GramLayer> out;
  for (const char* name : {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}) {
    const LayerInfo& l = vgg19_network().layer(name);
    out.push_back({l.channels, l.pool_level + 1});
  }
  return out;
}();

int64_t block_side(int64_t side, int block) {
  for (int b = 1; b < block; ++b) side /= 2;  // floor-mode pooling
  return side;
}

// Direct convolution: 2·K·C·9·H·W per forward, the same for backward-to-input.
double conv_flops(const ConvLayer& l, int64_t H, int64_t W) {
  return 2.0 * static_cast<double>(l.K * l.C * 9 * block_side(H, l.block) * block_side(W, l.block));
}

struct Flops {
  double conv_fwd = 0, gram_fwd = 0;
  double forward() const { return conv_fwd + gram_fwd; }
  double iteration() const { return 2 * (conv_fwd + gram_fwd); }  // backward: the same again
};

Flops count_flops(int64_t H, int64_t W) {
  Flops f;
  for (const ConvLayer& l : kLayers) f.conv_fwd += conv_flops(l, H, W);
  for (const GramLayer& g : kGrams)  // G = F Fᵀ: 2·C²·HW; its backward 2·C²·HW
    f.gram_fwd += 2.0 * static_cast<double>(g.C * g.C * block_side(H, g.block) * block_side(W, g.block));
  return f;
}

// ---------------------------------------------------------------------------------------------
// Images and network

Image prepare(const Image& img, int size, const std::string& mode) {
  if (mode == "square") return resize_image(bench::center_square(img), size, size);
  return resize_longest_side(img, size);
}

struct Setup {
  Vgg<float> net;
  Image content, style;
  Tensor<float> content_x, style_x;
};

// `use`: what the run reads of the model (all by default; nst/model/vgg19.h).
Setup load_setup(const Options& o, int size, const ModelUse& use = {}) {
  Setup s{load_vgg(o.weights, use), prepare(load_image(o.content), size, o.resize),
          prepare(load_image(o.style), size, o.resize), {}, {}};
  s.content_x = image_to_input(s.content, s.net.preprocess);
  s.style_x = image_to_input(s.style, s.net.preprocess);
  return s;
}

Tensor<float> random_tensor(const Shape& shape, uint64_t seed) {
  Tensor<float> t(shape);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = u(rng);
  return t;
}

// One layer's weights as the fast conv path takes them.
struct LayerWeights {
  std::shared_ptr<const Tensor<float>> tensor;
#ifdef NST_BENCH_CONV_WEIGHTS
  std::shared_ptr<const ConvWeights<float>> prepared;
  explicit LayerWeights(std::shared_ptr<const Tensor<float>> w)
      : tensor(w), prepared(std::make_shared<const ConvWeights<float>>(w)) {}
#else
  explicit LayerWeights(std::shared_ptr<const Tensor<float>> w) : tensor(std::move(w)) {}
#endif
  const float* data() const { return tensor->data(); }
};

// The fast path: the public conv2d op with its default algorithm choice.
Var<float> conv_fast(const Var<float>& x, const LayerWeights& w) {
#ifdef NST_BENCH_CONV_WEIGHTS
  return conv2d(x, w.prepared, 1);
#else
  return conv2d(x, w.tensor, 1);
#endif
}

// max|a - b| / max|b|
double rel_err(const float* a, const float* b, int64_t n) {
  double diff = 0, ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    ref = std::max(ref, std::abs(static_cast<double>(b[i])));
  }
  return diff / std::max(ref, 1e-30);
}

// ---------------------------------------------------------------------------------------------
// Correctness before timing: the fast path is the public conv2d op (whatever kernel it
// dispatches to); the references are the naive direct convolution (exact channel counts of each
// layer, a small spatial size with odd sides so borders and remainders are covered) and im2col on
// the full layer shape.

constexpr double kTolerance = 2e-3;  // max|fast - ref| / max|ref|; float Winograd stays well below

struct FastConv {
  Tensor<float> y, dx;
};

FastConv fast_conv(const Tensor<float>& x, const LayerWeights& w, const Tensor<float>& dy) {
  const Var<float> xv = leaf(x, true);
  const Var<float> yv = conv_fast(xv, w);
  FastConv out{yv.value(), {}};
  backward(yv, dy);
  out.dx = xv.grad();
  return out;
}

void check_layer(const char* what, const ConvLayer& l, const LayerWeights& w, int64_t H,
                 int64_t W, bool naive) {
  const ConvShape s{l.C, H, W, l.K, 3, 1};
  const Tensor<float> x = random_tensor({1, l.C, H, W}, 11), dy = random_tensor({1, l.K, H, W}, 12);
  const FastConv f = fast_conv(x, w, dy);
  Tensor<float> y_ref({1, l.K, H, W}), dx_ref({1, l.C, H, W});
  if (naive) {
    kernels::conv2d_forward_naive(s, x.data(), w.data(), y_ref.data());
    kernels::conv2d_backward_input_naive(s, dy.data(), w.data(), dx_ref.data());
  } else {
    kernels::conv2d_forward_im2col(s, x.data(), w.data(), y_ref.data());
    kernels::conv2d_backward_input_im2col(s, dy.data(), w.data(), dx_ref.data());
  }
  const double ef = rel_err(f.y.data(), y_ref.data(), y_ref.numel());
  const double eb = rel_err(f.dx.data(), dx_ref.data(), dx_ref.numel());
  std::printf("@check %s %s %lldx%lld %.3g %.3g\n", what, l.name, static_cast<long long>(H),
              static_cast<long long>(W), ef, eb);
  std::fflush(stdout);
  if (!(ef <= kTolerance) || !(eb <= kTolerance)) {
    std::fprintf(stderr,
                 "\nbench_nst: FAST CONVOLUTION DISAGREES WITH THE %s REFERENCE on %s (C=%lld K=%lld %lldx%lld): "
                 "forward error %.3g, backward error %.3g (tolerance %.1g). Not timing a wrong kernel.\n\n",
                 naive ? "NAIVE" : "IM2COL", l.name, static_cast<long long>(l.C), static_cast<long long>(l.K),
                 static_cast<long long>(H), static_cast<long long>(W), ef, eb, kTolerance);
    std::exit(3);
  }
}

void check_convs(const Vgg<float>& net, int64_t H, int64_t W, bool full) {
  for (const ConvLayer& l : kLayers) {
    const LayerWeights w(net.convs[static_cast<size_t>(l.index)].weights->tensor_ptr());
    // Keep the naive check near 50 MFLOP per direction: small sides for wide layers, always odd.
    const int64_t bh = block_side(H, l.block), bw = block_side(W, l.block);
    const double per_pixel = 2.0 * static_cast<double>(l.C * l.K * 9);
    const int64_t side = std::clamp<int64_t>(static_cast<int64_t>(std::sqrt(5e7 / per_pixel)), 5, 33) | 1;
    check_layer("naive", l, w, std::min(bh, side), std::min(bw, side + 2), true);
    if (full) check_layer("im2col", l, w, bh, bw, false);
  }
}

// ---------------------------------------------------------------------------------------------
// One configuration (child process)

const std::vector<std::string> kContentLayers{"relu4_2"};
const std::vector<std::string> kStyleLayers{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};

// The Gatys loss built from the public ops, as GatysLoss::evaluate builds it, so that the
// recorded forward (+ losses) and the backward can be timed apart.
struct SplitLoss {
  const Vgg<float>& net;
  std::vector<std::string> layers;
  std::shared_ptr<const Tensor<float>> content_target;
  std::vector<std::shared_ptr<const Tensor<float>>> style_targets;
  GatysConfig cfg;

  SplitLoss(const Vgg<float>& n, const Tensor<float>& content, const Tensor<float>& style) : net(n) {
    layers = kContentLayers;
    layers.insert(layers.end(), kStyleLayers.begin(), kStyleLayers.end());
    content_target = net.forward(constant(content), kContentLayers, Pooling::Max).at("relu4_2").value_ptr();
    auto feats = net.forward(constant(style), kStyleLayers, Pooling::Max);
    for (const auto& name : kStyleLayers) style_targets.push_back(gram(feats.at(name)).value_ptr());
  }

  Var<float> build(const Var<float>& image) const {
    std::vector<Var<float>> style;
    Var<float> content;
    {
      auto feats = net.forward(image, layers, Pooling::Max);
      content = mse(feats.at("relu4_2"), content_target);
      for (size_t l = 0; l < kStyleLayers.size(); ++l)
        style.push_back(scale(mse(gram(feats.at(kStyleLayers[l])), style_targets[l]), 1.0f));
    }
    std::vector<Var<float>> terms{scale(sum(std::vector<Var<float>>{content}), static_cast<float>(cfg.content_weight)),
                                  scale(sum(style), static_cast<float>(cfg.style_weight)),
                                  scale(total_variation(image), static_cast<float>(cfg.tv_weight))};
    return sum(terms);
  }
};

void out(const char* key, double v) {
  std::printf("@%s %.9g\n", key, v);
  std::fflush(stdout);
}

int run_child(const Options& o) {
  omp_set_num_threads(o.nthreads);
  const int T = o.nthreads;
  const Setup s = load_setup(o, o.size);
  const int64_t H = s.content_x.dim(2), W = s.content_x.dim(3);
  std::fprintf(stderr, "[%dx%d, %d thread%s] ", static_cast<int>(W), static_cast<int>(H), T, T == 1 ? "" : "s");
  out("H", static_cast<double>(H));
  out("W", static_cast<double>(W));
  out("rss_setup_kb", static_cast<double>(peak_rss_kb()));

  std::fprintf(stderr, "check ");
  check_convs(s.net, H, W, o.full_check);

  // Per-layer kernels through the public conv2d op (forward; backward-to-input via autograd).
  if (o.layers) {
    std::fprintf(stderr, "layers ");
    for (const ConvLayer& l : kLayers) {
      const int64_t h = block_side(H, l.block), w = block_side(W, l.block);
      const LayerWeights wt(s.net.convs[static_cast<size_t>(l.index)].weights->tensor_ptr());
      const Tensor<float> x = random_tensor({1, l.C, h, w}, 21), dy = random_tensor({1, l.K, h, w}, 22);
      const double fwd = time_median(o.repeats, [&] { (void)conv_fast(leaf(x, true), wt); });
      std::vector<double> tb;
      for (int r = 0; r <= o.repeats; ++r) {
        const Var<float> xv = leaf(x, true);
        const Var<float> yv = conv_fast(xv, wt);
        const auto t0 = Clock::now();
        backward(yv, dy);
        if (r > 0) tb.push_back(seconds_since(t0));  // r = 0: warm-up
      }
      double fref = NAN, bref = NAN;
      if (o.layer_ref) {
        const ConvShape cs{l.C, h, w, l.K, 3, 1};
        Tensor<float> y({1, l.K, h, w}), dx({1, l.C, h, w});
        fref = time_median(o.repeats, [&] { kernels::conv2d_forward_im2col(cs, x.data(), wt.data(), y.data()); });
        bref = time_median(o.repeats,
                           [&] { kernels::conv2d_backward_input_im2col(cs, dy.data(), wt.data(), dx.data()); });
      }
      std::printf("@layer %s %.9g %.9g %.9g %.9g\n", l.name, fwd, median(tb), fref, bref);
      std::fflush(stdout);
    }
  }

  // Whole network and loss.
  std::fprintf(stderr, "forward ");
  std::vector<std::string> all = kContentLayers;
  all.insert(all.end(), kStyleLayers.begin(), kStyleLayers.end());
  out("forward", time_median(o.repeats, [&] { (void)s.net.forward(constant(s.content_x), all, Pooling::Max); }));

  const SplitLoss split(s.net, s.content_x, s.style_x);
  const Tensor<float> x = random_tensor(s.content_x.shape(), 31);
  std::vector<double> tf, tb;
  double split_loss = 0;
  for (int r = 0; r <= o.repeats; ++r) {
    const Var<float> img = leaf(x, true);
    const auto t0 = Clock::now();
    const Var<float> total = split.build(img);
    const double f = seconds_since(t0);
    const auto t1 = Clock::now();
    backward(total);
    const double b = seconds_since(t1);
    split_loss = total.value()[0];
    if (r > 0) tf.push_back(f), tb.push_back(b);
  }
  out("forward_rec", median(tf));
  out("backward", median(tb));

  std::fprintf(stderr, "evaluate ");
  const GatysLoss<float> loss(s.net, s.content_x, {s.style_x}, {}, GatysConfig{});
  Tensor<float> grad(x.shape());
  LossTerms terms;
  out("evaluate", time_median(o.repeats, [&] {
        grad.fill(0);
        terms = loss.evaluate(x, &grad);
      }));
  if (std::abs(terms.total - split_loss) > 1e-4 * std::abs(terms.total))
    std::fprintf(stderr, "\nbench_nst: warning: split loss %.9g != GatysLoss %.9g\n", split_loss, terms.total);

  // Full L-BFGS iterations through the library's stylize().
  const int iters = o.history_fill ? 100 + 3 : o.iters;
  std::fprintf(stderr, "lbfgs(%d) ", iters);
  StylizeSettings st;
  st.iterations = iters;
  st.init = InitMode::Random;
  st.lbfgs_precision = o.precision;
  std::vector<double> stamps;
  StylizeCallbacks cb;
  cb.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>&) {
    stamps.push_back(p.seconds);
    return true;
  };
  const StylizeResult r = stylize(s.net, s.content, {s.style}, st, cb);
  std::vector<double> per_iter;
  for (size_t i = static_cast<size_t>(o.warmup); i < stamps.size(); ++i)
    per_iter.push_back(stamps[i] - (i ? stamps[i - 1] : 0.0));
  out("iteration", median(per_iter));
  out("iteration_min", *std::min_element(per_iter.begin(), per_iter.end()));
  out("iteration_max", *std::max_element(per_iter.begin(), per_iter.end()));
  out("final_loss", r.best.total);
  out("rss_kb", static_cast<double>(peak_rss_kb()));
  std::fprintf(stderr, "done\n");
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Compare mode: one process for compare_pytorch.py.

void write_raw(const std::string& path, const Tensor<float>& t) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.numel() * sizeof(float)));
  if (!f) die(path + ": write failed");
}

int run_compare(const Options& o) {
  omp_set_num_threads(o.nthreads);
  StylizeSettings st;
  st.iterations = o.iters;
  st.init = o.init == "content" ? InitMode::Content : InitMode::Random;
  st.lbfgs_precision = o.precision;
  // The model as the nst command loads it for the same run, so that the peak RSS is the command's.
  const Setup s = load_setup(o, o.size, model_use(st));
  const Shape& cs = s.content_x.shape();
  const Shape& ss = s.style_x.shape();
  std::printf("@shape_content %lld %lld %lld %lld\n", (long long)cs[0], (long long)cs[1], (long long)cs[2],
              (long long)cs[3]);
  std::printf("@shape_style %lld %lld %lld %lld\n", (long long)ss[0], (long long)ss[1], (long long)ss[2],
              (long long)ss[3]);
  std::printf("@threads %d\n", omp_get_max_threads());
  std::printf("@kernels %s\n", nst::kernels::kernel_set_name(nst::kernels::active_kernel_set()));
  if (!o.dump.empty()) {
    mkdir(o.dump.c_str(), 0755);
    write_raw(o.dump + "/content.f32", s.content_x);
    write_raw(o.dump + "/style.f32", s.style_x);
    // The loss and gradient at the content image, for a gradient comparison.
    const GatysLoss<float> loss(s.net, s.content_x, {s.style_x}, {}, GatysConfig{});
    Tensor<float> g(cs);
    const LossTerms t = loss.evaluate(s.content_x, &g);
    write_raw(o.dump + "/grad_content.f32", g);
    std::printf("@loss_at_content %.9g %.9g %.9g %.9g\n", t.total, t.content, t.style, t.tv);
  }
  std::fflush(stdout);
  StylizeCallbacks cb;
  cb.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>&) {
    std::printf("@iter %d %.9g %.9g %.9g %.9g %.6f\n", p.iteration, p.terms.total, p.terms.content, p.terms.style,
                p.terms.tv, p.seconds);
    std::fflush(stdout);
    return true;
  };
  (void)stylize(s.net, s.content, {s.style}, st, cb);
  std::printf("@rss_kb %ld\n", peak_rss_kb());
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Parent: run the children, gather, print tables, plot.

struct Result {
  int size = 0, threads = 0;
  std::map<std::string, double> v;
  struct Layer {
    std::string name;
    double fwd, bwd, fref, bref;
  };
  std::vector<Layer> layers;
  std::vector<std::string> checks;
  long child_rss_kb = 0;
  double load = 0;  // 1-minute load average when the configuration started
  bool ok = false;
};

Result run_config(const Options& o, const char* self, int size, int threads, bool full_check) {
  Result res;
  res.size = size;
  res.threads = threads;
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  res.load = load[0];
  std::fprintf(stderr, "(load %.2f) ", load[0]);
  std::vector<std::string> args{self, "--child", "--size", std::to_string(size), "--threads", std::to_string(threads),
                                "--repeats", std::to_string(o.repeats), "--iters", std::to_string(o.iters),
                                "--warmup", std::to_string(o.warmup), "--resize", o.resize, "--weights", o.weights,
                                "--content", o.content, "--style", o.style};
  if (!o.layers) args.push_back("--no-layers");
  if (o.system_heap) args.push_back("--system-heap");
  if (o.precision == HistoryPrecision::Float) args.insert(args.end(), {"--lbfgs-precision", "float"});
  if (o.layer_ref) args.push_back("--layer-ref");
  if (!full_check) args.push_back("--no-full-check");
  if (o.history_fill) args.push_back("--history-fill");
  if (!o.kernels.empty()) args.insert(args.end(), {"--kernels", o.kernels});
  int fd[2];
  if (pipe(fd) != 0) die("pipe failed");
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    dup2(fd[1], STDOUT_FILENO);
    close(fd[0]);
    close(fd[1]);
    setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    std::perror("bench_nst: exec");
    _exit(127);
  }
  close(fd[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(fd[0]);
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  res.child_rss_kb = ru.ru_maxrss;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind('@', 0) != 0) continue;
    std::istringstream ls(line.substr(1));
    std::string key;
    ls >> key;
    if (key == "layer") {
      Result::Layer l;
      ls >> l.name >> l.fwd >> l.bwd >> l.fref >> l.bref;
      res.layers.push_back(l);
    } else if (key == "check") {
      res.checks.push_back(line.substr(7));
    } else {
      double v = NAN;
      ls >> v;
      res.v[key] = v;
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "bench_nst: configuration %d px, %d threads failed (status %d)\n", size, threads, status);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) std::exit(3);  // the correctness check failed: stop
    return res;
  }
  res.ok = true;
  return res;
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

void write_svg(const std::string& path, const std::vector<Result>& results, const std::vector<int>& sizes,
               const std::vector<int>& threads) {
  const int maxT = *std::max_element(threads.begin(), threads.end());
  const double W = 640, H = 440, L = 70, R = 170, Tp = 50, B = 60;
  const double pw = W - L - R, ph = H - Tp - B;
  const double ymax = std::max(2.0, static_cast<double>(maxT)) * 1.05;
  auto X = [&](double t) { return L + (maxT > 1 ? (t - 1) / (maxT - 1) : 0.5) * pw; };
  auto Y = [&](double s) { return Tp + ph - (s - 0.0) / ymax * ph; };
  const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"" << W / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">nst: L-BFGS iteration speedup "
       "vs threads</text>\n";
  // axes and grid
  for (double yv = 0; yv <= ymax + 1e-9; yv += 0.5) {
    s << "<line x1=\"" << L << "\" x2=\"" << L + pw << "\" y1=\"" << Y(yv) << "\" y2=\"" << Y(yv)
      << "\" stroke=\"#ddd\"/>\n";
    s << "<text x=\"" << L - 8 << "\" y=\"" << Y(yv) + 4 << "\" text-anchor=\"end\">" << fmt("%.1f", yv) << "</text>\n";
  }
  for (int t : threads) {
    s << "<line x1=\"" << X(t) << "\" x2=\"" << X(t) << "\" y1=\"" << Tp << "\" y2=\"" << Tp + ph
      << "\" stroke=\"#eee\"/>\n";
    s << "<text x=\"" << X(t) << "\" y=\"" << Tp + ph + 18 << "\" text-anchor=\"middle\">" << t << "</text>\n";
  }
  s << "<rect x=\"" << L << "\" y=\"" << Tp << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"black\"/>\n";
  s << "<text x=\"" << L + pw / 2 << "\" y=\"" << H - 18 << "\" text-anchor=\"middle\">threads</text>\n";
  s << "<text transform=\"translate(20," << Tp + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">speedup vs 1 thread "
       "(median s/iteration)</text>\n";
  // ideal
  s << "<line x1=\"" << X(1) << "\" y1=\"" << Y(1) << "\" x2=\"" << X(maxT) << "\" y2=\"" << Y(std::min<double>(maxT, ymax))
    << "\" stroke=\"gray\" stroke-dasharray=\"6,4\"/>\n";
  double ly = Tp + 10;
  s << "<line x1=\"" << L + pw + 15 << "\" x2=\"" << L + pw + 40 << "\" y1=\"" << ly << "\" y2=\"" << ly
    << "\" stroke=\"gray\" stroke-dasharray=\"6,4\"/><text x=\"" << L + pw + 46 << "\" y=\"" << ly + 4
    << "\">ideal</text>\n";
  for (size_t si = 0; si < sizes.size(); ++si) {
    const char* c = colors[si % 6];
    double base = NAN;
    std::vector<std::pair<double, double>> pts;
    for (const Result& r : results)
      if (r.ok && r.size == sizes[si] && r.threads == 1) base = r.v.at("iteration");
    if (!std::isfinite(base)) continue;
    for (int t : threads)
      for (const Result& r : results)
        if (r.ok && r.size == sizes[si] && r.threads == t) pts.push_back({t, base / r.v.at("iteration")});
    s << "<polyline fill=\"none\" stroke=\"" << c << "\" stroke-width=\"2\" points=\"";
    for (auto& p : pts) s << X(p.first) << "," << Y(p.second) << " ";
    s << "\"/>\n";
    for (auto& p : pts)
      s << "<circle cx=\"" << X(p.first) << "\" cy=\"" << Y(p.second) << "\" r=\"4\" fill=\"" << c
        << "\"><title>" << sizes[si] << " px, " << p.first << " threads: " << fmt("%.2f", p.second)
        << "x</title></circle>\n";
    ly += 20;
    s << "<line x1=\"" << L + pw + 15 << "\" x2=\"" << L + pw + 40 << "\" y1=\"" << ly << "\" y2=\"" << ly
      << "\" stroke=\"" << c << "\" stroke-width=\"2\"/><text x=\"" << L + pw + 46 << "\" y=\"" << ly + 4 << "\">"
      << sizes[si] << " px" << (pts.size() > 1 ? " (" + fmt("%.2f", pts.back().second) + "x)" : std::string())
      << "</text>\n";
  }
  s << "</svg>\n";
  std::ofstream f(path);
  f << s.str();
  if (!f) die(path + ": write failed");
}

int run_parent(const Options& o, const char* self) {
  char host[256] = "?";
  gethostname(host, sizeof host);
  std::printf("# bench_nst\n\nkernel set %s (best on this CPU: %s); weights %s, content %s, style %s, resize %s; "
              "%ld online CPUs; repeats %d, L-BFGS iterations %d (median of the last %d)\n\n",
              nst::kernels::kernel_set_name(nst::kernels::active_kernel_set()),
              nst::kernels::kernel_set_name(nst::kernels::best_kernel_set()), o.weights.c_str(), o.content.c_str(),
              o.style.c_str(), o.resize.c_str(), sysconf(_SC_NPROCESSORS_ONLN),
              o.repeats, o.history_fill ? 103 : o.iters, (o.history_fill ? 103 : o.iters) - o.warmup);
  std::vector<Result> results;
  for (int size : o.sizes)
    for (size_t ti = 0; ti < o.threads.size(); ++ti) {
      results.push_back(run_config(o, self, size, o.threads[ti], o.full_check && ti == 0));
    }

  // Correctness summary.
  std::printf("## Fast conv path vs reference (max|fast-ref| / max|ref|, tolerance %.0e)\n\n", kTolerance);
  std::printf("| size | threads | reference | layer | shape | forward | backward |\n|---|---|---|---|---|---|---|\n");
  for (const Result& r : results)
    for (const std::string& c : r.checks) {
      std::istringstream cs(c);
      std::string ref, layer, shape, ef, eb;
      cs >> ref >> layer >> shape >> ef >> eb;
      if (layer == "conv1_1" || layer == "conv3_1" || layer == "conv4_2" || layer == "conv5_1")
        std::printf("| %d | %d | %s | %s | %s | %s | %s |\n", r.size, r.threads, ref.c_str(), layer.c_str(),
                    shape.c_str(), ef.c_str(), eb.c_str());
    }
  std::printf("\n(all 13 layers were checked; 4 shown)\n\n");

  std::printf("## Whole network (median seconds)\n\n");
  std::printf("| size | threads | forward (no grad) | forward+loss (recorded) | backward | evaluate (f+grad) | L-BFGS "
              "iteration | min..max | GFLOP/iter | GFLOP/s (iteration) | GFLOP/s (forward) | peak RSS MB | load |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Result& r : results) {
    if (!r.ok) continue;
    const Flops f = count_flops(static_cast<int64_t>(r.v.at("H")), static_cast<int64_t>(r.v.at("W")));
    std::printf("| %dx%d | %d | %.3f | %.3f | %.3f | %.3f | **%.3f** | %.3f..%.3f | %.1f | %.1f | %.1f | %.0f | %.1f |\n",
                static_cast<int>(r.v.at("W")), static_cast<int>(r.v.at("H")), r.threads, r.v.at("forward"),
                r.v.at("forward_rec"), r.v.at("backward"), r.v.at("evaluate"), r.v.at("iteration"),
                r.v.at("iteration_min"), r.v.at("iteration_max"), f.iteration() / 1e9,
                f.iteration() / 1e9 / r.v.at("iteration"), f.forward() / 1e9 / r.v.at("forward"),
                static_cast<double>(r.child_rss_kb) / 1024.0, r.load);
  }
  std::printf("\nGFLOP counts the direct convolution (2·K·C·9·H·W per conv forward, the same for backward-to-input, "
              "13 convs to relu5_1) plus the 5 Gram matrices (2·C²·HW forward, the same backward). Peak RSS is the "
              "child's ru_maxrss over the whole configuration (L-BFGS history: %d of 100 pairs filled).\n\n",
              o.history_fill ? 100 : o.iters);

  if (o.layers) {
    for (int size : o.sizes) {
      std::printf("## Per-layer conv times, %d px (ms, median; GFLOP/s in parentheses)\n\n| layer | C→K | HxW |", size);
      std::vector<const Result*> rs;
      for (const Result& r : results)
        if (r.ok && r.size == size && !r.layers.empty()) rs.push_back(&r);
      if (rs.empty()) continue;
      for (const Result* r : rs) std::printf(" fwd %dT | bwd %dT |", r->threads, r->threads);
      if (o.layer_ref) std::printf(" im2col fwd %dT | im2col bwd %dT |", rs[0]->threads, rs[0]->threads);
      std::printf("\n|---|---|---|");
      for (size_t i = 0; i < rs.size() * 2 + (o.layer_ref ? 2 : 0); ++i) std::printf("---|");
      std::printf("\n");
      const int64_t H = static_cast<int64_t>(rs[0]->v.at("H")), W = static_cast<int64_t>(rs[0]->v.at("W"));
      double tot[16] = {0};
      for (size_t li = 0; li < 13; ++li) {
        const ConvLayer& l = kLayers[li];
        const double fl = conv_flops(l, H, W);
        std::printf("| %s | %lld→%lld | %lldx%lld |", l.name, (long long)l.C, (long long)l.K,
                    (long long)block_side(W, l.block), (long long)block_side(H, l.block));
        size_t col = 0;
        for (const Result* r : rs) {
          const auto& L = r->layers.at(li);
          std::printf(" %.2f (%.0f) | %.2f (%.0f) |", L.fwd * 1e3, fl / L.fwd / 1e9, L.bwd * 1e3, fl / L.bwd / 1e9);
          tot[col++] += L.fwd;
          tot[col++] += L.bwd;
        }
        if (o.layer_ref) {
          const auto& L = rs[0]->layers.at(li);
          std::printf(" %.2f (%.0f) | %.2f (%.0f) |", L.fref * 1e3, fl / L.fref / 1e9, L.bref * 1e3, fl / L.bref / 1e9);
          tot[col++] += L.fref;
          tot[col++] += L.bref;
        }
        std::printf("\n");
      }
      const double fl_all = count_flops(H, W).conv_fwd;
      std::printf("| **sum** | | |");
      for (size_t c = 0; c < rs.size() * 2 + (o.layer_ref ? 2 : 0); ++c)
        std::printf(" %.1f (%.0f) |", tot[c] * 1e3, fl_all / tot[c] / 1e9);
      std::printf("\n\n");
    }
  }

  // Thread scaling.
  std::printf("## Thread scaling (L-BFGS iteration; forward; evaluate)\n\n");
  std::printf("| size | threads | s/iteration | speedup | efficiency | forward speedup | evaluate speedup |\n"
              "|---|---|---|---|---|---|---|\n");
  for (int size : o.sizes) {
    const Result* base = nullptr;
    for (const Result& r : results)
      if (r.ok && r.size == size && r.threads == 1) base = &r;
    for (const Result& r : results) {
      if (!r.ok || r.size != size) continue;
      if (!base) {
        std::printf("| %d | %d | %.3f | (no 1-thread run) | | | |\n", size, r.threads, r.v.at("iteration"));
        continue;
      }
      const double sp = base->v.at("iteration") / r.v.at("iteration");
      std::printf("| %d | %d | %.3f | %.2f | %.0f%% | %.2f | %.2f |\n", size, r.threads, r.v.at("iteration"), sp,
                  100 * sp / r.threads, base->v.at("forward") / r.v.at("forward"),
                  base->v.at("evaluate") / r.v.at("evaluate"));
    }
  }
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("\nload average at the end: %.2f %.2f %.2f (the cores may be shared: timings are noisy)\n", load[0],
              load[1], load[2]);
  if (!o.svg.empty()) {
    write_svg(o.svg, results, o.sizes, o.threads);
    std::printf("wrote %s\n", o.svg.c_str());
  }
  for (const Result& r : results)
    if (!r.ok) return 1;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    if (!o.system_heap) retain_freed_memory();  // as the nst command does
    if (!o.kernels.empty()) nst::kernels::use_kernel_set(nst::kernels::kernel_set_from_name(o.kernels));
    if (o.child) return run_child(o);
    if (o.compare) return run_compare(o);
    return run_parent(o, argv[0]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_nst: %s\n", e.what());
    return 1;
  }
}
