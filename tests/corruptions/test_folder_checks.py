"""Issue 15, item 8: a -C folder is checked against its meta.json and the clean test set before any
image is scored (before: n=100 in meta.json for 30 images, or labels out of range, gave 0.0 %
silently, and a corrupted set of another size was compared without a word)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nnsafety.corruptions import evaluate_corruptions_folder, export_corrupted
from nnsafety.data import load_dataset


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    test = load_dataset("digits", split="test").subset(30)
    folder = tmp_path_factory.mktemp("c") / "digits-C"
    export_corrupted(test, folder, corruptions=["contrast"], severities=[1, 2], progress=False)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    return test, folder, model


def _tampered(folder, tmp_path, meta=None, labels=None):
    import shutil

    dst = tmp_path / "c"
    shutil.copytree(folder, dst)
    if meta is not None:
        m = json.loads((dst / "meta.json").read_text())
        (dst / "meta.json").write_text(json.dumps({**m, **meta}))
    if labels is not None:
        np.save(dst / "labels.npy", labels(np.load(dst / "labels.npy")))
    return dst


def test_a_consistent_folder_is_scored(setup):
    test, folder, model = setup
    res = evaluate_corruptions_folder(model, folder, clean_dataset=test)
    x = torch.from_numpy(np.load(folder / "contrast.npy")).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(np.load(folder / "labels.npy"))
    with torch.no_grad():
        hits = (model(x).argmax(1) == y).float()
    assert res.n == 30 and res.accuracy["contrast"][2] == pytest.approx(float(hits[30:].mean()))


@pytest.mark.parametrize("meta, labels, needle", [
    ({"n": 100}, None, "expected uint8 of shape (2·100)×H×W×C (2 severities × n = 100 from meta.json), got uint8 "
                       "of shape (60, 8, 8, 1)"),
    ({"n": "30"}, None, "expected 'n' a positive integer, got '30'"),
    (None, lambda y: np.where(np.arange(y.size) == 5, 12, y), "expected labels in [0, 10), got [0, 12]"),
    (None, lambda y: y[:45], "expected 30 or 60 int labels"),
    (None, lambda y: (y + 1) % 10, "the labels differ from the clean test set's"),
])
def test_inconsistent_folders_are_refused(setup, tmp_path, meta, labels, needle):
    test, folder, model = setup
    bad = _tampered(folder, tmp_path, meta, labels)
    with pytest.raises(ValueError) as e:
        evaluate_corruptions_folder(model, bad, clean_dataset=test)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_a_set_of_another_size_than_the_clean_one_is_refused(setup):
    test, folder, model = setup
    with pytest.raises(ValueError, match="holds 30 images per severity, the clean test set 20"):
        evaluate_corruptions_folder(model, folder, clean_dataset=test.subset(20))
