#!/usr/bin/env python3
"""Write a copy of a VGG safetensors file whose feature maps are all A times larger (issue 10 §3).

conv1_1's weights and every bias are multiplied by A. ReLU and max pooling are positively
homogeneous, so every layer's features scale by A: the difference in scale between two weights
files (torchvision's VGG19 against Caffe's), without a download. Standard library and NumPy.
    benchmarks/scale_weights.py IN.safetensors OUT.safetensors A
"""
import json
import struct
import sys

import numpy as np


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    src, dst, a = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(src, "rb") as f:
        blob = bytearray(f.read())
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    convs = sorted({k.rsplit(".", 1)[0] for k in header if k != "__metadata__"},
                   key=lambda name: int(name.split(".")[1]))
    first = convs[0]
    scaled = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not (name.endswith(".bias") or name == f"{first}.weight"):
            continue
        if info["dtype"] != "F32":
            sys.exit(f"scale_weights.py: {src}: {name} is {info['dtype']}, not F32")
        begin, end = info["data_offsets"]
        values = np.frombuffer(blob, dtype="<f4", count=(end - begin) // 4, offset=base + begin)
        blob[base + begin:base + end] = (values * np.float32(a)).astype("<f4").tobytes()
        scaled += 1
    with open(dst, "xb") as f:
        f.write(blob)
    print(f"{dst}: {first}.weight and {scaled - 1} biases times {a:g}")


if __name__ == "__main__":
    main()
