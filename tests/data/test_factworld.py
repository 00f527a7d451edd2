"""factworld: deterministic per seed, sizes as asked, exact answer checker, next-token windows."""
import pytest
import torch

from nnsafety.data import load_dataset
from nnsafety.data.chars import CHARS, TokenStreamDataset
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


def test_dataset_windows_are_next_token_pairs():
    ds = load_dataset("factworld", n_entities=20, n_known=8, seed=2, block_size=16)
    assert isinstance(ds, TokenStreamDataset) and ds.in_shape == (16,) and ds.num_classes == len(CHARS)
    x, y = ds.get_batch(torch.tensor([0, 3]))
    assert x.shape == y.shape == (2, 16) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    text = make_world(20, 8, seed=2).text()
    assert CHARS.decode(x[0].tolist()) == text[:16]
    assert CHARS.decode(x[1].tolist()) == text[3 * 16: 3 * 16 + 16]  # stride = block_size
    assert ds.domain.vocab_size == len(CHARS) and ds.model_kwargs() == {"vocab_size": len(CHARS), "pad_id": 0}
    ds.domain.check(x)


def test_char_vocab_roundtrip():
    s = "Q: When was Tokiba born?\nA: 1909"
    assert CHARS.decode(CHARS.encode(s)) == s
    assert CHARS.decode(CHARS.encode("é")) == "\ufffd"
