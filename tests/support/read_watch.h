// Test helper (header-only): did anyone read (or open) this file since the watch started? For
// "refused before any heavy work" checks that do not depend on how loaded the machine is: the
// weights were never read, rather than "it took under a second".
//
//   ReadWatch weights(path);            // before the run
//   ... run nst ...
//   CHECK_FALSE(weights.read());        // no read() of the file's data happened
#pragma once

#include <doctest/doctest.h>

#include <sys/inotify.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace nst::testing {

class ReadWatch {
 public:
  explicit ReadWatch(const std::string& path) : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    REQUIRE(fd_ >= 0);
    REQUIRE(inotify_add_watch(fd_, path.c_str(), IN_ACCESS | IN_OPEN) >= 0);
  }
  ~ReadWatch() { ::close(fd_); }
  ReadWatch(const ReadWatch&) = delete;
  ReadWatch& operator=(const ReadWatch&) = delete;

  // True if the file's data was read since the watch started (or the last call).
  bool read() { return drain(IN_ACCESS); }
  // True if the file was opened since the watch started (or the last call).
  bool opened() { return drain(IN_OPEN); }

 private:
  bool drain(uint32_t mask) {
    alignas(inotify_event) char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      for (ssize_t at = 0; at < n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
        seen_ |= e->mask;
        at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
      }
    }
    const bool hit = (seen_ & mask) != 0;
    seen_ &= ~mask;
    return hit;
  }
  int fd_;
  uint32_t seen_ = 0;
};

}  // namespace nst::testing
