"""AUROC against scikit-learn and a brute-force pair count; bootstrap CI brackets the estimate."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from nnsafety.genai import auroc, auroc_ci


def test_auroc_matches_sklearn_and_pair_count_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)  # rounding makes ties
    pairs = [(a > b) + 0.5 * (a == b) for a in s[y == 1] for b in s[y == 0]]
    assert auroc(y, s) == pytest.approx(np.mean(pairs))
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_auroc_one_class_is_nan_and_ci_brackets():
    assert np.isnan(auroc([1, 1], [0.1, 0.2]))
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    r = auroc_ci(y, rng.normal(size=300) + y, n_boot=300, seed=0)
    assert r.low < r.auroc < r.high and 0.7 < r.auroc < 0.85  # Φ(1/√2) = 0.76 in expectation
    assert r.n_pos + r.n_neg == 300


def test_answer_calibration_against_hand_formula():
    from nnsafety.genai import answer_calibration

    p = [0.95, 0.95, 0.55, 0.55, 0.05]
    c = [1, 1, 1, 0, 0]
    r = answer_calibration(p, c, n_bins=10)
    # bins: {0.95, 0.95} acc 1, {0.55, 0.55} acc 0.5, {0.05} acc 0
    assert r.ece == pytest.approx((2 * 0.05 + 2 * 0.05 + 1 * 0.05) / 5)
    assert r.brier == pytest.approx(np.mean((np.array(p) - np.array(c)) ** 2))
    with pytest.raises(ValueError, match="expected probabilities in \\[0, 1\\]"):
        answer_calibration([1.5], [1])


def test_bootstrap_ci_equals_the_slow_index_resampling():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 60)
    s = np.round(rng.normal(size=60) + y, 1)
    slow_rng, boots = np.random.default_rng(7), []
    for _ in range(200):  # the obvious bootstrap: resample indices, recompute the AUROC
        idx = slow_rng.integers(0, 60, 60)
        v = auroc(y[idx], s[idx])
        if not np.isnan(v):
            boots.append(v)
    r = auroc_ci(y, s, n_boot=200, seed=7)
    assert (r.low, r.high) == pytest.approx((np.quantile(boots, 0.025), np.quantile(boots, 0.975)))
