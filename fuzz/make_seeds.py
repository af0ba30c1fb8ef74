#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/: small synthetic inputs made here (no image
from ../shared). PNG and BMP are built byte by byte; JPEG seeds come from stb_image_write through
a throwaway C program (needs cc and libstb-dev). Run from anywhere: python3 fuzz/make_seeds.py
"""
import json
import os
import struct
import subprocess
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- PNG
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png(w, h, color_type, depth, sample, interlace=0, palette=None, trns=None):
    """sample(x, y) -> tuple of channel values for that pixel."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    bps = depth // 8 if depth >= 8 else 0

    def row_bytes(xs, y):
        if depth < 8:
            bits = "".join(format(sample(x, y)[0], "0%db" % depth) for x in xs)
            bits += "0" * (-len(bits) % 8)
            return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
        raw = b""
        for x in xs:
            for v in sample(x, y)[:channels]:
                raw += v.to_bytes(bps, "big")
        return raw

    raw = b""
    if interlace == 0:
        for y in range(h):
            raw += b"\x00" + row_bytes(range(w), y)
    else:  # Adam7
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        for x0, y0, dx, dy in passes:
            xs = list(range(x0, w, dx))
            if not xs:
                continue
            for y in range(y0, h, dy):
                raw += b"\x00" + row_bytes(xs, y)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, interlace)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette:
        data += chunk(b"PLTE", b"".join(bytes(c) for c in palette))
    if trns:
        data += chunk(b"tRNS", trns)
    return data + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def images():
    t = "decode_image"
    rgb = lambda x, y: ((x * 40) % 256, (y * 60) % 256, ((x + y) * 25) % 256, 200)
    out(t, "png_rgb8_5x4", png(5, 4, 2, 8, rgb))
    out(t, "png_rgba8_3x3", png(3, 3, 6, 8, rgb))
    out(t, "png_gray8_4x2", png(4, 2, 0, 8, lambda x, y: (x * 60,)))
    out(t, "png_gray1_9x3", png(9, 3, 0, 1, lambda x, y: ((x + y) % 2,)))
    out(t, "png_gray4_5x2", png(5, 2, 0, 4, lambda x, y: ((x * 3) % 16,)))
    out(t, "png_grayalpha8_2x2", png(2, 2, 4, 8, lambda x, y: (x * 100, 255 - y * 100)))
    out(t, "png_rgb16_3x2", png(3, 2, 2, 16, lambda x, y: (x * 20000, y * 30000, 65535)))
    out(t, "png_gray16_2x2", png(2, 2, 0, 16, lambda x, y: (x * 40000 + y,)))
    pal = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9)]
    out(t, "png_palette2_6x3", png(6, 3, 3, 2, lambda x, y: ((x + y) % 4,), palette=pal))
    out(t, "png_palette8_trns_3x3", png(3, 3, 3, 8, lambda x, y: ((x * y) % 4,), palette=pal, trns=b"\x00\x80"))
    out(t, "png_interlaced_rgb8_9x9", png(9, 9, 2, 8, rgb, interlace=1))
    out(t, "png_interlaced_gray2_10x7", png(10, 7, 0, 2, lambda x, y: ((x ^ y) % 4,), interlace=1))
    out(t, "png_1x1", png(1, 1, 2, 8, rgb))
    out(t, "png_1x40", png(1, 40, 0, 8, lambda x, y: (y * 6,)))
    out(t, "png_header_only_huge", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)))
    ok = png(4, 4, 2, 8, rgb)
    out(t, "png_truncated", ok[: len(ok) - 20])
    bad = bytearray(ok)
    bad[30] ^= 0xFF  # inside the IHDR CRC
    out(t, "png_bad_crc", bytes(bad))

    # BMP: 24-bit bottom-up, 32-bit top-down, 8-bit palette.
    def bmp(w, h, bpp, top_down=False, palette=None):
        stride = (w * bpp // 8 + 3) & ~3
        pix = b""
        for y in range(h):
            row = b""
            for x in range(w):
                if bpp == 24:
                    row += bytes(((x * 50) % 256, (y * 70) % 256, 128))
                elif bpp == 32:
                    row += bytes(((x * 50) % 256, (y * 70) % 256, 128, 255))
                else:
                    row += bytes(((x + y) % 4,))
            pix += row + b"\x00" * (stride - len(row))
        pal = b"".join(bytes((b, g, r, 0)) for r, g, b in (palette or []))
        offset = 14 + 40 + len(pal)
        info = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bpp, 0, len(pix), 2835, 2835,
                           len(palette or []), 0)
        return b"BM" + struct.pack("<IHHI", offset + len(pix), 0, 0, offset) + info + pal + pix

    out(t, "bmp_24_5x3", bmp(5, 3, 24))
    out(t, "bmp_32_topdown_3x2", bmp(3, 2, 32, top_down=True))
    out(t, "bmp_8_palette_4x4", bmp(4, 4, 8, palette=pal))

    # Signatures that must be refused before stb sees them.
    out(t, "gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
    out(t, "psd", b"8BPS\x00\x01" + b"\x00" * 20)
    out(t, "hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 1\n\x80\x80\x80\x80")
    out(t, "text", b"not an image at all\n")

    # JPEG via stb_image_write (baseline; RGB and gray).
    src = r"""
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#include <stdio.h>
int main(int argc, char** argv) {
  unsigned char px[17 * 9 * 3];
  for (int i = 0; i < 17 * 9 * 3; ++i) px[i] = (unsigned char)((i * 37) % 256);
  char path[4096];
  snprintf(path, sizeof path, "%s/jpeg_rgb_q90_8x8", argv[1]);
  stbi_write_jpg(path, 8, 8, 3, px, 90);
  snprintf(path, sizeof path, "%s/jpeg_rgb_q30_17x9", argv[1]);
  stbi_write_jpg(path, 17, 9, 3, px, 30);
  snprintf(path, sizeof path, "%s/jpeg_gray_q75_9x5", argv[1]);
  stbi_write_jpg(path, 9, 5, 1, px, 75);
  snprintf(path, sizeof path, "%s/jpeg_rgb_q100_1x1", argv[1]);
  stbi_write_jpg(path, 1, 1, 3, px, 100);
  return 0;
}
"""
    with tempfile.TemporaryDirectory() as tmp:
        c = os.path.join(tmp, "jpeg_seeds.c")
        with open(c, "w") as f:
            f.write(src)
        exe = os.path.join(tmp, "jpeg_seeds")
        subprocess.run(["cc", "-O1", "-I/usr/include/stb", c, "-o", exe, "-lm"], check=True)
        subprocess.run([exe, os.path.join(HERE, "corpus", t)], check=True)
    jpg = open(os.path.join(HERE, "corpus", t, "jpeg_rgb_q90_8x8"), "rb").read()
    out(t, "jpeg_truncated", jpg[: len(jpg) // 2])

    # EXIF orientation: an APP1 segment after SOI (JPEG), an eXIf chunk (PNG).
    for o in (3, 6, 8):
        app1 = b"Exif\0\0" + tiff_orientation(o, little=o != 6)
        out(t, "jpeg_exif_orientation_%d_8x8" % o, jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpg[2:])
    p = png(3, 2, 2, 8, rgb)
    out(t, "png_exif_orientation_6_3x2", p[:33] + chunk(b"eXIf", tiff_orientation(6)) + p[33:])
    out(t, "png_rgba16_2x2", png(2, 2, 6, 16, lambda x, y: (x * 65535, y * 30000, 7, 1000 + x)))
    # A (minimal, not colorimetrically meaningful) ICC profile in an iCCP chunk.
    profile = struct.pack(">I", 128) + b"\0" * 32 + b"acsp" + b"\0" * 88
    out(t, "png_iccp_2x2", p[:33] + chunk(b"iCCP", b"test\0\0" + zlib.compress(profile)) + p[33:])

    # WebP via libwebp (lossy RGB, lossless RGBA) through a throwaway C program (needs libwebp-dev).
    src = r"""
#include <webp/encode.h>
#include <stdio.h>
static void put(const char* dir, const char* name, const uint8_t* b, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE* f = fopen(path, "wb");
  fwrite(b, 1, n, f);
  fclose(f);
}
int main(int argc, char** argv) {
  unsigned char px[9 * 5 * 4];
  for (int i = 0; i < 9 * 5 * 4; ++i) px[i] = (unsigned char)((i * 37) % 256);
  uint8_t* out = NULL;
  size_t n = WebPEncodeRGB(px, 9, 5, 9 * 3, 80, &out);
  put(argv[1], "webp_lossy_rgb_9x5", out, n);
  put(argv[1], "webp_truncated", out, n / 2);
  WebPFree(out);
  n = WebPEncodeLosslessRGBA(px, 9, 5, 9 * 4, &out);
  put(argv[1], "webp_lossless_rgba_9x5", out, n);
  WebPFree(out);
  return 0;
}
"""
    with tempfile.TemporaryDirectory() as tmp:
        c = os.path.join(tmp, "webp_seeds.c")
        with open(c, "w") as f:
            f.write(src)
        exe = os.path.join(tmp, "webp_seeds")
        subprocess.run(["cc", "-O1", c, "-o", exe, "-lwebp"], check=True)
        subprocess.run([exe, os.path.join(HERE, "corpus", t)], check=True)


# ---------------------------------------------------------------- EXIF
def tiff_orientation(value, little=True, count=1, kind=3, extra_entries=0):
    """A TIFF block whose IFD0 holds `extra_entries` other tags, then the orientation tag."""
    e = "<" if little else ">"
    entries = b""
    for i in range(extra_entries):
        entries += struct.pack(e + "HHII", 0x010F + i, 2, 4, 0)
    entries += struct.pack(e + "HHI", 0x0112, kind, count) + struct.pack(e + "HH", value, 0)
    return (b"II*\0" if little else b"MM\0*") + struct.pack(e + "IH", 8, extra_entries + 1) + entries + b"\0\0\0\0"


def exif():
    t = "exif_orientation"
    for o in range(1, 9):
        out(t, "le_%d" % o, tiff_orientation(o))
        out(t, "be_%d" % o, tiff_orientation(o, little=False))
    out(t, "app1_prefix_6", b"Exif\0\0" + tiff_orientation(6))
    out(t, "after_other_tags_8", tiff_orientation(8, extra_entries=3))
    out(t, "value_9", tiff_orientation(9))
    out(t, "count_2", tiff_orientation(6, count=2))
    out(t, "type_long", tiff_orientation(6, kind=4))
    out(t, "truncated", tiff_orientation(6)[:14])
    out(t, "ifd_offset_past_end", b"II*\0" + struct.pack("<I", 0xFFFFFFF0) + b"\0" * 8)
    out(t, "huge_entry_count", b"MM\0*" + struct.pack(">IH", 8, 0xFFFF) + b"\0" * 12)
    out(t, "empty", b"")


# ---------------------------------------------------------------- safetensors
def safetensors(tensors, metadata=None, pad=8, header_override=None, data_override=None):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = header_override if header_override is not None else json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % pad)
    return struct.pack("<Q", len(h)) + h + (data if data_override is None else data_override)


def weights():
    t = "load_safetensors"
    f32 = lambda vals: struct.pack("<%df" % len(vals), *vals)
    f16 = lambda vals: struct.pack("<%de" % len(vals), *vals)
    bf16 = lambda vals: b"".join(struct.pack("<f", v)[2:] for v in vals)
    good = [("conv.weight", "F32", [2, 1, 3, 3], f32([0.1 * i for i in range(18)])),
            ("conv.bias", "F32", [2], f32([0.5, -0.5])),
            ("half", "F16", [4], f16([1.0, -2.0, 0.5, 65504.0])),
            ("brain", "BF16", [2, 2], bf16([1.0, 2.0, -3.0, 0.25]))]
    out(t, "valid", safetensors(good, {"preprocess": "caffe"}))
    out(t, "valid_no_metadata", safetensors(good))
    out(t, "valid_torchvision_reordered", safetensors(list(reversed(good)), {"preprocess": "torchvision", "x": "y"}))
    out(t, "valid_extra_tensor", safetensors(good + [("unused", "F64", [1], struct.pack("<d", 1.0))]))
    out(t, "half_weights_f16", safetensors([(n, "F16", s, f16([0.25] * (len(r) // (4 if d == "F32" else 2))))
                                            for n, d, s, r in good]))
    out(t, "nan_weight", safetensors([good[0], ("conv.bias", "F32", [2], f32([float("nan"), 1.0]))] + good[2:]))
    out(t, "unknown_preprocess", safetensors(good, {"preprocess": "bgr255"}))
    out(t, "shape_mismatch", safetensors([("conv.weight", "F32", [2, 1, 9], good[0][3])] + good[1:]))
    out(t, "missing_tensor", safetensors(good[1:]))
    out(t, "bad_dtype", safetensors([("conv.weight", "Q4", [2, 1, 3, 3], good[0][3])] + good[1:]))
    out(t, "header_len_past_eof", struct.pack("<Q", 1 << 40) + b"{}")
    out(t, "bad_json", safetensors([], header_override=b'{"a": {"dtype": "F32",'))
    out(t, "truncated_data", safetensors(good)[:-7])
    out(t, "overlap", safetensors([], header_override=json.dumps({
        "conv.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "half": {"dtype": "F16", "shape": [4], "data_offsets": [4, 12]}}).encode(), data_override=b"\x00" * 12))
    out(t, "duplicate_name", safetensors([], header_override=b'{"half":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},'
                                         b'"half":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}',
                                         data_override=b"\x00" * 8))
    out(t, "empty", b"")


# ---------------------------------------------------------------- options
def options():
    t = "parse_options"
    base = ["nst", "--content", "c.jpg", "--style", "s.jpg", "--output", "o.png"]
    sets = {
        "minimal": base,
        "all_options": base + ["--style", "t.png", "--style-blend", "1,2", "--size", "256", "--style-scale", "1.5",
                               "--iterations", "10", "--content-weight", "5", "--style-weight", "1e2",
                               "--tv-weight", "0.001", "--content-layers", "relu4_2",
                               "--style-layers", "relu1_1,relu2_1", "--style-layer-weights", "1,0.5",
                               "--init", "content", "--seed", "3", "--pooling", "avg", "--line-search",
                               "--lbfgs-history", "5", "--threads", "2", "--weights", "w.safetensors",
                               "--print-every", "1", "--save-every", "5", "--loss-log", "l.csv",
                               "--jpeg-quality", "90", "--overwrite", "--max-side", "4096",
                               "--max-pixels", "1000000", "--max-memory", "1.5G"],
        "equals_syntax": base + ["--size=64", "--iterations=3", "--max-memory=512M"],
        "bad_values": base + ["--iterations", "-1", "--style-weight", "nan", "--size", "0"],
        "unknown_flag": base + ["--frobnicate"],
        "help": ["nst", "--help"],
        "version": ["nst", "--version"],
        "empty": [""],
        "init_file": base + ["--init", "i.png", "--output", "x.jpeg"],
    }
    for name, args in sets.items():
        out(t, name, b"\0".join(a.encode() for a in args))


if __name__ == "__main__":
    exif()
    images()
    weights()
    options()
