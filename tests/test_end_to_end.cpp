// End to end with the real VGG19 weights (needs ../shared/weights and ../shared/images; skips
// with a message where they are absent): a short run at a small size.
#include <doctest/doctest.h>

#include "support/shared_data.h"
#include "nst/io/image.h"
#include "nst/model/vgg19.h"
#include "nst/style/stylize.h"

#include <omp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

using namespace nst;
using namespace nst::testing;

namespace {


struct Run {
  StylizeResult result;
  std::vector<double> losses;
};

Run run(const Vgg19<float>& net, int threads) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  const Image content = resize_longest_side(load_image(kContent), 80);
  const Image style = resize_longest_side(load_image(kStyle), 80);
  StylizeSettings s;
  s.iterations = 30;
  s.seed = 3;
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
  const Vgg19<float> net = load_vgg19(kWeights);
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
  while (std::getline(in, line)) ++rows;
  CHECK(rows == 8);
  // A second run without --overwrite must refuse and leave the image alone.
  struct stat before {};
  stat(out.c_str(), &before);
  const int again = std::system(cmd.c_str());
  CHECK(WEXITSTATUS(again) == 73);
  struct stat after {};
  stat(out.c_str(), &after);
  CHECK(before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
  std::system(("rm -rf " + dir).c_str());
}
