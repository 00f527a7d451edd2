"""Hypothesis properties on small shapes, and severity monotonicity on CIFAR-like and digit batches."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings, strategies as st

from nnsafety.corruptions import corrupt, list_corruptions
from nnsafety.data import load_dataset

ALL = list_corruptions()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(ALL), n=st.integers(1, 3), c=st.sampled_from([1, 3]),
       h=st.integers(1, 40), w=st.integers(1, 40), dtype=st.sampled_from([torch.float32, torch.float64]),
       severity=st.integers(1, 5), seed=st.integers(0, 2 ** 31 - 1))
def test_range_shape_dtype_no_nan(name, n, c, h, w, dtype, severity, seed):
    x = torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    out = corrupt(x, name, severity, torch.Generator().manual_seed(seed))
    assert out.shape == x.shape and out.dtype == dtype
    assert not torch.isnan(out).any()
    assert out.min() >= 0 and out.max() <= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(ALL), c=st.sampled_from([1, 3]), size=st.integers(16, 40),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2 ** 31 - 1))
def test_severity_one_changes_the_image(name, c, size, dtype, seed):
    # 16 images of >= 16×16 pixels: a sparse corruption (impulse noise hits 1 % of the values at
    # severity 1) leaves all 4,096+ values untouched with probability < 1e-17. With 4 images of
    # 8×8 that probability was 7.6 %, and CI failed on such a draw.
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(16, c, 4, 4, generator=g, dtype=dtype)
    x = F.interpolate(low, size=size, mode="bilinear", align_corners=False).clamp(0.02, 0.98)
    out = corrupt(x, name, 1, torch.Generator().manual_seed(seed))
    assert (out - x).abs().mean() > 1e-4


def cifar_like():
    g = torch.Generator().manual_seed(0)
    low = torch.rand(24, 3, 6, 6, generator=g)
    return F.interpolate(low, size=32, mode="bilinear", align_corners=False).clamp(0, 1)


def digits():
    return load_dataset("digits", split="test").tensors()[0][:48]


# The published parameters are not monotone for these: severities 1-2 desaturate and 3-5
# oversaturate (saturate); 1-3 are water and 4-5 mud (spatter); the CIFAR elastic affine shrinks
# from 2.56 to 0.96 px (elastic); frost lowers the image weight while the frost weight stays
# (brighter images change less at 4-5); glass_blur 2 vs 3 trades swaps for blur; motion_blur 3
# and 4 differ only in radius beyond 3σ (same kernel); pixelate on 8-px digits has int(8c) =
# 7, 7, 6, 6, 5. xfail(strict) keeps each exception honest: the test fails if it ever passes.
NON_MONOTONE = {
    "cifar": {"saturate", "spatter", "elastic_transform", "frost", "glass_blur"},
    "digits": {"saturate", "spatter", "elastic_transform", "frost", "pixelate"},
}


@pytest.mark.parametrize("data", ["cifar", "digits"])
@pytest.mark.parametrize("name", ALL)
def test_severity_monotone(name, data, request):
    if name in NON_MONOTONE[data]:
        request.applymarker(pytest.mark.xfail(strict=True, reason="published parameters are not monotone"))
    x = cifar_like() if data == "cifar" else digits()
    change = [(corrupt(x, name, s, torch.Generator().manual_seed(0)) - x).abs().mean().item()
              for s in range(1, 6)]
    assert all(b >= a - 1e-6 for a, b in zip(change, change[1:])), change
