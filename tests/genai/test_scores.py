"""Hallucination scores on hand-built sample sets, against the formulas written out by hand."""
import math

import numpy as np
import pytest

from nnsafety.genai import SampleSet, cluster_entropy, cluster_ids, get_score, list_scores, score_sample_sets

N = 6


def test_registry_lists_every_score():
    assert set(list_scores()) == {"length_normalized_entropy", "p_answer", "predictive_entropy",
                                  "self_consistency", "semantic_entropy", "semantic_entropy_weighted"}
    with pytest.raises(ValueError, match="unknown hallucination score 'semantic'; expected one of"):
        get_score("semantic")


def test_all_equal_samples_zero_entropy_full_consistency():
    s = SampleSet(["Paris"] * N, logprobs=[-0.5] * N, greedy="paris.", greedy_logprob=-0.5)
    assert get_score("semantic_entropy")(s) == 0.0
    assert get_score("semantic_entropy_weighted")(s) == 0.0
    assert get_score("self_consistency")(s) == 1.0
    assert get_score("p_answer")(s) == pytest.approx(math.exp(-0.5))


def test_all_different_samples_maximal_entropy():
    answers = [f"city {i}" for i in range(N)]
    s = SampleSet(answers, logprobs=[-2.0] * N, greedy="nowhere")
    assert get_score("semantic_entropy")(s) == pytest.approx(math.log(N))
    # equal probabilities: the weighted form reaches the same maximum
    assert get_score("semantic_entropy_weighted")(s) == pytest.approx(math.log(N))
    assert get_score("self_consistency")(s) == 0.0


def test_entropies_match_hand_formulas():
    answers = ["1950", "1950.", "1951", "Berlin", "1950", "berlin"]  # clusters {0,1,4}, {2}, {3,5}
    lps = [-1.0, -1.5, -3.0, -2.0, -0.7, -2.5]
    lens = [4, 5, 4, 6, 4, 6]
    s = SampleSet(answers, logprobs=lps, lengths=lens, greedy="1950", greedy_logprob=-1.0)
    assert s.clusters() == [0, 0, 1, 2, 0, 2]
    p = np.array([3, 1, 2]) / 6
    assert get_score("semantic_entropy")(s) == pytest.approx(float(-(p * np.log(p)).sum()))
    w = np.exp(lps)
    pw = np.array([w[[0, 1, 4]].sum(), w[2], w[[3, 5]].sum()]) / w.sum()
    assert get_score("semantic_entropy_weighted")(s) == pytest.approx(float(-(pw * np.log(pw)).sum()))
    assert get_score("predictive_entropy")(s) == pytest.approx(-np.mean(lps))
    assert get_score("length_normalized_entropy")(s) == pytest.approx(-np.mean(np.array(lps) / np.array(lens)))
    assert get_score("self_consistency")(s) == pytest.approx(3 / 6)


def test_weighted_entropy_survives_tiny_probabilities():
    # exp(-900) underflows to 0 in float64; the log-space form keeps the equal split
    assert cluster_entropy([0, 1], [-900.0, -900.0]) == pytest.approx(math.log(2))


def test_scores_table_picks_applicable_scores():
    sets = [SampleSet(["a", "b"]), SampleSet(["a", "a"])]
    table = score_sample_sets(sets)
    assert set(table) == {"semantic_entropy"}
    assert table["semantic_entropy"] == pytest.approx([math.log(2), 0.0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(samples=[]), "expected at least one sampled answer"),
    (dict(samples=["a", "b"], logprobs=[-1.0]), "expected 2 logprobs"),
    (dict(samples=["a"], lengths=[0]), "expected sample lengths >= 1"),
    (dict(samples=["a"], equivalent="nli"), "unknown equivalence 'nli'"),
])
def test_bad_sample_sets(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SampleSet(**kwargs)


def test_score_without_what_it_needs():
    with pytest.raises(ValueError, match="score 'predictive_entropy' needs logprobs"):
        get_score("predictive_entropy")(SampleSet(["a"]))


def test_cluster_ids_order_of_first_appearance():
    assert cluster_ids(["b", "a", "B.", "c", "A"]) == [0, 1, 0, 2, 1]
