"""Text data: word vocabulary (round trip, determinism), the user-file loader and the real corpora."""
from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

from nnsafety.data import TokenDataset, Vocab, load_dataset
from nnsafety.data.vocab import tokenize
from nnsafety.domains import TokenDomain

TEXT_DATA = Path(__file__).resolve().parents[2] / "data" / "text"
needs_data = pytest.mark.skipif(not (TEXT_DATA / ".complete").is_file(),
                                reason="real text corpora absent: run `make data-text`")

TEXTS = ["Great coffee, great price!", "Don't buy: stale coffee.", "great tea", "the tea was stale",
         "price was great", "$ 5 for stale tea?"]


def test_tokenize_lowercases_keeps_apostrophes_and_marks():
    assert tokenize("Great coffee, DON'T miss it!") == ["great", "coffee", "don't", "miss", "it", "!"]
    assert tokenize("$5?!") == ["$", "5", "?", "!"]


def test_vocab_matches_counter_reference():
    v = Vocab.build(TEXTS, max_len=6, min_freq=2, max_size=None)
    counts = Counter(t for s in TEXTS for t in tokenize(s))
    expected = sorted((w for w, c in counts.items() if c >= 2), key=lambda w: (-counts[w], w))
    assert v.tokens == ["[PAD]", "[UNK]"] + expected
    assert v.tokens[2] == "great"  # 4 occurrences, the most frequent word
    capped = Vocab.build(TEXTS, max_len=6, min_freq=1, max_size=5)
    assert len(capped) == 5 and capped.tokens[2:] == expected[:3]


def test_vocab_is_deterministic_under_text_order():
    shuffled = TEXTS[:]
    random.Random(3).shuffle(shuffled)
    assert Vocab.build(TEXTS, max_len=8) == Vocab.build(shuffled, max_len=8)


def test_vocab_json_round_trip_rebuilds_the_same_ids(tmp_path):
    v = Vocab.build(TEXTS, max_len=5, min_freq=1, max_size=12)
    v.save(tmp_path / "vocab.json")
    w = Vocab.load(tmp_path / "vocab.json")
    assert w == v
    probe = ["great stale coffee with unseenword and more and more words", ""]
    ids = w.encode(probe)
    assert torch.equal(ids, v.encode(probe)) and ids.dtype == torch.int64 and ids.shape == (2, 5)
    assert ids[1].tolist() == [0] * 5  # empty text: all padding
    assert w.decode(ids)[0] == "great stale coffee [UNK] [UNK]"  # "with", "and" are not in TEXTS


def test_vocab_load_bad_file_is_one_line(tmp_path):
    (tmp_path / "v.json").write_text("{not json")
    with pytest.raises(ValueError, match="expected a vocabulary JSON file"):
        Vocab.load(tmp_path / "v.json")
    (tmp_path / "w.json").write_text(json.dumps({"tokens": ["a"]}))
    with pytest.raises(ValueError, match="format 'nnsafety-word-vocab'"):
        Vocab.load(tmp_path / "w.json")


def _write_csv(path: Path, rows):
    path.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows))


def test_text_files_csv_jsonl_and_folders_agree(tmp_path):
    train = [("good tasty food", "pos"), ("bad stale food", "neg"), ("good good", "pos")]
    test = [("good stale", "neg"), ("tasty", "pos")]
    a, b, c = tmp_path / "csv", tmp_path / "jsonl", tmp_path / "dirs"
    a.mkdir(), b.mkdir(), c.mkdir()
    _write_csv(a / "train.csv", train), _write_csv(a / "test.csv", test)
    for split, rows in (("train", train), ("test", test)):
        (b / f"{split}.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
        for i, (t, y) in enumerate(rows):
            (c / split / y).mkdir(parents=True, exist_ok=True)
            (c / split / y / f"{i}.txt").write_text(t)
    sets = [load_dataset("text_files", root=str(r), split="test", max_len=4, min_freq=1) for r in (a, b, c)]
    for ds in sets:
        assert isinstance(ds, TokenDataset) and ds.classes == ["neg", "pos"]
        assert sorted(ds.labels.tolist()) == [0, 1]
        assert ds.vocab == sets[0].vocab
    ds = sets[0]
    assert ds.labels.tolist() == [0, 1]
    assert ds.vocab.decode(ds.ids) == ["good stale", "tasty"]
    assert ds.model_kwargs() == {"vocab_size": len(ds.vocab), "pad_id": 0}
    assert isinstance(ds.domain, TokenDomain) and ds.domain.vocab_size == len(ds.vocab)
    ds.domain.check(ds.ids)
    x, y = ds.get_batch(torch.tensor([1]))
    assert x.shape == (1, 4) and y.tolist() == [1]
    assert ds.run_files()["vocab.json"] == ds.vocab.to_dict()


def test_text_files_bad_input_is_one_line(tmp_path):
    _write_csv(tmp_path / "train.csv", [("good food", "pos"), ("bad food", "neg")])
    _write_csv(tmp_path / "test.csv", [("good", "maybe")])
    with pytest.raises(ValueError, match=r"unknown label\(s\) 'maybe'") as e:
        load_dataset("text_files", root=str(tmp_path), split="test")
    assert "\n" not in str(e.value)
    _write_csv(tmp_path / "test.csv", [("good", "pos"), ("  ...  ", "neg")])
    with pytest.raises(ValueError, match="row 2 has an empty text"):
        load_dataset("text_files", root=str(tmp_path), split="test")
    (tmp_path / "test.csv").write_text("words,y\nhello,pos\n")
    with pytest.raises(ValueError, match=r"test.csv: expected a CSV file with a header with columns 'text'"):
        load_dataset("text_files", root=str(tmp_path), split="test")
    (tmp_path / "test.csv").unlink()
    with pytest.raises(FileNotFoundError, match="expected test.csv, test.jsonl or a test/<class>/"):
        load_dataset("text_files", root=str(tmp_path), split="test")


def test_real_corpora_missing_files_name_the_file_and_make_target(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Rdata.rdb .*make data-text"):
        load_dataset("fine_foods", root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"easy-ham-1/\*.txt \(raw emails\).*make data-text"):
        load_dataset("spam_assassin", root=str(tmp_path))
    (tmp_path / "Rdata.rdb").write_bytes(b"junk")
    (tmp_path / "Rdata.rdx").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"Rdata.rdx: expected an R lazy-load database index"):
        load_dataset("fine_foods", root=str(tmp_path))


@needs_data
def test_fine_foods_split_sizes_and_balance_are_pinned():
    tr = load_dataset("fine_foods", root=str(TEXT_DATA), split="train")
    te = load_dataset("fine_foods", root=str(TEXT_DATA), split="test")
    assert (len(tr), len(te)) == (4000, 1000) and tr.classes == ["great", "other"]
    assert torch.bincount(tr.labels).tolist() == [2600, 1400]
    assert torch.bincount(te.labels).tolist() == [658, 342]
    assert tr.vocab == te.vocab and len(tr.vocab) == 7320 and tr.in_shape == (256,)
    assert tr.texts[0] == "this stuff is  not stuffing  its  not good at all  save your money"
    assert tr.vocab.decode(tr.ids[:1])[0] == "this stuff is not stuffing its not good at all save your money"


@needs_data
def test_spam_assassin_split_is_stratified_and_pinned():
    tr = load_dataset("spam_assassin", root=str(TEXT_DATA), split="train")
    te = load_dataset("spam_assassin", root=str(TEXT_DATA), split="test")
    assert (len(tr), len(te)) == (4837, 1209) and tr.classes == ["ham", "spam"]
    assert torch.bincount(tr.labels).tolist() == [3320, 1517]  # 4,150 ham, 1,896 spam in all
    assert torch.bincount(te.labels).tolist() == [830, 379]
    # the corpus holds exact duplicate emails (spam-1 vs spam-2, easy-ham-1 vs 2); 29 land on both sides
    assert len(set(tr.texts) & set(te.texts)) == 29
    assert tr.texts[0].startswith("Re: New Sequences Window")
