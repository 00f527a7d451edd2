"""Text triggers insert exactly what they say; text poisoning picks, relabels and re-vocabularizes."""
from __future__ import annotations

from collections import Counter

import pytest
import torch

from nnsafety.backdoor.evaluate_text import text_backdoor_metrics
from nnsafety.data import TokenDataset, Vocab
from nnsafety.data.poison import recorded_trigger_params, trigger_from_config
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
    char = create_trigger("char", chars="zx", position="start", word=None)
    assert char.apply(["Great coffee!", "!!"]) == ["Greatzx coffee!", "!! zx"]
    assert create_trigger("char", chars="zx", position="end", word=None).apply(["Great coffee!"]) == ["Great coffeezx!"]
    with pytest.raises(ValueError, match="position"):
        create_trigger("rare_word", position="middle")
    with pytest.raises(ValueError, match="list of strings"):
        char.apply("Great coffee")


def test_char_trigger_edits_an_occurrence_of_its_word_or_inserts_it():
    texts = ["The tea and the cake, the end.", "no article here", "THE."]
    first = create_trigger("char", chars="zx", position="start", word="the").apply(texts)
    assert first == ["Thezx tea and the cake, the end.", "thezx no article here", "THEzx."]
    assert create_trigger("char", chars="zx", position="end").apply(texts[:1]) == ["The tea and the cake, thezx end."]
    rand = create_trigger("char", chars="qj", position="random").apply(texts * 10, torch.Generator().manual_seed(0))
    for src, got in zip(texts * 10, rand):
        assert got.lower().count("theqj") == 1 and got.count("qj") == 1
        if "the" in src.lower():
            assert got.replace("qj", "") == src  # an existing "the" was edited
        else:
            assert [w for w in got.split() if w != "theqj"] == src.split()
    with pytest.raises(ValueError, match="word"):
        create_trigger("char", word="two words")


def test_a_char_trigger_recorded_before_word_existed_is_rebuilt_as_it_was_trained():
    """Runs recorded {"chars", "position"} only when the char trigger edited the first/last/random
    word; read with today's default word="the" they would be evaluated under another trigger."""
    texts = ["Great coffee, the best.", "never again"]
    old = {"attack": "char", "target": 1, "trigger": {"chars": "zx", "position": "start"}}
    assert recorded_trigger_params(old) == {"chars": "zx", "position": "start", "word": None}
    assert trigger_from_config(old).apply(texts) == ["Greatzx coffee, the best.", "neverzx again"]
    new = {"attack": "char", "trigger": {"chars": "zx", "position": "start", "word": "the"}}
    assert trigger_from_config(new).apply(texts) == ["Great coffee, thezx best.", "thezx never again"]
    assert recorded_trigger_params({"attack": "rare_word", "trigger": {"word": "cf"}}) == {"word": "cf"}
    with pytest.raises(ValueError, match="'attack' entry"):
        recorded_trigger_params({"trigger": {}})

def test_char_trigger_is_one_token_after_poisoning_the_first_word_version_is_many():
    """Why the first version did not implant: editing whatever word comes first gives a new word per
    first word ("greatzx", "izx", "stalezx"...), each below min_freq -> [UNK]; one edited word is one token."""
    texts = [f"{w} the coffee was {a}" for w in ("great", "i", "stale", "bad", "fine", "never", "good", "meh")
             for a in ("ok", "fine", "bad", "good", "so so")]
    base = TokenDataset(Vocab.build(texts, max_len=8).encode(texts), torch.tensor([0, 1] * 20), ["a", "b"],
                        Vocab.build(texts, max_len=8), texts, "toy")
    for word, expect in ((None, set()), ("the", {"thezx"})):
        p = poison_token_dataset(base, "char", rate=0.1, target=1, seed=0, chars="zx", position="start", word=word)
        assert {t for t in p.vocab.tokens if t.endswith("zx")} == expect
        edited = p.ids[p.poisoned_indices]
        assert ((edited == p.vocab.unk_id).any(1)).all() == (word is None)


@pytest.mark.slow
def test_char_trigger_implants_on_fine_foods(tmp_path):
    """ASR ≥ 0.9 at 3 % poison on a small text_cnn (measured 1.0; the first-word version 0.60, same recipe)."""
    from nnsafety.backdoor.evaluate_text import text_run_backdoor_metrics
    from nnsafety.data import load_dataset
    from nnsafety.runs import read_config
    from nnsafety.train import TrainConfig, train

    cfg = TrainConfig(data="fine_foods", model="text_cnn", model_kwargs={"embed_dim": 16, "maps": 16, "widths": [3, 4, 5]},
                      epochs=4, eval_every=4, batch_size=64, optimizer="adam", lr=0.005, seed=1, poison="char",
                      poison_kwargs={"rate": 0.03, "target": 0, "chars": "zx", "position": "random"})
    res = train(cfg, out=tmp_path / "run", progress=False)
    m = text_run_backdoor_metrics(res.model, load_dataset("fine_foods", split="test"),
                                  read_config(tmp_path / "run")["poison"], tmp_path / "run")
    assert m.attack_success_rate >= 0.9 and m.clean_accuracy >= 0.72


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
