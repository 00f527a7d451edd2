"""mnist/fashion_mnist: idx files (plain and .gz) with real headers, read back pixel for pixel."""
import gzip
import struct

import numpy as np
import pytest
import torch

from nnsafety.data import load_dataset
from nnsafety.data.files_mnist import parse_idx

NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_images(images: np.ndarray) -> bytes:
    n, h, w = images.shape
    return struct.pack(">iiii", 2051, n, h, w) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">ii", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def write_split(folder, split, n, seed=0, gz=False):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for base, raw in zip(NAMES[split], (idx_images(images), idx_labels(labels))):
        if gz:
            (folder / (base + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / base).write_bytes(raw)
    return images, labels


def check(ds, images, labels):
    x, y = ds.tensors()
    assert x.shape == (len(images), 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.in_shape == (1, 28, 28)
    # pixel (h, w) of image i is byte 16 + i*784 + h*28 + w of the file, i.e. images[i, h, w]
    assert x[1, 0, 3, 27].item() == pytest.approx(images[1, 3, 27] / 255.0, abs=1e-7)
    assert torch.allclose(x[:, 0], torch.from_numpy(images.astype(np.float32) / 255.0), atol=1e-7, rtol=0)
    assert y.tolist() == labels.tolist() and y.dtype == torch.int64


@pytest.mark.parametrize("sub", [".", "MNIST/raw", "mnist"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_mnist_reads_idx_from_each_place(tmp_path, sub, gz):
    tr = write_split(tmp_path / sub, "train", 5, seed=1, gz=gz)
    te = write_split(tmp_path / sub, "test", 3, seed=2, gz=gz)
    train = load_dataset("mnist", root=str(tmp_path), split="train")
    check(train, *tr)
    check(load_dataset("mnist", root=str(tmp_path), split="test"), *te)
    assert train.classes == [str(i) for i in range(10)]


def test_mixed_plain_and_gz(tmp_path):
    images, labels = write_split(tmp_path, "test", 4, gz=True)
    gz_labels = tmp_path / (NAMES["test"][1] + ".gz")
    (tmp_path / NAMES["test"][1]).write_bytes(gzip.decompress(gz_labels.read_bytes()))
    gz_labels.unlink()
    check(load_dataset("mnist", root=str(tmp_path), split="test"), images, labels)


def test_fashion_mnist(tmp_path):
    images, labels = write_split(tmp_path / "FashionMNIST" / "raw", "test", 4, gz=True)
    ds = load_dataset("fashion_mnist", root=str(tmp_path), split="test")
    check(ds, images, labels)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_parse_idx_general_header():
    raw = struct.pack(">iiii", 2051, 2, 3, 4) + bytes(range(24))
    np.testing.assert_array_equal(parse_idx(raw, 2051, "f"), np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


def test_wrong_magic(tmp_path):
    write_split(tmp_path, "test", 2)
    # the label file in place of the image file: magic 2049 where 2051 belongs
    (tmp_path / NAMES["test"][0]).write_bytes(idx_labels(np.zeros(2)))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: idx magic number 2049, expected 2051"):
        load_dataset("mnist", root=str(tmp_path), split="test")


def test_truncated_file(tmp_path):
    write_split(tmp_path, "test", 2)
    path = tmp_path / NAMES["test"][0]
    raw = path.read_bytes()
    path.write_bytes(raw[:-10])
    with pytest.raises(ValueError, match=r"2×28×28 = 1568 bytes of data, found 1558"):
        load_dataset("mnist", root=str(tmp_path), split="test")
    path.write_bytes(raw[:10])
    with pytest.raises(ValueError, match="truncated idx file"):
        load_dataset("mnist", root=str(tmp_path), split="test")


def test_truncated_gzip(tmp_path):
    write_split(tmp_path, "test", 2, gz=True)
    path = tmp_path / (NAMES["test"][0] + ".gz")
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="not a complete gzip file"):
        load_dataset("mnist", root=str(tmp_path), split="test")


def test_count_mismatch(tmp_path):
    write_split(tmp_path, "test", 3)
    (tmp_path / NAMES["test"][1]).write_bytes(idx_labels(np.zeros(2)))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        load_dataset("mnist", root=str(tmp_path), split="test")


def test_missing_files_and_root(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("mnist", root=str(tmp_path), split="train")
    msg = str(err.value)
    assert "\n" not in msg and "train-images-idx3-ubyte[.gz]" in msg and "MNIST/raw/train-images" in msg
    assert str(tmp_path) in msg and "--data-root" in msg
    write_split(tmp_path, "test", 2)
    (tmp_path / NAMES["test"][1]).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", root=str(tmp_path), split="test")
    for name in ("mnist", "fashion_mnist"):
        with pytest.raises(ValueError, match=f"^{name} needs --data-root"):
            load_dataset(name, split="test")
