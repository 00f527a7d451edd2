"""Spatter's water branch: Canny, distance transform and equalizeHist vs loop references."""
from collections import deque

import numpy as np
import pytest
import torch

from nnsafety.corruptions import CORRUPTIONS, corrupt
from nnsafety.corruptions.spatter import canny, distance_to, equalize_hist, water_mask


def liquid(n=3, seed=0, sev=3):
    c = CORRUPTIONS.get("spatter").params(sev, "cifar")
    g = torch.Generator().manual_seed(seed)
    from nnsafety.corruptions._filters import gaussian_filter
    layer = gaussian_filter(c[0] + c[1] * torch.randn(n, 1, 32, 32, generator=g), c[2])
    layer = torch.where(layer < c[3], torch.zeros_like(layer), layer)
    return torch.floor(layer * 255).clamp(0, 255)


def canny_loop(img, low=50, high=150):
    """OpenCV's Canny written pixel by pixel (Sobel replicate, L1, NMS, BFS hysteresis)."""
    h, w = img.shape
    p = np.pad(img, 1, mode="edge")
    gx = np.zeros((h, w)); gy = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            win = p[i:i + 3, j:j + 3]
            gx[i, j] = (win[:, 2] - win[:, 0]) @ [1, 2, 1]
            gy[i, j] = (win[2, :] - win[0, :]) @ [1, 2, 1]
    mag = np.abs(gx) + np.abs(gy)
    m = np.pad(mag, 1)
    keep = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            v, ax, ay = mag[i, j], abs(gx[i, j]), abs(gy[i, j])
            if v <= low:
                continue
            I, J = i + 1, j + 1
            if ay < ax * 13573 / 32768:
                keep[i, j] = v > m[I, J - 1] and v >= m[I, J + 1]
            elif ay > ax * (13573 / 32768 + 2):
                keep[i, j] = v > m[I - 1, J] and v >= m[I + 1, J]
            else:
                s = -1 if gx[i, j] * gy[i, j] < 0 else 1
                keep[i, j] = v > m[I - 1, J - s] and v > m[I + 1, J + s]
    edges = keep & (mag > high)
    queue = deque(zip(*np.nonzero(edges)))
    while queue:
        i, j = queue.popleft()
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                a, b = i + di, j + dj
                if 0 <= a < h and 0 <= b < w and keep[a, b] and not edges[a, b]:
                    edges[a, b] = True
                    queue.append((a, b))
    return edges


def test_canny_matches_loop_reference():
    img = liquid(3)
    img[1, 0, 5:20, 8:9] = 120  # a weak ridge connected to strong edges
    got = canny(img)
    for i in range(img.shape[0]):
        assert np.array_equal(got[i, 0].numpy(), canny_loop(img[i, 0].numpy()))
    assert got.sum() > 0


def test_distance_transform_brute_force():
    edges = torch.rand(2, 1, 20, 24, generator=torch.Generator().manual_seed(0)) > 0.97
    got = distance_to(edges, 20.0)
    for i in range(2):
        pts = np.argwhere(edges[i, 0].numpy())
        yy, xx = np.mgrid[:20, :24]
        d = np.sqrt(((yy[..., None] - pts[:, 0]) ** 2 + (xx[..., None] - pts[:, 1]) ** 2).min(-1))
        assert np.allclose(got[i, 0].numpy(), np.minimum(d, 20), atol=1e-5)
    assert torch.all(distance_to(torch.zeros(1, 1, 8, 8, dtype=torch.bool), 20.0) == 20)


def test_equalize_hist_formula():
    img = torch.randint(3, 21, (2, 1, 16, 16), generator=torch.Generator().manual_seed(0)).float()
    got = equalize_hist(img)
    for i in range(2):
        v = img[i, 0].numpy().astype(int).ravel()
        hist = np.bincount(v, minlength=256)
        first = np.nonzero(hist)[0][0]
        scale = 255.0 / (v.size - hist[first])
        lut = np.round((np.cumsum(hist) - hist[first]) * scale).clip(0, 255)
        assert np.array_equal(got[i, 0].numpy().ravel(), lut[v])


def test_water_branch_composition():
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.5
    out = corrupt(x, "spatter", 3, torch.Generator().manual_seed(4))
    c = CORRUPTIONS.get("spatter").params(3, "cifar")
    m = water_mask(liquid(3, 4)) * c[4]
    want = (x + m * torch.tensor([175, 238, 238]).view(1, 3, 1, 1) / 255).clamp(0, 1)
    assert torch.allclose(out, want, atol=1e-6)
    assert (out - x).abs().sum() > 0 and m.max() == pytest.approx(c[4])
