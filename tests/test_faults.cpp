// Numerical faults and cancellation in stylize(), the code path the nst command runs:
//   a NaN appearing mid-run stops the run at that evaluation and returns the last best finite
//   image (NaN never becomes a pixel); cancellation is checked before every evaluation, with and
//   without the line search; and through the binary, an overflowing --style-weight ends with the
//   best image written and a warning, or (non-finite from the start) with nothing written.
// (L-BFGS itself: NaN/Inf at any evaluation, line-search failure and NoProgress are tested in
// test_lbfgs.cpp.)
#include <doctest/doctest.h>

#include "support/tiny_vgg.h"
#include "cli/options.h"
#include "nst/io/image.h"
#include "nst/style/stylize.h"
#include "support/safetensors_writer.h"
#include "support/shared_data.h"
#include "support/subprocess.h"

#include <unistd.h>

#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace nst;
using namespace nst::testing;
using nst::testing::Exit;
using nst::testing::TempDir;

namespace {


bool all_finite_pixels(const Image& img) {
  for (float v : img.rgb)
    if (!std::isfinite(v)) return false;
  return img.rgb.size() == static_cast<size_t>(img.width) * static_cast<size_t>(img.height) * 3 && !img.rgb.empty();
}

}  // namespace

TEST_CASE("stylize: a non-finite loss appearing at evaluation 6 stops there and returns the best finite image") {
  Vgg<float> net = tiny_vgg<float>(vgg19_network(), 1);
  // A bias the test can poison while the run is going (the net holds it as const).
  auto bias = std::make_shared<Tensor<float>>(*net.convs[2].bias);
  net.convs[2].bias = bias;
  const Image content = random_image(32, 24, 2), style = random_image(32, 32, 3);
  StylizeSettings s;
  s.iterations = 50;
  s.loss.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
  s.loss.content_layers = {"relu2_2"};
  int evaluations = 0;
  std::vector<double> losses;
  std::vector<Image> images;
  StylizeCallbacks cb;
  cb.cancelled = [&] {
    // +Inf, not NaN: ReLU maps a NaN pre-activation to 0 (NaN > 0 is false), which hides it.
    if (++evaluations == 6) (*bias)[0] = std::numeric_limits<float>::infinity();
    return false;
  };
  cb.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>& image) {
    losses.push_back(p.terms.total);
    images.push_back(image());
    return true;
  };
  const StylizeResult r = stylize(net, content, {style}, s, cb);
  CHECK(r.optimizer.stop == LbfgsStop::NonFinite);
  CHECK(r.optimizer.evaluations == 6);
  CHECK(r.optimizer.iterations == 5);
  REQUIRE(losses.size() == 5);
  CHECK(std::isfinite(r.optimizer.best_loss));
  REQUIRE(all_finite_pixels(r.image));
  // The returned image is the evaluated image with the lowest loss.
  size_t best = 0;
  for (size_t i = 1; i < losses.size(); ++i)
    if (losses[i] < losses[best]) best = i;
  CHECK(r.optimizer.best_loss == losses[best]);
  CHECK(r.image.rgb == images[best].rgb);
  // And it can be written (save_image refuses NaN pixels).
  TempDir dir;
  CHECK_NOTHROW(save_image(r.image, dir.path("best.png")));
}

TEST_CASE("stylize: NaN at the very first evaluation returns no finite loss; the caller must not write") {
  Vgg<float> net = tiny_vgg<float>(vgg19_network(), 4);
  StylizeSettings s;
  s.iterations = 10;
  s.loss.style_layers = {"relu1_1"};
  s.loss.content_layers = {"relu1_2"};
  // The targets (computed before any evaluation) stay finite; the bias is poisoned just before
  // the first evaluation.
  bool poisoned = false;
  auto clean = std::make_shared<Tensor<float>>(*net.convs[0].bias);
  net.convs[0].bias = clean;
  StylizeCallbacks cb;
  cb.cancelled = [&] {
    if (!poisoned) (*clean)[1] = std::numeric_limits<float>::infinity();
    poisoned = true;
    return false;
  };
  const StylizeResult r = stylize(net, random_image(16, 16, 5), {random_image(16, 16, 6)}, s, cb);
  CHECK(r.optimizer.stop == LbfgsStop::NonFinite);
  CHECK(r.optimizer.evaluations == 1);
  CHECK_FALSE(std::isfinite(r.optimizer.best_loss));
}

TEST_CASE("stylize: cancellation is checked before every evaluation and stops at once") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 7);
  const Image content = random_image(32, 32, 8), style = random_image(32, 32, 9);
  for (bool line_search : {false, true}) {
    for (int cancel_after : {0, 1, 4, 9}) {
      StylizeSettings s;
      s.iterations = 100;
      s.line_search = line_search;
      s.loss.style_layers = {"relu1_1", "relu2_1"};
      s.loss.content_layers = {"relu2_1"};
      int calls = 0;
      StylizeCallbacks cb;
      cb.cancelled = [&] { return ++calls > cancel_after; };
      const StylizeResult r = stylize(net, content, {style}, s, cb);
      INFO("line search " << line_search << ", cancel after " << cancel_after);
      CHECK(r.optimizer.stop == LbfgsStop::Cancelled);
      CHECK(r.optimizer.evaluations == cancel_after);
      CHECK(calls == cancel_after + 1);
      if (cancel_after > 0) {
        CHECK(std::isfinite(r.optimizer.best_loss));
        CHECK(all_finite_pixels(r.image));
      }
    }
  }
}

TEST_CASE("nst binary: an overflowing --style-weight ends with the best image written and a warning") {
  const std::string shared = NST_SHARED_DIR;
  const std::string weights = shared + "/weights/vgg19-conv.safetensors", content = shared + "/images/tubingen.jpg",
                    style = shared + "/images/starry_night.jpg";
  if (!nst::testing::have_shared({weights, content, style})) return;
  TempDir dir;
  const std::string out = dir.path("out.png");
  auto run = [&](const std::string& style_weight) {
    return nst::testing::run_child({NST_BINARY, "--content", content, "--style", style, "--output", out, "--size", "64",
                                    "--iterations", "20", "--weights", weights, "--style-weight", style_weight,
                                    "--print-every", "0"},
                                   300);
  };
  // 1e30: the gradient overflows float32 after a step or two; the best finite image is written.
  Exit e = run("1e30");
  INFO(e.err);
  CHECK(e.code == 0);
  CHECK(e.err.find("nst: warning: stopped after") != std::string::npos);
  CHECK(e.err.find("non-finite") != std::string::npos);
  const Image img = load_image(out);
  CHECK(img.width == 64);
  CHECK(img.height == 48);
  std::remove(out.c_str());
  // 1e38: non-finite at the first evaluation: nothing to write, exit 70, no file.
  e = run("1e38");
  CHECK(e.code == cli::kExitSoftware);
  CHECK(e.err.find("no finite image was ever computed") != std::string::npos);
  CHECK(access(out.c_str(), F_OK) != 0);
}
