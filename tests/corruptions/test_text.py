"""Text corruptions: exact edits on fixed strings, determinism, nested (monotone) edits, evaluation, export."""
from __future__ import annotations

import json

import pytest
import torch

from nnsafety.corruptions import (TEXT_CORRUPTIONS, corrupt_text, evaluate_text_corruptions, export_text_corrupted,
                                  list_corruptions)
from nnsafety.corruptions import text as T
from nnsafety.corruptions.base import stream_seed
from nnsafety.data import TokenDataset, Vocab

SYN = {"coffee": ["tea", "espresso"], "good": ["great"], "quick": ["fast"], "dog": ["puppy"]}
CORPUS = [
    "The quick brown fox jumps over the lazy dog. It is not bad, I don't mind it.",
    "Good coffee at a fair price; we are happy and it's fresh!",
    "Terrible packaging, the box was crushed and the beans were stale.",
    "I cannot recommend this enough: my dog loves these treats every morning.",
] * 2


def g(seed=0):
    return torch.Generator().manual_seed(seed)


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_registered_for_tokens_only():
    assert list_corruptions(domain="token") == sorted(TEXT_CORRUPTIONS)
    assert not set(TEXT_CORRUPTIONS) & set(list_corruptions())  # the image list is unchanged
    with pytest.raises(ValueError, match="text corruption"):
        corrupt_text(["x"], "fog", 1)
    with pytest.raises(ValueError, match="list of strings"):
        corrupt_text("a string", "char_drop", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt_text(["x"], "char_drop", 6)
    with pytest.raises(ValueError, match="synonyms"):
        corrupt_text(["x"], "synonym_swap", 1)


def test_keyboard_neighbours_are_the_touching_keys():
    assert set(T.KEYBOARD["a"]) == set("qwsz")
    assert set(T.KEYBOARD["g"]) == set("tyfhvb")
    assert set(T.KEYBOARD["p"]) == set("ol")
    assert set(T.KEYBOARD["m"]) == set("njk")


@pytest.mark.parametrize("fn, texts, rate, draws, expected", [
    (T.keyboard_typo, ["Ab!"], 0.5, [([0.1, 0.9, 0.1], [0.0, 0.0, 0.0])], ["Sb!"]),
    (T.char_drop, ["abc d"], 0.5, [([0.9, 0.0, 0.9, 0.0, 0.0], [0] * 5)], ["ac "]),
    (T.char_insert, ["ab"], 0.5, [([0.0, 0.9], [0.0, 0.0])], ["aab"]),
    (T.ocr, ["Mom"], 0.5, [([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])], ["RN0rn"]),
    (T.random_casing, ["aB1"], 0.5, [([0.0, 0.0, 0.0], [0] * 3)], ["Ab1"]),
    (T.char_swap, ["abcd"], 0.5, [([0.1, 0.1, 0.9, 0.9], [0] * 4)], ["bacd"]),
    (T.punctuation, ["hi there"], 0.5, [([0.0, 0.9], [0.0, 0.0])], ["hi, there"]),
    (T.word_dropout, ["a b  c"], 0.5, [([0.9, 0.1, 0.9], [0] * 3)], ["a  c"]),
    (T.word_dropout, ["a b"], 0.5, [([0.1, 0.2], [0, 0])], ["b"]),  # the largest u survives
    (T.word_shuffle, ["w0 w1 w2 w3 w4"], 0.5, [([0.1, 0.9, 0.9, 0.9, 0.9], [0.4] * 5)], ["w2 w1 w0 w3 w4"]),
    (T.contractions, ["It is fine, don't worry. I AM here"], 0.5, [([0.0, 0.0, 0.9], [0] * 3)],
     ["It's fine, do not worry. I AM here"]),
    (T.irrelevant_sentence, ["Nice."], 2, [([0] * 5, [0.0, 0.15, 0.5, 0.5, 0.5])],
     ["Nice. " + T.IRRELEVANT[0] + " " + T.IRRELEVANT[1]]),
])
def test_exact_edits_on_fixed_strings(fn, texts, rate, draws, expected):
    assert fn(texts, rate, draws) == expected


def test_synonym_swap_keeps_case_and_punctuation():
    out = T.synonym_swap(["Coffee, good!"], 0.5, [([0.0, 0.0], [0.6, 0.0])], synonyms=SYN)
    assert out == ["Espresso, great!"]


@pytest.mark.parametrize("name", TEXT_CORRUPTIONS)
def test_deterministic_per_seed_and_monotone_in_severity(name):
    runs = {s: corrupt_text(CORPUS, name, s, g(1), synonyms=SYN) for s in range(1, 6)}
    assert corrupt_text(CORPUS, name, 3, g(1), synonyms=SYN) == runs[3]
    assert all(len(v) == len(CORPUS) for v in runs.values())
    dist = [sum(levenshtein(a, b) for a, b in zip(CORPUS, runs[s])) for s in range(1, 6)]
    assert dist == sorted(dist) and dist[-1] > dist[0], dist
    assert corrupt_text(CORPUS, name, 3, g(2), synonyms=SYN) != runs[3]  # (contractions at 5 toggle all)


@pytest.mark.parametrize("name", ["keyboard_typo", "ocr", "random_casing", "punctuation", "synonym_swap"])
def test_edits_of_a_severity_are_kept_at_the_next(name):
    """Same generator: the edited units of severity s are a subset of those of s + 1 (the draws are shared)."""
    # ocr's m -> rn and d -> cl shift later characters, so positions are compared on texts without them
    texts = [t.replace("m", "").replace("d", "") if name == "ocr" else t for t in CORPUS]
    units = {}
    for s in range(1, 6):
        out = corrupt_text(texts, name, s, g(4), synonyms=SYN)
        if name in ("punctuation", "synonym_swap"):
            units[s] = {(i, j) for i, (a, b) in enumerate(zip(texts, out)) for j, (x, y) in
                        enumerate(zip(a.split(), b.split())) if x != y}
        else:
            units[s] = {(i, j) for i, (a, b) in enumerate(zip(texts, out)) for j, (x, y) in enumerate(zip(a, b)) if x != y}
    for s in range(1, 5):
        assert units[s] <= units[s + 1]


def _dataset():
    texts = ["good coffee", "bad coffee", "good good tea", "bad tea bad", "good price", "so bad"] * 4
    labels = torch.tensor([1, 0, 1, 0, 1, 0] * 4)
    vocab = Vocab.build(texts, max_len=8, min_freq=1)
    return TokenDataset(vocab.encode(texts), labels, ["neg", "pos"], vocab, texts, "toy"), vocab


def test_evaluation_matches_a_manual_pass_and_casing_is_invisible(bag_of_words):
    ds, vocab = _dataset()
    w = [0.0] * len(vocab)
    w[vocab.index["good"]], w[vocab.index["bad"]] = 1.0, -1.0
    model = bag_of_words(w)
    res = evaluate_text_corruptions(model, ds, ["char_drop", "random_casing", "word_dropout"], (1, 5), seed=3,
                                    progress=False)
    assert res.clean_accuracy == 1.0
    assert res.accuracy["random_casing"] == {1: 1.0, 5: 1.0}  # the tokenizer lower-cases
    for name in ("char_drop", "word_dropout"):
        for s in (1, 5):
            out = corrupt_text(ds.texts, name, s, torch.Generator().manual_seed(stream_seed(3, name, 0, 0)))
            pred = model(vocab.encode(out)).argmax(1)
            assert res.accuracy[name][s] == pytest.approx(float((pred == ds.labels).float().mean()))
    assert res.accuracy["word_dropout"][5] < 1.0
    base = evaluate_text_corruptions(model, ds, ["char_drop", "word_dropout"], (1, 5), seed=4, progress=False)
    ce = res.ce(base)
    for c in ("char_drop", "word_dropout"):
        num = sum(1 - res.accuracy[c][s] for s in (1, 5))
        den = sum(1 - base.accuracy[c][s] for s in (1, 5))
        assert ce[c] == pytest.approx(num / den) if den else True
    with pytest.raises(ValueError, match="synonym_swap needs word vectors|TokenDataset"):
        evaluate_text_corruptions(model, (ds.ids, ds.labels), ["char_drop"])


def test_jsonl_export_holds_the_evaluated_texts(tmp_path):
    ds, _ = _dataset()
    out = export_text_corrupted(ds, tmp_path / "toy-C", ["ocr", "irrelevant_sentence"], (2, 4), seed=5)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["n"] == len(ds) and meta["severities"] == [2, 4] and meta["classes"] == ["neg", "pos"]
    rows = [json.loads(line) for line in (out / "ocr.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 * len(ds) and [r["severity"] for r in rows] == [2] * len(ds) + [4] * len(ds)
    expect = corrupt_text(ds.texts, "ocr", 4, torch.Generator().manual_seed(stream_seed(5, "ocr", 0, 0)))
    assert [r["text"] for r in rows[len(ds):]] == expect
    assert [r["label"] for r in rows[:len(ds)]] == [ds.classes[int(i)] for i in ds.labels]
    assert not list(tmp_path.glob("toy-C/.*tmp"))


def test_results_name_where_synonym_swaps_synonyms_came_from(bag_of_words, tmp_path):
    """meta["synonyms"]: "given" for a caller's table, the guarded default's source otherwise; no
    entry when synonym_swap is not run. The JSON and the -C export carry it."""
    from pathlib import Path

    ds, vocab = _dataset()
    model = bag_of_words([0.0] * len(vocab))
    given = {"good": ["fine"], "bad": ["poor"]}
    res = evaluate_text_corruptions(model, ds, ["synonym_swap"], (1,), synonyms=given, progress=False)
    assert res.meta == {"synonyms": "given"} and res.to_dict()["meta"] == {"synonyms": "given"}
    assert evaluate_text_corruptions(model, ds, ["char_drop"], (1,), progress=False).meta == {}
    assert "meta" not in evaluate_text_corruptions(model, ds, ["char_drop"], (1,), progress=False).to_dict()
    out = export_text_corrupted(ds, tmp_path / "toy-C", ["synonym_swap"], (1,), synonyms=given)
    assert json.loads((out / "meta.json").read_text())["synonyms"] == "given"
    if not (Path("data/text/wordnet/.complete").is_file() and Path("data/text/.complete").is_file()):
        pytest.skip("word vectors / WordNet absent: run `make data-text`")
    from nnsafety.data.synonyms import describe_neighbours, resolve_source

    res = evaluate_text_corruptions(model, ds, ["synonym_swap"], (1,), progress=False)
    assert res.meta == {"synonyms": describe_neighbours(resolve_source("auto"), True)}
