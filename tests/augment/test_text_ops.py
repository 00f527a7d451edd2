"""Word-level ops on token ids: each op's defining property, determinism, padding kept a suffix."""
from __future__ import annotations

from collections import Counter

import pytest
import torch

from nnsafety.augment.text import list_word_ops, word_noise


def _ids():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, 50, (30, 16), generator=g)
    for i in range(30):
        ids[i, 1 + i % 14:] = 0
    return ids


def _words(row):
    return [t for t in row.tolist() if t != 0]


def _is_subsequence(small, big):
    it = iter(big)
    return all(any(t == u for u in it) for t in small)


def _padding_is_suffix(ids):
    real = ids != 0
    return bool((real.long().cummin(dim=1).values == real.long()).all())


@pytest.mark.parametrize("op", ["delete", "swap", "insert", "replace"])
def test_ops_are_deterministic_identity_at_zero_and_keep_padding_a_suffix(op):
    ids = _ids()
    nb = torch.randint(2, 50, (50, 3))
    a = word_noise(ids, op, 0.3, torch.Generator().manual_seed(1), neighbours=nb)
    b = word_noise(ids, op, 0.3, torch.Generator().manual_seed(1), neighbours=nb)
    assert torch.equal(a, b) and a.shape == ids.shape and _padding_is_suffix(a)
    assert torch.equal(word_noise(ids, op, 0.0, torch.Generator(), neighbours=nb), ids)
    assert op in list_word_ops()


def test_delete_keeps_an_ordered_subsequence_with_the_expected_rate():
    ids = _ids()
    out = word_noise(ids, "delete", 0.5, torch.Generator().manual_seed(2))
    kept = total = 0
    for row, new in zip(ids, out):
        w, v = _words(row), _words(new)
        assert 1 <= len(v) <= len(w) and _is_subsequence(v, w)
        kept, total = kept + len(v), total + len(w)
    assert 0.4 < kept / total < 0.65  # Binomial(n≈225, 0.5), plus the one-token floor
    assert all(len(_words(r)) == 1 for r in word_noise(ids, "delete", 1.0, torch.Generator()))


def test_swap_permutes_and_insert_duplicates_words_of_the_text():
    ids = _ids()
    sw = word_noise(ids, "swap", 0.2, torch.Generator().manual_seed(3))
    ins = word_noise(ids, "insert", 0.2, torch.Generator().manual_seed(3))
    for row, s, i in zip(ids, sw, ins):
        w = _words(row)
        assert Counter(_words(s)) == Counter(w)
        k = max(1, round(0.2 * len(w)))
        v = _words(i)
        assert len(v) == min(len(w) + k, 16) and set(v) <= set(w)
        if len(w) + k <= 16:
            assert _is_subsequence(w, v)


def test_replace_uses_the_neighbour_table():
    ids = _ids()
    nb = torch.ones(50, 2, dtype=torch.int64)  # every word's neighbours are id 1
    out = word_noise(ids, "replace", 0.25, torch.Generator().manual_seed(4), neighbours=nb)
    changed = out != ids
    assert changed.any() and bool((out[changed] == 1).all()) and not (changed & (ids == 0)).any()
    for row, new in zip(ids, out):  # at most max(1, round(p·n)) positions per text
        assert int((row != new).sum()) <= max(1, round(0.25 * len(_words(row))))
    assert torch.equal(word_noise(ids, "replace", 0.25, torch.Generator()), ids)  # no table: identity


def test_bad_word_op_arguments_are_one_line():
    with pytest.raises(ValueError, match=r"expected a word-op rate p in \[0, 1\], got 1.5"):
        word_noise(_ids(), "swap", 1.5)
    with pytest.raises(ValueError, match="unknown word op 'shuffle'"):
        word_noise(_ids(), "shuffle", 0.1)
    with pytest.raises(ValueError, match="expected int64 token ids"):
        word_noise(torch.rand(2, 3), "swap", 0.1)


def test_text_augmix_views_are_seeded_chains_of_word_ops():
    from nnsafety.augment.text import text_augmix

    ids = _ids()
    a = text_augmix(ids, severity=3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, text_augmix(ids, severity=3, generator=torch.Generator().manual_seed(7)))
    assert _padding_is_suffix(a) and not torch.equal(a, ids)
    for row, new in zip(ids, a):  # every op only deletes, reorders or duplicates words of the text
        assert set(_words(new)) <= set(_words(row)) and len(_words(new)) >= 1
    one = text_augmix(ids, severity=3, depth=1, generator=torch.Generator().manual_seed(8))
    assert (one != ids).any(dim=1).float().mean() > 0.5
