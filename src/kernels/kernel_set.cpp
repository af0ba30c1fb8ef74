#include "nst/kernels/kernel_set.h"

#include "table.h"

#include <atomic>
#include <stdexcept>

namespace nst::kernels {

namespace {

constexpr KernelSet kAll[] = {KernelSet::Avx512, KernelSet::Avx2, KernelSet::Portable};  // best first

const KernelTable* table_of(KernelSet set) {
  switch (set) {
    case KernelSet::Portable: return portable_table();
    case KernelSet::Avx2: return avx2_table();
    case KernelSet::Avx512: return avx512_table();
  }
  return nullptr;
}

bool cpu_runs(KernelSet set) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // (GCC and clang also check that the OS saves the vector registers)
  switch (set) {
    case KernelSet::Portable: return true;
    case KernelSet::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case KernelSet::Avx512:
      return cpu_runs(KernelSet::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  }
  return false;
#else
  return set == KernelSet::Portable;
#endif
}

std::atomic<const KernelTable*> g_active{nullptr};

}  // namespace

const char* kernel_set_name(KernelSet set) {
  switch (set) {
    case KernelSet::Portable: return "portable";
    case KernelSet::Avx2: return "avx2";
    case KernelSet::Avx512: return "avx512";
  }
  return "?";
}

KernelSet kernel_set_from_name(const std::string& name) {
  for (KernelSet s : kAll)
    if (name == kernel_set_name(s)) return s;
  throw std::invalid_argument("unknown kernel set '" + name + "' (expected avx512, avx2 or portable)");
}

bool kernel_set_available(KernelSet set) { return table_of(set) != nullptr && cpu_runs(set); }

KernelSet best_kernel_set() {
  for (KernelSet s : kAll)
    if (kernel_set_available(s)) return s;
  return KernelSet::Portable;
}

KernelSet active_kernel_set() { return active_table().set; }

void use_kernel_set(KernelSet set) {
  if (!table_of(set))
    throw std::invalid_argument(std::string("kernel set ") + kernel_set_name(set) + " is not compiled into this build");
  if (!cpu_runs(set))
    throw std::invalid_argument(std::string("kernel set ") + kernel_set_name(set) + " needs instructions this CPU lacks");
  g_active.store(table_of(set), std::memory_order_release);
}

const KernelTable& active_table() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  if (!t) {  // first use: the best set (a race here stores the same table twice)
    t = table_of(best_kernel_set());
    g_active.store(t, std::memory_order_release);
  }
  return *t;
}

}  // namespace nst::kernels
