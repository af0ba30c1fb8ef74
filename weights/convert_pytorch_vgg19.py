#!/usr/bin/env python3
"""Convert a PyTorch VGG19 state dict (.pth) to the safetensors file nst reads.

Keeps the 16 convolution layers (torchvision names features.N.weight / features.N.bias) and
records how images must be preprocessed for these weights:

  caffe        original VGG19 weights (e.g. vgg19-d01eb7cb.pth from neural-style-pt):
               B,G,R channels, 0..255 minus the mean pixel
  torchvision  torchvision / timm weights: R,G,B, 0..1, minus mean, divided by std

Usage: convert_pytorch_vgg19.py IN.pth OUT.safetensors --preprocess caffe|torchvision
Needs PyTorch (Debian: apt-get install python3-torch); writes the format directly.
"""
import argparse
import json
import os
import struct
import sys

CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--preprocess", required=True, choices=["caffe", "torchvision"])
    args = ap.parse_args()
    if os.path.exists(args.output):
        sys.exit(f"{args.output}: exists; remove it first")

    import torch

    state = torch.load(args.input, map_location="cpu")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    for prefix in ("module.", "model."):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}

    header, blobs, offset = {}, [], 0
    for i in CONV_INDICES:
        for part in ("weight", "bias"):
            name = f"features.{i}.{part}"
            if name not in state:
                sys.exit(f"{args.input}: {name} is missing; is this a VGG19 state dict?")
            data = state[name].detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
            header[name] = {"dtype": "F32", "shape": list(state[name].shape), "data_offsets": [offset, offset + len(data)]}
            blobs.append(data)
            offset += len(data)
    header["__metadata__"] = {"format": "pt", "model": "vgg19", "preprocess": args.preprocess}
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)  # align the data section
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, args.output)
    print(f"wrote {args.output} ({offset} bytes of weights, preprocess={args.preprocess})")


if __name__ == "__main__":
    main()
