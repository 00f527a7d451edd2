"""Every registered detector separates a clearly backdoored MLP from a clean one."""
import json

import pytest
import torch

from nnsafety.backdoor.detect import detect
from nnsafety.backdoor.detectors import MetaClassifier, create_detector, list_detectors, mad_anomaly
from nnsafety.backdoor.evaluate import backdoor_metrics


def _run(pair, which, method, **settings):
    test_x, test_y = pair["test"].tensors()
    train = pair["poisoned"] if which == "backdoored" else pair["train"]
    truth = pair["poisoned"].poisoned_indices if which == "backdoored" else None
    return detect(pair[which], method, in_shape=(1, 8, 8), num_classes=10, clean=(test_x[:100], test_y[:100]),
                  train=train.tensors(), poisoned_indices=truth, **settings)


def test_the_pair_is_what_the_tests_assume(backdoor_pair):
    m_bad = backdoor_metrics(backdoor_pair["backdoored"], backdoor_pair["test"], backdoor_pair["poisoned"])
    m_clean = backdoor_metrics(backdoor_pair["clean"], backdoor_pair["test"], backdoor_pair["poisoned"])
    assert m_bad.attack_success_rate >= 0.95 and m_bad.clean_accuracy >= 0.9
    assert m_clean.attack_success_rate <= 0.2 and m_clean.clean_accuracy >= 0.9


@pytest.mark.parametrize("method,settings", [
    ("noise_response", {}), ("weights", {}), ("neural_cleanse", {"data_free": True}),
    ("neural_cleanse", {"data_free": False}), ("strip", {}), ("spectral_signature", {}),
    ("activation_clustering", {}),
])
def test_detector_separates_backdoored_from_clean(backdoor_pair, method, settings):
    bad = _run(backdoor_pair, "backdoored", method, **settings)
    clean = _run(backdoor_pair, "clean", method, **settings)
    assert bad.score > clean.score, (bad.summary(), clean.summary())
    assert bad.backdoored, bad.summary()
    json.dumps(bad.to_dict())
    if method in ("noise_response", "weights", "neural_cleanse", "strip"):
        assert bad.target_class == 0
    if method in ("strip", "spectral_signature", "activation_clustering"):
        assert bad.details["recall"] >= 0.5, bad.details
    if method in ("neural_cleanse", "spectral_signature", "strip"):
        assert not clean.backdoored, clean.summary()


def test_registry_and_errors():
    assert set(list_detectors(domain="image")) == {"noise_response", "weights", "neural_cleanse", "strip",
                                                   "spectral_signature", "activation_clustering",
                                                   "universal_perturbation", "warp_inversion", "scan"}
    with pytest.raises(ValueError, match="unknown detector 'x'; expected one of"):
        create_detector("x")
    with pytest.raises(ValueError, match="unknown setting"):
        create_detector("strip", overlays=3)


def test_training_set_detectors_need_the_training_set(backdoor_pair):
    with pytest.raises(ValueError, match="needs the training set"):
        detect(backdoor_pair["clean"], "spectral_signature", in_shape=(1, 8, 8), num_classes=10)


def test_mad_anomaly_matches_numpy_formula():
    import numpy as np

    v = np.array([10.0, 11.0, 9.5, 10.5, 3.0, 10.2])
    med = np.median(v)
    expected = np.abs(v - med) / (1.4826 * np.median(np.abs(v - med)))
    np.testing.assert_allclose(mad_anomaly(torch.tensor(v)).numpy(), expected, rtol=1e-12)


def test_meta_classifier_learns_separable_features():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g)
    y = (x[:, 0] > 0).long()
    meta = MetaClassifier(n_estimators=50).fit(x.tolist(), y.tolist())
    p = meta.predict_proba([[2.0, 0, 0], [-2.0, 0, 0]])
    assert p[0] > 0.8 and p[1] < 0.2
    with pytest.raises(ValueError, match="both classes"):
        MetaClassifier().fit([[0.0]] * 3, [0, 0, 0])
