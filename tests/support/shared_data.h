// The real VGG19 weights and test images in ../shared (never in the repository). Tests that need
// them call have_real_data() (or have_shared(paths) for other files) and return early, with a
// message, where they are absent: the one place that decides and says so.
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <initializer_list>
#include <string>

namespace nst::testing {

inline const std::string kShared = NST_SHARED_DIR;
inline const std::string kWeights = kShared + "/weights/vgg19-conv.safetensors";
inline const std::string kContent = kShared + "/images/tubingen.jpg";
inline const std::string kStyle = kShared + "/images/starry_night.jpg";

inline bool have_shared(std::initializer_list<std::string> paths) {
  for (const std::string& p : paths)
    if (access(p.c_str(), R_OK) != 0) {
      MESSAGE("skipped: " << p << " is absent (real weights and images live in ../shared)");
      return false;
    }
  return true;
}

inline bool have_real_data() { return have_shared({kWeights, kContent, kStyle}); }

}  // namespace nst::testing
