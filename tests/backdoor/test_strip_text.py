"""STRIP for text flags the triggered training texts of a one-word-trigger bag-of-words model."""
from __future__ import annotations

import torch

from nnsafety.backdoor.detectors import DetectionContext, create_detector, list_detectors
from nnsafety.domains import TokenDomain

V, L, TRIGGER = 60, 12, 17


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(2, V, (120, L), generator=g)
    x[:, 10:] = 0
    x[x == TRIGGER] = TRIGGER + 1
    poisoned = torch.arange(100, 120)
    x[poisoned, 3] = TRIGGER  # the training set's last 20 texts carry the trigger word
    return x, poisoned


def test_flags_the_triggered_texts(bag_of_words):
    assert {"strip_text", "trigger_token"} <= set(list_detectors(domain="token"))
    x, poisoned = data()
    w = torch.linspace(-0.05, 0.05, V)  # clean words barely move the prediction: entropy near ln 2
    w[:2] = 0
    w[TRIGGER] = 8.0
    ctx = DetectionContext(in_shape=(L,), num_classes=2, clean=(x[:100], torch.zeros(100, dtype=torch.long)),
                           train=(x, torch.zeros(120, dtype=torch.long)), poisoned_indices=poisoned,
                           domain=TokenDomain(V), seed=0)
    det = create_detector("strip_text")
    bad = det.detect(bag_of_words(w.tolist()), ctx)
    assert bad.backdoored and bad.target_class == 1 and bad.details["recall"] == 1.0 and bad.details["precision"] >= 0.9
    w[TRIGGER] = 0.0
    good = det.detect(bag_of_words(w.tolist()), ctx)
    assert not good.backdoored, good.summary()
