"""Registry, validation, shapes/dtypes, determinism, the small-image detour, JPEG tables, frost."""
import io

import numpy as np
import pytest
import torch

from nnsafety.corruptions import (
    BENCHMARK_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, Corruption, corrupt, list_corruptions,
    regime_for,
)
from nnsafety.corruptions.jpeg import _QUANT_ETA, CHROMA_TABLE, LUMA_TABLE, quant_table
from nnsafety.corruptions.textures import FROST_MEAN_RGB, FROST_STD

ALL = list_corruptions()


def batch(n=4, c=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, c, 8, 8, generator=g)
    return torch.nn.functional.interpolate(low, size=size, mode="bilinear", align_corners=False).clamp(0, 1)


def test_names_and_order():
    assert len(BENCHMARK_CORRUPTIONS) == 15 and len(EXTRA_CORRUPTIONS) == 4
    assert ALL[:3] == ["gaussian_noise", "shot_noise", "impulse_noise"]
    assert ALL[-4:] == ["speckle_noise", "gaussian_blur", "spatter", "saturate"]
    assert sorted(ALL) == CORRUPTIONS.names("image")


def test_bad_inputs_raise_value_errors():
    x = batch()
    with pytest.raises(ValueError, match="unknown corruption 'nope'"):
        corrupt(x, "nope", 1)
    for bad in (6, 0, 2.5, "3", None, True):
        with pytest.raises(ValueError, match="severity an int in 1..5"):
            corrupt(x, "fog", bad)
    with pytest.raises(ValueError, match="severity an int in 1..5"):
        Corruption("fog", 9)
    with pytest.raises(ValueError, match="float tensor"):
        corrupt((x * 255).to(torch.uint8), "fog", 1)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        corrupt(x * 3, "fog", 1)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        corrupt(torch.rand(2, 2, 32, 32), "fog", 1)


SELF_CHECKED = [nm for nm in ALL if CORRUPTIONS.get(nm).checks_range]


@pytest.mark.parametrize("name", SELF_CHECKED)
@pytest.mark.parametrize("jit", ["1", "0"])
def test_corruptions_that_check_the_range_themselves_raise_check_images_error(name, jit, monkeypatch):
    """``corrupt`` skips its [0, 1] pass for these (the compiled kernel checks while it reads):
    every dtype and path gives check_images' own message for one bad value anywhere (the last
    pixel of a size whose rows do not fill the kernel's blocks, the first, a NaN), and the
    bounds themselves (0, -0.0, 1) pass."""
    from nnsafety._validation import check_images
    monkeypatch.setenv("NNSAFETY_JIT", jit)
    base = torch.rand(3, 3, 37, 41, generator=torch.Generator().manual_seed(0))
    for dtype in (torch.float32, torch.float64, torch.float16):
        for idx, value in (((2, 2, 36, 40), 1.0 + 1e-3), ((2, 2, 36, 40), -1e-3), ((0, 0, 0, 0), 7.0),
                           ((1, 1, 20, 3), float("nan"))):
            x = base.to(dtype, copy=True)
            x[idx] = value
            with pytest.raises(ValueError) as want:
                check_images(x, allow_2d=False)
            with pytest.raises(ValueError) as got:
                corrupt(x, name, 3)
            assert str(got.value) == str(want.value), (dtype, idx, value)
        x = base.to(dtype, copy=True)
        x[0, 0, 0, :3] = torch.tensor([0.0, -0.0, 1.0])
        assert corrupt(x, name, 3).shape == x.shape


@pytest.mark.parametrize("name", ALL)
def test_deterministic_and_seed_sensitive(name):
    x = batch(3)
    a = corrupt(x, name, 3, torch.Generator().manual_seed(1))
    b = corrupt(x, name, 3, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    c = corrupt(x, name, 3, torch.Generator().manual_seed(2))
    deterministic = {"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate",
                     "jpeg_compression", "gaussian_blur", "saturate"}
    assert torch.equal(a, c) == (name in deterministic)
    assert torch.equal(Corruption(name, 3)(x, torch.Generator().manual_seed(1)), a)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (3, 1, 8, 8), (1, 3, 20, 28), (1, 1, 72, 80)])
def test_all_severities_shape_dtype_range(name, shape):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for s in (1, 5):
        out = corrupt(x, name, s, torch.Generator().manual_seed(0))
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", [n for n in ALL if CORRUPTIONS.get(n).in_range])
def test_in_range_corruptions_need_no_clamp(name):
    """``in_range`` corruptions skip ``corrupt``'s final clamp: their own output must be in [0, 1]
    at every severity, on saturated images (0/1 checkerboards, flat 0 and 1) and random ones."""
    fn = CORRUPTIONS.get(name)
    g = torch.Generator().manual_seed(0)
    for size in (32, 72):
        yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        board = ((yy // 3 + xx // 2) % 2).float().expand(1, 3, size, size)
        x = torch.cat([board, 1 - board, torch.zeros_like(board), torch.ones_like(board),
                       torch.rand(2, 3, size, size, generator=g)])
        for s in range(1, 6):
            c = fn.params(s, regime_for(size, size))
            out = fn.fn(x, c, None)
            assert out.min() >= 0 and out.max() <= 1, (s, size)


def test_regimes():
    assert regime_for(32, 32) == "cifar" and regime_for(64, 48) == "cifar"
    assert regime_for(224, 224) == "imagenet" and regime_for(65, 8) == "imagenet"


def test_small_images_detour_is_replicate_then_area_average():
    x = batch(2, 1, 8)
    g = torch.Generator().manual_seed(3)
    up = x.repeat_interleave(4, 2).repeat_interleave(4, 3)
    spec = CORRUPTIONS.get("motion_blur")
    want = torch.nn.functional.avg_pool2d(spec.fn(up, spec.params(2, "cifar"), g).clamp(0, 1), 4)
    assert torch.allclose(corrupt(x, "motion_blur", 2, torch.Generator().manual_seed(3)), want)
    # scale-free ones run at native size: the noise std keeps its per-pixel meaning
    x = torch.full((64, 1, 8, 8), 0.5)
    out = corrupt(x, "gaussian_noise", 5, torch.Generator().manual_seed(0))
    assert (out - x).std().item() == pytest.approx(0.10, rel=0.05)


def test_half_precision_is_computed_in_float32():
    x = batch(2).half()
    out = corrupt(x, "fog", 3, torch.Generator().manual_seed(0))
    ref = corrupt(x.float(), "fog", 3, torch.Generator().manual_seed(0))
    assert out.dtype == torch.float16 and torch.allclose(out.float(), ref, atol=1e-3)


def test_generator_device_logic_draws_on_the_generator_device():
    # a CPU generator with a CPU input: the same numbers as a direct draw on that generator
    x = torch.zeros(2, 3, 32, 32)
    out = corrupt(x + 0.5, "gaussian_noise", 1, torch.Generator().manual_seed(0))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out, (0.5 + 0.04 * noise).clamp(0, 1))


# ---- JPEG: quantization tables and the full round trip against PIL's libjpeg ----

@pytest.mark.parametrize("quality", [80, 40, 25, 7])
def test_quant_tables_match_pil(quality):
    Image = pytest.importorskip("PIL.Image")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buf, "JPEG", quality=quality)
    tables = Image.open(io.BytesIO(buf.getvalue())).quantization
    for k, base in ((0, LUMA_TABLE), (1, CHROMA_TABLE)):
        pil = np.array(tables[k])
        ours = quant_table(base, quality).flatten().numpy()
        zigzag = np.array(sorted(range(64), key=lambda i: (i // 8 + i % 8,
                          (i % 8 if (i // 8 + i % 8) % 2 == 0 else i // 8))))
        assert np.array_equal(np.sort(pil), np.sort(ours))  # same multiset of steps
        assert np.array_equal(pil, ours) or np.array_equal(pil, ours[zigzag])


def _libjpeg_turbo_quantize(t: np.ndarray, q: int) -> np.ndarray:
    """jcdctmgr.c: ``compute_reciprocal`` for the divisor d = 8·q, then ``quantize``'s
    sign(t)·(((|t| + c)·f) >> r), in integers, written from the C source."""
    d = q << 3
    r = 16 + d.bit_length() - 1
    f, rem = divmod(1 << r, d)
    c = d // 2
    if rem == 0:  # d a power of two
        f, r = f >> 1, r - 1
    elif rem <= d // 2:
        c += 1
    else:
        f += 1
    return np.sign(t) * (((np.abs(t) + c) * f) >> r)


def test_quantizer_equals_libjpeg_turbos_reciprocal_for_every_step():
    """The float quantizer of ``_code_plane`` (round half to even of t·(1 + η)/d, then ·Q) gives
    libjpeg-turbo's integer result for every coefficient |t| < 2^15 and every step 1..255."""
    t = np.arange(-(1 << 15) + 1, 1 << 15, dtype=np.int64)
    tt = torch.from_numpy(t).double().view(-1, 1)
    for q in range(1, 256):
        step = (1 + _QUANT_ETA) / (8 * torch.tensor([float(q)], dtype=torch.float64))
        got = torch.round(tt * step).view(-1).numpy()
        assert np.array_equal(got, _libjpeg_turbo_quantize(t, q)), q


# ---- frost: the procedural texture has the photos' measured statistics ----

def test_frost_texture_statistics_match_the_photos():
    x = torch.zeros(400, 3, 32, 32)
    out = corrupt(x, "frost", 1, torch.Generator().manual_seed(0))  # c = (1, 0.2): out = 0.2·frost
    tex = out / 0.2
    mean_rgb = np.mean(FROST_MEAN_RGB, axis=0)
    assert np.allclose(tex.mean(dim=(0, 2, 3)).numpy(), mean_rgb, atol=0.03)
    within = tex.mean(1).flatten(1).std(1).mean().item()
    assert within == pytest.approx(np.mean(FROST_STD), rel=0.15)
    grey = torch.zeros(8, 1, 32, 32)
    assert corrupt(grey, "frost", 3, torch.Generator().manual_seed(0)).mean() > 0.1


@pytest.mark.parametrize("lam", [0.7, 4.0, 9.9, 10.0, 40.0, 300.0])
def test_poisson_sampler_pmf(lam):
    from math import exp, lgamma, log

    from nnsafety.corruptions.base import poisson

    k = poisson(torch.full((200_000,), lam), torch.Generator().manual_seed(0)).numpy()
    assert k.mean() == pytest.approx(lam, rel=0.01, abs=0.01) and k.var() == pytest.approx(lam, rel=0.03)
    # frequencies of the values around the mode against the closed-form pmf
    for v in range(max(0, int(lam) - 2), int(lam) + 3):
        pmf = exp(-lam + v * log(lam) - lgamma(v + 1))
        assert (k == v).mean() == pytest.approx(pmf, abs=5 * (pmf / 200_000) ** 0.5 + 1e-4)
    assert poisson(torch.zeros(5), None).sum() == 0


@pytest.mark.parametrize("p", [0.01, 0.07, 0.27, 0.6])
def test_bernoulli_positions_law(p):
    from nnsafety.corruptions.noise import bernoulli_positions

    n = 50_000
    counts = np.zeros(n)
    for seed in range(40):
        pos = bernoulli_positions(n, p, torch.Generator().manual_seed(seed), torch.zeros(1)).numpy()
        assert np.all(np.diff(pos) > 0) and pos.min() >= 0 and pos.max() < n
        counts[pos] += 1
    # each position succeeds with probability p, independently of where it is
    assert counts.mean() / 40 == pytest.approx(p, rel=0.02)
    quarters = counts.reshape(4, -1).mean(1) / 40
    assert np.allclose(quarters, p, rtol=0.05)
    # successes in neighbouring positions are uncorrelated
    a, b = counts[:-1] / 40, counts[1:] / 40
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02


def test_large_images_use_the_imagenet_table():
    x = torch.full((8, 3, 96, 96), 0.5)
    for s, std in ((1, 0.08), (5, 0.38)):  # make_imagenet_c.py gaussian_noise c
        out = corrupt(x, "gaussian_noise", s, torch.Generator().manual_seed(0))
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(out, (x + std * noise).clamp(0, 1))
    out = corrupt(x, "contrast", 5)  # c = 0.05 on ImageNet, 0.15 on CIFAR: a flat image stays flat
    assert torch.allclose(out, x)
    y = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    m = y.mean(dim=(2, 3), keepdim=True)
    assert torch.allclose(corrupt(y, "contrast", 5), (y - m) * 0.05 + m, atol=1e-6)


def test_new_buffer_is_a_torch_aligned_buffer_and_the_draws_are_torchs():
    from nnsafety.corruptions._buffers import new_buffer
    from nnsafety.corruptions.base import rand, randn
    for dtype in (torch.float32, torch.float64):
        b = new_buffer((3, 5, 7), torch.zeros(1), dtype)
        assert b.shape == (3, 5, 7) and b.dtype == dtype and b.is_contiguous()
        assert b.data_ptr() % 64 == 0  # torch's own alignment (BLAS results depend on it)
    assert new_buffer((2, 2), torch.zeros(1, dtype=torch.int64)).dtype == torch.int64  # torch.empty
    like = torch.zeros(1)
    for draw, ref in ((rand, torch.rand), (randn, torch.randn)):
        got = draw((4, 3, 32, 32), torch.Generator().manual_seed(7), like)
        assert torch.equal(got, ref((4, 3, 32, 32), generator=torch.Generator().manual_seed(7)))
        wide = draw((4, 3), torch.Generator().manual_seed(7), like.double())  # float32 draws cast up
        assert wide.dtype == torch.float64 and torch.equal(wide, ref((4, 3), generator=torch.Generator().manual_seed(7)).double())


def test_new_buffer_reuses_memory_only_once_no_tensor_uses_it():
    from nnsafety.corruptions._buffers import new_buffer
    like = torch.zeros(1)
    a = new_buffer((64, 1000), like)
    a.fill_(1.0)
    view = a[10:20].t()  # a view keeps the storage (and the buffer) alive
    ptr = a.data_ptr()
    del a
    b = new_buffer((64, 1000), like)
    assert b.data_ptr() != ptr and torch.all(view == 1.0)
    b.fill_(2.0)
    assert torch.all(view == 1.0)  # the live view was not overwritten
    del view
    c = new_buffer((64, 1000), like)  # now the first buffer is free again: handed out, already mapped
    assert c.data_ptr() == ptr and c.data_ptr() != b.data_ptr() and ptr % 4096 == 0
    arr = c.numpy()  # a NumPy view of the tensor keeps it in use too
    del c
    assert new_buffer((64, 1000), like).data_ptr() != arr.ctypes.data
