// bench_ops: per-op timings for A/B comparisons between builds: max_pool2 (forward and
// backward) on VGG19's four max-pool shapes, and conv1_1 (3 -> 64 channels, 3x3, fused bias and
// ReLU: forward, and backward to the input) through the default path and, in the same process,
// forced onto Winograd. Random inputs, synthetic weights; median and spread (min..max) of the
// repeats' wall-clock times and the median of their CPU times, in milliseconds.
//
// Usage: bench_ops [--size 512] [--threads 1] [--repeats 9] [--only pool|conv1|conv1-auto|conv1-winograd]
//                  [--kernels avx512|avx2|portable]
#include "nst/autograd.h"
#include "nst/heap.h"
#include "nst/kernels/kernel_set.h"
#include "nst/ops/conv2d.h"
#include "nst/ops/pool.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <ctime>
#include <string>
#include <vector>

using namespace nst;

namespace {

using Clock = std::chrono::steady_clock;

Tensor<float> random_tensor(const Shape& shape, uint64_t seed, float lo = -1, float hi = 1) {
  Tensor<float> t(shape);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = u(rng);
  return t;
}

double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

// Runs setup() then times body() `repeats` times after one warm-up; prints the median and spread
// of the wall-clock time, and the median CPU time of the process (all threads): on a loaded
// machine the CPU time of a 1-thread run moves much less than its wall-clock time.
void timed(const std::string& what, int repeats, const std::function<void()>& setup, const std::function<void()>& body) {
  std::vector<double> t, c;
  for (int r = 0; r <= repeats; ++r) {
    setup();
    const auto t0 = Clock::now();
    const double c0 = cpu_ms();
    body();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (r > 0) t.push_back(ms), c.push_back(cpu_ms() - c0);
  }
  std::sort(t.begin(), t.end());
  std::sort(c.begin(), c.end());
  std::printf("%-28s median %8.3f ms  (min %.3f, max %.3f)  cpu median %8.3f ms\n", what.c_str(), t[t.size() / 2],
              t.front(), t.back(), c[c.size() / 2]);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t size = 512;
  int threads = 1, repeats = 9;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_ops: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--size") size = std::atoll(next());
    else if (a == "--threads") threads = std::atoi(next());
    else if (a == "--repeats") repeats = std::atoi(next());
    else if (a == "--only") only = next();
    else if (a == "--kernels") kernels::use_kernel_set(kernels::kernel_set_from_name(next()));
    else {
      std::fprintf(stderr, "usage: bench_ops [--size 512] [--threads 1] [--repeats 9] [--only pool|conv1|conv1-auto|conv1-winograd]\n"
                           "                 [--kernels avx512|avx2|portable]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  omp_set_num_threads(threads);
  retain_freed_memory();  // as the nst command does: no page faults from fresh feature maps
  if (only.empty() || only == "pool") {
    // VGG19's max-pools: after conv1_2, conv2_2, conv3_4, conv4_4.
    const int64_t C[] = {64, 128, 256, 512};
    for (int b = 0; b < 4; ++b) {
      const int64_t h = size >> b;
      const Tensor<float> x = random_tensor({1, C[b], h, h}, 1 + b);
      const Tensor<float> g = random_tensor({1, C[b], h / 2, h / 2}, 11 + b);
      const std::string name = "pool" + std::to_string(b + 1) + " " + std::to_string(C[b]) + "x" + std::to_string(h);
      Var<float> xv, yv;
      timed(name + " fwd", repeats, [&] { xv = leaf(x, true); }, [&] { yv = max_pool2(xv); });
      timed(name + " bwd", repeats, [&] { xv = leaf(x, true); yv = max_pool2(xv); }, [&] { backward(yv, g); });
    }
  }
  if (only.empty() || only.rfind("conv1", 0) == 0) {
    auto w = std::make_shared<const ConvWeights<float>>(
        std::make_shared<const Tensor<float>>(random_tensor({64, 3, 3, 3}, 31, -0.3f, 0.3f)));
    auto bias = std::make_shared<const Tensor<float>>(random_tensor({64}, 32, -0.1f, 0.1f));
    const Tensor<float> x = random_tensor({1, 3, size, size}, 33);
    const Tensor<float> g = random_tensor({1, 64, size, size}, 34);
    for (const ConvAlgo algo : {ConvAlgo::Auto, ConvAlgo::Winograd}) {
      if ((only == "conv1-auto" && algo != ConvAlgo::Auto) || (only == "conv1-winograd" && algo != ConvAlgo::Winograd))
        continue;
      const std::string name = std::string("conv1_1 ") + (algo == ConvAlgo::Auto ? "auto" : "winograd");
      Var<float> xv, yv;
      timed(name + " fwd", repeats, [&] { xv = leaf(x, true); }, [&] { yv = conv2d_bias_relu(xv, w, bias, 1, algo); });
      timed(name + " bwd", repeats, [&] { xv = leaf(x, true); yv = conv2d_bias_relu(xv, w, bias, 1, algo); },
            [&] { backward(yv, g); });
    }
  }
  return 0;
}
