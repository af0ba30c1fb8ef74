#include "nst/io/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nst {

FileError::FileError(const std::string& path, const std::string& why, Kind k)
    : std::runtime_error(path + ": " + why), reason(why), kind(k) {}

const char* non_regular_kind(mode_t mode) {
  if (S_ISREG(mode)) return nullptr;
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

namespace {

void check_kind(const std::string& path, const struct stat& st) {
  const char* kind = non_regular_kind(st.st_mode);
  if (!kind) return;
  const std::string k = kind;
  throw FileError(path, k == "not a regular file" ? "is not a regular file" : "is " + k + ", not a regular file",
                  FileError::Kind::NotRegular);
}

[[noreturn]] void fail_errno(const std::string& path, const std::string& doing, int err) {
  if (err == ENOENT) throw FileError(path, "no such file", FileError::Kind::Missing);
  if (err == ENOTDIR) throw FileError(path, "a component of the path is not a directory", FileError::Kind::Missing);
  if (err == EACCES) throw FileError(path, "cannot " + doing + ": permission denied", FileError::Kind::Denied);
  throw FileError(path, "cannot " + doing + ": " + std::strerror(err), FileError::Kind::Other);
}

std::string too_large(uint64_t size, uint64_t max_bytes) {
  return "file is " + std::to_string(size) + " bytes, larger than the limit of " + std::to_string(max_bytes) +
         " bytes";
}

}  // namespace

RegularFile::RegularFile(const std::string& path) {
  if (path.empty()) throw FileError("(empty path)", "no file name given", FileError::Kind::Missing);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail_errno(path, "access", errno);
  check_kind(path, st);
  // O_NONBLOCK: should the path have turned into a FIFO since stat, open must not hang.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd_ < 0) fail_errno(path, "be read", errno);
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    fail_errno(path, "stat the open file", err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    check_kind(path, st);
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<unsigned char> read_regular_file(const std::string& path, uint64_t max_bytes) {
  const RegularFile file(path);
  if (file.size() > max_bytes) throw FileError(path, too_large(file.size(), max_bytes), FileError::Kind::TooLarge);
  // Read up to one byte past the limit, so that a file that grew since fstat is caught.
  const uint64_t cap = max_bytes < UINT64_MAX ? max_bytes + 1 : max_bytes;
  std::vector<unsigned char> buf(static_cast<size_t>(std::min<uint64_t>(file.size() + 1, cap)));
  size_t got = 0;
  for (;;) {
    if (got == buf.size()) {
      if (got >= cap) break;
      buf.resize(static_cast<size_t>(std::min<uint64_t>(cap, uint64_t{got} * 2)));
    }
    const ssize_t n = ::read(file.fd(), buf.data() + got, buf.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno(path, "read", errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > max_bytes) throw FileError(path, too_large(got, max_bytes), FileError::Kind::TooLarge);
  buf.resize(got);
  return buf;
}

}  // namespace nst
