"""Robust accuracy of a model under one attack, batched, and robust accuracy as a function of ε."""
from __future__ import annotations

import functools
import inspect
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, List, Optional, Sequence, Union

import torch
from torch import nn

from .._model import check_classifier
from ..data.base import as_xy
from .._plot import new_axes
from .._progress import Progress, progress_bar
from .._random import make_generator
from ..domains import ImageDomain
from .base import ATTACKS, Attack, _model_guard, flat_norm, get_attack, predict
from .sanity import SanityCheck, check_eps_monotonic, warn_failed

AttackLike = Union[str, Attack, Callable[..., torch.Tensor]]


@dataclass
class RobustAccuracyResult:
    """Clean and robust accuracy of one attack; ``x_adv`` (not serialized) holds the examples."""

    attack: str
    n: int
    clean_accuracy: float
    robust_accuracy: float
    seconds: float
    x_adv: Optional[torch.Tensor] = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("x_adv")
        return d


def _resolve(attack: AttackLike, kw: dict) -> Callable[..., torch.Tensor]:
    if isinstance(attack, str):
        return get_attack(attack, **kw)
    if kw:
        raise ValueError("attack keyword arguments are only used with an attack name")
    return attack


def _rank_shard(x: torch.Tensor, y: torch.Tensor):
    """This process's points under ``torchrun`` (every world_size-th one), else all of them."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, y, None
    rank, world = dist.get_rank(), dist.get_world_size()
    return x[rank::world], y[rank::world], (rank, world)


def _gather_counts(clean: int, robust: int, n: int, device) -> tuple:
    import torch.distributed as dist

    counts = torch.tensor([clean, robust, n], dtype=torch.float64, device=device)
    dist.all_reduce(counts)
    return tuple(int(v) for v in counts.tolist())


def _data_and_attack(x, y, attack):
    """(x, y, attack) from ``f(model, x, y, attack)`` or ``f(model, dataset, attack)``."""
    if not isinstance(x, torch.Tensor) and attack is None and not isinstance(y, torch.Tensor):
        y, attack = None, y  # f(model, dataset, attack): the attack came second
    x, y = as_xy(x, y)
    if y is None or attack is None:
        raise ValueError(f"expected labels y and an attack, got {'no labels' if y is None else 'no attack'}")
    return x, y, attack


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor] = None,
                    attack: Optional[AttackLike] = None,
                    batch_size: int = 500, progress: Progress = None,
                    keep_adv: bool = True, generator: Optional[torch.Generator] = None,
                    seed: Optional[int] = None, clean_correct: Optional[torch.Tensor] = None,
                    **attack_kw) -> RobustAccuracyResult:
    """Fraction of points classified correctly on x and on attack(model, x, y), in batches.

    ``attack``: a registered name (with ``attack_kw``, e.g. ``"pgd", eps=0.1, steps=20``), an
    :class:`Attack`, or any callable ``(model, x, y) -> x_adv``. A point counts as robust only if
    its clean prediction is right too, so only those points are attacked (the others keep x as
    their example). An image attack's examples are checked to lie in its ε-ball ∩ [0, 1], any
    other domain's in that domain's constraints (a broken attack must not inflate the number).

    Under ``torchrun`` (a process group is initialized) each rank attacks every world_size-th
    point and the counts are summed across ranks, so every rank returns the accuracies of all of
    ``x``; ``x_adv`` then holds only this rank's examples (points rank, rank + W, ...).

    ``generator`` (or ``seed``, a fresh generator) drives every random choice of the attack (its
    random starts), continued across batches: the same seed gives the same robust accuracy.
    Attacks without randomness ignore it.
    ``clean_correct``: per point of ``x``, whether its clean prediction is right, when the caller
    already has it (``robust_accuracy_curve`` predicts once for every ε).
    ``progress``: None (a bar on a terminal), a bool, or a callback receiving points done.
    ``x`` may also be a dataset or an (x, y) pair with ``y`` left out:
    ``robust_accuracy(model, test_set, "pgd", eps=0.1)``.
    """
    x, y, attack = _data_and_attack(x, y, attack)
    fn = _resolve(attack, attack_kw)
    domain = getattr(fn, "params", {}).get("domain")
    check_classifier(model, x, y, domain)
    gen = make_generator(generator, seed, default_seed=None)
    if gen is not None and "generator" in inspect.signature(getattr(fn, "fn", fn)).parameters:
        fn = functools.partial(fn, generator=gen)  # deterministic attacks (FGSM, CW) need none
    base = fn.func if isinstance(fn, functools.partial) else fn
    name = getattr(base, "name", getattr(base, "__name__", type(base).__name__))
    eps, norm = getattr(base, "eps", None), getattr(base, "norm", "Linf")
    if clean_correct is not None and tuple(clean_correct.shape) != (x.shape[0],):
        raise ValueError(f"expected clean_correct of shape ({x.shape[0]},), got {tuple(clean_correct.shape)}")
    x, y, shard = _rank_shard(x, y)
    if clean_correct is not None and shard is not None:
        clean_correct = clean_correct[shard[0]::shard[1]]
    n = x.shape[0]
    clean_ok = torch.zeros(n, dtype=torch.bool, device=x.device)
    robust_ok = torch.zeros(n, dtype=torch.bool, device=x.device)
    advs = []
    t0 = time.perf_counter()
    with progress_bar(n, f"{name}", progress) as bar:
        for i in range(0, n, batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            if clean_correct is not None:
                clean = clean_correct[i:i + batch_size].to(device=yb.device, dtype=torch.bool)
            else:
                with _model_guard(model):
                    clean = predict(model, xb) == yb
            # a point misclassified at x is not robust whatever the attack does: attack only the
            # others (x itself is its adversarial example), so they cost no attack steps
            xa = xb.clone()
            idx = clean.nonzero().squeeze(1)
            if idx.numel():
                xa[idx] = fn(model, xb[idx], yb[idx]).detach()
            if domain is not None and not isinstance(domain, ImageDomain):
                if len(xa) and not domain.is_valid(xa, xb).all():  # its constraints, not the ball, rule
                    raise ValueError(f"attack {name} returned inputs its {domain.name} domain forbids")
            elif eps is not None and "image" in getattr(base, "domains", ("image",)):  # a pixel ball
                over = flat_norm(xa - xb, norm).max().item() if len(xb) else 0.0
                if over > eps + 1e-5 or (len(xa) and (xa.min() < 0 or xa.max() > 1)):
                    raise ValueError(f"attack {name} returned points outside the ε-ball ∩ [0, 1] "
                                     f"(‖δ‖ = {over:.6g} > ε = {eps:g})")
            with _model_guard(model):
                clean_ok[i:i + batch_size] = clean
                robust_ok[i:i + batch_size] = clean & (predict(model, xa) == yb)
            if keep_adv:
                advs.append(xa.detach())
            bar.update(len(xb))
    n_clean, n_robust = int(clean_ok.sum()), int(robust_ok.sum())
    if shard is not None:
        n_clean, n_robust, n = _gather_counts(n_clean, n_robust, n, x.device)
    return RobustAccuracyResult(
        attack=str(name), n=n,
        clean_accuracy=n_clean / n if n else 0.0,
        robust_accuracy=n_robust / n if n else 0.0,
        seconds=time.perf_counter() - t0,
        x_adv=torch.cat(advs) if keep_adv and advs else None,
    )


@dataclass
class RobustCurve:
    """Robust accuracy against ε for one attack, with the ε-monotonicity verdict."""

    attack: str
    norm: str
    eps: List[float]
    robust_accuracy: List[float]
    clean_accuracy: float
    n: int
    seconds: List[float]
    checks: List[SanityCheck]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["checks"] = [c.to_dict() for c in self.checks]
        return d

    def plot(self, ax=None):
        """Robust accuracy (y) against ε (x), with the clean accuracy at ε = 0; returns the Axes."""
        ax = new_axes(ax, figsize=(4, 3))
        ax.plot([0.0] + self.eps, [self.clean_accuracy] + self.robust_accuracy, marker="o",
                label=self.attack)
        ax.set_xlabel(f"ε ({self.norm}, pixel units)")
        ax.set_ylabel("robust accuracy")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend()
        return ax


def robust_accuracy_curve(model: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor] = None,
                          attack_name: Optional[str] = None, eps_list: Sequence[float] = (), batch_size: int = 500,
                          progress: Progress = None, warn: bool = True,
                          seed: Optional[int] = None, **attack_kw) -> RobustCurve:
    """Robust accuracy of ``attack_name`` at each ε of ``eps_list`` (same points, same settings).

    Runs :func:`~nnsafety.attacks.sanity.check_eps_monotonic` on the curve: robust accuracy that
    rises with ε, or never falls, means the attack failed (gradient masking), not the model.
    Attacks that take ``early_stop`` (PGD) use it unless ``attack_kw`` says otherwise: a point
    fooled at any iterate is not robust, and it leaves the batch (≈ 0.25–0.95× the steps).
    ``seed``: each ε's attack draws from a fresh generator seeded with it, so a point of the curve
    does not depend on which other ε were asked for. ``x`` may also be a dataset or an (x, y) pair
    with ``y`` left out: ``robust_accuracy_curve(model, test_set, "pgd", eps_list=[0.05, 0.1])``.
    """
    if not isinstance(x, torch.Tensor) and isinstance(y, str):  # f(model, dataset, "pgd", eps_list)
        y, attack_name, eps_list = None, y, (attack_name if attack_name is not None else eps_list)
    x, y, attack_name = _data_and_attack(x, y, attack_name)
    if not len(eps_list):
        raise ValueError("expected a non-empty eps_list")
    if "early_stop" in inspect.signature(ATTACKS.get(attack_name).__init__).parameters:
        attack_kw = {"early_stop": True, **attack_kw}
    accs, secs, clean = [], [], 1.0
    norm = attack_kw.get("norm", "Linf")
    check_classifier(model, x, y, attack_kw.get("domain"))
    with _model_guard(model):  # the clean predictions do not depend on ε: made once, not per ε
        correct = predict(model, x, batch_size) == y
    for e in eps_list:
        r = robust_accuracy(model, x, y, attack_name, batch_size=batch_size, progress=progress,
                            keep_adv=False, eps=float(e), seed=seed, clean_correct=correct, **attack_kw)
        accs.append(r.robust_accuracy)
        secs.append(r.seconds)
        clean = r.clean_accuracy
    checks = [check_eps_monotonic(list(map(float, eps_list)), accs, x.shape[0])]
    if warn:
        warn_failed(checks)
    return RobustCurve(attack=attack_name, norm=norm, eps=[float(e) for e in eps_list],
                       robust_accuracy=accs, clean_accuracy=clean, n=x.shape[0], seconds=secs,
                       checks=checks)
