// nst/heap.h: the heap policy that lets every L-BFGS evaluation reuse the previous one's blocks.
#include "nst/heap.h"
#include "support/sanitizer.h"

#include <doctest/doctest.h>

#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

namespace {

// Keeps the compiler from removing a malloc/memset/free sequence whose stores nothing reads.
void keep(char* p) { asm volatile("" : : "r"(p) : "memory"); }

long minor_faults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

}  // namespace

TEST_CASE("retain_freed_memory: a large block freed and allocated again is not faulted in again") {
#if !defined(__GLIBC__)
  MESSAGE("skipped: the heap policy is glibc's (mallopt); this C library is not glibc");
  return;
#endif
  if (nst::testing::kAsan) {
    MESSAGE("skipped: the sanitizer's allocator replaces glibc's, so mallopt has no effect");
    return;
  }
  REQUIRE(nst::retain_freed_memory());
  // 64 MiB, above glibc's largest mmap threshold (32 MiB): without the policy every allocation
  // is a fresh mapping, and touching it faults in all 16,384 of its pages again.
  constexpr size_t kBytes = size_t(64) << 20;
  constexpr long kPages = static_cast<long>(kBytes / 4096);
  for (int round = 0; round < 2; ++round) {  // the first round grows the heap
    char* p = static_cast<char*>(std::malloc(kBytes));
    REQUIRE(p != nullptr);
    std::memset(p, round + 1, kBytes);
    keep(p);
    std::free(p);
  }
  const long before = minor_faults();
  char* p = static_cast<char*>(std::malloc(kBytes));
  REQUIRE(p != nullptr);
  std::memset(p, 7, kBytes);
  keep(p);
  const long faults = minor_faults() - before;
  CHECK(p[kBytes - 1] == 7);
  std::free(p);
  INFO("minor faults touching a reused 64 MiB block: " << faults << " (a fresh one: " << kPages << ")");
  CHECK(faults < kPages / 16);
}
