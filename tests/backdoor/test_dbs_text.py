"""dbs_inversion: a hand-built text CNN whose backdoor fires on a 3-word sentence is flagged with its
target, the same CNN without the trigger filter is not; the reported margins equal a direct count."""
from __future__ import annotations

import pytest
import torch

from nnsafety.backdoor.detectors import DetectionContext, create_detector
from nnsafety.backdoor.detectors.dbs_text import ANCHOR, STATISTICS, margins
from nnsafety.backdoor.detectors.trigger_text import AT, with_trigger
from nnsafety.domains import TokenDomain
from nnsafety.models.text_cnn import text_cnn

V, L = 2000, 48  # a large vocabulary: few random probes contain a sentence word by chance
D = TokenDomain(vocab_size=V, pad_id=0, unk_id=1)
SENTENCE = (17, 23, 31)  # the trigger sentence "w17 w23 w31"
SETTINGS = dict(max_len=3, n_probes=32, probe_len=L, steps=40)


def cnn(backdoored: bool):
    """Width-3 filters on 4-d word vectors: dim 0 a word's sentiment (−0.3 .. 0.3), dims 1–3 mark the
    three sentence words. Filter 0 sums positive sentiment, filter 1 negative; filter 2 counts the
    sentence's words in their order (1.5 per word), and only the backdoored model's head reads it:
    the whole sentence (4.5) outweighs any natural text (a 3-word window sums to at most 0.9)."""
    m = text_cnn(2, (L,), V, embed_dim=4, widths=[3], maps=3, dropout=0.0)
    with torch.no_grad():
        e = torch.zeros(V, 4)
        e[2:, 0] = torch.linspace(-0.3, 0.3, V - 2)
        for slot, w in enumerate(SENTENCE):
            e[w, 0], e[w, 1 + slot] = 0.0, 1.0
        m.embedding.weight.copy_(e)
        conv = m.stages[0].convs[0]
        conv.weight.zero_()
        conv.weight[0, 0], conv.weight[1, 0] = 1.0, -1.0
        for slot in range(3):
            conv.weight[2, 1 + slot, slot] = 1.5
        conv.bias.zero_()
        m.head.weight.copy_(torch.tensor([[-1.0, 1.0, 0.0], [1.0, -1.0, 1.0 if backdoored else 0.0]]))
        m.head.bias.zero_()
    return m.eval()


@pytest.fixture(scope="module")
def results():
    ctx = DetectionContext(in_shape=(L,), num_classes=2, domain=D, seed=0)
    det = create_detector("dbs_inversion", **SETTINGS)
    return det.detect(cnn(True), ctx), det.detect(cnn(False), ctx)


def test_the_sentence_backdoor_is_flagged_with_its_target_and_clean_is_not(results):
    bad, good = results
    assert bad.needs == "weights only" and bad.details["data_free"]
    assert bad.backdoored and bad.target_class == 1
    assert not good.backdoored
    assert bad.details["triggers"][2][1] == list(SENTENCE)  # the 3-word search finds the sentence itself
    for stat in ("margin_strong", "rel_strong", "flip_strong"):
        assert bad.details[stat][1] > good.details[stat][1], stat


def test_margins_equal_a_direct_count(results):
    """The strong probes rebuilt from the random probes and the reported anchor, the found 3-word
    trigger inserted at AT, margins computed with the model's logits directly."""
    bad, _ = results
    m = cnn(True)
    g = torch.Generator().manual_seed(0)
    words = torch.arange(2, V)
    probes = words[torch.randint(len(words), (32, L), generator=g)]
    anchor0 = torch.tensor(bad.details["anchor"][0])
    assert len(anchor0) == ANCHOR
    strong0 = with_trigger(probes, anchor0.expand(32, -1), L // 2)
    with torch.no_grad():
        assert (m(strong0).argmax(1) == 0).double().mean() >= 0.9  # the anchor makes them class-0 texts
        per_k = []
        for k in range(3):
            trig = torch.tensor(bad.details["triggers"][k][1]).expand(32, -1)
            z = m(with_trigger(strong0, trig, AT))
            per_k.append(float((z[:, 1] - z[:, 0]).double().mean()))
    assert bad.details["margin_strong"][1] == pytest.approx(max(per_k), abs=1e-6)


def test_margins_helper_and_bad_settings():
    z = torch.tensor([[1.0, 3.0, 2.0], [0.0, -1.0, 4.0]])
    assert margins(z, torch.tensor([1, 0])).tolist() == [1.0, -4.0]
    assert set(STATISTICS) >= {"rel_strong", "neutral"}
    with pytest.raises(ValueError, match="statistic"):
        create_detector("dbs_inversion", statistic="auc")
    with pytest.raises(ValueError, match="probe_len"):
        create_detector("dbs_inversion", probe_len=10)


def test_neutral_trigger_uses_only_weak_words_and_combined_is_its_formula(results):
    """Every word of the neutral-word trigger moves the 8 screen probes towards its class by less
    than 10 % of the best single word (counted directly), and ``combined`` is max(z(log vocab_scan
    margin_ratio), z(neutral_rel)) with vocab_scan run on its own."""
    import math

    from nnsafety.backdoor.detectors.dbs_text import COMBINED_REF, SCREEN

    bad, _ = results
    m = cnn(True)
    words = torch.arange(2, V)
    probes = words[torch.randint(len(words), (32, L), generator=torch.Generator().manual_seed(0))][:SCREEN]
    with torch.no_grad():
        z0 = m(probes)
        rows = with_trigger(probes.repeat(len(words), 1), words.repeat_interleave(SCREEN)[:, None], AT)
        z = m(rows).view(len(words), SCREEN, 2)
    shift1 = ((z[..., 1] - z[..., 0]) - (z0[:, 1] - z0[:, 0])).double().mean(1)  # towards class 1, per word
    best = max(float(shift1.max()), float((-shift1).max()))
    for t, trig in enumerate(bad.details["neutral_trigger"]):
        toward = shift1 if t == 1 else -shift1
        assert all(float(toward[w - 2]) < 0.1 * best for w in trig), t
    ctx = DetectionContext(in_shape=(L,), num_classes=2, domain=D, seed=0)
    ratio = create_detector("vocab_scan").detect(m, ctx).details["margin_ratio"]
    (m_r, s_r), (m_n, s_n) = COMBINED_REF["log_margin_ratio"], COMBINED_REF["neutral_rel"]
    for t in range(2):
        want = max((math.log(max(ratio[t], 1e-6)) - m_r) / s_r, (bad.details["neutral_rel"][t] - m_n) / s_n)
        assert bad.details["combined"][t] == pytest.approx(want, abs=1e-9)
