"""Explanation-guided clean-label poisoning (Severi et al. 2021) in feature space: the surrogate's
weights equal scikit-learn's logistic regression on the same objective, MinPopulation picks the
rarest reachable value, a triggered input is always valid in its FeatureDomain, and poisoning keeps
labels, touches only target-class samples and implants a backdoor that the trigger alone lacks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nnsafety.data.poison import poison_dataset, trigger_from_config
from nnsafety.data.security import FeatureDataset
from nnsafety.data.triggers import create_trigger, list_triggers
from nnsafety.data.triggers_feature import logistic_surrogate, min_population_value
from nnsafety.domains import FeatureDomain


def _task(n=600, seed=0):
    """Class 1 ("malicious") has larger f0–f3; f4–f7 are noise; f8 integer 0–5, f9 immutable."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < 0.4).long()
    x = torch.rand(n, 10, generator=g) * 2
    x[:, :4] += 1.5 * y[:, None]
    x[:, 8] = torch.randint(0, 6, (n,), generator=g).float()
    dom = FeatureDomain([0.0] * 10, [10.0] * 8 + [5.0, 10.0], ["real"] * 8 + ["integer", "real"],
                        mutable=[True] * 9 + [False], direction=[1, 1, 0, 0, 1, -1, 0, 0, 1, 0])
    return FeatureDataset(x, y, ["benign", "malicious"], "toy", dom)


def test_surrogate_equals_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    ds = _task()
    x, y = ds.tensors()
    w, mu, sd = logistic_surrogate(x, y, weight_decay=1e-3)
    z = ((x.double() - mu) / sd).numpy()
    # ours: mean log-loss + λ‖w‖²; sklearn: C·Σ log-loss + ½‖w‖²  ⇒  C = 1 / (2 N λ)
    ref = LogisticRegression(C=1 / (2 * len(y) * 1e-3), tol=1e-8, max_iter=1000).fit(z, y.numpy())
    np.testing.assert_allclose(w.numpy(), ref.coef_[0], rtol=1e-4, atol=1e-5)


def test_min_population_picks_the_rarest_reachable_value():
    col = torch.tensor([0.0, 0, 0, 0, 1, 1, 1, 2, 3, 3, 4, 4])  # median 1: add-only reaches 1..4
    assert min_population_value(col, "integer", 1, 0.0, 4.0) == 2.0
    assert min_population_value(col, "integer", -1, 0.0, 4.0) == 1.0  # remove-only: 0 or 1 → 1 (3 vs 4)
    real = torch.cat([torch.zeros(50), torch.linspace(0, 10, 101)])
    v = min_population_value(real, "real", 0, 0.0, 10.0, bins=10)
    assert 0.5 < v < 10.0  # never the crowded bin at 0


def test_trigger_is_registered_for_features_and_every_triggered_input_is_valid():
    assert "explanation_guided" in list_triggers(domain="feature")
    assert "explanation_guided" not in list_triggers(domain="image")
    ds = _task()
    x, y = ds.tensors()
    trig = create_trigger("explanation_guided", n_features=5).fit(x, y, ds.domain, target=0)
    assert len(trig.features) == 5 and 9 not in trig.features  # the immutable feature is never chosen
    xt = trig.apply(x)
    assert ds.domain.is_valid(xt, x).all()
    for j, v, d in zip(trig.features, trig.values, trig.directions):
        expect = torch.clamp(x[:, j], min=v) if d > 0 else torch.clamp(x[:, j], max=v) if d < 0 else torch.full_like(x[:, j], v)
        assert torch.equal(xt[:, j], expect)
    untouched = [j for j in range(10) if j not in trig.features]
    assert torch.equal(xt[:, untouched], x[:, untouched])
    with pytest.raises(ValueError, match="no features yet"):
        create_trigger("explanation_guided").apply(x)
    with pytest.raises(ValueError, match="both features and values"):
        create_trigger("explanation_guided", features=[1])


def test_clean_label_poisoning_implants_a_backdoor_the_trigger_alone_lacks():
    from nnsafety.backdoor.evaluate import backdoor_metrics
    from nnsafety.train import TrainConfig, train

    tr, te = _task(1500, 0), _task(600, 1)
    ps = poison_dataset(tr, "explanation_guided", rate=0.05, target=0, seed=0, n_features=8)
    c = ps.poison_config
    assert c["clean_label"] and c["n_poisoned"] == 75 and ps.domain is tr.domain
    assert torch.equal(ps.labels, tr.labels)  # clean label: no label changes
    changed = (ps.images != tr.images).any(1).nonzero().flatten()
    assert set(changed.tolist()) <= set(ps.poisoned_indices.tolist()) and (tr.labels[changed] == 0).all()
    rebuilt = trigger_from_config(c)
    x, _ = te.tensors()
    assert torch.equal(rebuilt.apply(x), ps.trigger.apply(x))
    asr = {}
    for name, data in (("clean", tr), ("poisoned", ps)):
        cfg = TrainConfig(data="toy", model="mlp", method="erm", epochs=15, seed=0, eval_every=15, device="cpu")
        model = train(cfg, train_set=data, test_set=te, progress=False).model
        asr[name] = backdoor_metrics(model, te, c).attack_success_rate
    assert asr["poisoned"] > 0.8 and asr["clean"] < 0.3, asr
