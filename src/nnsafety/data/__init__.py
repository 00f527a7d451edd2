"""Dataset registry: embedded digits, generated toy2d, local CIFAR/MNIST/-C files, text corpora."""
from .base import ArrayDataset, DATASETS, as_dataset, as_xy, list_datasets, load_dataset, register_dataset
from . import digits, toy2d, files, pe_files, security  # noqa: F401  (registers the datasets)
from . import files_cifar, files_mnist, files_corrupted  # noqa: F401  (registers the datasets)
from . import text, files_text  # noqa: F401  (registers the text datasets)
from . import factworld  # noqa: F401  (registers the generated language-model dataset)
from .text import TokenDataset
from .vocab import Vocab
from . import triggers_text  # noqa: F401  (registers the text triggers)
from . import triggers_feature  # noqa: F401  (registers the feature-space triggers)
from .files_corrupted import list_corruptions_in

__all__ = [
    "ArrayDataset", "DATASETS", "TokenDataset", "Vocab", "as_dataset", "as_xy", "list_datasets",
    "list_corruptions_in", "load_dataset",
    "register_dataset",
]
