// stylize()'s optimizer modes on a tiny VGG-shaped network: --clamp keeps every evaluated image
// inside 0..255 and the result reports the loss of the image as saved (8 bits); the reference
// mode's exact convolutions really replace Winograd in the forward pass.
#include <doctest/doctest.h>

#include "support/temp_dir.h"
#include "support/tiny_vgg.h"
#include "nst/io/image.h"
#include "nst/model/preprocess.h"
#include "nst/style/gatys.h"
#include "nst/style/stylize.h"
#include "nst/threads.h"

#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <random>
#include <string>
#include <vector>

using namespace nst;
using namespace nst::testing;

namespace {


StylizeSettings small_settings() {
  StylizeSettings s;
  s.iterations = 30;
  s.loss.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
  s.loss.content_layers = {"relu2_2"};
  s.loss.style_weight = 1e4;  // pulls the pixels well outside 0..255 when nothing stops them
  return s;
}

// min and max pixel over every image evaluated.
std::pair<float, float> pixel_range(const Vgg<float>& net, const StylizeSettings& s, StylizeResult& r) {
  float lo = 1e30f, hi = -1e30f;
  StylizeCallbacks cb;
  cb.on_iteration = [&](const StylizeProgress&, const std::function<Image()>& image) {
    for (float v : image().rgb) lo = std::min(lo, v), hi = std::max(hi, v);
    return true;
  };
  r = stylize(net, random_image(24, 24, 2), {random_image(24, 24, 3)}, s, cb);
  return {lo, hi};
}

}  // namespace

TEST_CASE("clamp: every evaluated image stays in 0..255; without it the pixels leave the range") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 1);
  StylizeSettings s = small_settings();
  StylizeResult free_run, clamped_run;
  CHECK(clamp_enabled(s));  // the default
  s.clamp = Clamp::Off;
  const auto [free_lo, free_hi] = pixel_range(net, s, free_run);
  s.clamp = Clamp::On;
  const auto [lo, hi] = pixel_range(net, s, clamped_run);
  MESSAGE("pixels without --clamp " << free_lo << ".." << free_hi << ", with " << lo << ".." << hi);
  CHECK((free_lo < -1 || free_hi > 256));  // the control: the box matters for this run
  CHECK(lo >= -1e-3f);                     // (float rounding of the unit conversion)
  CHECK(hi <= 255.001f);
  CHECK(clamped_run.optimizer.stop == LbfgsStop::MaxIterations);
  CHECK(clamped_run.best.total < clamped_run.optimizer.best_loss * 1.000001);
}

TEST_CASE("the result reports the loss of the image as saved: clamped and rounded to 8 or 16 bits") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 2);
  const GatysLoss<float> loss(net, image_to_input(random_image(24, 24, 2), net.preprocess),
                              {image_to_input(random_image(24, 24, 3), net.preprocess)}, {}, small_settings().loss);
  for (const int bits : {8, 16}) {
    CAPTURE(bits);
    StylizeSettings s = small_settings();
    s.saved_bit_depth = bits;
    StylizeResult r;
    pixel_range(net, s, r);
    // What a PNG of that depth holds, read back: 8 bits v rounded; 16 bits round(v·257)/257.
    TempDir dir;
    const std::string png = dir.path("saved.png");
    save_image(r.image, png, {95, true, bits});
    const Image saved = load_image(png);
    const LossTerms expect = loss.evaluate(image_to_input(saved, net.preprocess), nullptr);
    MESSAGE("optimizer's loss " << r.best.total << ", saved image's " << r.saved.total);
    CHECK(r.saved.total == expect.total);
    CHECK(r.saved.style == expect.style);
    CHECK(r.saved.total != r.best.total);
  }
  StylizeSettings bad = small_settings();
  bad.saved_bit_depth = 12;
  CHECK_THROWS_AS(stylize(net, random_image(24, 24, 2), {random_image(24, 24, 3)}, bad), SettingsError);
}

TEST_CASE("reference mode: exact convolutions replace Winograd (float-noise apart, not bit-identical)") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 3);
  StylizeSettings fast = small_settings();
  fast.iterations = 8;
  StylizeSettings exact = fast;
  set_reference_mode(exact);
  CHECK(exact.conv_algo == ConvAlgo::Im2col);
  CHECK(exact.lbfgs_precision == HistoryPrecision::Float);
  CHECK(exact.lbfgs_step_pair == StepPair::Direction);
  // The same optimizer settings in both runs: only the convolutions differ.
  fast.lbfgs_precision = exact.lbfgs_precision;
  fast.lbfgs_step_pair = exact.lbfgs_step_pair;
  // Each run's first loss (at the initial image) and the image it evaluates last.
  struct Seen {
    double first_loss = 0;
    std::vector<float> last_image;
  };
  auto run = [&](const StylizeSettings& s, Seen& seen) {
    StylizeCallbacks cb;
    cb.on_iteration = [&seen](const StylizeProgress& p, const std::function<Image()>& image) {
      if (p.iteration == 1) seen.first_loss = p.terms.total;
      seen.last_image = image().rgb;
      return true;
    };
    stylize(net, random_image(24, 24, 2), {random_image(24, 24, 3)}, s, cb);
  };
  Seen f, e;
  run(fast, f);
  run(exact, e);
  MESSAGE("first loss: Winograd " << f.first_loss << ", im2col " << e.first_loss);
  // Winograd and im2col round differently, so the gradients and, once the steps are large
  // enough to show it (the first, 1/|g|_1, moves no pixel by an ulp here), the images differ;
  // the losses may round to the same value and agree to float noise. (8 iterations: conv1_1,
  // the last layer the gradient passes, runs as a band GEMM, close to exact, and after 4 the
  // images were still equal.)
  REQUIRE(!f.last_image.empty());
  CHECK(f.last_image != e.last_image);
  CHECK(std::abs(f.first_loss - e.first_loss) <= 1e-5 * e.first_loss);
}

TEST_CASE("clamp: Auto (the default) is on without a line search and off with one; On with one is refused") {
  StylizeSettings s;
  CHECK(s.clamp == Clamp::Auto);
  CHECK(clamp_enabled(s));
  s.line_search = true;
  CHECK_FALSE(clamp_enabled(s));
  CHECK_NOTHROW(validate(s));
  s.clamp = Clamp::Off;
  CHECK_FALSE(clamp_enabled(s));
  CHECK_NOTHROW(validate(s));
  s.clamp = Clamp::On;
  CHECK(clamp_enabled(s));
  std::string field;
  try {
    validate(s);
  } catch (const SettingsError& e) {
    field = e.field();
  }
  CHECK(field == "clamp");
  s.line_search = false;
  CHECK(clamp_enabled(s));
  CHECK_NOTHROW(validate(s));
  s.clamp = Clamp::Off;
  CHECK_FALSE(clamp_enabled(s));
  set_reference_mode(s = StylizeSettings{});
  CHECK_FALSE(clamp_enabled(s));  // torch.optim.LBFGS has no box
}

namespace {

// The network with conv1_1's weights and every bias multiplied by a: every feature map scales
// by a (ReLU and max pooling are positively homogeneous), as between two weights files whose
// features differ in scale.
Vgg<float> scaled_net(const Vgg<float>& net, float a) {
  Vgg<float> out = net;
  for (size_t i = 0; i < out.convs.size(); ++i) {
    auto bias = std::make_shared<Tensor<float>>(*out.convs[i].bias);
    for (int64_t k = 0; k < bias->numel(); ++k) (*bias)[k] *= a;
    out.convs[i].bias = bias;
    if (i == 0) {
      auto w = std::make_shared<Tensor<float>>(out.convs[0].weights->tensor());
      for (int64_t k = 0; k < w->numel(); ++k) (*w)[k] *= a;
      out.convs[0].weights = std::make_shared<const ConvWeights<float>>(w);
    }
  }
  return out;
}

double mean_abs_difference(const Image& x, const Image& y) {
  double s = 0;
  for (size_t i = 0; i < x.rgb.size(); ++i) s += std::abs(static_cast<double>(x.rgb[i]) - y.rgb[i]);
  return s / static_cast<double>(x.rgb.size());
}

}  // namespace

TEST_CASE("relative loss scale: the same image with features scaled by a; classic changes") {
  // a = 1/64 scales every value exactly (a power of two): relative mode gives bit-identical
  // images. a = 1/50 rounds differently at every step; after 10 iterations the images still
  // agree to a fraction of a pixel level, where classic mode's differ by several.
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 4);
  const Image content = random_image(24, 24, 2), style = random_image(24, 24, 3);
  for (const float a : {1.0f / 64, 1.0f / 50}) {
    CAPTURE(a);
    const Vgg<float> small = scaled_net(net, a);
    StylizeSettings s = small_settings();
    s.iterations = 10;
    s.init = InitMode::Content;
    const double classic = mean_abs_difference(stylize(net, content, {style}, s).image,
                                               stylize(small, content, {style}, s).image);
    use_relative_scale(s.loss);
    // The loss of the first evaluation (at the content image, before any step) of each run.
    double first_x = 0, first_y = 0;
    auto first_loss = [](double& first) {
      StylizeCallbacks cb;
      cb.on_iteration = [&first](const StylizeProgress& p, const std::function<Image()>&) {
        if (p.iteration == 1) first = p.terms.total;
        return true;
      };
      return cb;
    };
    const StylizeResult x = stylize(net, content, {style}, s, first_loss(first_x));
    const StylizeResult y = stylize(small, content, {style}, s, first_loss(first_y));
    const double relative = mean_abs_difference(x.image, y.image);
    MESSAGE("a = " << a << ": mean |pixel difference| from a = 1: classic " << classic << ", relative " << relative
                   << "; first loss " << first_x << " and " << first_y);
    CHECK(classic > 1.0);
    REQUIRE(first_x > 0);
    if (a == 1.0f / 64) {
      CHECK(relative == 0.0);
      CHECK(x.best.total == y.best.total);
    } else {
      // The same loss up to float rounding; after 10 iterations the runs have drifted apart by
      // chaotic amplification of that rounding (final losses 0.03-11% apart over 16 seeds and
      // scales), so the trajectory is checked through the images.
      CHECK(std::abs(first_x - first_y) <= 1e-5 * first_x);
      CHECK(relative < 0.5);
    }
  }
}

TEST_CASE("relative loss scale: an all-zero target is a settings error naming loss.loss_scale") {
  // A network whose first convolution and every bias are zero has all-zero features: nothing to
  // divide by. The error is the settings' (the CLI maps it to --loss-scale, exit 64), not an
  // internal one; the classic scale runs.
  const Vgg<float> zero = scaled_net(tiny_vgg<float>(vgg19_network(), 4), 0.0f);
  StylizeSettings s = small_settings();
  s.iterations = 2;
  CHECK_NOTHROW(stylize(zero, random_image(24, 24, 2), {random_image(24, 24, 3)}, s));
  use_relative_scale(s.loss);
  try {
    stylize(zero, random_image(24, 24, 2), {random_image(24, 24, 3)}, s);
    FAIL("no error");
  } catch (const SettingsError& e) {
    CHECK(e.field() == "loss.loss_scale");
    CHECK(std::string(e.reason()).find("all zero") != std::string::npos);
  }
}

TEST_CASE("time budget: shared among the scales, each runs at least one iteration; none changes nothing") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 5);
  const Image content = random_image(48, 40, 6), style = random_image(32, 32, 7);
  StylizeSettings s = small_settings();
  s.iterations = 6;
  s.start_size = 24;  // scales 24, 34, 48
  s.scale_iterations = 4;
  REQUIRE(scale_sizes(24, 48).size() == 3);
  const StylizeResult plain = stylize(net, content, {style}, s);
  CHECK_FALSE(plain.time_up);
  CHECK(plain.optimizer.iterations == 4 + 4 + 6);
  // A budget already spent: every scale stops after its first iteration, the ladder goes on.
  std::vector<int> per_scale(3, 0);
  StylizeCallbacks cb;
  cb.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>&) {
    ++per_scale[static_cast<size_t>(p.scale - 1)];
    return true;
  };
  s.time_limit = 0;
  const StylizeResult spent = stylize(net, content, {style}, s, cb);
  CHECK(spent.time_up);
  CHECK(per_scale == std::vector<int>{1, 1, 1});
  CHECK(spent.optimizer.iterations == 3);
  CHECK(spent.image.width == 48);
  // A budget never reached: bit-identical to no budget.
  s.time_limit = 3600;
  const StylizeResult ample = stylize(net, content, {style}, s);
  CHECK_FALSE(ample.time_up);
  CHECK(ample.image.rgb == plain.image.rgb);
  // The user's stop still ends the whole ladder, budget or not.
  s.time_limit = 0;
  int calls = 0;
  cb.on_iteration = [&](const StylizeProgress&, const std::function<Image()>&) { return ++calls < 1; };
  const StylizeResult stopped = stylize(net, content, {style}, s, cb);
  CHECK(calls == 1);
  CHECK_FALSE(stopped.time_up);
  s.time_limit = std::nan("");
  CHECK_THROWS_AS(stylize(net, content, {style}, s), SettingsError);
}

namespace {

// A multi-scale run with `optimizer`, saving a state after every iteration and at each scale's
// end, then resumed from each state: the rest of the losses and the final image, bit for bit.
void check_resumed_from_every_state(Optimizer optimizer) {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 8);
  const Image content = random_image(48, 40, 9), style = random_image(32, 32, 10);
  StylizeSettings s = small_settings();
  s.iterations = 5;
  s.start_size = 24;  // scales 24, 34, 48
  s.scale_iterations = 4;
  s.optimizer = optimizer;
  if (optimizer == Optimizer::Lbfgs) s.lbfgs_history = 3;
  // The uninterrupted run, saving a state after every iteration and at each scale's end.
  std::vector<StylizeCheckpoint> states;
  std::map<int, double> losses;
  StylizeCallbacks cb;
  cb.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>&) {
    losses[p.iteration] = p.terms.total;
    return true;
  };
  cb.checkpointing.due = [](int) { return true; };
  cb.checkpointing.save = [&](const StylizeCheckpoint& c) { states.push_back(c); };
  const StylizeResult full = stylize(net, content, {style}, s, cb);
  REQUIRE(full.optimizer.iterations == 13);
  REQUIRE(states.size() == 13 + 3);
  std::set<int> scales;
  for (const StylizeCheckpoint& c : states) {
    scales.insert(c.scale);
    CHECK(c.kind == optimizer);
  }
  CHECK(scales == std::set<int>{0, 1, 2});
  // Resumed from each: the rest of the losses and the final image, bit for bit.
  for (size_t i = 0; i < states.size(); ++i) {
    CAPTURE(i);
    CAPTURE(states[i].scale);
    CAPTURE(states[i].iteration());
    std::map<int, double> resumed_losses;
    StylizeCallbacks rc;
    rc.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>&) {
      resumed_losses[p.iteration] = p.terms.total;
      return true;
    };
    rc.checkpointing.resume = &states[i];
    const StylizeResult r = stylize(net, content, {style}, s, rc);
    CHECK(r.image.rgb == full.image.rgb);
    CHECK(r.best.total == full.best.total);
    CHECK(r.optimizer.iterations == full.optimizer.iterations);
    CHECK(r.optimizer.evaluations == full.optimizer.evaluations);
    for (const auto& [it, loss] : resumed_losses) CHECK(loss == losses.at(it));
    // Every state but the last two (after the run's last report, and its end) has iterations left:
    // an L-BFGS state reported at 5 continues at 5 (its step), an Adam state after 5 at 6.
    const int last_left = optimizer == Optimizer::Lbfgs ? s.iterations - 1 : s.iterations;
    const bool at_end = states[i].scale == 2 && states[i].iteration() > last_left;
    CHECK(resumed_losses.empty() == at_end);
    if (!at_end) CHECK(resumed_losses.rbegin()->first == 13);
  }
  // A state of the other optimizer is refused.
  StylizeCheckpoint other = states[3];
  other.kind = optimizer == Optimizer::Adam ? Optimizer::Lbfgs : Optimizer::Adam;
  StylizeCallbacks oc;
  oc.checkpointing.resume = &other;
  CHECK_THROWS_WITH_AS(stylize(net, content, {style}, s, oc), doctest::Contains("the saved state is of"),
                       std::invalid_argument);
}

}  // namespace

TEST_CASE("checkpoints of a multi-scale L-BFGS run: resumed from any of them, the same image and losses") {
  check_resumed_from_every_state(Optimizer::Lbfgs);
}

TEST_CASE("checkpoints of a multi-scale Adam run: resumed from any of them, the same image and losses") {
  check_resumed_from_every_state(Optimizer::Adam);
}

TEST_CASE("tile: stylize() in tiles follows the whole-image run, and its bits do not depend on the thread count") {
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 5);
  StylizeSettings s = small_settings();
  // A few iterations: the evaluations agree to float rounding, and L-BFGS amplifies rounding
  // differences over a long run (whole and tiled runs then part ways as two thread-count-
  // independent but differently rounded runs may).
  s.iterations = 3;
  s.loss.style_weight = 100;
  const Image content = random_image(72, 56, 2), style = random_image(40, 40, 3);
  auto run = [&](int64_t tile, int threads, std::vector<double>* losses) {
    const ThreadCountScope scope(threads);
    s.tile = tile;
    StylizeCallbacks cb;
    cb.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>&) {
      if (losses) losses->push_back(p.terms.total);
      return true;
    };
    return stylize(net, content, {style}, s, cb);
  };
  std::vector<double> whole_losses, tiled_losses;
  const StylizeResult whole = run(0, 2, &whole_losses);
  const StylizeResult tiled = run(16, 2, &tiled_losses);  // 4x5 tiles of 16 px (align 16 for relu3_1)
  const StylizeResult tiled1 = run(16, 1, nullptr);
  const StylizeResult tiled32 = run(32, 2, nullptr);
  REQUIRE(whole_losses.size() == 3);
  REQUIRE(tiled_losses.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    MESSAGE("iteration " << i + 1 << ": loss whole " << whole_losses[i] << ", tiled " << tiled_losses[i]);
    CHECK(std::abs(tiled_losses[i] - whole_losses[i]) <= 1e-4 * whole_losses[i]);
  }
  CHECK(tiled.image.rgb == tiled1.image.rgb);  // any thread count: the same bits
  CHECK(tiled.best.total == tiled1.best.total);
  CHECK(tiled.image.rgb != tiled32.image.rgb);  // another split: other bits
}

TEST_CASE("relative loss scale: TV is a mean over the pixels (an image twice as tall, row for row, scores the same)") {
  // Rows identical (a horizontal ramp): the TV sum of a 2H x W image is exactly twice that of the
  // H x W one. Classic mode keeps the sum; relative mode divides by the pixel count, and is in
  // units of a 512x384 image.
  const Vgg<float> net = tiny_vgg<float>(vgg19_network(), 4);
  auto ramp = [](int w, int h) {
    Image im;
    im.width = w;
    im.height = h;
    im.rgb.resize(static_cast<size_t>(3 * w * h));
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) im.rgb[static_cast<size_t>((y * w + x) * 3 + c)] = 20.0f + 9.0f * static_cast<float>(x) + 3.0f * static_cast<float>(c);
    return im;
  };
  auto tv = [&](int h, bool relative) {
    GatysConfig config;
    config.content_layers = {"relu1_1"};
    config.style_layers = {};
    if (relative) use_relative_scale(config);
    config.content_weight = 0;
    config.tv_weight = 1;
    const Tensor<float> x = image_to_input(ramp(20, h), net.preprocess);
    return GatysLoss<float>(net, x, {}, {}, config).evaluate(x, nullptr).tv;
  };
  const double classic8 = tv(8, false), classic16 = tv(16, false);
  const double relative8 = tv(8, true), relative16 = tv(16, true);
  MESSAGE("TV, 20x8 and 20x16: classic " << classic8 << ", " << classic16 << "; relative " << relative8 << ", "
                                         << relative16);
  REQUIRE(classic8 > 0);
  CHECK(classic16 == doctest::Approx(2 * classic8).epsilon(1e-6));
  CHECK(relative16 == doctest::Approx(relative8).epsilon(1e-6));
  // ½ Σ over 3 channels x 8 rows x 19 horizontal steps of (9/255)², as a mean over 20x8 pixels
  // counted in 512x384 pixels.
  const double step = 9.0 / 255.0;
  CHECK(relative8 == doctest::Approx(0.5 * 3 * 8 * 19 * step * step * 512.0 * 384.0 / (20.0 * 8.0)).epsilon(1e-5));
}
