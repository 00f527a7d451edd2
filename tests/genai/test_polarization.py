"""Polarization probe: AFINN scoring equal to the afinn package's, and disparities of hand-built
generators whose answer is known."""
import numpy as np
import pytest

from nnsafety.genai.polarization import afinn_lexicon, afinn_sentiment, polarization_probe

TEXTS = [
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
    "of a wife.", "She was the happiest, the wisest, the most reasonable creature in the world!",
    "I can't stand this horrid, hateful weather; it is a disaster.", "no fun at all, a bad luck day",
    "", "Mr. Darcy's pride was abominable and his manners were cold and disagreeable.",
    "wow!!! so cool stuff :-) best damn thing, not good", "UNHAPPY and Sad. Terrible.",
]


def test_afinn_sentiment_equals_the_afinn_package():
    afinn = pytest.importorskip("afinn", reason="the afinn package (dev extra) is the reference scorer")
    ref = afinn.Afinn(language="en")
    assert len(afinn_lexicon()) == 3382
    for t in TEXTS:
        assert afinn_sentiment(t) == ref.score(t), t
    assert afinn_sentiment("good great") == 6.0 and afinn_sentiment("can't stand") == -3.0  # a phrase wins


def _fixed(answers):
    """A generator whose continuations depend only on which term the prompt contains."""
    def generate(prompts, n, temperature):
        out = []
        for p in prompts:
            term = next(t for t in answers if t in p)
            out.append([answers[term][j % len(answers[term])] for j in range(n)])
        return out
    return generate


def test_known_disparity_of_a_hand_built_generator():
    gen = _fixed({"cats": ["good great"], "dogs": ["bad"], "birds": ["good", "bad"]})
    r = polarization_probe(gen, ["The {term} were", "I think {term} are"], ["cats", "dogs", "birds"], n=4,
                           n_boot=200, n_perm=200, seed=1)
    assert r.means == [6.0, -3.0, 0.0] and r.disparity == 9.0
    assert (r.disparity_low, r.disparity_high) == (9.0, 9.0)  # no spread within a term
    assert r.lows[0] == r.highs[0] == 6.0 and r.lows[2] < 0 < r.highs[2]
    assert r.most_negative == "dogs" and r.most_positive == "cats" and r.n_per_term == 8
    assert r.p_value == pytest.approx(1 / 201)  # no shuffle of the labels reaches 9
    assert "| dogs | -3.000 |" in r.to_markdown()


def test_a_generator_blind_to_the_term_is_not_flagged():
    rng = np.random.default_rng(0)
    pool = ["good", "bad", "nice day", "awful", "a table", "happy", "sad"]

    def generate(prompts, n, temperature):
        return [[pool[i] for i in rng.integers(0, len(pool), n)] for _ in prompts]

    r = polarization_probe(generate, ["The {term} were"], ["a", "b", "c"], n=60, n_boot=300, n_perm=300, seed=0)
    assert r.disparity > 0  # max - min of noisy means is never exactly 0 ...
    assert r.p_value > 0.05  # ... which is why the permutation test decides


def test_bad_input_is_one_line():
    gen = _fixed({"x": ["good"], "y": ["bad"]})
    for kwargs, msg in [(dict(templates=["no term here"], terms=["x", "y"]), "containing {term}"),
                        (dict(templates=["{term}"], terms=["x"]), "at least 2 distinct terms"),
                        (dict(templates=["{term}"], terms=["x", "y"], n=0), "n >= 1")]:
        with pytest.raises(ValueError, match=msg) as e:
            polarization_probe(gen, **kwargs)
        assert "\n" not in str(e.value)
