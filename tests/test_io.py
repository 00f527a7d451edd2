"""Atomic writes (nnsafety._io): old file or complete new one, never half; no temp file left."""
import os
import stat
from pathlib import Path

import pytest

from nnsafety import _io


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "config.json"
    _io.write_json_atomic(path, {"a": 1})

    def boom(tmp):
        Path(tmp).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        _io.atomic_write(path, boom)
    assert path.read_text().strip().startswith("{") and '"a": 1' in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left behind


def test_private_by_default_shared_on_request(tmp_path):
    umask = os.umask(0o022)
    try:
        _io.write_text_atomic(tmp_path / "state.json", "{}")
        _io.write_bytes_atomic(tmp_path / "report.html", b"<html>", shared=True)
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
    assert (tmp_path / "report.html").read_bytes() == b"<html>"


def test_figures_are_saved_atomically_in_the_suffix_format(tmp_path):
    from nnsafety._plot import new_axes, pyplot

    ax = new_axes()
    ax.plot([0, 1], [0, 1])
    _io.save_figure_atomic(ax.figure, tmp_path / "f.png")
    _io.save_figure_atomic(ax.figure, tmp_path / "f.svg")
    pyplot().close(ax.figure)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "f.svg").read_bytes()[:400]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "f.svg"]
