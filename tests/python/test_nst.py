"""The Python module (python/nst.py) over the shared library: versions, errors, a small run with
progress and the current image, settings, determinism, cancellation from another thread and
from a raising progress callable, the memory estimate, tiles and runs fitted into max_memory. Real weights at tiny sizes with shallow
layers; exits 77 (skipped) without numpy or the weights.
    NST_LIBRARY=build/libnst.so NST_WEIGHTS=... python3 tests/python/test_nst.py"""
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
try:
    import numpy as np
except ImportError:
    print("skipped: numpy not installed")
    sys.exit(77)
import nst

WEIGHTS = os.environ.get("NST_WEIGHTS", "")
SHALLOW = dict(content_layers="relu2_1", style_layers=["relu1_1", "relu2_1"], lbfgs_history=5)


def images():
    rng = np.random.default_rng(1)
    content = rng.integers(0, 256, (28, 40, 3), dtype=np.uint8)
    style = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    return content, style


class TestNoWeights(unittest.TestCase):
    def test_version(self):
        self.assertRegex(nst.version(), r"^\d+\.\d+\.\d+$")

    def test_missing_file_raises_with_status(self):
        with self.assertRaises(nst.NstError) as cm:
            nst.Model("/nonexistent.safetensors")
        self.assertEqual(cm.exception.status_name, "NST_IO_ERROR")
        self.assertIn("/nonexistent.safetensors", str(cm.exception))

    def test_bad_bytes(self):
        with self.assertRaises(nst.NstError) as cm:
            nst.Model(data=b"garbage garbage garbage")
        self.assertEqual(cm.exception.status_name, "NST_BAD_WEIGHTS")

    def test_memory_estimate(self):
        small = nst.estimate_memory((256, 256), (256, 256))
        large = nst.estimate_memory((512, 512), (256, 256))
        self.assertGreater(large["total"], small["total"])
        self.assertEqual(small["total"], small["weights"] + small["activations"] + small["lbfgs"] + small["base"])
        self.assertEqual(nst.estimate_memory((1024, 1024), (1024, 1024), size=256)["total"], small["total"])


@unittest.skipUnless(os.path.isfile(WEIGHTS), "weights not found")
class TestRuns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = nst.Model(WEIGHTS)

    def test_run_with_progress(self):
        content, style = images()
        seen = []

        def progress(p):
            img = p.image()
            self.assertEqual(img.shape, (28, 40, 3))
            seen.append((p.iteration, p.loss_total, p.eta_seconds))

        job = nst.Job(self.model)
        r = job.run(content, [style], progress=progress, iterations=3, **SHALLOW)
        self.assertFalse(r.cancelled)
        self.assertEqual(r.image.shape, (28, 40, 3))
        self.assertEqual(r.image.dtype, np.uint8)
        self.assertEqual([s[0] for s in seen], [1, 2, 3])
        self.assertTrue(all(np.isfinite(s[1]) and s[2] >= 0 for s in seen))
        self.assertEqual(r.iterations, 3)
        self.assertEqual(r.stop_reason, "max-iterations")
        # Same settings from a memory-loaded model, 1 thread, a non-contiguous content view:
        # identical bytes.
        with open(WEIGHTS, "rb") as f:
            model2 = nst.Model(data=f.read())
        padded = np.zeros((28, 50, 3), np.uint8)
        padded[:, :40] = content
        r2 = nst.Job(model2).run(padded[:, :40], style, iterations=3, threads=1, **SHALLOW)
        self.assertTrue(np.array_equal(r.image, r2.image))
        # size resizes the content's longest side.
        r3 = job.run(content, [style], iterations=1, size=20, **SHALLOW)
        self.assertEqual(r3.image.shape, (14, 20, 3))

    def test_tile_and_max_memory(self):
        content, style = images()
        lines = []
        job = nst.Job(self.model, log=lambda level, msg: lines.append(msg))
        # A given tile is used.
        r = job.run(content, [style], iterations=1, tile=16, **SHALLOW)
        self.assertEqual(r.image.shape, (28, 40, 3))
        self.assertTrue(any("tiles of 16 px" in m for m in lines), lines)
        tiled = nst.estimate_memory((40, 28), (20, 24), tile=16, **SHALLOW)
        self.assertNotEqual(tiled["total"], nst.estimate_memory((40, 28), (20, 24), **SHALLOW)["total"])
        # Over max_memory with the default L-BFGS history: fewer pairs instead of a refusal.
        shallow = dict(SHALLOW)
        del shallow["lbfgs_history"]
        budget = nst.estimate_memory((40, 28), (20, 24), **SHALLOW)["total"]  # with 5 pairs
        self.assertGreater(nst.estimate_memory((40, 28), (20, 24), **shallow)["total"], budget)
        self.assertEqual(nst.estimate_memory((40, 28), (20, 24), max_memory=budget, **shallow)["total"], budget)
        del lines[:]
        r = job.run(content, [style], iterations=1, max_memory=budget, **shallow)
        self.assertEqual(r.image.shape, (28, 40, 3))
        self.assertTrue(any("keeping 5 pairs" in m for m in lines), lines)
        # Nothing fits: NST_MEMORY_LIMIT.
        with self.assertRaises(nst.NstError) as cm:
            job.run(content, [style], iterations=1, max_memory=budget - 1, **SHALLOW)
        self.assertEqual(cm.exception.status_name, "NST_MEMORY_LIMIT")
        with self.assertRaises(nst.NstError) as cm:
            job.run(content, [style], iterations=1, tile=-1, **SHALLOW)
        self.assertIn("tile", str(cm.exception))

    def test_bad_settings(self):
        content, style = images()
        job = nst.Job(self.model)
        with self.assertRaises(nst.NstError) as cm:
            job.run(content, [style], iterations=0)
        self.assertEqual(cm.exception.status_name, "NST_INVALID_ARGUMENT")
        self.assertIn("iterations", str(cm.exception))
        with self.assertRaises(ValueError):
            job.run(content.astype(np.float32), [style])
        with self.assertRaises(TypeError):
            job.run(content, [style], no_such_setting=1)

    def test_cancel_from_another_thread(self):
        content, style = images()
        job = nst.Job(self.model)
        started = threading.Event()

        def canceller():
            started.wait(60)
            job.cancel()

        t = threading.Thread(target=canceller)
        t.start()
        r = job.run(content, [style], progress=lambda p: started.set(), iterations=100000, **SHALLOW)
        t.join()
        self.assertTrue(r.cancelled)
        self.assertIsNotNone(r.image)
        self.assertLess(r.iterations, 100000)
        self.assertEqual(r.stop_reason, "cancelled")

    def test_callback_exception_cancels_cleanly(self):
        content, style = images()
        job = nst.Job(self.model)
        calls = []

        def bad(p):
            calls.append(p.iteration)
            if p.iteration == 2:
                raise KeyError("from the callback")

        with self.assertRaises(KeyError):
            job.run(content, [style], progress=bad, iterations=50, **SHALLOW)
        self.assertEqual(calls, [1, 2])
        # The job is usable afterwards.
        r = job.run(content, [style], iterations=2, **SHALLOW)
        self.assertFalse(r.cancelled)
        self.assertEqual(r.iterations, 2)


if __name__ == "__main__":
    result = unittest.main(exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)
