"""The folder-of-files byte dataset: labels and kinds from folders, batches as MalConv reads them."""
from __future__ import annotations

import pytest
import torch

from nnsafety.data import load_dataset
from nnsafety.data.pe_files import bytes_to_batch, read_byte_folder
from nnsafety.domains import ByteDomain


def _folder(tmp_path):
    files = {"benign/pip/a.exe": b"MZ\x00\x01", "benign/b.dll": b"MZ" + bytes(range(10)),
             "malicious/clamav/c.exe": bytes([255]) * 7}
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return files


def test_reads_classes_and_kinds(tmp_path):
    _folder(tmp_path)
    ds = load_dataset("pe_files", root=str(tmp_path))
    assert ds.labels.tolist() == [0, 0, 1]
    assert ds.kinds == ["benign", "pip", "clamav"]  # sorted paths: benign/b.dll before benign/pip/a.exe
    assert ds.sizes == [12, 4, 7]
    assert isinstance(ds.domain, ByteDomain) and ds.domain.max_len == 2 ** 20
    x, y = ds.tensors()
    assert x.dtype == torch.int64 and x.shape == (3, 12)
    assert x[1].tolist() == [77, 90, 0, 1] + [256] * 8
    ds.domain.check(x)


def test_batches_are_cut_at_max_len_like_the_model(tmp_path):
    _folder(tmp_path)
    ds = read_byte_folder(tmp_path, max_len=5)
    x, _ = ds.get_batch([0, 1, 2])
    assert x.shape == (3, 5)
    assert x[0].tolist() == [77, 90, 0, 1, 2] and x[1].tolist() == [77, 90, 0, 1, 256]
    assert ds.sizes[0] == 12  # the full size is kept for reporting
    assert ds.select([2]).kinds == ["clamav"]


def test_bytes_to_batch_matches_a_loop():
    files = [b"", b"\x00\xff", bytes(range(256)) * 3]
    x = bytes_to_batch(files, max_len=600)
    expect = torch.full((3, 600), 256)
    for i, b in enumerate(files):
        expect[i, : min(len(b), 600)] = torch.tensor(list(b[:600]), dtype=torch.int64)
    assert torch.equal(x, expect)


def test_missing_or_empty_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="expected a folder"):
        load_dataset("pe_files", root=str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="found none"):
        load_dataset("pe_files", root=str(tmp_path))


def test_real_files(malware_data):
    ds = load_dataset("pe_files", root=str(malware_data / "pe"))
    counts = {k: ds.kinds.count(k) for k in set(ds.kinds)}
    assert (counts["pip"], counts["setuptools"], counts["clamav"]) == (6, 8, 17)  # + wine, if fetched
    assert int(ds.labels.sum()) == 17 and set(counts) <= {"pip", "setuptools", "clamav", "wine"}
    assert all(b[:2] == b"MZ" for b in ds.files)
