// Worker threads of one call, never of the whole process. OpenMP keeps the thread count of
// later parallel regions per thread (the nthreads-var ICV of the calling thread's task), so
// setting it here changes only regions started from this thread: other threads, and jobs
// running on them, keep theirs. The previous value is restored when the scope ends.
#pragma once

namespace nst {

class ThreadCountScope {
 public:
  // n > 0: parallel regions started from this thread use n threads; n == 0: unchanged.
  explicit ThreadCountScope(int n);
  ~ThreadCountScope();
  ThreadCountScope(const ThreadCountScope&) = delete;
  ThreadCountScope& operator=(const ThreadCountScope&) = delete;

 private:
  int previous_ = 0;  // 0: nothing to restore
};

// Threads a parallel region started from the calling thread would use now.
int current_thread_count();

}  // namespace nst
