"""Dataset registry: embedded digits, generated toy2d, and local CIFAR/MNIST/-C files."""
from .base import ArrayDataset, DATASETS, list_datasets, load_dataset, register_dataset
from . import digits, toy2d, files  # noqa: F401  (registers the datasets)

__all__ = ["ArrayDataset", "DATASETS", "list_datasets", "load_dataset", "register_dataset"]
