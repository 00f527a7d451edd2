"""-C folders (cifar10c, cifar100c, corrupted): severity slices, channel order, labels, errors."""
import json
import os

import numpy as np
import pytest
import torch

from nnsafety.data import list_corruptions_in, load_dataset
from nnsafety.data import files_corrupted

N = 4


def write_c(folder, shape=(8, 6, 3), corruptions=("fog", "gaussian_noise"), per_severity_labels=True, seed=0):
    """<corruption>.npy of (5·N)×H×W×C uint8 stacked by severity + labels.npy; returns the arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for c in corruptions:
        arrays[c] = rng.integers(0, 256, size=(5 * N,) + shape, dtype=np.uint8)
        np.save(folder / f"{c}.npy", arrays[c])
    labels = rng.integers(0, 10, size=N)
    labels[0] = 9  # so K = max + 1 = 10 without meta.json
    if per_severity_labels:
        labels = np.tile(labels, 5)
    np.save(folder / "labels.npy", labels)
    return arrays, labels


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_severity_slice_channel_order_and_labels(tmp_path, severity):
    arrays, labels = write_c(tmp_path / "CIFAR-10-C")
    ds = load_dataset("cifar10c", root=str(tmp_path), split="test", corruption="fog", severity=severity)
    x, y = ds.tensors()
    rows = arrays["fog"][(severity - 1) * N: severity * N]
    assert x.shape == (N, 3, 8, 6) and ds.images.dtype == torch.uint8 and ds.in_shape == (3, 8, 6)
    for i, c, h, w in [(0, 0, 0, 0), (1, 2, 7, 5), (3, 1, 4, 2)]:
        assert x[i, c, h, w].item() == pytest.approx(rows[i, h, w, c] / 255.0, abs=1e-7)
    ref = torch.from_numpy(rows.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    assert torch.allclose(x, ref, atol=1e-7, rtol=0)
    assert y.tolist() == labels[(severity - 1) * N: severity * N].tolist()
    assert ds.classes[0] == "airplane" and ds.num_classes == 10


def test_n_labels_are_shared_by_all_severities(tmp_path):
    arrays, labels = write_c(tmp_path, per_severity_labels=False)
    for s in (2, 4):
        ds = load_dataset("corrupted", root=str(tmp_path), split="test", corruption="gaussian_noise", severity=s)
        assert ds.labels.tolist() == labels.tolist()
        assert torch.equal(ds.images, torch.from_numpy(arrays["gaussian_noise"][(s - 1) * N: s * N]).permute(0, 3, 1, 2))


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1)], ids=["HxW", "HxWx1"])
def test_grey_images_have_one_channel(tmp_path, shape):
    arrays, _ = write_c(tmp_path, shape=shape)
    ds = load_dataset("corrupted", root=str(tmp_path), split="test", corruption="fog", severity=2)
    assert ds.in_shape == (1, 5, 7)
    np.testing.assert_array_equal(ds.images[:, 0].numpy(), arrays["fog"][N: 2 * N].reshape(N, 5, 7))


def test_class_names(tmp_path):
    write_c(tmp_path / "a")
    ds = load_dataset("corrupted", root=str(tmp_path / "a"), split="test", corruption="fog")
    assert ds.classes == [str(i) for i in range(10)] and ds.name == "corrupted"
    classes = [f"c{i}" for i in range(12)]
    (tmp_path / "a" / "meta.json").write_text(json.dumps({"classes": classes, "name": "digits-C"}))
    ds = load_dataset("corrupted", root=str(tmp_path / "a"), split="test", corruption="fog")
    assert ds.classes == classes and ds.name == "digits-C"
    write_c(tmp_path / "CIFAR-100-C")
    ds = load_dataset("cifar100c", root=str(tmp_path), split="test", corruption="fog", severity=1)
    assert ds.num_classes == 100 and ds.classes[:3] == ["apple", "aquarium_fish", "baby"]
    assert ds.classes[-1] == "worm"


def test_cifar10c_root_may_be_the_folder_itself(tmp_path):
    arrays, _ = write_c(tmp_path / "CIFAR-10-C")
    ds = load_dataset("cifar10c", root=str(tmp_path / "CIFAR-10-C"), split="test", corruption="fog", severity=5)
    assert torch.equal(ds.images, torch.from_numpy(arrays["fog"][4 * N:]).permute(0, 3, 1, 2))


def test_list_corruptions_in(tmp_path):
    write_c(tmp_path, corruptions=("zoom_blur", "contrast", "fog"))
    (tmp_path / "notes.txt").write_text("x")
    assert list_corruptions_in(tmp_path) == ["contrast", "fog", "zoom_blur"]


def test_only_the_chosen_severity_is_read(tmp_path, monkeypatch):
    write_c(tmp_path)
    calls = []
    real_load = np.load

    def spy(path, *args, **kwargs):
        out = real_load(path, *args, **kwargs)
        calls.append((os.path.basename(path), kwargs, type(out)))
        return out

    monkeypatch.setattr(files_corrupted.np, "load", spy)
    load_dataset("corrupted", root=str(tmp_path), split="test", corruption="fog", severity=2)
    assert all(kw.get("allow_pickle") is False for _, kw, _ in calls)
    (image_call,) = [c for c in calls if c[0] == "fog.npy"]
    assert image_call[1].get("mmap_mode") == "r" and image_call[2] is np.memmap


def test_pickled_npy_is_refused_without_running(tmp_path):
    write_c(tmp_path)
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    np.save(tmp_path / "fog.npy", np.array([Payload()] * 5, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="cannot read"):
        load_dataset("corrupted", root=str(tmp_path), split="test", corruption="fog", severity=1)
    assert not marker.exists()


def test_corruption_required_or_unknown_lists_found(tmp_path):
    write_c(tmp_path)
    for kwargs, what in [({}, "needs corruption=NAME"), ({"corruption": "fgo"}, "has no corruption 'fgo'")]:
        with pytest.raises(ValueError) as err:
            load_dataset("corrupted", root=str(tmp_path), split="test", **kwargs)
        msg = str(err.value)
        assert what in msg and "fog, gaussian_noise" in msg and str(tmp_path) in msg and "\n" not in msg


@pytest.mark.parametrize("severity", [0, 6, -1, True, 2.0, "3"])
def test_bad_severity(tmp_path, severity):
    write_c(tmp_path)
    with pytest.raises(ValueError, match=r"severity an int in 1\.\.5"):
        load_dataset("corrupted", root=str(tmp_path), split="test", corruption="fog", severity=severity)


def test_train_split_is_refused(tmp_path):
    write_c(tmp_path)
    for name in ("cifar10c", "cifar100c", "corrupted"):
        with pytest.raises(ValueError, match=f"{name} has only a test split"):
            load_dataset(name, root=str(tmp_path), split="train", corruption="fog")


def test_bad_arrays(tmp_path):
    write_c(tmp_path)
    np.save(tmp_path / "fog.npy", np.zeros((5 * N, 4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected uint8 of shape \(5·N\)"):
        load_dataset("corrupted", root=str(tmp_path), split="test", corruption="fog")
    np.save(tmp_path / "fog.npy", np.zeros((5 * N + 1, 4, 4, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"expected uint8 of shape \(5·N\)"):
        load_dataset("corrupted", root=str(tmp_path), split="test", corruption="fog")
    np.save(tmp_path / "fog.npy", np.zeros((5 * N, 4, 4, 3), dtype=np.uint8))
    np.save(tmp_path / "labels.npy", np.zeros(3 * N, dtype=np.int64))
    with pytest.raises(ValueError, match=f"expected {N} or {5 * N} int labels"):
        load_dataset("corrupted", root=str(tmp_path), split="test", corruption="fog")
    np.save(tmp_path / "labels.npy", np.full(N, 10))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        load_dataset("cifar10c", root=str(tmp_path), split="test", corruption="fog")


def test_missing_folder_labels_and_root(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10c", root=str(tmp_path), split="test", corruption="fog")
    msg = str(err.value)
    assert "CIFAR-10-C/labels.npy" in msg and str(tmp_path) in msg and "\n" not in msg and "--data-root" in msg
    write_c(tmp_path / "x")
    (tmp_path / "x" / "labels.npy").unlink()
    with pytest.raises(FileNotFoundError, match="expected labels.npy under"):
        load_dataset("corrupted", root=str(tmp_path / "x"), split="test", corruption="fog")
    for name in ("cifar10c", "cifar100c", "corrupted"):
        with pytest.raises(ValueError, match=f"^{name} needs --data-root"):
            load_dataset(name, split="test", corruption="fog")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("corrupted", root=str(tmp_path / "nope"), split="test", corruption="fog")


def test_export_with_a_subset_of_severities_reads_the_right_rows(tmp_path):
    """meta.json's "severities" says which block is which when not all five were exported."""
    import json

    import numpy as np

    from nnsafety.data import load_dataset

    n = 4
    images = np.concatenate([np.full((n, 2, 2, 1), 10 * s, np.uint8) for s in (2, 5)])
    np.save(tmp_path / "fog.npy", images)
    np.save(tmp_path / "labels.npy", np.tile(np.arange(n), 2))
    (tmp_path / "meta.json").write_text(json.dumps({"classes": list("abcd"), "severities": [2, 5]}))
    for s in (2, 5):
        ds = load_dataset("corrupted", root=str(tmp_path), split="test", corruption="fog", severity=s)
        assert int(ds.images.unique()) == 10 * s and len(ds) == n
    with pytest.raises(ValueError, match=r"holds severities \[2, 5\], not 3"):
        load_dataset("corrupted", root=str(tmp_path), split="test", corruption="fog", severity=3)
