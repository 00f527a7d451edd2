"""Slow, obvious per-image NumPy references following the original make_cifar_c.py code.

github.com/hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py (and imagecorruptions for
ImageMagick's motion blur). SciPy/OpenCV are not installed here, so their few calls are written
out: scipy.ndimage filters with explicit padding, zoom(order=1) with corner-aligned np.interp.
Images are H×W×C float64 in [0, 1].
"""
import math

import numpy as np


def pad_mode(mode):
    return {"nearest": "edge", "reflect101": "reflect", "reflect": "symmetric"}[mode]


def gaussian1d(a, sigma, axis, mode="nearest", truncate=4.0):
    if sigma <= 0:
        return a
    r = int(truncate * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    a = np.moveaxis(a, axis, -1)
    width = [(0, 0)] * (a.ndim - 1) + [(r, r)]
    p = np.pad(a, width, mode=pad_mode(mode))
    out = np.zeros_like(a)
    for i in range(2 * r + 1):
        out += k[i] * p[..., i:i + a.shape[-1]]
    return np.moveaxis(out, -1, axis)


def gaussian(img, sigma, mode="nearest", truncate=4.0):
    """skimage.filters.gaussian over the two spatial axes (channels untouched)."""
    return gaussian1d(gaussian1d(img, sigma, 0, mode, truncate), sigma, 1, mode, truncate)


def correlate(img, kernel, mode="reflect101"):
    """cv2.filter2D per channel, by explicit loops over kernel taps."""
    kh, kw = kernel.shape
    p = np.pad(img, ((kh // 2,) * 2, (kw // 2,) * 2, (0, 0)), mode=pad_mode(mode))
    out = np.zeros_like(img)
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * p[i:i + img.shape[0], j:j + img.shape[1]]
    return out


def disk(radius, alias_blur):
    L = np.arange(-8, 8 + 1) if radius <= 8 else np.arange(-radius, radius + 1)
    ksize = 3 if radius <= 8 else 5
    X, Y = np.meshgrid(L, L)
    d = np.array((X ** 2 + Y ** 2) <= radius ** 2, dtype=np.float32)
    d /= np.sum(d)
    t = np.arange(ksize) - (ksize - 1) / 2
    g = np.exp(-t ** 2 / (2 * alias_blur ** 2))
    g /= g.sum()
    return correlate(d[..., None].astype(np.float64), np.outer(g, g))[..., 0]


def zoom_axis(a, z, axis):
    """clipped_zoom along one axis: centre crop ceil(n/z), scipy zoom(order=1), centre trim."""
    n = a.shape[axis]
    ch = int(np.ceil(n / z))
    top = (n - ch) // 2
    a = np.take(a, np.arange(top, top + ch), axis=axis)
    out_len = int(round(ch * z))
    coords = np.arange(out_len) * ((ch - 1) / (out_len - 1))  # scipy: index × precomputed ratio
    trim = (out_len - n) // 2
    coords = coords[trim:trim + n]
    a = np.moveaxis(a, axis, -1)
    flat = a.reshape(-1, ch)
    res = np.stack([np.interp(coords, np.arange(ch), row) for row in flat])
    return np.moveaxis(res.reshape(*a.shape[:-1], n), -1, axis)


def clipped_zoom(img, z):
    return zoom_axis(zoom_axis(img, z, 0), z, 1)


def motion_blur(img, radius, sigma, angle):
    """imagecorruptions' _motion_blur (the ImageMagick kernel) with np.roll shifts."""
    width = radius * 2 + 1
    k = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
    k /= k.sum()
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hypot = math.hypot(*point)
    out = np.zeros_like(img)
    for i in range(width):
        dy = -math.ceil(((i * point[0]) / hypot) - 0.5)
        dx = -math.ceil(((i * point[1]) / hypot) - 0.5)
        out += k[i] * shift(img, dx, dy)
    return out


def shift(image, dx, dy):
    if dx < 0:
        s = np.roll(image, shift=image.shape[1] + dx, axis=1)
        s[:, dx:] = s[:, dx - 1:dx]
    elif dx > 0:
        s = np.roll(image, shift=dx, axis=1)
        s[:, :dx] = s[:, dx:dx + 1]
    else:
        s = image.copy()
    if dy < 0:
        s = np.roll(s, shift=image.shape[0] + dy, axis=0)
        s[dy:, :] = s[dy - 1:dy, :]
    elif dy > 0:
        s = np.roll(s, shift=dy, axis=0)
        s[:dy, :] = s[dy:dy + 1, :]
    return s


def plasma_fractal(mapsize, wibbledecay, uniforms):
    """make_cifar_c.py's plasma_fractal, taking its U(-1, 1)·... draws from the iterator given."""
    maparray = np.zeros((mapsize, mapsize))
    stepsize, wibble = mapsize, 100.0

    def wibbledmean(array):
        u = next(uniforms).reshape(array.shape)
        return array / 4 + wibble * (-wibble + 2 * wibble * u)

    while stepsize >= 2:
        cornerref = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
        squareaccum += np.roll(squareaccum, shift=-1, axis=1)
        maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(squareaccum)
        drgrid = maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize]
        ulgrid = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        ltsum = drgrid + np.roll(drgrid, 1, axis=0) + ulgrid + np.roll(ulgrid, -1, axis=1)
        maparray[0:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(ltsum)
        ttsum = drgrid + np.roll(drgrid, 1, axis=1) + ulgrid + np.roll(ulgrid, -1, axis=0)
        maparray[stepsize // 2:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(ttsum)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


def rgb2hsv(rgb):
    """skimage.color.rgb2hsv, pixel by pixel."""
    out = np.zeros_like(rgb)
    for i in range(rgb.shape[0]):
        for j in range(rgb.shape[1]):
            r, g, b = rgb[i, j]
            v, mn = max(r, g, b), min(r, g, b)
            delta = v - mn
            s = 0.0 if delta == 0 else delta / v
            if delta == 0:
                h = 0.0
            elif r == v:
                h = ((g - b) / delta) / 6
            elif g == v:
                h = (2 + (b - r) / delta) / 6
            else:
                h = (4 + (r - g) / delta) / 6
            out[i, j] = (h % 1.0, s, v)
    return out


def hsv2rgb(hsv):
    out = np.zeros_like(hsv)
    for i in range(hsv.shape[0]):
        for j in range(hsv.shape[1]):
            h, s, v = hsv[i, j]
            hi = int(h * 6) % 6
            f = h * 6 - int(h * 6)
            p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
            out[i, j] = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][hi]
    return out


def fold(i, n, mode):
    """Integer indices folded into [0, n) by OpenCV's reflect-101 or SciPy's reflect rule."""
    if mode == "reflect101":
        period = 2 * (n - 1)
        i = np.abs(i) % period
        return np.where(i >= n, period - i, i)
    i = i % (2 * n)
    return np.where(i >= n, 2 * n - 1 - i, i)


def bilinear(img, yy, xx, mode):
    """Sample img (H×W×C) at float coordinates with the border rule of scipy/OpenCV: the four
    neighbours of floor(y), floor(x), weighted by the fractional parts."""
    h, w = img.shape[:2]
    y0, x0 = np.floor(yy).astype(int), np.floor(xx).astype(int)
    fy, fx = (yy - y0)[..., None], (xx - x0)[..., None]
    out = np.zeros(yy.shape + img.shape[2:])
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            out += wy * wx * img[fold(y0 + dy, h, mode), fold(x0 + dx, w, mode)]
    return out
