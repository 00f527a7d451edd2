"""Batched corruptions vs slow per-image NumPy references of the published generators' math.

make_cifar_c.py / make_imagenet_c.py (github.com/hendrycks/robustness) and imagecorruptions
1.1.2 for ImageMagick's motion blur. Every test runs on three kinds of input: smooth synthetic
32-px images, real photos at 32 px (CIFAR-10-C table) and at 224 px (ImageNet-C table; see
``_photos``). Where the random draws can be shared, the reference re-draws them from an
identically seeded torch.Generator in the order the implementation draws them, and the outputs
must agree to float precision (far inside the 1-grey-level requirement). Where they cannot
(Poisson, the impulse positions), the per-severity statistics are compared with stated
tolerances. The 224-px cases run one severity in the default suite, the rest are marked slow.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnsafety.corruptions import CORRUPTIONS, corrupt
from nnsafety.corruptions.blur import glass_offsets, glass_shuffle, np_arange
from nnsafety.corruptions.textures import next_power_of_2

from . import _reference as ref
from ._photos import photos

SEED = 7
LEVEL = 1 / 255


def images(n=3, c=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, c, 8, 8, generator=g, dtype=torch.float64)
    x = F.interpolate(low, size=size, mode="bilinear", align_corners=False)
    return (x + 0.05 * torch.rand(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)


def batch(case, n):
    """(images, regime) of a case: smooth32, photo32 (n <= 5) or photo224 (n <= 3)."""
    if case == "smooth32":
        return images(n), "cifar"
    size = int(case[5:])
    return photos(size, min(n, 5 if size == 32 else 2)), "cifar" if size == 32 else "imagenet"


def cases(severities, heavy=False):
    """(case, severity) pairs; the 224-px ones beyond the first severity, and all of them for a
    heavy reference, are marked slow."""
    out = []
    for case in ("smooth32", "photo32", "photo224"):
        for i, s in enumerate(severities):
            slow = case == "photo224" and (heavy or i > 0)
            out.append(pytest.param(case, s, marks=pytest.mark.slow) if slow else (case, s))
    return out


def gen():
    return torch.Generator().manual_seed(SEED)


def hwc(x):
    return [xi.permute(1, 2, 0).numpy() for xi in x]


def params(name, s, regime="cifar"):
    return CORRUPTIONS.get(name).params(s, regime)


def assert_same(out, refs, atol=1e-6):
    got = out.permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(got, np.stack(refs), atol=atol)


SEV = [1, 3, 5]


@pytest.mark.parametrize("case,s", cases(SEV))
def test_gaussian_and_speckle_noise_same_draws(case, s):
    x, regime = batch(case, 3)
    for name in ("gaussian_noise", "speckle_noise"):
        c = params(name, s, regime)[0]
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


@pytest.mark.parametrize("case,s", cases([1, 3, 5]))
def test_defocus_blur_matches_disk_filter2d(case, s):
    x, regime = batch(case, 2)
    radius, alias = params("defocus_blur", s, regime)
    k = ref.disk(radius, alias)
    assert_same(corrupt(x, "defocus_blur", s), [np.clip(ref.correlate(xi, k), 0, 1) for xi in hwc(x)], 1e-6)


@pytest.mark.parametrize("case,s", cases([1, 3, 5]))
def test_gaussian_blur_matches_skimage_math(case, s):
    x, regime = batch(case, 2)
    sigma = params("gaussian_blur", s, regime)[0]
    assert_same(corrupt(x, "gaussian_blur", s), [np.clip(ref.gaussian(xi, sigma), 0, 1) for xi in hwc(x)])


@pytest.mark.parametrize("case,s", cases([1, 3, 5]))
def test_motion_blur_matches_imagemagick_kernel_same_angles(case, s):
    x, regime = batch(case, 3)
    radius, sigma = params("motion_blur", s, regime)
    angles = (-45 + 90 * torch.rand(x.shape[0], generator=gen())).double().numpy()
    want = [np.clip(ref.motion_blur(xi, radius, sigma, a), 0, 1) for xi, a in zip(hwc(x), angles)]
    assert_same(corrupt(x, "motion_blur", s, gen()), want, 1e-5)


@pytest.mark.parametrize("case,s", cases([5, 1, 3, 4]))
def test_zoom_blur_matches_clipped_zoom(case, s):
    x, regime = batch(case, 2)
    zooms = np.arange(*params("zoom_blur", s, regime))  # NumPy's own factors: 1.2500000000000002 at 5
    assert np_arange(*params("zoom_blur", s, regime)) == zooms.tolist()
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


def test_glass_loop_is_a_one_way_copy_not_a_swap():
    img = np.arange(12.0).reshape(2, 2, 3)
    img[0, 0], img[1, 1] = img[1, 1], img[0, 0]  # the published line on NumPy views
    assert np.array_equal(img[0, 0], img[1, 1]) and np.array_equal(img[0, 0], [9, 10, 11])


@pytest.mark.parametrize("case,s", cases([1, 4, 5]))
def test_glass_blur_same_draws(case, s):
    x, regime = batch(case, 2)
    sigma, d, iters = params("glass_blur", s, regime)
    off = glass_offsets(x, iters, d, gen())
    want = []
    for i, xi in enumerate(hwc(x)):
        y = np.floor(ref.gaussian(xi, sigma) * 255) / 255  # np.uint8(gaussian(x / 255.) * 255)
        for it in range(iters):
            y = _glass_sequential(y, off[it, i].numpy(), d)
        want.append(np.clip(ref.gaussian(y, sigma), 0, 1))
    out = corrupt(x, "glass_blur", s, gen()).permute(0, 2, 3, 1).numpy()
    diff = np.abs(out - np.stack(want))
    # the uint8 truncation may flip a level where float rounding differs: then it moves by one
    # level at most, and rarely
    assert diff.max() <= LEVEL + 1e-9 and diff.mean() < 1e-4


@pytest.mark.parametrize("case,s", cases([1, 3, 5]))
def test_fog_same_plasma_draws(case, s):
    x, regime = batch(case, 2)
    n, _, h, w = x.shape
    c0, decay = params("fog", s, regime)
    mapsize = next_power_of_2(max(h, w))
    g = gen()
    # the implementation draws the whole batch per level: shapes (N, k, k) in the same order
    shapes = []
    step = mapsize
    while step >= 2:
        k = mapsize // step
        shapes += [(n, k, k)] * 3
        step //= 2
    draws = [torch.rand(sh, generator=g).double().numpy() for sh in shapes]
    outs = []
    for i, xi in enumerate(hwc(x)):
        plasma = ref.plasma_fractal(mapsize, decay, iter([d[i] for d in draws]))[:h, :w]
        mv = xi.max()
        outs.append(np.clip((xi + c0 * plasma[..., None]) * mv / (mv + c0), 0, 1))
    assert_same(corrupt(x, "fog", s, gen()), outs, 1e-6)


@pytest.mark.parametrize("case,s", cases([1, 3, 5]))
def test_snow_same_draws(case, s):
    x, regime = batch(case, 2)
    n, _, h, w = x.shape
    c = params("snow", s, regime)
    g = gen()
    layer0 = torch.randn(n, 1, h, w, generator=g).double().numpy()
    angles = (-135 + 90 * torch.rand(n, generator=g)).double().numpy()
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
    assert np.abs(out - np.stack(want)).max() <= 2 * LEVEL + 1e-6


@pytest.mark.parametrize("case,s", cases([1, 3, 5], heavy=True))
def test_brightness_and_saturate_match_hsv_round_trip(case, s):
    x, regime = batch(case, 2)
    for name in ("brightness", "saturate"):
        c = params(name, s, regime)
        want = []
        for xi in hwc(x):
            hsv = ref.rgb2hsv(xi)
            if name == "brightness":
                hsv[..., 2] = np.clip(hsv[..., 2] + c[0], 0, 1)
            else:
                hsv[..., 1] = np.clip(hsv[..., 1] * c[0] + c[1], 0, 1)
            want.append(np.clip(ref.hsv2rgb(hsv), 0, 1))
        assert_same(corrupt(x, name, s), want, 1e-6)


def test_brightness_and_saturate_on_a_224_photo():
    """The 224-px HSV check of the default suite: one severity each on a 64×64 patch of the
    ImageNet-table result (the HSV reference is a per-pixel loop)."""
    x = photos(224, 1)
    for name, s in (("brightness", 3), ("saturate", 5)):
        c = params(name, s, "imagenet")
        hsv = ref.rgb2hsv(hwc(x)[0][80:144, 80:144])
        if name == "brightness":
            hsv[..., 2] = np.clip(hsv[..., 2] + c[0], 0, 1)
        else:
            hsv[..., 1] = np.clip(hsv[..., 1] * c[0] + c[1], 0, 1)
        got = corrupt(x, name, s)[:, :, 80:144, 80:144]
        assert_same(got, [np.clip(ref.hsv2rgb(hsv), 0, 1)], 1e-6)


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


@pytest.mark.parametrize("case,s", cases(SEV))
def test_contrast(case, s):
    x, regime = batch(case, 2)
    c = params("contrast", s, regime)[0]
    want = [np.clip((xi - xi.mean(axis=(0, 1))) * c + xi.mean(axis=(0, 1)), 0, 1) for xi in hwc(x)]
    assert_same(corrupt(x, "contrast", s), want)


@pytest.mark.parametrize("case,s", cases([2, 5]))
def test_elastic_transform_same_draws(case, s):
    x, regime = batch(case, 2)
    n, _, h, w = x.shape
    c = params("elastic_transform", s, regime)
    g = gen()
    # float32 draws, scaled in the image's float64 (a float32 scaling error times alpha = 488 px
    # would move the 224-px samples by 1e-5 px)
    pts_noise = (-c[2] + 2 * c[2] * torch.rand(n, 3, 2, generator=g).double()).numpy()
    udx = (-1 + 2 * torch.rand(n, h, w, generator=g).double()).numpy()
    udy = (-1 + 2 * torch.rand(n, h, w, generator=g).double()).numpy()
    cs, ss = np.array([h // 2, w // 2], dtype=float), min(h, w) // 3
    pts1 = np.array([cs + ss, [cs[0] + ss, cs[1] - ss], cs - ss])
    yy, xx = np.meshgrid(np.arange(float(h)), np.arange(float(w)), indexing="ij")
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


@pytest.mark.parametrize("case,s", cases([4, 5]))
def test_spatter_mud_same_draws(case, s):
    x, regime = batch(case, 2)
    n, _, h, w = x.shape
    c = params("spatter", s, regime)
    liquid0 = torch.randn(n, 1, h, w, generator=gen()).double().numpy()
    want = []
    for i, xi in enumerate(hwc(x)):
        liquid = ref.gaussian(c[0] + c[1] * liquid0[i].transpose(1, 2, 0), c[2])
        liquid[liquid < c[3]] = 0
        m = ref.gaussian(np.where(liquid > c[3], 1.0, 0.0), c[4])
        m[m < 0.8] = 0
        color = np.array([63, 42, 20]) / 255.0 * m
        want.append(np.clip(xi * (1 - m) + color, 0, 1))
    assert_same(corrupt(x, "spatter", s, gen()), want, 1e-6)
