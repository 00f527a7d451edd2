"""Two inputs on which imagecorruptions 1.1.2 breaks, and ours must not.

- spatter: its water branch divides the drop shading by its maximum, which is 0 when no liquid
  survives the threshold (severity 1 on 32-px images with its ImageNet parameters): NaN, and the
  image comes back all black;
- motion blur: its ``_shift`` rolls the image and patches the wrapped part from one column, which
  is wrong when a tap's offset is at least the image side (kernels longer than the image): such
  taps are lost or read the wrong pixels.
"""
import numpy as np
import pytest
import torch

from nnsafety.corruptions import CORRUPTIONS, corrupt
from nnsafety.corruptions import _filters as flt
from nnsafety.corruptions.spatter import water_mask

from ._photos import photos


def test_water_mask_of_an_empty_liquid_layer_is_zero_not_nan():
    m = water_mask(torch.zeros(2, 1, 32, 32))
    assert torch.equal(m, torch.zeros_like(m))


def test_spatter_without_liquid_returns_the_image():
    x = photos(32, 5).float().repeat(4, 1, 1, 1)
    spec = CORRUPTIONS.get("spatter")
    c = spec.params(1, "imagenet")  # what imagecorruptions uses at 32 px: σ = 4 leaves few drops
    out = spec.fn(x, c, torch.Generator().manual_seed(0))
    assert torch.isfinite(out).all()
    # the same draws: which images have no liquid above the threshold at all
    noise = torch.randn(x.shape[0], 1, 32, 32, generator=torch.Generator().manual_seed(0))
    dry = flt.gaussian_filter(c[0] + c[1] * noise, c[2]).flatten(1).amax(1) < c[3]
    assert 0 < dry.sum() < len(dry)
    assert torch.equal(out[dry], x[dry])  # nothing added, nothing blacked out
    for s in range(1, 6):  # and the CIFAR table through corrupt(): finite, never blacked out
        y = corrupt(x, "spatter", s, torch.Generator().manual_seed(s))
        assert torch.isfinite(y).all() and (y.flatten(1).amax(1) > 0.2).all()
        assert (y - x).abs().mean() < 0.2


def clamped_motion_blur(img, wts, oy, ox):
    """Σ_t w_t · img[clamp(y + oy_t), clamp(x + ox_t)]: every tap read, edges replicated."""
    h, w = img.shape[-2:]
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    out = np.zeros_like(img)
    for t in range(len(wts)):
        out += wts[t] * img[..., np.clip(ys + oy[t], 0, h - 1), np.clip(xs + ox[t], 0, w - 1)]
    return out


@pytest.mark.parametrize("angle", [-45.0, -10.0, 0.0, 30.0, 45.0])
def test_motion_blur_keeps_every_tap_of_a_kernel_longer_than_the_image(angle):
    x = photos(32, 2)[:, :, :12, :9]  # 41 taps (radius 20) on a 12×9 image
    a = torch.full((2,), angle, dtype=torch.float64)
    wts, oy, ox = flt.motion_blur_taps(20, 15, a)
    assert oy.abs().max() >= 9 or ox.abs().max() >= 9  # taps reach past the image
    got = flt.motion_blur(x, 20, 15, a)
    for i in range(2):
        want = clamped_motion_blur(x[i].numpy(), wts.numpy(), oy[i].numpy(), ox[i].numpy())
        np.testing.assert_allclose(got[i].numpy(), want, atol=1e-12)
    flat = torch.full((1, 3, 12, 9), 0.7, dtype=torch.float64)  # a lost tap would darken it
    assert torch.allclose(flt.motion_blur(flat, 20, 15, a[:1]), flat)


def test_motion_blur_through_corrupt_on_a_narrow_image_keeps_its_weight():
    # 8×200 -> detour ×4 -> 32×800, ImageNet table (max side > 64): severity 5 has 41 taps on 32 rows
    x = torch.full((3, 3, 8, 200), 0.6)
    out = corrupt(x, "motion_blur", 5, torch.Generator().manual_seed(0))
    assert torch.allclose(out, x, atol=1e-6)
