// Accuracy of the float convolutions on VGG19's real layers, against float64.
//
// Runs the real VGG19 (its weights file) on a real image in double, with im2col convolutions in
// double as the reference, layer by layer up to the deepest wanted conv. For each 3x3 conv layer
// it takes the layer's real input x (double), its weights w, and an upstream gradient dy (normal
// random values times the layer's ReLU mask, as the gradient arrives through relu), and measures
// against the double results
//   forward : y = conv(x, w)            (without bias)
//   backward: dx = conv_backward_input(dy, w)
// the float results (inputs rounded to float) of
//   - the library's Winograd F(4x4,3x3) on every kernel set this CPU runs,
//   - the band GEMM (nst/kernels/conv_gemm.h) where conv2d takes it (conv1_1), every kernel set,
//   - im2col in float (the direct convolution, Eigen's float GEMM),
//   - optionally (--points FILE) a model Winograd for other interpolation points: the transforms
//     as plain float matrix products with the file's A^T, G, B^T (benchmarks/winograd_points.py
//     --table FILE writes it), the products through the active kernel set's sgemm; the model with
//     nst's own points checks the model against the library. With --hp-input the model's
//     input transform runs in double (one rounding to float per value of V).
// Errors: relative L2, ‖ŷ − y‖ / ‖y‖, and max |ŷ − y| / max |y| (the test's measure).
//
// Then, end to end, the loss (nst's defaults: GatysLoss with GatysConfig{}) and its gradient at
// the content image, with the style image, in float through the library (Winograd on each
// kernel set, conv2d's own choice (Auto) on each, and im2col), against the same in double with
// im2col convolutions.
//
//   winograd_accuracy [--weights FILE] [--image FILE] [--style FILE] [--size N] [--layers N]
//                     [--points FILE] [--hp-input] [--seed S] [--no-loss]
#include "center_square.h"
#include "nst/io/image.h"
#include "nst/kernels/conv.h"
#include "nst/kernels/conv_gemm.h"
#include "nst/kernels/kernel_set.h"
#include "nst/kernels/sgemm.h"
#include "nst/kernels/winograd.h"
#include "nst/model/preprocess.h"
#include "nst/model/vgg19.h"
#include "nst/ops/conv2d.h"
#include "nst/style/gatys.h"
#include "nst/tensor.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace nst;

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "winograd_accuracy: %s\n", msg.c_str());
  std::exit(2);
}

struct Options {
  std::string weights = "../shared/weights/vgg19-conv.safetensors";
  std::string image = "../shared/images/tubingen.jpg";
  std::string style = "../shared/images/starry_night.jpg";
  bool loss = true;
  int size = 256;
  int layers = 13;  // conv1_1 .. conv5_1
  std::string points;
  bool hp_input = false;
  uint64_t seed = 1;
};

struct Errors {
  double l2 = 0, max = 0;
};

template <class A>
Errors errors(const A& got, const std::vector<double>& ref) {
  double num = 0, den = 0, maxerr = 0, maxref = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double e = static_cast<double>(got[i]) - ref[i];
    num += e * e;
    den += ref[i] * ref[i];
    maxerr = std::max(maxerr, std::abs(e));
    maxref = std::max(maxref, std::abs(ref[i]));
  }
  return {std::sqrt(num / den), maxerr / maxref};
}

// A point set's transforms, as read from winograd_points.py --table.
struct Transforms {
  std::string name;
  double AT[4][6], G[6][3], BT[6][6];
};

std::vector<Transforms> read_points(const std::string& path) {
  std::ifstream in(path);
  if (!in) die("cannot read " + path);
  std::vector<Transforms> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    Transforms t;
    ss >> t.name;
    for (auto& r : t.AT) for (double& v : r) ss >> v;
    for (auto& r : t.G) for (double& v : r) ss >> v;
    for (auto& r : t.BT) for (double& v : r) ss >> v;
    if (!ss) die("bad line in " + path + ": " + line);
    out.push_back(t);
  }
  return out;
}

// The model Winograd: float transforms as plain matrix products (terms in index order, zero
// coefficients skipped), U in double rounded once, products by kernels::sgemm. Backward (to the
// input) as the library does it: mirrored dy through U_ξᵀ, mirrored result.
struct ModelWinograd {
  const Transforms& t;
  bool hp_input;
  float at[4][6], bt[6][6];
  ModelWinograd(const Transforms& tr, bool hp) : t(tr), hp_input(hp) {
    for (int i = 0; i < 4; ++i) for (int j = 0; j < 6; ++j) at[i][j] = static_cast<float>(t.AT[i][j]);
    for (int i = 0; i < 6; ++i) for (int j = 0; j < 6; ++j) bt[i][j] = static_cast<float>(t.BT[i][j]);
  }

  // U: (36, K, C) from w (K, C, 3, 3) in double.
  std::vector<float> weights(int64_t K, int64_t C, const std::vector<double>& w) const {
    std::vector<float> U(static_cast<size_t>(36 * K * C));
    for (int64_t kc = 0; kc < K * C; ++kc) {
      const double* g = &w[static_cast<size_t>(kc * 9)];
      double gg[6][3];
      for (int i = 0; i < 6; ++i)
        for (int q = 0; q < 3; ++q) gg[i][q] = t.G[i][0] * g[q] + t.G[i][1] * g[3 + q] + t.G[i][2] * g[6 + q];
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j)
          U[static_cast<size_t>((i * 6 + j) * K * C + kc)] =
              static_cast<float>(gg[i][0] * t.G[j][0] + gg[i][1] * t.G[j][1] + gg[i][2] * t.G[j][2]);
    }
    return U;
  }

  template <class S>
  static S dot6(const S* coef, const S* v, int stride) {
    S acc = 0;
    bool first = true;
    for (int a = 0; a < 6; ++a) {
      if (coef[a] == S(0)) continue;
      const S term = coef[a] == S(1) ? v[a * stride] : coef[a] == S(-1) ? -v[a * stride] : coef[a] * v[a * stride];
      acc = first ? term : acc + term;
      first = false;
    }
    return acc;
  }

  // y (Co, H, W) = conv of x (Ci, H, W) with U (36, K, C) (transposed for backward).
  void run(int64_t Ci, int64_t Co, int64_t H, int64_t W, const float* x, const float* U, bool transpose_u,
           float* y) const {
    const int64_t tx_n = (W + 3) / 4, ty_n = (H + 3) / 4, T = tx_n * ty_n;
    std::vector<float> V(static_cast<size_t>(36 * Ci * T)), M(static_cast<size_t>(36 * Co * T));
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < Ci; ++c)
      for (int64_t ty = 0; ty < ty_n; ++ty)
        for (int64_t tx = 0; tx < tx_n; ++tx) {
          float d[6][6];
          for (int a = 0; a < 6; ++a)
            for (int b = 0; b < 6; ++b) {
              const int64_t yy = 4 * ty - 1 + a, xx = 4 * tx - 1 + b;
              d[a][b] = (yy < 0 || yy >= H || xx < 0 || xx >= W) ? 0.f : x[(c * H + yy) * W + xx];
            }
          float v[6][6];
          if (hp_input) {
            double dd[6][6], tmp[6][6];
            for (int a = 0; a < 6; ++a) for (int b = 0; b < 6; ++b) dd[a][b] = d[a][b];
            for (int i = 0; i < 6; ++i)
              for (int b = 0; b < 6; ++b) tmp[i][b] = dot6<double>(t.BT[i], &dd[0][b], 6);
            for (int i = 0; i < 6; ++i)
              for (int j = 0; j < 6; ++j) v[i][j] = static_cast<float>(dot6<double>(t.BT[j], tmp[i], 1));
          } else {
            float tmp[6][6];
            for (int i = 0; i < 6; ++i)
              for (int b = 0; b < 6; ++b) tmp[i][b] = dot6<float>(bt[i], &d[0][b], 6);
            for (int i = 0; i < 6; ++i)
              for (int j = 0; j < 6; ++j) v[i][j] = dot6<float>(bt[j], tmp[i], 1);
          }
          const int64_t tile = ty * tx_n + tx;
          for (int xi = 0; xi < 36; ++xi) V[static_cast<size_t>((xi * Ci + c) * T + tile)] = v[xi / 6][xi % 6];
        }
    // M_ξ (Co x T) = U_ξ (Co x Ci) · V_ξ, or U_ξᵀ when U is (36, Ci, Co) read transposed.
#pragma omp parallel for schedule(static)
    for (int xi = 0; xi < 36; ++xi) {
      const float* u = U + xi * Ci * Co;
      if (transpose_u)
        kernels::sgemm(Co, T, Ci, u, 1, Co, V.data() + xi * Ci * T, T, 1, M.data() + xi * Co * T, T);
      else
        kernels::sgemm(Co, T, Ci, u, Ci, 1, V.data() + xi * Ci * T, T, 1, M.data() + xi * Co * T, T);
    }
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < Co; ++k)
      for (int64_t ty = 0; ty < ty_n; ++ty)
        for (int64_t tx = 0; tx < tx_n; ++tx) {
          const int64_t tile = ty * tx_n + tx;
          float m[6][6], tmp[4][6];
          for (int xi = 0; xi < 36; ++xi) m[xi / 6][xi % 6] = M[static_cast<size_t>((xi * Co + k) * T + tile)];
          for (int a = 0; a < 4; ++a)
            for (int j = 0; j < 6; ++j) tmp[a][j] = dot6<float>(at[a], &m[0][j], 6);
          for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b) {
              const int64_t yy = 4 * ty + a, xx = 4 * tx + b;
              if (yy < H && xx < W) y[(k * H + yy) * W + xx] = dot6<float>(at[b], tmp[a], 1);
            }
        }
  }
};

std::vector<float> mirrored(int64_t C, int64_t H, int64_t W, const float* v) {
  std::vector<float> out(static_cast<size_t>(C * H * W));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i) out[static_cast<size_t>(c * H * W + i)] = v[c * H * W + (H * W - 1 - i)];
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto need = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--weights") o.weights = need();
    else if (a == "--image") o.image = need();
    else if (a == "--style") o.style = need();
    else if (a == "--no-loss") o.loss = false;
    else if (a == "--size") o.size = std::atoi(need().c_str());
    else if (a == "--layers") o.layers = std::atoi(need().c_str());
    else if (a == "--points") o.points = need();
    else if (a == "--hp-input") o.hp_input = true;
    else if (a == "--seed") o.seed = std::strtoull(need().c_str(), nullptr, 10);
    else if (a == "--help" || a == "-h") {
      std::printf("winograd_accuracy [--weights FILE] [--image FILE] [--style FILE] [--size N (256)]\n"
                  "                  [--layers N (13: to conv5_1)] [--points FILE] [--hp-input] [--seed S] [--no-loss]\n");
      return 0;
    } else {
      die("unknown option " + a);
    }
  }
  if (o.size < 16 || o.layers < 1 || o.layers > 16) die("--size >= 16, --layers 1..16");

  const Vgg<float> net = load_vgg(o.weights);
  const Image img = resize_image(bench::center_square(load_image(o.image)), o.size, o.size);
  const Tensor<float> x0 = image_to_input(img, net.preprocess);
  std::vector<Transforms> candidates;
  if (!o.points.empty()) candidates = read_points(o.points);

  std::vector<kernels::KernelSet> sets;
  for (kernels::KernelSet s : {kernels::KernelSet::Avx512, kernels::KernelSet::Avx2, kernels::KernelSet::Portable})
    if (kernels::kernel_set_available(s)) sets.push_back(s);
  const kernels::KernelSet best = kernels::best_kernel_set();

  std::printf("# Winograd F(4x4,3x3) accuracy against float64\n\nweights %s (%s), image %s at %dx%d, "
              "dy = N(0,1) * relu mask (seed %llu); errors: relative L2 / max|err| / max|ref|\n\n",
              o.weights.c_str(), to_string(net.preprocess), o.image.c_str(), o.size, o.size,
              static_cast<unsigned long long>(o.seed));
  std::printf("| layer | C→K | H×W | method | fwd rel L2 | fwd max | bwd rel L2 | bwd max |\n|---|---|---|---|---|---|---|---|\n");

  // The network in double, layer by layer.
  int64_t C = 3, H = img.height, W = img.width;
  std::vector<double> x(x0.numel());
  for (int64_t i = 0; i < x0.numel(); ++i) x[static_cast<size_t>(i)] = x0[i];
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> normal;
  const Network& network = *net.network;
  int conv = 0;
  for (size_t li = 0; li < network.layers.size() && conv < o.layers; ++li) {
    const LayerInfo& L = network.layers[li];
    if (L.kind == LayerKind::Pool) {
      const int64_t H2 = H / 2, W2 = W / 2;
      std::vector<double> p(static_cast<size_t>(C * H2 * W2));
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < H2; ++i)
          for (int64_t j = 0; j < W2; ++j) {
            const double* q = &x[static_cast<size_t>((c * H + 2 * i) * W + 2 * j)];
            p[static_cast<size_t>((c * H2 + i) * W2 + j)] = std::max({q[0], q[1], q[W], q[W + 1]});
          }
      x.swap(p);
      H = H2, W = W2;
      continue;
    }
    if (L.kind != LayerKind::Conv) continue;
    const auto& cv = net.convs[static_cast<size_t>(conv)];
    const int64_t K = cv.weights->shape()[0];
    const ConvShape s{C, H, W, K, 3, 1};
    const size_t nin = static_cast<size_t>(C * H * W), nout = static_cast<size_t>(K * H * W);
    std::vector<double> w(static_cast<size_t>(cv.weights->tensor().numel()));
    for (size_t i = 0; i < w.size(); ++i) w[i] = cv.weights->tensor()[static_cast<int64_t>(i)];

    // Reference in double.
    std::vector<double> y(nout), dy(nout), dx(nin, 0.0);
    kernels::conv2d_forward_im2col(s, x.data(), w.data(), y.data());
    for (size_t i = 0; i < nout; ++i) {
      const double pre = y[i] + static_cast<double>((*cv.bias)[static_cast<int64_t>(i / static_cast<size_t>(H * W))]);
      const double g = normal(rng);
      dy[i] = pre > 0 ? g : 0.0;
    }
    kernels::conv2d_backward_input_im2col(s, dy.data(), w.data(), dx.data());

    std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), dyf(dy.begin(), dy.end());
    auto row = [&](const std::string& method, const Errors& f, const Errors& b) {
      std::printf("| %s | %lld→%lld | %lld×%lld | %s | %.2e | %.2e | %.2e | %.2e |\n", L.name.c_str(),
                  static_cast<long long>(C), static_cast<long long>(K), static_cast<long long>(H),
                  static_cast<long long>(W), method.c_str(), f.l2, f.max, b.l2, b.max);
      std::fflush(stdout);
    };
    std::vector<float> yf(nout), dxf(nin);
    for (kernels::KernelSet set : sets) {
      kernels::use_kernel_set(set);
      std::vector<float> U(static_cast<size_t>(kernels::winograd_weights_size(K, C)));
      kernels::winograd_transform_weights(K, C, wf.data(), U.data());
      kernels::conv3x3_forward_winograd(s, xf.data(), U.data(), yf.data());
      kernels::conv3x3_backward_input_winograd(s, dyf.data(), U.data(), dxf.data(), nullptr, false);
      row(std::string("winograd ") + kernels::kernel_set_name(set), errors(yf, y), errors(dxf, dx));
      if (conv2d_uses_gemm<float>(s)) {  // what conv2d runs here instead of Winograd
        kernels::conv2d_forward_gemm(s, xf.data(), wf.data(), yf.data());
        kernels::conv2d_backward_input_gemm(s, dyf.data(), wf.data(), dxf.data(), nullptr, false);
        row(std::string("band gemm ") + kernels::kernel_set_name(set), errors(yf, y), errors(dxf, dx));
      }
    }
    kernels::use_kernel_set(best);
    kernels::conv2d_forward_im2col(s, xf.data(), wf.data(), yf.data());
    std::fill(dxf.begin(), dxf.end(), 0.f);
    kernels::conv2d_backward_input_im2col(s, dyf.data(), wf.data(), dxf.data());
    row("im2col", errors(yf, y), errors(dxf, dx));
    for (const Transforms& t : candidates) {
      const ModelWinograd m(t, o.hp_input);
      const std::vector<float> U = m.weights(K, C, w);
      m.run(C, K, H, W, xf.data(), U.data(), false, yf.data());
      const std::vector<float> dym = mirrored(K, H, W, dyf.data());
      std::vector<float> dxm(nin);
      m.run(K, C, H, W, dym.data(), U.data(), true, dxm.data());
      row("model " + t.name + (o.hp_input ? " hp" : ""), errors(yf, y), errors(mirrored(C, H, W, dxm.data()), dx));
    }

    // Next layer's input: relu(y + bias).
    for (size_t i = 0; i < nout; ++i)
      y[i] = std::max(0.0, y[i] + static_cast<double>((*cv.bias)[static_cast<int64_t>(i / static_cast<size_t>(H * W))]));
    x.swap(y);
    C = K;
    ++conv;
  }
  if (!o.loss) return 0;

  // End to end: loss and gradient at the content image.
  const Image style_img = resize_image(bench::center_square(load_image(o.style)), o.size, o.size);
  const Tensor<float> style_x = image_to_input(style_img, net.preprocess);
  Vgg<double> netd;
  netd.network = net.network;
  netd.preprocess = net.preprocess;
  netd.conv_algo = ConvAlgo::Im2col;
  for (const auto& c : net.convs) {
    typename Vgg<double>::Conv cd;
    cd.weights = std::make_shared<const ConvWeights<double>>(
        std::make_shared<const Tensor<double>>(c.weights->tensor().cast<double>()));
    cd.bias = std::make_shared<const Tensor<double>>(c.bias->cast<double>());
    netd.convs.push_back(cd);
  }
  const Tensor<double> xd = x0.cast<double>();
  const GatysLoss<double> lossd(netd, xd, {style_x.cast<double>()}, {}, GatysConfig{});
  Tensor<double> gd(xd.shape());
  const LossTerms td = lossd.evaluate(xd, &gd);
  std::vector<double> gref(gd.numel());
  for (int64_t i = 0; i < gd.numel(); ++i) gref[static_cast<size_t>(i)] = gd[i];
  std::printf("\n## Loss and gradient at the content image (nst's default loss, style %s), against float64 im2col\n\n"
              "float64: total %.9e (content %.6e, style %.6e, tv %.6e)\n\n"
              "| method | total loss rel. error | gradient rel L2 | gradient max |\n|---|---|---|---|\n",
              o.style.c_str(), td.total, td.content, td.style, td.tv);
  auto run_float = [&](const std::string& method, ConvAlgo algo) {
    Vgg<float> netf = net;
    netf.conv_algo = algo;
    const GatysLoss<float> lossf(netf, x0, {style_x}, {}, GatysConfig{});
    Tensor<float> gf(x0.shape());
    const LossTerms tf = lossf.evaluate(x0, &gf);
    const Errors e = errors(gf, gref);
    std::printf("| %s | %.2e | %.2e | %.2e |\n", method.c_str(), std::abs(tf.total - td.total) / std::abs(td.total), e.l2,
                e.max);
    std::fflush(stdout);
  };
  for (kernels::KernelSet set : sets) {
    kernels::use_kernel_set(set);
    run_float(std::string("winograd ") + kernels::kernel_set_name(set), ConvAlgo::Winograd);
    run_float(std::string("auto (conv1_1 band gemm) ") + kernels::kernel_set_name(set), ConvAlgo::Auto);
  }
  kernels::use_kernel_set(best);
  run_float("im2col", ConvAlgo::Im2col);
  return 0;
}
