"""cifar10/cifar100: tiny batches in the real pickle layout (folder and .tar.gz), restricted unpickler."""
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch

from nnsafety.data import load_dataset
from nnsafety.data.files_cifar import UnsafePickleError, safe_unpickle

CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


class Py2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote: bytes as BINSTRING, arrays via numpy.core.multiarray."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None):
        name = name or obj.__qualname__
        module = {"numpy._core.multiarray": "numpy.core.multiarray"}.get(obj.__module__, obj.__module__)
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)


def dumps(obj, py2=False):
    if not py2:
        return pickle.dumps(obj, protocol=2)
    import io

    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def write_cifar10(folder, n=3, seed=0, py2=False, skip=()):
    """The six batches + batches.meta with the real keys; returns {file: (data, labels)}."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    out = {}
    for i, f in enumerate(CIFAR10_FILES):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        out[f] = (data, labels)
        if f in skip:
            continue
        batch = {
            b"batch_label": f"training batch {i + 1} of 5".encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"img_{i}_{j}.png".encode() for j in range(n)],
        }
        with open(os.path.join(folder, f), "wb") as fh:
            fh.write(dumps(batch, py2))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    with open(os.path.join(folder, "batches.meta"), "wb") as fh:
        fh.write(dumps({b"num_cases_per_batch": n, b"label_names": names, b"num_vis": 3072}, py2))
    return out


def check_pixels(ds, data, labels):
    """x[i, c, h, w] == data[i, c*1024 + h*32 + w] / 255 (R, G, B planes, row-major)."""
    x, y = ds.tensors()
    assert x.shape == (len(data), 3, 32, 32) and x.dtype == torch.float32
    assert ds.images.dtype == torch.uint8
    for i in range(len(data)):
        for c, h, w in [(0, 0, 0), (1, 5, 7), (2, 31, 30), (0, 31, 0), (2, 0, 31)]:
            assert x[i, c, h, w].item() == pytest.approx(data[i, c * 1024 + h * 32 + w] / 255.0, abs=1e-7)
    ref = torch.from_numpy(data.astype(np.float32) / 255.0).reshape(-1, 3, 32, 32)
    assert torch.allclose(x, ref, atol=1e-7, rtol=0)
    assert y.tolist() == list(labels) and y.dtype == torch.int64


@pytest.mark.parametrize("py2", [False, True], ids=["py3-protocol2", "py2-cpickle-style"])
def test_cifar10_folder_train_and_test(tmp_path, py2):
    out = write_cifar10(tmp_path / "cifar-10-batches-py", py2=py2)
    train = load_dataset("cifar10", root=str(tmp_path), split="train")
    data = np.concatenate([out[f][0] for f in CIFAR10_FILES[:5]])
    labels = sum((out[f][1] for f in CIFAR10_FILES[:5]), [])
    check_pixels(train, data, labels)
    assert train.classes[:3] == ["airplane", "automobile", "bird"] and train.num_classes == 10
    assert train.in_shape == (3, 32, 32)
    test = load_dataset("cifar10", root=str(tmp_path), split="test")
    check_pixels(test, *out["test_batch"])


def test_py2_stream_really_uses_the_old_layout():
    raw = dumps({b"data": np.zeros((1, 3072), np.uint8)}, py2=True)
    assert b"numpy.core.multiarray\n_reconstruct" in raw and b"_codecs" not in raw
    assert safe_unpickle(raw)[b"data"].shape == (1, 3072)


def test_cifar10_root_may_be_the_batch_folder_itself(tmp_path):
    out = write_cifar10(tmp_path / "cifar-10-batches-py")
    test = load_dataset("cifar10", root=str(tmp_path / "cifar-10-batches-py"), split="test")
    check_pixels(test, *out["test_batch"])


def test_cifar10_from_tar_gz_without_extracting(tmp_path):
    out = write_cifar10(tmp_path / "src" / "cifar-10-batches-py", seed=3)
    root = tmp_path / "data"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    for r in (root, root / "cifar-10-python.tar.gz"):
        test = load_dataset("cifar10", root=str(r), split="test")
        check_pixels(test, *out["test_batch"])
    train = load_dataset("cifar10", root=str(root), split="train")
    assert torch.equal(train.images[:3].reshape(3, -1), torch.from_numpy(out["data_batch_1"][0]))
    assert os.listdir(root) == ["cifar-10-python.tar.gz"]  # nothing extracted


def test_cifar100_fine_and_coarse(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
    fine, coarse = [0, 99, 42, 7], [0, 19, 3, 1]
    for f in ("train", "test"):
        batch = {b"filenames": [b"a"] * 4, b"batch_label": f.encode(), b"fine_labels": fine,
                 b"coarse_labels": coarse, b"data": data}
        (folder / f).write_bytes(dumps(batch))
    meta = {b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}
    (folder / "meta").write_bytes(dumps(meta))
    ds = load_dataset("cifar100", root=str(tmp_path), split="train")
    check_pixels(ds, data, fine)
    assert ds.num_classes == 100 and ds.classes[42] == "fine42"
    ds = load_dataset("cifar100", root=str(tmp_path), split="test", label_mode="coarse")
    check_pixels(ds, data, coarse)
    assert ds.num_classes == 20 and ds.classes[19] == "coarse19"
    with pytest.raises(ValueError, match="label_mode"):
        load_dataset("cifar100", root=str(tmp_path), label_mode="medium")


def test_missing_meta_falls_back_to_cifar10_names(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "batches.meta").unlink()
    ds = load_dataset("cifar10", root=str(tmp_path), split="test")
    assert ds.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class Payload:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("kind", ["os.system", "builtins.open", "eval-in-dict", "object-array"])
def test_malicious_batch_is_refused_and_never_runs(tmp_path, kind):
    marker = tmp_path / "PWNED"
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    evil = {
        "os.system": Payload(os.system, f"touch {marker}"),
        "builtins.open": Payload(open, str(marker), "w"),
        "eval-in-dict": {b"data": Payload(eval, f"open({str(marker)!r}, 'w')"), b"labels": [0]},
        "object-array": {b"data": np.array([Payload(open, str(marker), "w")], dtype=object), b"labels": [0]},
    }[kind]
    (folder / "data_batch_1").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(UnsafePickleError) as err:
        load_dataset("cifar10", root=str(tmp_path), split="train")
    assert isinstance(err.value, ValueError)
    msg = str(err.value)
    assert "refusing" in msg and "\n" not in msg
    assert "data_batch_1" in msg and "not a genuine CIFAR batch" in msg
    assert {"os.system": "system", "builtins.open": "open", "eval-in-dict": "eval"}.get(kind, "object") in msg
    assert not marker.exists()


def test_malicious_batch_inside_tar_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    folder = tmp_path / "src" / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "test_batch").write_bytes(pickle.dumps(Payload(os.system, f"touch {marker}"), protocol=2))
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    with pytest.raises(UnsafePickleError, match="test_batch"):
        load_dataset("cifar10", root=str(tmp_path), split="test")
    assert not marker.exists()


def test_codecs_encode_only_for_latin1():
    # Python 3 protocol-2 bytes go through _codecs.encode(str, "latin1"); other codecs are refused.
    evil = b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00xX\x06\x00\x00\x00rot_13\x86R."
    with pytest.raises(UnsafePickleError, match="rot_13"):
        safe_unpickle(evil)
    ok = pickle.dumps(b"\xff\x00abc", protocol=2)
    assert safe_unpickle(ok) == b"\xff\x00abc"


def test_truncated_batch_is_a_clear_value_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    raw = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"test_batch.*not a complete CIFAR pickle"):
        load_dataset("cifar10", root=str(tmp_path), split="test")


def test_wrong_batch_content_is_a_value_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "test_batch").write_bytes(dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"uint8 N×3072, got uint8 \(2, 100\)"):
        load_dataset("cifar10", root=str(tmp_path), split="test")


def one_line(err):
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_missing_files_name_the_expected_file(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10", root=str(tmp_path))
    msg = one_line(err)
    assert "cifar-10-batches-py/data_batch_1" in msg and "cifar-10-python.tar.gz" in msg
    assert str(tmp_path) in msg and "--data-root" in msg
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar100", root=str(tmp_path), split="test")
    assert "cifar-100-python/test" in one_line(err) and "cifar-100-python.tar.gz" in one_line(err)

    write_cifar10(tmp_path / "cifar-10-batches-py", skip=("data_batch_3",))
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10", root=str(tmp_path))
    assert "data_batch_3" in one_line(err)


def test_missing_member_in_tar_names_it(tmp_path):
    write_cifar10(tmp_path / "src" / "cifar-10-batches-py", skip=("test_batch",))
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10", root=str(tmp_path), split="test")
    assert "cifar-10-batches-py/test_batch inside cifar-10-python.tar.gz" in one_line(err)


def test_root_none_and_nonexistent_root(tmp_path):
    for name in ("cifar10", "cifar100"):
        with pytest.raises(ValueError) as err:
            load_dataset(name)
        assert f"{name} needs --data-root" in one_line(err)
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10", root=str(tmp_path / "nope"))
    assert "does not exist" in one_line(err) and "nope" in one_line(err)
