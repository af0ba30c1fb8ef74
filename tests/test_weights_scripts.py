#!/usr/bin/env python3
"""weights/pth_reader.py, convert_vgg.py and download_vgg.py on the small files of
tests/data/pth (made by tests/data/pth/make_pth_fixtures.py with PyTorch): every container
variant reads back the exact values, conversion keeps only the convolutions as float32 with
"preprocess": "caffe", pickles that call os.system are refused without running anything, and
the download's hash check, conversion and fallback work offline through file:// URLs.
Standard library only. Run: python3 tests/test_weights_scripts.py"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "pth")
sys.path.insert(0, os.path.join(ROOT, "weights"))

from convert_vgg import CONV_INDICES, ConvertError, convert  # noqa: E402
from download_vgg import DownloadError, download  # noqa: E402
from pth_reader import PthError, load_state_dict, sniff  # noqa: E402


def value(name, i):  # as in make_pth_fixtures.py
    h = sum(ord(c) for c in name)
    return ((i * 37 + h * 11) % 101 - 50) / 64.0


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__")
    out = {}
    for name, h in header.items():
        b, e = h["data_offsets"]
        out[name] = (h["dtype"], h["shape"], list(struct.unpack(f"<{(e - b) // 4}f", data[b:e])))
    return meta, out


class Tmp(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.cwd = os.getcwd()
        os.chdir(self.dir)  # a pickle that ran os.system("touch ...") would leave its marker here

    def tearDown(self):
        os.chdir(self.cwd)
        shutil.rmtree(self.dir)

    def check_converted(self, path, model):
        meta, tensors = read_safetensors(path)
        self.assertEqual(meta["preprocess"], "caffe")
        self.assertEqual(meta["model"], model)
        names = {f"features.{i}.{p}" for i in CONV_INDICES[model] for p in ("weight", "bias")}
        self.assertEqual(set(tensors), names)  # the classifier is dropped
        for name, (dtype, shape, vals) in tensors.items():
            self.assertEqual(dtype, "F32")
            self.assertEqual(vals, [value(name, i) for i in range(len(vals))], name)
            self.assertEqual(len(vals), shape[0] * (shape[1] * 9 if len(shape) == 4 else 1))


class ReaderTest(Tmp):
    def test_every_container_variant_reads_the_exact_values(self):
        for kind in ("zip", "stream", "tar"):
            with self.subTest(kind=kind):
                path = os.path.join(DATA, f"tiny_vgg19_{kind}.pth")
                self.assertEqual(sniff(path), kind)
                sd = load_state_dict(path)
                self.assertIn("classifier.0.weight", sd)
                self.assertEqual(len(sd), 33)
                self.assertEqual(sd["features.0.weight"].shape, (4, 3, 3, 3))
                self.assertNotEqual(sd["features.0.weight"].stride, (27, 9, 3, 1))  # the strided path
                self.assertEqual(sd["features.2.bias"].dtype, "float64")
                self.assertEqual(sd["features.7.bias"].offset, 4)  # shares features.5.bias's storage
                for name, t in sd.items():
                    self.assertEqual(t.values(), [value(name, i) for i in range(t.numel)], name)

    def test_conversion_keeps_the_convolutions_as_float32(self):
        for kind in ("zip", "stream", "tar"):
            with self.subTest(kind=kind):
                out = f"{kind}.safetensors"
                convert(os.path.join(DATA, f"tiny_vgg19_{kind}.pth"), out, "caffe")
                self.check_converted(out, "vgg19")
        convert(os.path.join(DATA, "tiny_vgg16_zip.pth"), "vgg16.safetensors", "caffe", "vgg16")
        self.check_converted("vgg16.safetensors", "vgg16")

    def test_a_vgg16_file_is_not_taken_for_vgg19(self):
        with self.assertRaisesRegex(ConvertError, "features.16.weight is missing; is this a VGG19"):
            convert(os.path.join(DATA, "tiny_vgg16_zip.pth"), "x.safetensors", "caffe", "vgg19")
        self.assertEqual(os.listdir("."), [])

    def test_a_pickle_that_calls_os_system_is_refused_and_runs_nothing(self):
        for kind in ("zip", "stream", "tar"):
            with self.subTest(kind=kind):
                with self.assertRaisesRegex(PthError, r"refusing to load the global (posix|os)\.system"):
                    load_state_dict(os.path.join(DATA, f"evil_{kind}.pth"))
                with self.assertRaises(ConvertError):
                    convert(os.path.join(DATA, f"evil_{kind}.pth"), "x.safetensors", "caffe")
                self.assertEqual(os.listdir("."), [])  # no marker, no output

    def test_damaged_files_fail_with_a_message(self):
        for kind in ("zip", "stream", "tar"):
            with open(os.path.join(DATA, f"tiny_vgg19_{kind}.pth"), "rb") as f:
                src = f.read()
            # the tar container ends in zero padding: cut it inside its members
            for cut in (len(src) // 5, len(src) // 3) if kind == "tar" else (len(src) // 3, len(src) - 100):
                with self.subTest(kind=kind, cut=cut):
                    with open("cut.pth", "wb") as f:
                        f.write(src[:cut])
                    with self.assertRaises((PthError, ConvertError)):
                        convert("cut.pth", "x.safetensors", "caffe")
                    self.assertFalse(os.path.exists("x.safetensors"))
        with open("junk.pth", "wb") as f:
            f.write(b"hello, world" * 10)
        with self.assertRaisesRegex(PthError, "not a PyTorch .pth file"):
            load_state_dict("junk.pth")


class DownloadTest(Tmp):
    def src(self, name):
        return "file://" + os.path.join(DATA, name)

    def test_download_checks_the_hash_and_converts(self):
        pth = os.path.join(DATA, "tiny_vgg19_stream.pth")
        with open(pth, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        logs = []
        kind = download("vgg19", "w.safetensors", self.src("tiny_vgg19_stream.pth"), digest[:8],
                        use_fallback=False, log=logs.append)
        self.assertEqual(kind, "caffe")
        self.check_converted("w.safetensors", "vgg19")
        self.assertEqual(sorted(os.listdir(".")), ["w.safetensors"])  # no temporary left
        with self.assertRaisesRegex(DownloadError, "exists"):
            download("vgg19", "w.safetensors", self.src("tiny_vgg19_stream.pth"), digest[:8], log=logs.append)

    def test_a_wrong_hash_writes_nothing(self):
        with self.assertRaisesRegex(DownloadError, "does not start with d01eb7cb"):
            download("vgg19", "w.safetensors", self.src("tiny_vgg19_zip.pth"), "d01eb7cb", log=lambda m: None)
        self.assertEqual(os.listdir("."), [])

    def test_an_unreachable_host_falls_back_with_a_warning(self):
        convert(os.path.join(DATA, "tiny_vgg19_zip.pth"), "tv.safetensors", "torchvision")
        fallback = "file://" + os.path.abspath("tv.safetensors")
        logs = []
        kind = download("vgg19", "w.safetensors", "file:///nonexistent/vgg19-d01eb7cb.pth", None, fallback,
                        log=logs.append)
        self.assertEqual(kind, "torchvision")
        with open("w.safetensors", "rb") as a, open("tv.safetensors", "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertTrue(any("off balance" in m for m in logs))
        with self.assertRaises(DownloadError):
            download("vgg19", "x.safetensors", "file:///nonexistent/a.pth", None, fallback, use_fallback=False,
                     log=lambda m: None)
        self.assertFalse(os.path.exists("x.safetensors"))

    def test_the_command_line(self):
        script = os.path.join(ROOT, "weights", "download_vgg.py")
        r = subprocess.run([sys.executable, script, "--dest", "w.safetensors", "--url", self.src("evil_zip.pth"),
                            "--sha256", "", "--no-fallback"], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("refusing to load the global", r.stderr)
        self.assertEqual(os.listdir("."), [])
        r = subprocess.run([sys.executable, script, "--model", "vgg16", "--dest", "w.safetensors", "--url",
                            self.src("tiny_vgg16_zip.pth"), "--sha256", "", "--no-fallback"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_converted("w.safetensors", "vgg16")


if __name__ == "__main__":
    unittest.main()
