"""Read the tensors of a PyTorch state dict (.pth) with the Python standard library only.

No PyTorch needed and no arbitrary unpickling: the unpickler resolves only the handful of
globals a state dict of plain tensors needs (collections.OrderedDict, torch._utils'
_rebuild_tensor / _rebuild_tensor_v2 / _rebuild_parameter, the torch.*Storage dtype tags) to
harmless stand-ins defined here, and refuses every other global (os.system, builtins.eval, ...)
with PthError before anything is called.

The three container variants torch.save has written, sniffed from the first bytes:
  zip      torch >= 1.6: DIR/data.pkl (the pickle), DIR/data/KEY (raw bytes of each storage),
           DIR/byteorder (optional, "little" or "big"); persistent ids
           ('storage', StorageType, key, location, numel)
  stream   torch < 1.6 (and _use_new_zipfile_serialization=False): pickles of the magic number,
           the protocol version and sys_info, then the object pickle with persistent ids
           ('storage', StorageType, key, location, numel, view_metadata), then a pickle of the
           sorted storage keys, then per key an int64 element count and the raw bytes
  tar      torch < 0.4: a tar of 'storages' (count, then per storage a pickle (key, location,
           StorageType), an int64 element count and the raw bytes; then a pickle of views),
           'tensors' (count, then per tensor a pickle (key, storage key, type), int32 ndim,
           4 padding bytes, ndim int64 sizes, ndim int64 strides, int64 offset) and 'pickle'
           (the object, tensors as persistent ids naming a key of 'tensors')
Storages are read only when a tensor's values are asked for (skipped otherwise), so a 575 MB
file whose classifier is not wanted costs little memory.

    from pth_reader import load_state_dict
    tensors = load_state_dict("vgg19-d01eb7cb.pth")   # {name: Tensor}
    t = tensors["features.0.weight"]; t.shape, t.dtype; t.float32_le() -> bytes (contiguous)
"""
import array
import collections
import io
import pickle
import struct
import sys
import tarfile
import zipfile

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch.<Name>Storage -> (dtype name, element size, array typecode or None)
STORAGE_TYPES = {
    "FloatStorage": ("float32", 4, "f"),
    "DoubleStorage": ("float64", 8, "d"),
    "HalfStorage": ("float16", 2, None),
    "BFloat16Storage": ("bfloat16", 2, None),
    "LongStorage": ("int64", 8, "q"),
    "IntStorage": ("int32", 4, "i"),
    "ShortStorage": ("int16", 2, "h"),
    "CharStorage": ("int8", 1, "b"),
    "ByteStorage": ("uint8", 1, "B"),
    "BoolStorage": ("bool", 1, "B"),
}


class PthError(Exception):
    """A file that is not a readable state dict, or one that asks for a forbidden global."""


class StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype, self.itemsize, self.typecode = STORAGE_TYPES[name]


class Storage:
    """A storage's dtype and where its bytes are; read() fetches them."""

    def __init__(self, stype, numel, reader):
        self.stype, self.numel, self._reader, self._bytes = stype, numel, reader, None

    def read(self):
        if self._bytes is None:
            self._bytes = self._reader()
            if len(self._bytes) != self.numel * self.stype.itemsize:
                raise PthError(f"storage holds {len(self._bytes)} bytes, expected "
                               f"{self.numel} x {self.stype.itemsize}")
        return self._bytes


class Tensor:
    def __init__(self, storage, offset, shape, stride):
        if not isinstance(storage, Storage):
            raise PthError("a tensor refers to something that is not a storage")
        for v in (offset, *shape, *stride):
            if not isinstance(v, int) or v < 0:
                raise PthError(f"bad tensor geometry: offset {offset}, shape {shape}, stride {stride}")
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), tuple(stride)
        self.byteorder = "little"  # of the storage bytes; set by load_state_dict
        numel = 1
        for s in self.shape:
            numel *= s
        self.numel = numel
        last = offset + sum((s - 1) * st for s, st in zip(self.shape, self.stride)) if numel else offset
        if numel and last >= storage.numel:
            raise PthError(f"tensor of shape {list(self.shape)} runs past its storage of {storage.numel} elements")

    @property
    def dtype(self):
        return self.storage.stype.dtype

    def _contiguous(self):
        expected, acc = [], 1
        for s in reversed(self.shape):
            expected.append(acc)
            acc *= s
        return all(sz == 1 or st == ex for sz, st, ex in zip(self.shape, self.stride, reversed(expected)))

    def values(self):
        """The elements in row-major order as a list of Python numbers (float or int)."""
        byteorder = self.byteorder
        st = self.storage.stype
        raw = self.storage.read()
        if st.typecode is not None:
            a = array.array(st.typecode)
            a.frombytes(raw)
            if byteorder != sys.byteorder:
                a.byteswap()
        elif st.dtype == "float16":
            a = list(struct.unpack(("<" if byteorder == "little" else ">") + f"{len(raw) // 2}e", raw))
        else:  # bfloat16: the upper half of a float32
            h = struct.unpack(("<" if byteorder == "little" else ">") + f"{len(raw) // 2}H", raw)
            a = list(struct.unpack(f"<{len(h)}f", struct.pack(f"<{len(h)}I", *(v << 16 for v in h))))
        if self._contiguous():
            return list(a[self.offset:self.offset + self.numel])
        out = []
        index = [0] * len(self.shape)
        for _ in range(self.numel):
            out.append(a[self.offset + sum(i * s for i, s in zip(index, self.stride))])
            for d in reversed(range(len(index))):
                index[d] += 1
                if index[d] < self.shape[d]:
                    break
                index[d] = 0
        return out

    def float32_le(self):
        """The elements as contiguous little-endian float32 bytes (floating dtypes only)."""
        st = self.storage.stype
        if st.dtype not in ("float32", "float64", "float16", "bfloat16"):
            raise PthError(f"tensor of dtype {st.dtype} is not floating point")
        if st.dtype == "float32" and self._contiguous() and self.byteorder == "little":
            raw = self.storage.read()
            return raw[4 * self.offset:4 * (self.offset + self.numel)]
        a = array.array("f", self.values())
        if sys.byteorder != "little":
            a.byteswap()
        return a.tobytes()


# Stand-ins for the only globals a state dict needs.
def _rebuild_tensor(storage, storage_offset, size, stride):
    return Tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    if not isinstance(data, Tensor):
        raise PthError("a parameter wraps something that is not a tensor")
    return data


ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}
ALLOWED.update({("torch", name): StorageType(name) for name in STORAGE_TYPES})
# The tar container names each tensor's type (torch.FloatTensor, ...); only a tag, never called.
ALLOWED.update({("torch", name.replace("Storage", "Tensor")): "tensor type tag" for name in STORAGE_TYPES})


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, persistent):
        super().__init__(file)
        self._persistent = persistent

    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise PthError(f"refusing to load the global {module}.{name}: a state dict of tensors needs "
                           "only collections.OrderedDict, torch._utils._rebuild_* and torch.*Storage")
        return ALLOWED[(module, name)]

    def persistent_load(self, pid):
        return self._persistent(pid)


def _unpickle(data_or_file, persistent=None):
    f = io.BytesIO(data_or_file) if isinstance(data_or_file, bytes) else data_or_file

    def no_persistent(pid):
        raise PthError(f"unexpected persistent id {pid!r}")

    try:
        return _Unpickler(f, persistent or no_persistent).load()
    except PthError:
        raise
    except Exception as e:  # truncated or malformed pickles
        raise PthError(f"malformed pickle: {e}") from None


def _storage_type(t):
    if not isinstance(t, StorageType):
        raise PthError(f"storage type {t!r} is not a torch.*Storage")
    return t


def _read_exact(f, n):
    b = f.read(n)
    if len(b) != n:
        raise PthError("file ends inside a storage")
    return b


def _load_zip(path):
    z = zipfile.ZipFile(path)
    names = z.namelist()
    pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        raise PthError("zip file without exactly one DIR/data.pkl: not a torch.save file")
    prefix = pkl[0][: -len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
        byteorder = z.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise PthError(f"unknown byteorder {byteorder!r}")
    storages = {}

    def persistent(pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise PthError(f"unexpected persistent id {pid!r}")
        _, stype, key, _location, numel = pid
        stype = _storage_type(stype)
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise PthError(f"bad storage record {pid!r}")
        if key not in storages:
            member = prefix + "data/" + key
            if member not in names:
                raise PthError(f"storage {key} is missing from the archive")
            storages[key] = Storage(stype, numel, lambda m=member: z.read(m))
        return storages[key]

    return _unpickle(z.read(pkl[0]), persistent), byteorder


def _load_stream(f):
    if _unpickle(f) != LEGACY_MAGIC:
        raise PthError("not a PyTorch file (bad magic number)")
    if _unpickle(f) != LEGACY_PROTOCOL:
        raise PthError("unsupported legacy protocol version")
    sys_info = _unpickle(f)
    byteorder = "little"
    if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
        byteorder = "big"
    storages = {}

    def persistent(pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise PthError(f"unexpected persistent id {pid!r}")
        _, stype, key, _location, numel, view = pid
        stype = _storage_type(stype)
        if view is not None:
            raise PthError("storage views are not supported")
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise PthError(f"bad storage record {pid!r}")
        if key not in storages:
            storages[key] = Storage(stype, numel, None)
        return storages[key]

    obj = _unpickle(f, persistent)
    keys = _unpickle(f)
    if not isinstance(keys, list) or set(keys) != set(storages):
        raise PthError("the storage key list does not match the storages the object uses")
    for key in keys:  # in file order; bytes of storages nobody reads are skipped
        s = storages[key]
        (count,) = struct.unpack("<q" if byteorder == "little" else ">q", _read_exact(f, 8))
        if count != s.numel:
            raise PthError(f"storage {key}: {count} elements on disk, {s.numel} announced")
        pos = f.tell()
        f.seek(count * s.stype.itemsize, io.SEEK_CUR)
        s._reader = lambda p=pos, n=count * s.stype.itemsize: (f.seek(p), _read_exact(f, n))[1]
    end = f.tell()
    f.seek(0, io.SEEK_END)
    if f.tell() < end:
        raise PthError("file ends inside a storage")
    return obj, byteorder


def _load_tar(path):
    tar = tarfile.open(path, mode="r:")
    members = {m.name: m for m in tar.getmembers() if m.isfile()}
    for need in ("storages", "tensors", "pickle"):
        if need not in members:
            raise PthError(f"legacy tar file without '{need}'")
    sf = tar.extractfile(members["storages"])
    storages = {}
    count = _unpickle(sf)
    if not isinstance(count, int) or count < 0:
        raise PthError("bad storage count")
    for _ in range(count):
        rec = _unpickle(sf)
        if not (isinstance(rec, tuple) and len(rec) == 3):
            raise PthError(f"bad storage record {rec!r}")
        key, _location, stype = rec
        stype = _storage_type(stype)
        (n,) = struct.unpack("<q", _read_exact(sf, 8))
        if n < 0:
            raise PthError("negative storage size")
        data = _read_exact(sf, n * stype.itemsize)
        storages[key] = Storage(stype, n, lambda d=data: d)
    views = _unpickle(sf)
    if views:
        raise PthError("storage views are not supported")
    tf = tar.extractfile(members["tensors"])
    tensors = {}
    count = _unpickle(tf)
    if not isinstance(count, int) or count < 0:
        raise PthError("bad tensor count")
    for _ in range(count):
        rec = _unpickle(tf)
        if not (isinstance(rec, tuple) and len(rec) == 3):
            raise PthError(f"bad tensor record {rec!r}")
        key, storage_key, _type = rec
        if storage_key not in storages:
            raise PthError(f"tensor {key!r} refers to unknown storage {storage_key!r}")
        (ndim,) = struct.unpack("<i", _read_exact(tf, 4))
        _read_exact(tf, 4)
        if not 0 <= ndim <= 64:
            raise PthError(f"bad tensor rank {ndim}")
        size = struct.unpack(f"<{ndim}q", _read_exact(tf, 8 * ndim))
        stride = struct.unpack(f"<{ndim}q", _read_exact(tf, 8 * ndim))
        (offset,) = struct.unpack("<q", _read_exact(tf, 8))
        tensors[str(key)] = Tensor(storages[storage_key], offset, size, stride)

    def persistent(pid):
        if isinstance(pid, tuple):
            raise PthError("the file holds a pickled module, not a state dict")
        if str(pid) not in tensors:  # torch wrote the key as a string of the record's int
            raise PthError(f"unknown tensor key {pid!r}")
        return tensors[str(pid)]

    return _unpickle(tar.extractfile(members["pickle"]), persistent), "little"


def sniff(path):
    """'zip', 'tar' or 'stream' from the first bytes; PthError for anything else."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head[:1] == b"\x80":  # a pickle (protocol >= 2): the legacy magic number comes first
        return "stream"
    raise PthError("not a PyTorch .pth file (neither zip, tar nor a pickle stream)")


def load_state_dict(path):
    """{name: Tensor} of the state dict in path (a 'state_dict' entry is unwrapped, 'module.'
    prefixes are dropped). Raises PthError for anything else."""
    kind = sniff(path)
    try:
        if kind == "zip":
            obj, byteorder = _load_zip(path)
        elif kind == "tar":
            obj, byteorder = _load_tar(path)
        else:
            f = open(path, "rb")
            obj, byteorder = _load_stream(f)
    except (zipfile.BadZipFile, tarfile.TarError, struct.error, EOFError) as e:
        raise PthError(f"damaged {kind} file: {e}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise PthError(f"the file holds a {type(obj).__name__}, not a state dict")
    out = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            raise PthError(f"state dict key {k!r} is not a string")
        if isinstance(v, Tensor):
            v.byteorder = byteorder
            out[k[len("module."):] if k.startswith("module.") else k] = v
    return out
