"""Atomic writes: a file on disk is either its old version or the complete new one, never half.

Temp file in the same folder (so the rename cannot cross file systems), fsync, then one
``os.replace``. A process killed at any instant leaves no half-written file under the final name;
an exception removes the temp file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def atomic_write(path: Path, write: Callable[[str], None], shared: bool = False) -> None:
    """Call ``write(tmp_path)`` then move the result over ``path`` in one rename.

    ``shared``: readable by others under the umask (0644 by default) — for reports and figures
    meant to be served; run state stays private to the user (mkstemp's 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if shared:
            os.chmod(tmp, shared_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def shared_mode(folder: bool = False) -> int:
    """The permissions a new shared file (0666) or folder (0777) gets under the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


def probe_writable(folder: str | os.PathLike, nbytes: int = 1 << 20) -> Path:
    """Write and fsync ``nbytes`` in a temp file in ``folder`` (or its nearest existing ancestor,
    where a new folder would be made), then delete it: a read-only or full disk raises ``OSError``
    here, before minutes of work, instead of when the results are written. Returns the folder probed."""
    path = Path(os.path.abspath(folder))
    while not path.exists() and path != path.parent:
        path = path.parent
    if not path.is_dir():
        raise NotADirectoryError(f"expected a folder at {path}, found a file")
    fd, tmp = tempfile.mkstemp(prefix=".nnsafety-probe-", dir=path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"\0" * nbytes)
            f.flush()
            os.fsync(f.fileno())
    finally:
        os.unlink(tmp)
    return path


def write_bytes_atomic(path: Path, data: bytes, shared: bool = False) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write, shared)


def write_text_atomic(path: Path, text: str, shared: bool = False) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), shared)


def write_json_atomic(path: Path, obj: Any, shared: bool = False) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", shared)


def save_figure_atomic(fig, path: Path, dpi: int = 120) -> None:
    """``fig.savefig`` into ``path`` atomically (format from the suffix, PNG without one)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt), shared=True)
