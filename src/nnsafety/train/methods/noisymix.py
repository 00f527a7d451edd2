"""NoisyMix (Erichson et al., 2022): AugMix views + JSD + noisy manifold mixup.

Choices, with where they come from (paper arXiv:2202.01263 and the authors' code,
github.com/erichson/NoisyMix: ``cifar.py``, ``src/noisy_mixup.py``, ``src/cifar_models/preresnet.py``):
- three views per batch, clean x and two AugMix views (``AugMixDataset`` with JSD), stacked into
  one 3B batch and forwarded once (``cifar.py``);
- one layer k per step, uniform over {0, 1, 2, 3} (``np.random.choice(range(4))`` in the model's
  forward; k = 0 is the normalized input), here ∩ range(mix_layers) of the model;
- one λ ~ Beta(α, α), α = 1 (README command ``--alpha 1.0``), and one permutation π of the B
  samples shared by the three views, so the views stay aligned for the JSD (``do_noisy_mixup``
  with ``jsd=1``);
- after mixing, view v ∈ {1, 2, 3} gets additive noise at level add_noise_level·v and
  multiplicative noise at mult_noise_level (the per-view scaling of ``do_noisy_mixup``); noise =
  level·Beta(2, 5)·N(0, 1) and 1 + level·Beta(2, 5)·U(−1, 1), each element zeroed (set to 1) with
  probability sparse_level (``_noise``); README defaults add 0.5, mult 0.5, sparse 0.65;
- loss = λ·CE(h(x̃)_clean, y) + (1−λ)·CE(h(x̃)_clean, y[π]) + 12·JSD over the three views
  (``cifar.py``), where the "clean" view is the first, mixed and noised like the others.
On token ids the AugMix views are text AugMix views (chains of word ops, ``augment.text``) and
k = 0 is the embedding sequence of a text model (mixing in embedding space, Guo et al. 2019).
There the additive noise is in units of each vector's rms (``relative_noise``, default: on token
ids; ``augment.feature_noise``): the paper's levels are in units of normalized images, and at
0.5/1.0/1.5 they were 0.7–2.1× the rms of the word vectors (0.14), so on Fine Foods the 12·JSD
drove the model to a constant prediction (docs/results.md, #18).
On N×D inputs (the 2-D toy) there are no image ops: the three views are copies of x and differ
only by their per-view noise, so the JSD acts across noisy views.
"""
from __future__ import annotations

from typing import Optional

from ...augment import jsd_loss, mix_targets, sample_mix, soft_cross_entropy
from ._common import check_layers_arg, check_mix_hook, draw_layer, is_number, mix_layers_of, mixed_forward, need
from .augmix import augmix_views, check_augmix_args
from .base import Method, MethodOutput, register_method


@register_method("noisymix", domains=("image", "token"))
class NoisyMix(Method):
    """Mixed CE + 12·JSD over [x; A₁(x); A₂(x)] mixed and noised at a random layer k (module doc)."""

    default_layers = (0, 1, 2, 3)

    def __init__(self, alpha: float = 1.0, add_noise_level: float = 0.5, mult_noise_level: float = 0.5,
                 sparse_level: float = 0.65, jsd_weight: float = 12.0, layers: Optional[list] = None,
                 severity: float = 3, width: int = 3, depth: int = -1, aug_alpha: float = 1.0,
                 relative_noise: Optional[bool] = None) -> None:
        need(is_number(alpha) and alpha > 0, "alpha > 0", alpha)
        need(relative_noise is None or isinstance(relative_noise, bool), "relative_noise None, true or false",
             relative_noise)
        need(is_number(add_noise_level) and add_noise_level >= 0, "add_noise_level >= 0", add_noise_level)
        need(is_number(mult_noise_level) and mult_noise_level >= 0, "mult_noise_level >= 0", mult_noise_level)
        need(is_number(sparse_level) and 0 <= sparse_level < 1, "sparse_level in [0, 1)", sparse_level)
        need(is_number(jsd_weight) and jsd_weight >= 0, "jsd_weight >= 0", jsd_weight)
        check_augmix_args(severity, width, depth, aug_alpha)
        self.alpha, self.layers = alpha, check_layers_arg(layers)
        self.add_noise_level, self.mult_noise_level, self.sparse_level = add_noise_level, mult_noise_level, sparse_level
        self.jsd_weight, self.relative_noise = jsd_weight, relative_noise
        self.severity, self.width, self.depth, self.aug_alpha = severity, width, depth, aug_alpha

    def check(self, model) -> None:
        check_mix_hook(model, self.name, self.layers, self.default_layers)

    def loss(self, model, x, y, ctx):
        views = augmix_views(x, self, ctx.generator)
        k = draw_layer(mix_layers_of(ctx.module, self.layers, self.default_layers), ctx.generator)
        draw = sample_mix(x.shape[0], self.alpha, ctx.generator, x.device)
        adds = [self.add_noise_level * v for v in (1, 2, 3)]
        relative = self.relative_noise if self.relative_noise is not None else not x.is_floating_point()
        logits = mixed_forward(model, views, k, draw, 3, adds, self.mult_noise_level, self.sparse_level,
                               ctx.generator, relative)
        clean, aug1, aug2 = logits.chunk(3)
        loss = soft_cross_entropy(clean, mix_targets(y, draw, ctx.num_classes, ctx.label_smoothing))
        return MethodOutput(loss + self.jsd_weight * jsd_loss(clean, aug1, aug2))


@register_method("manifold_mixup_jsd", domains=("image", "token"))
class ManifoldMixupJSD(NoisyMix):
    """NoisyMix without feature noise: manifold mixup (shared λ, π) of the three AugMix views + 12·JSD.

    The "Manifold Mixup + JSD" ablation of the NoisyMix paper; same defaults as ``noisymix``.
    On N×D inputs the three views are identical, so the JSD is 0 and this is manifold mixup at
    k ∈ {0, 1, 2, 3} with α = 1.
    """

    def __init__(self, alpha: float = 1.0, jsd_weight: float = 12.0, layers: Optional[list] = None,
                 severity: float = 3, width: int = 3, depth: int = -1, aug_alpha: float = 1.0) -> None:
        super().__init__(alpha=alpha, add_noise_level=0.0, mult_noise_level=0.0, sparse_level=0.0,
                         jsd_weight=jsd_weight, layers=layers, severity=severity, width=width, depth=depth,
                         aug_alpha=aug_alpha)
