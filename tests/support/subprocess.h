// Test helper (header-only): runs a program (the nst binary) as a child process with its stderr
// on a pipe, so tests can wait for a line, send signals, bound the time and read exit codes.
//
//   Child c({NST_BINARY, "--size", "0"});
//   const Exit e = c.finish(10.0);   // e.code == 64, e.err == "nst: ...\n"
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace nst::testing {

struct Exit {
  bool exited = false;    // normal exit (code valid)
  int code = -1;          // exit status
  int signal = 0;         // the signal that killed it, if any
  bool timed_out = false; // we had to SIGKILL it
  std::string err;        // everything it wrote to stderr
  double seconds = 0;     // from start to exit
  long max_rss_kb = 0;    // peak resident set size of the child (wait4's rusage)
};

class Child {
 public:
  // argv[0] is the program path. `in_child` runs in the child before exec (e.g. setrlimit).
  explicit Child(const std::vector<std::string>& argv, const std::function<void()>& in_child = {}) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    start_ = std::chrono::steady_clock::now();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      dup2(fds[1], 2);
      const int devnull = open("/dev/null", O_RDWR);
      dup2(devnull, 0);
      dup2(devnull, 1);
      // Default dispositions and an empty mask: the test runner's must not leak into the child.
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      if (in_child) in_child();
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& err() const { return err_; }
  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  // Reads stderr until it contains `text` (true) or EOF / `timeout` seconds pass (false).
  bool wait_for(const std::string& text, double timeout) {
    const double until = elapsed() + timeout;
    while (err_.find(text) == std::string::npos) {
      if (fd_ < 0 || elapsed() >= until) return false;
      read_some(until - elapsed());
    }
    return true;
  }

  void send(int sig) { kill(pid_, sig); }

  // Reads stderr to EOF and reaps the child; SIGKILLs it after `timeout` seconds.
  Exit finish(double timeout) {
    Exit e;
    const double until = elapsed() + timeout;
    while (fd_ >= 0 && elapsed() < until) read_some(until - elapsed());
    if (fd_ >= 0) {
      e.timed_out = true;
      kill(pid_, SIGKILL);
    }
    int status = 0;
    rusage usage{};
    wait4(pid_, &status, 0, &usage);
    e.max_rss_kb = usage.ru_maxrss;
    e.seconds = elapsed();
    pid_ = -1;
    e.exited = WIFEXITED(status);
    if (e.exited) e.code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
    while (fd_ >= 0) read_some(1.0);
    e.err = err_;
    return e;
  }

 private:
  void read_some(double timeout) {
    pollfd p{fd_, POLLIN, 0};
    const int ms = timeout <= 0 ? 0 : static_cast<int>(timeout * 1000) + 1;
    if (poll(&p, 1, ms) <= 0) return;
    char buf[4096];
    const ssize_t n = read(fd_, buf, sizeof buf);
    if (n > 0) {
      err_.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      close(fd_);
      fd_ = -1;
    }
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string err_;
  std::chrono::steady_clock::time_point start_;
};

// Runs to completion (bounded by `timeout` seconds).
inline Exit run_child(const std::vector<std::string>& argv, double timeout = 60,
                      const std::function<void()>& in_child = {}) {
  Child c(argv, in_child);
  return c.finish(timeout);
}

}  // namespace nst::testing
