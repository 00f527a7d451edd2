"""Pieces shared by the mixing methods: validation, the mixing-hook check, the layer-k forward."""
from __future__ import annotations

import inspect
from typing import Optional, Sequence

import torch
from torch import nn

from ...augment import MixDraw, feature_noise, mix


def need(ok: bool, what: str, got) -> None:
    """One-line hyper-parameter check: ``ValueError: expected <what>, got <got>``."""
    if not ok:
        raise ValueError(f"expected {what}, got {got!r}")


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_layers_arg(layers) -> Optional[list]:
    need(layers is None or (isinstance(layers, (list, tuple)) and len(layers) > 0
                            and all(isinstance(k, int) and k >= 0 for k in layers)),
         "layers None or a non-empty list of layer indices k >= 0", layers)
    return None if layers is None else sorted(set(int(k) for k in layers))


def check_mix_hook(model: nn.Module, method: str, layers: Optional[list], default: Sequence[int]) -> None:
    """Fail at start unless ``model`` has the layer-k hook and every requested k exists."""
    n = getattr(model, "mix_layers", None)
    try:
        has_hook = "mix_hook" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        has_hook = False
    if not (isinstance(n, int) and n >= 1 and has_hook):
        raise ValueError(
            f"method {method!r} mixes at hidden layer k and needs a model with forward(x, mix_hook=None) and "
            f"mix_layers (as every registered model has), got {type(model).__name__}")
    if layers is not None and max(layers) >= n:
        raise ValueError(f"expected method {method!r} layers within range({n}) of {type(model).__name__}, "
                         f"got {layers}")
    if layers is None and not [k for k in default if k < n]:
        raise ValueError(f"method {method!r} found none of its default layers {list(default)} in range({n})")


def mix_layers_of(module: nn.Module, layers: Optional[list], default: Sequence[int]) -> list:
    n = module.mix_layers
    return list(layers) if layers is not None else [k for k in default if k < n]


def draw_layer(choices: Sequence[int], generator: torch.Generator) -> int:
    """k uniform over ``choices`` (one draw per step, as in the manifold-mixup/NFM code)."""
    return int(choices[int(torch.randint(len(choices), (1,), generator=generator))])


def mixed_forward(model: nn.Module, x: torch.Tensor, k: int, draw: MixDraw, views: int = 1,
                  add_levels: Sequence[float] = (0.0,), mult_level: float = 0.0, sparse_level: float = 0.0,
                  generator: Optional[torch.Generator] = None, relative_noise: bool = False) -> torch.Tensor:
    """Forward ``views`` stacked copies of a batch (V·B rows), mixing each view at layer k with the
    same (λ, π) and then adding feature noise with view v's additive level ``add_levels[v]``
    (``relative_noise``: in units of each vector's rms, ``augment.feature_noise``)."""
    def hook(j: int, h: torch.Tensor) -> torch.Tensor:
        if j != k:
            return h
        out = []
        for v, hv in enumerate(h.chunk(views)):
            hv = mix(hv, draw)
            out.append(feature_noise(hv, add_levels[v], mult_level, sparse_level, generator, relative_noise))
        return torch.cat(out) if views > 1 else out[0]

    def mix_mask(j: int, mask: torch.Tensor) -> torch.Tensor:
        # a sequence model's padding mask after mixing: the positions real in either text of the pair
        if j != k:
            return mask
        return torch.cat([mix(m.float(), draw) > 0 for m in mask.chunk(views)])

    hook.mix_mask = mix_mask  # type: ignore[attr-defined]
    return model(x, mix_hook=hook)
