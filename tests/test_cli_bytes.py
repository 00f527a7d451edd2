"""``nnsafety attack`` on executables: evasion on a folder, one file, and bad input → exit 2 with
nothing written and the input untouched."""
from __future__ import annotations

import hashlib
import json

import pytest

from nnsafety.cli import main

pytest.importorskip("pefile", reason="the byte attacks need the 'malware' extra (pefile)")


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def folder(malware_data, tmp_path):
    root = tmp_path / "pe"
    for rel in ("malicious/clamav/clam-petite.exe", "malicious/clamav/clam-upx.exe", "benign/setuptools/cli.exe"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((malware_data / "pe" / rel).read_bytes())
    return root


def test_attack_folder_writes_valid_adversarial_files(malware_data, folder, tmp_path, capsys):
    import pefile

    out = tmp_path / "adv"
    rc = main(["attack", str(malware_data / "malconv"), "--data", "pe_files", "--data-root", str(folder),
               "--attack", "dos_header", "--steps", "10", "--out", str(out), "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in result["files"]] == ["clamav/clam-petite.exe"]  # the only flagged file
    assert result["evasion_rate"] == 1.0
    adv = (out / "clamav" / "clam-petite.exe").read_bytes()
    orig = (folder / "malicious/clamav/clam-petite.exe").read_bytes()
    assert pefile.PE(data=adv).OPTIONAL_HEADER.AddressOfEntryPoint == pefile.PE(data=orig).OPTIONAL_HEADER.AddressOfEntryPoint
    assert {i for i in range(len(orig)) if adv[i] != orig[i]} <= set(range(2, 0x3C))


@pytest.mark.parametrize("case", ["not_pe", "truncated", "too_large", "no_region", "unknown_attack"])
def test_bad_file_exits_2_and_writes_nothing(malware_data, tmp_path, capsys, case):
    src = tmp_path / "in.exe"
    launcher = (malware_data / "pe/benign/setuptools/cli.exe").read_bytes()
    attack = "dos_header"
    if case == "not_pe":
        src.write_bytes(b"just text\n" * 20)
    elif case == "truncated":
        src.write_bytes(launcher[:5000])
    elif case == "too_large":
        src.write_bytes(launcher + bytes(2 ** 20))
    elif case == "no_region":  # MEW-packed: no section slack
        attack = "section_slack"
        src.write_bytes((malware_data / "pe/malicious/clamav/clam-mew.exe").read_bytes())
    else:
        src.write_bytes(launcher)
        attack = "pgd"
    before = _sha(src)
    out = tmp_path / "out.exe"
    rc = main(["attack", str(malware_data / "malconv"), "--file", str(src), "--attack", attack, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "error" in err
    assert not out.exists() and _sha(src) == before
    assert list(tmp_path.iterdir()) == [src]
