"""Write a dataset-C folder in the CIFAR-10-C layout, streaming, with atomic file replacement.

Layout (Hendrycks & Dietterich's CIFAR-10-C): ``<corruption>.npy`` uint8 of shape (S·N)×H×W×C,
severity-major (rows s·N .. (s+1)·N − 1 hold severity ``severities[s]``), ``labels.npy`` int64
(S·N, the labels tiled once per severity) and ``meta.json`` (classes, name, n, severities, seed,
corruptions). Grey datasets keep C = 1.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch

from .._io import atomic_write, write_json_atomic
from .._progress import Progress, progress_bar
from .base import check_severities, corrupt, known, stream_seed

BLOCK = 256  # images per random stream: outputs do not depend on the processing batch size


Block = Tuple[int, torch.Tensor, torch.Tensor]


def corrupted_blocks(dataset, name: str, severity: int, seed: int,
                     device: Optional[torch.device] = None) -> Iterator[Block]:
    """Yield (start, corrupted x, y) over the dataset in blocks of 256 images.

    Block b is corrupted with a generator seeded by ``stream_seed(seed, name, severity, b)``, so
    the same seed gives the same images in export and in on-the-fly evaluation.
    """
    n = len(dataset)
    for b, start in enumerate(range(0, n, BLOCK)):
        idx = torch.arange(start, min(start + BLOCK, n))
        x, y = dataset.get_batch(idx)
        if device is not None:
            x = x.to(device)
        g = torch.Generator().manual_seed(stream_seed(seed, name, severity, b))
        yield start, corrupt(x, name, severity, g), y


def _to_uint8_hwc(x: torch.Tensor) -> np.ndarray:
    return (x.detach().cpu().mul(255).round_().clamp_(0, 255).to(torch.uint8)
            .permute(0, 2, 3, 1).numpy())


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    atomic_write(path, write, shared=True)


def export_corrupted(
    dataset,
    out_dir,
    corruptions: Optional[Sequence[str]] = None,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    seed: int = 0,
    batch_size: int = 256,
    progress: Progress = True,
) -> Path:
    """Corrupt every image of ``dataset`` (an ``ArrayDataset``) and write the -C folder ``out_dir``.

    Each ``<name>.npy`` is filled through a memory map under a hidden temporary name and moved into
    place with ``os.replace`` only once complete, so an interrupted export never leaves a
    half-written file under its final name. ``batch_size`` is accepted for API symmetry; the random
    streams are seeded per 256-image block (see ``corrupted_blocks``), which fixes the output.
    Returns the folder path.
    """
    names = known(corruptions)
    sev = check_severities(severities)
    if batch_size < 1:
        raise ValueError(f"expected batch_size >= 1, got {batch_size}")
    n = len(dataset)
    if n == 0:
        raise ValueError("expected a non-empty dataset")
    x0, _ = dataset.get_batch(torch.arange(1))
    if x0.dim() != 4:
        raise ValueError(f"expected an image dataset (N×C×H×W), got samples of shape {tuple(x0.shape[1:])}")
    _, c, h, w = x0.shape
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = dataset.labels if hasattr(dataset, "labels") else dataset.get_batch(torch.arange(n))[1]
    _atomic_save_npy(out / "labels.npy", np.tile(labels.cpu().numpy().astype(np.int64), len(sev)))
    bar = progress_bar(len(names) * len(sev) * n, "corrupt", None if progress is True else progress, unit="img")
    for name in names:
        final = out / f"{name}.npy"
        tmp = out / f".{name}.npy.partial"
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(sev) * n, h, w, c))
        try:
            for si, s in enumerate(sev):
                for start, xc, _ in corrupted_blocks(dataset, name, s, seed):
                    arr[si * n + start: si * n + start + xc.shape[0]] = _to_uint8_hwc(xc)
                    bar.update(xc.shape[0])
            arr.flush()
        except BaseException:  # interrupted: drop the partial file, keep any previous final one
            arr = None  # release the memory map
            tmp.unlink(missing_ok=True)
            raise
        arr = None  # close the memory map before the rename
        os.replace(tmp, final)
    bar.close()
    meta = {
        "classes": list(getattr(dataset, "classes", [])),
        "name": f"{getattr(dataset, 'name', 'dataset')}-C",
        "n": n,
        "severities": sev,
        "seed": int(seed),
        "corruptions": names,
        "shape": [h, w, c],
    }
    write_json_atomic(out / "meta.json", meta, shared=True)
    return out
