// Opening and reading a file that must be a regular file. The one place that checks a path is
// not a directory, FIFO, device or socket (opening a FIFO would block, reading a device may never
// end), checks it again on the open descriptor (the path may change in between), and bounds
// how much is read. Used by the image and weights readers, the CLI's input checks, and (for the
// names of file kinds) atomic output.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace nst {

// A failed open or read. what() is one line: "<path>: <reason>". Callers rethrow it as their
// own error type, adding hints that only they know.
struct FileError : std::runtime_error {
  enum class Kind {
    Missing,     // no such file (ENOENT)
    NotRegular,  // a directory, FIFO, device or socket
    TooLarge,    // more than max_bytes
    Denied,      // permission denied (EACCES)
    Other,       // any other OS error
  };
  FileError(const std::string& path, const std::string& reason, Kind kind);
  std::string reason;  // what() without the "<path>: " prefix
  Kind kind;
};

// "a directory", "a FIFO (named pipe)", "a character device", "a block device", "a socket",
// "not a regular file" for a stat mode that is not a regular file; nullptr for a regular file.
const char* non_regular_kind(mode_t mode);

// An open regular file; closes it on destruction.
class RegularFile {
 public:
  // Throws FileError. The kind is checked before opening (a FIFO would block open()), and again
  // on the descriptor.
  explicit RegularFile(const std::string& path);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }  // at open time

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The whole content of a regular file of at most max_bytes bytes. Throws FileError (TooLarge
// also when the file grows past max_bytes while it is read).
std::vector<unsigned char> read_regular_file(const std::string& path, uint64_t max_bytes);

}  // namespace nst
