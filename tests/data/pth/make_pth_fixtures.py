#!/usr/bin/python3
"""Writes the small .pth files tests/test_weights_scripts.py reads (committed; run once, again
only to change them). Needs PyTorch (Debian: python3-torch; made with 1.13):

  cd tests/data/pth && /usr/bin/python3 make_pth_fixtures.py

  tiny_vgg19_zip.pth     torch.save, the zip container (torch >= 1.6)
  tiny_vgg19_stream.pth  torch.save(_use_new_zipfile_serialization=False), the legacy stream
  tiny_vgg19_tar.pth     the legacy tar container (torch < 0.4), written here field by field
                         (torch can no longer write it) and checked by loading it with torch.load
  tiny_vgg16_zip.pth     a VGG16-shaped state dict, zip
  evil_zip.pth, evil_stream.pth, evil_tar.pth
                         the zip / stream / tar containers with a pickle that calls
                         os.system("touch nst-pwned-marker") when unpickled: must be refused

The tiny networks have the VGG layer structure with 4 channels per convolution, a classifier
tensor (dropped on conversion) and, to exercise the reader: conv1_1's weight with permuted
strides, a float64 bias, and two biases sharing one storage at an offset. Every element of
tensor NAME is value(NAME, i) below (exact in float32), which the test recomputes.
"""
import collections
import io
import os
import pickle
import struct
import tarfile

import torch

VGG19 = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
VGG16 = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
WIDTH = 4
STORAGE_TYPE = {torch.float32: torch.FloatStorage, torch.float64: torch.DoubleStorage}
TENSOR_TYPE = {torch.float32: torch.FloatTensor, torch.float64: torch.DoubleTensor}


def value(name, i):  # keep in sync with tests/test_weights_scripts.py
    h = sum(ord(c) for c in name)
    return ((i * 37 + h * 11) % 101 - 50) / 64.0


def filled(name, shape, dtype=torch.float32):
    n = 1
    for s in shape:
        n *= s
    return torch.tensor([value(name, i) for i in range(n)], dtype=dtype).reshape(shape)


def state_dict(indices):
    sd = collections.OrderedDict()
    c = 3
    for i in indices:
        w, b = f"features.{i}.weight", f"features.{i}.bias"
        if i == 0:  # non-contiguous: a permuted view with the same logical values
            t = filled(w, (WIDTH, c, 3, 3)).permute(2, 3, 1, 0).contiguous().permute(3, 2, 0, 1)
            assert not t.is_contiguous()
            sd[w] = t
        else:
            sd[w] = filled(w, (WIDTH, c, 3, 3))
        sd[b] = filled(b, (WIDTH,), torch.float64 if i == 2 else torch.float32)
        c = WIDTH
    # two biases in one storage, the second at an offset
    shared = torch.cat([filled(f"features.{indices[2]}.bias", (WIDTH,)), filled(f"features.{indices[3]}.bias", (WIDTH,))])
    sd[f"features.{indices[2]}.bias"] = shared[:WIDTH]
    sd[f"features.{indices[3]}.bias"] = shared[WIDTH:]
    sd["classifier.0.weight"] = filled("classifier.0.weight", (8, WIDTH))
    return sd


def write_tar(sd, path, evil=None):
    """The legacy tar container as torch < 0.4 wrote it (see pth_reader.py)."""
    storages, tensors = collections.OrderedDict(), collections.OrderedDict()
    for name, t in sd.items():
        key = len(tensors)  # torch used the objects' C addresses: ints
        s = t.storage()
        skey = s.data_ptr()
        if skey not in storages:
            storages[skey] = s
        tensors[key] = (t, skey)

    def member(tar, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    sf = io.BytesIO()
    pickle.dump(len(storages), sf, protocol=2)
    for skey, s in storages.items():
        pickle.dump((skey, "cpu", STORAGE_TYPE[s.dtype]), sf, protocol=2)
        sf.write(struct.pack("<q", s.size()))
        sf.write(torch.empty(0, dtype=s.dtype).set_(s, 0, (s.size(),), (1,)).numpy().tobytes())
    pickle.dump([], sf, protocol=2)
    tf = io.BytesIO()
    pickle.dump(len(tensors), tf, protocol=2)
    for key, (t, skey) in tensors.items():
        pickle.dump((key, skey, TENSOR_TYPE[t.dtype]), tf, protocol=2)
        tf.write(struct.pack("<i", t.dim()) + b"\0" * 4)
        tf.write(struct.pack(f"<{t.dim()}q", *t.shape))
        tf.write(struct.pack(f"<{t.dim()}q", *t.stride()))
        tf.write(struct.pack("<q", t.storage_offset()))

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if torch.is_tensor(obj):
                return str(next(k for k, (t, _) in tensors.items() if t is obj))
            return None

    pf = io.BytesIO()
    P(pf, protocol=2).dump(evil if evil is not None else collections.OrderedDict(sd))
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        member(tar, "sys_info", pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2))
        member(tar, "pickle", pf.getvalue())
        member(tar, "storages", sf.getvalue())
        member(tar, "tensors", tf.getvalue())


class Evil:
    def __reduce__(self):
        return (os.system, ("touch nst-pwned-marker",))


def main():
    for name in os.listdir("."):
        if name.endswith(".pth"):
            os.remove(name)
    sd19 = state_dict(VGG19)
    torch.save(sd19, "tiny_vgg19_zip.pth")
    torch.save(sd19, "tiny_vgg19_stream.pth", _use_new_zipfile_serialization=False)
    write_tar(sd19, "tiny_vgg19_tar.pth")
    torch.save(state_dict(VGG16), "tiny_vgg16_zip.pth")
    evil = {"features.0.weight": Evil()}
    torch.save(evil, "evil_zip.pth")
    torch.save(evil, "evil_stream.pth", _use_new_zipfile_serialization=False)
    write_tar({"features.0.bias": sd19["features.0.bias"]}, "evil_tar.pth", evil=evil)
    for f in sorted(os.listdir(".")):
        if f.startswith("tiny"):  # torch itself reads them back with the same values
            back = torch.load(f)
            ref = sd19 if "vgg19" in f else state_dict(VGG16)
            assert all(torch.equal(back[k], ref[k]) for k in ref), f
        if f.endswith(".pth"):
            print(f, os.path.getsize(f))
    assert not os.path.exists("nst-pwned-marker")


if __name__ == "__main__":
    main()
