"""The model registry and the one shape every registered model has.

Every registered model is ``normalize -> stages[0] -> ... -> stages[K-1] -> head``:
- ``normalize`` holds the dataset mean/std as buffers, so inputs stay in pixel space [0, 1] and
  attacks, corruptions and noise all share one meaning of ε;
- ``stages`` are the feature blocks; ``forward(x, mix_hook=fn)`` calls ``fn(k, h)`` on the input of
  stage ``k`` (k = 0 is the normalized input) and continues with what it returns. This is the one
  mechanism manifold mixup, NFM and NoisyMix use to mix and perturb hidden states at layer k;
- ``head`` is the final linear classifier, so ``forward_features`` (the head's input) is the
  penultimate representation used by spectral-signature and activation-clustering detectors.

A user's own ``nn.Module`` works everywhere; to be mixed at hidden layers it must accept
``forward(x, mix_hook=None)`` and expose ``mix_layers`` (number of valid k) like these models do.
"""
from __future__ import annotations

import inspect
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .._registry import Registry, check_argument_types

MixHook = Callable[[int, torch.Tensor], torch.Tensor]

MODELS: Registry[Callable[..., "Classifier"]] = Registry("model")
register_model = MODELS.register


class Normalize(nn.Module):
    """(x - mean) / std per channel (or per feature for N×D inputs), with mean/std as buffers."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], image: bool = True) -> None:
        super().__init__()
        shape = (1, -1, 1, 1) if image else (1, -1)
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(shape)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(shape)
        if (std_t <= 0).any():
            raise ValueError(f"expected positive std, got {list(std)}")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class Classifier(nn.Module):
    """normalize -> stages -> head, with the layer-k mixing hook (see module docstring)."""

    def __init__(self, normalize: Normalize, stages: Sequence[nn.Module], head: nn.Linear) -> None:
        super().__init__()
        self.normalize = normalize
        self.stages = nn.ModuleList(stages)
        self.head = head

    @property
    def mix_layers(self) -> int:
        """Number of layers where ``mix_hook`` is called: k = 0 .. mix_layers - 1."""
        return len(self.stages)

    def forward_features(self, x: torch.Tensor, mix_hook: Optional[MixHook] = None) -> torch.Tensor:
        h = self.normalize(x)
        for k, stage in enumerate(self.stages):
            if mix_hook is not None:
                h = mix_hook(k, h)
            h = stage(h)
        return h

    def forward(self, x: torch.Tensor, mix_hook: Optional[MixHook] = None) -> torch.Tensor:
        return self.head(self.forward_features(x, mix_hook))


def _check_in_shape(in_shape: Sequence[int]) -> Tuple[int, ...]:
    shape = tuple(int(s) for s in in_shape)
    if len(shape) not in (1, 3) or any(s <= 0 for s in shape):
        raise ValueError(f"expected in_shape (C, H, W) or (D,), got {tuple(in_shape)}")
    return shape


def create_model(
    name: str,
    num_classes: int,
    in_shape: Sequence[int],
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    **kwargs,
) -> Classifier:
    """Build a registered model: ``create_model("cnn", num_classes=10, in_shape=(1, 8, 8))``.

    ``mean``/``std`` are the per-channel statistics of the training data in [0, 1] pixel units
    (defaults 0 and 1, i.e. no normalization); extra keyword arguments go to the architecture.
    """
    if int(num_classes) < 2:
        raise ValueError(f"expected num_classes >= 2, got {num_classes}")
    shape = _check_in_shape(in_shape)
    builder = MODELS.get(name)
    params = inspect.signature(builder).parameters
    accepted = [p for p in params if p not in ("normalize", "num_classes", "in_shape")]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"model {name!r} got unknown argument(s) {', '.join(unknown)}; expected some of: {', '.join(accepted)}"
        )
    check_argument_types(builder, kwargs, f"model {name!r}")
    if "normalize" not in params:  # token/byte models: normalization has no meaning for ids
        return builder(num_classes=int(num_classes), in_shape=shape, **kwargs)
    channels = shape[0]
    mean = [0.0] * channels if mean is None else list(mean)
    std = [1.0] * channels if std is None else list(std)
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f"expected mean/std with {channels} entries (one per channel), "
            f"got {len(mean)} and {len(std)}"
        )
    normalize = Normalize(mean, std, image=len(shape) == 3)
    return builder(normalize=normalize, num_classes=int(num_classes), in_shape=shape, **kwargs)


def list_models(domain: Optional[str] = None) -> List[str]:
    """Registered models; with ``domain`` (e.g. "image", "token"), those that support it."""
    return MODELS.names(domain)
