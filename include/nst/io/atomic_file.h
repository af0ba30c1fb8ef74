// Atomic file output: a file at `path` either keeps its old content or gets all of `bytes`,
// never a mix, even if the process dies or the disk fills up half way.
//
// How: write a temporary file ".<basename>.tmpXXXXXX" in the same directory, fsync it, rename
// it over the target, fsync the directory. Without `overwrite` the final step refuses to
// replace a file that appeared in the meantime (renameat2 RENAME_NOREPLACE, else link()).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace nst {

// Any failure to produce an output file. what() is one line: "<path>: <reason>".
struct OutputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The output file exists and overwriting was not allowed: "<path>: exists; not replaced".
// (Front ends say how to allow it.)
struct OutputExistsError : OutputError {
  using OutputError::OutputError;
};

// Throws OutputExistsError if the path exists and !overwrite; OutputError if the target is a directory or not a regular file, its directory is missing or not
// writable, or any write/fsync/close/rename fails (with the errno text). On failure the
// temporary file is removed and an existing target is left untouched.
void write_file_atomically(const std::string& path, const std::vector<unsigned char>& bytes,
                           bool overwrite);

// Receives the file's bytes in pieces (see below).
using ByteSink = std::function<void(const void* data, size_t size)>;

// The same, with the content produced in pieces: `produce` calls `put` as often as it likes,
// so a large file (a checkpoint) needs no copy in memory. An exception from `produce` removes
// the temporary file and propagates.
void write_file_atomically(const std::string& path, bool overwrite,
                           const std::function<void(const ByteSink& put)>& produce);

namespace detail {
// Signature of ::write(fd, buf, count). Returns bytes written or -1 with errno set.
using WriteFn = std::function<ssize_t(int fd, const void* buf, size_t count)>;

// Test seam: the same as above, with every write of file data going through `writer`
// (e.g. one that fails with ENOSPC after some bytes).
void write_file_atomically(const std::string& path, const std::vector<unsigned char>& bytes,
                           bool overwrite, const WriteFn& writer);
void write_file_atomically(const std::string& path, bool overwrite,
                           const std::function<void(const ByteSink& put)>& produce, const WriteFn& writer);
}  // namespace detail

}  // namespace nst
