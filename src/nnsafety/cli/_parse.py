"""Small argument parsers shared by the commands (comma lists, shards)."""
from __future__ import annotations

from typing import List, Optional

from ._base import UsageError


def float_list(text: str, what: str = "--eps") -> List[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"nnsafety: error: expected {what} as comma-separated numbers, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise UsageError(f"nnsafety: error: expected {what} as non-negative numbers, got {text!r}")
    return values


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
