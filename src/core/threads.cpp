#include "nst/threads.h"

#include <omp.h>

namespace nst {

ThreadCountScope::ThreadCountScope(int n) {
  if (n <= 0) return;
  previous_ = omp_get_max_threads();
  omp_set_num_threads(n);
}

ThreadCountScope::~ThreadCountScope() {
  if (previous_ > 0) omp_set_num_threads(previous_);
}

int current_thread_count() { return omp_get_max_threads(); }

}  // namespace nst
