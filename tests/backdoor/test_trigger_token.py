"""Trigger-token inversion separates a one-word-trigger bag-of-words model from a clean one."""
from __future__ import annotations

import pytest
import torch

from nnsafety.backdoor.detectors import DetectionContext, create_detector, list_detectors
from nnsafety.domains import TokenDomain

V, L = 60, 12
D = TokenDomain(vocab_size=V, pad_id=0, unk_id=1)


def weights(trigger: bool):
    w = torch.linspace(-0.3, 0.3, V)  # every clean word is weak: one word cannot outvote a text
    w[:2] = 0
    if trigger:
        w[17] = 8.0  # "cf": any text containing it is class 1
    return w.tolist()


def probes():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(2, V, (80, L), generator=g)
    x[:, 8:] = 0
    x[x == 17] = 18  # the clean probes never contain the trigger word
    return x


@pytest.mark.parametrize("data_free", [False, True])
def test_finds_the_trigger_word_and_its_class(bag_of_words, data_free):
    assert list_detectors(domain="token") == ["dbs_inversion", "embedding_outlier", "firm_scan", "lexicon_scan",
                                              "strip_text", "trigger_inversion", "trigger_token", "vocab_scan"]
    x = probes()
    ctx = DetectionContext(in_shape=(L,), num_classes=2, clean=(x, torch.zeros(len(x), dtype=torch.long)),
                           domain=D, seed=0)
    det = create_detector("trigger_token", candidates=5, n_probes=80, data_free=data_free)
    bad = det.detect(bag_of_words(weights(True)), ctx)
    good = det.detect(bag_of_words(weights(False)), ctx)
    assert bad.backdoored and bad.target_class == 1 and bad.details["trigger_word_id"][1] == 17
    assert bad.score == 1.0 and good.score < 0.8 and not good.backdoored
    with pytest.raises(ValueError, match="token"):
        det.detect(bag_of_words(weights(True)), DetectionContext(in_shape=(1, 8, 8), num_classes=2))
