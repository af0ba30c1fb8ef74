#!/usr/bin/python3
"""The loss trajectory of torch.optim.LBFGS on nst's loss, which `nst --reference` must
reproduce (tests/test_reference.cpp). Run once; commit the PNGs and the CSV:

  cd tests/data/reference && /usr/bin/python3 make_trajectory.py ../../../../shared/weights/vgg19-conv.safetensors

Needs PyTorch and NumPy (Debian: python3-torch, python3-numpy; made with torch 1.13 on CPU).
Writes content.png and style.png (deterministic synthetic images, SIZE x SIZE, so that nst
reads them without resampling) and trajectory.csv: per iteration the loss PyTorch's closure
saw, in float32 and in float64. The loss is nst's default (neural-style's): content 5 x
mean((F - P)^2) at relu4_2; style 100 x sum over relu1_1..relu5_1 of mean((G - A)^2),
G = F F^T / (C H W); tv 1e-3 x 1/2 sum of squared neighbour differences; caffe preprocessing
(B, G, R; 0..255 minus the mean pixel); max pooling; direct (non-Winograd) convolutions. The
optimizer: torch.optim.LBFGS(lr=1, max_iter=N, history_size=100, no line search, tolerances
off) from the content image, as neural-style-pt runs it.

--size/--iterations/--out give other runs (the issue's table: --iterations 30).
"""
import argparse
import json
import struct
import zlib

import numpy as np
import torch
import torch.nn.functional as F

CONV = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
BLOCK_END = {1, 3, 7, 11, 15}
MEAN_BGR = [103.939, 116.779, 123.68]


def synthetic(size, style):
    """A deterministic RGB uint8 image of smooth waves: soft content, busier style. (Images
    with hard edges make PyTorch's own float32 and float64 runs part by 1e-2 within 8
    iterations: the first curvature pair amplifies float noise. These keep them within 2e-4.)"""
    y, x = np.mgrid[0:size, 0:size] / size
    if not style:
        img = np.stack([0.5 + 0.3 * np.sin(5 * x + 2 * y), 0.5 + 0.3 * np.sin(4 * y - 3 * x + 1),
                        0.5 + 0.25 * np.cos(6 * x * y + 0.5)], -1)
    else:
        img = np.stack([0.5 + 0.35 * np.sin(14 * x + 5 * np.sin(8 * y)), 0.5 + 0.3 * np.cos(12 * y + 4 * np.sin(6 * x)),
                        0.5 + 0.3 * np.sin(9 * (x + y))], -1)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\0" + rgb[r].tobytes() for r in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def load_convs(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    assert header["__metadata__"]["preprocess"] == "caffe", "the reference uses caffe weights"
    out = []
    for i in CONV:
        t = []
        for part in ("weight", "bias"):
            h = header[f"features.{i}.{part}"]
            b, e = h["data_offsets"]
            t.append(torch.from_numpy(np.frombuffer(data[b:e], "<f4").reshape(h["shape"]).copy()))
        out.append(t)
    return out


def to_input(rgb):  # caffe: B, G, R, 0..255 minus the mean pixel
    x = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)[[2, 1, 0]]
    return (x - torch.tensor(MEAN_BGR, dtype=torch.float32)[:, None, None])[None]


def features(x, convs, wanted):
    out, h, block, k = {}, x, 1, 1
    for i, (w, b) in enumerate(convs):
        h = F.relu(F.conv2d(h, w, b, padding=1))
        out[f"relu{block}_{k}"] = h
        k += 1
        if i in BLOCK_END:
            h = F.max_pool2d(h, 2)
            block, k = block + 1, 1
        if all(n in out for n in wanted):
            break
    return {n: out[n] for n in wanted}


def gram(f):
    _, c, h, w = f.shape
    m = f.reshape(c, h * w)
    return m @ m.t() / (c * h * w)


def trajectory(content, style, convs, iterations, dtype):
    convs = [(w.to(dtype), b.to(dtype)) for w, b in convs]
    content, style = content.to(dtype), style.to(dtype)
    style_layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    with torch.no_grad():
        target_c = features(content, convs, ["relu4_2"])["relu4_2"]
        target_s = [gram(f) for f in features(style, convs, style_layers).values()]
    x = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=iterations, history_size=100, tolerance_grad=-1,
                            tolerance_change=-1)
    losses = []

    def closure():
        opt.zero_grad()
        f = features(x, convs, ["relu4_2"] + style_layers)
        content_loss = 5 * F.mse_loss(f["relu4_2"], target_c)
        style_loss = 100 * sum(F.mse_loss(gram(f[n]), t) for n, t in zip(style_layers, target_s))
        tv = 1e-3 * 0.5 * (((x[..., 1:, :] - x[..., :-1, :]) ** 2).sum() + ((x[..., 1:] - x[..., :-1]) ** 2).sum())
        loss = content_loss + style_loss + tv
        loss.backward()
        losses.append(loss.item())
        return loss

    opt.step(closure)
    return losses


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--out", default="trajectory.csv")
    ap.add_argument("--images", default=".", help="where content.png and style.png go")
    args = ap.parse_args()
    torch.set_num_threads(2)
    content, style = synthetic(args.size, False), synthetic(args.size, True)
    write_png(f"{args.images}/content.png", content)
    write_png(f"{args.images}/style.png", style)
    convs = load_convs(args.weights)
    f32 = trajectory(to_input(content), to_input(style), convs, args.iterations, torch.float32)
    f64 = trajectory(to_input(content), to_input(style), convs, args.iterations, torch.float64)
    with open(args.out, "w") as f:
        f.write("iteration,torch_f32,torch_f64\n")
        for i, (a, b) in enumerate(zip(f32, f64), 1):
            f.write(f"{i},{a:.9g},{b:.9g}\n")
    print(open(args.out).read())


if __name__ == "__main__":
    main()
