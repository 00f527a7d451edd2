"""Compiled water branch of spatter (see ``_jit``): ``spatter.canny`` then ``spatter.distance_to``,
and the shading after the first box blur (``equalize_hist``, emboss, box blur, times the liquid,
scaled by its maximum), one image at a time, the same numbers (tested equal on every pixel).

Every step here is exact in integers, or one rounding of exact integers: Canny and the distance
transform (as OpenCV's integer code), the histogram equalization (its float32 LUT as
``equalize_hist`` computes it), the emboss of integer levels by an integer kernel, the second box
blur, whose rounded mean of 9 integer levels is never within 1/18 of a half (k/9 is never
m + ½, far beyond float32's error on the torch path's convolution), and the division by the
largest product. The first box blur, of square roots, is order-dependent under its floor and
stays on the torch path."""
from __future__ import annotations

import numpy as np
import torch

from ._buffers import new_buffer
from ._jit import jit as _jit


@_jit
def _canny(img, low, high, pad, mag, code, stack):
    """``cv2.Canny`` (aperture 3, L1 magnitude) of one H×W image of levels, as ``spatter.canny``:
    Sobel with replicated borders, non-maximum suppression by OpenCV's fixed-point tan 22.5°
    tests (ay·2^15 < ax·13573 horizontal, ay·2^15 > ax·(2^16 + 13573) vertical; >= on the far
    side along the axes as OpenCV), magnitudes outside the image 0; hysteresis: the maxima
    8-connected to one above ``high``, by a flood fill. Scratch, flat (H+2)·(W+2) with row stride
    W + 2 (a ring around the image): pad, mag int32; code uint8 (out: 2 on edges, 0 on the ring);
    stack int64 of H·W. The loops read rows as slices indexed from 1, which numba compiles
    without its negative-index test, and choose among loaded values without branching: both
    vectorize (measured 5× faster than one branchy pass at 32 px)."""
    h, w = img.shape
    s = w + 2
    for y in range(h + 2):
        row, pr = img[min(max(y - 1, 0), h - 1)], pad[y * s:(y + 1) * s]
        for x in range(w):
            pr[x + 1] = np.int32(row[x])
        pr[0], pr[w + 1] = pr[1], pr[w]
    mag[:s] = 0
    mag[(h + 1) * s:] = 0
    code[:s] = 0
    code[(h + 1) * s:] = 0
    for y in range(1, h + 1):
        u, m, d = pad[(y - 1) * s:y * s], pad[y * s:(y + 1) * s], pad[(y + 1) * s:(y + 2) * s]
        o = mag[y * s:(y + 1) * s]
        o[0], o[w + 1] = 0, 0
        for x in range(1, w + 1):
            dx = (u[x + 1] - u[x - 1]) + 2 * (m[x + 1] - m[x - 1]) + (d[x + 1] - d[x - 1])
            dy = (d[x - 1] - u[x - 1]) + 2 * (d[x] - u[x]) + (d[x + 1] - u[x + 1])
            o[x] = abs(dx) + abs(dy)
    for y in range(1, h + 1):  # the gradients again (cheaper than storing and reading them)
        u, m, d = pad[(y - 1) * s:y * s], pad[y * s:(y + 1) * s], pad[(y + 1) * s:(y + 2) * s]
        mu, mm, md = mag[(y - 1) * s:y * s], mag[y * s:(y + 1) * s], mag[(y + 1) * s:(y + 2) * s]
        cr = code[y * s:(y + 1) * s]
        cr[0], cr[w + 1] = 0, 0
        for x in range(1, w + 1):
            dx = (u[x + 1] - u[x - 1]) + 2 * (m[x + 1] - m[x - 1]) + (d[x + 1] - d[x - 1])
            dy = (d[x - 1] - u[x - 1]) + 2 * (d[x] - u[x]) + (d[x + 1] - u[x + 1])
            c, ax, ay = mm[x], abs(dx), abs(dy)
            horiz = ay * 32768 < ax * 13573
            vert = ay * 32768 > ax * (65536 + 13573)
            same = (dx ^ dy) >= 0
            ul, ur, dl, dr = mu[x - 1], mu[x + 1], md[x - 1], md[x + 1]
            n1 = mm[x - 1] if horiz else (mu[x] if vert else (ul if same else ur))
            n2 = mm[x + 1] if horiz else (md[x] if vert else (dr if same else dl))
            keep = (c > low) & (c > n1) & ((c > n2) | ((c == n2) & (horiz | vert)))
            cr[x] = np.uint8(keep) + np.uint8(keep & (c > high))  # a maximum 1, an edge 2
    top = 0
    for p in range(s, (h + 1) * s):
        stack[top] = p
        top += code[p] == 2
    while top:
        top -= 1
        p = stack[top]
        for q in (p - s - 1, p - s, p - s + 1, p - 1, p + 1, p + s - 1, p + s, p + s + 1):
            if code[q] == 1:
                code[q] = 2
                stack[top] = q
                top += 1


@_jit
def _distance(code, h, w, ci, cap2, g2, d2, last, out):
    """``spatter.distance_to`` of the edges (code == 2) of ``_canny`` into out (H×W float32):
    the exact squared distance, capped at cap2, square root in float32. Any exact minimum gives
    the same integers, so the two passes run in the order that vectorizes along rows: the
    distance to the nearest edge in the same column, capped at ci (running down, then up, a
    whole row at a time), then d² = min over |dx| <= r = min(W − 1, ci) of dx² + g(x + dx)²
    (a capped term is >= ci² >= cap2, so the caps change nothing below cap2). g2 (int32,
    H×(W + 2r)) holds g² with r columns of ci² on either side, so the offsets are plain slices;
    a row stops at the first offset whose dx² reaches its largest d² (every later candidate is
    >= dx²). Scratch: d2, last int32 (W,)."""
    s = w + 2
    r = min(w - 1, ci)
    g2[:, :r] = ci * ci
    g2[:, r + w:] = ci * ci
    last[:] = -ci  # the row of the last edge at or above, per column
    for y in range(h):
        e, gr = code[(y + 1) * s + 1:(y + 1) * s + 1 + w], g2[y, r:r + w]
        for x in range(w):
            last[x] = y if e[x] == 2 else last[x]
            gr[x] = min(y - last[x], ci)
    last[:] = h + ci  # the next at or below
    for y in range(h - 1, -1, -1):
        e, gr = code[(y + 1) * s + 1:(y + 1) * s + 1 + w], g2[y, r:r + w]
        for x in range(w):
            last[x] = y if e[x] == 2 else last[x]
            g = min(gr[x], last[x] - y)
            gr[x] = g * g
    for y in range(h):
        gy = g2[y]
        d2[:] = gy[r:r + w]
        top = d2.max()
        for dx in range(1, r + 1):
            if dx * dx >= top:
                break
            a, b, dd = gy[r - dx:r - dx + w], gy[r + dx:r + dx + w], dx * dx
            top = 0
            for x in range(w):
                v = min(d2[x], min(a[x], b[x]) + dd)
                d2[x] = v
                top = max(top, v)
        o = out[y]
        for x in range(w):
            o[x] = np.sqrt(np.float32(min(np.float32(d2[x]), cap2)))


@_jit
def _edge_distance(img, cap, out):
    n, _, h, w = img.shape
    ci = np.int64(np.ceil(cap))
    cap2 = np.float32(cap * cap) if ci != cap else np.float32(ci * ci)
    flat = (h + 2) * (w + 2)
    pad, mag = np.empty(flat, np.int32), np.empty(flat, np.int32)
    code = np.empty(flat, np.uint8)
    stack = np.empty(h * w, np.int64)
    g2 = np.empty((h, w + 2 * min(w - 1, ci)), np.int32)
    d2, last = np.empty(w, np.int32), np.empty(w, np.int32)
    for i in range(n):
        _canny(img[i, 0], 50, 150, pad, mag, code, stack)
        _distance(code, h, w, ci, cap2, g2, d2, last, out[i, 0])


def edge_distance(liquid_u8: torch.Tensor, cap: float) -> torch.Tensor:
    """``distance_to(canny(liquid_u8), cap)`` (N×1×H×W levels 0..255) by the compiled kernels."""
    img = liquid_u8.detach().to(torch.float32).contiguous()
    out = new_buffer(img.shape, img)
    _edge_distance(img.numpy(), float(cap), out.numpy())
    return out


@_jit
def _reflect_ring(a, h, w):
    """Fill the 1-px ring of a flat (H+2)·(W+2) image by BORDER_REFLECT_101 (``_filters.fold``;
    one row or column reflects onto itself)."""
    s = w + 2
    for y in range(1, h + 1):
        r = a[y * s:(y + 1) * s]
        r[0], r[w + 1] = r[2 if w > 1 else 1], r[w - 1 if w > 1 else w]
    a[:s] = a[(2 if h > 1 else 1) * s:(3 if h > 1 else 2) * s]
    a[(h + 1) * s:] = a[(h - 1 if h > 1 else h) * s:(h if h > 1 else h + 1) * s]


@_jit
def _shade(dist, liquid, out):
    """``water_mask`` after its first blur: for each image of dist (N×1×H×W levels 0..255 of the
    floored box-blurred distances), ``equalize_hist`` (histogram, first non-empty level, the
    float32 LUT round((cumsum − h_first)·((1 / max(H·W − h_first, 1))·255)) clamped, rounding half
    to even as torch.round; the identity for one level), the emboss kernel [[−2, −1, 0],
    [−1, 1, 1], [0, 1, 2]] clamped to 0..255, the 3×3 box mean rounded ((S + 4) // 9 of the
    integer sum S), borders BORDER_REFLECT_101, times the liquid levels, divided by the image's
    largest product (in out's dtype; an all-zero image stays 0). Images are flat with a 1-px
    ring (row stride W + 2) and read as row slices, so the 3×3 windows vectorize."""
    n, _, h, w = dist.shape
    s = w + 2
    hist = np.empty((4, 256), np.int32)  # four partial histograms: no chain of increments of one bin
    lut = np.empty(256, np.int32)
    eq = np.empty((h + 2) * s, np.int32)
    em = np.empty((h + 2) * s, np.int32)
    lv = np.empty(h * w, np.int32)
    f255, total = np.float32(255), np.float32(h * w)
    top = np.empty(1, out.dtype)  # the image's largest product, in out's dtype
    for b in range(n):
        d = dist[b, 0]
        for y in range(h):
            row = d[y]
            for x in range(w):
                # clamped: a level outside 0..255 (none in water_mask) must not index past the LUT
                lv[y * w + x] = min(max(np.int32(row[x]), 0), 255)
        hist[:] = 0
        for i in range(h * w):
            hist[i & 3, lv[i]] += 1
        first = 0
        while hist[0, first] + hist[1, first] + hist[2, first] + hist[3, first] == 0:
            first += 1
        h_first = np.float32(hist[0, first] + hist[1, first] + hist[2, first] + hist[3, first])
        if h_first == total:
            for v in range(256):
                lut[v] = v
        else:
            # Python's 255.0 / tensor is torch's reciprocal(tensor) · 255: two roundings
            scale = np.float32(1) / max(total - h_first, np.float32(1)) * f255
            cum = np.float32(0)
            for v in range(256):
                cum += np.float32(hist[0, v] + hist[1, v] + hist[2, v] + hist[3, v])
                lut[v] = np.int32(min(max(np.rint((cum - h_first) * scale), np.float32(0)), f255))
        for y in range(h):
            er, lr = eq[(y + 1) * s + 1:(y + 2) * s - 1], lv[y * w:(y + 1) * w]
            for x in range(w):
                er[x] = lut[lr[x]]
        _reflect_ring(eq, h, w)
        for y in range(1, h + 1):
            u, m, dn = eq[(y - 1) * s:y * s], eq[y * s:(y + 1) * s], eq[(y + 1) * s:(y + 2) * s]
            er = em[y * s:(y + 1) * s]
            for x in range(1, w + 1):
                v = (m[x] + m[x + 1] + dn[x] - u[x] - m[x - 1]) + 2 * (dn[x + 1] - u[x - 1])
                er[x] = min(max(v, 0), 255)
        _reflect_ring(em, h, w)
        o, liq = out[b, 0], liquid[b, 0]
        best = 0
        for y in range(1, h + 1):
            u, m, dn = em[(y - 1) * s:y * s], em[y * s:(y + 1) * s], em[(y + 1) * s:(y + 2) * s]
            orow, lrow = o[y - 1], liq[y - 1]
            for x in range(1, w + 1):
                sm = (u[x - 1] + u[x] + u[x + 1]) + (m[x - 1] + m[x] + m[x + 1]) + (dn[x - 1] + dn[x] + dn[x + 1])
                # (S + 4) // 9 unsigned: no fix-up of a negative quotient to floor
                v = np.int32(np.uint32(sm + 4) // np.uint32(9)) * np.int32(lrow[x - 1])
                orow[x - 1] = v
                best = max(best, v)
        if best:
            top[0] = best
            t = top[0]  # a local: a read of top[] in the loop would be redone per pixel
            for y in range(h):
                orow = o[y]
                for x in range(w):
                    orow[x] = orow[x] / t


def water_shading(dist: torch.Tensor, liquid_u8: torch.Tensor) -> torch.Tensor:
    """``spatter.water_shading_torch`` by ``_shade``, in dist's dtype."""
    out = new_buffer(dist.shape, dist)
    liquid = liquid_u8.detach().to(dist.dtype).contiguous()
    _shade(dist.detach().contiguous().numpy(), liquid.numpy(), out.numpy())
    return out
