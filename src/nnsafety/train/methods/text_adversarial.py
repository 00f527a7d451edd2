"""Adversarial training in a text model's embedding space: PGD-AT and FreeLB.

Both perturb the word vectors of real tokens inside per-token L2 balls of radius ε·‖e_t‖
(``nnsafety.attacks.embedding``: the radius is a fraction of each vector's own length, so growing
the embeddings cannot shrink the threat). They need the seam ``embed(ids)`` /
``forward_embeddings(e, mask)`` (``text_cnn``, ``bilstm``) and fail at start with one line without it.
The perturbation is added to ``embed(ids)`` of the live model, so the outer loss also trains the
embedding table (as in FreeLB and Miyato et al.'s adversarial training for text). The default
ε = 0.05 (each word vector may move a twentieth of its length) is this project's choice: the
published radii are absolute, in the units of other models' embeddings. On Fine Foods an ERM
text_cnn keeps 42 / 14 / 0.4 % accuracy under 10-step embedding PGD at ε = 0.05 / 0.1 / 0.2, and
training at ε = 0.1 from scratch stayed at the majority class (docs/results.md).
Single process only: the outer loss runs on the bare module, so DDP would not synchronise it.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ...attacks.embedding import (check_embedding_seam, embedding_pgd, project_tokens, random_tokens,
                                  token_mask, unit_per_token)
from ...augment.text import text_augmix
from ._common import is_number, need
from .base import Method, MethodOutput, register_method


def _check(eps, steps, step_size) -> None:
    need(is_number(eps) and eps > 0, "eps > 0 (a fraction of each word vector's L2 norm)", eps)
    need(isinstance(steps, int) and steps >= 1, "steps an integer >= 1", steps)
    need(step_size is None or (is_number(step_size) and step_size > 0), "step_size None or > 0", step_size)


@register_method("embed_pgd_at", domains=("token",))
class EmbedPGDAT(Method):
    """PGD-AT on embeddings (Madry et al., ICLR 2018) with the clean term of Goodfellow et al. (ICLR
    2015) and Miyato et al. (ICLR 2017, adversarial training for text):
    loss = w·CE(f(e), y) + (1 − w)·CE(f(e + δ*), y), δ* = argmax_{‖δ_t‖ ≤ ε‖e_t‖} CE(f(e + δ), y).

    Inner max: ``embedding_pgd`` (eval mode, random start, ``steps`` L2 steps of ``step_size``·‖e_t‖,
    default 2.5·ε/steps as in Madry et al.); outer loss in train mode. Defaults ε 0.05, 3 steps,
    ``clean_weight`` w = 0.5 (the cost is steps + 2 forward/backward passes per batch). At ε = 0.1
    a text_cnn trained from scratch on Fine Foods predicted the majority class for 3 epochs with
    w = 0 and with w = 0.5 (the attack takes an ERM model to ≈ 30 %, so the adversarial loss is
    lowest for the class prior); at ε = 0.05 (w = 0.5) it reached 77.2 % clean and 55.1 % under PGD
    at ε = 0.1 (ERM: 80.0 / 29.8 %; docs/results.md).
    """

    def __init__(self, eps: float = 0.05, steps: int = 3, step_size: Optional[float] = None,
                 clean_weight: float = 0.5) -> None:
        _check(eps, steps, step_size)
        need(is_number(clean_weight) and 0 <= clean_weight < 1, "clean_weight in [0, 1)", clean_weight)
        self.eps, self.steps, self.step_size, self.clean_weight = eps, steps, step_size, clean_weight

    def check(self, model) -> None:
        check_embedding_seam(model, f"method {self.name!r}")

    def loss(self, model, x, y, ctx):
        m = ctx.module
        delta = embedding_pgd(m, x, y, self.eps, self.steps, self.step_size, True, ctx.generator)
        e, mask = m.embed(x), token_mask(m, x)
        logits = m.forward_embeddings(e + delta, mask)
        loss = F.cross_entropy(logits, y, label_smoothing=ctx.label_smoothing)
        if self.clean_weight > 0:
            clean = F.cross_entropy(m.forward_embeddings(e, mask), y, label_smoothing=ctx.label_smoothing)
            loss = self.clean_weight * clean + (1 - self.clean_weight) * loss
        return MethodOutput(loss, logits)


@register_method("embed_augmix_at", domains=("token",))
class EmbedAugMixAT(EmbedPGDAT):
    """The project's min–max objective on text: min_θ E max_{‖δ_t‖ ≤ ε‖e_t‖} CE(f(e(A(x)) + δ), y),
    A = a text AugMix view (``augment.text.text_augmix``: a chain of 1–3 word ops at rate
    severity/30), then ``embed_pgd_at`` on that view (its clean term on the view too). Defaults
    ε 0.05, 3 steps, ``clean_weight`` 0.5, severity 3.
    """

    def __init__(self, eps: float = 0.05, steps: int = 3, step_size: Optional[float] = None,
                 clean_weight: float = 0.5, severity: float = 3, depth: int = -1) -> None:
        super().__init__(eps=eps, steps=steps, step_size=step_size, clean_weight=clean_weight)
        need(is_number(severity) and 0 < severity <= 10, "severity in (0, 10]", severity)
        need(isinstance(depth, int) and (depth == -1 or depth >= 1), "depth -1 or an integer >= 1", depth)
        self.severity, self.depth = severity, depth

    def loss(self, model, x, y, ctx):
        return super().loss(model, text_augmix(x, self.severity, self.depth, ctx.generator), y, ctx)


@register_method("freelb", domains=("token",))
class FreeLB(Method):
    """FreeLB (Zhu et al., ICLR 2020): loss = (1/K) Σ_{t<K} CE(f(e + δ_t), y), δ_{t+1} = Π(δ_t + α·ĝ_t).

    Each of the K ascent steps runs in train mode and its parameter gradient is kept (the
    "free" accumulation: the K losses are averaged and back-propagated once by the trainer, which
    equals FreeLB's gradient accumulation over the K steps). δ₀ uniform in the ball scaled by
    ``init_mag`` (a fraction of ε), δ steps normalized per token (L2) and projected back into the
    ball of radius ε·‖e_t‖. Defaults: K = ``steps`` 3 (the paper’s 2–3 for GLUE), ε 0.05 (the
    ε of ``embed_pgd_at``; FreeLB itself was not measured at it), ``step_size`` 2.5·ε/K, ``init_mag`` 1.
    """

    def __init__(self, eps: float = 0.05, steps: int = 3, step_size: Optional[float] = None,
                 init_mag: float = 1.0) -> None:
        _check(eps, steps, step_size)
        need(is_number(init_mag) and 0 <= init_mag <= 1, "init_mag in [0, 1]", init_mag)
        self.eps, self.steps, self.step_size, self.init_mag = eps, steps, step_size, init_mag

    def check(self, model) -> None:
        check_embedding_seam(model, f"method {self.name!r}")

    def loss(self, model, x, y, ctx):
        m = ctx.module
        mask = token_mask(m, x)
        e = m.embed(x)
        norm = e.detach().norm(dim=-1, keepdim=True)
        real = mask.unsqueeze(-1).to(e.dtype)
        radius = self.eps * norm * real
        alpha = (self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps) * norm
        delta = random_tokens(e.detach(), radius * self.init_mag, ctx.generator)
        total = 0.0
        for t in range(self.steps):
            delta.requires_grad_(True)
            logits = m.forward_embeddings(e + delta, mask)
            loss = F.cross_entropy(logits, y, label_smoothing=ctx.label_smoothing)
            total = total + loss / self.steps
            if t + 1 < self.steps:
                (g,) = torch.autograd.grad(loss, delta, retain_graph=True)
                delta = project_tokens(delta.detach() + alpha * unit_per_token(g) * real, radius)
        return MethodOutput(total, logits)
