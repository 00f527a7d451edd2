"""The PE reader's editable regions, checked against pefile's raw header fields, and its refusals."""
from __future__ import annotations

import pytest

pefile = pytest.importorskip("pefile", reason="the PE reader needs the 'malware' extra (pefile)")

from nnsafety.data.pe import check_edit, editable_mask, read_pe  # noqa: E402


@pytest.fixture(scope="module")
def launcher(malware_data):
    return (malware_data / "pe" / "benign" / "setuptools" / "cli-64.exe").read_bytes()


def test_regions_match_the_header_fields(launcher):
    pe = pefile.PE(data=launcher)
    info = read_pe(launcher)
    assert info.regions["dos_header"] == [(2, 0x3C)]
    assert info.regions["dos_stub"] == [(0x40, pe.DOS_HEADER.e_lfanew)]
    slack = sum(s.SizeOfRawData - s.Misc_VirtualSize for s in pe.sections if s.Misc_VirtualSize < s.SizeOfRawData)
    assert info.region_bytes("section_slack") == slack > 0
    for s in pe.sections:  # no slack byte lies in a section's loaded bytes
        for a, b in info.regions["section_slack"]:
            assert b <= s.PointerToRawData or a >= s.PointerToRawData + min(s.Misc_VirtualSize, s.SizeOfRawData)
    assert info.regions["overlay"] == [] and pe.get_overlay_data_start_offset() is None
    assert info.entry_point == pe.OPTIONAL_HEADER.AddressOfEntryPoint


def test_packed_header_overlap_is_protected(malware_data):
    """MEW puts the PE header at 0x0C, inside the DOS header: only 10 bytes stay editable."""
    data = (malware_data / "pe" / "malicious" / "clamav" / "clam-mew.exe").read_bytes()
    info = read_pe(data)
    assert pefile.PE(data=data).DOS_HEADER.e_lfanew == 0x0C
    assert info.regions["dos_header"] == [(2, 0x0C)] and info.regions["dos_stub"] == []


def test_edits_outside_the_regions_are_refused(launcher):
    inside = bytearray(launcher)
    inside[2:0x3C] = bytes(58)
    check_edit(launcher, bytes(inside), ["dos_header"])
    for offset in (0, 0x3C, 0x40, 0x400):  # magic, e_lfanew, the stub (not asked for), .text
        edited = bytearray(launcher)
        edited[offset] ^= 0xFF
        with pytest.raises(ValueError, match="only in dos_header"):
            check_edit(launcher, bytes(edited), ["dos_header"])
    with pytest.raises(ValueError, match="append at most 0"):
        check_edit(launcher, launcher + b"x", ["overlay"], append=0)
    check_edit(launcher, launcher + b"xyz", ["overlay"], append=3)


@pytest.mark.parametrize("case", ["not_pe", "truncated", "too_large", "no_region", "bad_region"])
def test_bad_input_is_one_line(launcher, case):
    with pytest.raises(ValueError) as err:
        if case == "not_pe":
            read_pe(b"#!/bin/sh\necho hi\n" * 10)
        elif case == "truncated":
            read_pe(launcher[: len(launcher) // 2])
        elif case == "too_large":
            read_pe(launcher, max_len=4096)
        elif case == "no_region":
            editable_mask(read_pe(launcher), ["overlay"])
        else:
            editable_mask(read_pe(launcher), ["text"])
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("expected")
