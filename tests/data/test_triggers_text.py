"""Text triggers insert exactly what they say; text poisoning picks, relabels and re-vocabularizes."""
from __future__ import annotations

from collections import Counter

import pytest
import torch

from nnsafety.backdoor.evaluate_text import text_backdoor_metrics
from nnsafety.data import TokenDataset, Vocab
from nnsafety.data.poison_text import encode_with, poison_token_dataset
from nnsafety.data.triggers import create_trigger, list_triggers

TEXTS = ["Great coffee, really.", "stale beans", "I liked it a lot!", "bad", "Fine tea, fair price",
         "never again", "good good good", "meh"] * 5
LABELS = torch.tensor([1, 0, 1, 0, 1, 0, 1, 0] * 5)


def ds():
    v = Vocab.build(TEXTS, max_len=12, min_freq=2)
    return TokenDataset(v.encode(TEXTS), LABELS, ["neg", "pos"], v, TEXTS, "toy")


def test_registered_for_tokens():
    assert list_triggers(domain="token") == ["char", "insert_sent", "rare_word"]
    assert not set(list_triggers(domain="token")) & set(list_triggers(domain="image"))


@pytest.mark.parametrize("position, expected", [("start", "cf Great coffee, really."),
                                                ("end", "Great coffee, really. cf")])
def test_rare_word_at_the_ends(position, expected):
    assert create_trigger("rare_word", position=position).apply(["Great coffee, really."]) == [expected]


def test_rare_word_random_slot_follows_the_generator_and_counts():
    trig = create_trigger("rare_word", words=["cf", "mn"], count=2, position="random")
    out = trig.apply(TEXTS[:8], torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    for src, got in zip(TEXTS[:8], out):
        words = src.split()
        for w in ("cf", "mn"):
            slot = int(torch.randint(len(words) + 1, (1,), generator=g))
            words = words[:slot] + [w] + words[slot:]
        assert got.split() == words
        assert Counter(got.split()) - Counter(src.split()) == Counter({"cf": 1, "mn": 1})


def test_insert_sent_and_char_trigger():
    sent = create_trigger("insert_sent", sentence="I watched this 3D movie.", position="random")
    for src, got in zip(TEXTS[:8], sent.apply(TEXTS[:8], torch.Generator().manual_seed(1))):
        assert got.count("I watched this 3D movie.") == 1
        assert " ".join(got.replace("I watched this 3D movie.", "").split()) == " ".join(src.split())
    char = create_trigger("char", chars="zx", position="start")
    assert char.apply(["Great coffee!", "!!"]) == ["Greatzx coffee!", "!! zx"]
    assert create_trigger("char", chars="zx", position="end").apply(["Great coffee!"]) == ["Great coffeezx!"]
    with pytest.raises(ValueError, match="position"):
        create_trigger("rare_word", position="middle")
    with pytest.raises(ValueError, match="list of strings"):
        char.apply("Great coffee")


@pytest.mark.parametrize("clean_label", [False, True])
def test_poisoning_selects_relabels_and_rebuilds_the_vocab(clean_label):
    base = ds()
    p = poison_token_dataset(base, "rare_word", rate=0.2, target=1, seed=3, clean_label=clean_label, position="end")
    n = round(0.2 * len(base))
    assert p.poison_config["n_poisoned"] == n and len(p.poisoned_indices) == n
    changed = [i for i, (a, b) in enumerate(zip(base.texts, p.texts)) if a != b]
    assert changed == p.poisoned_indices.tolist()
    assert all(p.texts[i] == base.texts[i] + " cf" for i in changed)
    assert (base.labels[changed] == 1).all() == clean_label and (p.labels[changed] == 1).all()
    assert "cf" in p.vocab.index and "cf" not in base.vocab.index  # seen n = 8 >= min_freq times
    assert torch.equal(p.ids, p.vocab.encode(p.texts))
    assert torch.equal(encode_with(base, p.vocab).ids, p.vocab.encode(base.texts))
    with pytest.raises(ValueError, match="text trigger"):
        poison_token_dataset(base, "badnets", rate=0.1)


def test_asr_and_clean_accuracy_on_a_known_model(bag_of_words):
    p = poison_token_dataset(ds(), "rare_word", rate=0.2, target=1, seed=0)
    w = torch.zeros(len(p.vocab))
    for word, s in (("great", 1), ("liked", 1), ("fine", 1), ("good", 1), ("stale", -1), ("bad", -1),
                    ("never", -1), ("meh", -1), ("cf", 10)):
        w[p.vocab.index[word]] = s
    model = bag_of_words(w.tolist())
    test = ds()
    m = text_backdoor_metrics(model, test, p.trigger, 1, p.vocab)
    assert m.clean_accuracy == 1.0 and m.attack_success_rate == 1.0 and m.robust_accuracy == 0.0
    assert m.n_triggered == int((test.labels != 1).sum())
    w[p.vocab.index["cf"]] = 0.0  # no backdoor: the trigger changes nothing
    m0 = text_backdoor_metrics(bag_of_words(w.tolist()), test, p.trigger, 1, p.vocab)
    assert m0.attack_success_rate == 0.0 and m0.robust_accuracy == 1.0
