"""Spambase and phishing: the public files read into FeatureDatasets whose every point satisfies its
own domain, with the published class counts."""
from __future__ import annotations

import gzip

import pytest
import torch

from nnsafety.data import load_dataset
from nnsafety.domains import FeatureDomain


def test_spambase_real(malware_data):
    root = str(malware_data / "spambase")
    train, test = load_dataset("spambase", root=root), load_dataset("spambase", root=root, split="test")
    assert (len(train), len(test)) == (3681, 920) and train.in_shape == (57,)
    assert int(train.labels.sum() + test.labels.sum()) == 1813  # UCI: 1,813 spam of 4,601
    assert isinstance(train.domain, FeatureDomain) and train.domain.direction == [1] * 57
    x, _ = train.tensors()
    assert train.domain.is_valid(x, x).all()
    assert float(x[:, 56].max()) == 15841.0  # capital_run_length_total, UCI maximum


def test_phishing_real(malware_data):
    root = str(malware_data / "phishing")
    train, test = load_dataset("phishing", root=root), load_dataset("phishing", root=root, split="test")
    assert (len(train), len(test)) == (1000, 250)
    assert int(train.labels.sum() + test.labels.sum()) == 548
    x, _ = train.tensors()
    assert set(x[:, :7].unique().tolist()) <= {0.0, 1.0, 2.0} and set(x[:, 7:].unique().tolist()) <= {0.0, 1.0}
    assert train.domain.is_valid(x, x).all()
    names = train.domain.names
    assert not train.domain.mutable[names.index("is_popular")] and not train.domain.mutable[names.index("age_of_domain")]


def test_small_files_and_bad_ones(tmp_path):
    rows = [[float(i % 3)] * 54 + [1.5, 2, 30, i % 2] for i in range(10)]
    (tmp_path / "spambase.data").write_text("\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    ds = load_dataset("spambase", root=str(tmp_path))
    assert len(ds) == 8 and ds.images.dtype == torch.float32
    with gzip.open(tmp_path / "phishing.csv.gz", "wt") as f:
        f.write("a,b\n1,0\n")
    with pytest.raises(ValueError, match="expected the columns"):
        load_dataset("phishing", root=str(tmp_path))
    with pytest.raises(ValueError, match="make data-malware"):
        load_dataset("spambase", root=str(tmp_path / "missing"))
