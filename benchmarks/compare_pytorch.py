#!/usr/bin/env python3
"""compare_pytorch.py: the same Gatys style transfer in PyTorch and in nst, side by side.

Both run VGG19 to relu5_1 with the same weights (the safetensors file, read here with struct,
json and numpy), on the same preprocessed images (nst resizes them and writes the exact network
inputs, which PyTorch then reads: both see identical tensors), with the same losses:
  content  5   * mean((F - P)^2) at relu4_2
  style    100 * sum_l mean((G_l - A_l)^2),  G = F F^T / (C*H*W), relu1_1..relu5_1
  tv       1e-3 * 1/2 * sum of squared differences of neighbouring pixels
and L-BFGS with history 100, step 1, no line search, tolerances off (torch.optim.LBFGS with
max_iter = iterations, one closure evaluation per iteration, as neural-style-pt runs it).
Both start from the content image, so the first iteration's loss is the loss at the same image.

For each size and thread count, each implementation runs in its own process (peak RSS from
wait4's rusage). PyTorch runs at its best without the user's help: with the OpenMP build of
OpenBLAS (Debian's libopenblas0-openmp, put first on LD_LIBRARY_PATH when installed) and
OPENBLAS_CORETYPE matching the CPU (SkylakeX with AVX-512, Haswell with AVX2), even where the
environment already sets another (some machines set Haswell everywhere; the header says when one was
replaced); --coretype NAME picks one instead. Printed first: the CPU model, the kernel set nst runs and
the BLAS library PyTorch loaded. Printed: per-iteration median times, the nst/PyTorch ratio, peak RSS of each,
and a check that both compute the same loss (first iteration, to ~1e-3 relative) and the same
gradient at the content image.

PyTorch is optional (Debian: apt-get install python3-torch, for /usr/bin/python3). Without it this
prints a message and exits 2; nothing in the build or the tests needs it.

Usage:
  /usr/bin/python3 benchmarks/compare_pytorch.py [--sizes 256,512] [--threads 1,2] [--iters 8]
      [--warmup 2] [--bench build-bench/bench_nst] [--resize square|longest]
      [--weights F] [--content F] [--style F] [--kernels SET] [--isa avx2]
      [--rounds N] [--coretype NAME]
--isa avx2 compares as on an AVX2+FMA CPU (on an AVX-512 machine): nst's avx2 kernel set against
PyTorch with oneDNN, ATen and OpenBLAS limited to AVX2 by their environment variables.
--rounds N runs nst and PyTorch N times each per size and thread count, alternating, and reports
each round's ratio and their median: on a machine whose speed drifts within minutes (a shared VM),
one pair of runs can catch the two in different states.
"""

import argparse
import importlib.util
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared")

CONVS = [  # name, torchvision features index; 13 convolutions up to relu5_1
    ("conv1_1", 0), ("conv1_2", 2), ("conv2_1", 5), ("conv2_2", 7), ("conv3_1", 10), ("conv3_2", 12),
    ("conv3_3", 14), ("conv3_4", 16), ("conv4_1", 19), ("conv4_2", 21), ("conv4_3", 23), ("conv4_4", 25),
    ("conv5_1", 28),
]
POOL_AFTER = {"conv1_2", "conv2_2", "conv3_4", "conv4_4"}
CONTENT_LAYERS = ["relu4_2"]
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT = 5.0, 100.0, 1e-3


# ------------------------------------------------------------------------------------------------
# PyTorch side (runs in a child process)

def read_safetensors(path, names):
    """Tensors `names` of a safetensors file as float32 numpy arrays (F32 only: the shared file)."""
    import numpy as np

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    out = {}
    for name in names:
        info = header[name]
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {info['dtype']}; this script reads F32 only")
        begin, end = info["data_offsets"]
        count = (end - begin) // 4
        arr = np.fromfile(path, dtype="<f4", count=count, offset=8 + n + begin)
        out[name] = arr.reshape(info["shape"])
    return out, header.get("__metadata__", {})


def torch_child(args):
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    names = []
    for _, idx in CONVS:
        names += [f"features.{idx}.weight", f"features.{idx}.bias"]
    tensors, meta = read_safetensors(args.weights, names)
    if meta.get("preprocess", "torchvision") != "caffe":
        print("@warning weights are not caffe-preprocessed; inputs come from nst either way", flush=True)
    params = [(name, torch.from_numpy(tensors[f"features.{idx}.weight"].copy()),
               torch.from_numpy(tensors[f"features.{idx}.bias"].copy())) for name, idx in CONVS]
    del tensors

    def load(name, shape):
        a = np.fromfile(os.path.join(args.dump, name), dtype="<f4")
        return torch.from_numpy(a.reshape(shape).copy())

    content = load("content.f32", args.content_shape)
    style = load("style.f32", args.style_shape)

    def features(x, wanted):
        deepest = max(int(w[4]) * 10 + int(w[6]) for w in wanted)  # "reluB_I" -> B*10 + I
        out = {}
        h = x
        for name, w, b in params:
            h = F.relu(F.conv2d(h, w, b, padding=1), inplace=True)
            relu = "relu" + name[4:]
            if relu in wanted:
                out[relu] = h
            if int(name[4]) * 10 + int(name[6]) >= deepest:
                break
            if name in POOL_AFTER:
                h = F.max_pool2d(h, 2, 2)
        return out

    def gram(f):
        _, c, hh, ww = f.shape
        m = f.reshape(c, hh * ww)
        return (m @ m.t()) / (c * hh * ww)

    with torch.no_grad():
        content_targets = [v.clone() for v in features(content, CONTENT_LAYERS).values()]
        sf = features(style, STYLE_LAYERS)
        style_targets = [gram(sf[l]) for l in STYLE_LAYERS]
        del sf

    def loss_terms(x):
        feats = features(x, CONTENT_LAYERS + STYLE_LAYERS)
        c = sum(((feats[l] - t) ** 2).mean() for l, t in zip(CONTENT_LAYERS, content_targets)) * CONTENT_WEIGHT
        s = sum(((gram(feats[l]) - t) ** 2).mean() for l, t in zip(STYLE_LAYERS, style_targets)) * STYLE_WEIGHT
        dv = x[:, :, 1:, :] - x[:, :, :-1, :]
        dh = x[:, :, :, 1:] - x[:, :, :, :-1]
        tv = 0.5 * ((dv * dv).sum() + (dh * dh).sum()) * TV_WEIGHT
        return c + s + tv, c, s, tv

    img = content.clone().requires_grad_(True)
    if args.grad_out:  # the gradient at the content image, for the comparison with nst's
        total, *_ = loss_terms(img)
        total.backward()
        img.grad.numpy().astype("<f4").tofile(args.grad_out)
        img.grad = None

    opt = torch.optim.LBFGS([img], lr=1, max_iter=args.iters, max_eval=args.iters * 2, history_size=100,
                            tolerance_grad=-1, tolerance_change=-1, line_search_fn=None)
    start = time.perf_counter()
    it = [0]

    def closure():
        opt.zero_grad()
        total, c, s, tv = loss_terms(img)
        total.backward()
        it[0] += 1
        print(f"@iter {it[0]} {total.item():.9g} {c.item():.9g} {s.item():.9g} {tv.item():.9g} "
              f"{time.perf_counter() - start:.6f}", flush=True)
        return total

    opt.step(closure)
    print(f"@threads {torch.get_num_threads()}", flush=True)
    blas = sorted({line.split()[-1] for line in open("/proc/self/maps") if "blas" in line and "/" in line})
    print(f"@blas {','.join(os.path.basename(b) for b in blas) or 'none-found'} "
          f"{os.path.dirname(blas[0]) if blas else '-'} coretype={os.environ.get('OPENBLAS_CORETYPE', 'auto')} "
          f"mkldnn={int(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)}", flush=True)
    return 0


def cpu_model_and_flags():
    model, flags = "?", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "?":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return model, flags


# --isa avx2: PyTorch limited to what an AVX2+FMA CPU has (oneDNN's convolutions, ATen's
# vectorized kernels, OpenBLAS), to compare with nst's avx2 kernel set on an AVX-512 machine.
AVX2_TORCH_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
                  "OPENBLAS_CORETYPE": "Haswell"}


def torch_env(isa=None, coretype=None):
    """Environment that makes PyTorch's BLAS calls run at their best on this CPU (or on an AVX2 CPU).
    The OpenBLAS core type comes from the CPU's flags (or from coretype), not from the environment."""
    env = {}
    openmp = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
    if os.path.isdir(openmp):
        env["LD_LIBRARY_PATH"] = openmp + (":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get("LD_LIBRARY_PATH") else "")
    if isa == "avx2":
        env.update(AVX2_TORCH_ENV)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    elif isa != "avx2":
        _, flags = cpu_model_and_flags()
        if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
            env["OPENBLAS_CORETYPE"] = "SkylakeX"
        elif {"avx2", "fma"} <= flags:
            env["OPENBLAS_CORETYPE"] = "Haswell"
    return env


# ------------------------------------------------------------------------------------------------
# Parent: run both, compare

def run_child(cmd, env_threads, extra_env=None):
    env = dict(os.environ)
    env.update(extra_env or {})
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = str(env_threads)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"compare_pytorch: {' '.join(cmd)} failed (exit {p.returncode})")
    rows, kv = [], {}
    for line in out.splitlines():
        if not line.startswith("@"):
            continue
        key, *vals = line[1:].split()
        if key == "iter":
            rows.append([float(v) for v in vals])
        else:
            kv[key] = vals
    return rows, kv, ru.ru_maxrss / 1024.0


def per_iter(rows, warmup):
    stamps = [r[5] for r in rows]
    d = [stamps[i] - (stamps[i - 1] if i else 0.0) for i in range(len(stamps))]
    d = d[warmup:]
    return statistics.median(d), min(d), max(d)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


def find_bench():
    for p in ("build-bench/bench_nst", "build/bench_nst", "build-opt/bench_nst"):
        q = os.path.join(ROOT, p)
        if os.access(q, os.X_OK):
            return q
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--iters", type=int, default=8, help="L-BFGS iterations per run (default 8)")
    ap.add_argument("--warmup", type=int, default=2, help="leading iterations left out of the median")
    ap.add_argument("--bench", default=None, help="bench_nst binary (default: build-bench/ or build/)")
    ap.add_argument("--resize", default="square", choices=["square", "longest"])
    ap.add_argument("--weights", default=os.environ.get("NST_WEIGHTS",
                                                        os.path.join(SHARED, "weights/vgg19-conv.safetensors")))
    ap.add_argument("--content", default=os.path.join(SHARED, "images/tubingen.jpg"))
    ap.add_argument("--style", default=os.path.join(SHARED, "images/starry_night.jpg"))
    ap.add_argument("--tolerance", type=float, default=1e-3, help="relative loss agreement required")
    ap.add_argument("--rounds", type=int, default=1,
                    help="nst and PyTorch this many times each per size and thread count, alternating; the "
                         "ratio is the median of the rounds' ratios (default 1)")
    ap.add_argument("--kernels", choices=["avx512", "avx2", "portable"],
                    help="nst kernel set to force (default: the best this CPU runs)")
    ap.add_argument("--isa", choices=["avx2"],
                    help="compare as on an AVX2+FMA CPU: nst's avx2 kernel set, and PyTorch's oneDNN, ATen and "
                         "OpenBLAS limited to AVX2 (" + " ".join(f"{k}={v}" for k, v in AVX2_TORCH_ENV.items()) + ")")
    ap.add_argument("--coretype", help="OPENBLAS_CORETYPE for PyTorch (default: from the CPU's flags; "
                    "one set in the environment is replaced)")
    # child mode (internal)
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    ap.add_argument("--content-shape", type=lambda s: [int(v) for v in s.split(",")], help=argparse.SUPPRESS)
    ap.add_argument("--style-shape", type=lambda s: [int(v) for v in s.split(",")], help=argparse.SUPPRESS)
    ap.add_argument("--thread-count", dest="threads_child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--grad-out", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.torch_child:
        args.threads = args.threads_child
        return torch_child(args)

    missing = [m for m in ("torch", "numpy") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"compare_pytorch: {' and '.join(missing)} not available for {sys.executable}; skipping the "
              "comparison. PyTorch is an optional benchmark dependency: on Debian `apt-get install "
              "python3-torch` and run this script with /usr/bin/python3.", file=sys.stderr)
        return 2
    import numpy as np
    import torch

    bench = args.bench or find_bench()
    if not bench or not os.access(bench, os.X_OK):
        sys.exit("compare_pytorch: bench_nst not found; build it (cmake --build build-bench --target bench_nst) "
                 "or pass --bench")
    for p in (args.weights, args.content, args.style):
        if not os.access(p, os.R_OK):
            sys.exit(f"compare_pytorch: {p} not readable")
    if args.isa == "avx2":
        if args.kernels not in (None, "avx2"):
            sys.exit("compare_pytorch: --isa avx2 runs nst's avx2 kernel set; leave out --kernels")
        args.kernels = "avx2"
    if args.rounds < 1:
        sys.exit(f"compare_pytorch: --rounds must be at least 1 (got {args.rounds})")
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    print(f"# nst vs PyTorch {torch.__version__} ({time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f})")
    print(f"weights {args.weights}; content {args.content}; style {args.style}; resize {args.resize}; "
          f"{args.iters} L-BFGS iterations from the content image, median of the last {args.iters - args.warmup}\n")

    model, _ = cpu_model_and_flags()
    pt_env = torch_env(args.isa, args.coretype)
    print(f"CPU: {model}; PyTorch environment: "
          f"{' '.join(f'{k}={v}' for k, v in pt_env.items()) or '(as given)'}"
          + ("; --isa avx2: both limited to AVX2+FMA" if args.isa else ""))
    given = os.environ.get("OPENBLAS_CORETYPE")
    chosen = pt_env.get("OPENBLAS_CORETYPE")
    if given and chosen and given != chosen:
        print(f"(OPENBLAS_CORETYPE={given} from the environment replaced by {chosen}; --coretype {given} keeps it)")
    timing, checks = [], []
    info = {}
    ok = True
    with tempfile.TemporaryDirectory(prefix="nst-compare-") as tmp:
        for size in sizes:
            dump = os.path.join(tmp, str(size))
            grad_torch = os.path.join(dump, "grad_torch.f32")
            first = {}
            for ti, t in enumerate(threads):
                base = [bench, "--compare", "--size", str(size), "--threads", str(t), "--iters", str(args.iters),
                        "--init", "content", "--resize", args.resize, "--weights", args.weights,
                        "--content", args.content, "--style", args.style]
                if args.kernels:
                    base += ["--kernels", args.kernels]
                rounds = []  # per round: nst (median, min, max), PyTorch's, nst RSS, PyTorch RSS
                for r in range(args.rounds):
                    dumps = ti == 0 and r == 0  # the first round of the first thread count writes the checks' data
                    tag = f"[{size} px, {t} thread(s)" + (f", round {r + 1}/{args.rounds}]" if args.rounds > 1 else "]")
                    print(f"{tag} nst ...", file=sys.stderr, flush=True)
                    nst_rows_r, nst_kv, nst_rss = run_child(base + (["--dump", dump] if dumps else []), t)
                    cshape = [int(v) for v in nst_kv["shape_content"]]
                    sshape = [int(v) for v in nst_kv["shape_style"]]
                    tcmd = [sys.executable, os.path.abspath(__file__), "--torch-child", "--dump", dump,
                            "--content-shape", ",".join(map(str, cshape)), "--style-shape",
                            ",".join(map(str, sshape)), "--thread-count", str(t), "--iters", str(args.iters),
                            "--weights", args.weights]
                    if dumps:
                        tcmd += ["--grad-out", grad_torch]
                    print(f"{tag} PyTorch ...", file=sys.stderr, flush=True)
                    pt_rows_r, pt_kv, pt_rss = run_child(tcmd, t, pt_env)
                    if r == 0:
                        nst_rows, pt_rows = nst_rows_r, pt_rows_r
                    rounds.append((per_iter(nst_rows_r, args.warmup), per_iter(pt_rows_r, args.warmup),
                                   nst_rss, pt_rss))
                info["nst kernel set"] = nst_kv.get("kernels", ["?"])[0]
                info["PyTorch BLAS"] = " ".join(pt_kv.get("blas", ["?"]))
                # One round: its medians and spreads. Several: the medians of the rounds' medians, their
                # range, and the median of the rounds' ratios (each round's pair ran minutes apart at most).
                n_meds = [x[0][0] for x in rounds]
                p_meds = [x[1][0] for x in rounds]
                if args.rounds == 1:
                    (n_med, n_min, n_max), (p_med, p_min, p_max) = rounds[0][0], rounds[0][1]
                else:
                    n_med, n_min, n_max = statistics.median(n_meds), min(n_meds), max(n_meds)
                    p_med, p_min, p_max = statistics.median(p_meds), min(p_meds), max(p_meds)
                ratios = [a / b for a, b in zip(n_meds, p_meds)]
                timing.append((f"{cshape[3]}x{cshape[2]}", t, n_med, n_min, n_max, p_med, p_min, p_max,
                               max(x[2] for x in rounds), max(x[3] for x in rounds),
                               nst_kv.get("threads", ["?"])[0], pt_kv.get("threads", ["?"])[0], ratios))
                if ti == 0:
                    first = {"nst": nst_rows, "torch": pt_rows, "loss_at_content": nst_kv.get("loss_at_content")}
                    g_n = np.fromfile(os.path.join(dump, "grad_content.f32"), dtype="<f4").astype(np.float64)
                    g_t = np.fromfile(grad_torch, dtype="<f4").astype(np.float64)
                    first["grad_rel_l2"] = float(np.linalg.norm(g_n - g_t) / np.linalg.norm(g_t))
                    first["grad_rel_max"] = float(np.abs(g_n - g_t).max() / np.abs(g_t).max())
                    first["grad_cos"] = float(g_n @ g_t / (np.linalg.norm(g_n) * np.linalg.norm(g_t)))
            checks.append((size, first))

    for k, v in info.items():
        print(f"{k}: {v}")
    print()
    if args.rounds == 1:
        print("## Time per L-BFGS iteration (median, seconds; min..max in brackets)\n")
    else:
        print(f"## Time per L-BFGS iteration ({args.rounds} rounds, nst and PyTorch alternating: the median of the "
              "rounds' medians, seconds, their range in brackets; the ratio is the median of the rounds' ratios)\n")
    extra = " rounds' ratios |" if args.rounds > 1 else ""
    print("| size | threads | nst | PyTorch | nst / PyTorch | nst peak RSS MB | PyTorch peak RSS MB | RSS ratio |" + extra)
    print("|---|---|---|---|---|---|---|---|" + ("---|" if args.rounds > 1 else ""))
    for (sz, t, nm, nmin, nmax, pm, pmin, pmax, nr, pr, nth, pth, ratios) in timing:
        cells = f" {', '.join(f'{x:.2f}' for x in ratios)} |" if args.rounds > 1 else ""
        print(f"| {sz} | {t} (nst {nth}, torch {pth}) | {nm:.3f} [{nmin:.3f}..{nmax:.3f}] | {pm:.3f} "
              f"[{pmin:.3f}..{pmax:.3f}] | **{statistics.median(ratios):.2f}** | {nr:.0f} | {pr:.0f} | "
              f"{nr / pr:.2f} |" + cells)
    print()
    print(f"## Same losses? (both from the content image; tolerance {args.tolerance:g} relative)\n")
    print("| size | iteration | term | nst | PyTorch | rel. diff |")
    print("|---|---|---|---|---|---|")
    for size, f in checks:
        n, p = f["nst"], f["torch"]
        for i in sorted({0, 1, min(len(n), len(p)) - 1}):
            for k, term in ((1, "total"), (2, "content"), (3, "style"), (4, "tv")):
                a, b = n[i][k], p[i][k]
                d = abs(a - b) / max(abs(b), 1e-30) if (a or b) else 0.0
                print(f"| {size} | {i + 1} | {term} | {a:.7g} | {b:.7g} | {d:.2e} |")
                if i == 0 and d > args.tolerance and abs(a - b) > 1e-6:
                    ok = False
        print(f"| {size} | 1 | gradient | rel. L2 diff {f['grad_rel_l2']:.2e}, max diff / max {f['grad_rel_max']:.2e}, "
              f"cosine {f['grad_cos']:.8f} | | |")
        if f["grad_rel_l2"] > 10 * args.tolerance:
            ok = False
    print()
    print("first-iteration losses and gradients " + ("AGREE" if ok else "DISAGREE") +
          f" (tolerance {args.tolerance:g}); load at the end {os.getloadavg()[0]:.2f} (timings are noisy when the "
          "cores are shared)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
