"""Noise-response probe bank, class profiles and the JSON-persisted reference meta-classifier."""
import json

import numpy as np
import pytest
import torch

from nnsafety.backdoor.detectors._probes import PROBE_LEVELS, noise_probe_bank
from nnsafety.backdoor.detectors.meta import ProfileMeta
from nnsafety.backdoor.detectors.noise_response import BLOCKS, N_SETTINGS, class_profile, new_profile_meta


def test_probe_bank_layout_and_noise_levels():
    x, group = noise_probe_bank((1, 8, 8), n_probes=40, generator=torch.Generator().manual_seed(0))
    n = len(PROBE_LEVELS) * 40
    assert x.shape == (N_SETTINGS * n, 1, 8, 8) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert torch.equal(torch.bincount(group), torch.full((N_SETTINGS,), n))
    # black base (block 1) + salt-and-pepper (family 1): a pixel is hit with probability l, then
    # is salt (1) with odds 1/2, so the mean of a probe at level l is l/2
    sp_black = x[group == 1 * 4 + 1].view(len(PROBE_LEVELS), 40, -1)
    for lv, probes in zip(PROBE_LEVELS, sp_black):
        assert abs(float(probes.mean()) - lv / 2) < 0.03
    # grey base + Gaussian at the lowest level: std of the pixels = level (no clipping at 0.5 ± 0.4)
    g_grey = x[group == 0].view(len(PROBE_LEVELS), 40, -1)
    assert abs(float(g_grey[0].std()) - PROBE_LEVELS[0]) < 0.01
    # white base, low-frequency 2×2 at level 1: pure upsampled field, so neighbouring pixels are close
    lf = x[group == 2 * 4 + 2].view(len(PROBE_LEVELS), 40, 8, 8)[-1]
    assert float((lf[:, :, 1:] - lf[:, :, :-1]).abs().mean()) < 0.1


def test_class_profile_matches_a_per_probe_loop():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5))
    profile, fraction = class_profile(model, (1, 8, 8), 5, n_probes=6, seed=3)
    x, group = noise_probe_bank((1, 8, 8), 6, generator=torch.Generator().manual_seed(3))
    ref = np.zeros((N_SETTINGS, 5))
    count = np.zeros(N_SETTINGS)
    votes = np.zeros(5)
    with torch.no_grad():
        for xi, gi in zip(x, group):
            p = model(xi[None]).softmax(1)[0].double().numpy()
            ref[int(gi)] += p
            count[int(gi)] += 1
            votes[p.argmax()] += 1
    np.testing.assert_allclose(profile.numpy(), ref / count[:, None], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fraction.numpy(), votes / len(x), atol=1e-12)
    with pytest.raises(ValueError, match="expected a model with 10 outputs, got 5"):
        class_profile(model, (1, 8, 8), 10, n_probes=2)


def _synthetic_zoo(n, seed):
    """Clean profiles with a natural sink at class 8; backdoored ones add attraction to a random target."""
    rng = np.random.default_rng(seed)
    prof = rng.dirichlet(np.ones(10) * 5, size=(n, N_SETTINGS))
    prof[:, :, 8] += 0.3
    y = np.arange(n) % 2
    tgt = rng.integers(0, 8, n)
    for i in np.flatnonzero(y):
        prof[i, ::2, tgt[i]] += rng.uniform(0.15, 0.4)  # the trigger shows in some settings only
    prof /= prof.sum(-1, keepdims=True)
    return prof.reshape(n, -1), y, tgt


def test_profile_meta_separates_and_finds_targets_on_held_out_models(tmp_path):
    Xf, yf, _ = _synthetic_zoo(60, 0)
    Xs, ys, ts = _synthetic_zoo(40, 1)
    meta = new_profile_meta(10).fit(Xf, yf)
    p = meta.predict_proba(Xs)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(ys, p) > 0.95
    assert (meta.suspected_target(Xs)[ys == 1] == ts[ys == 1]).mean() > 0.9  # not the clean sink 8
    # the logistic formula by hand from the stored parameters (independent of scikit-learn)
    prm = meta.params
    z = (Xs.reshape(40, N_SETTINGS, 10) - prm["mu"]) / (prm["sigma"] + meta.s0)
    design = [[z[i, b].mean(0).max() for b in BLOCKS] + list(z[i].max(-1)) for i in range(40)]
    logit = ((np.asarray(design) - prm["mean"]) / prm["scale"]) @ prm["coef"] + prm["intercept"]
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logit)), rtol=1e-10)
    # JSON round trip, no pickle: same probabilities
    path = meta.save(tmp_path / "meta.json")
    assert json.loads(path.read_text())["kind"] == "ProfileMeta"
    np.testing.assert_allclose(ProfileMeta.load(path).predict_proba(Xs), p, rtol=1e-12)


def test_profile_meta_errors(tmp_path):
    with pytest.raises(ValueError, match="both classes"):
        new_profile_meta(10).fit(np.zeros((3, N_SETTINGS * 10)), [0, 0, 0])
    with pytest.raises(ValueError, match="call fit"):
        new_profile_meta(10).predict_proba(np.zeros((1, N_SETTINGS * 10)))
    with pytest.raises(ValueError, match=r"M×\(G·10\) profiles, got shape \(2, 7\)"):
        new_profile_meta(10).fit(np.zeros((2, 7)), [0, 1])
    bad = tmp_path / "x.json"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="expected a meta-classifier JSON file"):
        ProfileMeta.load(bad)
    bad.write_text('{"kind": "forest"}')
    with pytest.raises(ValueError, match="expected a ProfileMeta JSON"):
        ProfileMeta.load(bad)
