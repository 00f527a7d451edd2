"""JPEG and pixelate against Pillow itself on real photos: what ``make_*_c.py`` call
(``x.save(output, 'JPEG', quality=c)`` then ``PILImage.open``; two ``resize(..., BOX)``),
at 32 px (CIFAR-10-C table) and 224 px (ImageNet-C table), RGB and grey.
Both are expected equal on every pixel (libjpeg-turbo's integer arithmetic and Pillow's
fixed-point BOX are reproduced, not approximated).
"""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from nnsafety.corruptions import CORRUPTIONS, corrupt
from nnsafety.corruptions.digital import _BOX_ETA, _box_round
from nnsafety.corruptions.jpeg import jpeg_roundtrip

from ._photos import photos_u8


def pil_jpeg(arr, quality):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        return np.array(im)


def as_tensor(u8):
    """N×H×W×C (or N×H×W grey) uint8 -> N×C×H×W float in [0, 1]."""
    t = torch.from_numpy(u8).float() / 255
    return t.unsqueeze(1) if t.dim() == 3 else t.permute(0, 3, 1, 2)


def levels(t):
    """N×C×H×W in [0, 1] -> uint8 levels N×H×W×C (or N×H×W for one channel)."""
    out = (t * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out[..., 0] if out.shape[-1] == 1 else out


def grey(u8):
    return np.stack([np.array(Image.fromarray(a).convert("L")) for a in u8])


@pytest.mark.parametrize("size,n", [(32, 5), (224, 2)])
@pytest.mark.parametrize("colour", [True, False])
def test_jpeg_equals_pillow_on_photos_every_severity(size, n, colour):
    u8 = photos_u8(size, n) if colour else grey(photos_u8(size, n))
    regime = "cifar" if size == 32 else "imagenet"
    for s in range(1, 6):
        quality = CORRUPTIONS.get("jpeg_compression").params(s, regime)[0]
        want = np.stack([pil_jpeg(a, quality) for a in u8])
        got = levels(corrupt(as_tensor(u8), "jpeg_compression", s))
        assert np.array_equal(got, want), (size, colour, quality, np.abs(got.astype(int) - want).max())


@pytest.mark.parametrize("quality", [100, 95, 50, 3, 1])
def test_jpeg_equals_pillow_at_extreme_qualities_and_odd_sizes(quality):
    # qualities outside the tables (unit and power-of-two divisors, the 255 clamp) and sides
    # that are not multiples of the 16-px MCU (libjpeg replicates the last row and column)
    u8 = photos_u8(224, 1)[:, 5:42, 7:60]
    want = pil_jpeg(u8[0], quality)
    assert np.array_equal(levels(jpeg_roundtrip(as_tensor(u8), quality))[0], want)
    g = grey(u8)
    assert np.array_equal(levels(jpeg_roundtrip(as_tensor(g), quality))[0], pil_jpeg(g[0], quality))


def test_jpeg_float64_input_gives_the_same_bytes():
    u8 = photos_u8(32, 3)
    x = as_tensor(u8)
    assert torch.equal(jpeg_roundtrip(x, 40), jpeg_roundtrip(x.double(), 40).float())


@pytest.mark.parametrize("size,n", [(32, 5), (224, 2)])
def test_pixelate_equals_pillow_box_on_photos_every_severity(size, n):
    u8 = photos_u8(size, n)
    regime = "cifar" if size == 32 else "imagenet"
    for s in range(1, 6):
        c = CORRUPTIONS.get("pixelate").params(s, regime)[0]
        small = int(size * c)
        want = np.stack([np.array(Image.fromarray(a).resize((small, small), Image.BOX)
                                  .resize((size, size), Image.BOX)) for a in u8])
        for img in (u8, grey(u8)):
            got = levels(corrupt(as_tensor(img), "pixelate", s))
            ref = want if img is u8 else np.stack([np.array(Image.fromarray(a).resize(
                (small, small), Image.BOX).resize((size, size), Image.BOX)) for a in img])
            assert np.array_equal(got, ref), (size, s)


def test_pixelate_non_square_and_tiny_targets_equal_pillow():
    u8 = photos_u8(224, 1)[0, :150, :97]  # sides not multiples of the targets
    for c in (0.6, 0.25, 0.05):  # 0.05: windows of 20 px take the fixed-point path
        h, w = u8.shape[:2]
        want = np.array(Image.fromarray(u8).resize((max(1, int(w * c)), max(1, int(h * c))), Image.BOX)
                        .resize((w, h), Image.BOX))
        got = levels(CORRUPTIONS.get("pixelate").fn(as_tensor(u8[None]), (c,), None))[0]
        assert np.array_equal(got, want), c


def test_box_rounding_equals_pillows_fixed_point_for_small_windows():
    """Pillow (Resample.c, 8 bpc): weights round(2²²/m), result (s·K + 2²¹) >> 22. The float
    shortcut (a float32 GEMM with weights (1 + η)/m, then round half to even) must agree for
    every sum s of m <= 9 uint8 values, however the sum is split over the window: evenly, greedily
    (255s first) and at random."""
    rng = np.random.default_rng(0)
    for m in range(1, 10):
        s = np.arange(255 * m + 1)
        k = int(0.5 + (1.0 / m) * (1 << 22))
        pillow = ((1 << 21) + s * k) >> 22
        even = s[:, None] // m + (np.arange(m)[None, :] < s[:, None] % m)
        greedy = np.clip(s[:, None] - 255 * np.arange(m)[None, :], 0, 255)
        random = np.array([np.bincount(rng.choice(m, size=int(si)), minlength=m) for si in s])
        for split in (even, greedy, random):
            ok = split.max(1) <= 255  # random splits of large sums can exceed uint8: not windows
            assert np.array_equal(split.sum(1), s) and ok[: 128 * m].all()
            wts = torch.full((m, 1), (1 + _BOX_ETA) / m, dtype=torch.float64).float()
            got = _box_round(torch.from_numpy(split[ok]).float() @ wts, None).view(-1).numpy()
            assert np.array_equal(got, pillow[ok]), m
    s = np.arange(255 * 20 + 1)  # a larger window: the float64 fixed-point path
    k = int(0.5 + (1.0 / 20) * (1 << 22))
    got = _box_round(torch.from_numpy(s).float(), torch.tensor(20)).numpy()
    assert np.array_equal(got, ((1 << 21) + s * k) >> 22)


def test_jpeg_and_pixelate_equal_pillow_on_synthetic_extremes():
    """Images no camera makes push the integer paths to their bounds (largest DCT coefficients,
    the decoder's clamp, ties in the quantizer and the BOX rounding): uniform noise, a 0/255
    checkerboard with its inverse, and random 4×4 black/white blocks, at sizes that are and are
    not multiples of the MCU, qualities 1..100, RGB and grey."""
    rng = np.random.default_rng(1)
    for h, w in ((16, 16), (33, 47), (64, 64)):
        yy, xx = np.indices((h, w))
        board = (((yy + xx) % 2) * 255).astype(np.uint8)
        blocks = (rng.integers(0, 2, (h // 4 + 1, w // 4 + 1, 3)) * 255).astype(np.uint8)
        u8 = np.stack([rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                       np.stack([board, 255 - board, board], -1),
                       blocks.repeat(4, 0).repeat(4, 1)[:h, :w]])
        for q in (1, 15, 50, 100):
            assert np.array_equal(levels(jpeg_roundtrip(as_tensor(u8), q)),
                                  np.stack([pil_jpeg(a, q) for a in u8])), (h, w, q)
            g = u8[..., 0]
            assert np.array_equal(levels(jpeg_roundtrip(as_tensor(g), q)),
                                  np.stack([pil_jpeg(a, q) for a in g])), (h, w, q, "grey")
        for c in (0.95, 0.6, 0.25, 0.1):
            small = (max(1, int(w * c)), max(1, int(h * c)))
            want = np.stack([np.array(Image.fromarray(a).resize(small, Image.BOX).resize((w, h), Image.BOX))
                             for a in u8])
            got = levels(CORRUPTIONS.get("pixelate").fn(as_tensor(u8), (c,), None))
            assert np.array_equal(got, want), (h, w, c)
