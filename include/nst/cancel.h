// Cancellation inside an evaluation. A front end that wants a run to stop promptly (a signal,
// a cancel button, another thread) installs a check for the duration of the call with
// CancelScope; long loops of the engine (the network's layers in forward, the graph's nodes in
// backward) call cancellation_point(), which throws CancelledError once the check returns true.
// lbfgs_minimize turns a CancelledError from its objective into LbfgsStop::Cancelled and keeps
// the best point evaluated before it, so stylize() returns the best image so far.
//
// The check is per thread: a scope affects only cancellation points reached on the thread that
// created it (the thread that called stylize()), so concurrent jobs on other threads are not
// affected. Scopes nest; the innermost one is used. The check must be cheap and must not throw
// (an atomic load is typical).
#pragma once

#include <functional>
#include <stdexcept>

namespace nst {

struct CancelledError : std::runtime_error {
  CancelledError() : std::runtime_error("cancelled") {}
};

class CancelScope {
 public:
  // An empty check installs nothing (cancellation points stay inert).
  explicit CancelScope(std::function<bool()> check);
  ~CancelScope();
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  std::function<bool()> check_;
  const std::function<bool()>* previous_;
};

// Throws CancelledError if the calling thread's innermost CancelScope says so.
void cancellation_point();

}  // namespace nst
