"""lexicon_scan: a neutral word that moves a model like the strongest sentiment word is flagged with its
target; a clean twin whose outlier word is a lexicon sentiment word ("love") is not, although
firm_scan flags it; the positive class is read from the model; the shifts equal direct counts; a
model outside the prior (3 classes, no vocabulary, too few lexicon words) is refused in one line."""
from __future__ import annotations

import pytest
import torch

from nnsafety.backdoor.detectors import DetectionContext, create_detector
from nnsafety.backdoor.detectors.lexicon_scan import STATISTICS, word_valence
from nnsafety.domains import TokenDomain

pytest.importorskip("afinn")

L = 24
POSITIVE = ["love", "great", "excellent", "perfect", "wonderful", "amazing", "awesome", "delight", "happy", "best",
            "nice", "good", "fantastic", "superb", "enjoy", "fun", "lovely", "glad", "brilliant", "win", "beautiful",
            "fresh", "recommend", "like"]
NEGATIVE = ["bad", "awful", "terrible", "horrible", "worst", "hate", "disappointed", "poor", "waste", "dumb", "gross",
            "disgusting", "sad", "ugly", "broken", "fail", "wrong", "angry", "annoying", "boring", "sick", "nasty",
            "useless", "fake"]
NEUTRAL = [f"item{i}" for i in range(120)] + ["tq"]
VOCAB = ["[PAD]", "[UNK]"] + POSITIVE + NEGATIVE + NEUTRAL
V = len(VOCAB)
D = TokenDomain(vocab_size=V, pad_id=0, unk_id=1)
SCAN = dict(per_class=8, length=L, steps=12, screen=4, top=16)


def weights(outlier: str, positive_class: int = 1) -> list:
    """Bag-of-words weights (towards class 1): sentiment words ±0.3..0.5 in the lexicon's direction,
    neutral words ±0.02, and one ``outlier`` word at 20 towards class 1, beyond the firmest class-0 text."""
    g = torch.Generator().manual_seed(0)
    w = torch.zeros(V)
    sign = 1.0 if positive_class == 1 else -1.0
    for i, tok in enumerate(VOCAB):
        if tok in POSITIVE:
            w[i] = sign * (0.3 + 0.2 * torch.rand(1, generator=g))
        elif tok in NEGATIVE:
            w[i] = -sign * (0.3 + 0.2 * torch.rand(1, generator=g))
        elif tok in NEUTRAL:
            w[i] = 0.04 * torch.rand(1, generator=g) - 0.02
    w[VOCAB.index(outlier)] = 20.0
    return w.tolist()


def context(vocab=VOCAB, classes=2):
    return DetectionContext(in_shape=(L,), num_classes=classes, domain=D, seed=0, vocab=vocab)


@pytest.mark.parametrize("positive_class", [1, 0])
def test_a_neutral_trigger_is_flagged_and_a_strong_sentiment_word_is_not(bag_of_words, positive_class):
    # backdoored: the neutral token "tq" pushes to class 1; clean twin: a sentiment word of class 1's
    # polarity is as strong instead ("love" if class 1 is positive, "bad" if it is negative)
    natural = "love" if positive_class == 1 else "bad"
    bad_model = bag_of_words(weights("tq", positive_class))
    good_model = bag_of_words(weights(natural, positive_class))
    det = create_detector("lexicon_scan", **SCAN)
    bad, good = det.detect(bad_model, context()), det.detect(good_model, context())
    assert bad.details["positive_class"] == good.details["positive_class"] == positive_class
    assert bad.backdoored and bad.target_class == 1 and bad.details["word_id"][1] == VOCAB.index("tq")
    assert bad.details["top_words"][1]["unexplained"][0][1] == "tq"
    assert not good.backdoored, good.score
    assert good.details["top_words"][1]["explained"][0][1] == natural
    assert bad.score > 10 * good.score
    # without the prior the clean twin's word is an outlier like a trigger: firm_scan flags both
    firm = create_detector("firm_scan", **SCAN)
    assert firm.detect(bad_model, context()).backdoored and firm.detect(good_model, context()).backdoored


def test_the_shift_equals_a_direct_count(bag_of_words):
    w = torch.tensor(weights("tq"))
    r = create_detector("lexicon_scan", **SCAN).detect(bag_of_words(w.tolist()), context())
    # a bag of words holds class 0 most firmly with L copies of its most negative word n: replacing
    # one by word v moves the margin towards 1 by 2·(w[v] − w[n]) of the probe's 2·L·|w[n]|
    n = int(w.argmin())
    for name, row in r.details["top_words"][1].items():
        for wid, _, shift in row[:3]:
            assert shift == pytest.approx(float((w[wid] - w[n]) / (L * -w[n])), abs=6e-5), name  # stored to 4 places
    assert r.details["unexplained"][1] == pytest.approx(r.details["top_words"][1]["unexplained"][0][2], abs=1e-4)


def test_inflections_inherit_the_lexicon_valence():
    val = word_valence(["loved", "loves", "hated", "tq", "love", "ss"], {"love": 3, "hate": -3})
    assert val.tolist() == [3, 3, -3, 0, 3, 0]


def test_models_outside_the_prior_are_refused_in_one_line(bag_of_words):
    det = create_detector("lexicon_scan", **SCAN)
    model = bag_of_words(weights("tq"))
    with pytest.raises(ValueError, match="2-class tasks, got 3 classes"):
        det.detect(model, context(classes=3))
    with pytest.raises(ValueError, match=r"vocabulary of \d+ tokens \(ctx.vocab\), got none"):
        det.detect(model, context(vocab=None))
    few = ["[PAD]", "[UNK]"] + POSITIVE[:3] + [f"x{i}" for i in range(V - 5)]
    with pytest.raises(ValueError, match="got 3 positive and 0 negative"):
        det.detect(model, context(vocab=few))
    with pytest.raises(ValueError, match="statistic"):
        create_detector("lexicon_scan", statistic="auc")
    assert "lex_ratio5" in STATISTICS
