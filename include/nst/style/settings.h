// Everything a stylize() run can be asked to do, with every default in one place (the member
// initializers below), and the one check of it: validate(), which stylize() calls before any
// work and front ends call to refuse a bad command line early. A front end maps its flags to
// these fields and reads its defaults from here; it never restates them.
#pragma once

#include "nst/io/image.h"
#include "nst/model/network.h"
#include "nst/optim/lbfgs.h"
#include "nst/style/gatys.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace nst {

enum class InitMode { Random, Content, Image };

struct StylizeSettings {
  GatysConfig loss;                 // layers, weights, pooling (gatys.h)
  std::vector<double> style_blend;  // one per style image; empty = equal
  int iterations = 1000;
  int lbfgs_history = 100;
  // Half: the (s, y) pairs in binary16 with a scale, half the memory (optim/lbfgs.h).
  HistoryPrecision lbfgs_precision = HistoryPrecision::Half;
  bool line_search = false;
  InitMode init = InitMode::Random;  // Random: N(0, 0.001²) in preprocessed units (neural-style)
  Image init_image;                  // InitMode::Image: resized to the content's size
  uint64_t seed = 0;
};

// A setting out of its domain. field() is the member's path in StylizeSettings ("iterations",
// "loss.content_weight", ...) so a front end can name its own flag; what() is one line,
// "<field>: <reason>".
class SettingsError : public std::invalid_argument {
 public:
  SettingsError(std::string field, const std::string& reason)
      : std::invalid_argument(field + ": " + reason), field_(std::move(field)), reason_(reason) {}
  const std::string& field() const { return field_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string field_, reason_;
};

// Throws SettingsError for the first setting out of its domain. `network`: the layers must be
// its; `style_count`: the number of style images the run will get (-1: not known yet, the
// checks that need it are skipped). Images (sizes, init_image) are checked by stylize().
void validate(const StylizeSettings& settings, const Network& network = vgg19_network(), int64_t style_count = -1);

}  // namespace nst
