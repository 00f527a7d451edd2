"""The corruption registry and ``corrupt()``: the one door to the 19 corruptions × 5 severities.

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019. Every registered unit is ``fn(x, c, g) -> Tensor`` acting on a batch
N×C×H×W in [0, 1] with ``c`` = the published parameters of one severity; the base owns validation,
the choice of parameter table, the small-image detour, dtype handling and the final clamp.

Parameter regimes (``regime_for``):
- images whose larger side is <= 64 px use the CIFAR-10-C table (``make_cifar_c.py``),
- larger images use the ImageNet-C table (``make_imagenet_c.py``), in the same pixel units the
  original uses at 224 px (as ``imagecorruptions`` does for other sizes).
Both scripts: github.com/hendrycks/robustness, ``ImageNet-C/create_c/``.

Images smaller than 32 px (digits are 8×8) take a detour for every *spatial* corruption: each
pixel is replicated k×k times (k = ceil(32 / min(H, W))), the corruption runs at CIFAR scale, and
k×k area averaging brings it back. Replication followed by area averaging is the exact identity,
so the detour adds no blur of its own and everything the corruption changes survives as a k×k
average; the CIFAR kernel sizes, zoom factors and texture scales keep the meaning they have on a
32-px image (a 17×17 defocus disk would otherwise cover an 8-px digit twice over). Scale-free
corruptions run at native size instead: the four noises, brightness, contrast and saturate have
per-pixel parameters (k×k averaging would divide a noise std by k), and pixelate's parameter is a
relative size.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F

from ..domains import Domain, require_domain
from .._registry import Registry
from .._validation import check_images
from ._buffers import new_buffer

CorruptionFn = Callable[[torch.Tensor, tuple, Optional[torch.Generator]], torch.Tensor]


@dataclass(frozen=True)
class CorruptionSpec:
    """One registered corruption: its function, both parameter tables, and its kind.

    ``in_range``: the function's output is in [0, 1] by construction (8-bit levels / 255), so
    ``corrupt`` skips its final clamp (a whole pass over the batch).
    ``checks_range``: the function itself raises ``check_images``' error for values outside
    [0, 1] (a compiled kernel that reads every pixel anyway), so ``corrupt`` skips that pass.
    """

    name: str
    fn: CorruptionFn
    cifar: Sequence
    imagenet: Sequence
    scale_free: bool = False
    in_range: bool = False
    checks_range: bool = False

    def params(self, severity: int, regime: str) -> tuple:
        table = self.cifar if regime == "cifar" else self.imagenet
        c = table[severity - 1]
        return c if isinstance(c, tuple) else (c,)


CORRUPTIONS: Registry[CorruptionSpec] = Registry("corruption")

BENCHMARK_CORRUPTIONS: List[str] = [
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression",
]
EXTRA_CORRUPTIONS: List[str] = ["speckle_noise", "gaussian_blur", "spatter", "saturate"]
SEVERITIES = (1, 2, 3, 4, 5)
SMALL_SIDE = 32  # below this, spatial corruptions take the replicate / area-average detour
CIFAR_MAX_SIDE = 64  # up to this, the CIFAR-10-C parameters apply


def register_corruption(name: str, cifar: Sequence, imagenet: Sequence, scale_free: bool = False,
                        in_range: bool = False, checks_range: bool = False):
    """Decorator: register ``fn(x, c, g)`` under ``name`` with its two 5-entry parameter tables."""
    if len(cifar) != 5 or len(imagenet) != 5:
        raise ValueError(f"expected 5 severities per table for {name!r}")

    def decorator(fn: CorruptionFn) -> CorruptionFn:
        CORRUPTIONS.register(name)(CorruptionSpec(name, fn, cifar, imagenet, scale_free, in_range,
                                                  checks_range))
        return fn

    return decorator


def list_corruptions(domain: Optional[str] = None) -> List[str]:
    """Image corruptions: the 19 names in the paper's order (the 15 benchmark corruptions, then the
    4 extra ones); with another ``domain``, the registered corruptions of that domain by name."""
    if domain in (None, "image"):
        return BENCHMARK_CORRUPTIONS + EXTRA_CORRUPTIONS
    return CORRUPTIONS.names(domain)


def regime_for(height: int, width: int) -> str:
    """``"cifar"`` for images up to 64 px on the larger side, else ``"imagenet"``."""
    return "cifar" if max(height, width) <= CIFAR_MAX_SIDE else "imagenet"


def corrupt(
    x: torch.Tensor, name: str, severity: int, generator: Optional[torch.Generator] = None,
    domain: Optional[Domain] = None,
) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (1–5) to a batch x (N×C×H×W in [0, 1], C = 1 or 3).

    Returns a tensor of the same shape, dtype and device, clamped to [0, 1]. Random draws come from
    ``generator`` (a ``torch.Generator`` on any device; ``None`` uses torch's global RNG), so the
    same generator state gives the same output, whatever device x lives on. ``domain``: the input
    domain (default images; a corruption refuses one it is not registered for).
    """
    spec = CORRUPTIONS.get(name)
    require_domain(domain, CORRUPTIONS.domains(name), f"corruption {name!r}")
    check_images(x, allow_2d=False, values=not spec.checks_range)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels (N×C×H×W), got shape {tuple(x.shape)}")
    severity = _check_severity(severity)
    if x.shape[0] == 0:
        return x.clone()
    n, ch, h, w = x.shape
    c = spec.params(severity, regime_for(h, w))
    # half precision is computed in float32: the DCT and HSV algebra need the mantissa
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    k = 1 if spec.scale_free else math.ceil(SMALL_SIDE / min(h, w))
    if k > 1:
        up = work.repeat_interleave(k, dim=2).repeat_interleave(k, dim=3)
        out = F.avg_pool2d(spec.fn(up, c, generator).clamp(0, 1), k)
    else:
        out = spec.fn(work, c, generator)
        if spec.in_range:
            return out.to(x.dtype)
    return out.clamp_(0, 1).to(x.dtype)


def _check_severity(severity) -> int:
    try:
        ok = not isinstance(severity, bool) and int(severity) == severity and 1 <= severity <= 5
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"expected severity an int in 1..5, got {severity!r}")
    return int(severity)


class Corruption:
    """Callable class form: ``Corruption("fog", severity=3)(x, generator)``."""

    def __init__(self, name: str, severity: int = 3) -> None:
        CORRUPTIONS.get(name)
        self.name, self.severity = name, _check_severity(severity)

    def __call__(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return corrupt(x, self.name, self.severity, generator)

    def __repr__(self) -> str:
        return f"Corruption({self.name!r}, severity={self.severity})"


def stream_seed(seed: int, name: str, severity: int, block: int) -> int:
    """A stable 63-bit seed for one (corruption, severity, block) stream of a dataset pass.

    Used by export and evaluation so that the same ``seed`` gives the same corrupted images no
    matter which corruptions are selected or in which order they run.
    """
    key = f"{int(seed)}/{name}/{int(severity)}/{int(block)}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


# ---- random draws: on the generator's device, then moved, so CPU and GPU see the same numbers ----

def _gen_device(g: Optional[torch.Generator], like: torch.Tensor) -> torch.device:
    return g.device if g is not None else like.device


def rand(shape, g: Optional[torch.Generator], like: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) draws in float32 (float64 inputs get float32 draws cast up)."""
    return _draw(torch.rand, shape, g, like)


def randn(shape, g: Optional[torch.Generator], like: torch.Tensor) -> torch.Tensor:
    """Standard normal draws in float32 (float64 inputs get float32 draws cast up)."""
    return _draw(torch.randn, shape, g, like)


def _draw(sampler, shape, g: Optional[torch.Generator], like: torch.Tensor) -> torch.Tensor:
    dev = _gen_device(g, like)
    if dev.type == "cpu" and like.device.type == "cpu":  # the same draws, into a buffer that does not fault
        return sampler(shape, generator=g, out=new_buffer(shape, like, torch.float32)).to(like.dtype)
    return sampler(shape, generator=g, device=dev).to(like.device, like.dtype)


def randint(low: int, high: int, shape, g: Optional[torch.Generator], like: torch.Tensor) -> torch.Tensor:
    """Integers in [low, high) (NumPy's ``randint`` convention), int64 on like's device."""
    r = torch.randint(low, high, shape, generator=g, device=_gen_device(g, like))
    return r.to(like.device)


def uniform(low: float, high: float, shape, g, like: torch.Tensor) -> torch.Tensor:
    return low + (high - low) * rand(shape, g, like)


def poisson(rate: torch.Tensor, g: Optional[torch.Generator]) -> torch.Tensor:
    """Poisson(rate) samples drawn on the generator's device (``torch.poisson``, exact).

    A vectorized NumPy-style sampler (inversion below 10, PTRS above) was tried and was 4× slower
    on CPU than torch's kernel: the rejection rounds are dominated by index/compaction ops.
    """
    dev = _gen_device(g, rate)
    return torch.poisson(rate.to(dev, torch.float32), generator=g).to(rate.device, rate.dtype)


def rgb_to_gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma (OpenCV's RGB2GRAY weights) of N×3×H×W -> N×1×H×W; grey passes through."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
    return (x * w.view(1, 3, 1, 1)).sum(1, keepdim=True)


def colour(rgb: Sequence[float], channels: int, like: torch.Tensor) -> torch.Tensor:
    """An RGB colour in [0, 1] as a 1×C×1×1 tensor; its luma for grey images."""
    t = torch.tensor(rgb, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
    return rgb_to_gray(t) if channels == 1 else t


def known(names: Optional[Sequence[str]]) -> List[str]:
    """Validate a list of corruption names (None -> all 19, in the paper's order)."""
    if names is None:
        return list_corruptions()
    names = [names] if isinstance(names, str) else list(names)
    for nm in names:
        CORRUPTIONS.get(nm)
    return names


def check_severities(severities: Sequence[int]) -> List[int]:
    sev = [int(s) for s in severities]
    if not sev or any(s < 1 or s > 5 for s in sev) or len(set(sev)) != len(sev):
        raise ValueError(f"expected distinct severities in 1..5, got {list(severities)}")
    return sev


__all__: List[str] = [
    "BENCHMARK_CORRUPTIONS", "CORRUPTIONS", "Corruption", "CorruptionSpec", "EXTRA_CORRUPTIONS",
    "SEVERITIES", "corrupt", "list_corruptions", "regime_for", "register_corruption", "stream_seed",
]
