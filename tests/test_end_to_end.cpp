// End to end with the real VGG19 weights (needs ../shared/weights and ../shared/images; skips
// with a message where they are absent): a short run at a small size.
#include <doctest/doctest.h>

#include "support/exif_bytes.h"
#include "support/shared_data.h"
#include "support/temp_dir.h"
#include "nst/io/image.h"
#include "nst/model/vgg19.h"
#include "nst/style/stylize.h"

#include <omp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>

using namespace nst;
using namespace nst::testing;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_all(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

struct Run {
  StylizeResult result;
  std::vector<double> losses;
};

Run run(const Vgg<float>& net, int threads, bool relative = false) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  const Image content = resize_longest_side(load_image(kContent), 80);
  const Image style = resize_longest_side(load_image(kStyle), 80);
  StylizeSettings s;
  s.iterations = 30;
  s.seed = 3;
  if (relative) use_relative_scale(s.loss);
  Run r;
  StylizeCallbacks cb;
  cb.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>&) {
    r.losses.push_back(p.terms.total);
    return true;
  };
  r.result = stylize(net, content, {style}, s, cb);
  omp_set_num_threads(saved);
  return r;
}

}  // namespace

TEST_CASE("real weights: 30 iterations at 80 px cut the loss by a large factor, same for 1 and 2 threads") {
  if (!have_real_data()) return;
  const Vgg<float> net = load_vgg(kWeights);
  CHECK(net.preprocess == Preprocess::Caffe);
  const Run one = run(net, 1), two = run(net, 2);
  REQUIRE(one.losses.size() == 30);
  INFO("first loss " << one.losses.front() << ", best " << one.result.best.total);
  CHECK(one.result.optimizer.stop == LbfgsStop::MaxIterations);
  CHECK(one.result.best.total < one.losses.front() / 10);
  CHECK(one.result.image.width == 80);
  CHECK(one.result.image.height == 60);
  CHECK(one.losses == two.losses);
  CHECK(one.result.image.rgb == two.result.image.rgb);
}

TEST_CASE("real weights: --loss-scale relative from a random start cuts the loss as classic does") {
  // With weights that only set the balance (content 1, style 88) the loss was about 89: L-BFGS's
  // steps moved no pixel by more than rounding, every curvature pair was skipped (s'y <= 1e-10),
  // and 30 iterations left the loss where it started (88.98357 -> 88.98347 at 80 px).
  if (!have_real_data()) return;
  const Vgg<float> net = load_vgg(kWeights);
  const Run r = run(net, 2, true);
  REQUIRE(r.losses.size() == 30);
  INFO("first loss " << r.losses.front() << ", best " << r.result.best.total << ", pairs skipped "
                     << r.result.optimizer.skipped_pairs);
  CHECK(r.result.optimizer.stop == LbfgsStop::MaxIterations);
  CHECK(r.result.best.total < r.losses.front() / 10);
  CHECK(r.result.optimizer.skipped_pairs < 5);
}

TEST_CASE("the nst command writes a valid image of the requested size and a loss log") {
  if (!have_real_data()) return;
  char dir_template[] = "/tmp/nst_e2e_XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template, out = dir + "/out.png", log = dir + "/loss.csv";
  const std::string cmd = std::string(NST_BINARY) + " --content " + kContent + " --style " + kStyle +
                          " --output " + out + " --size 64 --iterations 8 --weights " + kWeights +
                          " --loss-log " + log + " --print-every 4 2>" + dir + "/stderr.txt";
  const int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  const Image img = load_image(out);
  CHECK(img.width == 64);
  CHECK(img.height == 48);
  std::ifstream in(log);
  std::string line;
  std::getline(in, line);
  CHECK(line == "iteration,total,content,style,tv,seconds");
  int rows = 0;
  std::string last;
  while (std::getline(in, line)) rows += line.rfind("saved,", 0) != 0, last = line;
  CHECK(rows == 8);
  CHECK(last.rfind("saved,", 0) == 0);  // then the loss of the image as written
  // A second run without --overwrite must refuse and leave the image alone: same bytes, same
  // inode, same modification time (seconds and nanoseconds).
  const std::string bytes_before = read_all(out);
  struct stat before {};
  REQUIRE(stat(out.c_str(), &before) == 0);
  const int again = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(again));
  CHECK(WEXITSTATUS(again) == 73);
  struct stat after {};
  REQUIRE(stat(out.c_str(), &after) == 0);
  CHECK(before.st_ino == after.st_ino);
  CHECK(before.st_mtim.tv_sec == after.st_mtim.tv_sec);
  CHECK(before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
  CHECK(read_all(out) == bytes_before);
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("images as people have them go through nst: a sideways phone JPEG, RGBA, 16-bit PNG, WebP") {
  if (!have_real_data()) return;
  TempDir dir;
  // Inputs made from the shared photo at 48x32 (landscape).
  const Image photo = resize_image(load_image(kContent), 48, 32);
  {  // the phone stored it sideways: 32x48 pixels plus "turn 90 degrees clockwise" (EXIF 6)
    Image stored;
    stored.width = 32;
    stored.height = 48;
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 32; ++x)  // stored(x, y) = photo(47 - y, x): photo turned counter-clockwise
        for (int k = 0; k < 3; ++k) stored.rgb.push_back(photo.rgb[size_t(3 * (x * 48 + (47 - y)) + k)]);
    write_all(dir / "phone.jpg", with_exif_app1(encode_image(stored, "x.jpg", 95), 6));
  }
  Image logo = photo;
  for (int i = 0; i < 48 * 32; ++i) logo.alpha.push_back(i % 48 < 12 ? 0.0f : float((i * 7) % 256));
  save_image(logo, dir / "logo.png");
  SaveOptions deep;
  deep.bit_depth = 16;
  Image photo16 = photo;
  for (float& v : photo16.rgb) v = std::min(255.0f, v + 0.5f / 257.0f * 100.0f);  // not 8-bit values
  save_image(photo16, dir / "deep.png", deep);
  save_image(photo, dir / "photo.webp");

  const auto nst = [&](const std::string& content, const std::string& out, const std::string& extra = "") {
    const std::string cmd = std::string(NST_BINARY) + " --content " + dir / content + " --style " + kStyle +
                            " --output " + dir / out + " --size 48 --iterations 2 --weights " + kWeights + " " +
                            extra + " 2>" + dir / (out + ".err");
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  // The phone photo comes out upright: landscape, 48x32.
  REQUIRE(nst("phone.jpg", "phone_out.png") == 0);
  const Image upright = load_image(dir / "phone_out.png");
  CHECK(upright.width == 48);
  CHECK(upright.height == 32);
  // Alpha goes through PNG and WebP unchanged; JPEG says once that it is dropped.
  REQUIRE(nst("logo.png", "logo_out.png") == 0);
  CHECK(load_image(dir / "logo_out.png").alpha == load_image(dir / "logo.png").alpha);
  REQUIRE(nst("logo.png", "logo_out.webp") == 0);
  CHECK(load_image(dir / "logo_out.webp").alpha == load_image(dir / "logo.png").alpha);
  REQUIRE(nst("logo.png", "logo_out.jpg", "--save-every 1") == 0);
  const std::string err = read_all(dir / "logo_out.jpg.err");
  const size_t warning = err.find("transparency is dropped");
  CHECK(warning != std::string::npos);
  CHECK(err.find("transparency is dropped", warning + 1) == std::string::npos);  // once, not per file
  // A 16-bit PNG in, 16-bit PNG out.
  REQUIRE(nst("deep.png", "deep_out.png", "--bit-depth 16") == 0);
  CHECK(read_all(dir / "deep_out.png")[24] == 16);
  CHECK(load_image(dir / "deep_out.png").width == 48);
  // WebP in and out.
  REQUIRE(nst("photo.webp", "photo_out.webp") == 0);
  const Image webp = load_image(dir / "photo_out.webp");
  CHECK(webp.width == 48);
  CHECK(webp.height == 32);
}
