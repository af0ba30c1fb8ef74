// libFuzzer target: exif_orientation on arbitrary bytes (see entry_points.h and README.md).
#include "entry_points.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nst::fuzz::exif_orientation_input(data, size);
  return 0;
}
