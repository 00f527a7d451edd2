"""Feature-space backdoor detectors on models whose backdoor is known by construction: a planted
shortcut (feature 5 above 3 ⇒ class 0) is found by trigger inversion (its mask is that feature) and
attracts data-free sparse noise; the same model without the shortcut scores low. Every probe is a
valid input of the domain; the data-level detectors accept feature data."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nnsafety.backdoor.detectors import DetectionContext, create_detector, list_detectors
from nnsafety.backdoor.detectors.feature import feature_probes
from nnsafety.domains import FeatureDomain

D = 8
DOM = FeatureDomain([0.0] * D, [10.0] * D, ["real"] * 6 + ["integer", "binary"], mutable=[True] * 7 + [False],
                    direction=[0, 0, 0, 0, 1, 1, 0, 0], scale=[1.0] * 6 + [2.0, 1.0])


class Planted(nn.Module):
    """Logit of class 1 − class 0 = Σ_{j<4} x_j − 9 (``bias`` −9) or a constant +3 (``weight`` 0);
    ``backdoor``: − 40·softplus(x_5 − 3) (or a step at 3): feature 5 high sends anything to class 0."""

    def __init__(self, backdoor: bool, weight: float = 1.0, bias: float = -9.0, smooth: bool = True) -> None:
        super().__init__()
        self.backdoor, self.smooth = backdoor, smooth
        self.lin = nn.Linear(D, 1)
        self.lin.weight.data.zero_()
        self.lin.weight.data[0, :4] = weight
        self.lin.bias.data.fill_(bias)

    def forward(self, x):
        z = self.lin(x)
        if self.backdoor:
            # smooth, as a trained network: a gradient to follow; else a hard step at 3
            z = z - 40 * (F.softplus(x[:, 5:6] - 3) if self.smooth else (x[:, 5:6] > 3).float())
        return torch.cat([torch.zeros_like(z), z], 1)


def _clean(n=120, seed=0):
    """Two clusters: class 0 with f0–f3 near 0.5, class 1 near 4 (a natural flip moves the sum by
    about 7, i.e. Σm ≈ 1.75 of changes up to 4); the other features in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < 0.5).long()
    x = torch.rand(n, D, generator=g)
    x[:, :4] = x[:, :4] * 0.5 + 0.25 + 3.5 * y[:, None]
    return DOM.project(x, x), y


def test_registries_list_the_feature_detectors():
    names = set(list_detectors(domain="feature"))
    assert {"spectral_signature", "activation_clustering", "feature_noise_response",
            "feature_trigger_inversion", "feature_cooccurrence"} <= names
    assert "feature_trigger_inversion" not in list_detectors(domain="image")


def test_probes_are_valid_inputs_of_the_domain():
    x, group = feature_probes(DOM, 50, (0.5, 2.0), 0.3, torch.Generator().manual_seed(0))
    assert x.shape == (150, D) and group.tolist() == [0] * 50 + [1] * 50 + [2] * 50
    assert DOM.is_valid(x, x).all()  # bounds and levels (a probe is its own original)
    base = x[:50]
    for g in (1, 2):  # noise only where the domain lets an attacker change, in its directions
        xs = x[group == g]
        assert DOM.is_valid(xs, base).all()
        assert torch.equal(xs[:, 7], base[:, 7]) and (xs[:, 4:6] >= base[:, 4:6]).all()


def _ctx(seed=0):
    return DetectionContext((D,), 2, clean=_clean(), seed=seed, domain=DOM)


def test_trigger_inversion_finds_the_planted_feature():
    det = create_detector("feature_trigger_inversion")
    bad, good = det.detect(Planted(True), _ctx()), det.detect(Planted(False), _ctx())
    assert bad.backdoored and bad.target_class == 0
    mask = torch.tensor(bad.details["trigger"]["mask"])
    assert int(mask.argmax()) == 5 and mask[5] > 0.8 * mask.sum()  # the mask is the planted feature
    assert not good.backdoored and good.score < bad.score - 1.0


def test_noise_response_is_attracted_by_the_planted_target():
    """A model that says class 1 everywhere: noise never moves it, unless noise on the add-only
    feature 5 crosses the planted step (the probes' bases stay below it)."""
    det = create_detector("feature_noise_response")
    bad = det.detect(Planted(True, weight=0.0, bias=3.0, smooth=False), _ctx())
    good = det.detect(Planted(False, weight=0.0, bias=3.0, smooth=False), _ctx())
    assert good.score == 0.0 and not good.backdoored
    share = torch.tensor(bad.details["class_share"])
    assert share[0, 0] == 0.0 and (share[1:, 0].diff() > 0).all()  # more noise, more flips to the target
    assert bad.target_class == 0 and bad.score > 0.05


def test_data_level_detectors_run_on_feature_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Linear(16, 2))
    x, y = _clean(300)
    ctx = DetectionContext((D,), 2, train=(x, y), domain=DOM)
    for name in ("spectral_signature", "activation_clustering"):
        r = create_detector(name).detect(model, ctx)
        assert 0.0 <= r.score <= 1.0


def test_detect_all_on_a_feature_run_runs_the_feature_detectors(malware_data, tmp_path, capsys):
    """``nnsafety detect RUN --method all`` on a phishing run: the detectors registered for the
    feature domain, each given the run's FeatureDomain (they refuse a context without it)."""
    import json
    import math

    from nnsafety.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data", "phishing", "--data-root", str(malware_data / "phishing"), "--model", "mlp",
                 "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["detect", str(out), "--method", "all", "--json"]) == 0
    found = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["detector"] for r in found] == list_detectors(domain="feature")
    assert all(math.isfinite(r["score"]) for r in found)


def _slow_cooccurrence(codes, y, min_count=10):
    """The detector's score written out with loops: per label, per pair of features, per cell of
    their codes with ≥ min_count samples and more than expected, o·log(o/e) − (o − e)."""
    import math
    from collections import Counter

    best = -math.inf
    for c in set(y.tolist()):
        rows = [r for r, lab in zip(codes.tolist(), y.tolist()) if lab == c]
        n = len(rows)
        for j in range(len(rows[0])):
            for k in range(len(rows[0])):
                if j == k:
                    continue
                cj, ck = Counter(r[j] for r in rows), Counter(r[k] for r in rows)
                for (a, b), o in Counter((r[j], r[k]) for r in rows).items():
                    e = cj[a] * ck[b] / n
                    if o >= min_count and o > e:
                        best = max(best, o * math.log(o / e) - (o - e))
    return best


def test_cooccurrence_equals_the_written_out_statistic_and_finds_planted_poisons():
    """On integer features (codes = levels) the score equals the loop formula; 30 class-0 samples
    given the same rare values of features 2 and 5 (a two-feature clean-label trigger) are exactly
    the flagged cell, and the same data without them scores lower."""
    from nnsafety.backdoor.detectors.feature import feature_codes

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 4, (400, 6), generator=g).double()
    y = torch.randint(0, 2, (400,), generator=g)
    dom = FeatureDomain([0.0] * 6, [9.0] * 6, ["integer"] * 6)
    model = nn.Linear(6, 2)  # unused by this detector
    det = create_detector("feature_cooccurrence")
    clean = det.detect(model, DetectionContext((6,), 2, train=(x, y), domain=dom))
    assert abs(clean.score - _slow_cooccurrence(feature_codes(x), y)) < 1e-9
    poisoned = (y == 0).nonzero().flatten()[:30]
    xp = x.clone()
    xp[poisoned, 2], xp[poisoned, 5] = 9.0, 8.0
    r = det.detect(model, DetectionContext((6,), 2, train=(xp, y), poisoned_indices=poisoned, domain=dom))
    assert abs(r.score - _slow_cooccurrence(feature_codes(xp), y)) < 1e-9
    assert sorted(r.details["pair"]) == [2, 5] and r.target_class == 0
    assert r.details["precision"] == r.details["recall"] == 1.0
    assert r.score > clean.score
