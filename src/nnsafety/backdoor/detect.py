"""Run a registered backdoor detector on a model, a run directory, or every model of a zoo."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

import torch
from torch import nn

from .. import runs
from . import scan as _scan  # noqa: F401  (registers the calibrated "scan" detector, the default)
from .detectors import DETECTORS, DetectionContext, DetectionResult, create_detector

N_CLEAN = 100  # "a few clean samples": the first 100 test images (10 per digit class)


def detect(model: nn.Module, method: str = "scan", *, in_shape: Sequence[int], num_classes: int,
           clean: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
           train: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
           poisoned_indices: Optional[torch.Tensor] = None, seed: int = 0, **settings: Any) -> DetectionResult:
    """Run detector ``method`` (default: the calibrated ``scan``) on any ``nn.Module`` mapping x in
    [0, 1] to logits.

    ``clean``: a few clean (x, y) samples (classic Neural Cleanse, STRIP); ``train``: the training set
    as the model saw it (spectral_signature, activation_clustering), with ``poisoned_indices`` as
    ground truth when known (adds precision/recall). ``settings`` go to the detector's constructor.
    """
    ctx = DetectionContext(tuple(int(s) for s in in_shape), int(num_classes), clean, train, poisoned_indices, seed)
    return create_detector(method, **settings).detect(model, ctx)


def run_context(run: runs.Run, n_clean: int = N_CLEAN, with_train: bool = False, seed: int = 0) -> DetectionContext:
    """The detection context of a run: shape/classes from config.json, clean test samples, and (for
    data-level detectors) the training set rebuilt with the run's recorded poisoning."""
    from ..data import load_dataset

    cfg = run.config
    data = cfg["data"]
    test = load_dataset(data["name"], root=data.get("root"), split="test")
    domain = getattr(test, "domain", None)  # feature and byte runs: their detectors need the domain
    domain = None if domain is None or domain.name == "image" else domain
    words = None
    if getattr(test, "texts", None) is not None and (Path(run.path) / "vocab.json").is_file():
        from ..data import Vocab
        from ..data.poison_text import encode_with

        vocab = Vocab.load(Path(run.path) / "vocab.json")
        test = encode_with(test, vocab)  # the run's own tokenizer
        domain, words = test.domain, list(vocab.tokens)
    x, y = test.tensors()
    train = poisoned = None
    if with_train:
        train_set = load_dataset(data["name"], root=data.get("root"), split="train")
        poison = cfg.get("poison")
        if poison:
            from ..data.poison import poison_dataset, recorded_trigger_params

            kw = recorded_trigger_params(poison)
            train_set = poison_dataset(train_set, poison["attack"], rate=poison["rate"], target=poison["target"],
                                       seed=poison["seed"], mode=poison["mode"], clean_label=poison["clean_label"], **kw)
            poisoned = train_set.poisoned_indices
        train = train_set.tensors()
    return DetectionContext(tuple(data["in_shape"]), int(data["num_classes"]), (x[:n_clean], y[:n_clean]),
                            train, poisoned, seed, domain, words)


def run_domain(path: str | Path) -> str:
    """The input domain of a run directory's model: "token" for a text run (it keeps vocab.json),
    else the domain its dataset is registered for ("feature" for spambase, ...), else "image"."""
    if (Path(path) / "vocab.json").is_file():
        return "token"
    from ..data.base import DATASETS

    if not (Path(path) / runs.CONFIG).is_file():
        return "image"  # not a run: loading it gives the one-line error
    data = runs.read_config(Path(path)).get("data")
    name = data.get("name") if isinstance(data, dict) else None
    return next((d for d in ("feature", "bytes") if name in DATASETS.names(domain=d)), "image")


def detect_run(path: str | Path, method: str = "scan", n_clean: int = N_CLEAN, seed: int = 0,
               **settings: Any) -> DetectionResult:
    """``nnsafety detect RUN --method NAME``: load the run and apply the detector."""
    run = runs.load_run(path)
    detector = create_detector(method, **settings)
    ctx = run_context(run, n_clean, with_train=detector.needs == "the training set", seed=seed)
    return detector.detect(run.model, ctx)


def is_zoo(path: str | Path) -> bool:
    return any(Path(path).glob("manifest*.jsonl"))


def detector_names(methods: Sequence[str] | str = "all", domain: str = "image") -> list:
    """``"all"`` (or ``["all"]``) → every detector registered for ``domain``; a name → [name]; a list as is."""
    if methods == "all" or list(methods) == ["all"]:
        return DETECTORS.names(domain)
    return [methods] if isinstance(methods, str) else list(methods)


def detect_zoo(path: str | Path, methods: Sequence[str] | str = "all"):
    """``nnsafety detect ZOO --method NAME|all``: every detector on every model of a zoo, scored
    against its manifest's labels (a ``DetectorTable``, see ``evaluate_zoo.evaluate_detectors``)."""
    from .evaluate_zoo import evaluate_detectors

    if not is_zoo(path):
        raise ValueError(f"expected a zoo folder with a manifest.jsonl at {path}, found none")
    return evaluate_detectors(path, methods)
