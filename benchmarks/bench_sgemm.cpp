// bench_sgemm: nst::kernels::sgemm against Eigen 3.4's `noalias() = A*B` on the GEMM shapes
// of the Winograd convolution (step 2 of src/kernels/winograd.cpp) for VGG19, single-threaded.
//
// For each layer's (M, K) = (Co, Ci) forward and (Ci, Co) backward (A = U_ξᵀ, read with row
// stride 1 and column stride Ci), each n in --ns and row strides G = n and G = 4096 (B and C
// rows G apart): the median time of one call, GFLOP/s (2·M·N·K) for both and the speed ratio.
// Then a "36 positions" batch as the real use runs it: 36 different U_ξ, V_ξ, M_ξ (V and M
// (36, ·, G) with G = n, so the data comes from L3/memory), one GEMM per position and chunk of
// 1024 columns. Every case is checked against Eigen before it is timed (max |diff| / max |C|
// below 1e-5); a mismatch is reported, its timing skipped, and the program exits with 1.
// Times are the thread's CPU time (the machine is shared: waiting for the core is left out,
// contention for L3 and memory is not), median of --reps samples of at least --min-ms each.
//
// Run it pinned to one core: taskset -c 1 ./bench_sgemm [--reps 7] [--ns 128,256,1024]
//   [--strides 0,4096 (0: G = n)] [--batch-ns 256,1024] [--min-ms 2] [--only fwd|bwd]
//   [--kernels avx512|avx2|portable (default: the best this CPU runs)]
// Where BLIS is installed (Debian libblis-openmp-dev) it is timed on the same single calls too.
#include "nst/kernels/kernel_set.h"
#include "nst/kernels/sgemm.h"
#include "nst/kernels/winograd.h"
#include "nst/tensor.h"

#include <Eigen/Core>

#ifdef NST_BENCH_BLIS
#include <blis.h>
#endif

#include <algorithm>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Vec = std::vector<float, Eigen::aligned_allocator<float>>;
using nst::ConstStrided;
using nst::Strided;

struct Options {
  int reps = 7;
  double min_ms = 2;
  std::vector<int64_t> ns = {128, 256, 1024};
  std::vector<int64_t> batch_ns = {256, 1024};
  std::vector<int64_t> strides = {0, 4096};  // 0: G = n
  std::string only;
};

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) v.push_back(std::stoll(item));
  return v;
}

// CPU time of this thread (seconds): unlike the wall clock, it leaves out the time the thread
// waits while another process has the core (the machine is shared).
double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Median over reps of the thread CPU time per call (seconds), each sample repeating f enough
// times to last min_ms.
double median_time(const std::function<void()>& f, const Options& o) {
  f();  // warm
  const double t0 = cpu_now();
  f();
  const double once = cpu_now() - t0;
  const int inner = std::max(1, static_cast<int>(o.min_ms * 1e-3 / std::max(once, 1e-9)));
  std::vector<double> t;
  for (int r = 0; r < o.reps; ++r) {
    const double a = cpu_now();
    for (int i = 0; i < inner; ++i) f();
    t.push_back((cpu_now() - a) / inner);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void fill(Vec& v, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  for (float& x : v) x = u(rng);
}

// max |a - b| over the M x N block / max |b|.
double rel_diff(const float* a, const float* b, int64_t M, int64_t N, int64_t ld) {
  double scale = 0, diff = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      scale = std::max(scale, std::abs(static_cast<double>(b[i * ld + j])));
      diff = std::max(diff, std::abs(static_cast<double>(a[i * ld + j]) - b[i * ld + j]));
    }
  return diff / std::max(scale, 1e-30);
}

// One GEMM of the Winograd step: U is the (rows x cols) weight matrix of one position as
// stored, (M x K) forward, (K x M) backward, its rows u_ld(bwd, M, K) apart as in nst's U.
int64_t u_ld(bool bwd, int64_t M, int64_t K) { return nst::kernels::winograd_u_stride(bwd ? M : K); }

void eigen_gemm(bool bwd, int64_t M, int64_t N, int64_t K, const float* U, const float* V,
                int64_t G, float* out) {
  Strided<float> m(out, M, N, Eigen::OuterStride<>(G));
  const ConstStrided<float> v(V, K, N, Eigen::OuterStride<>(G));
  const int64_t ld = u_ld(bwd, M, K);
  if (bwd) {
    const ConstStrided<float> u(U, K, M, Eigen::OuterStride<>(ld));
    m.noalias() = u.transpose() * v;
  } else {
    const ConstStrided<float> u(U, M, K, Eigen::OuterStride<>(ld));
    m.noalias() = u * v;
  }
}

void nst_gemm(bool bwd, int64_t M, int64_t N, int64_t K, const float* U, const float* V, int64_t G,
              float* out) {
  const int64_t ld = u_ld(bwd, M, K);
  if (bwd)
    nst::kernels::sgemm(M, N, K, U, 1, ld, V, G, 1, out, G);
  else
    nst::kernels::sgemm(M, N, K, U, ld, 1, V, G, 1, out, G);
}

bool check(bool bwd, int64_t M, int64_t N, int64_t K, const float* U, const float* V, int64_t G,
           float* c1, float* c2) {
  eigen_gemm(bwd, M, N, K, U, V, G, c1);
  nst_gemm(bwd, M, N, K, U, V, G, c2);
  const double d = rel_diff(c2, c1, M, N, G);
  if (!(d < 1e-5)) {
    std::fprintf(stderr, "MISMATCH %s M=%lld N=%lld K=%lld G=%lld: rel diff %.3g\n",
                 bwd ? "bwd" : "fwd", static_cast<long long>(M), static_cast<long long>(N),
                 static_cast<long long>(K), static_cast<long long>(G), d);
    return false;
  }
  return true;
}


}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--reps") o.reps = std::stoi(next());
    else if (a == "--min-ms") o.min_ms = std::stod(next());
    else if (a == "--ns") o.ns = parse_list(next());
    else if (a == "--batch-ns") o.batch_ns = parse_list(next());
    else if (a == "--strides") o.strides = parse_list(next());
    else if (a == "--only") o.only = next();
    else if (a == "--kernels") nst::kernels::use_kernel_set(nst::kernels::kernel_set_from_name(next()));
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  std::printf("sgemm kernel set: %s (best on this CPU: %s); Eigen %d.%d.%d; median of %d\n",
              nst::kernels::kernel_set_name(nst::kernels::active_kernel_set()),
              nst::kernels::kernel_set_name(nst::kernels::best_kernel_set()),
              EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION, o.reps);

  // (Co, Ci) of the VGG19 3x3 layers (distinct shapes).
  const std::pair<int64_t, int64_t> layers[] = {{64, 3},    {64, 64},   {128, 64},  {128, 128},
                                                {256, 128}, {256, 256}, {512, 256}, {512, 512}};
  std::mt19937 rng(7);
  bool ok = true;
  double log_ratio = 0;
  int cases = 0;

  std::printf("\n%-4s %5s %5s %5s %5s | %9s %9s | %7s %7s | %6s\n", "dir", "M", "K", "n", "G",
              "nst us", "eigen us", "nst GF", "eig GF", "ratio");
  for (bool bwd : {false, true}) {
    if ((o.only == "fwd" && bwd) || (o.only == "bwd" && !bwd)) continue;
    for (auto [Co, Ci] : layers) {
      const int64_t M = bwd ? Ci : Co, K = bwd ? Co : Ci;
      Vec U(static_cast<size_t>((bwd ? K : M) * u_ld(bwd, M, K)));
      fill(U, rng);
      for (int64_t n : o.ns)
        for (int64_t gs : o.strides) {
          const int64_t G = gs ? std::max(gs, n) : n;
          if (gs && G == n) continue;
          Vec V(static_cast<size_t>(K * G)), c1(static_cast<size_t>(M * G)), c2(c1.size());
          fill(V, rng);
          if (!check(bwd, M, n, K, U.data(), V.data(), G, c1.data(), c2.data())) {
            ok = false;
            continue;
          }
          const double tn = median_time([&] { nst_gemm(bwd, M, n, K, U.data(), V.data(), G, c2.data()); }, o);
          const double te = median_time([&] { eigen_gemm(bwd, M, n, K, U.data(), V.data(), G, c1.data()); }, o);
          const double flop = 2.0 * static_cast<double>(M * n * K);
          std::printf("%-4s %5lld %5lld %5lld %5lld | %9.1f %9.1f | %7.1f %7.1f | %6.2f\n",
                      bwd ? "bwd" : "fwd", static_cast<long long>(M), static_cast<long long>(K),
                      static_cast<long long>(n), static_cast<long long>(G), tn * 1e6, te * 1e6,
                      flop / tn * 1e-9, flop / te * 1e-9, te / tn);
          log_ratio += std::log(te / tn);
          ++cases;
        }
    }
  }
  if (cases)
    std::printf("geometric mean speedup over Eigen: %.3f (%d cases)\n", std::exp(log_ratio / cases), cases);

  // 36 positions, each its own U_ξ and V_ξ, columns in chunks of 1024, as winograd.cpp does.
  std::printf("\n36 positions (V, M: 36 x . x G, G = n; chunks of 1024 columns)\n");
  std::printf("%-4s %5s %5s %5s | %9s %9s | %7s %7s | %6s\n", "dir", "M", "K", "n", "nst ms",
              "eigen ms", "nst GF", "eig GF", "ratio");
  double log_ratio36 = 0, total_n = 0, total_e = 0;
  int cases36 = 0;
  for (bool bwd : {false, true}) {
    if ((o.only == "fwd" && bwd) || (o.only == "bwd" && !bwd)) continue;
    for (auto [Co, Ci] : layers) {
      const int64_t M = bwd ? Ci : Co, K = bwd ? Co : Ci;
      Vec U(static_cast<size_t>(36 * M * K));
      fill(U, rng);
      for (int64_t n : o.batch_ns) {
        const int64_t G = n;
        Vec V(static_cast<size_t>(36 * K * G)), c1(static_cast<size_t>(36 * M * G)), c2(c1.size());
        fill(V, rng);
        auto run = [&](bool eigen, float* out) {
          for (int64_t xi = 0; xi < 36; ++xi)
            for (int64_t j0 = 0; j0 < n; j0 += 1024) {
              const int64_t jn = std::min<int64_t>(1024, n - j0);
              const float* u = U.data() + xi * M * K;
              const float* v = V.data() + xi * K * G + j0;
              float* m = out + xi * M * G + j0;
              if (eigen)
                eigen_gemm(bwd, M, jn, K, u, v, G, m);
              else
                nst_gemm(bwd, M, jn, K, u, v, G, m);
            }
        };
        run(true, c1.data());
        run(false, c2.data());
        const double d = rel_diff(c2.data(), c1.data(), 36 * M, n, G);
        if (!(d < 1e-5)) {
          std::fprintf(stderr, "MISMATCH 36-batch %s M=%lld K=%lld n=%lld: %.3g\n", bwd ? "bwd" : "fwd",
                       static_cast<long long>(M), static_cast<long long>(K), static_cast<long long>(n), d);
          ok = false;
          continue;
        }
        const double tn = median_time([&] { run(false, c2.data()); }, o);
        const double te = median_time([&] { run(true, c1.data()); }, o);
        const double flop = 72.0 * static_cast<double>(M * n * K);
        std::printf("%-4s %5lld %5lld %5lld | %9.3f %9.3f | %7.1f %7.1f | %6.2f\n", bwd ? "bwd" : "fwd",
                    static_cast<long long>(M), static_cast<long long>(K), static_cast<long long>(n),
                    tn * 1e3, te * 1e3, flop / tn * 1e-9, flop / te * 1e-9, te / tn);
        log_ratio36 += std::log(te / tn);
        total_n += tn;
        total_e += te;
        ++cases36;
      }
    }
  }
  if (cases36)
    std::printf("geometric mean speedup over Eigen (36 positions): %.3f (%d cases); "
                "total time %.1f ms vs %.1f ms: %.3fx\n",
                std::exp(log_ratio36 / cases36), cases36, total_n * 1e3, total_e * 1e3, total_e / total_n);
#ifdef NST_BENCH_BLIS
  // The same single calls through BLIS (bli_sgemm with general strides, one thread), checked
  // against Eigen like ours.
  bli_thread_set_num_threads(1);
  std::printf("\nBLIS %s, 1 thread, against nst (single calls, G = n)\n", bli_info_get_version_str());
  std::printf("%-4s %5s %5s %5s | %9s %9s | %7s %7s | %6s\n", "dir", "M", "K", "n", "nst us", "blis us", "nst GF",
              "blis GF", "nst/blis speed");
  for (bool bwd : {false, true}) {
    if ((o.only == "fwd" && bwd) || (o.only == "bwd" && !bwd)) continue;
    for (auto [Co, Ci] : layers) {
      const int64_t M = bwd ? Ci : Co, K = bwd ? Co : Ci;
      for (int64_t n : o.ns) {
        const int64_t G = n;
        Vec U(static_cast<size_t>(M * K)), V(static_cast<size_t>(K * G)), c1(static_cast<size_t>(M * G)), c2(c1.size());
        fill(U, rng);
        fill(V, rng);
        float one = 1, zero = 0;
        auto blis = [&] {
          // A (M x K): forward U row-major (rs K, cs 1); backward Uᵀ (rs 1, cs M).
          bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, M, n, K, &one, U.data(), bwd ? 1 : K, bwd ? M : 1, V.data(),
                    G, 1, &zero, c1.data(), G, 1);
        };
        blis();
        nst_gemm(bwd, M, n, K, U.data(), V.data(), G, c2.data());
        if (!(rel_diff(c2.data(), c1.data(), M, n, G) < 1e-5)) {
          std::fprintf(stderr, "MISMATCH blis %s M=%lld K=%lld n=%lld\n", bwd ? "bwd" : "fwd", static_cast<long long>(M),
                       static_cast<long long>(K), static_cast<long long>(n));
          ok = false;
          continue;
        }
        const double tn = median_time([&] { nst_gemm(bwd, M, n, K, U.data(), V.data(), G, c2.data()); }, o);
        const double tb = median_time(blis, o);
        const double flop = 2.0 * static_cast<double>(M * n * K);
        std::printf("%-4s %5lld %5lld %5lld | %9.1f %9.1f | %7.1f %7.1f | %6.2f\n", bwd ? "bwd" : "fwd",
                    static_cast<long long>(M), static_cast<long long>(K), static_cast<long long>(n), tn * 1e6,
                    tb * 1e6, flop / tn * 1e-9, flop / tb * 1e-9, tb / tn);
      }
    }
  }
#endif
  if (!ok) {
    std::fprintf(stderr, "sgemm disagrees with Eigen (or BLIS with it)\n");
    return 1;
  }
  return 0;
}
