"""The factworld probe on a scripted generator whose behaviour, and so every AUROC, is known."""
import math

import numpy as np
import pytest

from nnsafety.data.factworld import make_world
from nnsafety.genai.probe import hallucination_probe
from nnsafety.genai.sampling import Generations


def test_probe_labels_and_aurocs_on_a_scripted_generator():
    w = make_world(8, 4, seed=0)
    qs = w.questions(attributes=("city",))
    truth = {q.prompt: q.truth for q in qs}

    def generate(prompts, n, temperature):
        # known: always the truth (one cluster, p = 1/2); unknown: n different cities, each p = 1/8
        texts = [[" " + truth[p]] * n if truth[p] else [f" City{j}" for j in range(n)] for p in prompts]
        lps = [[math.log(0.5)] * n if truth[p] else [math.log(1 / 8)] * n for p in prompts]
        return Generations(texts=texts, logprobs=lps, lengths=[[3] * n for _ in prompts])

    res = hallucination_probe(generate, qs, n=4, n_boot=50)
    assert [r["verdict"] for r in res.rows] == ["correct"] * 4 + ["hallucinated"] * 4
    assert res.accuracy_known == 1.0 and res.hallucination_rate == 0.5
    assert [r["semantic_entropy"] for r in res.rows] == pytest.approx([0.0] * 4 + [math.log(4)] * 4)
    assert [r["self_consistency"] for r in res.rows] == [1.0] * 4 + [0.25] * 4
    for name, a in res.aurocs.items():
        assert a["auroc"] == 1.0 and a["n_pos"] == 4, name
    assert "| semantic_entropy | 1.000 |" in res.to_markdown()
    assert all(np.isnan(a["auroc"]) for a in res.aurocs_known.values())  # every known answer is right
    # P(answer) = 1/2 on correct answers, 1/8 on hallucinated ones
    assert res.calibration["brier"] == pytest.approx((4 * 0.25 + 4 * (1 / 64)) / 8)


def test_probe_needs_questions():
    with pytest.raises(ValueError, match="expected at least one probe question"):
        hallucination_probe(lambda p, n, t: [], [])
