"""Input checks shared by every tensor-in/tensor-out API (one wording for one kind of error)."""
from __future__ import annotations

import torch


def check_images(x: torch.Tensor, name: str = "x", allow_2d: bool = True) -> None:
    """Raise ``ValueError`` unless ``x`` is a float tensor in [0, 1] of shape N×C×H×W (or N×D).

    The project's one convention: inputs live in pixel space [0, 1]; normalization belongs to the
    model. Checked once at API entry, never inside hot loops.
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
    if x.numel():
        lo, hi = torch.aminmax(x)  # one pass over the data instead of two
        if lo < 0 or hi > 1:
            raise ValueError(
                f"expected {name} in [0, 1], got values in "
                f"[{lo.item():.4g}, {hi.item():.4g}] (normalization belongs to the model)"
            )
