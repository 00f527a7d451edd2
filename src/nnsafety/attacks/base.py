"""Shared pieces of every attack: the registry, losses, norm-ball projections and the model guard.

Conventions (DESIGN.md): inputs are float tensors in [0, 1] (N×C×H×W or N×D); ε is measured in
pixel units of that space; an attack returns a tensor of the same shape with
``‖x_adv − x‖ ≤ ε`` in its norm and ``x_adv ∈ [0, 1]`` exactly. Attacks never touch the model's
parameters, their ``.grad``, their ``requires_grad`` flags or the train/eval mode (``_model_guard``),
and input gradients come from ``torch.autograd.grad`` only.
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._model import batched_logits, model_state
from .._random import make_generator, rand_like, randint  # noqa: F401  (the attacks' draws)
from .._registry import Registry
from ..domains import Domain, FeatureDomain, ImageDomain
from .._validation import check_batch, check_labels
from ..models.inference import fast_inference

NORMS = ("Linf", "L2")
ATTACKS: Registry[type] = Registry("attack")


# --------------------------------------------------------------------------------------------
# losses (all per-sample, to be *maximized* by the attacker)
# --------------------------------------------------------------------------------------------
def ce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy."""
    return F.cross_entropy(logits, y, reduction="none")


def _other_max(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """max_{i≠y} z_i, computed without a Python loop (the true class is pushed to -inf)."""
    masked = logits.scatter(1, y[:, None], float("-inf"))
    return masked.amax(dim=1)


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Carlini–Wagner margin max_{i≠y} z_i − z_y (positive ⇔ misclassified)."""
    return _other_max(logits, y) - logits.gather(1, y[:, None]).squeeze(1)


def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Difference of logits ratio, Croce & Hein 2020 eq. (5): −(z_y − max_{i≠y} z_i)/(z_π1 − z_π3).

    Shift- and scale-invariant in the logits, which is why APGD-DLR is robust to logit rescaling.
    """
    if logits.shape[1] < 3:
        raise ValueError(f"expected >= 3 classes for the DLR loss, got {logits.shape[1]}")
    zs = logits.sort(dim=1).values
    return margin_loss(logits, y) / (zs[:, -1] - zs[:, -3] + 1e-12)


def dlr_targeted_loss(logits: torch.Tensor, y: torch.Tensor, y_target: torch.Tensor) -> torch.Tensor:
    """Targeted DLR, Croce & Hein 2020 eq. (6): −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2)."""
    if logits.shape[1] < 4:
        raise ValueError(f"expected >= 4 classes for the targeted DLR loss, got {logits.shape[1]}")
    zs = logits.sort(dim=1).values
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    z_t = logits.gather(1, y_target[:, None]).squeeze(1)
    return (z_t - z_y) / (zs[:, -1] - 0.5 * (zs[:, -3] + zs[:, -4]) + 1e-12)


def make_loss(name: str, targeted: bool = False) -> Callable[..., torch.Tensor]:
    """loss(logits, y, y_target) to maximize; targeted losses pull towards ``y_target``."""
    if name == "ce":
        if targeted:
            return lambda z, y, t: -ce_loss(z, t)
        return lambda z, y, t: ce_loss(z, y)
    if name in ("margin", "cw"):
        if targeted:
            return lambda z, y, t: -margin_loss(z, t)
        return lambda z, y, t: margin_loss(z, y)
    if name == "dlr":
        if targeted:
            return dlr_targeted_loss
        return lambda z, y, t: dlr_loss(z, y)
    raise ValueError(f"unknown loss {name!r}; expected one of: ce, margin, dlr")


# --------------------------------------------------------------------------------------------
# norms and projections
# --------------------------------------------------------------------------------------------
def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"expected norm one of {NORMS}, got {norm!r}")
    return norm


def check_eps(eps: float, name: str = "eps") -> float:
    eps = float(eps)
    if not eps >= 0:  # also rejects NaN
        raise ValueError(f"expected {name} >= 0, got {eps}")
    return eps


def flat_norm(d: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample norm of a batch (shape N)."""
    d = d.reshape(d.shape[0], -1)
    if norm == "Linf":
        return d.abs().amax(dim=1) if d.shape[1] else d.new_zeros(d.shape[0])
    return d.norm(p=2, dim=1)


def bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-sample vector (N,) to broadcast against ``like`` (N, ...)."""
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def _ball(x_adv: torch.Tensor, x: torch.Tensor, eps, norm: str) -> torch.Tensor:
    """Projection onto {‖x_adv − x‖ ≤ ε}: clipping for L∞, rescaling for L2."""
    e = bcast(torch.as_tensor(eps, dtype=x.dtype, device=x.device).expand(x.shape[0]), x)
    if norm == "Linf":
        return torch.minimum(torch.maximum(x_adv, x - e), x + e)
    d = x_adv - x
    n = bcast(flat_norm(d, "L2"), x)
    # strictly below eps so that rounding of x + d - x never lands above eps
    factor = torch.clamp(e * (1 - 1e-6) / (n + 1e-12), max=1.0)
    return x + d * factor


def project(x_adv: torch.Tensor, x: torch.Tensor, eps, norm: str, domain: Optional[Domain] = None) -> torch.Tensor:
    """Project onto {‖x_adv − x‖ ≤ ε}, then onto the valid inputs of ``domain`` (default: clip to
    [0, 1], which keeps the ball since x ∈ [0, 1]).

    ``eps`` is a float or a per-sample tensor (N,). For images and L∞ the result is the exact
    projection onto the intersection; for L2 it is the usual rescale-then-clip. Another domain
    (a ``FeatureDomain``: bounds, immutable and add-only features, integer rounding) projects the
    ball's point onto its constraints; its rounding may move a discrete feature by up to half a
    unit beyond ε: validity wins over the ball.
    """
    if domain is None or isinstance(domain, ImageDomain):
        return _ball(x_adv, x, eps, norm).clamp_(0.0, 1.0)
    if isinstance(domain, FeatureDomain):  # ε in units of its scale, discrete features on whole levels
        return domain.project_ball(x_adv, x, eps, norm)
    return domain.project(_ball(x_adv, x, eps, norm), x)


def eps_unit(domain: Optional[Domain], x: torch.Tensor) -> Optional[torch.Tensor]:
    """The per-coordinate unit of ε (a ``FeatureDomain``'s ``scale``, 1×D), or None (one unit)."""
    return domain.unit(x) if isinstance(domain, FeatureDomain) else None


def normalize_direction(g: torch.Tensor, norm: str, unit: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The steepest-ascent direction of unit norm: sign(g) for L∞, g/‖g‖₂ for L2. With a ``unit``
    the norm is measured in those units (‖Δ/unit‖ = 1): the step is unit ⊙ direction(unit ⊙ g)."""
    if unit is not None:
        return normalize_direction(g * unit, norm) * unit
    if norm == "Linf":
        return g.sign()
    return g / (bcast(flat_norm(g, "L2"), g) + 1e-12)


# --------------------------------------------------------------------------------------------
# randomness: drawn where the generator lives (nnsafety._random), so a CPU seed serves CUDA inputs
# --------------------------------------------------------------------------------------------
def random_start(x: torch.Tensor, eps, norm: str, generator: Optional[torch.Generator],
                 domain: Optional[Domain] = None) -> torch.Tensor:
    """A uniform point of the L∞ ball, or a point of the L2 ball at a uniform radius (Madry et al.),
    projected onto ``domain`` (the ball in the domain's units of ε, :func:`eps_unit`)."""
    unit = eps_unit(domain, x)
    if norm == "Linf":
        d = (2 * rand_like(x, generator) - 1) * eps
    else:
        d = rand_like(x, generator, "normal")
        r = rand_like(x.new_empty(x.shape[0]), generator)
        d = d / (bcast(flat_norm(d, "L2"), d) + 1e-12) * bcast(r, d) * eps
    return project(x + (d if unit is None else d * unit), x, eps, norm, domain)


# --------------------------------------------------------------------------------------------
# model handling
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _model_guard(model: nn.Module, fast: bool = False) -> Iterator[nn.Module]:
    """Run the attack on ``model`` in eval mode with frozen parameters, and undo both afterwards.

    Eval mode: batch-norm statistics must not drift and dropout must not randomize the evaluation
    (as torchattacks and AutoAttack assume). Freezing ``requires_grad`` spares autograd the weight
    gradients; ``.grad`` is never written because attacks use ``torch.autograd.grad`` only.
    ``fast``: yield the frozen model under :func:`~nnsafety.models.inference.fast_inference` (same
    function, BatchNorm folded, NHWC on CPU; undone on exit) for attacks that call it many times.
    """
    with model_state(model, train=False, freeze=True), torch.enable_grad(), \
            (fast_inference(model) if fast else contextlib.nullcontext(model)) as net:
        yield net


def input_grad(model: nn.Module, x: torch.Tensor, loss_fn, y, y_target=None):
    """(logits, per-sample loss, ∂Σloss/∂x) at x, via ``torch.autograd.grad`` only."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    loss = loss_fn(logits, y, y_target)
    (g,) = torch.autograd.grad(loss.sum(), x)
    return logits.detach(), loss.detach(), g


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Arg-max labels in batches (the model is called as is, inside the caller's guard)."""
    if x.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=x.device)
    return batched_logits(model, x, batch_size).argmax(1)


def check_inputs(x: torch.Tensor, y: torch.Tensor, eps=None, norm: Optional[str] = None,
                 domain: Optional[Domain] = None) -> None:
    """The one entry check of every attack: a batch of ``domain`` (default: images in [0, 1]),
    labels int64 of length N."""
    check_batch(x, domain)
    check_labels(y, x.shape[0])
    if y.device != x.device:
        raise ValueError(f"expected y on {x.device} like x, got {y.device}")
    if norm is not None:
        check_norm(norm)
    if eps is not None:
        check_eps(eps)


def is_success(logits: torch.Tensor, y: torch.Tensor, y_target: Optional[torch.Tensor],
               targeted: bool) -> torch.Tensor:
    """Untargeted: predicted label ≠ y; targeted: predicted label = y_target."""
    pred = logits.argmax(1)
    return pred == y_target if targeted else pred != y


def top_targets(logits: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """AutoAttack's k-th target class: the class with the (k+1)-th largest clean logit.

    For k = 1..n_target_classes (fra31/auto-attack, ``sorted_indices[:, -target_class]`` with
    target_class = k + 1); k = 1 is the runner-up of a correctly classified point.
    """
    return logits.sort(dim=1).indices[:, -(k + 1)]


class Attack:
    """Base of the class forms: stores validated parameters; ``attack(model, x, y)`` runs it.

    Never subclassed by hand: :func:`register_attack_fn` builds each class from its function, so
    the constructor's signature *is* the function's (same names, same defaults) and cannot drift.
    ``norm`` is declared: the ``norm`` parameter when the function has one, else the class's
    ``fixed_norm`` (CW-L2 is an L2 attack by construction).
    """

    fn: Callable  # the functional form, set by register_attack_fn
    name: str = "attack"
    fixed: Dict[str, object] = {}
    fixed_norm: Optional[str] = None
    default_norm: str = "Linf"
    ensemble: bool = False  # True: fn returns a result object whose ``x_adv`` is the attack's output

    def __init__(self, *args, **params) -> None:
        sig = inspect.signature(type(self).__init__)
        try:
            bound = sig.bind(None, *args, **params)
        except TypeError as e:
            raise ValueError(f"attack {self.name!r}: {e}; expected parameters "
                             f"{', '.join(list(sig.parameters)[1:])}") from None
        passed = set(bound.arguments) - {"self"}
        bound.apply_defaults()
        # every parameter as the attack runs with it (defaults included), so code reading
        # ``params``/``eps`` sees what runs; the repr shows only the values passed
        self.params: Dict[str, object] = {k: v for k, v in bound.arguments.items() if k != "self"}
        self._passed = passed
        if self.params.get("eps") is not None:
            check_eps(self.params["eps"])
        if "norm" in self.params:
            check_norm(self.params["norm"])  # type: ignore[arg-type]

    @property
    def eps(self):
        return self.params.get("eps")

    @property
    def norm(self) -> str:
        return self.fixed_norm or str(self.params.get("norm", self.default_norm))

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, **overrides):
        """The function's own return value (an ensemble's full result)."""
        return type(self).fn(model, x, y, **{**self.params, **self.fixed, **overrides})

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, **overrides) -> torch.Tensor:
        out = self.run(model, x, y, **overrides)
        return out.x_adv if self.ensemble else out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items() if k in self._passed and k != "generator")
        return f"{type(self).__name__}({args})"


def register_attack_fn(name: str, fn: Callable, cls_name: str, doc: str, domains: Sequence[str] = ("image",),
                       fixed_norm: Optional[str] = None, ensemble: bool = False,
                       defaults: Optional[Dict[str, object]] = None, **fixed) -> type:
    """Register the class form of attack function ``fn(model, x, y, **params)`` under ``name``.

    The class's constructor takes ``fn``'s parameters after (model, x, y) with their defaults
    (``defaults`` overrides some, e.g. APGD-T's DLR loss); ``fixed`` parameters are always passed
    and not accepted (APGD-T is ``apgd`` with ``targeted=True``).
    """
    sig = inspect.signature(fn)
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for p in list(sig.parameters.values())[3:]:
        if p.name in fixed or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if defaults and p.name in defaults:
            p = p.replace(default=defaults[p.name])
        params.append(p)

    def __init__(self, *args, **kwargs) -> None:
        Attack.__init__(self, *args, **kwargs)

    __init__.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    norm_param = sig.parameters.get("norm")
    cls = type(cls_name, (Attack,), {
        "__doc__": doc, "__init__": __init__, "fn": staticmethod(fn), "fixed": dict(fixed),
        "fixed_norm": fixed_norm, "ensemble": ensemble,
        "default_norm": (defaults or {}).get("norm", norm_param.default if norm_param is not None else "Linf"),
        "__module__": fn.__module__,
    })
    return ATTACKS.register_named(name, domains)(cls)


def get_attack(name: str, **kwargs) -> Attack:
    """Build a registered attack by name: ``get_attack("pgd", eps=0.1, steps=20)``."""
    return ATTACKS.create(name, "parameter", **kwargs)


def list_attacks(domain: Optional[str] = None) -> List[str]:
    """Registered attacks; with ``domain`` (e.g. "image", "token"), those that support it."""
    return ATTACKS.names(domain)
