"""Small argument parsers shared by the commands: the one validation layer for numbers from the
command line (typed ``type=`` helpers argparse calls), comma lists, shards and figure files.

A ``type=`` helper raises ``argparse.ArgumentTypeError``; argparse turns it into
"argument --eps: expected ..." and our ``Parser.error`` into one line, exit 2, before any work.
"""
from __future__ import annotations

import argparse
import math
import os
from typing import List, Optional

from ._base import UsageError

MAX_SEED = 2 ** 63 - 1  # torch.manual_seed and NumPy's generators take any seed in 0..2**63-1


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """``type=`` for counts that must be >= 1 (batch sizes, steps, epochs, seeds per method)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def count(text: str) -> int:
    """``type=`` for "first N images" options, where 0 means all."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0 (0 = all), got {text!r}")
    return value


def seed(text: str) -> int:
    """``type=`` for seeds: an integer in 0..2**63-1 (larger ones overflow torch's generators)."""
    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed in 0..2**63-1, got {text!r}")
    return value


def unit_float(text: str) -> float:
    """``type=`` for a finite number in [0, 1] (an L∞ budget in pixel units, a fraction)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def float_list(text: str, what: str = "--eps", upper: Optional[float] = None) -> List[float]:
    """Comma-separated finite numbers >= 0 (and <= ``upper`` when given)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"nnsafety: error: expected {what} as comma-separated numbers, got {text!r}") from None
    bound = f" in [0, {upper:g}]" if upper is not None else " >= 0"
    if not values or any(not math.isfinite(v) or v < 0 or (upper is not None and v > upper) for v in values):
        raise UsageError(f"nnsafety: error: expected {what} as finite numbers{bound}, got {text!r}")
    return values


def eps_list(text: str, norm: str) -> List[float]:
    """``--eps`` values: L∞ budgets are pixel units in [0, 1] (a larger one allows any image);
    L2 budgets are finite and >= 0."""
    return float_list(text, "--eps", upper=1.0 if norm == "Linf" else None)


def int_list(text: str, what: str) -> List[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"nnsafety: error: expected {what} as comma-separated integers, got {text!r}") from None


def name_list(text: Optional[str]) -> Optional[List[str]]:
    """``None`` or ``"all"`` -> None (everything); else the comma-separated names."""
    if text is None or text == "all":
        return None
    return [v.strip() for v in text.split(",") if v.strip()]


def check_writable_folder(folder: str | os.PathLike, what: str) -> None:
    """Probe that ``folder`` takes new files (see ``runs.probe_writable``), before any work."""
    from ..runs import probe_writable

    try:
        probe_writable(folder, nbytes=1 << 16)
    except OSError as e:
        raise UsageError(f"nnsafety: error: cannot write {what} into {folder} ({e.strerror or e})") from None


def check_figure_path(path: Optional[str]) -> None:
    """``--figure``: checked before any work (its folder writable, not a folder itself)."""
    if not path:
        return
    if os.path.isdir(path):
        raise UsageError(f"nnsafety: error: expected --figure to be a file name, got the folder {path}")
    check_writable_folder(os.path.dirname(os.path.abspath(path)), "--figure")


def write_figure(result, path: Optional[str]) -> None:
    """Save ``result.plot()`` to ``path`` (atomically) when the user asked for a figure."""
    if not path:
        return
    from .._io import save_figure_atomic
    from .._plot import figure_of, pyplot

    fig = figure_of(result.plot())
    try:
        save_figure_atomic(fig, path)
    finally:
        pyplot().close(fig)
    print(f"figure: {path}")
