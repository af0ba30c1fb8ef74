// validate(StylizeSettings): the defaults pass, and every setting out of its domain is refused
// with a SettingsError naming the field (the front ends map it to their flag).
#include <doctest/doctest.h>

#include "nst/style/settings.h"

#include <cmath>
#include <functional>
#include <limits>

using namespace nst;

namespace {

// The field validate() names for settings changed by `edit`; "" if they pass.
std::string refused_field(const std::function<void(StylizeSettings&)>& edit, const Network& net = vgg19_network(),
                          int64_t styles = -1) {
  StylizeSettings s;
  edit(s);
  try {
    validate(s, net, styles);
  } catch (const SettingsError& e) {
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
    CHECK(std::string(e.what()).rfind(e.field() + ": ", 0) == 0);
    return e.field();
  }
  return "";
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("validate: the defaults pass; each bad field is named") {
  CHECK(refused_field([](StylizeSettings&) {}) == "");
  CHECK(refused_field([](StylizeSettings& s) { s.iterations = 0; }) == "iterations");
  CHECK(refused_field([](StylizeSettings& s) { s.lbfgs_history = 0; }) == "lbfgs_history");
  CHECK(refused_field([](StylizeSettings& s) { s.loss.content_weight = kNaN; }) == "loss.content_weight");
  CHECK(refused_field([](StylizeSettings& s) { s.loss.style_weight = -1; }) == "loss.style_weight");
  CHECK(refused_field([](StylizeSettings& s) { s.loss.tv_weight = kInf; }) == "loss.tv_weight");
  CHECK(refused_field([](StylizeSettings& s) { s.loss.content_layers = {"relu9_1"}; }) == "loss.content_layers");
  CHECK(refused_field([](StylizeSettings& s) { s.loss.style_layers = {"relu1_1", "x"}; }) == "loss.style_layers");
  CHECK(refused_field([](StylizeSettings& s) {
          s.loss.content_layers.clear();
          s.loss.style_layers.clear();
        }) == "loss.content_layers");
  CHECK(refused_field([](StylizeSettings& s) { s.loss.style_layer_weights = {1, 2}; }) == "loss.style_layer_weights");
  CHECK(refused_field([](StylizeSettings& s) { s.loss.style_layer_weights = {1, 1, 1, 1, kNaN}; }) ==
        "loss.style_layer_weights");
  CHECK(refused_field([](StylizeSettings& s) { s.loss.style_layer_weights = {1, 1, 1, 1, 0}; }) == "");
  CHECK(refused_field([](StylizeSettings& s) { s.style_blend = {0, 0}; }) == "style_blend");
  CHECK(refused_field([](StylizeSettings& s) { s.style_blend = {1, -1}; }) == "style_blend");
  CHECK(refused_field([](StylizeSettings& s) { s.style_blend = {1, 2}; }, vgg19_network(), 2) == "");
  CHECK(refused_field([](StylizeSettings& s) { s.style_blend = {1, 2}; }, vgg19_network(), 3) == "style_blend");
}

TEST_CASE("validate: layers are checked against the network the weights hold") {
  const auto conv5_4 = [](StylizeSettings& s) { s.loss.style_layers = {"relu1_1", "relu5_4"}; };
  CHECK(refused_field(conv5_4, vgg19_network()) == "");
  CHECK(refused_field(conv5_4, vgg16_network()) == "loss.style_layers");
  // The default layers exist in both.
  CHECK(refused_field([](StylizeSettings&) {}, vgg16_network()) == "");
}

TEST_CASE("validate: tile is >= 0 and refuses what the tiled evaluation does not support") {
  CHECK(refused_field([](StylizeSettings& s) { s.tile = -1; }) == "tile");
  CHECK(refused_field([](StylizeSettings& s) { s.tile = 256; }) == "");
  CHECK(refused_field([](StylizeSettings& s) { s.tile = 1; }) == "");  // rounded up to one alignment step
  CHECK(refused_field([](StylizeSettings& s) {
          s.tile = 256;
          s.loss.normalize_gradients = true;
        }) == "tile");
  CHECK(refused_field([](StylizeSettings& s) {  // the relative loss scale is tiled too
          s.tile = 256;
          use_relative_scale(s.loss);
        }) == "");
  CHECK(refused_field([](StylizeSettings& s) {
          s.tile = 256;
          s.style_masks.resize(1);
        }, vgg19_network(), 1) == "tile");
  // Each of those is fine untiled; Adam, several scales and clamp are fine tiled.
  CHECK(refused_field([](StylizeSettings& s) { use_relative_scale(s.loss); }) == "");
  CHECK(refused_field([](StylizeSettings& s) {
          s.tile = 256;
          s.optimizer = Optimizer::Adam;
          s.start_size = 64;
          s.clamp = Clamp::On;
        }) == "");
}
