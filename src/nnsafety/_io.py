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
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
