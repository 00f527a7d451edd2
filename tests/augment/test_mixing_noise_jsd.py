"""Mixing, CutMix boxes, NFM/NoisyMix noise statistics and the JSD against closed forms and NumPy."""
import math

import numpy as np
import pytest
import torch

from nnsafety.augment import (cutmix, feature_noise, jsd_loss, mix, mix_targets, sample_box, sample_mix,
                              soft_cross_entropy)


def test_mixed_targets_sum_to_one_and_soft_ce_equals_weighted_ces():
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 1, 2, 3, 1])
    draw = sample_mix(5, 1.0, g)
    t = mix_targets(y, draw, 4, smoothing=0.1)
    assert torch.allclose(t.sum(1), torch.ones(5))
    z = torch.randn(5, 4)
    lsm = torch.log_softmax(z, 1).numpy()
    by_hand = np.mean([draw.lam * -((1 - .1) * lsm[i, y[i]] + .1 * lsm[i].mean())
                       + (1 - draw.lam) * -((1 - .1) * lsm[i, y[draw.perm][i]] + .1 * lsm[i].mean())
                       for i in range(5)])
    assert soft_cross_entropy(z, t).item() == pytest.approx(by_hand, rel=1e-5)
    x = torch.randn(5, 3)
    assert torch.allclose(mix(x, draw), draw.lam * x + (1 - draw.lam) * x[draw.perm])


def test_lambda_follows_beta_alpha():
    g = torch.Generator().manual_seed(1)
    lams = np.array([sample_mix(2, 2.0, g).lam for _ in range(4000)])
    assert lams.mean() == pytest.approx(0.5, abs=0.02)
    assert lams.var() == pytest.approx(1 / 20, rel=0.1)  # Beta(2,2): ab/((a+b)²(a+b+1)) = 1/20
    assert sample_mix(3, 0.0, g).lam == 1.0


def test_cutmix_label_weight_is_the_kept_area():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 2, 10, 12)
    for _ in range(20):
        draw = sample_mix(4, 1.0, g)
        box = sample_box(10, 12, draw.lam, g)
        out, new = cutmix(x, draw, box)
        inside = torch.zeros(10, 12, dtype=torch.bool)
        inside[box[0]:box[1], box[2]:box[3]] = True
        assert new.lam == pytest.approx(1 - inside.float().mean().item())
        assert torch.equal(out[:, :, inside], x[draw.perm][:, :, inside])
        assert torch.equal(out[:, :, ~inside], x[:, :, ~inside])


def test_cutmix_box_area_tracks_one_minus_lambda_when_unclipped():
    g = torch.Generator().manual_seed(3)
    areas, targets = [], []
    for _ in range(400):
        lam = float(torch.rand(1, generator=g))
        y0, y1, x0, x1 = sample_box(64, 64, lam, g)
        if y0 > 0 and x0 > 0 and y1 < 64 and x1 < 64:
            areas.append((y1 - y0) * (x1 - x0) / 64 ** 2)
            targets.append(1 - lam)
    assert len(areas) > 50
    assert np.allclose(areas, targets, atol=0.07)


def test_cutmix_rejects_flat_inputs():
    with pytest.raises(ValueError, match="N×C×H×W"):
        cutmix(torch.rand(4, 2), sample_mix(4, 1.0, None), (0, 1, 0, 1))


E_B2 = 3 / 28  # E[b²] for b ~ Beta(2, 5)


def test_noisymix_noise_statistics_match_the_formula():
    g = torch.Generator().manual_seed(4)
    add, mult, sparse = 0.5, 0.5, 0.65
    a = torch.stack([feature_noise(torch.zeros(500), add, 0.0, sparse, g) for _ in range(3000)])
    m = torch.stack([feature_noise(torch.ones(500), 0.0, mult, sparse, g) for _ in range(3000)])
    assert (a == 0).float().mean().item() == pytest.approx(sparse, abs=0.005)
    assert (m == 1).float().mean().item() == pytest.approx(sparse, abs=0.005)
    assert a.mean().item() == pytest.approx(0.0, abs=2e-3)
    assert a.pow(2).mean().item() == pytest.approx(add ** 2 * E_B2 * (1 - sparse), rel=0.04)
    assert m.mean().item() == pytest.approx(1.0, abs=2e-3)
    assert (m - 1).pow(2).mean().item() == pytest.approx(mult ** 2 * E_B2 * (1 - sparse) / 3, rel=0.04)
    assert (m - 1).abs().max() <= mult  # |b·(2u−1)| <= 1


def test_nfm_noise_is_dense_and_combines_as_m_times_h_plus_a():
    h = torch.rand(4000) + 1
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    out = feature_noise(h, 0.4, 0.2, 0.0, g1)
    m = feature_noise(torch.ones(4000), 0.0, 0.2, 0.0, g2)
    a = feature_noise(torch.zeros(4000), 0.4, 0.0, 0.0, g2)
    assert torch.allclose(out, m * h + a, atol=1e-6)
    assert (a == 0).sum() == 0
    assert feature_noise(h, 0.0, 0.0) is h
    with pytest.raises(ValueError, match="sparse_level"):
        feature_noise(h, 0.1, 0.1, 1.0)


def test_relative_noise_is_in_units_of_each_vectors_rms():
    """relative=True: a_i = (absolute draw)·‖h_i‖/√D per vector; zero (padding) vectors get none."""
    g = torch.Generator().manual_seed(6)
    scales = torch.tensor([0.0, 0.05, 0.144, 1.0, 3.0])  # 0.144: rms of U(-0.25, 0.25) word vectors
    h = torch.randn(5, 64, generator=g) * scales[:, None]
    h[0] = 0.0
    rms = np.sqrt((h.numpy().astype(np.float64) ** 2).mean(axis=1))
    add, sparse = 1.5, 0.65
    a = torch.stack([feature_noise(h, add, 0.0, sparse, g, relative=True) - h for _ in range(2000)])
    assert (a[:, 0] == 0).all()
    per_row = a.pow(2).mean(dim=(0, 2)).sqrt().numpy()[1:]
    expected = add * np.sqrt(E_B2 * (1 - sparse)) * rms[1:]
    np.testing.assert_allclose(per_row, expected, rtol=0.05)
    # same draws as the absolute noise, scaled per vector; gradients do not flow through the scale
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    x = h.clone().requires_grad_(True)
    rel = feature_noise(x, add, 0.5, sparse, g1, relative=True)
    ab_m = feature_noise(torch.ones_like(h), 0.0, 0.5, sparse, g2)
    ab_a = feature_noise(torch.zeros_like(h), add, 0.0, sparse, g2)
    torch.testing.assert_close(rel, ab_m * h + ab_a * torch.from_numpy(rms).float()[:, None])
    rel.sum().backward()
    torch.testing.assert_close(x.grad, ab_m)


def _jsd_numpy(*zs):
    ps = [np.exp(z - z.max(1, keepdims=True)) for z in zs]
    ps = [p / p.sum(1, keepdims=True) for p in ps]
    m = np.clip(sum(ps) / len(ps), 1e-7, 1)
    return np.mean([np.sum(p * (np.log(p) - np.log(m))) / p.shape[0] for p in ps])


def test_jsd_matches_numpy_is_symmetric_and_zero_for_identical_views():
    rng = np.random.default_rng(6)
    zs = [rng.normal(size=(7, 5)) * 2 for _ in range(3)]
    ts = [torch.tensor(z) for z in zs]
    assert jsd_loss(*ts).item() == pytest.approx(_jsd_numpy(*zs), rel=1e-9)
    assert jsd_loss(*ts).item() == pytest.approx(jsd_loss(ts[2], ts[0], ts[1]).item(), rel=1e-12)
    assert jsd_loss(ts[0], ts[0], ts[0]).abs().item() < 1e-12
    assert 0 < jsd_loss(*ts).item() <= math.log(3)
    with pytest.raises(ValueError, match="at least 2"):
        jsd_loss(ts[0])
