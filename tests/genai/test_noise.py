"""Generative noise response: typos keep the template, and flips/collapse on scripted generators."""
import numpy as np
import pytest

from nnsafety.genai.noise import answer_noise_response, char_typos


def test_typos_touch_letters_only_at_the_asked_rate():
    text = "Q: When was Tokiba Gaitou born?\nA:" * 20
    assert char_typos(text, 0.0, np.random.default_rng(0)) == text
    every = char_typos(text, 1.0, np.random.default_rng(0))
    assert all((a != b) == a.isalpha() for a, b in zip(text, every))
    assert all(a.isupper() == b.isupper() for a, b in zip(text, every))
    some = char_typos(text, 0.2, np.random.default_rng(1))
    letters = sum(c.isalpha() for c in text)
    assert 0.15 < sum(a != b for a, b in zip(text, some)) / letters < 0.25
    with pytest.raises(ValueError, match="expected a typo level in \\[0, 1\\]"):
        char_typos(text, 1.5, np.random.default_rng(0))


def _echo(prompts, n, temperature):  # the answer is the prompt's last word: any typo in it flips it
    return [[p.split()[-1]] * n for p in prompts]


def _constant(prompts, n, temperature):  # a collapsed model: one answer for everything
    return [["Vesk"] * n for _ in prompts]


def test_flip_rate_and_collapse():
    prompts = [f"Who is person{i}" for i in range(40)]
    r = answer_noise_response(_echo, prompts, levels=(0.0, 1.0), n=3)
    assert r.flip_rate == [0.0, 1.0] and r.semantic_entropy == [0.0, 0.0]
    assert r.collapse[0] == pytest.approx(1 / 40)
    c = answer_noise_response(_constant, prompts, levels=(0.0, 0.3), n=3)
    assert c.flip_rate == [0.0, 0.0] and c.collapse == [1.0, 1.0]
    assert "| 0.30 | 0.000 | 0.000 | 1.000 |" in c.to_markdown()
    with pytest.raises(ValueError, match="expected typo levels starting at 0"):
        answer_noise_response(_echo, prompts, levels=(0.1,))
