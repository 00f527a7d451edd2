"""Input checks shared by every tensor-in/tensor-out API (one wording for one kind of error)."""
from __future__ import annotations

from typing import Optional

import torch


def check_images(x: torch.Tensor, name: str = "x", allow_2d: bool = True, values: bool = True) -> None:
    """Raise ``ValueError`` unless ``x`` is a float tensor in [0, 1] of shape N×C×H×W (or N×D).

    The project's one convention: inputs live in pixel space [0, 1]; normalization belongs to the
    model. Checked once at API entry, never inside hot loops. ``values=False``: type and shape
    only, for a caller that checks the range in a pass it makes anyway (and then calls this to
    raise the same error).
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected {name} to be a torch.Tensor, got {type(x).__name__}")
    shapes = "N×C×H×W" + (" or N×D" if allow_2d else "")
    if not x.is_floating_point():
        raise ValueError(
            f"expected {name} to be a float tensor in [0, 1] of shape {shapes}, "
            f"got {str(x.dtype).replace('torch.', '')} of shape {tuple(x.shape)}"
        )
    if x.dim() != 4 and not (allow_2d and x.dim() == 2):
        raise ValueError(f"expected {name} of shape {shapes}, got shape {tuple(x.shape)}")
    if values and x.numel():
        lo, hi = torch.aminmax(x)  # one pass over the data instead of two
        if not (lo >= 0 and hi <= 1):  # also false for NaN, which fails both bounds silently
            if torch.isnan(lo) or torch.isnan(hi):
                raise ValueError(f"expected {name} in [0, 1], got {int(torch.isnan(x).sum())} NaN values")
            raise ValueError(
                f"expected {name} in [0, 1], got values in "
                f"[{lo.item():.4g}, {hi.item():.4g}] (normalization belongs to the model)"
            )


def check_batch(x, domain=None, name: str = "x") -> None:
    """``x`` is a valid batch of ``domain`` (an ``nnsafety.domains.Domain``; default: images in [0, 1])."""
    if domain is None:
        check_images(x, name)
    else:
        domain.check(x, name)


def check_labels(y, n: int, num_classes: Optional[int] = None, name: str = "y") -> None:
    """Raise ``ValueError`` unless ``y`` is an int64 tensor of ``n`` labels in [0, num_classes)."""
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long or y.shape != (n,):
        got = f"{y.dtype} of shape {tuple(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"expected {name} to be an int64 tensor of shape ({n},), got {got}")
    if num_classes is not None and n:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"expected {name} labels in [0, {num_classes}) (the model has {num_classes} outputs), "
                             f"got labels in [{lo}, {hi}]")
