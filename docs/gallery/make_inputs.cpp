// Makes the inputs of the EXIF and alpha examples in docs/gallery/README.md from a photo, with
// nst's own image library (not part of the build; the README gives the command):
//   phone_sideways.jpg  the photo as a phone stores a portrait shot: pixels turned 90 degrees
//                       counter-clockwise plus EXIF orientation 6 ("turn clockwise to view")
//   logo_rgba.png       a disc cut out of the photo: alpha 255 inside, a soft edge, 0 outside
//                       (black RGB under the transparent part)
#include "nst/io/image.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_inputs PHOTO OUTDIR\n");
    return 64;
  }
  const std::string out = argv[2];
  const nst::Image photo = nst::resize_longest_side(nst::load_image(argv[1]), 384);

  // Portrait: a crop of the photo, height 1.5 x width, then stored turned counter-clockwise.
  const int pw = std::min(photo.width, photo.height * 2 / 3), ph = pw * 3 / 2 > photo.height ? photo.height : pw * 3 / 2;
  nst::Image stored;
  stored.width = ph;  // turned: width and height swap
  stored.height = pw;
  for (int y = 0; y < stored.height; ++y)
    for (int x = 0; x < stored.width; ++x)  // stored(x, y) = portrait(W - 1 - y, x)
      for (int k = 0; k < 3; ++k) stored.rgb.push_back(photo.rgb[size_t(3 * (x * photo.width + (pw - 1 - y)) + k)]);
  std::vector<unsigned char> jpeg = nst::encode_image(stored, "x.jpg", 92);
  const unsigned char app1[] = {0xFF, 0xE1, 0, 34, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                                0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
  jpeg.insert(jpeg.begin() + 2, app1, app1 + sizeof app1);
  std::ofstream(out + "/phone_sideways.jpg", std::ios::binary)
      .write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));

  // Logo: a disc with a 3-pixel soft edge.
  const int side = std::min(photo.width, photo.height);
  nst::Image logo;
  logo.width = logo.height = side;
  const double c = (side - 1) / 2.0, r = side * 0.45;
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      const double d = std::hypot(x - c, y - c);
      const float a = static_cast<float>(std::round(255.0 * std::min(1.0, std::max(0.0, (r - d) / 3.0))));
      logo.alpha.push_back(a);
      for (int k = 0; k < 3; ++k)
        logo.rgb.push_back(a > 0 ? photo.rgb[size_t(3 * (y * photo.width + x + (photo.width - side) / 2) + k)] : 0.0f);
    }
  nst::save_image(logo, out + "/logo_rgba.png", {95, true});
  return 0;
}
