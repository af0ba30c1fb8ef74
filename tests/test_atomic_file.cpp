// write_file_atomically: the target ends up with all the new bytes or keeps its old content,
// and no temporary file is left behind on failure.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "support/temp_dir.h"
#include "nst/io/atomic_file.h"

namespace fs = std::filesystem;
using nst::OutputError;
using nst::write_file_atomically;

namespace {

using nst::testing::TempDir;

std::vector<unsigned char> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_plain(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary);
  f << content;
}

std::string error_of(const std::string& path, const std::vector<unsigned char>& bytes, bool overwrite,
                     const nst::detail::WriteFn* writer = nullptr) {
  try {
    if (writer) nst::detail::write_file_atomically(path, bytes, overwrite, *writer);
    else write_file_atomically(path, bytes, overwrite);
  } catch (const OutputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("writes a new file, leaving nothing else in the directory") {
  TempDir dir;
  const std::string out = dir / "out.bin";
  std::vector<unsigned char> data(100000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 7 + 3);
  write_file_atomically(out, data, false);
  const std::string got = read_all(out);
  CHECK(std::vector<unsigned char>(got.begin(), got.end()) == data);
  CHECK(dir.list() == std::set<std::string>{"out.bin"});

  // Permissions follow the umask, not mkstemp's 0600.
  const mode_t mask = ::umask(022);
  ::umask(mask);
  struct stat st;
  REQUIRE(::stat(out.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == (0666 & ~mask));
}

TEST_CASE("an empty byte vector makes an empty file") {
  TempDir dir;
  write_file_atomically(dir / "empty", {}, false);
  CHECK(fs::file_size(dir / "empty") == 0);
}

TEST_CASE("an existing file is not replaced without overwrite") {
  TempDir dir;
  const std::string out = dir / "keep.txt";
  write_plain(out, "old content");
  const std::string msg = error_of(out, bytes_of("new"), false);
  CHECK(msg == out + ": exists; not replaced");  // the library does not know the CLI's flags
  CHECK_THROWS_AS(write_file_atomically(out, bytes_of("new"), false), nst::OutputExistsError);
  CHECK(read_all(out) == "old content");
  CHECK(dir.list() == std::set<std::string>{"keep.txt"});
}

TEST_CASE("overwrite replaces the content and keeps the file's permissions") {
  TempDir dir;
  const std::string out = dir / "f.txt";
  write_plain(out, "old content");
  REQUIRE(::chmod(out.c_str(), 0640) == 0);
  write_file_atomically(out, bytes_of("new"), true);
  CHECK(read_all(out) == "new");
  struct stat st;
  REQUIRE(::stat(out.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  CHECK(dir.list() == std::set<std::string>{"f.txt"});
}

TEST_CASE("a file appearing during the write is not replaced (no-replace publish)") {
  TempDir dir;
  const std::string out = dir / "race.txt";
  // The writer runs after the existence check: create the target there to lose the race.
  nst::detail::WriteFn racer = [&](int fd, const void* buf, size_t n) {
    if (!fs::exists(out)) write_plain(out, "winner");
    return ::write(fd, buf, n);
  };
  const std::string msg = error_of(out, bytes_of("loser"), false, &racer);
  CHECK(msg == out + ": exists; not replaced");
  CHECK(read_all(out) == "winner");
  CHECK(dir.list() == std::set<std::string>{"race.txt"});
}

TEST_CASE("an injected write failure keeps the old file and removes the temporary file") {
  TempDir dir;
  const std::string out = dir / "img.png";
  write_plain(out, "precious");
  size_t calls = 0;
  nst::detail::WriteFn full_disk = [&](int fd, const void* buf, size_t n) -> ssize_t {
    if (++calls == 1) return ::write(fd, buf, n < 10 ? n : 10);  // some bytes land first
    errno = ENOSPC;
    return -1;
  };
  const std::string msg = error_of(out, std::vector<unsigned char>(5000, 'x'), true, &full_disk);
  CHECK(msg.find(out + ": write failed: ") == 0);
  CHECK(msg.find(std::strerror(ENOSPC)) != std::string::npos);
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(read_all(out) == "precious");
  CHECK(dir.list() == std::set<std::string>{"img.png"});

  // The same for a new file: nothing at all is left.
  calls = 0;
  CHECK(!error_of(dir / "new.png", std::vector<unsigned char>(5000, 'x'), false, &full_disk).empty());
  CHECK(dir.list() == std::set<std::string>{"img.png"});
}

TEST_CASE("a writer making no progress is an error, not an endless loop") {
  TempDir dir;
  nst::detail::WriteFn stuck = [](int, const void*, size_t) -> ssize_t { return 0; };
  CHECK(error_of(dir / "a", bytes_of("abc"), false, &stuck).find("no progress") != std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("short writes and EINTR are retried until every byte is written") {
  TempDir dir;
  int calls = 0;
  nst::detail::WriteFn flaky = [&](int fd, const void* buf, size_t n) -> ssize_t {
    if (++calls % 3 == 0) {
      errno = EINTR;
      return -1;
    }
    return ::write(fd, buf, n < 7 ? n : 7);
  };
  std::string content;
  for (int i = 0; i < 100; ++i) content += std::to_string(i) + ",";
  nst::detail::write_file_atomically(dir / "s.txt", bytes_of(content), false, flaky);
  CHECK(read_all(dir / "s.txt") == content);
  CHECK(calls > 50);
  CHECK(dir.list() == std::set<std::string>{"s.txt"});
}

TEST_CASE("a missing output directory is reported and nothing is created") {
  TempDir dir;
  const std::string out = dir / "no_such_dir/out.png";
  const std::string msg = error_of(out, bytes_of("x"), false);
  CHECK(msg == out + ": output directory '" + dir.str() + "/no_such_dir' does not exist");
  CHECK(dir.list().empty());
}

TEST_CASE("bad targets: a directory, a path ending in '/', a file used as a directory, empty") {
  TempDir dir;
  fs::create_directory(dir / "sub");
  CHECK(error_of(dir / "sub", bytes_of("x"), true).find("is a directory") != std::string::npos);
  CHECK(error_of(dir / "sub/", bytes_of("x"), true).find("names a directory") != std::string::npos);
  write_plain(dir / "file", "f");
  CHECK(error_of(dir / "file/out.png", bytes_of("x"), false).find("is not a directory") !=
        std::string::npos);
  CHECK(error_of("", bytes_of("x"), false).find("no output file name") != std::string::npos);
  CHECK(dir.list() == std::set<std::string>{"file", "sub"});
}

TEST_CASE("overwrite refuses to replace a FIFO or device") {
  TempDir dir;
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  CHECK(error_of(dir / "fifo", bytes_of("x"), true).find("not a regular file") != std::string::npos);
  CHECK(error_of(dir / "fifo", bytes_of("x"), false).find("exists") != std::string::npos);
  CHECK(dir.list() == std::set<std::string>{"fifo"});
}

TEST_CASE("a read-only directory is reported") {
  TempDir dir;
  const std::string ro = dir / "ro";
  fs::create_directory(ro);
  REQUIRE(::chmod(ro.c_str(), 0555) == 0);
  // Root (and CAP_DAC_OVERRIDE) ignores the mode: then there is nothing to test.
  const std::string probe = ro + "/probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd >= 0) {
    ::close(fd);
    ::unlink(probe.c_str());
    MESSAGE("skipped: this process can write into a 0555 directory (running as root?)");
    return;
  }
  const std::string msg = error_of(ro + "/out.png", bytes_of("x"), false);
  CHECK(msg.find("is not writable") != std::string::npos);
  CHECK(fs::is_empty(ro));
}
