"""Compiled edge distance of spatter's water branch (see ``_jit``): ``spatter.canny`` then
``spatter.distance_to``, one image at a time, the same integers (tested equal on every pixel)."""
from __future__ import annotations

import numpy as np
import torch

from ._jit import jit as _jit


@_jit
def _canny(img, low, high, pad, mag, edges, stack):
    """``cv2.Canny`` (aperture 3, L1 magnitude) of one H×W image of levels (float32) into edges
    (uint8 0/1), as ``spatter.canny``: Sobel with replicated borders, non-maximum suppression by
    OpenCV's fixed-point tan 22.5° tests (ay·2^15 < ax·13573 horizontal, ay·2^15 > ax·(2^16 +
    13573) vertical), magnitudes outside the image 0; hysteresis: the maxima 8-connected to one
    above ``high``, by a flood fill. Scratch: pad (H+2)×(W+2) float32 (the image, edges
    replicated), mag (H+2)×(W+2) float32 (zero ring), stack H·W int64."""
    h, w = img.shape
    pad[1:h + 1, 1:w + 1] = img
    pad[0, 1:w + 1], pad[h + 1, 1:w + 1] = img[0], img[h - 1]
    pad[:, 0], pad[:, w + 1] = pad[:, 1], pad[:, w]
    mag[0, :], mag[h + 1, :], mag[:, 0], mag[:, w + 1] = 0, 0, 0, 0
    for y in range(h):  # branch-free: vectorized along the row (Sobel sums are exact in float32)
        up, mid, dn, m = pad[y], pad[y + 1], pad[y + 2], mag[y + 1]
        for x in range(w):
            gx = (up[x + 2] - up[x]) + 2 * (mid[x + 2] - mid[x]) + (dn[x + 2] - dn[x])
            gy = (dn[x] - up[x]) + 2 * (dn[x + 1] - up[x + 1]) + (dn[x + 2] - up[x + 2])
            m[x + 1] = abs(gx) + abs(gy)
    top = 0
    for y in range(h):
        up, mid, dn = pad[y], pad[y + 1], pad[y + 2]
        for x in range(w):
            c = mag[y + 1, x + 1]
            edges[y, x] = 0
            if c <= low:
                continue
            gx = np.int64((up[x + 2] - up[x]) + 2 * (mid[x + 2] - mid[x]) + (dn[x + 2] - dn[x]))
            gy = np.int64((dn[x] - up[x]) + 2 * (dn[x + 1] - up[x + 1]) + (dn[x + 2] - up[x + 2]))
            ax, ay = abs(gx), abs(gy)
            if ay * 32768 < ax * 13573:
                keep = c > mag[y + 1, x] and c >= mag[y + 1, x + 2]
            elif ay * 32768 > ax * (65536 + 13573):
                keep = c > mag[y, x + 1] and c >= mag[y + 2, x + 1]
            elif (gx ^ gy) >= 0:
                keep = c > mag[y, x] and c > mag[y + 2, x + 2]
            else:
                keep = c > mag[y, x + 2] and c > mag[y + 2, x]
            if keep:
                edges[y, x] = 1  # a maximum; 2 once it is an edge
                if c > high:
                    edges[y, x] = 2
                    stack[top] = y * w + x
                    top += 1
    while top:
        top -= 1
        y, x = divmod(stack[top], w)
        for yy in range(max(y - 1, 0), min(y + 2, h)):
            for xx in range(max(x - 1, 0), min(x + 2, w)):
                if edges[yy, xx] == 1:
                    edges[yy, xx] = 2
                    stack[top] = yy * w + xx
                    top += 1
    for y in range(h):
        for x in range(w):
            edges[y, x] = edges[y, x] >> 1


@_jit
def _distance(edges, ci, cap2, g2, out):
    """``spatter.distance_to``: the distance to the nearest edge in the same row, capped at ci,
    then d² = min over |dy| <= min(H − 1, ci) of dy² + g(y + dy)², capped at cap2, square root in
    float32 into out. g2 holds g² with r = min(H − 1, ci) rows of ci² above and below, so the
    offsets are plain rows; a row stops at the first odd offset whose dy² reaches its largest d²
    (every later candidate is >= dy²: exact)."""
    h, w = edges.shape
    r = min(h - 1, ci)
    g2[:r, :] = ci * ci
    g2[r + h:, :] = ci * ci
    for y in range(h):
        gy, e = g2[r + y], edges[y]
        last = -ci
        for x in range(w):  # distance to the last edge at or before x
            if e[x]:
                last = x
            gy[x] = min(x - last, ci)
        nxt = w + ci
        for x in range(w - 1, -1, -1):  # and to the next one at or after x
            if e[x]:
                nxt = x
            g = min(gy[x], nxt - x)
            gy[x] = g * g
    d2 = np.empty(w, np.int64)
    for y in range(h):
        d2[:] = g2[r + y]
        for dy in range(1, r + 1):
            if dy % 2 == 1 and dy * dy >= d2.max():
                break
            a, b = g2[r + y - dy], g2[r + y + dy]
            for x in range(w):
                d2[x] = min(d2[x], min(a[x], b[x]) + dy * dy)
        o = out[y]
        for x in range(w):
            o[x] = np.sqrt(np.float32(min(np.float32(d2[x]), cap2)))


@_jit
def _edge_distance(img, cap, out):
    n, _, h, w = img.shape
    ci = np.int64(np.ceil(cap))
    cap2 = np.float32(cap * cap) if ci != cap else np.float32(ci * ci)
    pad = np.empty((h + 2, w + 2), np.float32)
    mag = np.empty((h + 2, w + 2), np.float32)
    edges = np.empty((h, w), np.uint8)
    stack = np.empty(h * w, np.int64)
    g2 = np.empty((h + 2 * min(h - 1, ci), w), np.int64)
    for i in range(n):
        _canny(img[i, 0], 50, 150, pad, mag, edges, stack)
        _distance(edges, ci, cap2, g2, out[i, 0])


def edge_distance(liquid_u8: torch.Tensor, cap: float) -> torch.Tensor:
    """``distance_to(canny(liquid_u8), cap)`` (N×1×H×W levels 0..255) by the compiled kernels."""
    img = liquid_u8.detach().to(torch.float32).contiguous()
    out = torch.empty(img.shape, dtype=torch.float32)
    _edge_distance(img.numpy(), float(cap), out.numpy())
    return out
