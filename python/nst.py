"""nst from Python: a ctypes binding of the C API (include/nst/nst.h), nothing to compile.

    import numpy as np, nst
    model = nst.Model("vgg19.safetensors")            # or nst.Model(data=bytes_of_the_file)
    job = nst.Job(model)
    result = job.run(content, [style], iterations=300, size=512,
                     progress=lambda p: print(p.iteration, p.loss_total))
    result.image                                       # (H, W, 3) uint8, or None

Images are numpy arrays (H, W, 3) of uint8 (RGB, any strides along H). The shared library is
found from $NST_LIBRARY, then the system's library path (ctypes.util.find_library("nst")).

Threads: a Model may be shared by any number of Jobs on any threads; a Job runs one run at a
time. Job.run releases the GIL while the run goes (ctypes does for every foreign call) and takes
it back only for the progress callable. Job.cancel() may be called from any thread; the run
then returns the best image so far with result.cancelled set. An exception raised by the
progress callable cancels the run the same way and is re-raised by Job.run.
"""

import ctypes
import ctypes.util
import os

import numpy as np

ABI_VERSION = 1  # NST_ABI_VERSION of the header this module mirrors

OK, CANCELLED = 0, 1

_POOLING = {"max": 0, "avg": 1}
_INIT = {"random": 0, "content": 1, "image": 2, "style": 3}
_OPTIMIZER = {"lbfgs": 0, "adam": 1}
_COLOR_MATCH = {"none": 0, "pca": 1, "cholesky": 2, "symmetric": 3}
_LBFGS_PRECISION = {"half": 0, "float": 1}


class NstError(Exception):
    """A failed call: .status (number), .status_name ("NST_BAD_WEIGHTS", ...) and the message."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = _lib().nst_status_name(status).decode()
        super().__init__(f"{self.status_name}: {message}")


class _Image(ctypes.Structure):
    _fields_ = [("pixels", ctypes.c_void_p), ("width", ctypes.c_int32), ("height", ctypes.c_int32),
                ("stride", ctypes.c_size_t)]


class _Settings(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("iterations", ctypes.c_int32),
        ("content_weight", ctypes.c_double),
        ("style_weight", ctypes.c_double),
        ("tv_weight", ctypes.c_double),
        ("content_layers", ctypes.c_char_p),
        ("style_layers", ctypes.c_char_p),
        ("style_layer_weights", ctypes.POINTER(ctypes.c_double)),
        ("style_layer_weight_count", ctypes.c_int32),
        ("style_blend", ctypes.POINTER(ctypes.c_double)),
        ("style_blend_count", ctypes.c_int32),
        ("pooling", ctypes.c_int32),
        ("init", ctypes.c_int32),
        ("init_image", ctypes.POINTER(_Image)),
        ("seed", ctypes.c_uint64),
        ("lbfgs_history", ctypes.c_int32),
        ("lbfgs_precision", ctypes.c_int32),
        ("line_search", ctypes.c_int32),
        ("size", ctypes.c_int32),
        ("style_scale", ctypes.c_double),
        ("threads", ctypes.c_int32),
        ("max_memory", ctypes.c_int64),
        ("optimizer", ctypes.c_int32),
        ("learning_rate", ctypes.c_double),
        ("normalize_gradients", ctypes.c_int32),
        ("original_colors", ctypes.c_int32),
        ("color_match", ctypes.c_int32),
        ("start_size", ctypes.c_int32),
        ("scale_iterations", ctypes.c_int32),
        ("style_mask_count", ctypes.c_int32),
        ("style_masks", ctypes.POINTER(_Image)),
        ("time_limit", ctypes.c_double),
        ("tile", ctypes.c_int32),
    ]


class _Progress(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("iteration", ctypes.c_int32),
        ("iterations", ctypes.c_int32),
        ("loss_total", ctypes.c_double),
        ("loss_content", ctypes.c_double),
        ("loss_style", ctypes.c_double),
        ("loss_tv", ctypes.c_double),
        ("elapsed_seconds", ctypes.c_double),
        ("eta_seconds", ctypes.c_double),
        ("width", ctypes.c_int32),
        ("height", ctypes.c_int32),
    ]


class _RunInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("iterations", ctypes.c_int32),
        ("evaluations", ctypes.c_int32),
        ("loss_total", ctypes.c_double),
        ("loss_content", ctypes.c_double),
        ("loss_style", ctypes.c_double),
        ("loss_tv", ctypes.c_double),
        ("seconds", ctypes.c_double),
        ("stop_reason", ctypes.c_char_p),
    ]


class _MemoryEstimate(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in ("total", "weights", "activations", "lbfgs", "base")]


_PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_Progress), ctypes.c_void_p)
_LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

_LIB = None


def _lib():
    global _LIB
    if _LIB is not None:
        return _LIB
    path = os.environ.get("NST_LIBRARY") or ctypes.util.find_library("nst")
    if not path:
        raise OSError("libnst not found: install nst (cmake --install) or set NST_LIBRARY to libnst.so's path")
    lib = ctypes.CDLL(path)
    P, c = ctypes.POINTER, ctypes
    sigs = {
        "nst_status_name": (c.c_char_p, [c.c_int]),
        "nst_version": (c.c_char_p, []),
        "nst_version_number": (c.c_int, []),
        "nst_abi_version": (c.c_int, []),
        "nst_last_error": (c.c_char_p, []),
        "nst_model_load_file": (c.c_int, [c.c_char_p, c.c_int, P(c.c_void_p)]),
        "nst_model_load_memory": (c.c_int, [c.c_void_p, c.c_size_t, c.c_int, P(c.c_void_p)]),
        "nst_model_free": (None, [c.c_void_p]),
        "nst_settings_default": (None, [P(_Settings)]),
        "nst_job_create": (c.c_int, [c.c_void_p, P(c.c_void_p)]),
        "nst_job_free": (None, [c.c_void_p]),
        "nst_job_set_progress": (None, [c.c_void_p, _PROGRESS_FN, c.c_void_p]),
        "nst_job_set_log": (None, [c.c_void_p, _LOG_FN, c.c_void_p]),
        "nst_job_run": (c.c_int, [c.c_void_p, P(_Image), P(_Image), c.c_int32, P(_Settings)]),
        "nst_job_cancel": (None, [c.c_void_p]),
        "nst_job_output_size": (c.c_int, [c.c_void_p, P(c.c_int32), P(c.c_int32)]),
        "nst_job_read_output": (c.c_int, [c.c_void_p, c.c_void_p, c.c_size_t]),
        "nst_job_read_current": (c.c_int, [c.c_void_p, c.c_void_p, c.c_size_t]),
        "nst_job_run_info": (c.c_int, [c.c_void_p, P(_RunInfo)]),
        "nst_job_error": (c.c_char_p, [c.c_void_p]),
        "nst_estimate_memory": (c.c_int, [P(_Settings), c.c_int32, c.c_int32, c.c_int32, c.c_int32,
                                          P(_MemoryEstimate)]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    if lib.nst_abi_version() != ABI_VERSION:
        raise OSError(f"{path} has nst ABI {lib.nst_abi_version()}, this module needs {ABI_VERSION}")
    _LIB = lib
    return lib


def version():
    """The library's version string."""
    return _lib().nst_version().decode()


def _image(array, what):
    """A borrowed nst_image over a (H, W, 3) uint8 array, and the array kept alive with it."""
    a = np.asarray(array)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{what}: expected an (H, W, 3) uint8 RGB array, got {a.dtype} {a.shape}")
    if a.strides[1:] != (3, 1):
        a = np.ascontiguousarray(a)
    img = _Image(a.ctypes.data, a.shape[1], a.shape[0], a.strides[0])
    return img, a


def _settings(options, keep):
    lib = _lib()
    s = _Settings()
    lib.nst_settings_default(ctypes.byref(s))
    for key, value in options.items():
        if key in ("content_layers", "style_layers"):
            text = value if isinstance(value, str) else ",".join(value)
            buf = text.encode()
            keep.append(buf)
            setattr(s, key, buf)
        elif key in ("style_layer_weights", "style_blend"):
            arr = (ctypes.c_double * len(value))(*value)
            keep.append(arr)
            setattr(s, key, ctypes.cast(arr, ctypes.POINTER(ctypes.c_double)))
            setattr(s, "style_layer_weight_count" if key == "style_layer_weights" else "style_blend_count", len(value))
        elif key == "pooling":
            s.pooling = _POOLING[value]
        elif key == "lbfgs_precision":
            s.lbfgs_precision = _LBFGS_PRECISION[value]
        elif key == "init":
            if isinstance(value, str):
                s.init = _INIT[value]
            else:
                img, arr = _image(value, "init")
                keep.extend([img, arr])
                s.init = _INIT["image"]
                s.init_image = ctypes.pointer(img)
        elif key in ("line_search", "normalize_gradients", "original_colors"):
            setattr(s, key, 1 if value else 0)
        elif key == "optimizer":
            s.optimizer = _OPTIMIZER[value]
        elif key == "color_match":
            s.color_match = _COLOR_MATCH[value]
        elif key == "style_masks":
            masks = (_Image * max(1, len(value)))()
            for i, m in enumerate(value):
                img, arr = _image(m, f"style_masks[{i}]")
                masks[i] = img
                keep.append(arr)
            keep.append(masks)
            s.style_masks = ctypes.cast(masks, ctypes.POINTER(_Image))
            s.style_mask_count = len(value)
        elif key in dict(_Settings._fields_) and key != "struct_size":
            setattr(s, key, value)
        else:
            raise TypeError(f"unknown setting {key!r}")
    return s


def estimate_memory(content_size, style_size, **settings):
    """Estimated peak bytes of a run: content_size and style_size are (width, height) as passed to
    Job.run; with max_memory, of the run as fitted into it (see Job.run). Returns a dict: total,
    weights, activations, lbfgs, base."""
    keep = []
    s = _settings(settings, keep)
    e = _MemoryEstimate()
    st = _lib().nst_estimate_memory(ctypes.byref(s), content_size[0], content_size[1], style_size[0],
                                    style_size[1], ctypes.byref(e))
    if st != OK:
        raise NstError(st, _lib().nst_last_error().decode())
    return {n: getattr(e, n) for n, _ in _MemoryEstimate._fields_}


class Model:
    """VGG19 weights, from a safetensors file (path) or its bytes (data). Read-only; share it."""

    def __init__(self, path=None, data=None):
        lib = _lib()
        self._h = ctypes.c_void_p()
        if (path is None) == (data is None):
            raise TypeError("Model(path) or Model(data=bytes)")
        if path is not None:
            st = lib.nst_model_load_file(os.fsencode(path), ABI_VERSION, ctypes.byref(self._h))
        else:
            buf = bytes(data)
            st = lib.nst_model_load_memory(buf, len(buf), ABI_VERSION, ctypes.byref(self._h))
        if st != OK:
            raise NstError(st, lib.nst_last_error().decode())

    def close(self):
        if self._h:
            _lib().nst_model_free(self._h)
            self._h = ctypes.c_void_p()

    def __del__(self):
        self.close()


class Progress:
    """One iteration's report; image() reads the image just evaluated (inside the callable only)."""

    def __init__(self, job, p):
        self._job, self._p = job, p
        for name, _ in _Progress._fields_:
            if name != "struct_size":
                setattr(self, name, getattr(p, name))

    def image(self):
        out = np.empty((self.height, self.width, 3), np.uint8)
        st = _lib().nst_job_read_current(self._job, out.ctypes.data, out.strides[0])
        if st != OK:
            raise NstError(st, _lib().nst_last_error().decode())
        return out


class Result:
    """image: (H, W, 3) uint8 or None (cancelled before the first evaluation); cancelled; and the
    run's iterations, evaluations, loss_* and stop_reason."""

    def __init__(self, image, cancelled, info):
        self.image = image
        self.cancelled = cancelled
        for name, _ in _RunInfo._fields_:
            if name != "struct_size":
                setattr(self, name, getattr(info, name))
        self.stop_reason = info.stop_reason.decode() if info.stop_reason else ""


class Job:
    """One run at a time over a Model. run() blocks (GIL released); cancel() from any thread."""

    def __init__(self, model, log=None):
        lib = _lib()
        self._model = model  # keeps it alive
        self._h = ctypes.c_void_p()
        st = lib.nst_job_create(model._h, ctypes.byref(self._h))
        if st != OK:
            raise NstError(st, lib.nst_last_error().decode())
        self._log = _LOG_FN(lambda level, msg, user: log(level, msg.decode())) if log else None
        if self._log:
            lib.nst_job_set_log(self._h, self._log, None)

    def cancel(self):
        """Stops the running (or the next) run; safe from any thread."""
        if self._h:
            _lib().nst_job_cancel(self._h)

    def run(self, content, styles, progress=None, **settings):
        """Stylizes content (H, W, 3) uint8 in the style of the arrays in styles. Settings are the
        nst command's options with underscores: iterations, size, style_scale, content_weight,
        style_weight, tv_weight, content_layers, style_layers, style_layer_weights, style_blend,
        pooling ("max"/"avg"), init ("random"/"content"/"style"/an array), seed, optimizer
        ("lbfgs"/"adam"), learning_rate, lbfgs_history, lbfgs_precision ("half"/"float"),
        line_search, normalize_gradients, original_colors, color_match ("none"/"pca"/
        "cholesky"/"symmetric"), start_size, scale_iterations, style_masks (arrays), threads,
        max_memory, time_limit, tile. A run over max_memory (bytes) is fitted into it as the nst
        command does: evaluated in tiles (tile=0: the largest that fit; tile > 0 is kept), then
        with fewer L-BFGS pairs unless lbfgs_history is given (a value other than the default
        100); what changed goes to the Job's log; NstError NST_MEMORY_LIMIT only if nothing
        fits. progress(p) is called after every iteration; returning True stops the run. Raises
        NstError."""
        lib = _lib()
        keep = []
        s = _settings(settings, keep)
        c_img, c_arr = _image(content, "content")
        if isinstance(styles, np.ndarray):
            styles = [styles]
        style_imgs = (_Image * max(1, len(styles)))()
        for i, st_arr in enumerate(styles):
            img, arr = _image(st_arr, f"style {i}")
            style_imgs[i] = img
            keep.append(arr)
        error = []

        def on_progress(job, p, user):
            try:
                return 1 if progress(Progress(job, p.contents)) else 0
            except BaseException as e:  # cancels the run cleanly; re-raised below
                error.append(e)
                return 1

        fn = _PROGRESS_FN(on_progress) if progress else _PROGRESS_FN()
        lib.nst_job_set_progress(self._h, fn, None)
        try:
            st = lib.nst_job_run(self._h, ctypes.byref(c_img), style_imgs, len(styles), ctypes.byref(s))
        finally:
            lib.nst_job_set_progress(self._h, _PROGRESS_FN(), None)
        if error:
            raise error[0]
        if st not in (OK, CANCELLED):
            raise NstError(st, lib.nst_job_error(self._h).decode())
        w, h = ctypes.c_int32(), ctypes.c_int32()
        image = None
        if lib.nst_job_output_size(self._h, ctypes.byref(w), ctypes.byref(h)) == OK:
            image = np.empty((h.value, w.value, 3), np.uint8)
            lib.nst_job_read_output(self._h, image.ctypes.data, image.strides[0])
        info = _RunInfo()
        info.struct_size = ctypes.sizeof(_RunInfo)
        lib.nst_job_run_info(self._h, ctypes.byref(info))
        return Result(image, st == CANCELLED, info)

    def close(self):
        if self._h:
            _lib().nst_job_free(self._h)
            self._h = ctypes.c_void_p()

    def __del__(self):
        self.close()
