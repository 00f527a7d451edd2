"""Batched corruptions vs slow per-image NumPy references of the original make_cifar_c.py math.

Where the random draws can be shared, the reference re-draws them from an identically seeded
torch.Generator in the order the implementation draws them, and the outputs must agree to float
precision. Where they cannot (Poisson, the glass swap order, the frost photos), the per-severity
statistics are compared with stated tolerances.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnsafety.corruptions import CORRUPTIONS, corrupt
from nnsafety.corruptions.blur import glass_offsets, glass_shuffle, np_arange

from . import _reference as ref

SEED = 7


def images(n=3, c=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, c, 8, 8, generator=g, dtype=torch.float64)
    x = F.interpolate(low, size=size, mode="bilinear", align_corners=False)
    return (x + 0.05 * torch.rand(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)


def gen():
    return torch.Generator().manual_seed(SEED)


def hwc(x):
    return [xi.permute(1, 2, 0).numpy() for xi in x]


def params(name, s):
    return CORRUPTIONS.get(name).params(s, "cifar")


def assert_same(out, refs, atol=1e-6):
    got = out.permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(got, np.stack(refs), atol=atol)


SEV = [1, 3, 5]


@pytest.mark.parametrize("s", SEV)
def test_gaussian_and_speckle_noise_same_draws(s):
    x = images()
    for name in ("gaussian_noise", "speckle_noise"):
        c = params(name, s)[0]
        noise = torch.randn(x.shape, generator=gen()).double()
        want = [np.clip(xi + (xi if name == "speckle_noise" else 1) * c * ni, 0, 1)
                for xi, ni in zip(hwc(x), hwc(noise))]
        assert_same(corrupt(x, name, s, gen()), want)


@pytest.mark.parametrize("s", SEV)
def test_shot_noise_statistics(s):
    x = images(16)
    c = params("shot_noise", s)[0]
    out = corrupt(x, "shot_noise", s, gen()).numpy()
    rng = np.random.default_rng(0)
    want = np.clip(rng.poisson(x.numpy() * c) / c, 0, 1)
    # same law: mean and spread of the change agree within 3 % of the noise std
    assert abs((out - x.numpy()).mean() - (want - x.numpy()).mean()) < 0.03 * (want - x.numpy()).std()
    assert (out - x.numpy()).std() == pytest.approx((want - x.numpy()).std(), rel=0.03)


@pytest.mark.parametrize("s", SEV)
def test_impulse_noise_statistics(s):
    x = images(16) * 0.8 + 0.1  # no exact 0/1 in the clean image
    c = params("impulse_noise", s)[0]
    out = corrupt(x, "impulse_noise", s, gen())
    rng = np.random.default_rng(0)  # skimage's s&p: two independent draws
    flipped = rng.random(x.shape) <= c
    salted = rng.random(x.shape) <= 0.5
    n = x.numel()
    for got, want in (((out == 1).sum().item() / n, (flipped & salted).mean()),
                      ((out == 0).sum().item() / n, (flipped & ~salted).mean())):
        assert got == pytest.approx(want, abs=4 * np.sqrt(c / 2 / n) + 1e-4)
    assert ((out != x) & (out != 0) & (out != 1)).sum() == 0


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_defocus_blur_matches_disk_filter2d(s):
    x = images(2)
    radius, alias = params("defocus_blur", s)
    k = ref.disk(radius, alias)
    assert_same(corrupt(x, "defocus_blur", s), [np.clip(ref.correlate(xi, k), 0, 1) for xi in hwc(x)], 1e-6)


@pytest.mark.parametrize("s", [1, 3, 5])
def test_gaussian_blur_matches_skimage_math(s):
    x = images(2)
    sigma = params("gaussian_blur", s)[0]
    assert_same(corrupt(x, "gaussian_blur", s), [np.clip(ref.gaussian(xi, sigma), 0, 1) for xi in hwc(x)])


@pytest.mark.parametrize("s", [1, 3, 5])
def test_motion_blur_matches_imagemagick_kernel_same_angles(s):
    x = images(3)
    radius, sigma = params("motion_blur", s)
    angles = (-45 + 90 * torch.rand(3, generator=gen())).double().numpy()
    want = [np.clip(ref.motion_blur(xi, radius, sigma, a), 0, 1) for xi, a in zip(hwc(x), angles)]
    assert_same(corrupt(x, "motion_blur", s, gen()), want, 1e-5)


@pytest.mark.parametrize("s", [1, 3, 4, 5])
def test_zoom_blur_matches_clipped_zoom(s):
    x = images(2)
    zooms = np.arange(*params("zoom_blur", s))  # NumPy's own factors: 1.2500000000000002 at 5
    assert np_arange(*params("zoom_blur", s)) == zooms.tolist()
    want = [np.clip((xi + sum(ref.clipped_zoom(xi, z) for z in zooms)) / (len(zooms) + 1), 0, 1)
            for xi in hwc(x)]
    assert_same(corrupt(x, "zoom_blur", s), want, 1e-6)


def _glass_sequential(img, off, d):
    """The published loop of make_cifar_c.py, one pixel at a time, with its line verbatim: on an
    H×W×C array the right-hand items are views, so this copies (h', w') into (h, w)."""
    img = img.copy()
    h, w = img.shape[:2]
    for i in range(h - d, d, -1):
        for j in range(w - d, d, -1):
            dy, dx = off[0, i, j], off[1, i, j]
            img[i, j], img[i + dy, j + dx] = img[i + dy, j + dx], img[i, j]
    return img


@pytest.mark.parametrize("d", [1, 2, 4])
def test_glass_shuffle_equals_the_published_loop(d):
    x = images(2)
    off = glass_offsets(x, 2, d, gen())
    assert off.min() == -d and off.max() == d - 1  # np.random.randint(-d, d)
    got = glass_shuffle(x, off, d)
    want = []
    for i, xi in enumerate(hwc(x)):
        for it in range(2):
            xi = _glass_sequential(xi, off[it, i].numpy(), d)
        want.append(xi)
    assert_same(got, want, 0)


@pytest.mark.parametrize("s", [1, 4, 5])
def test_glass_blur_same_draws(s):
    x = images(2)
    sigma, d, iters = params("glass_blur", s)
    off = glass_offsets(x, iters, d, gen())
    want = []
    for i, xi in enumerate(hwc(x)):
        y = np.floor(ref.gaussian(xi, sigma) * 255) / 255
        for it in range(iters):
            y = _glass_sequential(y, off[it, i].numpy(), d)
        want.append(np.clip(ref.gaussian(y, sigma), 0, 1))
    # the uint8 truncation may flip a level where float rounding differs: compare robustly
    out = corrupt(x, "glass_blur", s, gen()).permute(0, 2, 3, 1).numpy()
    assert np.abs(out - np.stack(want)).mean() < 1e-4


@pytest.mark.parametrize("s", [1, 3, 5])
def test_fog_same_plasma_draws(s):
    x = images(2)
    c0, decay = params("fog", s)
    g = gen()
    outs = []
    # the implementation draws the whole batch per level: shapes (N, k, k) in the same order
    shapes = []
    step = 32
    while step >= 2:
        k = 32 // step
        shapes += [(2, k, k), (2, k, k), (2, k, k)]
        step //= 2
    draws = [torch.rand(sh, generator=g).double().numpy() for sh in shapes]
    for i, xi in enumerate(hwc(x)):
        plasma = ref.plasma_fractal(32, decay, iter([d[i] for d in draws]))
        mv = xi.max()
        outs.append(np.clip((xi + c0 * plasma[..., None]) * mv / (mv + c0), 0, 1))
    assert_same(corrupt(x, "fog", s, gen()), outs, 1e-6)


@pytest.mark.parametrize("s", [1, 3, 5])
def test_snow_same_draws(s):
    x = images(2)
    c = params("snow", s)
    g = gen()
    layer0 = torch.randn(2, 1, 32, 32, generator=g).double().numpy()
    angles = (-135 + 90 * torch.rand(2, generator=g)).double().numpy()
    want = []
    for i, xi in enumerate(hwc(x)):
        layer = ref.clipped_zoom(c[0] + c[1] * layer0[i].transpose(1, 2, 0), c[2])
        layer[layer < c[3]] = 0
        layer = np.floor(np.clip(layer, 0, 1) * 255) / 255
        layer = np.round(ref.motion_blur(layer, c[4], c[5], angles[i]) * 255) / 255
        gray = (xi * [0.299, 0.587, 0.114]).sum(2, keepdims=True)
        y = c[6] * xi + (1 - c[6]) * np.maximum(xi, gray * 1.5 + 0.5)
        want.append(np.clip(y + layer + np.rot90(layer, k=2), 0, 1))
    out = corrupt(x, "snow", s, gen()).permute(0, 2, 3, 1).numpy()
    # the flake layer is quantized to 1/255 twice; a float difference may flip one level
    assert np.abs(out - np.stack(want)).mean() < 2e-4
    assert np.abs(out - np.stack(want)).max() <= 2 / 255 + 1e-6


@pytest.mark.parametrize("s", [1, 3, 5])
def test_brightness_and_saturate_match_hsv_round_trip(s):
    x = images(2, size=32)
    for name, ch in (("brightness", 2), ("saturate", 1)):
        c = params(name, s)
        want = []
        for xi in hwc(x):
            hsv = ref.rgb2hsv(xi)
            if name == "brightness":
                hsv[..., 2] = np.clip(hsv[..., 2] + c[0], 0, 1)
            else:
                hsv[..., 1] = np.clip(hsv[..., 1] * c[0] + c[1], 0, 1)
            want.append(np.clip(ref.hsv2rgb(hsv), 0, 1))
        assert_same(corrupt(x, name, s), want, 1e-6)


def test_saturate_grey_pixels_turn_red_like_skimage():
    x = torch.full((1, 3, 4, 4), 0.5, dtype=torch.float64)
    out = corrupt(x, "saturate", 5)  # c1 = 0.2: grey gets hue 0, saturation 0.2
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.5, 0.4, 0.4], dtype=torch.float64))


def test_saturate_on_grey_images_scales_tones_around_the_mean():
    x = images(2, c=1)
    for s in (1, 4):
        c0, c1 = params("saturate", s)
        m = x.mean(dim=(2, 3), keepdim=True)
        want = ((x - m) * c0 + m) * (1 - 0.701 * c1)
        assert torch.allclose(corrupt(x, "saturate", s), want.clamp(0, 1))


@pytest.mark.parametrize("s", SEV)
def test_contrast(s):
    x = images(2)
    c = params("contrast", s)[0]
    want = [np.clip((xi - xi.mean(axis=(0, 1))) * c + xi.mean(axis=(0, 1)), 0, 1) for xi in hwc(x)]
    assert_same(corrupt(x, "contrast", s), want)


@pytest.mark.parametrize("s", [2, 5])
def test_elastic_transform_same_draws(s):
    x = images(2)
    c = params("elastic_transform", s)
    g = gen()
    pts_noise = (-c[2] + 2 * c[2] * torch.rand(2, 3, 2, generator=g)).double().numpy()
    udx = (-1 + 2 * torch.rand(2, 32, 32, generator=g)).double().numpy()
    udy = (-1 + 2 * torch.rand(2, 32, 32, generator=g)).double().numpy()
    cs, ss = np.array([16.0, 16.0]), 32 // 3
    pts1 = np.array([cs + ss, [cs[0] + ss, cs[1] - ss], cs - ss])
    yy, xx = np.meshgrid(np.arange(32.0), np.arange(32.0), indexing="ij")
    want = []
    for i, xi in enumerate(hwc(x)):
        pts2 = pts1 + pts_noise[i]
        # M maps pts1 -> pts2 (cv2.getAffineTransform); warpAffine samples src at M^-1 (x, y)
        m = np.linalg.solve(np.c_[pts1, np.ones(3)], pts2).T  # 2×3
        minv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
        src = np.einsum("ij,jhw->ihw", minv, np.stack([xx, yy, np.ones_like(xx)]))
        warped = ref.bilinear(xi, src[1], src[0], "reflect101")
        dx = ref.gaussian(udx[i][..., None], c[1], "reflect", 3.0)[..., 0] * c[0]
        dy = ref.gaussian(udy[i][..., None], c[1], "reflect", 3.0)[..., 0] * c[0]
        want.append(np.clip(ref.bilinear(warped, yy + dy, xx + dx, "reflect"), 0, 1))
    assert_same(corrupt(x, "elastic_transform", s, gen()), want, 1e-6)


@pytest.mark.parametrize("s", [1, 3, 5])
def test_pixelate_matches_pil_box(s):
    Image = pytest.importorskip("PIL.Image")
    x8 = (images(2) * 255).round().to(torch.uint8)
    x = x8.double() / 255
    c = params("pixelate", s)[0]
    want = []
    for xi in x8:
        im = Image.fromarray(xi.permute(1, 2, 0).numpy())
        im = im.resize((int(32 * c), int(32 * c)), Image.BOX).resize((32, 32), Image.BOX)
        want.append(np.asarray(im) / 255.0)
    # PIL rounds to uint8 after each resize: at most one level per pass
    assert_same(corrupt(x, "pixelate", s), want, 1.01 / 255)


@pytest.mark.parametrize("s", [4, 5])
def test_spatter_mud_same_draws(s):
    x = images(2)
    c = params("spatter", s)
    liquid0 = torch.randn(2, 1, 32, 32, generator=gen()).double().numpy()
    want = []
    for i, xi in enumerate(hwc(x)):
        liquid = ref.gaussian(c[0] + c[1] * liquid0[i].transpose(1, 2, 0), c[2])
        liquid[liquid < c[3]] = 0
        m = ref.gaussian(np.where(liquid > c[3], 1.0, 0.0), c[4])
        m[m < 0.8] = 0
        color = np.array([63, 42, 20]) / 255.0 * m
        want.append(np.clip(xi * (1 - m) + color, 0, 1))
    assert_same(corrupt(x, "spatter", s, gen()), want, 1e-6)
