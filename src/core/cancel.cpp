#include "nst/cancel.h"

namespace nst {

namespace {
// The calling thread's innermost check; null outside any scope.
thread_local const std::function<bool()>* t_check = nullptr;
}  // namespace

CancelScope::CancelScope(std::function<bool()> check) : check_(std::move(check)), previous_(t_check) {
  if (check_) t_check = &check_;
}

CancelScope::~CancelScope() { t_check = previous_; }

void cancellation_point() {
  if (t_check && (*t_check)()) throw CancelledError();
}

}  // namespace nst
