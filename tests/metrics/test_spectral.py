import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from nnsafety.metrics._powerlaw import fit_powerlaw
from nnsafety.metrics.spectral import _traps, _tw_edge, first_layer_grid, plot_first_layers, spectral_analysis
from nnsafety.models import create_model
from ._trained import digits_mlp


def _slow_fit(x):
    """Clauset MLE + KS x_min, one candidate at a time (WeightWatcher's WWFit loop, n >= 20)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    x = x[x > 1e-5]
    n = len(x)
    best = (np.inf, None, None)
    for i in range(n - 1):
        tail = x[i:]
        k = n - i
        alpha = 1 + k / np.sum(np.log(tail / x[i]))
        d = 1.0
        if alpha > 1:
            d = np.max(np.abs(1 - (tail / x[i]) ** (1 - alpha) - np.arange(k) / k))
        if d < best[0]:
            best = (d, alpha, x[i])
    return best


def test_vectorized_fit_equals_loop():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0.01, 1, 200), rng.pareto(2.5, 200) + 1])
    d, alpha, xmin = _slow_fit(x)
    for chunk in (1000, 1 << 22):  # several chunks and one
        fit = fit_powerlaw(torch.tensor(x), chunk=chunk)
        assert fit.alpha == pytest.approx(alpha, rel=1e-12)
        assert fit.xmin == xmin and fit.ks_distance == pytest.approx(d, rel=1e-10)


@pytest.mark.parametrize("kind", ["bulk+tail", "random-init", "pure-pareto"])
def test_branch_and_bound_fit_equals_full_scan_and_loop(kind):
    """Above 1,024 points x_min comes from branch and bound: same index and D as the full scan."""
    rng = np.random.default_rng(1)
    if kind == "bulk+tail":  # minimum in the middle
        x = np.concatenate([rng.uniform(0.05, 1, 1200), _pareto(rng, 900, 2.5)])
    elif kind == "random-init":  # Marchenko–Pastur bulk: the minimum sits in the last few points
        w = torch.randn(1400, 1100, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) / 1400 ** 0.5
        x = torch.linalg.eigvalsh(w.T @ w).numpy()
    else:  # a flat KS curve: many candidates close to the minimum
        x = _pareto(rng, 2500, 2.2)
    fast = fit_powerlaw(torch.tensor(x))
    full = fit_powerlaw(torch.tensor(x), exact_below=10 ** 9)
    assert (fast.alpha, fast.xmin, fast.ks_distance, fast.n_tail) == \
        (full.alpha, full.xmin, full.ks_distance, full.n_tail)
    d, alpha, xmin = _slow_fit(x)
    assert fast.xmin == xmin and fast.alpha == pytest.approx(alpha, rel=1e-12)
    assert fast.ks_distance == pytest.approx(d, rel=1e-10)


def _orth(rng, n):
    """A random orthogonal matrix (torch's QR: NumPy's OpenBLAS one spins its threads on a loaded box)."""
    return torch.linalg.qr(torch.from_numpy(rng.normal(size=(n, n))))[0].numpy()


def _pareto(rng, n, alpha):
    return (1 - rng.uniform(size=n)) ** (-1 / (alpha - 1))  # density ∝ x^-alpha on [1, ∞)


def test_alpha_recovered_from_pooled_conv_spectrum():
    """Conv 200×200×5×5 whose 25 slices have a known ESD: a U(0.05, 1) bulk + a Pareto α=3 tail."""
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(200, 200, 5, bias=False)
    with torch.no_grad():
        for i in range(5):
            for j in range(5):
                lam = np.concatenate([rng.uniform(0.05, 1, 40), _pareto(rng, 160, 3.0)])
                u = _orth(rng, 200)
                v = _orth(rng, 200)
                conv.weight[:, :, i, j] = torch.tensor(u @ np.diag(np.sqrt(lam)) @ v.T)
    r = spectral_analysis(conv, traps=False)
    row = r.layers[0]
    assert row.n_evals == 5000
    assert abs(row.alpha - 3.0) < 0.05, row.alpha
    assert row.xmin >= 0.9  # the KS choice finds the start of the tail, not the bulk


def test_conventions_against_independent_svd():
    torch.manual_seed(0)
    model = create_model("cnn", 10, (1, 8, 8), width=8)
    r = spectral_analysis(model)
    conv = model.stages[1][0]
    row = next(x for x in r.layers if x.name == "stages.1.0")
    w = conv.weight.detach().double()
    sv2 = torch.cat([torch.linalg.svdvals(w[:, :, i, j]) ** 2 for i in range(3) for j in range(3)])
    assert row.n_evals == sv2.numel() == 8 * 9
    assert torch.allclose(torch.sort(sv2).values, row.eigenvalues, rtol=1e-8, atol=1e-12)
    assert row.log_norm == pytest.approx(math.log10(float((w ** 2).sum())), rel=1e-9)
    assert row.log_spectral_norm == pytest.approx(math.log10(float(sv2.max())), rel=1e-9)
    assert row.stable_rank == pytest.approx(float(sv2.sum() / sv2.max()), rel=1e-9)
    assert row.alpha_weighted == pytest.approx(row.alpha * row.log_spectral_norm, rel=1e-12)
    names = {s["name"]: s["reason"] for s in r.skipped}
    assert "stages.0.1" in names and "normalization" in names["stages.0.1"]  # BatchNorm listed
    analysed = {x.name for x in r.layers} | set(names)
    expected = {n for n, m in model.named_modules() if list(m.parameters(recurse=False))}
    assert analysed == expected  # no parameterized layer dropped silently
    json.dumps(r.to_dict())


def test_spikes_and_traps():
    g = torch.Generator().manual_seed(0)
    n, m = 1000, 400
    noise = torch.randn(n, m, generator=g) / math.sqrt(n)
    u = torch.linalg.qr(torch.randn(n, 3, generator=g))[0]
    v = torch.linalg.qr(torch.randn(m, 3, generator=g))[0]
    spiked = noise + u @ torch.diag(torch.tensor([8.0, 6.0, 4.0])) @ v.T
    trapped = noise.clone()
    trapped[0, 0] = trapped[5, 7] = 3.0  # large isolated entries survive the permutation
    layers = {}
    for name, w in (("noise", noise), ("spiked", spiked), ("trapped", trapped)):
        lin = nn.Linear(n, m, bias=False)
        lin.weight.data = w.T.contiguous()
        layers[name] = spectral_analysis(lin).layers[0]
    assert layers["noise"].num_spikes == 0 and layers["noise"].num_traps == 0
    assert layers["spiked"].num_spikes == 3 and layers["spiked"].num_traps == 0
    assert layers["spiked"].mp_sigma2 == pytest.approx(1 / n, rel=0.05)
    assert layers["trapped"].num_traps >= 1 and any("trap" in w for w in layers["trapped"].warnings)
    torch.manual_seed(0)
    fresh = spectral_analysis(create_model("mlp", 10, (1, 8, 8))).layers[1]  # 256×256 at init
    assert fresh.alpha > 6 and fresh.warnings == ["alpha > 6: under-trained layer"]


def test_trained_digits_mlp_and_min_size():
    model = digits_mlp(seed=0)
    r = spectral_analysis(model, min_size=11)
    assert [x.name for x in r.layers] == ["stages.0.1", "stages.1.0"]
    assert r.skipped == [{"name": "head", "kind": "Linear", "reason": "10 eigenvalues < min_size=11"}]
    assert all(x.alpha < 2 and "over-trained" in x.warnings[0] for x in r.layers)  # fits hard
    assert r.plot() is not None and r.plot_esd("stages.1.0") is not None


def test_first_layer_grid():
    mlp = digits_mlp(seed=0)
    res = first_layer_grid(mlp, (1, 8, 8))
    assert res.images.shape == (64, 1, 8, 8)
    assert torch.equal(res.images[5].flatten(), mlp.stages[0][1].weight[5].detach())
    cnn = create_model("cnn", 10, (1, 8, 8), width=4)
    assert torch.equal(first_layer_grid(cnn, (1, 8, 8)).images, cnn.stages[0][0].weight.detach())
    fig = plot_first_layers([mlp, cnn], ["mlp", "cnn"], in_shape=(1, 8, 8))
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="in_features"):
        first_layer_grid(mlp, (3, 8, 8))


def test_trap_count_equals_eigenvalue_count():
    """The Cholesky screen counts the same eigenvalues above the edge as eigvalsh (same shuffles)."""
    g = torch.Generator().manual_seed(0)
    mats = torch.randn(4, 300, 120, generator=g) / math.sqrt(300)
    mats[1, 3, 4] = mats[1, 9, 100] = 2.5  # traps in two of the four matrices
    mats[3, 0, 0] = 4.0
    got = _traps(mats, torch.Generator().manual_seed(5))
    perm = torch.randperm(300 * 120, generator=torch.Generator().manual_seed(5))  # one per layer
    want = 0
    for w in mats.double():
        f = w.flatten()
        s = f[perm].view(300, 120)
        edge = _tw_edge(float(f.var(unbiased=False)), 300, 120)
        want += int((torch.linalg.eigvalsh(s.T @ s) > edge).sum())
    assert got == want and want >= 2
    assert _traps(mats[[0, 2]], torch.Generator().manual_seed(5)) == 0


def _power_law_conv(rng, c=200, k=5, alpha=3.0):
    conv = nn.Conv2d(c, c, k, bias=False)
    with torch.no_grad():
        for i in range(k):
            for j in range(k):
                lam = np.concatenate([rng.uniform(0.05, 1, c // 5), _pareto(rng, c - c // 5, alpha)])
                u = _orth(rng, c)
                v = _orth(rng, c)
                conv.weight[:, :, i, j] = torch.tensor(u @ np.diag(np.sqrt(lam)) @ v.T)
    return conv


def test_float32_error_bound_on_eigenvalues_and_alpha():
    """float32 eigenvalues within F32_REL_ERR·λ_max of float64; α moves by ≤ 2(α−1)²·err/x_min."""
    from nnsafety.metrics.spectral import F32_REL_ERR

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    layers = [_power_law_conv(rng, c=256, k=3),  # heavy tail, x_min inside the spectrum
              nn.Conv2d(512, 512, 3),  # random init, square slices: eigenvalues down to ~1e-6
              nn.Linear(300, 700), digits_mlp(seed=0)]
    n_rows = 0
    for layer in layers:
        a = spectral_analysis(layer, precision="float32", traps=False).layers
        b = spectral_analysis(layer, precision="float64", traps=False).layers
        for r32, r64 in zip(a, b):
            n_rows += 1
            lam_max = float(r64.eigenvalues[-1])
            err = float((r32.eigenvalues - r64.eigenvalues).abs().max())
            assert err <= F32_REL_ERR * lam_max, (r64.name, err / lam_max)
            assert r32.n_tail == r64.n_tail  # same x_min index
            bound = 2 * (r64.alpha - 1) ** 2 * err / r64.xmin
            assert abs(r32.alpha - r64.alpha) <= bound, (r64.name, r32.alpha, r64.alpha, bound)
            assert abs(r32.alpha - r64.alpha) < 1e-3 * r64.alpha
            assert r32.log_norm == pytest.approx(r64.log_norm, abs=1e-6)
            assert r32.num_spikes == r64.num_spikes
    assert n_rows == 6
    with pytest.raises(ValueError, match="precision"):
        spectral_analysis(layers[2], precision="half")


def test_float32_trap_screen_counts_like_float64():
    g = torch.Generator().manual_seed(0)
    mats = torch.randn(4, 600, 300, generator=g) / math.sqrt(600)
    mats[1, 3, 4] = mats[1, 9, 100] = 2.5
    mats[3, 0, 0] = 4.0
    for seed in range(3):
        c32 = _traps(mats, torch.Generator().manual_seed(seed), "float32")
        c64 = _traps(mats, torch.Generator().manual_seed(seed), "float64")
        assert c32 == c64 >= 2
