#include "cli/loss_log.h"


#include "nst/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace nst::cli {

const std::string& loss_log_header() {
  static const std::string header = "iteration,total,content,style,tv,seconds\n";
  return header;
}

const std::string& loss_log_header(bool multi_scale) {
  static const std::string header = "iteration,total,content,style,tv,seconds,scale,size\n";
  return multi_scale ? header : loss_log_header();
}

std::string loss_log_row(const StylizeProgress& p) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%d,%.9g,%.9g,%.9g,%.9g,%.3f", p.iteration, p.terms.total, p.terms.content,
                p.terms.style, p.terms.tv, p.seconds);
  std::string row = buf;
  if (p.scales > 1) row += "," + std::to_string(p.scale) + "," + std::to_string(std::max(p.width, p.height));
  return row + "\n";
}

std::string loss_log_saved_row(const LossTerms& t, double seconds) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "saved,%.9g,%.9g,%.9g,%.9g,%.3f\n", t.total, t.content, t.style, t.tv, seconds);
  return buf;
}

LossLog::LossLog(const std::string& path, const std::string& initial, bool overwrite) : path_(path), size_(initial.size()) {
  write_file_atomically(path, std::vector<unsigned char>(initial.begin(), initial.end()), overwrite);
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
  if (fd_ < 0) throw OutputError(path + ": cannot reopen the loss log to append: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) != size_) {
    ::close(fd_);
    fd_ = -1;
    throw OutputError(path + ": the loss log changed while it was being created");
  }
}

LossLog::~LossLog() {
  if (fd_ >= 0) ::close(fd_);
}

void LossLog::append(const std::string& row) {
  if (fd_ < 0) throw OutputError(path_ + ": the loss log is closed after an earlier failure");
  // One write() of the whole line: a reader sees all of it or none. A short write (disk full)
  // is undone so that the file never ends in a partial row.
  ssize_t n;
  do n = ::write(fd_, row.data(), row.size());
  while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(row.size())) {
    size_ += row.size();
    return;
  }
  const int err = n < 0 ? errno : ENOSPC;
  if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
    // Nothing more can be done; the row is cut short.
  }
  ::close(fd_);
  fd_ = -1;
  throw OutputError(path_ + ": cannot append to the loss log: " + std::strerror(err));
}

}  // namespace nst::cli
