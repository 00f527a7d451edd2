"""The backdoor scan: API, verdict logic on a hand-built reference, the target vote, the evaluation's
metrics and splits against independent references, and the packaged reference on a held-out pair."""
import json

import numpy as np
import pytest
import torch

from nnsafety.backdoor import scan_eval as se
from nnsafety.backdoor.evidence import FEATURES, collect_evidence, features, vote_target
from nnsafety.backdoor.scan import ScanResult, list_references, load_reference, logistic_score, scan


def _reference(coef_on="nc_anomaly", threshold=0.5, in_shape=(1, 8, 8)):
    """A reference whose regression reads one feature: score = σ(feature − 2)."""
    coef = [1.0 if n == coef_on else 0.0 for n in FEATURES]
    entry = {"settings": {"nc_steps": 5, "uap_steps": 3}, "threshold": threshold,
             "model": {"features": list(FEATURES), "mean": [0.0] * len(FEATURES), "scale": [1.0] * len(FEATURES),
                       "coef": coef, "intercept": -2.0},
             "heldout": {"fpr": 0.031, "tpr": 0.9, "n_clean": 160, "n_backdoored": 120}}
    return {"kind": "ScanReference", "name": "fixture", "in_shape": list(in_shape), "num_classes": 10,
            "noise_reference": {"mu": [[0.1] * 10] * 20, "sigma": [[0.05] * 10] * 20},
            "budgets": {b: entry for b in ("quick", "standard", "thorough")}}


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))


def test_scan_score_is_the_logistic_of_its_features_and_the_verdict_follows_the_threshold(tiny_model):
    ref = _reference()
    r = scan(tiny_model, (1, 8, 8), 10, budget="quick", reference=ref)
    assert isinstance(r, ScanResult) and r.reference == "fixture" and r.budget == "quick"
    assert r.score == pytest.approx(1 / (1 + np.exp(-(r.features["nc_anomaly"] - 2.0))))
    assert r.fpr == 0.031 and r.miss_rate == pytest.approx(0.1) and r.settings == {"nc_steps": 5, "uap_steps": 3}
    low = scan(tiny_model, (1, 8, 8), 10, budget="quick", reference=_reference(threshold=r.score - 1e-9))
    high = scan(tiny_model, (1, 8, 8), 10, budget="quick", reference=_reference(threshold=r.score + 1e-9))
    assert low.verdict == "backdoored" and low.backdoored and low.suspected_target is not None
    assert "wrong on 3.1 % of clean models" in low.message
    assert high.verdict == "clean" and high.suspected_target is None and "misses 10.0 %" in high.message
    json.dumps(low.to_dict())  # JSON-ready


def test_scan_without_a_matching_reference_is_uncalibrated(tiny_model):
    r = scan(tiny_model, (1, 8, 8), 10, budget="quick", reference=_reference(in_shape=(3, 32, 32)))
    assert r.verdict == "uncalibrated" and r.score is None and r.fpr is None and not r.backdoored
    assert set(r.evidence) == {"noise_response", "neural_cleanse", "universal_perturbation", "patch_search"}


def test_scan_rejects_bad_inputs(tiny_model, tmp_path):
    ref = _reference()
    with pytest.raises(ValueError, match="expected budget one of"):
        scan(tiny_model, (1, 8, 8), 10, budget="fast", reference=ref)
    with pytest.raises(ValueError, match="expected in_shape C×H×W"):
        scan(tiny_model, (64,), 10, reference=ref)
    with pytest.raises(ValueError, match="expected data"):
        scan(tiny_model, (1, 8, 8), 10, data=(torch.zeros(4, 3, 8, 8), torch.zeros(4)), reference=ref)
    bad = tmp_path / "r.json"
    bad.write_text('{"kind": "ProfileMeta"}')
    with pytest.raises(ValueError, match="expected a scan reference JSON"):
        load_reference(bad)
    with pytest.raises(ValueError, match="expected a scan reference name"):
        load_reference("no-such-reference")


def test_logistic_score_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3)) * [1, 5, 0.1] + [0, 2, 1]
    y = (X[:, 0] + 0.3 * rng.normal(size=80) > 0).astype(int)
    model = se.fit_logistic(X, y, ["a", "b", "c"])
    mean, scale = X.mean(0), X.std(0) + 1e-9
    sk = LogisticRegression(C=se.C_REG, max_iter=5000, class_weight="balanced").fit((X - mean) / scale, y)
    expect = sk.predict_proba((X - mean) / scale)[:, 1]
    np.testing.assert_allclose(se.predict(model, X), expect, rtol=1e-6)
    assert logistic_score(model, dict(zip("abc", X[3]))) == pytest.approx(expect[3], rel=1e-6)
    json.dumps(model)


def test_target_vote_follows_agreement_not_the_strongest_detector():
    z = lambda c, h: np.eye(10)[c] * h  # noqa: E731
    # one very strong detector says 7, two weaker ones agree on 3: the agreement wins
    target, tops = vote_target({"a": z(7, 50.0), "b": z(3, 2.0), "c": z(3, 2.5)})
    assert target == 3 and tops == {"a": 7, "b": 3, "c": 3}
    # no agreement: the largest summed z over all detectors (class 1: 4 + 3 beats class 5: 6)
    target, _ = vote_target({"a": z(5, 6.0), "b": z(1, 4.0) + z(5, -1.0), "c": z(2, 3.5) + z(1, 3.0)})
    assert target == 1


def test_auc_tpr_and_bootstrap_against_independent_references():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(60), np.ones(40)].astype(int)
    s = np.round(rng.normal(size=100) + y, 1)  # rounded: ties must count ½, as scikit-learn's
    assert se.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    lo, hi = se.bootstrap_auc(y, s, n=300)
    assert lo < se.roc_auc(y, s) < hi and hi - lo < 0.3
    clean_cut = np.sort(s[y == 0])[int(np.ceil(0.95 * (60 - 1)))]  # the 95 % quantile, "higher" method
    assert se.tpr_at_fpr(y, s) == pytest.approx(np.mean(s[y == 1] > clean_cut))


def _rows():
    rows, i = [], 0
    for recipe in ("sgd/erm", "adam/erm", "adamw/noise", "sgd/mixup"):
        for label in (0, 0, 1, 1, 1):
            fam = ("patch_bright", "sig", "small_norm")[i % 3] if label else None
            att = ("standard", "noise_aware", "small_norm")[i % 3] if label else None
            rows.append({"id": f"m{i:04d}", "label": label, "recipe": recipe, "family": fam, "attacker": att})
            i += 1
    return rows


@pytest.mark.parametrize("split", list(se.SPLITS))
def test_splits_never_score_a_model_like_those_fitted(split):
    rows = _rows()
    seen = np.zeros(len(rows), int)
    for fit, score in se.SPLITS[split](rows):
        assert not (fit & score).any()
        seen += score
        fitted = [r for r, f in zip(rows, fit) if f]
        scored = [r for r, s in zip(rows, score) if s]
        fit_clean_recipes = {r["recipe"] for r in fitted if r["label"] == 0}
        assert all(r["recipe"] not in fit_clean_recipes for r in scored if r["label"] == 0)
        if split == "leave-one-recipe-out":
            assert not {r["recipe"] for r in scored} & {r["recipe"] for r in fitted}
        if split == "leave-one-family-out":
            assert not {r["family"] for r in scored if r["label"]} & {r["family"] for r in fitted if r["label"]}
        if split == "attacker":
            assert all(r["attacker"] == "standard" for r in fitted if r["label"])
            assert all(r["attacker"] != "standard" for r in scored if r["label"])
    assert seen.max() <= 1  # every model is scored at most once per split


def test_inversion_snapshots_equal_shorter_runs(tiny_model):
    long = collect_evidence(tiny_model, (1, 8, 8), 10, n_probes=2, nc_steps=8, uap_steps=6, checkpoints=(4, 3),
                            prototype_steps=3)
    short = collect_evidence(tiny_model, (1, 8, 8), 10, n_probes=2, nc_steps=4, uap_steps=3, prototype_steps=3)
    np.testing.assert_allclose(long["nc_l1_at"][4], short["nc_l1_at"][4], rtol=1e-5)
    np.testing.assert_allclose(long["uap_at"][3][0], short["uap_at"][3][0])
    ref = {"mu": np.full((20, 10), 0.1), "sigma": np.full((20, 10), 0.05)}
    assert features(long, ref, 4, 3) == pytest.approx(features(short, ref, 4, 3))


def test_packaged_reference_on_a_pair_no_zoo_recipe_trained(backdoor_pair):
    """The conftest pair is trained by a plain torch loop (not the trainer, so no recipe of the zoo):
    at every budget, data-free and with the audit's 100 clean test samples, the clean MLP passes and
    the BadNets MLP (target 0) is flagged with target 0, at the FPR the reference states."""
    assert "digits_recipes" in list_references()
    ref = load_reference("digits_recipes")
    assert set(ref["budgets"]) >= {"quick", "standard", "thorough", "quick+data", "standard+data", "thorough+data"}
    x, y = backdoor_pair["test"].tensors()
    for budget in ("quick", "standard", "thorough"):
        for data in (None, (x[:100], y[:100])):
            clean, bad = (scan(backdoor_pair[k], (1, 8, 8), 10, data=data, budget=budget) for k in ("clean", "backdoored"))
            key = budget + ("+data" if data is not None else "")
            assert clean.budget == key and clean.verdict == "clean", clean.message
            assert bad.verdict == "backdoored" and bad.suspected_target == 0, bad.message
            assert bad.fpr == ref["budgets"][key]["heldout"]["fpr"] <= 0.05 and bad.with_data == (data is not None)


def test_the_evaluation_scores_with_the_same_features_as_scan(tiny_model):
    """Scorer's vectorized matrix equals ``features`` with the reference of the fitted rows' clean models."""
    rows = []
    for i in range(4):  # same weights, evidence differs through the probes' seed
        ev = collect_evidence(tiny_model, (1, 8, 8), 10, n_probes=2, nc_steps=4, uap_steps=3, prototype_steps=2, seed=i)
        rows.append({"id": f"m{i}", "label": i % 2, "evidence": ev})
    scorer = se.Scorer(rows, (4, 3))
    fit = np.array([True, True, False, True])
    ref = se.noise_reference([r for r, f in zip(rows, fit) if f], steps=(4, 3))
    assert len(ref["patch_mu"]) == len(ref["uap_sigma"]) == 10
    expect = se.feature_matrix(rows, ref, (4, 3))
    np.testing.assert_allclose(scorer.matrix(fit), expect, rtol=1e-9, atol=1e-12)


def test_detect_defaults_to_the_scan(tiny_model):
    from nnsafety.backdoor.detect import detect

    res = detect(tiny_model, in_shape=(1, 8, 8), num_classes=10, budget="quick")
    direct = scan(tiny_model, (1, 8, 8), 10, budget="quick")
    assert res.detector == "scan" and res.score == pytest.approx(direct.score)
    assert res.threshold == pytest.approx(direct.threshold) and res.backdoored == direct.backdoored
    assert direct.message in res.summary()


def test_max_of_calibrated_parts_against_a_direct_computation():
    """Each part is a logistic regression on its group; its score is the fraction of the fitted clean
    models it beats or ties (empirical CDF), and the model's score is the largest part's."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=60) > 0.3).astype(int)
    groups = {"a": ["a"], "bc": ["b", "c"]}
    model = se.fit_combined(X, y, ["a", "b", "c"], groups)
    expect = []
    for part, cols in zip(model["parts"], ([0], [1, 2])):
        one = se.fit_logistic(X[:, cols], y, part["features"])
        s = se.predict(one, X[:, cols])
        clean = s[y == 0]
        expect.append(np.array([(clean <= v).mean() for v in s]) + 1e-3 * s)
    want = np.max(expect, 0) / (1 + 1e-3)
    np.testing.assert_allclose(se.predict_combined(model, X), want, rtol=1e-9)
    assert logistic_score(model, dict(zip("abc", X[7]))) == pytest.approx(want[7], rel=1e-9)
    assert 0.0 <= want.min() and want.max() <= 1.0


def test_patch_and_warp_features_of_hand_made_evidence():
    """A trigger class reached by one patch and its near copies has a large spread; a natural sink
    reached by many patches a small one; warp features read the per-class mean response."""
    from nnsafety.backdoor.evidence import _patch_features, _warp_features

    flip = [0.1] * 10
    flip[4] = 0.9
    top = [[0.1] * 16 for _ in range(10)]
    top[4] = [0.9, 0.8, 0.7] + [0.05] * 13  # three near copies of one patch, then nothing
    ev = {"patch": {"flip": flip, "top": top, "untargeted": 0.95, "dest_share": 0.5},
          "warp": {"mean": [0.0] * 9 + [0.3], "max": [0.0] * 9 + [0.6], "flip": 0.7}}
    f = _patch_features(ev)
    assert f["patch_spread"] == pytest.approx(0.85) and f["patch_flip_max"] == 0.9
    assert f["patch_untargeted"] == 0.95 and f["patch_dest_share"] == 0.5
    ev["patch"]["top"][4] = [0.9, 0.9, 0.85, 0.85, 0.8, 0.8, 0.8, 0.8] + [0.5] * 8  # many patches: a sink
    assert _patch_features(ev)["patch_spread"] == pytest.approx(0.1)
    w = _warp_features(ev)
    assert w["warp_mean_max"] == 0.3 and w["warp_max_max"] == 0.6 and w["warp_flip"] == 0.7
    assert w["warp_mean_z"] == pytest.approx(0.3 / (1.4826 * 0.02))  # median 0, MAD floored at 0.02


def test_scan_calibrates_per_class_rates_with_the_budgets_class_reference(tiny_model):
    """The entry's per-class μ, σ (natural sink classes of the data) shift the class-z features:
    with μ = 0.5, σ + floor = 0.5 for every class the largest z is (rate − 0.5) / 0.5, where the
    default (μ = 0, σ + floor = 1) gives the rate itself."""
    plain = _reference()
    shifted = _reference()
    shifted["budgets"] = {b: {**e, "class_reference": {"patch_mu": [0.5] * 10, "patch_sigma": [0.45] * 10,
                                                       "uap_mu": [0.5] * 10, "uap_sigma": [0.45] * 10}}
                          for b, e in plain["budgets"].items()}
    a = scan(tiny_model, (1, 8, 8), 10, budget="quick", reference=plain).features
    b = scan(tiny_model, (1, 8, 8), 10, budget="quick", reference=shifted).features
    assert a["patch_cz_max"] == pytest.approx(a["patch_flip_max"])
    assert b["patch_cz_max"] == pytest.approx((a["patch_flip_max"] - 0.5) / 0.5)
    assert b["uap_cz_max"] == pytest.approx((a["uap_asr_max"] - 0.5) / 0.5)


def _hand_evidence(flip, warp, l1, asr):
    return {"profile": np.full((20, 10), 0.1).tolist(), "nc_l1_at": {5: l1}, "uap_at": {3: [asr, [1.0] * 10]},
            "nc_steps": 5, "uap_steps": 3, "patch": {"flip": flip}, "warp": {"mean": warp}}


def test_calibrated_target_discounts_a_natural_sink_class():
    """Class 8 is reached by patches on every clean model (μ 0.85): its raw rate 0.9 is the model's
    largest but no more than usual; class 3's 0.5 against μ 0.05 is the anomaly. Each detector's z is
    (value − μ_k) / (σ_k + floor), capped at 10, summed over detectors (a plain loop here)."""
    from nnsafety.backdoor.evidence import calibrated_suspicion, calibrated_target

    flip, warp, l1, asr = [0.05] * 10, [0.02] * 10, [20.0] * 10, [0.1] * 10
    flip[8], flip[3], asr[8] = 0.9, 0.5, 0.6
    ev = _hand_evidence(flip, warp, l1, asr)
    ref = {"mu": np.full((20, 10), 0.1).tolist(), "sigma": np.full((20, 10), 0.05).tolist(),
           "patch_mu": [0.05] * 8 + [0.85, 0.05], "patch_sigma": [0.05] * 10,
           "uap_mu": [0.1] * 8 + [0.55, 0.1], "uap_sigma": [0.1] * 10,
           "nc_mu": [-3.0] * 10, "nc_sigma": [0.2] * 10}  # no warp statistics: the warp detector is left out
    cal = calibrated_suspicion(ev, ref)
    assert set(cal) == {"noise_response", "neural_cleanse", "universal_perturbation", "patch_search"}
    want = np.zeros(10)
    for k in range(10):
        want[k] += min((flip[k] - ref["patch_mu"][k]) / (0.05 + 0.05), 10)
        want[k] += min((asr[k] - ref["uap_mu"][k]) / (0.1 + 0.05), 10)
        want[k] += min((-np.log(l1[k]) + 3.0) / (0.2 + 0.1), 10)
    np.testing.assert_allclose(sum(np.minimum(v, 10) for v in cal.values()), want)
    target, tops = calibrated_target(cal)
    assert target == 3 == int(np.argmax(want)) and tops["patch_search"] == 3 and int(np.argmax(flip)) == 8


def test_the_evaluation_picks_the_target_like_scan(tiny_model):
    """Scorer.targets (vectorized, references from the fitted rows' clean models) equals
    ``calibrated_target`` of ``calibrated_suspicion`` with those rows' ``noise_reference`` per model."""
    from nnsafety.backdoor.evidence import calibrated_suspicion, calibrated_target

    rows = []
    for i in range(5):
        ev = collect_evidence(tiny_model, (1, 8, 8), 10, n_probes=2, nc_steps=4, uap_steps=3, prototype_steps=2, seed=i)
        rows.append({"id": f"m{i}", "label": int(i >= 3), "evidence": ev})
    scorer = se.Scorer(rows, (4, 3))
    fit = np.array([True, True, False, True, False])
    ref = se.noise_reference([r for r, f in zip(rows, fit) if f], steps=(4, 3))
    assert {"nc_mu", "warp_sigma", "patch_mu", "uap_sigma"} <= set(ref)
    want = [calibrated_target(calibrated_suspicion(rows[i]["evidence"], ref, 4, 3))[0] for i in (2, 4)]
    assert scorer.targets(fit, ~fit) == want
