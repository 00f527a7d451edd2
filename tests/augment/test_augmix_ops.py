"""AugMix operations against independent references: PIL on 8-bit images, NumPy formulas, exact
pixel permutations (rot90, integer shifts) and a hand-written bilinear loop for shear."""
import numpy as np
import pytest
import torch

from nnsafety.augment import (OPS, apply_random_ops, augmix, autocontrast, equalize, posterize, rotate, shear_x,
                              shear_y, solarize, translate_x, translate_y)

Image = pytest.importorskip("PIL.Image")
ImageOps = pytest.importorskip("PIL.ImageOps")


def _img8(seed, c=3, h=24, w=24, lo=0, hi=256):
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi, size=(c, h, w), dtype=np.uint8)


def _to_t(a):
    return torch.from_numpy(a.astype(np.float32) / 255.0)[None]


def _pil(a, fn):
    img = Image.fromarray(np.moveaxis(a, 0, -1) if a.shape[0] == 3 else a[0])
    out = np.asarray(fn(img))
    return out[None] if out.ndim == 2 else np.moveaxis(out, -1, 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_equalize_matches_pil(seed):
    a = _img8(seed, lo=40, hi=200)  # a skewed histogram, so equalization really moves values
    got = (equalize(_to_t(a))[0] * 255).round().numpy()
    ref = _pil(a, ImageOps.equalize).astype(np.float32)
    assert np.array_equal(got, ref)
    assert not np.array_equal(ref, a)


def test_equalize_is_identity_below_256_pixels_like_pil():
    a = _img8(3, c=1, h=8, w=8)
    assert np.array_equal(_pil(a, ImageOps.equalize), a)
    assert torch.equal(equalize(_to_t(a)), _to_t(a))


def test_autocontrast_matches_pil_and_formula():
    a = _img8(4, lo=50, hi=180)
    got = autocontrast(_to_t(a))[0].numpy()
    lo, hi = a.min(axis=(1, 2), keepdims=True), a.max(axis=(1, 2), keepdims=True)
    formula = (a.astype(np.float64) - lo) / (hi - lo)
    assert np.allclose(got, formula, atol=1e-6)
    ref = _pil(a, ImageOps.autocontrast) / 255.0  # PIL truncates the stretched value to 8 bits
    assert np.abs(got - ref).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("bits", [1, 3, 4, 8])
def test_posterize_matches_pil(bits):
    a = _img8(5)
    got = (posterize(_to_t(a), float(bits))[0] * 255).round().numpy()
    assert np.array_equal(got, _pil(a, lambda im: ImageOps.posterize(im, bits)))


@pytest.mark.parametrize("threshold", [0, 128, 200, 256])
def test_solarize_matches_pil(threshold):
    a = _img8(6)
    got = (solarize(_to_t(a), float(threshold))[0] * 255).round().numpy()
    assert np.array_equal(got, _pil(a, lambda im: ImageOps.solarize(im, threshold)))


def test_rotate_90_is_an_exact_counter_clockwise_quarter_turn():
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(rotate(x, 90.0), torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(rotate(x, -90.0), torch.rot90(x, -1, dims=(2, 3)), atol=1e-5)


def test_translate_by_whole_pixels_shifts_and_fills_black():
    x = torch.rand(1, 2, 6, 7)
    out = translate_x(x, 2.0)  # PIL semantics: out(x) = in(x + 2)
    assert torch.allclose(out[..., :, :5], x[..., :, 2:], atol=1e-6)
    assert out[..., :, 5:].abs().max() < 1e-6
    out = translate_y(x, -1.0)
    assert torch.allclose(out[..., 1:, :], x[..., :5, :], atol=1e-6)
    assert out[..., :1, :].abs().max() < 1e-6


def _bilinear_affine_reference(img, a, b, c, d, e, f):
    """out[y, x] = bilinear img at (a·px + b·py + c, d·px + e·py + f), px = x + .5, py = y + .5."""
    ch, h, w = img.shape
    out = np.zeros_like(img)
    for yy in range(h):
        for xx in range(w):
            px, py = xx + 0.5, yy + 0.5
            sx, sy = a * px + b * py + c - 0.5, d * px + e * py + f - 0.5
            x0, y0 = int(np.floor(sx)), int(np.floor(sy))
            fx, fy = sx - x0, sy - y0
            acc = np.zeros(ch)
            for dy, wy in ((0, 1 - fy), (1, fy)):
                for dx, wx in ((0, 1 - fx), (1, fx)):
                    yi, xi = y0 + dy, x0 + dx
                    if 0 <= yi < h and 0 <= xi < w:
                        acc += wy * wx * img[:, yi, xi]
            out[:, yy, xx] = acc
    return out


@pytest.mark.parametrize("op,coeffs", [
    (shear_x, lambda v: (1, v, 0, 0, 1, 0)),
    (shear_y, lambda v: (1, 0, 0, v, 1, 0)),
    (translate_x, lambda v: (1, 0, v, 0, 1, 0)),
])
def test_geometric_ops_match_a_bilinear_reference_loop(op, coeffs):
    img = np.random.default_rng(7).random((2, 9, 11))
    for v in (0.23, -0.17) if op is not translate_x else (1.3, -2.6):
        got = op(torch.tensor(img, dtype=torch.float32)[None], v)[0].numpy()
        ref = _bilinear_affine_reference(img, *coeffs(v))
        assert np.allclose(got, ref, atol=1e-5), v


def test_ops_are_batched_with_per_image_parameters():
    x = torch.rand(3, 1, 8, 8)
    bits = torch.tensor([1.0, 4.0, 8.0])
    out = posterize(x, bits)
    for i in range(3):
        assert torch.equal(out[i], posterize(x[i:i + 1], float(bits[i]))[0])
    deg = torch.tensor([90.0, 0.0, -90.0])
    out = rotate(x, deg)
    assert torch.allclose(out[0], torch.rot90(x[0], 1, (1, 2)), atol=1e-5)
    assert torch.allclose(out[1], x[1], atol=1e-6)
    assert torch.allclose(out[2], torch.rot90(x[2], -1, (1, 2)), atol=1e-5)


def test_augmix_keeps_range_shape_dtype_and_is_deterministic():
    x = torch.rand(12, 3, 16, 16)
    a = augmix(x, generator=torch.Generator().manual_seed(1))
    b = augmix(x, generator=torch.Generator().manual_seed(1))
    c = augmix(x, generator=torch.Generator().manual_seed(2))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a - x).abs().mean() > 1e-3


def test_random_ops_differ_per_image_and_respect_the_mask():
    x = torch.rand(1, 3, 16, 16).expand(64, -1, -1, -1).contiguous()
    out = apply_random_ops(x, 3, torch.Generator().manual_seed(0))
    distinct = {tuple(v.flatten()[:40].tolist()) for v in (out * 1000).round()}
    assert len(distinct) > 9  # identical inputs, different per-image ops and levels
    active = torch.arange(64) % 2 == 0
    out = apply_random_ops(x, 3, torch.Generator().manual_seed(0), active=active)
    assert torch.equal(out[~active], x[~active])


def test_no_test_corruption_lookalikes_among_the_ops():
    assert set(OPS) == {"autocontrast", "equalize", "posterize", "rotate", "solarize",
                        "shear_x", "shear_y", "translate_x", "translate_y"}


def test_augmix_rejects_bad_input():
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        augmix(torch.rand(2, 1, 8, 8) * 3)
    with pytest.raises(ValueError, match="severity"):
        augmix(torch.rand(2, 1, 8, 8), severity=0)
    with pytest.raises(ValueError, match="posterize bits"):
        posterize(torch.rand(1, 1, 4, 4), 9.0)
