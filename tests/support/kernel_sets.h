// Running a test body once per kernel set (nst/kernels/kernel_set.h) this CPU runs.
#pragma once

#include "nst/kernels/kernel_set.h"

#include <doctest/doctest.h>

#include <string>

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

}  // namespace nst::testing
