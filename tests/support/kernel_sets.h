// Running a test body once per kernel set (nst/kernels/kernel_set.h) this CPU runs.
#pragma once

#include "nst/kernels/kernel_set.h"
#include "nst/tensor.h"

#include <doctest/doctest.h>
#include <omp.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace nst::testing {

// Runs body(set) with each available kernel set active, then restores the one active before;
// each set this build or CPU cannot run is skipped with a message naming it.
template <class F>
void each_kernel_set(F&& body) {
  using kernels::KernelSet;
  const KernelSet before = kernels::active_kernel_set();
  for (KernelSet set : {KernelSet::Portable, KernelSet::Avx2, KernelSet::Avx512}) {
    const std::string name = kernels::kernel_set_name(set);
    if (!kernels::kernel_set_available(set)) {
      MESSAGE("kernel set " << name << " skipped: not in this build, or this CPU lacks its instructions");
      continue;
    }
    CAPTURE(name);
    kernels::use_kernel_set(set);
    body(set);
  }
  kernels::use_kernel_set(before);
}

// A kernel's forward and input-gradient outputs (y, dx), from run() with the active kernel set and
// thread count: checks that they have the same bits for 1, 2 and 3 threads on every kernel set,
// and the same bits on the AVX2 and AVX-512 sets where this CPU runs both.
template <class Run>
void check_same_bits_for_threads_and_sets(Run&& run) {
  auto same = [](const Tensor<float>& a, const Tensor<float>& b) {
    return a.numel() == b.numel() &&
           std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.numel())) == 0;
  };
  std::vector<std::pair<Tensor<float>, Tensor<float>>> simd;  // (y, dx) of each SIMD set
  each_kernel_set([&](kernels::KernelSet set) {
    const int saved = omp_get_max_threads();
    std::vector<std::pair<Tensor<float>, Tensor<float>>> runs;
    for (int threads : {1, 2, 3, 2}) {
      omp_set_num_threads(threads);
      runs.push_back(run());
    }
    omp_set_num_threads(saved);
    for (size_t i = 1; i < runs.size(); ++i) {
      CAPTURE(i);
      CHECK(same(runs[0].first, runs[i].first));
      CHECK(same(runs[0].second, runs[i].second));
    }
    if (set != kernels::KernelSet::Portable) simd.push_back(std::move(runs[0]));
  });
  if (simd.size() == 2) {
    CHECK(same(simd[0].first, simd[1].first));
    CHECK(same(simd[0].second, simd[1].second));
  } else {
    MESSAGE("AVX2 vs AVX-512 bits not compared: this CPU runs " << simd.size() << " of the two sets");
  }
}

}  // namespace nst::testing
