// A fresh directory for a test's files, removed with everything in it (permissions restored
// first, so a test may make it read-only). The one TempDir of the suite:
//   TempDir dir;  dir.path("x.png") == dir / "x.png" == dir.str() + "/x.png";  dir.list()
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace nst::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/nst_test_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    REQUIRE(::mkdtemp(buf.data()) != nullptr);
    dir_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(dir_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& str() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string operator/(const std::string& name) const { return path(name); }
  // The names in the directory.
  std::set<std::string> list() const {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) names.insert(e.path().filename().string());
    return names;
  }

 private:
  std::string dir_;
};

}  // namespace nst::testing
