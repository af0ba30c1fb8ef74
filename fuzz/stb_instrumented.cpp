// The fuzz build (NST_FUZZ=ON) compiles stb's implementations here, from the system headers,
// instead of linking Debian's prebuilt libstb, so that libFuzzer sees coverage inside the decoder
// and ASan/UBSan check it. Not part of the normal build.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>
