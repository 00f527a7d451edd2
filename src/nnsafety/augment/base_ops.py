"""Base input augmentation applied to every training batch before the method sees it: the random
crop with zero padding and the horizontal flip that CIFAR training uses everywhere (He et al. 2016;
the AugMix and NoisyMix reference code apply ``RandomCrop(32, padding=4)`` +
``RandomHorizontalFlip()`` to every training image before their own augmentation).

Each op is registered, batched (one indexing op per batch, no per-image loop) and draws only from
the caller's generator, so the trainer's checkpointed generator makes a resumed run bit-exact.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from .. import _random
from .._registry import Registry

BaseOp = Callable[..., torch.Tensor]
BASE_AUGMENTATIONS: Registry[BaseOp] = Registry("base augmentation")


@BASE_AUGMENTATIONS.register("random_crop")
def random_crop(x: torch.Tensor, generator: Optional[torch.Generator], padding: int = 4) -> torch.Tensor:
    """Pad each image by ``padding`` pixels of zeros on every side and crop a random H×W window
    (offsets uniform in [0, 2·padding] per image and axis), as torchvision's
    ``RandomCrop(size, padding)`` with ``fill=0``."""
    if int(padding) < 0:
        raise ValueError(f"expected padding >= 0, got {padding}")
    n, _, h, w = x.shape
    if padding == 0 or n == 0:
        return x
    p = int(padding)
    xp = F.pad(x, (p, p, p, p))
    oy = _random.randint(0, 2 * p + 1, (n,), generator, x.device)
    ox = _random.randint(0, 2 * p + 1, (n,), generator, x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # N×1×H×1
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # N×1×1×W
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return xp[batch, chans, rows, cols]


@BASE_AUGMENTATIONS.register("hflip")
def hflip(x: torch.Tensor, generator: Optional[torch.Generator], p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability ``p`` (one Bernoulli draw per image)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"expected p in [0, 1], got {p}")
    flip = _random.rand((x.shape[0],), generator, x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


class BaseAugmentation:
    """The ops named in the training config, applied in order: ``BaseAugmentation(["random_crop",
    "hflip"], {"random_crop": {"padding": 4}})(x, generator)``."""

    def __init__(self, names: Sequence[str], kwargs: Optional[Dict[str, Dict[str, Any]]] = None) -> None:
        kwargs = dict(kwargs or {})
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise ValueError(f"augment_kwargs for {', '.join(unknown)}, which is not in augment {list(names)}")
        self.ops: List[tuple] = [(BASE_AUGMENTATIONS.get(n), dict(kwargs.get(n, {}))) for n in names]
        self.names = list(names)

    def __call__(self, x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        if not self.ops:
            return x
        if x.dim() != 4:
            raise ValueError(f"expected N×C×H×W images for base augmentation {self.names}, got shape {tuple(x.shape)}")
        for op, kw in self.ops:
            x = op(x, generator, **kw)
        return x


def list_base_augmentations() -> List[str]:
    return BASE_AUGMENTATIONS.names()


__all__ = ["BASE_AUGMENTATIONS", "BaseAugmentation", "hflip", "list_base_augmentations", "random_crop"]
