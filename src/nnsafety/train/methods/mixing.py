"""Mixup, CutMix, Manifold Mixup and Noisy Feature Mixup: convex combinations of pairs."""
from __future__ import annotations

from typing import Optional, Sequence

from ...augment import cutmix, mix, mix_targets, sample_box, sample_mix, soft_cross_entropy
from ._common import check_layers_arg, check_mix_hook, draw_layer, is_number, mix_layers_of, mixed_forward, need
from .base import Method, MethodOutput, register_method


@register_method("mixup", domains=("image", "token"))
class Mixup(Method):
    """Mixup (Zhang et al., ICLR 2018): CE on λ·x + (1−λ)·x[π] against λ·y + (1−λ)·y[π].

    ``alpha``: λ ~ Beta(α, α), one λ per batch (the reference code), default 1.0. Token ids cannot
    be mixed: on them the word embeddings are (k = 0 of the model's hook; Guo et al. 2019's wordMixup).
    """

    def __init__(self, alpha: float = 1.0) -> None:
        need(is_number(alpha) and alpha > 0, "alpha > 0", alpha)
        self.alpha = alpha

    def check(self, model) -> None:
        if callable(getattr(model, "embed", None)):  # a text model: mixing happens through its hook
            check_mix_hook(model, self.name, [0], (0,))

    def loss(self, model, x, y, ctx):
        draw = sample_mix(x.shape[0], self.alpha, ctx.generator, x.device)
        if x.is_floating_point():
            logits = model(mix(x, draw))
        else:
            logits = mixed_forward(model, x, 0, draw)
        return MethodOutput(soft_cross_entropy(logits, mix_targets(y, draw, ctx.num_classes, ctx.label_smoothing)))


@register_method("cutmix")
class CutMix(Method):
    """CutMix (Yun et al., ICCV 2019): paste a box of x[π] into x, label weight = kept area.

    ``beta``: λ ~ Beta(β, β) sets the box side √(1−λ)·side, default 1.0. Images only (N×C×H×W).
    """

    def __init__(self, beta: float = 1.0) -> None:
        need(is_number(beta) and beta > 0, "beta > 0", beta)
        self.beta = beta

    def loss(self, model, x, y, ctx):
        if x.dim() != 4:
            raise ValueError(f"expected images of shape N×C×H×W for cutmix, got shape {tuple(x.shape)}")
        draw = sample_mix(x.shape[0], self.beta, ctx.generator, x.device)
        xm, draw = cutmix(x, draw, sample_box(x.shape[2], x.shape[3], draw.lam, ctx.generator))
        logits = model(xm)
        return MethodOutput(soft_cross_entropy(logits, mix_targets(y, draw, ctx.num_classes, ctx.label_smoothing)))


class _LayerMixing(Method):
    """Mixing at a layer k drawn per step from ``layers`` (k = 0 mixes the normalized input)."""

    default_layers: Sequence[int] = (0, 1, 2, 3)
    add_noise_level = 0.0
    mult_noise_level = 0.0

    def check(self, model) -> None:
        check_mix_hook(model, self.name, self.layers, self.default_layers)

    def loss(self, model, x, y, ctx):
        k = draw_layer(mix_layers_of(ctx.module, self.layers, self.default_layers), ctx.generator)
        draw = sample_mix(x.shape[0], self.alpha, ctx.generator, x.device)
        logits = mixed_forward(model, x, k, draw, 1, (self.add_noise_level,), self.mult_noise_level, 0.0,
                               ctx.generator)
        return MethodOutput(soft_cross_entropy(logits, mix_targets(y, draw, ctx.num_classes, ctx.label_smoothing)))


@register_method("manifold_mixup", domains=("image", "token"))
class ManifoldMixup(_LayerMixing):
    """Manifold Mixup (Verma et al., ICML 2019): mixup of the hidden state entering stage k.

    ``alpha`` (Beta(α, α), default 2.0 as in the paper's CIFAR runs); ``layers``: the set k is drawn
    from, default {0, 1, 2} ∩ range(mix_layers) (input, after block 1, after block 2 as in the
    reference code for PreActResNet).
    """

    default_layers = (0, 1, 2)

    def __init__(self, alpha: float = 2.0, layers: Optional[list] = None) -> None:
        need(is_number(alpha) and alpha > 0, "alpha > 0", alpha)
        self.alpha, self.layers = alpha, check_layers_arg(layers)


@register_method("nfm", domains=("image", "token"))
class NFM(_LayerMixing):
    """Noisy Feature Mixup (Lim et al., ICLR 2022): manifold mixup, then h ↦ m ⊙ h + a at layer k.

    Defaults from the authors' README/``train_cifar.py`` command: ``alpha`` 1.0, k ∈ {0, 1, 2, 3}
    ∩ range(mix_layers), ``add_noise_level`` 0.4, ``mult_noise_level`` 0.2, no sparsity, no JSD.
    Noise levels are in the units of the mixed features (normalized units at k = 0).
    """

    def __init__(self, alpha: float = 1.0, add_noise_level: float = 0.4, mult_noise_level: float = 0.2,
                 layers: Optional[list] = None) -> None:
        need(is_number(alpha) and alpha > 0, "alpha > 0", alpha)
        need(is_number(add_noise_level) and add_noise_level >= 0, "add_noise_level >= 0", add_noise_level)
        need(is_number(mult_noise_level) and mult_noise_level >= 0, "mult_noise_level >= 0", mult_noise_level)
        self.alpha, self.layers = alpha, check_layers_arg(layers)
        self.add_noise_level, self.mult_noise_level = add_noise_level, mult_noise_level
