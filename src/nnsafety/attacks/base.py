"""Shared pieces of every attack: the registry, losses, norm-ball projections and the model guard.

Conventions (DESIGN.md): inputs are float tensors in [0, 1] (N×C×H×W or N×D); ε is measured in
pixel units of that space; an attack returns a tensor of the same shape with
``‖x_adv − x‖ ≤ ε`` in its norm and ``x_adv ∈ [0, 1]`` exactly. Attacks never touch the model's
parameters, their ``.grad``, their ``requires_grad`` flags or the train/eval mode (``_model_guard``),
and input gradients come from ``torch.autograd.grad`` only.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._registry import Registry
from .._validation import check_images
from ..models.inference import fast_inference

NORMS = ("Linf", "L2")
ATTACKS: Registry[type] = Registry("attack")
register_attack = ATTACKS.register


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


def project(x_adv: torch.Tensor, x: torch.Tensor, eps, norm: str) -> torch.Tensor:
    """Project onto {‖x_adv − x‖ ≤ ε} then clip to [0, 1] (the box clip keeps the ball: x ∈ [0,1]).

    ``eps`` is a float or a per-sample tensor (N,). For L∞ the result is the exact projection onto
    the intersection; for L2 it is the usual rescale-then-clip.
    """
    if norm == "Linf":
        e = bcast(torch.as_tensor(eps, dtype=x.dtype, device=x.device).expand(x.shape[0]), x)
        return torch.minimum(torch.maximum(x_adv, x - e), x + e).clamp_(0.0, 1.0)
    d = x_adv - x
    n = bcast(flat_norm(d, "L2"), x)
    e = bcast(torch.as_tensor(eps, dtype=x.dtype, device=x.device).expand(x.shape[0]), x)
    # strictly below eps so that rounding of x + d - x never lands above eps
    factor = torch.clamp(e * (1 - 1e-6) / (n + 1e-12), max=1.0)
    return (x + d * factor).clamp_(0.0, 1.0)


def normalize_direction(g: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent direction of unit norm: sign(g) for L∞, g/‖g‖₂ for L2."""
    if norm == "Linf":
        return g.sign()
    return g / (bcast(flat_norm(g, "L2"), g) + 1e-12)


# --------------------------------------------------------------------------------------------
# randomness
# --------------------------------------------------------------------------------------------
def rand_like(x: torch.Tensor, generator: Optional[torch.Generator], kind: str = "uniform") -> torch.Tensor:
    """Uniform [0,1) or normal noise shaped like ``x`` on x's device, drawn from ``generator``.

    The generator may live on another device than x (a CPU generator with CUDA inputs); numbers are
    drawn where the generator lives so a CPU seed gives the same perturbation on every device.
    """
    dev = generator.device if generator is not None else x.device
    fn = torch.rand if kind == "uniform" else torch.randn
    return fn(x.shape, generator=generator, device=dev, dtype=x.dtype).to(x.device)


def randint(low: int, high: int, size: Sequence[int], generator: Optional[torch.Generator],
            device: torch.device) -> torch.Tensor:
    dev = generator.device if generator is not None else device
    return torch.randint(low, high, tuple(size), generator=generator, device=dev).to(device)


def random_start(x: torch.Tensor, eps, norm: str, generator: Optional[torch.Generator]) -> torch.Tensor:
    """A uniform point of the L∞ ball, or a point of the L2 ball at a uniform radius (Madry et al.)."""
    if norm == "Linf":
        return project(x + (2 * rand_like(x, generator) - 1) * eps, x, eps, norm)
    d = rand_like(x, generator, "normal")
    r = rand_like(x.new_empty(x.shape[0]), generator)
    d = d / (bcast(flat_norm(d, "L2"), d) + 1e-12) * bcast(r, d) * eps
    return project(x + d, x, eps, norm)


def make_generator(seed: Optional[int]) -> Optional[torch.Generator]:
    if seed is None:
        return None
    return torch.Generator().manual_seed(int(seed))


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
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        with torch.enable_grad(), (fast_inference(model) if fast else contextlib.nullcontext(model)) as net:
            yield net
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in flags:
            p.requires_grad_(flag)


def input_grad(model: nn.Module, x: torch.Tensor, loss_fn, y, y_target=None):
    """(logits, per-sample loss, ∂Σloss/∂x) at x, via ``torch.autograd.grad`` only."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    loss = loss_fn(logits, y, y_target)
    (g,) = torch.autograd.grad(loss.sum(), x)
    return logits.detach(), loss.detach(), g


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Arg-max labels in batches (the model is called as is)."""
    if x.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=x.device)
    return torch.cat([model(x[i:i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])


def check_inputs(x: torch.Tensor, y: torch.Tensor, eps=None, norm: Optional[str] = None) -> None:
    """The one entry check of every attack: images in [0,1], labels int64 of length N."""
    check_images(x)
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long or y.shape != (x.shape[0],):
        got = f"{y.dtype} of shape {tuple(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"expected y to be an int64 tensor of shape ({x.shape[0]},), got {got}")
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

    Subclasses set ``fn`` (the functional form) and list their parameters in ``__init__``.
    """

    fn: Callable[..., torch.Tensor]  # set with staticmethod(...) by each subclass
    name: str = "attack"

    def __init__(self, **params) -> None:
        self.params: Dict[str, object] = params
        if "eps" in params and params["eps"] is not None:
            check_eps(params["eps"])
        if "norm" in params:
            check_norm(params["norm"])  # type: ignore[arg-type]

    @property
    def eps(self):
        return self.params.get("eps")

    @property
    def norm(self):
        return self.params.get("norm", "L2" if self.name == "cw_l2" else "Linf")

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, **overrides) -> torch.Tensor:
        return type(self).fn(model, x, y, **{**self.params, **overrides})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items() if k != "generator")
        return f"{type(self).__name__}({args})"


def get_attack(name: str, **kwargs) -> Attack:
    """Build a registered attack by name: ``get_attack("pgd", eps=0.1, steps=20)``."""
    return ATTACKS.get(name)(**kwargs)


def list_attacks(domain: Optional[str] = None) -> List[str]:
    """Registered attacks; with ``domain`` (e.g. "image", "token"), those that support it."""
    return ATTACKS.names(domain)
