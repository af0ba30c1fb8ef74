// The checkpoint file (style/checkpoint.h): a state written and read back is the same to the
// bit, float and half history; truncated, damaged or foreign files are a CheckpointError, never
// a crash or a wrong state; identity_difference names the first differing key.
#include "nst/style/checkpoint.h"

#include "nst/io/atomic_file.h"
#include "nst/io/safetensors.h"
#include "nst/optim/adam_state.h"
#include "support/safetensors_writer.h"
#include "support/tiny_vgg.h"

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>

using namespace nst;
using nst::testing::TempDir;
using Vec = Eigen::VectorXf;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The objective both optimizers' states below come from: a bowl in n variables with curvatures
// 1..30 and its minimum at 1, started from a ramp of -3..2.
struct Bowl {
  int n;
  Vec w = Vec::LinSpaced(n, 1.0f, 30.0f);
  Vec start = Vec::LinSpaced(n, -3.0f, 2.0f);
  double operator()(const Vec& x, Vec& g) const {
    g = w.cwiseProduct(x - Vec::Ones(n));
    return 0.5 * (x - Vec::Ones(n)).cast<double>().dot(g.cast<double>());
  }
};

// The state of a short L-BFGS run on the bowl (7 pairs in a history of 4 + a cancelled run's
// state), so every field holds something.
StylizeCheckpoint make_state(HistoryPrecision precision, int n = 97) {
  const Bowl f{n};
  Vec x = f.start;
  LbfgsOptions o;
  o.max_iterations = 7;
  o.history = 4;
  o.history_precision = precision;
  o.learning_rate = 0.5;
  LbfgsCheckpointing ck;
  StylizeCheckpoint c;
  ck.final_state = &c.optimizer;
  lbfgs_minimize(f, x, o, {}, ck);
  REQUIRE(c.optimizer.pairs() == 4);
  c.optimizer.loss_rises = 1;  // an unbounded run never sets it: set so the round trip can fail
  c.last = LossTerms{10.5, 1.25, 9, 0.25};
  c.seconds = 12.375;
  c.scale = 2;
  c.iterations_before = 400;
  c.evaluations_before = 403;
  return c;
}

bool same(const Vec& a, const Vec& b) { return a.size() == b.size() && (a.array() == b.array()).all(); }

void check_equal(const LbfgsState& a, const LbfgsState& b) {
  CHECK(a.precision == b.precision);
  CHECK(a.history == b.history);
  CHECK(a.iteration == b.iteration);
  CHECK(a.reported == b.reported);
  CHECK(a.evaluations == b.evaluations);
  CHECK(a.resets == b.resets);
  CHECK(a.skipped_pairs == b.skipped_pairs);
  CHECK(a.same_loss == b.same_loss);
  CHECK(a.loss_rises == b.loss_rises);
  CHECK(same(a.x, b.x));
  CHECK(same(a.g, b.g));
  CHECK(same(a.x_best, b.x_best));
  CHECK(a.loss == b.loss);
  CHECK(a.best_loss == b.best_loss);
  CHECK(a.has_best == b.has_best);
  CHECK(a.rho == b.rho);
  CHECK(a.gamma == b.gamma);
  REQUIRE(a.pairs() == b.pairs());
  for (size_t i = 0; i < static_cast<size_t>(a.pairs()); ++i) {
    if (a.precision == HistoryPrecision::Half) {
      CHECK(a.half_s[i]->bits() == b.half_s[i]->bits());
      CHECK(a.half_y[i]->bits() == b.half_y[i]->bits());
      CHECK(a.half_s[i]->scale() == b.half_s[i]->scale());
      CHECK(a.half_y[i]->scale() == b.half_y[i]->scale());
    } else {
      CHECK(same(*a.s[i], *b.s[i]));
      CHECK(same(*a.y[i], *b.y[i]));
    }
  }
}

// The state of a short Adam run on the bowl (stopped after 6 of 9 iterations).
StylizeCheckpoint make_adam_state(int n = 97) {
  const Bowl f{n};
  Vec x = f.start;
  AdamOptions o;
  o.max_iterations = 9;
  o.learning_rate = 0.5;
  AdamCheckpointing ck;
  StylizeCheckpoint c;
  c.kind = Optimizer::Adam;
  ck.final_state = &c.adam;
  adam_minimize(f, x, o, [](const LbfgsIteration& it) { return it.iteration < 6; }, ck);
  REQUIRE(c.adam.iteration == 6);
  c.last = LossTerms{10.5, 1.25, 9, 0.25};
  c.seconds = 12.375;
  c.scale = 1;
  c.iterations_before = 40;
  c.evaluations_before = 41;
  return c;
}

void check_equal(const AdamState& a, const AdamState& b) {
  CHECK(a.iteration == b.iteration);
  CHECK(same(a.x, b.x));
  CHECK(same(a.m, b.m));
  CHECK(same(a.v, b.v));
  CHECK(same(a.x_best, b.x_best));
  CHECK(a.best_loss == b.best_loss);
}

std::map<std::string, std::string> metadata_of(const std::string& path) { return load_safetensors(path, {}).metadata; }

const std::map<std::string, std::string> kIdentity{{"content", "64x48 0123"}, {"content_weight", "5"}};
const std::string kLog = "iteration,total\n1,5\n2,\"4\"\n";

}  // namespace

TEST_CASE("written and read back: the same state, identity and log, float and half history") {
  TempDir dir;
  for (const HistoryPrecision p : {HistoryPrecision::Float, HistoryPrecision::Half}) {
    const StylizeCheckpoint c = make_state(p);
    const std::string path = dir.path(p == HistoryPrecision::Half ? "half.ckpt" : "float.ckpt");
    save_checkpoint(path, c, kIdentity, kLog, false);
    const CheckpointFile back = load_checkpoint(path);
    check_equal(c.optimizer, back.state.optimizer);
    CHECK(back.state.last.total == c.last.total);
    CHECK(back.state.last.tv == c.last.tv);
    CHECK(back.state.seconds == c.seconds);
    CHECK(back.state.scale == 2);
    CHECK(back.state.iterations_before == 400);
    CHECK(back.state.evaluations_before == 403);
    CHECK(back.identity == kIdentity);
    CHECK(back.loss_log == kLog);
    CHECK_THROWS_AS(save_checkpoint(path, c, kIdentity, kLog, false), OutputError);  // exists
    save_checkpoint(path, c, kIdentity, kLog, true);
  }
}

TEST_CASE("truncated, damaged and foreign files are a CheckpointError naming the file") {
  TempDir dir;
  const std::string path = dir.path("c.ckpt");
  save_checkpoint(path, make_state(HistoryPrecision::Half), kIdentity, kLog, false);
  const std::string bytes = read_all(path);
  const std::string bad = dir.path("bad.ckpt");
  int errors = 0;
  for (size_t len : {size_t{0}, size_t{7}, size_t{8}, size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
    nst::testing::write_file(bad, bytes.substr(0, len));
    CHECK_THROWS_WITH_AS(load_checkpoint(bad), doctest::Contains(bad.c_str()), CheckpointError);
    ++errors;
  }
  // One flipped bit anywhere: an error (the header's checks, or the data's checksum); never a
  // different state. Every 7th byte, both in the header and in the data.
  for (size_t i = 0; i < bytes.size(); i += 7) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x10);
    nst::testing::write_file(bad, damaged);
    bool threw = false;
    try {
      const CheckpointFile c = load_checkpoint(bad);
      // A flip that leaves an equivalent document (e.g. header padding): must read as the original.
      check_equal(c.state.optimizer, load_checkpoint(path).state.optimizer);
      CHECK(c.identity == kIdentity);
    } catch (const CheckpointError&) {
      threw = true;
    }
    errors += threw;
  }
  CHECK(errors > static_cast<int>(bytes.size() / 7) * 9 / 10);
  // A safetensors file that is not a checkpoint.
  nst::testing::write_file(bad, nst::testing::safetensors_bytes({}, {{"preprocess", "caffe"}}));
  CHECK_THROWS_WITH_AS(load_checkpoint(bad), doctest::Contains("not an nst checkpoint"), CheckpointError);
}

TEST_CASE("identity_difference names the first key that differs or is missing") {
  std::map<std::string, std::string> a{{"a", "1"}, {"b", "2"}, {"c", "3"}};
  CHECK(identity_difference(a, a).empty());
  auto b = a;
  b["b"] = "5";
  CHECK(identity_difference(a, b) == "b: 2 here, 5 in the checkpoint");
  b = a;
  b.erase("a");
  CHECK(identity_difference(a, b) == "a: 1 here, absent in the checkpoint");
  b = a;
  b["d"] = "4";
  CHECK(identity_difference(a, b) == "d: absent here, 4 in the checkpoint");
}

TEST_CASE("an Adam state written and read back: the same state; version 3, L-BFGS still version 2") {
  TempDir dir;
  const StylizeCheckpoint c = make_adam_state();
  const std::string path = dir.path("adam.ckpt");
  save_checkpoint(path, c, kIdentity, kLog, false);
  const CheckpointFile back = load_checkpoint(path);
  CHECK(back.state.kind == Optimizer::Adam);
  check_equal(c.adam, back.state.adam);
  CHECK(back.state.iteration() == 7);
  CHECK(back.state.last.style == c.last.style);
  CHECK(back.state.seconds == c.seconds);
  CHECK(back.state.scale == 1);
  CHECK(back.state.iterations_before == 40);
  CHECK(back.state.evaluations_before == 41);
  CHECK(back.identity == kIdentity);
  CHECK(back.loss_log == kLog);
  CHECK(metadata_of(path).at("version") == "3");
  CHECK(metadata_of(path).at("optimizer") == "adam");
  // An L-BFGS state keeps version 2, which nst builds before Adam checkpoints read.
  const std::string lbfgs = dir.path("lbfgs.ckpt");
  save_checkpoint(lbfgs, make_state(HistoryPrecision::Float), kIdentity, kLog, false);
  CHECK(metadata_of(lbfgs).at("version") == "2");
  CHECK(metadata_of(lbfgs).at("optimizer") == "lbfgs");
  CHECK(load_checkpoint(lbfgs).state.kind == Optimizer::Lbfgs);
}

TEST_CASE("a damaged Adam checkpoint, or one whose version and optimizer disagree, is a CheckpointError") {
  TempDir dir;
  const std::string path = dir.path("adam.ckpt");
  save_checkpoint(path, make_adam_state(), kIdentity, kLog, false);
  const std::string bytes = read_all(path);
  const std::string bad = dir.path("bad.ckpt");
  for (size_t len : {size_t{0}, size_t{8}, size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
    nst::testing::write_file(bad, bytes.substr(0, len));
    CHECK_THROWS_WITH_AS(load_checkpoint(bad), doctest::Contains(bad.c_str()), CheckpointError);
  }
  int errors = 0, tries = 0;
  for (size_t i = 0; i < bytes.size(); i += 5, ++tries) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x10);
    nst::testing::write_file(bad, damaged);
    try {
      const CheckpointFile c = load_checkpoint(bad);
      check_equal(c.state.adam, load_checkpoint(path).state.adam);  // an equivalent document
      CHECK(c.state.kind == Optimizer::Adam);
    } catch (const CheckpointError&) {
      ++errors;
    }
  }
  CHECK(errors > tries * 9 / 10);
  // The optimizer entry rewritten (checksum and all): refused by the version's rule, not read as
  // the other kind. Same length, so the header stays valid.
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"\"optimizer\":\"adam\"", "\"optimizer\":\"adan\""},
                                 {"\"version\":\"3\"", "\"version\":\"2\""}}) {
    std::string changed = bytes;
    const size_t at = changed.find(from);
    REQUIRE(at != std::string::npos);
    changed.replace(at, from.size(), to);
    nst::testing::write_file(bad, changed);
    CHECK_THROWS_WITH_AS(load_checkpoint(bad), doctest::Contains("\"optimizer\""), CheckpointError);
  }
}

TEST_CASE("a version 2 checkpoint written before Adam checkpoints (no optimizer entry) still loads as L-BFGS") {
  const std::string path = std::string(NST_SOURCE_DIR) + "/tests/data/checkpoint/v2_lbfgs.ckpt";
  REQUIRE(metadata_of(path).count("optimizer") == 0);
  const CheckpointFile c = load_checkpoint(path);
  CHECK(c.state.kind == Optimizer::Lbfgs);
  CHECK(c.state.iteration() == 3);
  CHECK_FALSE(c.state.optimizer.reported);
  CHECK(c.state.optimizer.evaluations == 3);
  CHECK(c.state.optimizer.history == 3);
  CHECK(c.state.optimizer.pairs() == 1);
  CHECK(c.state.optimizer.skipped_pairs == 1);
  CHECK(c.state.optimizer.x.size() == 3 * 32 * 24);
  CHECK(c.identity.at("optimizer") == "lbfgs");
  CHECK(c.loss_log.rfind("iteration,total,content,style,tv,seconds\n1,", 0) == 0);
}

TEST_CASE("the identity records clamp resolved (on/off), so a clamp-off checkpoint resumes with Off, not Auto") {
  const Vgg<float> net = nst::testing::tiny_vgg<float>(vgg19_network(), 1);
  const Image content = nst::testing::random_image(16, 12, 2), style = nst::testing::random_image(16, 12, 3);
  auto identity = [&](Clamp clamp, bool line_search) {
    StylizeSettings s;
    s.clamp = clamp;
    s.line_search = line_search;
    return describe_run(s, content, {style}, net);
  };
  CHECK(identity(Clamp::Auto, false).at("clamp") == "on");
  CHECK(identity(Clamp::On, false).at("clamp") == "on");
  CHECK(identity(Clamp::Off, false).at("clamp") == "off");
  CHECK(identity(Clamp::Auto, true).at("clamp") == "off");
  CHECK(identity(Clamp::Off, true).at("clamp") == "off");
  // v2_lbfgs.ckpt was written with clamp off and no line search: Off matches it, Auto does not.
  const CheckpointFile c = load_checkpoint(std::string(NST_SOURCE_DIR) + "/tests/data/checkpoint/v2_lbfgs.ckpt");
  REQUIRE(c.identity.at("line_search") == "off");
  std::map<std::string, std::string> saved = identity(Clamp::Off, false);
  saved["clamp"] = c.identity.at("clamp");
  CHECK(identity_difference(identity(Clamp::Off, false), saved).empty());
  CHECK(identity_difference(identity(Clamp::Auto, false), saved) == "clamp: on here, off in the checkpoint");
}
