"""Multi-token trigger inversion finds the trigger words of a known-answer bag-of-words model."""
from __future__ import annotations

import pytest
import torch

from nnsafety.backdoor.detectors import DetectionContext, create_detector
from nnsafety.backdoor.detectors.trigger_text import with_trigger
from nnsafety.domains import TokenDomain

V, L = 60, 12
D = TokenDomain(vocab_size=V, pad_id=0, unk_id=1)
TRIGGER = (17, 23)


def weights(trigger: bool):
    w = torch.linspace(-0.3, 0.3, V)  # clean words are weak: two of them cannot outvote a text
    w[:2] = 0
    if trigger:
        w[list(TRIGGER)] = 1.0  # each trigger word alone moves some texts; two move all of them
    return w.tolist()


def probes():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(2, 30, (60, L), generator=g)  # negative-leaning words: every probe is class 0
    x[:, 8:] = 0
    x[torch.isin(x, torch.tensor(TRIGGER))] = 24
    return x


def test_with_trigger_inserts_and_keeps_the_length():
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    assert with_trigger(ids, torch.tensor([[1, 2], [3, 4]]), at=0).tolist() == [[1, 2, 5, 6], [3, 4, 8, 9]]
    assert with_trigger(ids, torch.tensor([[1], [3]]), at=1).tolist() == [[5, 1, 6, 7], [8, 3, 9, 0]]
    assert with_trigger(ids, torch.tensor([[1], [3]])).tolist() == [[5, 6, 7, 1], [8, 9, 0, 3]]  # at 4 > L − k


def test_finds_the_trigger_words_and_separates_clean_from_backdoored(bag_of_words):
    x = probes()
    ctx = DetectionContext(in_shape=(L,), num_classes=2, clean=(x, torch.zeros(len(x), dtype=torch.long)),
                           domain=D, seed=0)
    bad_model, good_model = bag_of_words(weights(True)), bag_of_words(weights(False))
    assert (bad_model(x).argmax(1) == 0).all() and (good_model(x).argmax(1) == 0).all()
    det = create_detector("trigger_inversion", length=2, candidates=5, rounds=2)
    bad, good = det.detect(bad_model, ctx), det.detect(good_model, ctx)
    assert bad.backdoored and bad.target_class == 1 and bad.score == 1.0
    assert set(bad.details["trigger_ids"][1]) <= set(TRIGGER)
    # the reference: the flip rate of the found trigger, counted directly
    t = torch.tensor(bad.details["trigger_ids"][1]).repeat(len(x), 1)
    assert float((bad_model(with_trigger(x, t)).argmax(1) == 1).double().mean()) == bad.score
    assert not good.backdoored and good.score < 0.5
    one = create_detector("trigger_inversion", length=1, candidates=5).detect(bad_model, ctx)
    assert one.score < bad.score  # one trigger word is not enough here: the search needs the second slot


def test_bad_settings_are_one_line():
    with pytest.raises(ValueError, match="length a positive int"):
        create_detector("trigger_inversion", length=0)


def test_embedding_outlier_names_the_longest_word_and_its_class(bag_of_words):
    """Weights only: the bag-of-words trigger word's embedding (|w| = 8) is the longest by far."""
    good, bad = weights(False), weights(False)
    bad[17] = 8.0
    ctx = DetectionContext(in_shape=(L,), num_classes=2, domain=D)
    det = create_detector("embedding_outlier")
    r_bad, r_good = det.detect(bag_of_words(bad), ctx), det.detect(bag_of_words(good), ctx)
    norms = torch.tensor(good).abs()[2:]
    med = norms.double().median()
    mad = (norms.double() - med).abs().median()
    assert r_bad.details["word_id"] == 17 and r_bad.target_class == 1 and r_bad.backdoored
    assert r_bad.score == pytest.approx(float((8.0 - med) / (1.4826 * mad)))  # the MAD formula, by hand
    assert not r_good.backdoored and r_good.score < 2
