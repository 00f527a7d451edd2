"""The table-inversion Poisson sampler (shot noise on uint8-valued images) against the exact pmf
and against torch.poisson: mean, variance, chi-square on the histogram; routing and determinism."""
from math import exp, lgamma, log

import numpy as np
import pytest
import torch

from nnsafety.corruptions import corrupt
from nnsafety.corruptions._poisson import cdf_tables, poisson_levels, uint8_levels

N = 200_000


def pmf(lam, k):
    return 1.0 if (lam == 0 and k == 0) else (0.0 if lam == 0 else exp(-lam + k * log(lam) - lgamma(k + 1)))


def chi2_stat(counts, probs, n):
    """Pearson chi-square over bins with expected count >= 5 (the rest pooled in one bin)."""
    exp_c = probs * n
    keep = exp_c >= 5
    obs = np.append(counts[keep], counts[~keep].sum())
    ex = np.append(exp_c[keep], exp_c[~keep].sum())
    ok = ex > 0
    return float(((obs[ok] - ex[ok]) ** 2 / ex[ok]).sum()), int(ok.sum()) - 1


@pytest.mark.parametrize("c,level", [(500, 255), (100, 77), (60, 200), (12, 3), (3, 128), (50, 1)])
def test_pmf_mean_variance_chi_square(c, level):
    lam = c * level / 255
    k = poisson_levels(torch.full((N,), float(level)), c, torch.Generator().manual_seed(0)).numpy()
    assert np.all(k == np.round(k)) and k.min() >= 0
    assert k.mean() == pytest.approx(lam, abs=5 * (lam / N) ** 0.5)
    assert k.var() == pytest.approx(lam, rel=0.03)
    top = int(k.max()) + 1
    counts = np.bincount(k.astype(int), minlength=top)
    probs = np.array([pmf(lam, v) for v in range(top)])
    probs[-1] += max(0.0, 1 - probs.sum())
    stat, dof = chi2_stat(counts, probs, N)
    # 99.9 % quantile of chi-square(dof) by Wilson–Hilferty: a correct sampler fails 1 in 1000
    z = 3.09
    crit = dof * (1 - 2 / (9 * dof) + z * (2 / (9 * dof)) ** 0.5) ** 3
    assert stat < crit, (stat, crit, dof)


def test_matches_torch_poisson_histogram():
    """Two-sample chi-square: table sampler vs torch.poisson at the same rates (mixed levels)."""
    g = torch.Generator().manual_seed(1)
    levels = torch.randint(0, 256, (N,), generator=g).float()
    c = 100.0
    ours = poisson_levels(levels, c, g).numpy().astype(int)
    ref = torch.poisson(levels * (c / 255), generator=g).numpy().astype(int)
    assert ours.mean() == pytest.approx(ref.mean(), rel=0.01)
    assert ours.var() == pytest.approx(ref.var(), rel=0.02)
    top = max(ours.max(), ref.max()) + 1
    a, b = np.bincount(ours, minlength=top), np.bincount(ref, minlength=top)
    keep = (a + b) >= 10
    stat = (((a - b)[keep]) ** 2 / (a + b)[keep]).sum()
    dof = int(keep.sum()) - 1
    crit = dof * (1 - 2 / (9 * dof) + 3.09 * (2 / (9 * dof)) ** 0.5) ** 3
    assert stat < crit


def test_tables_are_cdfs_and_guides_bound_the_answer():
    cdf32, lifted, guide, kmax = cdf_tables(100.0)
    f = cdf32.view(256, kmax)
    assert torch.all(f[:, 1:] >= f[:, :-1]) and torch.all(f[:, -1] == 1) and f[0, 0] == 1
    assert torch.all(lifted[1:] >= lifted[:-1])  # one increasing array: searchsorted is valid
    # the guide start of cell j is the smallest k with F(k) >= j/G (by brute force on one row)
    row = 77
    g = guide.view(256, -1)[row] - row * kmax
    fr = f[row].double()
    for j in (0, 1, 300, 700, 1023):
        want = int(torch.nonzero(fr >= j / g.numel())[0])
        assert int(g[j]) == want or abs(float(fr[want]) - j / g.numel()) < 1e-7


def test_levels_detection_and_edge_cases():
    x = torch.arange(256).float() / 255
    assert torch.equal(uint8_levels(x), torch.arange(256).float())
    assert uint8_levels(x + 1e-3) is None
    k = poisson_levels(torch.zeros(1000), 100, torch.Generator().manual_seed(0))
    assert torch.all(k == 0)  # rate 0
    assert poisson_levels(torch.zeros(0), 100, None).numel() == 0
    assert poisson_levels(torch.full((5,), 9.0), 100, None).shape == (5,)  # fewer than a block


def test_shot_noise_routes_uint8_images_and_keeps_the_law():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 3, 32, 32), generator=g).float() / 255
    a = corrupt(x, "shot_noise", 3, torch.Generator().manual_seed(5))
    b = corrupt(x, "shot_noise", 3, torch.Generator().manual_seed(5))
    c = corrupt(x, "shot_noise", 3, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # same draws as the sampler called directly (the table path is the one taken)
    k = poisson_levels(x * 255, 100, torch.Generator().manual_seed(5))
    assert torch.equal(a, (k / 100).clamp(0, 1))
    # and the same law as the torch.poisson path (x + 1e-7: not uint8-valued, so torch.poisson)
    xn = (x + 1e-7).clamp(0, 1)
    ref = corrupt(xn, "shot_noise", 3, torch.Generator().manual_seed(5))
    se = 5 * (2 / x.numel()) ** 0.5 * (ref - xn).std().item()  # 5 standard errors of the difference
    assert (a - x).mean().item() == pytest.approx((ref - xn).mean().item(), abs=se)
    assert (a - x).std().item() == pytest.approx((ref - xn).std().item(), rel=0.02)


def test_guide_flags_give_the_exact_inverse():
    """Every draw equals the float64 inverse min{k : F(k) >= u} of the same uniform: a wrong
    crowded-cell flag would leave ~0.3 % of the values one step short."""
    import nnsafety.corruptions._poisson as P
    g = torch.Generator().manual_seed(3)
    levels = torch.randint(0, 256, (N,), generator=g).float()
    c = 500.0  # the most crowded tables (largest rates)
    k = poisson_levels(levels, c, torch.Generator().manual_seed(4))
    u = torch.rand(N, generator=torch.Generator().manual_seed(4)).double()  # the sampler's stream
    cdf32, lifted, _, kmax = cdf_tables(c)
    want = torch.searchsorted(lifted, levels.double() + u) - levels.long() * kmax
    # the step compares with the float32 CDF, the reference with float64: they may differ by one
    # only where u falls between F32(k) and F64(k) (a few draws in 10⁵, near F = 1)
    bad = torch.nonzero(k.long() != want).flatten()
    assert bad.numel() <= 20
    for i in bad.tolist():
        j = min(int(k[i]), int(want[i]))
        assert abs(int(k[i]) - int(want[i])) == 1
        f64 = float(lifted[int(levels[i]) * kmax + j]) - float(levels[i])
        f32 = float(cdf32[int(levels[i]) * kmax + j])
        assert min(f32, f64) < float(u[i]) <= max(f32, f64) + 1e-12
    assert int((P.flagged_guide(c) >= P.FLAG).sum()) > 0  # the crowded path is exercised


def test_chunking_keeps_the_stream(monkeypatch):
    import nnsafety.corruptions._poisson as P
    levels = torch.randint(0, 256, (50_000,), generator=torch.Generator().manual_seed(0)).float()
    whole = poisson_levels(levels, 100, torch.Generator().manual_seed(1))
    monkeypatch.setattr(P, "CHUNK", 4_099)  # odd size: exercises the partial last block too
    assert torch.equal(poisson_levels(levels, 100, torch.Generator().manual_seed(1)), whole)
    assert torch.equal(poisson_levels(levels.clone(), 100, torch.Generator().manual_seed(1),
                                      out=torch.empty(50_000)), whole)
