// Controlling a long run of the nst command (needs the real weights and images in ../shared;
// skips with a message where they are absent): the loss log as it goes, --time-limit, the
// L-BFGS history fitted to --max-memory, checkpoint and resume (L-BFGS and Adam).
#include <doctest/doctest.h>

#include "cli/options.h"
#include "nst/io/image.h"
#include "nst/style/checkpoint.h"
#include "nst/style/memory_estimate.h"
#include "support/safetensors_writer.h"
#include "support/shared_data.h"
#include "support/subprocess.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

using namespace nst;
using namespace nst::testing;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A run at 32 px (32x24) printing every iteration.
std::vector<std::string> run_args(const std::string& out, int iterations) {
  return {NST_BINARY, "--content", kContent, "--style", kStyle, "--output", out, "--size", "32",
          "--iterations", std::to_string(iterations), "--print-every", "1", "--weights", kWeights};
}

// Checks `text` is a valid loss log (header, then complete rows numbered 1, 2, ..., and after a
// finished run a last row "saved,..."); returns the number of numbered rows.
int check_log(const std::string& text) {
  const std::string header = "iteration,total,content,style,tv,seconds\n";
  REQUIRE(text.compare(0, header.size(), header) == 0);
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  std::istringstream in(text.substr(header.size()));
  std::string line;
  int rows = 0;
  bool saved = false;
  while (std::getline(in, line)) {
    CHECK(!saved);  // the saved row comes last
    CHECK(std::count(line.begin(), line.end(), ',') == 5);
    if (line.rfind("saved,", 0) == 0) {
      saved = true;
      continue;
    }
    ++rows;
    CHECK(line.rfind(std::to_string(rows) + ",", 0) == 0);
  }
  return rows;
}

// "L-BFGS made N iterations" from stderr; -1 if absent.
int iterations_made(const std::string& err) {
  const std::string key = "L-BFGS made ";
  const size_t at = err.find(key);
  return at == std::string::npos ? -1 : std::stoi(err.substr(at + key.size()));
}

}  // namespace

TEST_CASE("the loss log is valid while the run goes and holds every row computed") {
  if (!have_real_data()) return;
  TempDir dir;
  const std::string log = dir.path("loss.csv");
  std::vector<std::string> args = run_args(dir.path("out.png"), 100000);
  args.insert(args.end(), {"--loss-log", log});
  Child c(args);
  REQUIRE(c.wait_for("iteration 3/", 300));
  // The row of an iteration is in the file before its progress line is printed.
  CHECK(check_log(read_all(log)) >= 3);
  c.send(SIGINT);
  const Exit e = c.finish(120);
  INFO(e.err);
  CHECK(e.code == cli::kExitSigInt);
  const int made = iterations_made(e.err);
  CHECK(made >= 3);
  CHECK(check_log(read_all(log)) == made);
}

TEST_CASE("--time-limit: a budget already spent stops after the first iteration, writes the image, exits 0") {
  if (!have_real_data()) return;
  TempDir dir;
  const std::string out = dir.path("out.png"), log = dir.path("loss.csv");
  std::vector<std::string> args = run_args(out, 20);
  args.insert(args.end(), {"--loss-log", log, "--time-limit", "0s"});
  const Exit e = run_child(args, 300);
  INFO(e.err);
  CHECK(e.code == cli::kExitOk);
  CHECK(e.err.find("--time-limit 0s reached: stopped after 1 of 20 iterations") != std::string::npos);
  CHECK(iterations_made(e.err) == 1);
  CHECK(check_log(read_all(log)) == 1);
  CHECK(read_all(out).size() > 0);
}

TEST_CASE("--time-limit: a budget not reached changes nothing") {
  if (!have_real_data()) return;
  TempDir dir;
  std::vector<std::string> args = run_args(dir.path("out.png"), 3);
  args.insert(args.end(), {"--loss-log", dir.path("loss.csv"), "--time-limit", "2h"});
  const Exit e = run_child(args, 300);
  INFO(e.err);
  CHECK(e.code == cli::kExitOk);
  CHECK(e.err.find("reached") == std::string::npos);
  CHECK(iterations_made(e.err) == 3);
  CHECK(check_log(read_all(dir.path("loss.csv"))) == 3);
}

TEST_CASE("--max-memory: a history that does not fit is shortened and said so; an explicit one is refused") {
  if (!have_real_data()) return;
  TempDir dir;
  const Image c = resize_longest_side(load_image(kContent), 32), s = resize_longest_side(load_image(kStyle), 32);
  StylizeSettings st;
  st.lbfgs_history = 7;
  const int64_t budget = estimate_stylize_memory(c.height, c.width, s.height, s.width, st).total();
  std::vector<std::string> args = run_args(dir.path("out.png"), 2);
  args.insert(args.end(), {"--max-memory", std::to_string(budget)});
  const Exit e = run_child(args, 300);
  INFO(e.err);
  CHECK(e.code == cli::kExitOk);
  CHECK(e.err.find("the L-BFGS history of 100 pairs does not fit in " + format_bytes(budget) + ": keeping 7 pairs") !=
        std::string::npos);
  CHECK(e.err.find("L-BFGS history 7, estimated peak memory " + format_bytes(budget)) != std::string::npos);

  args = run_args(dir.path("out2.png"), 2);
  args.insert(args.end(), {"--max-memory", std::to_string(budget), "--lbfgs-history", "100"});
  const Exit refused = run_child(args, 300);
  INFO(refused.err);
  CHECK(refused.code == cli::kExitOsErr);
  CHECK(refused.err.find("lower --size or --lbfgs-history") != std::string::npos);
}

TEST_CASE("--max-memory over the untiled estimate: the run is tiled instead of refused; --tile bits for any thread count") {
  if (!have_real_data()) return;
  TempDir dir;
  // Shallow layers (align 8, halos 8 and 6 px, fast) at 512 px, where tiles save memory.
  const std::vector<std::string> layers{"--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1"};
  const Image c = resize_longest_side(load_image(kContent), 512), s = resize_longest_side(load_image(kStyle), 512);
  StylizeSettings st;
  st.loss.content_layers = {"relu2_1"};
  st.loss.style_layers = {"relu1_1", "relu2_1"};
  const int64_t whole = estimate_stylize_memory(c.height, c.width, s.height, s.width, st).total();
  st.tile = 200;
  const int64_t budget = estimate_stylize_memory(c.height, c.width, s.height, s.width, st).total();
  REQUIRE(budget < whole);
  CHECK(choose_tile(c.height, c.width, s.height, s.width, st, budget) == 200);
  std::vector<std::string> args = run_args(dir.path("out.png"), 2);
  args[std::find(args.begin(), args.end(), "--size") - args.begin() + 1] = "512";
  args.insert(args.end(), layers.begin(), layers.end());
  args.insert(args.end(), {"--max-memory", std::to_string(budget)});
  const Exit e = run_child(args, 300);
  INFO(e.err);
  CHECK(e.code == cli::kExitOk);
  CHECK(e.err.find("untiled, more than " + format_bytes(budget) + ": evaluating it in tiles of 200 px") != std::string::npos);
  CHECK(e.err.find("tiled: 2x3 tiles of 200 px, halo 8 px before and 6 after each") != std::string::npos);
  CHECK(e.err.find("L-BFGS history 100,") != std::string::npos);  // the whole history: a tile fits with it
  CHECK(access(dir.path("out.png").c_str(), F_OK) == 0);

  // --tile: the same bits with 1 and 2 threads.
  std::string bits[2];
  for (int threads : {1, 2}) {
    const std::string out = dir.path("tile" + std::to_string(threads) + ".png");
    args = run_args(out, 3);
    args[std::find(args.begin(), args.end(), "--size") - args.begin() + 1] = "96";
    args.insert(args.end(), layers.begin(), layers.end());
    args.insert(args.end(), {"--tile", "32", "--threads", std::to_string(threads)});
    const Exit t = run_child(args, 300);
    INFO(t.err);
    CHECK(t.code == cli::kExitOk);
    CHECK(t.err.find("tiled: 3x3 tiles of 32 px") != std::string::npos);
    bits[threads - 1] = read_all(out);
  }
  CHECK(!bits[0].empty());
  CHECK(bits[0] == bits[1]);
}

namespace {

// Rows of a loss log without the seconds column (the only column that depends on the clock).
std::string without_seconds(const std::string& log) {
  std::istringstream in(log);
  std::string line, out;
  while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + "\n";
  return out;
}

struct Files {
  std::string out, log, ckpt;
};

Files files(const TempDir& dir, const std::string& name) {
  return {dir.path(name + ".png"), dir.path(name + ".csv"), dir.path(name + ".ckpt")};
}

std::vector<std::string> checkpointed(const Files& f, int iterations, const std::string& resume = "") {
  std::vector<std::string> args = run_args(f.out, iterations);
  args.insert(args.end(), {"--loss-log", f.log, "--checkpoint", f.ckpt, "--checkpoint-every", "2"});
  if (!resume.empty()) args.insert(args.end(), {"--resume", resume, "--overwrite"});
  return args;
}

// A checkpointed run (with `extra` options) stopped by SIGINT after iteration 2 and resumed for 3
// more iterations: its image and loss log equal those of a run of as many iterations in one go.
void check_interrupted_and_resumed(const TempDir& dir, const std::vector<std::string>& extra) {
  auto args = [&](const Files& f, int iterations, const std::string& resume = "") {
    std::vector<std::string> a = checkpointed(f, iterations, resume);
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const Files cut = files(dir, "cut");
  {
    Child c(args(cut, 100000));
    REQUIRE(c.wait_for("iteration 2/", 300));
    c.send(SIGINT);
    const Exit stopped = c.finish(120);
    INFO(stopped.err);
    CHECK(stopped.code == cli::kExitSigInt);
    CHECK(stopped.err.find("and the run's state to " + cut.ckpt) != std::string::npos);
  }
  const StylizeCheckpoint saved = load_checkpoint(cut.ckpt).state;
  const int at = saved.kind == Optimizer::Adam ? saved.adam.iteration : saved.optimizer.iteration;
  CHECK(at >= 2);
  const int total = at + 3;  // the reference: this many iterations in one go
  const Files straight = files(dir, "straight_" + std::to_string(total));
  Exit e = run_child(args(straight, total), 300);
  REQUIRE(e.code == 0);
  e = run_child(args(cut, total, cut.ckpt), 300);
  INFO(e.err);
  REQUIRE(e.code == 0);
  CHECK(read_all(cut.out) == read_all(straight.out));
  CHECK(without_seconds(read_all(cut.log)) == without_seconds(read_all(straight.log)));
  CHECK(check_log(read_all(cut.log)) == total);
}

}  // namespace

TEST_CASE("checkpoint and resume: 5 then 10, or interrupted then resumed, equals 10 straight, to the byte") {
  if (!have_real_data()) return;
  TempDir dir;
  // The reference: 10 iterations without checkpoints, and with them (saving changes nothing).
  const Files plain = files(dir, "plain"), straight = files(dir, "straight");
  std::vector<std::string> args = run_args(plain.out, 10);
  args.insert(args.end(), {"--loss-log", plain.log});
  Exit e = run_child(args, 300);
  REQUIRE(e.code == 0);
  e = run_child(checkpointed(straight, 10), 300);
  INFO(e.err);
  REQUIRE(e.code == 0);
  CHECK(read_all(straight.out) == read_all(plain.out));
  CHECK(without_seconds(read_all(straight.log)) == without_seconds(read_all(plain.log)));
  CHECK(check_log(read_all(straight.log)) == 10);

  // 5 iterations, then resumed to 10.
  const Files parts = files(dir, "parts");
  e = run_child(checkpointed(parts, 5), 300);
  REQUIRE(e.code == 0);
  CHECK(check_log(read_all(parts.log)) == 5);
  e = run_child(checkpointed(parts, 10, parts.ckpt), 300);
  INFO(e.err);
  REQUIRE(e.code == 0);
  CHECK(e.err.find("resuming " + parts.ckpt + " at iteration 6") != std::string::npos);
  CHECK(read_all(parts.out) == read_all(straight.out));
  CHECK(without_seconds(read_all(parts.log)) == without_seconds(read_all(straight.log)));
  // The finished run's checkpoint continues further, too: --iterations is not part of its identity.
  CHECK(load_checkpoint(parts.ckpt).state.optimizer.iteration == 11);

}

TEST_CASE("checkpoint and resume: a run interrupted by SIGINT and resumed equals one never interrupted") {
  if (!have_real_data()) return;
  TempDir dir;
  check_interrupted_and_resumed(dir, {});
}

TEST_CASE("resume refuses another run's checkpoint naming what differs, and a damaged one") {
  if (!have_real_data()) return;
  TempDir dir;
  const Files f = files(dir, "a");
  Exit e = run_child(checkpointed(f, 2), 300);
  REQUIRE(e.code == 0);
  const std::string out_before = read_all(f.out);

  std::vector<std::string> args = checkpointed(f, 4, f.ckpt);
  args.insert(args.end(), {"--content-weight", "6"});
  e = run_child(args, 300);
  INFO(e.err);
  CHECK(e.code == cli::kExitUsage);
  CHECK(e.err.find("content_weight: 6 here, 5 in the checkpoint") != std::string::npos);
  args = checkpointed(f, 4, f.ckpt);
  args[4] = kContent;  // the content image as the style
  e = run_child(args, 300);
  CHECK(e.code == cli::kExitUsage);
  CHECK(e.err.find("style.0: ") != std::string::npos);
  e = run_child(checkpointed(f, 1, f.ckpt), 300);  // already at iteration 3
  CHECK(e.code == cli::kExitUsage);
  CHECK(e.err.find("--iterations 3 or more") != std::string::npos);

  const std::string bytes = read_all(f.ckpt);
  const std::string damaged = dir.path("damaged.ckpt");
  write_file(damaged, bytes.substr(0, bytes.size() - 10));
  e = run_child(checkpointed(f, 4, damaged), 300);
  INFO(e.err);
  CHECK(e.code == cli::kExitDataErr);
  CHECK(e.err.rfind("nst: " + damaged + ": ", 0) == 0);
  CHECK(std::count(e.err.begin(), e.err.end(), '\n') == 1);
  CHECK(read_all(f.out) == out_before);  // nothing written
}

TEST_CASE("resume: a checkpoint saved with clamp off (v2_lbfgs.ckpt) resumes with --no-clamp, not with the default") {
  if (!have_real_data()) return;
  TempDir dir;
  const std::string ckpt = std::string(NST_SOURCE_DIR) + "/tests/data/checkpoint/v2_lbfgs.ckpt";  // only read
  std::vector<std::string> args = run_args(dir.path("out.png"), 3);
  args.insert(args.end(), {"--lbfgs-history", "3", "--resume", ckpt, "--overwrite"});
  Exit e = run_child(args, 300);  // the default: clamp on without --line-search
  INFO(e.err);
  CHECK(e.code == cli::kExitUsage);
  CHECK(e.err.find("(clamp: on here, off in the checkpoint)") != std::string::npos);
  args.push_back("--no-clamp");
  e = run_child(args, 300);
  INFO(e.err);
  CHECK(e.code == 0);
  CHECK(e.err.find("resuming " + ckpt + " at iteration 3") != std::string::npos);
}

TEST_CASE("checkpoint and resume with --start-size: resumed at the last scale equals the run straight") {
  if (!have_real_data()) return;
  TempDir dir;
  // Scales 32, 45 and 48 px, 3 iterations at each of the first two.
  auto args = [&](const Files& f, int iterations, const std::string& resume) {
    std::vector<std::string> a = checkpointed(f, iterations, resume);
    for (std::string& v : a)
      if (v == "32") v = "48";
    a.insert(a.end(), {"--start-size", "32", "--scale-iterations", "3"});
    return a;
  };
  // Without the seconds column (the 6th: of 8 in the rows, of 6 in the saved row).
  auto without_time = [](const std::string& log) {
    std::istringstream in(log);
    std::string line, out;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string field;
      for (int i = 0; std::getline(fields, field, ','); ++i)
        if (i != 5) out += field + ",";
      out += "\n";
    }
    return out;
  };
  const Files straight = files(dir, "straight"), parts = files(dir, "parts");
  Exit e = run_child(args(straight, 4, ""), 300);
  INFO(e.err);
  REQUIRE(e.code == 0);
  e = run_child(args(parts, 2, ""), 300);
  REQUIRE(e.code == 0);
  CHECK(load_checkpoint(parts.ckpt).state.scale == 2);
  e = run_child(args(parts, 4, parts.ckpt), 300);
  INFO(e.err);
  REQUIRE(e.code == 0);
  CHECK(e.err.find("resuming " + parts.ckpt + " at iteration 9") != std::string::npos);  // 3 + 3 + 3rd
  CHECK(read_all(parts.out) == read_all(straight.out));
  const std::string log = without_time(read_all(parts.log));
  CHECK(log == without_time(read_all(straight.log)));
  CHECK(log.find("10,") != std::string::npos);
}

TEST_CASE("checkpoint and resume with --optimizer adam: 5 then 10, or interrupted then resumed, equals 10 straight") {
  if (!have_real_data()) return;
  TempDir dir;
  auto adam = [](const Files& f, int iterations, const std::string& resume = "") {
    std::vector<std::string> a = checkpointed(f, iterations, resume);
    a.insert(a.end(), {"--optimizer", "adam"});
    return a;
  };
  // The reference (that saving changes nothing is test_adam_state's).
  const Files straight = files(dir, "straight");
  Exit e = run_child(adam(straight, 10), 300);
  INFO(e.err);
  REQUIRE(e.code == 0);
  CHECK(check_log(read_all(straight.log)) == 10);

  // 5 iterations, then resumed to 10.
  const Files parts = files(dir, "parts");
  e = run_child(adam(parts, 5), 300);
  REQUIRE(e.code == 0);
  CHECK(load_checkpoint(parts.ckpt).state.kind == Optimizer::Adam);
  e = run_child(adam(parts, 10, parts.ckpt), 300);
  INFO(e.err);
  REQUIRE(e.code == 0);
  CHECK(e.err.find("resuming " + parts.ckpt + " at iteration 6") != std::string::npos);
  CHECK(e.err.find("Adam made 10 iterations, 11 evaluations") != std::string::npos);
  CHECK(read_all(parts.out) == read_all(straight.out));
  CHECK(without_seconds(read_all(parts.log)) == without_seconds(read_all(straight.log)));
  CHECK(load_checkpoint(parts.ckpt).state.adam.iteration == 10);

  // Interrupted by SIGINT, then resumed.
  check_interrupted_and_resumed(dir, {"--optimizer", "adam"});
}

TEST_CASE("resume refuses the other optimizer's checkpoint naming it, and a damaged Adam checkpoint") {
  if (!have_real_data()) return;
  TempDir dir;
  const Files a = files(dir, "adam"), l = files(dir, "lbfgs");
  std::vector<std::string> args = checkpointed(a, 2);
  args.insert(args.end(), {"--optimizer", "adam"});
  Exit e = run_child(args, 300);
  REQUIRE(e.code == 0);
  e = run_child(checkpointed(l, 2), 300);
  REQUIRE(e.code == 0);
  const std::string out_before = read_all(a.out);

  e = run_child(checkpointed(a, 4, a.ckpt), 300);  // an Adam checkpoint, resumed with L-BFGS
  INFO(e.err);
  CHECK(e.code == cli::kExitUsage);
  CHECK(e.err.find("nst: " + a.ckpt + ": the checkpoint was made with --optimizer adam, this run uses --optimizer lbfgs") ==
        0);
  CHECK(std::count(e.err.begin(), e.err.end(), '\n') == 1);
  args = checkpointed(l, 4, l.ckpt);  // an L-BFGS checkpoint, resumed with Adam
  args.insert(args.end(), {"--optimizer", "adam"});
  e = run_child(args, 300);
  CHECK(e.code == cli::kExitUsage);
  CHECK(e.err.find("made with --optimizer lbfgs, this run uses --optimizer adam") != std::string::npos);
  CHECK(std::count(e.err.begin(), e.err.end(), '\n') == 1);

  const std::string bytes = read_all(a.ckpt);
  const std::string damaged = dir.path("damaged.ckpt");
  std::string flipped = bytes;
  flipped[bytes.size() - 7] = static_cast<char>(flipped[bytes.size() - 7] ^ 0x01);  // in v's or x_best's data
  write_file(damaged, flipped);
  args = checkpointed(a, 4, damaged);
  args.insert(args.end(), {"--optimizer", "adam"});
  e = run_child(args, 300);
  INFO(e.err);
  CHECK(e.code == cli::kExitDataErr);
  CHECK(e.err.rfind("nst: " + damaged + ": ", 0) == 0);
  CHECK(std::count(e.err.begin(), e.err.end(), '\n') == 1);
  CHECK(read_all(a.out) == out_before);  // nothing written
}
