// The code each fuzz target runs on one input, shared by the libFuzzer targets (fuzz_*.cpp,
// built with -DNST_FUZZ=ON and clang) and tests/test_fuzz_corpora.cpp, which replays the
// committed corpora and every saved crash through the same functions in the normal build.
//
// Each function returns normally for an input that is accepted or rejected with the documented
// exception type (ImageError, WeightsError, CheckpointError, UsageError). Anything else — a crash, a sanitizer
// report, or another exception escaping — is a bug the fuzzer reports.
#pragma once

#include "cli/options.h"
#include "nst/io/exif.h"
#include "nst/io/image.h"
#include "nst/io/safetensors.h"
#include "nst/style/checkpoint.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace nst::fuzz {

// decode_image with limits small enough that a valid declared size cannot exhaust the fuzzer's
// memory (2048 pixels per side, 1M pixels); the decoded image must be consistent and finite.
inline void decode_image_input(const uint8_t* data, size_t size) {
  ImageLimits limits;
  limits.max_side = 2048;
  limits.max_pixels = 1 << 20;
  try {
    const Image img = decode_image(data, size, "fuzz", limits);
    if (img.width < 1 || img.height < 1 || img.width > limits.max_side || img.height > limits.max_side ||
        img.rgb.size() != static_cast<size_t>(img.width) * static_cast<size_t>(img.height) * 3)
      throw std::logic_error("decode_image returned an inconsistent image");
    for (float v : img.rgb)
      if (!(v >= 0 && v <= 255)) throw std::logic_error("decode_image returned a value outside 0..255");
    if (!img.alpha.empty() && img.alpha.size() * 3 != img.rgb.size())
      throw std::logic_error("decode_image returned alpha of the wrong size");
    for (float v : img.alpha)
      if (!(v >= 0 && v <= 255)) throw std::logic_error("decode_image returned an alpha outside 0..255");
  } catch (const ImageError&) {
  }
}

// exif_orientation on arbitrary bytes: never fails, always 1..8.
inline void exif_orientation_input(const uint8_t* data, size_t size) {
  const int o = exif_orientation(data, size);
  if (o < 1 || o > 8) throw std::logic_error("exif_orientation returned " + std::to_string(o));
}

// The tensors the weights target asks for (the seeds hold exactly these, so the success path is
// reachable): F32/F16/BF16 conversions, shapes, metadata.
inline std::vector<TensorRequest> weights_requests() {
  return {{"conv.weight", {2, 1, 3, 3}}, {"conv.bias", {2}}, {"half", {4}}, {"brain", {2, 2}}};
}

// load_safetensors on the bytes, through an anonymous in-memory file (memfd) opened by path
// (/proc/self/fd/N): the loader's own open/fstat/read path runs unchanged.
inline void load_safetensors_input(const uint8_t* data, size_t size) {
  const int fd = memfd_create("nst-fuzz-weights", MFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error("memfd_create failed");
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) {
      close(fd);
      throw std::runtime_error("write to memfd failed");
    }
    done += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    const WeightsFile f = load_safetensors(path, weights_requests());
    for (const auto& [name, t] : f.tensors)
      for (int64_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(t[i])) {
          close(fd);
          throw std::logic_error("load_safetensors returned a non-finite value in " + name);
        }
  } catch (const WeightsError&) {
  }
  close(fd);
}

// load_checkpoint on the bytes, through a memfd as above: accepted (a state consistent with its
// own sizes) or rejected with CheckpointError.
inline void load_checkpoint_input(const uint8_t* data, size_t size) {
  const int fd = memfd_create("nst-fuzz-checkpoint", MFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error("memfd_create failed");
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) {
      close(fd);
      throw std::runtime_error("write to memfd failed");
    }
    done += static_cast<size_t>(n);
  }
  try {
    const CheckpointFile c = load_checkpoint("/proc/self/fd/" + std::to_string(fd));
    const LbfgsState& st = c.state.optimizer;
    const AdamState& a = c.state.adam;
    const bool half = st.precision == HistoryPrecision::Half;
    const bool consistent =
        c.state.kind == Optimizer::Adam
            ? a.iteration >= 1 && a.x.size() >= 1 && a.m.size() == a.x.size() && a.v.size() == a.x.size() &&
                  a.x_best.size() == a.x.size()
            : st.g.size() == st.x.size() && st.x_best.size() == st.x.size() &&
                  (half ? st.half_s.size() : st.s.size()) == st.rho.size() && st.pairs() <= st.history;
    if (!consistent) {
      close(fd);
      throw std::logic_error("load_checkpoint returned an inconsistent state");
    }
  } catch (const CheckpointError&) {
  }
  close(fd);
}

// parse_options on argv = the input split at NUL bytes (argv[0] first); $NST_WEIGHTS unset.
inline void parse_options_input(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  std::string cur;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(data[i]);
    }
  }
  args.push_back(cur);
  cli::Options opt;
  std::string text;
  try {
    cli::parse_options(args, nullptr, opt, text);
  } catch (const cli::UsageError& e) {
    if (std::string(e.what()).find('\n') != std::string::npos)
      throw std::logic_error("a UsageError message spans several lines");
  }
}

}  // namespace nst::fuzz
