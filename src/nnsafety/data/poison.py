"""Data poisoning: a dataset wrapper that applies a trigger to round(rate·N) samples and relabels them.

A pure data operation beside the dataset types, because the trainer poisons its training set
through ``poison_dataset`` and must not import ``backdoor/`` (which imports the trainer).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from ..domains import Domain
from .base import ArrayDataset
from .triggers import Trigger, create_trigger

MODES = ("all_to_one", "all_to_all")


class PoisonedDataset(ArrayDataset):
    """An ``ArrayDataset`` whose samples at ``poisoned_indices`` carry the trigger (and new labels).

    Same ``get_batch``/``tensors`` interface as the source; images keep the source's storage dtype
    (uint8 sources get the triggered images re-quantized). ``poison_config`` is JSON-ready and is
    what the trainer records in ``config.json["poison"]``; ``trigger_from_config`` rebuilds the
    trigger from it at test time. ``noise_indices`` are samples given the trigger's label-keeping
    noise mode (WaNet), ``clean_labels`` the source labels.
    """

    def __init__(self, images, labels, classes, name, poisoned_indices, noise_indices, clean_labels,
                 trigger: Trigger, poison_config: Dict[str, Any], domain: Optional[Domain] = None) -> None:
        super().__init__(images, labels, classes, name)
        self._domain = domain
        self.poisoned_indices = poisoned_indices
        self.noise_indices = noise_indices
        self.clean_labels = clean_labels
        self.trigger = trigger
        self.poison_config = poison_config

    @property
    def domain(self) -> Domain:
        """The source's domain (poisoning changes values, not what a valid input is)."""
        return self._domain if self._domain is not None else super().domain

    def __repr__(self) -> str:
        c = self.poison_config
        return (f"PoisonedDataset(name={self.name!r}, n={len(self)}, attack={c['attack']!r}, "
                f"n_poisoned={c['n_poisoned']}, target={c['target']}, mode={c['mode']!r})")


def backdoor_label(y: torch.Tensor, target: int, mode: str, num_classes: int) -> torch.Tensor:
    """The attacker's label for triggered inputs of true class ``y`` (all-to-all: y + 1 mod K)."""
    if mode == "all_to_all":
        return (y + 1) % num_classes
    return torch.full_like(y, int(target))


def _check(attack: str, rate: Any, target: Any, mode: str, num_classes: int) -> None:
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate <= 1:
        raise ValueError(f"expected poison rate in (0, 1], got {rate!r}")
    if not isinstance(target, int) or isinstance(target, bool) or not 0 <= target < num_classes:
        raise ValueError(f"expected target a class index in [0, {num_classes - 1}], got {target!r}")
    if mode not in MODES:
        raise ValueError(f"expected mode one of {', '.join(MODES)}, got {mode!r}")


def poison_dataset(
    dataset: ArrayDataset,
    attack: str,
    *,
    rate: float,
    target: int = 0,
    seed: int = 0,
    mode: str = "all_to_one",
    clean_label: Optional[bool] = None,
    **trigger_kwargs: Any,
) -> PoisonedDataset:
    """Poison exactly round(rate·N) samples of ``dataset`` with trigger ``attack``.

    Candidates: all-to-one → samples not of class ``target`` (relabelled ``target``); all-to-all →
    every sample (relabelled y + 1 mod K); clean-label (SIG's default) → samples of class ``target``
    only, labels kept. ``seed`` picks the samples (and WaNet's noise-mode jitter); trigger patterns
    have their own seeds in ``trigger_kwargs``, so the same trigger is rebuilt at test time.
    """
    if getattr(dataset, "texts", None) is not None and getattr(dataset, "vocab", None) is not None:
        from .poison_text import poison_token_dataset  # text: triggers on raw strings, vocabulary rebuilt

        return poison_token_dataset(dataset, attack, rate=rate, target=target, seed=seed, mode=mode,
                                    clean_label=clean_label, **trigger_kwargs)
    trigger = create_trigger(attack, **trigger_kwargs)
    K = dataset.num_classes
    _check(attack, rate, target, mode, K)
    clean_label = trigger.clean_label if clean_label is None else bool(clean_label)
    if clean_label and mode != "all_to_one":
        raise ValueError(f"expected mode all_to_one with clean_label, got {mode!r}")
    x_all, y = dataset.tensors()
    if hasattr(trigger, "fit"):  # a trigger chosen from the data (explanation-guided) chooses it now
        trigger.fit(x_all, y, dataset.domain, target)
    N = len(dataset)
    n = int(round(rate * N))
    if clean_label:
        candidates = (y == target).nonzero().flatten()
        where = f"samples of target class {target}"
    elif mode == "all_to_one":
        candidates = (y != target).nonzero().flatten()
        where = f"samples not of target class {target}"
    else:
        candidates = torch.arange(N)
        where = "samples"
    if n < 1 or n > candidates.numel():
        raise ValueError(f"expected poison rate {rate} to select between 1 and {candidates.numel()} {where} "
                         f"(round(rate·{N}) = {n})")
    g = torch.Generator().manual_seed(int(seed))
    chosen = candidates[torch.randperm(candidates.numel(), generator=g)[:n]].sort().values

    images = dataset.images.clone()
    labels = y.clone()
    triggered = trigger.apply(x_all[chosen], g)
    images[chosen] = _store(triggered, images.dtype)
    if not clean_label:
        labels[chosen] = backdoor_label(y[chosen], target, mode, K)

    noise_idx = torch.empty(0, dtype=torch.long)
    n_noise = min(int(round(trigger.noise_ratio * n)), N - n) if trigger.noise_ratio > 0 else 0
    if n_noise > 0:
        rest = torch.ones(N, dtype=torch.bool)
        rest[chosen] = False
        rest_idx = rest.nonzero().flatten()
        noise_idx = rest_idx[torch.randperm(rest_idx.numel(), generator=g)[:n_noise]].sort().values
        images[noise_idx] = _store(trigger.apply_noise(x_all[noise_idx], g), images.dtype)

    config = {
        "attack": attack, "rate": float(rate), "target": int(target), "mode": mode,
        "clean_label": clean_label, "seed": int(seed), "trigger": trigger.config()["params"],
        "n_poisoned": int(n), "poisoned_indices": chosen.tolist(),
        "n_noise": int(noise_idx.numel()), "noise_indices": noise_idx.tolist(),
    }
    return PoisonedDataset(images, labels, dataset.classes, dataset.name, chosen, noise_idx, y.clone(),
                           trigger, config, getattr(dataset, "domain", None))


def _store(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if dtype == torch.uint8:
        return (x * 255).round_().clamp_(0, 255).to(torch.uint8)
    return x.to(dtype)


def recorded_trigger_params(poison_config: Dict[str, Any]) -> Dict[str, Any]:
    """The trigger parameters a run recorded in ``config.json["poison"]``, as today's trigger takes them.

    A ``char`` trigger recorded before it had ``word`` edited the first, last or a random word of a
    text, which is ``word=None`` now; read with today's default ``word="the"`` such a run would be
    evaluated under another trigger than it was trained with."""
    if not isinstance(poison_config, dict) or "attack" not in poison_config:
        raise ValueError(f"expected a poison config with an 'attack' entry, got {type(poison_config).__name__}")
    params = dict(poison_config.get("trigger") or {})
    if poison_config["attack"] == "char":
        params.setdefault("word", None)
    return params


def trigger_from_config(poison_config: Dict[str, Any]) -> Trigger:
    """Rebuild the trigger recorded in a run's ``config.json["poison"]``."""
    params = recorded_trigger_params(poison_config)
    return create_trigger(poison_config["attack"], **params)
