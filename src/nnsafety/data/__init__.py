"""Dataset registry: embedded digits, generated toy2d, and local CIFAR/MNIST/-C files."""
from .base import ArrayDataset, DATASETS, as_dataset, as_xy, list_datasets, load_dataset, register_dataset
from . import digits, toy2d, files  # noqa: F401  (registers the datasets)
from . import files_cifar, files_mnist, files_corrupted  # noqa: F401  (registers the datasets)
from .files_corrupted import list_corruptions_in

__all__ = [
    "ArrayDataset", "DATASETS", "as_dataset", "as_xy", "list_datasets", "list_corruptions_in", "load_dataset",
    "register_dataset",
]
