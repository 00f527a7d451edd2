"""CPU buffers for batch-sized corruption outputs and temporaries that do not page-fault.

glibc serves torch's large CPU allocations (64-byte aligned, just above its adaptive mmap
threshold) with a fresh mmap every time, so every 4 KiB page of a new batch-sized buffer faults on
first touch: 2,350 faults and 3.2 ms to fill one 16×3×224×224 float32 batch on the benchmark VM
(0.2 ms per image, as much as a whole per-image pixelate in Pillow), and frost at 224 px took
~5,000 faults per call. ``new_buffer`` hands out NumPy-backed tensors over anonymous memory
maps of their own, from a small pool: a buffer whose tensors are all gone (a weak reference to
the array its tensor was made of says so) is handed out again, already mapped. The maps are
page-aligned (torch aligns to 64 bytes; BLAS kernels round differently on other alignments), so
every op on them gives the same bits as on torch's buffers (the corruptions' outputs are checked
equal); buffers under 64 KiB come from the heap, 64-byte aligned.
"""
from __future__ import annotations

import math
import mmap
import threading
import weakref
from typing import List, Optional

import numpy as np
import torch

_NUMPY_FLOATS = {torch.float32: np.float32, torch.float64: np.float64}
_ALIGN = 64
_SMALL = 1 << 16  # bytes; smaller buffers are not pooled
# Idle buffers kept for reuse at most (bytes); beyond it, free ones are dropped and new ones are
# not pooled. A 16×3×224×224 float32 batch is 9.6 MB; frost at that size holds ~10 at once.
POOL_BYTES = 256 << 20
_pool: List[list] = []  # [raw uint8 array, weak reference to the array a tensor was made of]
_lock = threading.Lock()


def _free(entry: list) -> bool:
    # torch's storage holds the array it was made of (and so does every view of the tensor) until
    # the memory is released: once that array is gone, nothing uses the buffer
    return entry[1] is None or entry[1]() is None


def _mapped(nbytes: int) -> np.ndarray:
    """nbytes of anonymous memory of its own (page-aligned), outside glibc's heap: buffers kept
    in the pool would otherwise change where torch's own allocations land and make those fault
    (measured: brightness and saturate at 32 px 1.5× slower with heap-backed pooled buffers)."""
    m = mmap.mmap(-1, nbytes)
    if hasattr(mmap, "MADV_HUGEPAGE"):  # fewer, larger faults on first touch where the kernel allows
        m.madvise(mmap.MADV_HUGEPAGE)
    return np.frombuffer(m, np.uint8)


def _entry(nbytes: int) -> list:
    """A pool entry whose buffer has at least nbytes + _ALIGN bytes: a free one of at most twice
    the size, else a new one (pooled while the pool has room)."""
    need = nbytes + _ALIGN
    with _lock:
        for entry in _pool:
            if need <= entry[0].nbytes <= 2 * need and _free(entry):
                entry[1] = None
                return entry
        entry = [_mapped(need), None]
        if sum(e[0].nbytes for e in _pool) + need > POOL_BYTES:
            _pool[:] = [e for e in _pool if not _free(e)]
        if sum(e[0].nbytes for e in _pool) + need <= POOL_BYTES:
            _pool.append(entry)
        return entry


def new_buffer(shape, like: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """An uninitialised contiguous tensor of ``shape`` on like's device (dtype: like's); float
    buffers on the CPU come from the pool above (an ordinary tensor that cannot be resized in place)."""
    dtype = like.dtype if dtype is None else dtype
    if like.device.type != "cpu" or dtype not in _NUMPY_FLOATS:
        return torch.empty(shape, dtype=dtype, device=like.device)
    shape = tuple(shape)
    nbytes = math.prod(shape) * np.dtype(_NUMPY_FLOATS[dtype]).itemsize
    if nbytes < _SMALL:  # from the heap: a page of its own would cost more than it saves
        raw = np.empty(nbytes + _ALIGN, np.uint8)
        skip = -raw.ctypes.data % _ALIGN
        return torch.from_numpy(raw[skip:skip + nbytes].view(_NUMPY_FLOATS[dtype]).reshape(shape))
    entry = _entry(nbytes)
    arr = entry[0][:nbytes].view(_NUMPY_FLOATS[dtype]).reshape(shape)  # page-aligned
    entry[1] = weakref.ref(arr)
    return torch.from_numpy(arr)
