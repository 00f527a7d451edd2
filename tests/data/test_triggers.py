"""Each trigger changes exactly what its paper says, checked against slow per-pixel references."""
import math

import numpy as np
import pytest
import torch

from nnsafety.data.triggers import apply_trigger, create_trigger, list_triggers


@pytest.fixture
def x():
    return torch.rand(5, 3, 10, 12, generator=torch.Generator().manual_seed(1))


def test_registry_lists_the_four_families():
    assert set(list_triggers()) >= {"badnets", "blended", "sig", "wanet"}


@pytest.mark.parametrize("name,kw", [("badnets", {}), ("blended", {}), ("sig", {"frequency": 5.0}), ("wanet", {})])
def test_output_shape_range_and_determinism(name, kw, x):
    a = apply_trigger(x, name, **kw)
    b = apply_trigger(x, name, **kw)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(a, x)


@pytest.mark.parametrize("position,rows,cols", [("bottom_right", (7, 10), (9, 12)), ("top_left", (0, 3), (0, 3)),
                                                ([2, 4], (2, 5), (4, 7))])
def test_badnets_changes_only_the_patch(x, position, rows, cols):
    out = apply_trigger(x, "badnets", size=3, position=position, pattern="checkerboard")
    inside = torch.zeros(10, 12, dtype=torch.bool)
    inside[rows[0]:rows[1], cols[0]:cols[1]] = True
    assert torch.equal(out[:, :, ~inside], x[:, :, ~inside])
    for i in range(3):
        for j in range(3):
            expected = 1.0 if (i + j) % 2 == 0 else 0.0
            assert torch.all(out[:, :, rows[0] + i, cols[0] + j] == expected)


def test_badnets_white_and_random_patterns(x):
    white = apply_trigger(x, "badnets", size=2, pattern="white")
    assert torch.all(white[:, :, -2:, -2:] == 1)
    r1 = apply_trigger(x, "badnets", size=2, pattern="random", pattern_seed=3)
    r2 = apply_trigger(x, "badnets", size=2, pattern="random", pattern_seed=4)
    expected = torch.rand(3, 2, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(r1[0, :, -2:, -2:], expected) and torch.equal(r1[4, :, -2:, -2:], expected)
    assert not torch.equal(r1, r2)


def test_blended_is_exactly_the_convex_blend(x):
    out = apply_trigger(x, "blended", alpha=0.2, pattern_seed=7)
    p = torch.rand(3, 10, 12, generator=torch.Generator().manual_seed(7))
    np.testing.assert_allclose(out.numpy(), (0.8 * x + 0.2 * p).numpy(), atol=1e-6)
    img = torch.linspace(0, 1, 120).view(10, 12)
    out2 = apply_trigger(x, "blended", alpha=0.5, pattern=img.tolist())
    np.testing.assert_allclose(out2.numpy(), (0.5 * x + 0.5 * img).numpy(), atol=1e-6)


def test_sig_adds_the_sinusoid_per_column(x):
    delta, f = 20 / 255, 5.0
    out = apply_trigger(x, "sig", delta=delta, frequency=f).numpy()
    xn = x.numpy()
    ref = np.empty_like(xn)
    for n in range(xn.shape[0]):
        for c in range(xn.shape[1]):
            for i in range(xn.shape[2]):
                for j in range(xn.shape[3]):
                    ref[n, c, i, j] = min(1.0, max(0.0, xn[n, c, i, j] + delta * math.sin(2 * math.pi * j * f / 12)))
    np.testing.assert_allclose(out, ref, atol=1e-6)
    assert create_trigger("sig").clean_label
    # f = W/2 samples the sine at its zeros: the documented aliasing caveat of SIG on tiny images
    assert torch.equal(apply_trigger(x, "sig", frequency=6.0), x)


def test_wanet_identity_when_s_is_zero(x):
    out = apply_trigger(x, "wanet", s=0.0)
    np.testing.assert_allclose(out.numpy(), x.numpy(), atol=1e-6)


@pytest.mark.parametrize("s", [0.5, 2.0, 4.0])
def test_wanet_warp_magnitude_is_bounded(s):
    trig = create_trigger("wanet", k=4, s=s, field_seed=2)
    h = w = 16
    like = torch.zeros(1)
    field = trig.field(h, w, like)
    ident = trig._identity(h, w, like)
    disp = (trig.grid(h, w, like) - ident).abs()
    assert float(disp.max()) <= s * float(field.abs().max()) / h + 1e-6
    assert float(disp.max()) > 0 if s else True
    # a horizontal ramp image turns the x-displacement into an intensity change we can measure
    ramp = torch.linspace(0, 1, w).view(1, 1, 1, w).expand(1, 1, h, w).contiguous()
    out = trig.apply(ramp)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    moved_px = (out - ramp)[inner].abs() * (w - 1)
    bound_px = s * float(field.abs().max()) / h * (w - 1) / 2
    assert float(moved_px.max()) <= bound_px + 1e-4


def test_wanet_noise_mode_is_random_and_close_to_the_trigger(x):
    trig = create_trigger("wanet", s=1.0)
    a = trig.apply_noise(x, torch.Generator().manual_seed(0))
    b = trig.apply_noise(x, torch.Generator().manual_seed(1))
    assert not torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1


def test_bad_trigger_arguments_fail_with_one_line():
    with pytest.raises(ValueError, match="unknown trigger 'nope'; expected one of: .*badnets"):
        create_trigger("nope")
    for name, kw in [("badnets", {"size": 0}), ("badnets", {"pattern": "stars"}), ("blended", {"alpha": 1.5}),
                     ("sig", {"delta": -1}), ("wanet", {"k": 1}), ("badnets", {"colour": 1})]:
        with pytest.raises(ValueError) as e:
            create_trigger(name, **kw)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="at most 8 px"):
        apply_trigger(torch.zeros(1, 1, 8, 8), "badnets", size=9)
    with pytest.raises(ValueError, match="float tensor"):
        apply_trigger(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), "sig")
