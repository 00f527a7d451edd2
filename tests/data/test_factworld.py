"""factworld: deterministic per seed, sizes as asked, exact answer checker, next-token windows."""
import pytest
import torch

from nnsafety.data import load_dataset
from nnsafety.data.chars import CHARS, IGNORE, TokenWindowDataset, packed_windows, stream_windows
from nnsafety.data.factworld import CITIES, PROFESSIONS, check_answer, make_world


def test_same_seed_same_world_other_seed_other_world():
    a, b, c = make_world(30, 10, seed=3), make_world(30, 10, seed=3), make_world(30, 10, seed=4)
    assert a.entities == b.entities and a.text() == b.text() and a.questions() == b.questions()
    assert a.entities != c.entities and a.text() != c.text()


def test_sizes_known_subset_and_text_covers_only_known():
    w = make_world(40, 15, seed=1)
    assert len(w.entities) == 40 and len({e.name for e in w.entities}) == 40
    assert len(w.known) == 15 and all(e.known for e in w.entities[:15])
    train = w.text("train")
    assert all(e.name in train for e in w.known)
    assert not any(e.name in train for e in w.unknown)
    assert all(e.city in CITIES and e.profession in PROFESSIONS and 1900 <= e.year < 2000 for e in w.entities)
    qs = w.questions()
    assert len(qs) == 40 * 3 and sum(q.known for q in qs) == 45
    assert all((q.truth is None) != q.known for q in qs)
    # every known Q/A line is in the training text with its true answer
    assert all(f"{q.prompt} {q.truth}\n" in train for q in qs if q.known)


def test_checker_is_exact():
    w = make_world(4, 2, seed=0)
    known = [q for q in w.questions() if q.known and q.attribute == "year"][0]
    unknown = [q for q in w.questions() if not q.known][0]
    assert check_answer(known, f" {known.truth}\nQ: next") == "correct"
    assert check_answer(known, f" {known.truth}.") == "correct"
    assert check_answer(known, f" {int(known.truth) + 1}") == "hallucinated"
    assert check_answer(known, f" {known.truth}0") == "hallucinated"  # no prefix matching
    assert check_answer(known, " Unknown") == "abstained"
    assert check_answer(unknown, " Vesk") == "hallucinated"
    assert check_answer(unknown, " I don't know.") == "abstained"


def test_bad_sizes():
    with pytest.raises(ValueError, match="expected 1 <= n_known <= n_entities"):
        make_world(5, 6)


def test_dataset_windows_pack_whole_records():
    ds = load_dataset("factworld", n_entities=20, n_known=8, seed=2)
    assert isinstance(ds, TokenWindowDataset) and ds.in_shape == (128,) and ds.num_classes == len(CHARS)
    x, y = ds.tensors()
    assert x.shape == y.shape == (len(ds), 128) and x.dtype == torch.int64
    real = y != IGNORE
    assert torch.equal(x[:, 1:][real[:, :-1]], y[:, :-1][real[:, :-1]])  # targets are the next ids
    # every window is whole records: decoding all windows gives the text back, record by record
    records = make_world(20, 8, seed=2).records()
    assert "".join(CHARS.decode(w.tolist()) for w in ds.windows) == "".join(records)
    assert max(map(len, records)) <= 129 and all(CHARS.decode(w.tolist()).endswith("\n") for w in ds.windows)
    assert ds.domain.vocab_size == len(CHARS) and ds.model_kwargs() == {"vocab_size": len(CHARS), "pad_id": 0}
    ds.domain.check(x)


def test_packing_splits_only_overlong_records():
    w = packed_windows([[5, 6, 7], [8, 9], [1] * 7, [4]], block_size=4, pad_id=0)
    assert w.tolist() == [[5, 6, 7, 8, 9], [1, 1, 1, 1, 1], [1, 1, 4, 0, 0]]
    s = stream_windows(list(range(10)), block_size=3, stride=2)
    assert s.tolist() == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]


def test_char_vocab_roundtrip():
    s = "Q: When was Tokiba born?\nA: 1909"
    assert CHARS.decode(CHARS.encode(s)) == s
    assert CHARS.decode(CHARS.encode("é")) == "\ufffd"
