"""Meaning clustering on fixed examples: variants and paraphrases merge, different answers split."""
import math

import pytest

from nnsafety.genai import cluster_ids, normalize_answer, same_content, semantic_entropy
from nnsafety.genai.sampling import Generations


def test_normalize_answer_is_squad_normalisation():
    assert normalize_answer("  The  Eiffel-Tower! ") == "eiffel tower"
    assert normalize_answer("An apple.") == "apple"


def test_normalised_variants_merge_and_different_answers_split():
    answers = ["Paris", "paris.", "The Paris", "London", "Paris, France", "london!"]
    assert cluster_ids(answers) == [0, 0, 0, 1, 2, 1]


def test_paraphrases_merge_under_same_content():
    answers = ["She was a teacher.", "teacher", "a teacher", "He is a baker", "baker.", "teacher of music"]
    assert cluster_ids(answers, "same_content") == [0, 0, 0, 1, 1, 2]
    assert same_content("in 1950", "1950") and not same_content("born in 1950", "1950")


def test_custom_equivalence_callable():
    first_letter = lambda a, b: a[0].lower() == b[0].lower()  # noqa: E731
    assert cluster_ids(["Paris", "prague", "Rome"], first_letter) == [0, 0, 1]


def _fixed(answers_per_prompt, logprobs=None):
    def generate(prompts, n, temperature):
        assert n == len(answers_per_prompt[0]) and temperature == 0.7
        return Generations(texts=answers_per_prompt[: len(prompts)], logprobs=logprobs)

    return generate


def test_semantic_entropy_over_a_callable():
    gen = _fixed([["1950"] * 4, ["a", "b", "c", "d"], ["x", "x.", "y", "Y"]])
    res = semantic_entropy(gen, ["q1", "q2", "q3"], n=4, temperature=0.7)
    assert res.entropy == pytest.approx([0.0, math.log(4), math.log(2)])
    assert res.n_clusters == [1, 4, 2]
    assert res.entropy_weighted is None


def test_semantic_entropy_plain_list_generator():
    res = semantic_entropy(lambda prompts, n, t: [["a"] * n for _ in prompts], ["q"], n=3)
    assert res.entropy == [0.0]


@pytest.mark.parametrize("prompts, n, match", [
    ([], 3, "expected at least one prompt, got an empty list"),
    ("q", 3, "expected a list of prompt strings, got one string"),
    ([1], 3, "expected every prompt to be a string, got int"),
    (["q"], 0, "expected n >= 1 samples per prompt, got 0"),
    (["q"], 2.5, "expected n >= 1 samples per prompt, got 2.5"),
])
def test_bad_input_one_line_error(prompts, n, match):
    with pytest.raises(ValueError, match=match) as e:
        semantic_entropy(lambda p, k, t: [["a"] * k for _ in p], prompts, n=n)
    assert "\n" not in str(e.value)


def test_generator_returning_wrong_shape():
    with pytest.raises(ValueError, match="expected 2 answer strings for prompt 0"):
        semantic_entropy(lambda p, k, t: [["a"] for _ in p], ["q"], n=2)
    with pytest.raises(ValueError, match="expected the generator to return 2 answer lists"):
        semantic_entropy(lambda p, k, t: [["a"] * k], ["q", "r"], n=2)
