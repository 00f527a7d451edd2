"""The in-memory dataset type every loader returns, and the dataset registry."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch.utils.data import Dataset

from .._registry import Registry
from ..domains import Domain, ImageDomain

DATASETS: Registry[Callable[..., "ArrayDataset"]] = Registry("dataset")
register_dataset = DATASETS.register


class ArrayDataset(Dataset):
    """Images and integer labels held in memory, served as float x in [0, 1] and int y.

    ``images`` is N×C×H×W (or N×D for 2-D toys); uint8 storage is kept as uint8 (4× less memory
    for CIFAR) and scaled by 1/255 on access, float storage must already be in [0, 1].
    ``get_batch(idx)`` returns a whole batch with one indexing op, which is what the trainer uses:
    per-item ``__getitem__`` + collate costs more than a digits training step.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        classes: Sequence[str],
        name: str = "dataset",
    ) -> None:
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"expected as many labels as images, got {labels.shape[0]} labels "
                f"for {images.shape[0]} images"
            )
        if images.dtype != torch.uint8 and not images.is_floating_point():
            raise ValueError(f"expected uint8 or float images, got {images.dtype}")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.classes: List[str] = list(classes)
        self.name = name

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_shape(self) -> Tuple[int, ...]:
        return tuple(self.images.shape[1:])

    @property
    def domain(self) -> Domain:
        """What an input is and what a valid change is: pixels in [0, 1] for this type."""
        return ImageDomain()

    def model_kwargs(self) -> Dict[str, Any]:
        """Arguments a registered model needs from the data besides classes and shape (a text
        dataset gives its vocabulary size); merged under the user's model kwargs by the trainer."""
        return {}

    def __len__(self) -> int:
        return self.images.shape[0]

    def _to_float(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            return x.to(torch.float32).div_(255.0)
        return x.to(torch.float32)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        return self._to_float(self.images[i]), int(self.labels[i])

    def get_batch(self, idx: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self._to_float(self.images[idx]), self.labels[idx]

    def tensors(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """All of x (float in [0, 1]) and y at once."""
        return self._to_float(self.images), self.labels

    def subset(self, n: int) -> "ArrayDataset":
        """The first ``n`` samples (the fixed splits make this reproducible)."""
        return ArrayDataset(self.images[:n], self.labels[:n], self.classes, self.name)

    def __repr__(self) -> str:
        return (
            f"ArrayDataset(name={self.name!r}, n={len(self)}, in_shape={self.in_shape}, "
            f"num_classes={self.num_classes})"
        )


def stratified_split(labels, test_fraction: float, seed: int):
    """A fixed stratified split of ``labels`` (NumPy ints): per class a permutation from a private
    PCG64(seed), the first round(n_c·test_fraction) go to test; returns sorted (train, test) indices.
    The split never changes with library RNG defaults."""
    import numpy as np

    rng = np.random.Generator(np.random.PCG64(seed))
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        n_test = int(round(idx.size * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def as_dataset(data, classes: Optional[Sequence[str]] = None, name: str = "data") -> ArrayDataset:
    """The dataset forms every public function accepts, as an ``ArrayDataset``: one itself (or any
    object with ``get_batch``/``tensors``), or an ``(x, y)`` pair of tensors (classes default to
    0..max(y))."""
    if hasattr(data, "get_batch") and hasattr(data, "tensors"):
        return data
    if hasattr(data, "tensors") and callable(data.tensors):
        classes = classes or getattr(data, "classes", None)
        data = data.tensors()
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
        if y.is_floating_point() or y.dtype == torch.bool:
            raise ValueError(f"expected y as integer class labels, got {str(y.dtype).replace('torch.', '')}")
        if y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"expected y as {x.shape[0]} integer labels of shape ({x.shape[0]},), "
                             f"got shape {tuple(y.shape)}")
        if classes is None:
            classes = [str(i) for i in range(int(y.max()) + 1 if y.numel() else 1)]
        return ArrayDataset(x.detach().cpu(), y.detach().cpu(), list(classes), name)
    raise ValueError(f"expected a dataset (ArrayDataset) or an (x, y) pair of tensors, got {type(data).__name__}")


def as_xy(x, y=None) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """``(x, y)`` tensors for the functions written as ``f(model, x, y)``: ``x`` may also be any
    dataset form ``as_dataset`` takes (an ``ArrayDataset`` or an ``(x, y)`` pair), with ``y`` left
    out; a tensor ``x`` is passed through with its ``y`` as given."""
    if isinstance(x, torch.Tensor) or x is None:
        return x, y
    if y is not None:
        raise ValueError(f"expected y only beside an image tensor x, got y beside a {type(x).__name__}")
    return as_dataset(x).tensors()


def load_dataset(name: str, root: str | None = None, split: str = "train", **kwargs) -> ArrayDataset:
    """Build a registered dataset: ``load_dataset("digits", split="test")``.

    ``root`` is the folder holding the user's files for file-backed datasets (cifar10, mnist, ...);
    embedded or generated datasets ignore it. Unknown names raise ``ValueError`` listing the known.
    """
    if split not in ("train", "test"):
        raise ValueError(f"expected split 'train' or 'test', got {split!r}")
    return DATASETS.get(name)(root=root, split=split, **kwargs)


def list_datasets() -> List[str]:
    return DATASETS.names()
