#include "nst/io/atomic_file.h"

#include "nst/io/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace nst {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw OutputError(path + ": " + reason);
}

std::string errno_text(int err) { return std::strerror(err); }

// The process umask without changing it (umask() itself is set-and-return, not thread-safe).
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Umask:", 0) == 0) {
      try {
        return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8) & 0777u);
      } catch (const std::exception&) {
        break;
      }
    }
  }
  return 022;
}

// Owns the temporary file until it is published: closes the descriptor and unlinks the name
// on every early exit.
class TempFile {
 public:
  TempFile(std::string name, int fd) : name_(std::move(name)), fd_(fd) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!published_) ::unlink(name_.c_str());
  }
  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  // Closes the descriptor, returning close()'s errno (0 on success).
  int close() {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && errno != EINTR) return errno;  // Linux frees fd even on EINTR
    return 0;
  }
  void published() { published_ = true; }

 private:
  std::string name_;
  int fd_;
  bool published_ = false;
};

// Publishes `tmp` as `path` without ever replacing an existing `path`.
// Returns 0 or the errno of the failure (EEXIST when the target exists).
int publish_noreplace(const std::string& tmp, const std::string& path) {
#ifdef RENAME_NOREPLACE
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) return errno;
#endif
  // Filesystem without RENAME_NOREPLACE: link() never replaces either.
  if (::link(tmp.c_str(), path.c_str()) == 0) {
    ::unlink(tmp.c_str());  // the data now lives under `path`; a stray tmp name is harmless
    return 0;
  }
  if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP && errno != ENOSYS) return errno;
  // No hard links either (e.g. FAT): check, then rename. A file created between the two
  // calls would be replaced; no better primitive exists on such filesystems.
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return EEXIST;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return errno;
  return 0;
}

}  // namespace

namespace detail {

void write_file_atomically(const std::string& path, const std::vector<unsigned char>& bytes,
                           bool overwrite, const WriteFn& writer) {
  write_file_atomically(
      path, overwrite, [&](const ByteSink& put) { put(bytes.data(), bytes.size()); }, writer);
}

void write_file_atomically(const std::string& path, bool overwrite,
                           const std::function<void(const ByteSink& put)>& produce, const WriteFn& writer) {
  if (path.empty()) fail("(empty path)", "no output file name given");
  if (path.back() == '/') fail(path, "names a directory, not a file");

  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base == "." || base == "..") fail(path, "names a directory, not a file");

  // The target: absent, or (with overwrite) a regular file whose permissions we keep.
  mode_t mode = static_cast<mode_t>(0666 & ~current_umask());
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) fail(path, "is a directory");
    if (!overwrite) throw OutputExistsError(path + ": exists; not replaced");
    if (const char* kind = non_regular_kind(st.st_mode))
      fail(path, std::string("exists and is ") + kind + ", not a regular file; refusing to replace it");
    mode = static_cast<mode_t>(st.st_mode & 07777);
  } else if (errno != ENOENT && errno != ENOTDIR) {  // ENOTDIR: reported below
    fail(path, "cannot check the output path: " + errno_text(errno));
  }

  // The directory: must exist, be a directory, and be writable.
  struct stat dst;
  if (::stat(dir.c_str(), &dst) != 0) {
    if (errno == ENOENT) fail(path, "output directory '" + dir + "' does not exist");
    fail(path, "cannot access output directory '" + dir + "': " + errno_text(errno));
  }
  if (!S_ISDIR(dst.st_mode)) fail(path, "'" + dir + "' is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    fail(path, "output directory '" + dir + "' is not writable: " + errno_text(errno));

  std::string tmpl = dir + "/." + base + ".tmpXXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  if (fd < 0)
    fail(path, "cannot create a temporary file in '" + dir + "': " + errno_text(errno));
  TempFile tmp(std::string(name.data()), fd);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);

  if (::fchmod(fd, mode) != 0)
    fail(path, "cannot set permissions of '" + tmp.name() + "': " + errno_text(errno));

  // Write everything: retry on EINTR, continue after short writes.
  produce([&](const void* data, size_t size) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    size_t left = size;
    while (left > 0) {
      errno = 0;
      const ssize_t n = writer(fd, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail(path, "write failed: " + errno_text(errno));
      }
      if (n == 0) fail(path, "write failed: no progress (disk full?)");
      if (static_cast<size_t>(n) > left) fail(path, "write failed: writer reported too many bytes");
      p += n;
      left -= static_cast<size_t>(n);
    }
  });
  if (::fsync(fd) != 0) fail(path, "fsync failed: " + errno_text(errno));
  if (const int err = tmp.close()) fail(path, "close failed: " + errno_text(err));

  if (overwrite) {
    if (::rename(tmp.name().c_str(), path.c_str()) != 0)
      fail(path, "cannot rename the temporary file into place: " + errno_text(errno));
  } else if (const int err = publish_noreplace(tmp.name(), path)) {
    if (err == EEXIST) throw OutputExistsError(path + ": exists; not replaced");
    fail(path, "cannot move the temporary file into place: " + errno_text(err));
  }
  tmp.published();

  // Make the rename itself durable. EINVAL: the filesystem cannot sync directories.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail(path, "was written, but its directory could not be opened to sync: " + errno_text(errno));
  if (::fsync(dfd) != 0 && errno != EINVAL) {
    const int err = errno;
    ::close(dfd);
    fail(path, "was written, but syncing its directory failed: " + errno_text(err));
  }
  ::close(dfd);
}

}  // namespace detail

void write_file_atomically(const std::string& path, const std::vector<unsigned char>& bytes,
                           bool overwrite) {
  detail::write_file_atomically(path, bytes, overwrite,
                                [](int fd, const void* buf, size_t count) {
                                  return ::write(fd, buf, count);
                                });
}

void write_file_atomically(const std::string& path, bool overwrite,
                           const std::function<void(const ByteSink& put)>& produce) {
  detail::write_file_atomically(path, overwrite, produce,
                                [](int fd, const void* buf, size_t count) {
                                  return ::write(fd, buf, count);
                                });
}

}  // namespace nst
