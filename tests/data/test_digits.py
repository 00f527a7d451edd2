"""digits: the fixed stratified split, pixel values against scikit-learn's raw data, registry errors."""
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from nnsafety.data import list_datasets, load_dataset


@pytest.fixture(scope="module")
def splits():
    return load_dataset("digits", split="train"), load_dataset("digits", split="test")


@pytest.fixture(scope="module")
def raw():
    bunch = load_digits()
    return bunch.images.reshape(len(bunch.images), -1), bunch.target


def _row_index(x: torch.Tensor, raw_x: np.ndarray) -> np.ndarray:
    """Index of each loaded image in scikit-learn's array (the 1,797 digits images are all distinct)."""
    lookup = {row.tobytes(): i for i, row in enumerate((raw_x).astype(np.float32) / 16.0)}
    return np.array([lookup[r.tobytes()] for r in x.reshape(len(x), -1).numpy()])


def test_sizes_shape_dtype_range(splits):
    train, test = splits
    assert (len(train), len(test)) == (1347, 450)
    for ds in splits:
        x, y = ds.tensors()
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (1, 8, 8) and ds.in_shape == (1, 8, 8)
        assert x.min() >= 0 and x.max() <= 1 and x.max() == 1.0  # 16/16 occurs
        assert ds.num_classes == 10 and ds.classes == [str(i) for i in range(10)]


def test_split_is_stratified(splits, raw):
    _, raw_y = raw
    (_, y_train), (_, y_test) = splits[0].tensors(), splits[1].tensors()
    for c in range(10):
        n_c = int((raw_y == c).sum())
        n_test = int((y_test == c).sum())
        assert n_test + int((y_train == c).sum()) == n_c
        assert n_test > 0 and n_test < n_c
        # test share of every class matches the global 450/1797 to within one sample
        assert abs(n_test - n_c * 450 / 1797) <= 1.0


def test_rows_disjoint_and_match_raw_pixels_and_labels(splits, raw):
    raw_x, raw_y = raw
    seen = []
    for ds in splits:
        x, y = ds.tensors()
        idx = _row_index(x, raw_x)
        np.testing.assert_array_equal(y.numpy(), raw_y[idx])
        np.testing.assert_allclose(x.reshape(len(x), -1).numpy(), raw_x[idx] / 16.0, rtol=0, atol=1e-7)
        seen.append(set(idx.tolist()))
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(len(raw_x)))


def test_deterministic_across_loads(splits):
    for split, ds in zip(("train", "test"), splits):
        again = load_dataset("digits", split=split)
        assert torch.equal(again.tensors()[0], ds.tensors()[0])
        assert torch.equal(again.tensors()[1], ds.tensors()[1])


def test_get_batch_and_item_agree_with_tensors(splits):
    ds = splits[1]
    x, y = ds.tensors()
    idx = torch.tensor([5, 0, 449])
    xb, yb = ds.get_batch(idx)
    assert torch.equal(xb, x[idx]) and torch.equal(yb, y[idx])
    xi, yi = ds[7]
    assert torch.equal(xi, x[7]) and yi == int(y[7])


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError) as err:
        load_dataset("digitz")
    msg = str(err.value)
    assert "digitz" in msg and "\n" not in msg
    for name in list_datasets():
        assert name in msg
    assert {"digits", "toy2d", "cifar10", "cifar100", "mnist", "cifar10c", "corrupted"} <= set(list_datasets())


def test_unknown_split_names_the_known_splits():
    with pytest.raises(ValueError, match=r"'train' or 'test'.*'val'"):
        load_dataset("digits", split="val")
