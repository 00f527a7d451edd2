"""Byte attacks: the update rules against brute force, edits only where allowed, and on real PE
files: every adversarial file parses, keeps its entry point and sections, and differs only inside
the attack's regions; the DOS-header attack evades MalConv on packed test files it flags."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nnsafety.attacks import evade_files, list_attacks
from nnsafety.attacks.bytes import byte_search, gradient_attack, line_bytes, nearest_byte
from nnsafety.models.malconv import MalConv

BYTE_ATTACKS = ["byte_search", "dos_header", "full_dos", "kreuk", "padding", "section_slack"]


def test_registered_for_bytes():
    assert set(list_attacks(domain="bytes")) == set(BYTE_ATTACKS) | {"gamma"}  # gamma: test_bytes_gamma.py
    assert not set(BYTE_ATTACKS) & set(list_attacks(domain="image"))


def test_line_rule_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    table, z, g = torch.randn(256, 8, generator=gen), torch.randn(20, 8, generator=gen), torch.randn(20, 8, generator=gen)
    got = line_bytes(z, g, table)
    for i in range(20):
        w = (g[i] / g[i].norm()).numpy().astype(np.float64)
        best, best_d = -1, np.inf
        for b in range(256):
            d = table[b].numpy().astype(np.float64) - z[i].numpy()
            s = d @ w
            dist = np.linalg.norm(d - s * w)
            if s > 0 and dist < best_d:
                best, best_d = b, dist
        assert int(got[i]) == best
    assert torch.equal(nearest_byte(z, table), torch.cdist(z, table).argmin(1))


@pytest.mark.parametrize("rule", ["line", "fgsm", "kreuk"])
def test_changes_only_mutable_bytes(rule):
    torch.manual_seed(1)
    model = MalConv(max_len=3000, channels=8).eval()
    x = torch.randint(0, 256, (3, 1700))
    x[2, 900:] = 256  # a shorter file: its pad positions 900..949 are appended bytes
    mutable = torch.zeros_like(x, dtype=torch.bool)
    mutable[:, 10:60] = True
    mutable[2, 900:950] = True
    x[2, 900:950] = torch.randint(0, 256, (50,))
    y = model(x).argmax(1)
    before = [p.detach().clone() for p in model.parameters()]
    adv = gradient_attack(model, x, y, mutable, steps=5, rule=rule)
    assert torch.equal(adv[~mutable], x[~mutable])
    assert ((adv >= 0) & (adv <= 255))[mutable].all()
    assert (adv != x).any()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_byte_search_keeps_its_query_budget():
    torch.manual_seed(2)
    model = MalConv(max_len=2000, channels=8).eval()
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    x = torch.randint(0, 256, (1, 1500))
    mutable = torch.zeros_like(x, dtype=torch.bool)
    mutable[0, :100] = True
    y = model(x).argmax(1)
    calls.clear()
    adv = byte_search(model, x, y, mutable, queries=41, population=10, k=4, seed=0)
    assert sum(calls) <= 41
    assert torch.equal(adv[~mutable], x[~mutable])


@pytest.fixture(scope="module")
def real(malware_data):
    from nnsafety.runs import load_run

    names = ["malicious/clamav/clam-petite.exe", "malicious/clamav/clam-wwpack.exe", "malicious/clamav/clam-mew.exe"]
    files = [(malware_data / "pe" / n).read_bytes() for n in names]
    return load_run(malware_data / "malconv").model, files, [n.split("/")[-1] for n in names]


@pytest.mark.parametrize("attack", BYTE_ATTACKS)
def test_adversarial_files_still_work(real, attack):
    pefile = pytest.importorskip("pefile", reason="the PE checks need the 'malware' extra (pefile)")
    from nnsafety.data.pe import read_pe

    model, files, names = real
    kw = {"queries": 60} if attack == "byte_search" else {"steps": 5}
    result, adv_files = evade_files(model, files, attack, names=names, **kw)
    for data, adv, row in zip(files, adv_files, result.files):
        assert row.valid, row.note
        old, new = pefile.PE(data=data), pefile.PE(data=adv)  # still parses
        assert new.OPTIONAL_HEADER.AddressOfEntryPoint == old.OPTIONAL_HEADER.AddressOfEntryPoint
        assert [s.get_file_offset() for s in new.sections] == [s.get_file_offset() for s in old.sections]
        assert [(s.Name, s.VirtualAddress, s.Misc_VirtualSize, s.PointerToRawData, s.SizeOfRawData)
                for s in new.sections] == [(s.Name, s.VirtualAddress, s.Misc_VirtualSize, s.PointerToRawData,
                                            s.SizeOfRawData) for s in old.sections]
        regions = read_pe(data).regions
        allowed = set()
        for region in _attack_regions(attack):
            allowed |= {i for a, b in regions[region] for i in range(a, b)}
        changed = {i for i, (a, b) in enumerate(zip(data, adv)) if a != b}
        assert changed <= allowed
        if attack in ("dos_header", "full_dos", "byte_search"):
            assert changed <= set(range(2, 0x3C)) | set(range(0x40, old.DOS_HEADER.e_lfanew)) and len(adv) == len(data)
        assert row.changed == len(changed) + len(adv) - len(data)


def _attack_regions(name):
    from nnsafety.attacks import ATTACKS

    return ATTACKS.get(name).regions


def test_dos_header_attack_evades_malconv_on_flagged_files(real):
    model, files, names = real
    result, _ = evade_files(model, files[:2], "dos_header")
    assert [f.score > 0.9 for f in result.files] == [True, True]  # both flagged (0.958, 0.9996)
    assert all(f.evaded and f.adv_score < 0.5 and f.changed <= 58 for f in result.files)


def test_file_without_the_region_is_reported_not_hidden(real):
    model, files, names = real
    result, adv = evade_files(model, [files[2]], "section_slack", names=["clam-mew.exe"])
    assert not result.files[0].evaded and "section_slack region" in result.files[0].note and adv[0] == files[2]


def test_padding_appends_its_default_bytes(real):
    """The driver reads an attack's default ``append`` (when ``Attack.params`` held only the values
    passed, it read 0, and padding and kreuk then refused every file without an overlay)."""
    model, files, names = real
    for attack in ("padding", "kreuk"):
        result, adv = evade_files(model, files[:1], attack, steps=2)
        assert result.files[0].valid and len(adv[0]) == len(files[0]) + 1000, result.files[0].note
