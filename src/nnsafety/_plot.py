"""Matplotlib, imported lazily (``import nnsafety`` stays light) and off-screen unless a display
or an explicit backend is set up."""
from __future__ import annotations

import os


def pyplot():
    """``matplotlib.pyplot``, switched to Agg only when no interactive backend can be used."""
    import matplotlib

    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("MPLBACKEND"))
    if matplotlib.get_backend().lower() in ("", "agg") or not has_display:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_axes(ax=None, figsize=(5, 4)):
    """``ax`` itself, or the axes of a new figure of ``figsize`` inches."""
    if ax is not None:
        return ax
    _, ax = pyplot().subplots(figsize=figsize)
    return ax


def figure_of(axes):
    """The Figure behind what a ``plot`` returned: one Axes or an array/list of them."""
    if hasattr(axes, "figure"):
        return axes.figure
    return next(iter(getattr(axes, "flat", axes))).figure
