"""Editable regions of a Windows PE file: the bytes an attacker may change without changing what the
program does (Demetrio et al. 2019/2021, Suciu et al. 2019, Kolosnjaji et al. 2018).

Regions (file offsets, half-open):
- ``dos_header``: the DOS header between the ``MZ`` magic and the ``e_lfanew`` field, [2, 0x3C);
  the Windows loader reads only those two fields (Demetrio et al. 2019, "partial DOS").
- ``dos_stub``: from the end of the DOS header to the PE header, [0x40, e_lfanew) (with the DOS
  header it is Demetrio et al.'s "full DOS" region; it holds the stub program and Rich header).
- ``section_slack``: per section, raw bytes past its virtual size, [PointerToRawData + VirtualSize,
  PointerToRawData + SizeOfRawData): on disk for file alignment, never part of the loaded image
  (Suciu et al. 2019).
- ``overlay``: bytes after the last section's raw data (not mapped by the loader), plus up to
  ``append`` new bytes appended at the end (Kolosnjaji et al. 2018's padding).
Every region is clipped to the file and minus the bytes the loader does read: the two DOS fields,
the PE headers and section table, each section's loaded raw data, and the certificate table. Packed
files overlap these on purpose (MEW puts the PE header at 0x0C, inside the DOS header; Upack
overlaps sections with the headers), so the subtraction is what keeps an edit harmless.

The reader is the PyPI package pefile (optional extra ``malware``): pure Python, maintained, and it
parses headers without rebuilding the file, which is what an in-place byte edit needs (lief, the
compiled alternative secml-malware uses, rewrites and rebuilds binaries; it is a larger install).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

REGIONS = ("dos_header", "dos_stub", "section_slack", "overlay")
_E_LFANEW = 0x3C


def _pefile():
    try:
        import pefile
    except ImportError:
        raise ImportError("reading PE files needs pefile: pip install 'nnsafety[malware]'") from None
    return pefile


@dataclass
class PEInfo:
    """What an edit must keep (entry point, section table) and the editable byte ranges."""

    size: int
    entry_point: int
    sections: List[Tuple[bytes, int, int, int, int, int]]  # name, VA, vsize, raw ptr, raw size, flags
    regions: Dict[str, List[Tuple[int, int]]] = field(default_factory=dict)

    def region_bytes(self, name: str) -> int:
        return sum(b - a for a, b in self.regions[name])


def _ranges(mask: np.ndarray) -> List[Tuple[int, int]]:
    """Half-open runs of True in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def read_pe(data: bytes, max_len: Optional[int] = None, name: str = "file") -> PEInfo:
    """Parse ``data`` as a PE file; one-line ``ValueError`` for anything else (not a PE, truncated,
    longer than ``max_len``, the model input)."""
    pefile = _pefile()
    if max_len is not None and len(data) > max_len:
        raise ValueError(f"expected a file of at most {max_len} bytes (the model input), got {name} of {len(data)}")
    if len(data) < 0x40 or data[:2] != b"MZ":
        raise ValueError(f"expected a PE file starting with 'MZ', got {name} starting with {data[:2]!r}")
    try:
        pe = pefile.PE(data=data, fast_load=True)
    except pefile.PEFormatError as e:
        raise ValueError(f"expected a PE file, got {name}: {e.value}") from None
    n = len(data)
    e_lfanew = pe.DOS_HEADER.e_lfanew
    header_end = pe.sections[-1].get_file_offset() + 40 if pe.sections else pe.FILE_HEADER.get_file_offset() + 20
    sections = [(s.Name, s.VirtualAddress, s.Misc_VirtualSize, s.PointerToRawData, s.SizeOfRawData,
                 s.Characteristics) for s in pe.sections]
    for s_name, _, _, ptr, raw, _ in sections:
        if raw and ptr + raw > n:
            raise ValueError(f"expected a complete PE file, got {name} truncated at {n} bytes "
                             f"(section {s_name.rstrip(bytes(1))!r} ends at {ptr + raw})")
    protected = np.zeros(n, dtype=bool)
    protected[:2] = True
    protected[_E_LFANEW:_E_LFANEW + 4] = True
    protected[e_lfanew:header_end] = True
    for _, _, vsize, ptr, raw, _ in sections:
        loaded = min(vsize, raw) if vsize else raw
        protected[ptr & ~0x1FF: ptr + loaded] = True  # the loader rounds the raw pointer down to 512
    security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[4] if len(pe.OPTIONAL_HEADER.DATA_DIRECTORY) > 4 else None
    if security is not None and security.Size:
        protected[security.VirtualAddress: security.VirtualAddress + security.Size] = True  # a file offset
    overlay = pe.get_overlay_data_start_offset()
    candidates = {"dos_header": [(2, _E_LFANEW)], "dos_stub": [(0x40, e_lfanew)],
                  "section_slack": [(ptr + vsize, ptr + raw) for _, _, vsize, ptr, raw, _ in sections
                                    if vsize and vsize < raw],
                  "overlay": [(overlay, n)] if overlay is not None else []}
    info = PEInfo(size=n, entry_point=pe.OPTIONAL_HEADER.AddressOfEntryPoint, sections=sections)
    for region, spans in candidates.items():
        mask = np.zeros(n, dtype=bool)
        for a, b in spans:
            mask[max(a, 0):min(b, n)] = True
        info.regions[region] = _ranges(mask & ~protected)
    # no pe.close(): for in-memory data it only runs gc.collect(), 0.2 s a call
    return info


def check_regions(regions: Sequence[str]) -> Tuple[str, ...]:
    bad = [r for r in regions if r not in REGIONS]
    if bad or not regions:
        raise ValueError(f"expected regions among {', '.join(REGIONS)}, got {', '.join(regions) or 'none'}")
    return tuple(regions)


def editable_mask(info: PEInfo, regions: Sequence[str], append: int = 0, name: str = "file") -> np.ndarray:
    """Bool mask of length ``size + append`` (appended bytes editable only with ``overlay``). If
    none of the requested regions exists in the file (nor appending), one-line ``ValueError``."""
    regions = check_regions(regions)
    if append and "overlay" not in regions:
        raise ValueError("expected the 'overlay' region when appending bytes")
    if not append and not any(info.regions[r] for r in regions):
        raise ValueError(f"expected {name} to have a {' or '.join(regions)} region, it has none")
    mask = np.zeros(info.size + int(append), dtype=bool)
    for region in regions:
        for a, b in info.regions[region]:
            mask[a:b] = True
    mask[info.size:] = True
    return mask


def check_edit(original: bytes, edited: bytes, regions: Sequence[str], append: Optional[int] = None,
               name: str = "file") -> PEInfo:
    """Refuse (``ValueError``) an edit that changes a byte outside ``regions`` of ``original``, grows
    it without the overlay region (or past ``append`` bytes), or breaks its PE structure: the edited
    file must still parse with the same entry point and section table. Returns the edited file's info."""
    info = read_pe(original, name=name)
    extra = len(edited) - len(original)
    if extra < 0 or (append is not None and extra > append):
        raise ValueError(f"expected {name} to keep its {len(original)} bytes and append at most "
                         f"{append or 0}, got {len(edited)} bytes")
    mask = editable_mask(info, regions, append=extra, name=name)
    a = np.frombuffer(original, dtype=np.uint8)
    b = np.frombuffer(edited, dtype=np.uint8)
    changed = np.flatnonzero(a != b[: len(a)])
    outside = changed[~mask[changed]]
    if outside.size:
        raise ValueError(f"expected changes of {name} only in {', '.join(regions)}, got {outside.size} changed "
                         f"byte(s) outside, first at offset {int(outside[0])}")
    new = read_pe(edited, name=f"edited {name}")
    if new.entry_point != info.entry_point or new.sections != info.sections:
        raise ValueError(f"expected edited {name} to keep its entry point and sections, they changed")
    return new
