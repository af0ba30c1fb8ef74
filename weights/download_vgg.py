#!/usr/bin/env python3
"""Download the original Caffe VGG19 (or VGG16) and convert it to the safetensors file nst reads.

  download_vgg.py [--model vgg19|vgg16] [--dest FILE]

1. Fetches the .pth that neural-style-pt uses (Simonyan & Zisserman's weights converted from
   Caffe, CC BY 4.0), checks that its SHA-256 starts with the 8 hex digits in its name, and
   converts it (convert_vgg.py: standard library only, no PyTorch) to FILE with
   "preprocess": "caffe". Default FILE: weights/vgg19.safetensors (the path nst reads by
   default) or weights/vgg16.safetensors.
2. If that host cannot be reached, fetches torchvision's weights from the Hugging Face hub
   (timm, BSD-3-Clause; already safetensors) instead and says why that is second best.

--url / --sha256 / --fallback-url replace the sources (tests use file:// URLs); --no-fallback
turns step 2 off. Nothing is left behind on failure; an existing FILE is never replaced.
"""
import argparse
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_vgg import ConvertError, convert  # noqa: E402

MODELS = {
    "vgg19": {
        "url": "https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth",
        "sha256": "d01eb7cb",
        "fallback": "https://huggingface.co/timm/vgg19.tv_in1k/resolve/main/model.safetensors",
    },
    "vgg16": {
        "url": "https://web.eecs.umich.edu/~justincj/models/vgg16-00b39a1b.pth",
        "sha256": "00b39a1b",
        "fallback": "https://huggingface.co/timm/vgg16.tv_in1k/resolve/main/model.safetensors",
    },
}

FALLBACK_WARNING = (
    "warning: using torchvision-trained {model} instead of the original Caffe weights. It gives a duller, "
    "weaker stylization, and its features are much smaller, so neural-style's weights (content 5, style "
    "100) are far off balance with it: raise --style-weight (or retune both weights) for these weights.")


class DownloadError(Exception):
    pass


def fetch(url, dest_dir, log):
    """Downloads url into a new temporary file in dest_dir; returns (path, sha256 hex)."""
    fd, tmp = tempfile.mkstemp(prefix=".download-", dir=dest_dir)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as r:
            total = int(r.headers.get("Content-Length") or 0)
            done, shown = 0, -1
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if total and done * 10 // total != shown:
                    shown = done * 10 // total
                    log(f"  {done >> 20} / {total >> 20} MiB")
    except (urllib.error.URLError, OSError, ValueError) as e:
        os.remove(tmp)
        raise DownloadError(f"{url}: {getattr(e, 'reason', e)}") from None
    except BaseException:
        os.remove(tmp)
        raise
    return tmp, h.hexdigest()


def download(model, dest, url=None, sha256=None, fallback_url=None, use_fallback=True, log=None):
    """Returns "caffe" or "torchvision" (what was written to dest); raises DownloadError."""
    log = log or (lambda m: print(m, file=sys.stderr))
    spec = MODELS[model]
    url, sha256 = url or spec["url"], (spec["sha256"] if sha256 is None else sha256).lower()
    fallback_url = fallback_url or spec["fallback"]
    if os.path.exists(dest):
        raise DownloadError(f"{dest}: exists; remove it first to download again")
    dest_dir = os.path.dirname(os.path.abspath(dest))
    log(f"downloading {url}")
    try:
        pth, digest = fetch(url, dest_dir, log)
    except DownloadError as e:
        if not use_fallback:
            raise
        log(f"cannot download the Caffe weights ({e}); trying {fallback_url}")
        tmp, _ = fetch(fallback_url, dest_dir, log)
        os.replace(tmp, dest)
        log(FALLBACK_WARNING.format(model=model.upper()))
        return "torchvision"
    try:
        if not digest.startswith(sha256):
            raise DownloadError(f"{url}: SHA-256 {digest} does not start with {sha256}: damaged or "
                                "not the expected file; nothing written")
        try:
            convert(pth, dest, "caffe", model, os.path.basename(url))
        except (ConvertError, OSError) as e:
            raise DownloadError(str(e)) from None
    finally:
        os.remove(pth)
    return "caffe"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vgg19", choices=sorted(MODELS))
    ap.add_argument("--dest", help="output file (default: weights/MODEL.safetensors next to this script)")
    ap.add_argument("--url", help="the .pth to fetch instead of the Caffe weights' address")
    ap.add_argument("--sha256", help="hex prefix its SHA-256 must have (default: the known one; '' checks nothing)")
    ap.add_argument("--fallback-url", help="safetensors file to fetch when --url cannot be reached")
    ap.add_argument("--no-fallback", action="store_true", help="fail instead of using the fallback")
    args = ap.parse_args()
    dest = args.dest or os.path.join(os.path.dirname(os.path.abspath(__file__)), args.model + ".safetensors")
    try:
        kind = download(args.model, dest, args.url, args.sha256, args.fallback_url, not args.no_fallback)
    except DownloadError as e:
        sys.exit(f"download_vgg: {e}")
    print(f"wrote {dest} ({os.path.getsize(dest)} bytes, {args.model}, preprocess {kind})", file=sys.stderr)


if __name__ == "__main__":
    main()
