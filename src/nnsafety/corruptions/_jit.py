"""Optional compiled kernels (numba) for the corruptions whose peers run C per image: JPEG and
pixelate (Pillow), spatter's Canny edges + distance transform (OpenCV); and the plasma fractal
of fog and frost (``_jit_plasma``).

The torch forms (``jpeg.py``, ``digital.pixelate``, ``spatter.canny`` / ``distance_to``) are the
reference and the fallback; the kernels (``_jit_jpeg``, ``_jit_box``, ``_jit_spatter``) compute the
same integers (libjpeg-turbo's ``jccolor.c``, ``jcsample.c``, ``jfdctint.c``, ``jcdctmgr.c``,
``jidctint.c``, ``jdsample.c``, ``jdcolor.c``; Pillow's ``Resample.c``; the Canny and exact
distance of ``spatter.py``) without the many batch-wide passes that exactness costs in torch, so
their outputs are equal to the torch path's on every pixel (tested). JPEG skips the Huffman coding
Pillow does: it is lossless, so the pixels do not depend on it.

numba is the optional extra ``fast`` (the PyPI package numba; ``make install`` installs it). It is
imported on the first call that can use it (not with ``nnsafety``: its import costs ~0.3 s).
Without it, or on a GPU tensor, or with ``NNSAFETY_JIT=0`` in the environment, the torch path
runs; a missing numba is said once per process (``CompiledPathWarning``). Kernels are compiled on
first use (seconds) and cached on disk by numba for later processes.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch


class CompiledPathWarning(UserWarning):
    """The compiled kernels are unavailable, so the (slower, identical) torch path runs."""


_state = {}  # "numba": the module, or None once its import failed


def usable(x: torch.Tensor) -> bool:
    """Whether the compiled kernels run for x: a float32/64 CPU tensor, numba importable, not disabled."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) \
            or os.environ.get("NNSAFETY_JIT", "1") == "0":
        return False
    if "numba" not in _state:
        try:
            import numba
        except ImportError:  # the optional extra "fast" is not installed: the torch path runs
            numba = None
            warnings.warn("numba is not installed (optional extra 'fast'): jpeg_compression, "
                          "pixelate, spatter, fog and frost run on their torch path (same pixels, "
                          "slower on CPU)",
                          CompiledPathWarning, stacklevel=3)
        _state["numba"] = numba
    return _state["numba"] is not None


def jit(fn):
    """numba's ``njit`` as the kernels use it (cached on disk, no GIL); only for modules that
    are imported once ``usable`` said yes."""
    import numba
    return numba.njit(cache=True, nogil=True)(fn)


def as_float32(x: torch.Tensor, levels) -> tuple:
    """x as a contiguous float32 array and the factor to its levels: a float32 batch as it is
    (levels round(x·255) in the kernel), a float64 one as the torch path's own level values
    (``levels(x)``, exact integers, factor 1), so the kernels are compiled for float32 only."""
    if x.dtype == torch.float32:
        return x.detach().contiguous().numpy(), np.float32(255)
    return levels(x.detach()).to(torch.float32).numpy(), np.float32(1)
