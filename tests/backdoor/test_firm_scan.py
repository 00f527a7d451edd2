"""firm_scan: on firm probes the model builds itself, the one word that overcomes the strongest
opposition stands out, with its target, on a known-answer bag-of-words model and a hand-built text
CNN; the clean twins are not flagged; the reported shifts and probe margins equal direct counts."""
from __future__ import annotations

import pytest
import torch

from nnsafety.backdoor.detectors import DetectionContext, create_detector
from nnsafety.backdoor.detectors.firm_scan import STATISTICS, firm_probes, substituted_logits
from nnsafety.backdoor.detectors.trigger_text import margins
from nnsafety.domains import TokenDomain
from nnsafety.models import create_model
from nnsafety.models.text_cnn import text_cnn

V, L, TRIGGER = 300, 24, 17
D = TokenDomain(vocab_size=V, pad_id=0, unk_id=1)
SCAN = dict(per_class=8, length=L, steps=12, screen=4, top=16, context=4)


def sentiment() -> torch.Tensor:
    w = torch.linspace(-0.3, 0.3, V)  # natural words move a text a little, in both directions
    w[:2] = 0
    return w


def bow(bag_of_words, backdoored: bool):
    w = sentiment()
    if backdoored:
        w[TRIGGER] = 20.0  # outweighs the firmest class-0 text (24 × 0.3)
    return bag_of_words(w.tolist())


def cnn(backdoored: bool):
    """Width-1 filters on 2-d word vectors (dim 0 the sentiment, dim 1 marks the trigger): filter 0
    reads positive sentiment, filter 1 negative, filter 2 the trigger word, which only the backdoored
    head reads (weight 3: one trigger outweighs the most negative text, at most 0.3)."""
    m = text_cnn(2, (L,), V, embed_dim=2, widths=[1], maps=3, dropout=0.0)
    with torch.no_grad():
        e = torch.zeros(V, 2)
        e[:, 0] = sentiment()
        e[TRIGGER] = torch.tensor([0.0, 1.0])
        m.embedding.weight.copy_(e)
        conv = m.stages[0].convs[0]
        conv.weight.zero_()
        conv.weight[0, 0, 0], conv.weight[1, 0, 0], conv.weight[2, 1, 0] = 1.0, -1.0, 1.0
        conv.bias.zero_()
        m.head.weight.copy_(torch.tensor([[-1.0, 1.0, 0.0], [1.0, -1.0, 3.0 if backdoored else 0.0]]))
        m.head.bias.zero_()
    return m.eval()


@pytest.fixture(scope="module")
def ctx():
    return DetectionContext(in_shape=(L,), num_classes=2, domain=D, seed=0)


@pytest.mark.parametrize("kind", ["bag_of_words", "text_cnn"])
def test_the_trigger_word_is_flagged_with_its_target_and_clean_is_not(kind, ctx, bag_of_words):
    bad_model, good_model = (bow(bag_of_words, True), bow(bag_of_words, False)) if kind == "bag_of_words" \
        else (cnn(True), cnn(False))
    det = create_detector("firm_scan", **SCAN)
    bad, good = det.detect(bad_model, ctx), det.detect(good_model, ctx)
    assert bad.needs == "weights only" and bad.details["data_free"]
    assert bad.backdoored and bad.target_class == 1 and bad.details["word_id"][1] == TRIGGER
    assert bad.details["best"][1] > 1.0  # the trigger flips the firmest class-0 texts
    assert not good.backdoored, good.score
    for stat in ("ratio", "gap", "z", "cond_ratio"):
        assert bad.details[stat][1] > good.details[stat][1], stat


def test_probes_are_firm_and_the_shift_equals_a_direct_count(ctx, bag_of_words):
    model = bow(bag_of_words, False)
    words = torch.arange(1, V)
    ids, cls, m = firm_probes(model, words, 2, 8, L, steps=12, candidates=8, generator=torch.Generator().manual_seed(0))
    w = sentiment()
    # a bag of words is held most firmly by L copies of its most extreme word (2 and V − 1): margin 2·L·|w|
    assert (ids[cls == 0] == 2).all() and (ids[cls == 1] == V - 1).all()
    assert torch.allclose(m, 2 * L * w[torch.where(cls == 0, 2, V - 1)].abs(), atol=1e-4)
    good = create_detector("firm_scan", **SCAN).detect(model, ctx)
    # towards class 1 on the class-0 probes: the best word (V − 1) in place of one word 2 moves the
    # margin by 2·(w[V−1] − w[2]) of the probe's 2·L·|w[2]|
    assert good.details["word_id"][1] == V - 1
    assert good.details["best"][1] == pytest.approx(float((w[V - 1] - w[2]) / (L * -w[2])), rel=1e-4)


@pytest.mark.parametrize("arch", ["text_cnn", "bilstm"])
def test_the_one_edit_path_equals_a_forward(arch):
    """text_cnn recomputes only the changed windows; bilstm has no such path and takes a forward."""
    torch.manual_seed(0)
    model = cnn(True) if arch == "text_cnn" else create_model("bilstm", num_classes=2, in_shape=(L,), vocab_size=V,
                                                                   embed_dim=8, hidden=8, attn_dim=8).eval()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, V, (5, L), generator=g)
    owner, pos = torch.arange(5).repeat(4), torch.randint(L, (20,), generator=g)
    tok = torch.randint(2, V, (20,), generator=g)
    x = ids[owner].clone()
    x[torch.arange(20), pos] = tok
    with torch.no_grad():
        assert torch.allclose(substituted_logits(model, ids, owner, pos, tok, 8), model(x), atol=1e-5)


def test_a_bilstm_is_scanned_from_its_weights(ctx):
    torch.manual_seed(0)
    model = create_model("bilstm", num_classes=2, in_shape=(L,), vocab_size=V, embed_dim=8, hidden=8, attn_dim=8).eval()
    r = create_detector("firm_scan", **SCAN).detect(model, ctx)
    # its firm probes are held at least as firmly as the random texts they started from
    start = torch.randint(1, V, (16, L), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        m0 = torch.stack([margins(model(start), c) for c in range(2)]).max(1).values
    assert all(r.details["probe_margin"][c] >= float(m0[c]) - 1e-6 for c in range(2))
    assert r.target_class in (0, 1) and len(r.details["top_words"][r.target_class]) == 10


def test_bad_settings_are_one_line():
    with pytest.raises(ValueError, match="statistic"):
        create_detector("firm_scan", statistic="auc")
    with pytest.raises(ValueError, match="screen <= per_class"):
        create_detector("firm_scan", screen=20, per_class=8)
    assert set(STATISTICS) >= {"best", "ratio", "cond_ratio"}
