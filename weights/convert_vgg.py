#!/usr/bin/env python3
"""Convert a PyTorch VGG19 or VGG16 state dict (.pth) to the safetensors file nst reads.

Keeps only the convolution layers (torchvision names features.N.weight / features.N.bias, as
float32) and records how images must be preprocessed for these weights:

  caffe        the original VGG weights of Simonyan & Zisserman (vgg19-d01eb7cb.pth,
               vgg16-00b39a1b.pth from neural-style-pt): B,G,R channels, 0..255 minus the mean
  torchvision  torchvision / timm weights: R,G,B, 0..1, minus mean, divided by std

Usage: convert_vgg.py IN.pth OUT.safetensors --preprocess caffe|torchvision [--model vgg19|vgg16]

Standard library only: the .pth is read by pth_reader (no PyTorch, no arbitrary unpickling).
"""
import argparse
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pth_reader import PthError, load_state_dict  # noqa: E402

# torchvision's features.N index of each 3x3 convolution.
CONV_INDICES = {
    "vgg19": [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34],
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
}


class ConvertError(Exception):
    pass


def convert(src, dst, preprocess, model="vgg19", source=None):
    """Writes dst (which must not exist) from the state dict in src; returns the bytes of weights.
    Raises PthError / ConvertError with a message naming the file and the reason."""
    if os.path.exists(dst):
        raise ConvertError(f"{dst}: exists; remove it first")
    try:
        state = load_state_dict(src)
    except PthError as e:
        raise ConvertError(f"{src}: {e}") from None
    header, blobs, offset, channels = {}, [], 0, 3
    for i in CONV_INDICES[model]:
        w, b = state.get(f"features.{i}.weight"), state.get(f"features.{i}.bias")
        if w is None or b is None:
            raise ConvertError(f"{src}: features.{i}.{'weight' if w is None else 'bias'} is missing; "
                               f"is this a {model.upper()} state dict?")
        if len(w.shape) != 4 or w.shape[1] != channels or w.shape[2:] != (3, 3) or b.shape != (w.shape[0],):
            raise ConvertError(f"{src}: features.{i}.weight {list(w.shape)} / bias {list(b.shape)} do not fit "
                               f"{channels} input channels of a 3x3 convolution")
        channels = w.shape[0]
        for part, t in (("weight", w), ("bias", b)):
            try:
                data = t.float32_le()
            except PthError as e:
                raise ConvertError(f"{src}: features.{i}.{part}: {e}") from None
            header[f"features.{i}.{part}"] = {"dtype": "F32", "shape": list(t.shape),
                                             "data_offsets": [offset, offset + len(data)]}
            blobs.append(data)
            offset += len(data)
    meta = {"format": "pt", "model": model, "preprocess": preprocess}
    if source:
        meta["source"] = source
    header["__metadata__"] = meta
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)  # align the data section
    tmp = dst + ".tmp"
    try:
        with open(tmp, "xb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for blob in blobs:
                f.write(blob)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return offset


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--preprocess", required=True, choices=["caffe", "torchvision"])
    ap.add_argument("--model", default="vgg19", choices=sorted(CONV_INDICES))
    args = ap.parse_args()
    try:
        n = convert(args.input, args.output, args.preprocess, args.model, os.path.basename(args.input))
    except (ConvertError, OSError) as e:
        sys.exit(f"convert_vgg: {e}")
    print(f"wrote {args.output} ({n} bytes of weights, {args.model}, preprocess={args.preprocess})")


if __name__ == "__main__":
    main()
