"""GAMMA padding (Demetrio et al. 2021): it keeps its query budget, appends only a concatenation of
prefixes of the benign chunks after the file (nothing else changes, the rest stays padding), the
size penalty shrinks the payload, and on real PE files every adversarial file still parses with the
same entry point and sections and differs from the original only by the appended bytes."""
from __future__ import annotations

import pytest
import torch

from nnsafety.attacks import benign_sections, evade_files, gamma, list_attacks
from nnsafety.models.malconv import MalConv


def _toy(seed=0):
    torch.manual_seed(seed)
    model = MalConv(max_len=4000, channels=8).eval()
    x = torch.cat([torch.randint(0, 256, (1, 1500)), torch.full((1, 1000), 256)], 1)
    mutable = torch.zeros_like(x, dtype=torch.bool)
    mutable[0, 1500:] = True
    chunks = [bytes(range(200)), bytes([7] * 300), bytes(range(255, 55, -1))]
    return model, x, mutable, chunks


def test_registered_for_bytes_and_keeps_its_query_budget():
    assert "gamma" in list_attacks(domain="bytes") and "gamma" not in list_attacks(domain="image")
    model, x, mutable, chunks = _toy()
    y = model(x).argmax(1)
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    adv = gamma(model, x, y, mutable, benign=chunks, queries=50, population=10, seed=0)
    assert sum(calls) <= 50
    assert torch.equal(adv[0, :1500], x[0, :1500])  # the file itself never changes
    tail = adv[0, 1500:]
    n = int((tail != 256).sum())
    assert (tail[n:] == 256).all()  # payload from the file's end, then padding
    payload = bytes(tail[:n].tolist())
    # a concatenation of prefixes of the chunks, in order
    rest = payload
    for c in chunks:
        k = 0
        while k < len(c) and k < len(rest) and rest[k] == c[k]:
            k += 1
        rest = rest[k:]
    assert rest == b""


def test_size_penalty_shrinks_the_payload():
    model, x, mutable, chunks = _toy(1)
    y = model(x).argmax(1)
    sizes = [int((gamma(model, x, y, mutable, benign=chunks, queries=200, population=20, size_penalty=lam,
                        seed=0)[0, 1500:] != 256).sum()) for lam in (0.0, 1.0)]
    assert sizes[1] < sizes[0] / 4, sizes  # 1.0 per byte: every byte costs more than P can save


def test_needs_benign_content():
    model, x, mutable, _ = _toy()
    with pytest.raises(ValueError, match="benign section content"):
        gamma(model, x, torch.tensor([0]), mutable)


def test_gamma_files_still_work(malware_data):
    pefile = pytest.importorskip("pefile", reason="the PE checks need the 'malware' extra (pefile)")
    from nnsafety.runs import load_run

    model = load_run(malware_data / "malconv").model
    benign = benign_sections([(malware_data / "pe/benign/setuptools/cli-32.exe").read_bytes()], k=4, max_bytes=2048)
    names = ["clam-petite.exe", "clam-wwpack.exe"]
    files = [(malware_data / "pe/malicious/clamav" / n).read_bytes() for n in names]
    result, adv_files = evade_files(model, files, "gamma", names=names, benign=benign, queries=60, population=10,
                                    append=sum(map(len, benign)))
    for data, adv, row in zip(files, adv_files, result.files):
        assert row.valid, row.note
        assert adv[: len(data)] == data and len(adv) - len(data) <= sum(map(len, benign))
        old, new = pefile.PE(data=data), pefile.PE(data=adv)
        assert new.OPTIONAL_HEADER.AddressOfEntryPoint == old.OPTIONAL_HEADER.AddressOfEntryPoint
        assert [(s.Name, s.PointerToRawData, s.SizeOfRawData) for s in new.sections] == \
               [(s.Name, s.PointerToRawData, s.SizeOfRawData) for s in old.sections]
        assert row.changed == len(adv) - len(data) and row.adv_score <= row.score + 1e-6
