"""vocab_scan: the one word that overrides texts held surely against its class stands out from every
other word, on a known-answer bag-of-words model; its flip rate equals a direct count."""
from __future__ import annotations

import pytest
import torch

from nnsafety.backdoor.detectors import DetectionContext, create_detector
from nnsafety.backdoor.detectors.trigger_text import AT, with_trigger
from nnsafety.backdoor.detectors.vocab_scan import STATISTICS
from nnsafety.domains import TokenDomain

V, L, TRIGGER = 60, 12, 17
D = TokenDomain(vocab_size=V, pad_id=0, unk_id=1)
SCAN = dict(n_random=200, length=L, per_class=32, screen=4, top=10)


def weights(trigger: bool):
    w = torch.linspace(-0.3, 0.3, V)  # natural words move a text a little
    w[:2] = 0
    if trigger:
        w[TRIGGER] = 20.0  # outweighs any 12 natural words
    return w.tolist()


@pytest.mark.parametrize("data_free", [True, False])
def test_the_trigger_word_is_the_outlier_and_clean_is_not(bag_of_words, data_free):
    g = torch.Generator().manual_seed(3)
    clean = torch.randint(2, V, (80, L), generator=g)
    ctx = DetectionContext(in_shape=(L,), num_classes=2, clean=(clean, torch.zeros(80, dtype=torch.long)),
                           domain=D, seed=0)
    bad_model, good_model = bag_of_words(weights(True)), bag_of_words(weights(False))
    res = {}
    for stat in STATISTICS:
        det = create_detector("vocab_scan", statistic=stat, data_free=data_free, **SCAN)
        res[stat] = det.detect(bad_model, ctx), det.detect(good_model, ctx)
    bad, good = res["gap"]
    assert bad.target_class == 1 and bad.details["word_id"][1] == TRIGGER
    assert bad.details["best_flip"][1] == 1.0
    for stat in ("gap", "z_top", "margin_z", "margin_ratio"):
        assert res[stat][0].score > res[stat][1].score, stat
    # the reference for the clean model: its best word inserted into the 32 probes it holds most surely
    # against class 1, counted directly
    if data_free:
        words = torch.arange(2, V)
        pool = words[torch.randint(len(words), (200, L), generator=torch.Generator().manual_seed(0))]
    else:
        pool = clean
    logits = good_model(pool)
    rows = pool[(logits[:, 1] - logits[:, 0]).argsort()[:32]]
    best = good.details["word_id"][1]
    direct = (good_model(with_trigger(rows, torch.full((32, 1), best), AT)).argmax(1) == 1).double().mean()
    assert good.details["best_flip"][1] == float(direct)


def test_bad_settings_are_one_line():
    with pytest.raises(ValueError, match="statistic"):
        create_detector("vocab_scan", statistic="auc")
    with pytest.raises(ValueError, match="top >= 10"):
        create_detector("vocab_scan", top=5)
