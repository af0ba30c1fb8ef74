// Batch mode (cli/batch.h): input listing, shards, per-item seeds, the settings key (unit
// tests), and through the binary with the real weights at tiny sizes: two shards as two
// processes at once cover a folder exactly once, a rerun with --skip-existing does nothing, a
// changed setting reruns, results do not depend on the sharding, --keep-going, --shard auto/N.
#include <doctest/doctest.h>

#include "cli/batch.h"
#include "nst/io/image.h"
#include "support/shared_data.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

using namespace nst;
using namespace nst::cli;
using nst::testing::Child;
using nst::testing::Exit;
using nst::testing::TempDir;

namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_random_png(const std::string& path, int w, int h, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(static_cast<size_t>(w * h * 3));
  for (float& v : img.rgb) v = static_cast<float>(rng() % 256);
  save_image(img, path);
}

// The events of a JSON Lines file.
std::vector<nlohmann::json> events(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// input -> number of "done" events with the given status.
std::map<std::string, int> done_counts(const std::vector<nlohmann::json>& ev, const std::string& status) {
  std::map<std::string, int> n;
  for (const auto& e : ev)
    if (e["event"] == "done" && e["status"] == status) ++n[e["input"].get<std::string>()];
  return n;
}

}  // namespace

TEST_CASE("list_batch_inputs: images of a directory sorted, or a list file relative to itself") {
  TempDir dir;
  std::filesystem::create_directory(dir / "in");
  for (const char* name : {"b.png", "a.JPG", "c.bmp", "notes.txt", "d.jpeg"}) write_text(dir / (std::string("in/") + name), "x");
  std::filesystem::create_directory(dir / "in/sub.png");  // a directory, not an input
  const auto files = list_batch_inputs(dir / "in");
  REQUIRE(files.size() == 4);
  CHECK(files[0] == dir / "in/a.JPG");
  CHECK(files[3] == dir / "in/d.jpeg");
  write_text(dir / "list.txt", "# frames\nin/b.png\n\n  in/a.JPG  \n/abs/x.png\nin/b.png\n");
  const auto listed = list_batch_inputs(dir / "list.txt");
  CHECK(listed == std::vector<std::string>{"/abs/x.png", dir / "in/a.JPG", dir / "in/b.png"});
  write_text(dir / "empty.txt", "# nothing\n");
  CHECK_THROWS_AS(list_batch_inputs(dir / "empty.txt"), InputError);
  CHECK_THROWS_AS(list_batch_inputs(dir / "missing.txt"), InputError);
}

TEST_CASE("shard_slice: the shards partition the list; item_seed depends on seed and file name only") {
  std::vector<std::string> items;
  for (int i = 0; i < 11; ++i) items.push_back("f" + std::to_string(i));
  for (int n : {1, 2, 3, 11, 20}) {
    std::multiset<std::string> all;
    for (int i = 0; i < n; ++i)
      for (const auto& s : shard_slice(items, i, n)) all.insert(s);
    CHECK(all == std::multiset<std::string>(items.begin(), items.end()));
  }
  CHECK(shard_slice(items, 1, 3) == std::vector<std::string>{"f1", "f4", "f7", "f10"});
  CHECK(item_seed(0, "/a/x.png") == item_seed(0, "/b/x.png"));
  CHECK(item_seed(0, "x.png") != item_seed(0, "y.png"));
  CHECK(item_seed(0, "x.png") != item_seed(1, "x.png"));
  CHECK(batch_output_path("out", "in/photo.jpg") == "out/photo.png");
}

TEST_CASE("settings_key ignores the options that do not change the images") {
  const std::vector<std::string> a{"nst", "batch", "--content", "in", "--shard", "0/2", "--style", "s.png",
                                   "--iterations", "5", "--threads=2", "--skip-existing", "--output", "o"};
  const std::vector<std::string> b{"nst", "--batch", "--style", "s.png", "--iterations", "5", "--content=other",
                                   "--events", "-", "--keep-going", "--output", "p"};
  CHECK(settings_key(a) == settings_key(b));
  std::vector<std::string> c = b;
  c[4] = "6";
  CHECK(settings_key(c) != settings_key(b));
}

TEST_CASE("parse_shard") {
  Options o;
  parse_shard("2/5", o);
  CHECK((o.shard_index == 2 && o.shard_count == 5 && !o.shard_auto));
  parse_shard("auto/4", o);
  CHECK((o.shard_auto && o.shard_count == 4));
  for (const char* bad : {"5/5", "1", "-1/3", "a/3", "1/0", "/3", "1/"}) CHECK_THROWS_AS(parse_shard(bad, o), UsageError);
}

TEST_CASE("nst batch: two shards at once cover a folder exactly once; --skip-existing; sharding-independent results") {
  if (!testing::have_real_data()) return;
  TempDir dir;
  std::filesystem::create_directory(dir / "in");
  std::filesystem::create_directory(dir / "out");
  std::filesystem::create_directory(dir / "whole");
  const int kItems = 5;
  for (int i = 0; i < kItems; ++i) write_random_png(dir / ("in/c" + std::to_string(i) + ".png"), 24, 20, 10 + i);
  write_random_png(dir / "style.png", 16, 16, 99);
  auto command = [&](const std::string& out, const std::vector<std::string>& extra) {
    std::vector<std::string> argv{NST_BINARY, "batch", "--content", dir / "in", "--style", dir / "style.png",
                                  "--output", out, "--size", "24", "--iterations", "2", "--lbfgs-history", "3",
                                  "--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1",
                                  "--weights", testing::kWeights, "--threads", "1", "--print-every", "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  };
  // Two shards as two processes at the same time, sharing one events file.
  const std::string ev = dir / "events.jsonl";
  Child a(command(dir / "out", {"--shard", "0/2", "--events", ev}));
  Child b(command(dir / "out", {"--shard", "1/2", "--events", ev}));
  const Exit ea = a.finish(300), eb = b.finish(300);
  INFO(ea.err << eb.err);
  REQUIRE(ea.code == 0);
  REQUIRE(eb.code == 0);
  const auto first = events(ev);
  const auto ok = done_counts(first, "ok");
  CHECK(ok.size() == static_cast<size_t>(kItems));
  for (const auto& [input, n] : ok) CHECK_MESSAGE(n == 1, input);
  for (int i = 0; i < kItems; ++i) {
    const std::string out = dir / ("out/c" + std::to_string(i) + ".png");
    CHECK(load_image(out).width == 24);
  }
  int progress = 0;
  for (const auto& e : first) progress += e["event"] == "progress";
  CHECK(progress == 2 * kItems);

  // A rerun with --skip-existing writes nothing.
  std::map<std::string, std::string> before;
  for (const auto& e : std::filesystem::directory_iterator(dir / "out")) before[e.path().string()] = read_all(e.path());
  const std::string ev2 = dir / "events2.jsonl";
  Exit e2 = testing::run_child(command(dir / "out", {"--skip-existing", "--events", ev2}), 300);
  INFO(e2.err);
  REQUIRE(e2.code == 0);
  CHECK(done_counts(events(ev2), "skipped").size() == static_cast<size_t>(kItems));
  CHECK(done_counts(events(ev2), "ok").empty());
  for (const auto& [path, bytes] : before) CHECK(read_all(path) == bytes);

  // Without --skip-existing or --overwrite the existing outputs are refused; --keep-going goes on.
  Exit e3 = testing::run_child(command(dir / "out", {"--keep-going"}), 300);
  CHECK(e3.code == kExitCantCreat);
  CHECK(e3.err.find("5 failed") != std::string::npos);

  // A changed setting reruns everything, replacing our own outputs.
  const std::string ev4 = dir / "events4.jsonl";
  Exit e4 = testing::run_child(command(dir / "out", {"--skip-existing", "--tv-weight", "0.5", "--events", ev4}), 300);
  INFO(e4.err);
  CHECK(e4.code == 0);
  CHECK(done_counts(events(ev4), "ok").size() == static_cast<size_t>(kItems));

  // The same settings unsharded, in another folder: byte-identical images (per-item seeds).
  Exit e5 = testing::run_child(command(dir / "whole", {"--tv-weight", "0.5"}), 300);
  CHECK(e5.code == 0);
  for (int i = 0; i < kItems; ++i) {
    const std::string name = "c" + std::to_string(i) + ".png";
    CHECK(read_all(dir / ("whole/" + name)) == read_all(dir / ("out/" + name)));
  }
}

TEST_CASE("nst batch: --keep-going past a bad input, non-zero exit; --shard auto/N from JOB_COMPLETION_INDEX") {
  if (!testing::have_real_data()) return;
  TempDir dir;
  std::filesystem::create_directory(dir / "in");
  std::filesystem::create_directory(dir / "out");
  write_random_png(dir / "in/a.png", 16, 16, 1);
  write_text(dir / "in/b.png", "not an image");
  write_random_png(dir / "in/c.png", 16, 16, 3);
  write_random_png(dir / "style.png", 16, 16, 4);
  std::vector<std::string> argv{NST_BINARY, "batch", "--content", dir / "in", "--style", dir / "style.png",
                                "--output", dir / "out", "--size", "16", "--iterations", "1",
                                "--content-layers", "relu1_1", "--style-layers", "relu1_1",
                                "--weights", testing::kWeights, "--events", "-"};
  std::vector<std::string> keep = argv;
  keep.push_back("--keep-going");
  Exit e = testing::run_child(keep, 300);
  INFO(e.err);
  CHECK(e.code == kExitDataErr);  // the first failure's code
  CHECK(std::filesystem::exists(dir / "out/a.png"));
  CHECK(std::filesystem::exists(dir / "out/c.png"));
  CHECK_FALSE(std::filesystem::exists(dir / "out/b.png"));
  CHECK(e.err.find("b.png") != std::string::npos);

  // Kubernetes Indexed Job: index 1 of 3 takes only b.png (which fails, without --keep-going).
  std::vector<std::string> autoshard = argv;
  autoshard.insert(autoshard.end(), {"--shard", "auto/3", "--overwrite"});
  Exit k = testing::run_child(autoshard, 300, [] { ::setenv("JOB_COMPLETION_INDEX", "1", 1); });
  CHECK(k.code == kExitDataErr);
  CHECK(k.err.find("shard 1/3: 1") != std::string::npos);
  Exit missing = testing::run_child(autoshard, 60, [] {
    ::unsetenv("JOB_COMPLETION_INDEX");
    ::unsetenv("SLURM_ARRAY_TASK_ID");
  });
  CHECK(missing.code == kExitUsage);
}
