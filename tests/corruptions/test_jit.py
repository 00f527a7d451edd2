"""The compiled kernels (``_jit``, numba: the optional extra ``fast``) against the torch path they
replace on CPU: equal on every pixel of real photos at 32 and 224 px, every severity, RGB and grey,
odd sizes and synthetic extremes (JPEG, pixelate), on spatter's own drop layers (the water
branch's Canny + distance) and on fog's and frost's plasma fractal; and without numba the torch
path runs and says so once."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from nnsafety.corruptions import CORRUPTIONS, _filters, _jit, corrupt
from nnsafety.corruptions.digital import _pixelate_torch
from nnsafety.corruptions.jpeg import jpeg_roundtrip, jpeg_roundtrip_torch
from nnsafety.corruptions.spatter import _zero_below, canny, distance_to, edge_distance, water_shading_torch
from nnsafety.corruptions.textures import frost_texture, plasma_fractal

from ._photos import photos_u8

pytest.importorskip("numba", reason="the optional extra 'fast' (numba) is not installed; make install installs it")


def as_tensor(u8, dtype=torch.float32):
    t = torch.from_numpy(u8).to(dtype) / 255
    return t.unsqueeze(1) if t.dim() == 3 else t.permute(0, 3, 1, 2)


def _batches():
    """(name, batch) pairs: photos at 32 px (5) and 224 px (3), RGB and grey, a crop whose sides
    are not multiples of the MCU, and images no camera makes (noise, a 0/255 checkerboard)."""
    rng = np.random.default_rng(0)
    yy, xx = np.indices((33, 47))
    board = (((yy + xx) % 2) * 255).astype(np.uint8)
    extremes = np.stack([rng.integers(0, 256, (33, 47, 3), dtype=np.uint8),
                         np.stack([board, 255 - board, board], -1)])
    for size, n in ((32, 5), (224, 3)):
        u8 = photos_u8(size, n)
        yield f"{size}px", as_tensor(u8)
        yield f"{size}px grey", as_tensor(u8[..., 0])
    yield "odd crop", as_tensor(photos_u8(224, 1)[:, 5:42, 7:60])
    yield "extremes", as_tensor(extremes)
    yield "extremes grey", as_tensor(extremes[..., 1])


@pytest.mark.parametrize("name,x", list(_batches()), ids=lambda v: v if isinstance(v, str) else "")
def test_compiled_jpeg_equals_torch_path(name, x):
    spec = CORRUPTIONS.get("jpeg_compression")
    qualities = {spec.params(s, r)[0] for s in range(1, 6) for r in ("cifar", "imagenet")} | {1, 100}
    for q in sorted(qualities):
        got, want = jpeg_roundtrip(x, q), jpeg_roundtrip_torch(x, q)
        assert got.dtype == want.dtype and torch.equal(got, want), (name, q, (got - want).abs().max())


@pytest.mark.parametrize("name,x", list(_batches()), ids=lambda v: v if isinstance(v, str) else "")
def test_compiled_pixelate_equals_torch_path(name, x):
    spec = CORRUPTIONS.get("pixelate")
    # both tables, plus a side kept (1.0: Pillow copies it) and windows wider than 9 px (0.05)
    factors = {spec.params(s, r)[0] for s in range(1, 6) for r in ("cifar", "imagenet")} | {1.0, 0.05}
    h, w = x.shape[-2:]
    for c in sorted(factors):
        got = spec.fn(x, (c,), None)
        want = _pixelate_torch(x, max(1, int(h * c)), max(1, int(w * c)))
        assert got.dtype == want.dtype and torch.equal(got, want), (name, c, (got - want).abs().max())


@pytest.mark.parametrize("stream_bytes", [0, 1 << 62], ids=["streamed", "plain"])
def test_compiled_pixelate_streamed_and_plain_stores_equal_torch_path(stream_bytes, monkeypatch):
    """Batches from ``_STREAM_BYTES`` on are written by non-temporal stores (rows of 16k floats),
    smaller ones and other widths by plain stores: both on every batch (the photos are below the
    threshold), the same pixels; window sums in int16 and, for windows of > 128 pixels, int32."""
    from nnsafety.corruptions import _jit_box
    monkeypatch.setattr(_jit_box, "_STREAM_BYTES", stream_bytes)
    spec = CORRUPTIONS.get("pixelate")
    for name, x in _batches():
        h, w = x.shape[-2:]
        for c in (0.95, 0.4, 1.0, 0.004):  # 0.004: a 224-px window (int32 sums), else int16
            got = spec.fn(x, (c,), None)
            assert torch.equal(got, _pixelate_torch(x, max(1, int(h * c)), max(1, int(w * c)))), (name, c)


def test_compiled_pixelate_levels_of_any_float_equal_torch_path():
    """Inputs between the 8-bit levels: round(x·255) half to even, as torch rounds, on exact ties
    ((k + ½)/255, whose x·255 in float32 is k + ½: even k stays, odd k goes up), their float32
    neighbours and uniform floats; factor 1.0 keeps both sides, so the output is the level itself."""
    k = torch.arange(255, dtype=torch.float64)
    ties = ((k + 0.5) / 255).float()
    assert torch.equal(ties * 255, (k + 0.5).float())
    vals = torch.cat([ties, torch.nextafter(ties, torch.zeros(())), torch.nextafter(ties, torch.ones(())),
                      torch.rand(3 * 224 * 224 - 3 * 255, generator=torch.Generator().manual_seed(0))])
    spec = CORRUPTIONS.get("pixelate")
    for size in (32, 224):
        x = vals[:2 * 3 * size * size].view(-1, 3, size, size) if size == 32 else vals.view(1, 3, 224, 224)
        for c in (1.0, 0.85, 0.4):
            sh = max(1, int(size * c))
            got, want = spec.fn(x, (c,), None), _pixelate_torch(x, sh, sh)
            assert torch.equal(got, want), (size, c)
    levels = torch.round(spec.fn(ties.view(1, 1, 15, 17), (1.0,), None) * 255).view(-1)
    assert torch.equal(levels, k.float() + (k % 2 == 1).float())  # half to even: 0.5 -> 0, 1.5 -> 2


def test_compiled_pixelate_float64_input():
    x = as_tensor(photos_u8(32, 3), torch.float64)
    for c in (0.6, 0.95):
        assert torch.equal(CORRUPTIONS.get("pixelate").fn(x, (c,), None), _pixelate_torch(x, int(32 * c), int(32 * c)))


@pytest.mark.parametrize("size,regime,n", [(32, "cifar", 8), (224, "imagenet", 2), (37, "cifar", 3)])
def test_compiled_edge_distance_equals_torch_path(size, regime, n):
    """The water branch's drop layers as ``spatter`` makes them (every water severity), and
    random levels (edges everywhere) with caps below the image size and fractional."""
    spec = CORRUPTIONS.get("spatter")
    for sev in range(1, 6):
        c = spec.params(sev, regime)
        if c[5]:
            continue
        g = torch.Generator().manual_seed(sev)
        layer = _filters.gaussian_filter(c[0] + c[1] * torch.randn(n, 1, size, size, generator=g), c[2])
        u8 = torch.floor(_zero_below(layer, c[3]) * 255).clamp(0, 255)
        assert canny(u8).any() and torch.equal(edge_distance(u8, 20.0), distance_to(canny(u8), 20.0)), sev
    u8 = torch.randint(0, 256, (2, 1, size, size + 3), generator=torch.Generator().manual_seed(0)).float()
    for cap in (20.0, 3.5, 1.0):
        assert torch.equal(edge_distance(u8, cap), distance_to(canny(u8), cap)), cap


@pytest.mark.parametrize("shape", [(2, 1, 1, 7), (2, 1, 7, 1), (2, 1, 2, 2), (1, 1, 1, 1), (2, 1, 3, 40), (2, 1, 40, 3)])
def test_compiled_edge_distance_equals_torch_path_on_thin_images(shape):
    """Sides of 1–3 px: the replicated and zero borders of Canny, offsets capped by the side."""
    u8 = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(0)).float()
    for cap in (20.0, 3.5, 1.0):
        assert torch.equal(edge_distance(u8, cap), distance_to(canny(u8), cap)), cap


def _shading_cases(dtype):
    """(name, floored blurred distances, liquid levels): spatter's own water layers, random levels
    in few and many bins, sides of 1 and 2 px, one level per image, no liquid, and LUT ties."""
    spec, gen = CORRUPTIONS.get("spatter"), torch.Generator().manual_seed(0)
    for size, regime, n in ((32, "cifar", 8), (224, "imagenet", 2), (37, "cifar", 3)):
        for sev in range(1, 6):
            c = spec.params(sev, regime)
            if c[5] == 0:
                layer = _filters.gaussian_filter(c[0] + c[1] * torch.randn(n, 1, size, size + 3, generator=gen), c[2])
                u8 = torch.floor(_zero_below(layer, c[3]) * 255).clamp(0, 255).to(dtype)
                yield f"{regime} {sev}", torch.floor(_filters.box_filter3(edge_distance(u8, 20.0).to(dtype))), u8
    for shape, top in (((6, 1, 16, 16), 5), ((4, 1, 20, 30), 256), ((3, 1, 1, 9), 4), ((3, 1, 9, 1), 4),
                       ((2, 1, 2, 2), 3), ((2, 1, 1, 1), 9)):
        yield f"random {shape}", torch.randint(0, top, shape, generator=gen).to(dtype), \
            torch.randint(0, 256, shape, generator=gen).to(dtype)
    yield "one level", torch.full((2, 1, 8, 8), 3.0, dtype=dtype), torch.full((2, 1, 8, 8), 200.0, dtype=dtype)
    yield "no liquid", torch.randint(0, 9, (2, 1, 8, 8), generator=gen).to(dtype), torch.zeros(2, 1, 8, 8, dtype=dtype)
    # 524 px at level 0, then counts of 50, 100, ...: (cumsum − 524)·scale at 350·0.51 = 178.5 in
    # exact arithmetic; torch's scale (1/500)·255 rounds it to 179, a scale of 255/500 to 178
    levels = torch.repeat_interleave(torch.arange(7.0), torch.tensor([524, 50, 100, 100, 100, 100, 50]))
    tie = levels[torch.randperm(1024, generator=gen)].view(1, 1, 32, 32).to(dtype)
    yield "LUT ties", tie, torch.full_like(tie, 255.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_water_shading_equals_torch_path(dtype):
    """Spatter's shading after its first blur (equalizeHist, emboss, box blur, times the liquid,
    scaled by the maximum): the compiled kernel equals the torch path on every pixel."""
    from nnsafety.corruptions import _jit_spatter  # compiles at import: only once numba is known there
    for name, dist, liquid in _shading_cases(dtype):
        got, want = _jit_spatter.water_shading(dist, liquid), water_shading_torch(dist, liquid)
        assert got.dtype == want.dtype and torch.equal(got, want), name


@pytest.mark.parametrize("n,size,decay", [(3, 32, 2.0), (2, 256, 2.0), (4, 64, 1.75), (1, 2, 3.0)])
def test_compiled_plasma_equals_torch_path(n, size, decay, monkeypatch):
    """Fog's and frost's plasma fractal: the compiled levels give the same maps from the same draws."""
    x = torch.zeros(1, 3, 8, 8)
    got = plasma_fractal(n, size, decay, torch.Generator().manual_seed(n), x)
    monkeypatch.setenv("NNSAFETY_JIT", "0")
    assert torch.equal(got, plasma_fractal(n, size, decay, torch.Generator().manual_seed(n), x))


def test_plasma_out_larger_than_the_map_is_refused():
    """The compiled scaling reads the top-left h×w of each map: a larger ``out`` would read past it."""
    with pytest.raises(ValueError, match=r"expected out of shape 2×h×w with h, w <= 32, got \(2, 33, 8\)"):
        plasma_fractal(2, 32, 2.0, None, torch.zeros(1), out=torch.zeros(2, 33, 8))


@pytest.mark.parametrize("name", ["frost", "fog"])
@pytest.mark.parametrize("shape,dtype", [((6, 3, 32, 32), torch.float32), ((2, 3, 224, 224), torch.float32),
                                         ((3, 1, 37, 45), torch.float32), ((2, 3, 40, 33), torch.float64)])
def test_compiled_frost_and_fog_equal_torch_path(name, shape, dtype, monkeypatch):
    """Whole corruptions, every severity: frost's needle layer (the compiled one adds each seed
    tap by tap, fma as torch's add_ with alpha) and both plasma crops (scaled, cropped and cast
    in one compiled pass) give the same pixels as the torch path from the same draws."""
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    got = [corrupt(x, name, s, torch.Generator().manual_seed(s)) for s in range(1, 6)]
    monkeypatch.setenv("NNSAFETY_JIT", "0")
    for s in range(1, 6):
        assert torch.equal(got[s - 1], corrupt(x, name, s, torch.Generator().manual_seed(s))), s


def test_compiled_frost_texture_equals_torch_path_with_lines_longer_than_the_image(monkeypatch):
    """6×7 maps: the needles' taps reach 10 px, past every border."""
    like = torch.zeros(4, 3, 6, 7)
    got = frost_texture(4, 3, 6, 7, torch.Generator().manual_seed(0), like)
    monkeypatch.setenv("NNSAFETY_JIT", "0")
    assert torch.equal(got, frost_texture(4, 3, 6, 7, torch.Generator().manual_seed(0), like))


@pytest.mark.parametrize("shape", [(70, 3, 32, 32), (300, 1, 16, 16), (1, 3, 512, 520), (2, 1, 300, 700)])
def test_compiled_jpeg_equals_torch_path_across_groups_and_lane_batches(shape):
    """Batches the kernel splits: several groups of small images with a partial last one (colour,
    grey), and planes of more blocks than one batch of lanes (several runs of bands per plane)."""
    x = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(4)).float() / 255
    assert torch.equal(jpeg_roundtrip(x, 15), jpeg_roundtrip_torch(x, 15))


def test_compiled_jpeg_float64_input():
    x = as_tensor(photos_u8(32, 3), torch.float64)
    assert torch.equal(jpeg_roundtrip(x, 40), jpeg_roundtrip_torch(x, 40))


@pytest.mark.parametrize("jit", ["1", "0"])
@pytest.mark.parametrize("ch", [3, 1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_jpeg_raises_check_images_error_outside_0_1(ch, dtype, jit, monkeypatch):
    """The kernel checks [0, 1] in its one read of x (a float64 batch, whose levels it sees, is
    checked first), the torch path before it starts: one bad value anywhere (the last pixel of a
    size that fills no whole MCU, of the second group of 224-px images, the first pixel, a NaN)
    gives check_images' own message; the bounds themselves (0, -0.0, 1) pass, with the same
    pixels on both paths."""
    from nnsafety._validation import check_images
    monkeypatch.setenv("NNSAFETY_JIT", jit)
    g = torch.Generator().manual_seed(0)
    small, big = torch.rand(3, ch, 37, 41, generator=g), torch.rand(2, ch, 224, 224, generator=g)
    for base, idx, value in ((small, (2, ch - 1, 36, 40), 1.0 + 1e-3), (small, (2, ch - 1, 36, 40), -1e-3),
                             (small, (0, 0, 0, 0), 7.0), (small, (1, 0, 20, 3), float("nan")),
                             (big, (1, ch - 1, 223, 223), 1.0 + 1e-6)):
        x = base.to(dtype, copy=True)
        x[idx] = value
        with pytest.raises(ValueError) as want:
            check_images(x, allow_2d=False)
        with pytest.raises(ValueError) as got:
            jpeg_roundtrip(x, 15)
        assert str(got.value) == str(want.value), (idx, value)
    x = small.to(dtype, copy=True)
    x[0, 0, 0, :3] = torch.tensor([0.0, -0.0, 1.0])
    assert torch.equal(jpeg_roundtrip(x, 15), jpeg_roundtrip_torch(x, 15))


def test_compiled_quantizer_equals_libjpeg_turbos_reciprocal_for_every_step():
    """The kernel's float32 quantize-dequantize (``_jit_jpeg._dq`` with the constants of
    ``_quant_arrays``) gives libjpeg-turbo's integer k·Q for every coefficient |t| < 2^14 (the
    FDCT's bound, tested below) and every step Q = 1..255."""
    import numba
    from nnsafety.corruptions import _jit_jpeg
    from .test_api import _libjpeg_turbo_quantize

    @numba.njit
    def dq_all(t, half, step, q, out):
        for i in range(t.shape[0]):
            out[i] = _jit_jpeg._dq(t[i], half, step, q)

    t = np.arange(-(1 << 14) + 1, 1 << 14, dtype=np.int32)
    got = np.empty_like(t)
    steps = torch.arange(1, 257, dtype=torch.float64).clamp(max=255)
    for table in steps.view(4, 8, 8):
        half, step, qval = _jit_jpeg._quant_arrays(table)
        for k in range(64):
            q = int(table.view(-1)[k])
            dq_all(t, half.flat[k], step.flat[k], qval.flat[k], got)
            assert np.array_equal(got, _libjpeg_turbo_quantize(t.astype(np.int64), q) * q), q


class _Form:
    """A linear form of a butterfly's 8 inputs (its coefficient vector): running ``jpeg._fdct_1d``
    / ``_idct_1d`` on forms records every intermediate, whose worst case over inputs bounded by
    B is |coefficients|·B."""

    seen = []

    def __init__(self, c):
        self.c = np.asarray(c, dtype=np.float64)
        _Form.seen.append(self)

    def __add__(self, o):
        return _Form(self.c + o.c)

    def __sub__(self, o):
        return _Form(self.c - o.c)

    def __mul__(self, k):
        return _Form(self.c * k)

    def __lshift__(self, k):
        return _Form(self.c * (1 << k))


def _worst(butterfly, bound: float) -> tuple:
    """(largest |intermediate|, largest |output|) of the butterfly over inputs in [−bound, bound]."""
    _Form.seen = []
    outs = butterfly([_Form(e) for e in np.eye(8)])
    worst = lambda forms: max(float(np.abs(f.c).sum()) * bound for f in forms)
    return worst(_Form.seen), worst(outs)


def test_compiled_jpeg_int32_lanes_cannot_overflow():
    # the kernel carries libjpeg's integers in int32: every intermediate of both passes of both
    # butterflies, for any 8-bit block and any table, must stay below 2^31 (rounding terms: + 2^17)
    from nnsafety.corruptions.jpeg import _fdct_1d, _idct_1d
    inner1, out1 = _worst(_fdct_1d, 128)  # level-shifted samples −128..127
    inner2, out2 = _worst(_fdct_1d, out1 / 2 ** 11 + 1)  # row pass: DESCALE by 11
    t = out2 / 2 ** 15 + 1  # the FDCT output (8× the coefficient), |t| < 2^14
    coef = t / 8 + 255 / 2 + 1  # |round(t / 8Q)·Q| <= |t|/8 + Q/2, Q <= 255
    inner3, out3 = _worst(_idct_1d, coef)
    inner4, _ = _worst(_idct_1d, out3 / 2 ** 11 + 1)  # column pass: DESCALE by 11
    assert t < 2 ** 14
    for inner in (inner1, inner2, inner3, inner4):
        assert inner + 2 ** 17 < 2 ** 31, np.log2(inner)


def test_usable_only_on_cpu_and_not_when_disabled(monkeypatch):
    x = torch.zeros(1, 3, 8, 8)
    assert _jit.usable(x)
    monkeypatch.setenv("NNSAFETY_JIT", "0")
    assert not _jit.usable(x)


_WITHOUT_NUMBA = """
import sys, warnings
sys.modules["numba"] = None  # import numba now raises ImportError, as where the extra is absent
import torch
from nnsafety.corruptions import corrupt, _jit
from nnsafety.corruptions.digital import _pixelate_torch
from nnsafety.corruptions.jpeg import jpeg_roundtrip_torch
x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    a = corrupt(x, "jpeg_compression", 3)
    corrupt(x, "jpeg_compression", 5)
    p = corrupt(x, "pixelate", 2)
said = [str(m.message) for m in w if issubclass(m.category, _jit.CompiledPathWarning)]
print(_jit._state["numba"] is None, len(said), torch.equal(a, jpeg_roundtrip_torch(x, 58)),
      torch.equal(p, _pixelate_torch(x, 28, 28)))
print(said[0])
"""


def test_without_numba_the_torch_path_runs_and_says_so_once():
    res = subprocess.run([sys.executable, "-c", _WITHOUT_NUMBA], capture_output=True, text=True, check=True)
    flags, said = res.stdout.splitlines()
    assert flags.split() == ["True", "1", "True", "True"], res.stdout  # numba absent, one warning, torch path
    assert said.startswith("numba is not installed (optional extra 'fast')"), said
