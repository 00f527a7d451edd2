"""AutoAttack (Croce & Hein, ICML 2020) with the standard budgets of fra31/auto-attack."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import nn

from .apgd import apgd
from .._progress import progress_bar
from .base import _model_guard, check_inputs, flat_norm, make_generator, predict, register_attack_fn
from .fab import fab
from .sanity import (SanityCheck, check_black_box, check_clean_accuracy, check_deterministic,
                     check_gradients, check_probability_outputs, eps_growth, warn_failed)
from .square import square

# version -> ordered component names (fra31/auto-attack autoattack.py, set_version)
VERSIONS: Dict[str, List[str]] = {
    "standard": ["apgd-ce", "apgd-t", "fab-t", "square"],
    "plus": ["apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"],
    "rand": ["apgd-ce", "apgd-dlr"],
}


def _components(version: str, eps: float, norm: str, n_classes: int) -> Dict[str, Callable]:
    """Each component with the reference budgets of ``version`` (all 100 iterations, 9 targets,
    5000 Square queries, p_init 0.8; ``plus``: 5 restarts for the untargeted ones; ``rand``: EOT 20).
    """
    restarts = 5 if version == "plus" else 1
    eot = 20 if version == "rand" else 1
    n_t = min(9, n_classes - 1)
    dlr = "dlr" if n_classes >= 3 else "ce"  # DLR needs 3 classes, targeted DLR 4
    dlr_t = "dlr" if n_classes >= 4 else "ce"
    common = dict(eps=eps, norm=norm)
    return {
        "apgd-ce": partial(apgd, loss="ce", steps=100, restarts=restarts, eot_iter=eot, **common),
        "apgd-dlr": partial(apgd, loss=dlr, steps=100, restarts=restarts, eot_iter=eot, **common),
        "apgd-t": partial(apgd, loss=dlr_t, targeted=True, n_target_classes=n_t, steps=100,
                          restarts=1, **common),
        "fab": partial(fab, targeted=False, steps=100, restarts=restarts, **common),
        "fab-t": partial(fab, targeted=True, n_target_classes=n_t, steps=100, restarts=1, **common),
        "square": partial(square, n_queries=5000, p_init=0.8, restarts=1, **common),
    }


@dataclass
class AutoAttackResult:
    """Per-component and final robust accuracy, per-point first success, examples and checks.

    ``robust_accuracy_after[i]`` is the robust accuracy after components[0..i] (worst case per
    point); ``first_success[j]`` names the component that first broke point j ("clean" if it was
    misclassified already, "" if it stayed robust). ``x_adv`` is not serialized by ``to_dict``.
    """

    version: str
    norm: str
    eps: float
    n: int
    clean_accuracy: float
    components: List[str]
    robust_accuracy_after: List[float]
    robust_accuracy: float
    seconds: List[float]
    first_success: List[str]
    checks: List[SanityCheck]
    x_adv: Optional[torch.Tensor] = field(default=None, repr=False)

    @property
    def failed_checks(self) -> List[SanityCheck]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("x_adv")
        d["checks"] = [c.to_dict() for c in self.checks]
        d["broken_by"] = {c: self.first_success.count(c) for c in ["clean", *self.components]}
        return d

    def summary(self) -> str:
        rows = [f"clean: {self.clean_accuracy:.4f}"]
        rows += [f"{c}: {a:.4f} ({s:.1f} s)" for c, a, s in
                 zip(self.components, self.robust_accuracy_after, self.seconds)]
        rows += [f"WARNING {c.name}: {c.message}" for c in self.failed_checks]
        return "\n".join(rows)


def autoattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "Linf",
               version: str = "standard", attacks: Optional[Sequence[str]] = None,
               batch_size: int = 500, seed: int = 0, progress: Optional[bool] = None,
               checks: bool = True, warn: bool = True) -> AutoAttackResult:
    """Run the AutoAttack ensemble: each component only on the points still robust.

    ``version``: "standard" (APGD-CE, APGD-T with 9 targets, FAB-T with 9 targets, Square 5000
    queries; 100 iterations each, no restarts), "plus" (adds APGD-DLR and FAB, 5 restarts) or
    "rand" (APGD-CE and APGD-DLR with EOT over 20 passes, for randomized models), exactly as
    fra31/auto-attack; ``attacks`` picks a subset/order of component names instead. Every
    component is seeded with ``seed``. ``checks`` runs the sanity checks (probabilities, zero/NaN
    gradients, randomness, clean accuracy, Square beating white-box, robust accuracy vs ε) and
    ``warn`` prints the failed ones. ``eps`` in pixel units of [0, 1] inputs.
    """
    check_inputs(x, y, eps, norm)
    if version not in VERSIONS:
        raise ValueError(f"expected version one of {sorted(VERSIONS)}, got {version!r}")
    x, n = x.detach(), x.shape[0]
    with _model_guard(model), torch.no_grad():
        n_classes = model(x[:1]).shape[1] if n else 2
        clean_pred = predict(model, x, batch_size)
    table = _components(version, eps, norm, n_classes)
    names = list(attacks) if attacks is not None else VERSIONS[version]
    unknown = [a for a in names if a not in table]
    if unknown:
        raise ValueError(f"unknown AutoAttack components {unknown}; expected from {sorted(table)}")
    robust = clean_pred == y
    first = ["" if r else "clean" for r in robust.tolist()]
    x_adv = x.clone()
    after, secs = [], []
    with progress_bar(len(names), f"autoattack {version}", progress) as bar:
        for name in names:
            t0 = time.perf_counter()
            gen = make_generator(seed=seed, default_seed=None)
            idx_all = robust.nonzero().squeeze(1)
            for i in range(0, idx_all.numel(), batch_size):
                idx = idx_all[i:i + batch_size]
                xa = table[name](model, x[idx], y[idx], generator=gen)
                over = flat_norm(xa - x[idx], norm).max().item()
                if over > eps + 1e-5 or xa.min() < 0 or xa.max() > 1:
                    raise RuntimeError(f"{name} left the ε-ball ∩ [0, 1]: ‖δ‖ = {over:.6g}")
                with _model_guard(model):
                    fooled = predict(model, xa, batch_size) != y[idx]
                x_adv[idx[fooled]] = xa[fooled]
                robust[idx[fooled]] = False
                for j in idx[fooled].tolist():
                    first[j] = name
            secs.append(time.perf_counter() - t0)
            after.append(robust.float().mean().item() if n else 0.0)
            bar.update(1)
    clean_acc = (clean_pred == y).float().mean().item() if n else 0.0
    verdicts: List[SanityCheck] = []
    if checks and n:
        xs, ys = x[:500], y[:500]
        with _model_guard(model), torch.no_grad():
            logits = model(xs)
        verdicts = [check_probability_outputs(logits), check_gradients(model, xs, ys),
                    check_deterministic(model, xs[:64]), check_clean_accuracy(clean_acc, n_classes)]
        if "square" in names and names.index("square") > 0:
            verdicts.append(check_black_box(first.count("square"), n))
        verdicts.append(eps_growth(model, xs, ys, eps, norm, seed=seed))
        if warn:
            warn_failed(verdicts)
    return AutoAttackResult(
        version=version if attacks is None else "custom", norm=norm, eps=float(eps), n=n,
        clean_accuracy=clean_acc, components=names, robust_accuracy_after=after,
        robust_accuracy=robust.float().mean().item() if n else 0.0, seconds=secs,
        first_success=first, checks=verdicts, x_adv=x_adv,
    )


AutoAttack = register_attack_fn(
    "autoattack", autoattack, "AutoAttack",
    "Class form of :func:`autoattack`: called as an attack it returns the adversarial examples; "
    "``run`` returns the full :class:`AutoAttackResult` (per-component accuracies, sanity checks).",
    ensemble=True)
