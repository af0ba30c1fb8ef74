// The one EXIF field nst uses: the orientation (TIFF tag 0x0112) that phone cameras write
// instead of rotating the pixels. The input is untrusted (it comes from an image file): every
// offset is checked against the buffer, and anything malformed means "no orientation".
#pragma once

#include <cstddef>

namespace nst {

// The orientation in an EXIF block (a TIFF structure: "II*\0" or "MM\0*", IFD0 offset, IFD0
// entries), optionally preceded by the "Exif\0\0" of a JPEG APP1 segment. Returns 1..8, or 1
// (as stored, upright) when there is none or the block is malformed.
//   1 upright, 2 mirrored left-right, 3 rotated 180, 4 mirrored top-bottom,
//   5 transposed, 6 needs 90 degrees clockwise, 7 transversed, 8 needs 90 degrees counter-clockwise.
int exif_orientation(const unsigned char* data, size_t size);

}  // namespace nst
