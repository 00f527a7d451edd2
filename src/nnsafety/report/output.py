"""Writing a report folder as one set: built in a fresh temporary folder beside ``out`` and swapped
in with one rename, so a reader (or a crash, Ctrl-C, a full disk) sees the whole old report or the
whole new one, never a new card beside an old ``report.html`` or figures of an older audit.

The folder is checked (and the disk probed) before any section runs, so a wrong, read-only or full
``out`` costs a second, not the audit's minutes. Only a report folder or an empty one is replaced:
any other folder may hold a user's files and is refused untouched.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Union

from .._io import probe_writable, shared_mode

# A folder holding one of these was written by nnsafety's audit or compare, so it may be replaced.
REPORT_FILES = ("report.html", "safety_card.json", "comparison.html", "comparison.json")


def prepare_out(out: Union[str, os.PathLike], probe_bytes: int = 4 << 20) -> Path:
    """Check ``out`` before any work: a folder that is missing, empty or an earlier report (a file,
    or a folder of other things -> ``ValueError``, untouched); then probe that its parent takes
    ``probe_bytes`` (read-only or full -> ``OSError``). Returns the path the report will have
    (symlinks resolved, so the swap replaces the folder the user meant, not the link)."""
    path = Path(os.path.realpath(out))
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"expected --out to be a report folder, found a file at {out}")
        entries = [p.name for p in path.iterdir()]
        if entries and not any(name in entries for name in REPORT_FILES):
            raise ValueError(f"{out} is a non-empty folder that is not an nnsafety report (no report.html or "
                             "safety_card.json); refusing to replace it: choose a new or empty --out")
    probe_writable(path.parent, probe_bytes)
    return path


def write_folder(out: Union[str, os.PathLike], fill: Callable[[Path], None]) -> Path:
    """Call ``fill(folder)`` on a fresh temporary folder beside ``out``, then swap it in for ``out``.

    The old ``out`` stays whole until the swap (one ``renameat2(RENAME_EXCHANGE)`` on Linux; two
    renames elsewhere) and is deleted after it; if anything fails before, the temporary folder is
    removed and ``out`` is as it was. Returns the report's path."""
    out = prepare_out(out, probe_bytes=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".new", dir=out.parent))
    try:
        fill(tmp)
        os.chmod(tmp, shared_mode(folder=True))  # mkdtemp's 0700 would hide a report meant to be shared
        old = _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)  # never follows links: a symlink inside is just removed
    return out


def _swap(new: Path, out: Path) -> Path | None:
    """Put ``new`` at ``out``; return where the old ``out`` now is (to delete), or None."""
    if not out.exists():
        os.rename(new, out)
        return None
    if _exchange(new, out):
        return new  # the two names traded places: ``new`` now holds the old report
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.rename(out, old / "report")
    try:
        os.rename(new, out)
    except BaseException:
        os.rename(old / "report", out)
        raise
    return old


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux's ``renameat2(..., RENAME_EXCHANGE)``; False when the
    system or file system has no such call (the caller then uses two renames)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not supported here
        return False
    raise OSError(err, os.strerror(err), str(b))
