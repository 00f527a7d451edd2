"""The factworld hallucination probe: ask a language model questions with exact ground truth and
measure how well each hallucination score separates its hallucinated answers from correct ones.

For every question the model's greedy answer is checked exactly (``data.factworld.check_answer``):
label 1 = hallucinated (wrong about a known entity, or any specific answer about an unknown one),
0 = correct or abstained. Each registered score is computed from n sampled answers (+ log-probs)
and turned into a hallucination score (``sign * value``); its AUROC against the labels, with a
percentile-bootstrap CI over questions, says how well it would flag the made-up answers.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from ..data.factworld import Question, check_answer
from .clustering import Equivalence
from .evaluate import answer_calibration, auroc_ci
from .sampling import Generator, sample_sets
from .scores import SCORES, score_sample_sets


@dataclass
class HallucinationResult:
    """``aurocs``: per score, AUROC and bootstrap CI; ``aurocs_known``: the same on the questions
    about known people only (right vs wrong recall, without the easier unknown people); ``rows``: per question, the greedy answer, its
    label and every score's raw value; ``accuracy_known``: share of known-entity questions answered
    right; ``hallucination_rate``: share of all questions with a hallucinated answer; ``calibration``:
    how well the model's P(greedy answer) forecasts that the answer is not a hallucination (ECE,
    Brier; None when the generator gives no log-probabilities)."""

    aurocs: Dict[str, Dict[str, Any]]
    aurocs_known: Dict[str, Dict[str, Any]]
    rows: List[Dict[str, Any]]
    n_samples: int
    temperature: float
    accuracy_known: float
    hallucination_rate: float
    calibration: Optional[Dict[str, Any]] = None
    settings: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_markdown(self) -> str:
        head = "| score | AUROC | 95% CI | AUROC, known people only | 95% CI |\n|---|---|---|---|---|\n"
        body = "".join(f"| {k} | {v['auroc']:.3f} | [{v['low']:.3f}, {v['high']:.3f}] | "
                       f"{self.aurocs_known[k]['auroc']:.3f} | [{self.aurocs_known[k]['low']:.3f}, "
                       f"{self.aurocs_known[k]['high']:.3f}] |\n"
                       for k, v in sorted(self.aurocs.items(), key=lambda kv: -kv[1]["auroc"]))
        cal = ("" if self.calibration is None else f"; P(answer) calibration: ECE {self.calibration['ece']:.3f}, "
               f"Brier {self.calibration['brier']:.3f}")
        return (f"{head}{body}\n{len(self.rows)} questions, {self.n_samples} samples each at temperature "
                f"{self.temperature}; accuracy on known entities {self.accuracy_known:.3f}, hallucinated "
                f"answers {self.hallucination_rate:.3f}{cal}\n")


def hallucination_probe(generate: Generator, questions: Sequence[Question], n: int = 10,
                        temperature: float = 1.0, equivalent: Optional[Equivalence | str] = None,
                        n_boot: int = 1000, seed: int = 0) -> HallucinationResult:
    """AUROC of every applicable registered score on ``questions`` (see the module docstring).

    ``generate``: a ``CausalLM`` or any ``generate(prompts, n, temperature)`` callable (with log-probs
    in its ``Generations`` the probability-based scores join); ``n``: samples per question.
    """
    questions = list(questions)
    if not questions:
        raise ValueError("expected at least one probe question, got none")
    sets = sample_sets(generate, [q.prompt for q in questions], n=n, temperature=temperature, greedy=True,
                       equivalent=equivalent)
    verdicts = [check_answer(q, s.greedy) for q, s in zip(questions, sets)]
    labels = [int(v == "hallucinated") for v in verdicts]
    raw = score_sample_sets(sets)
    known_idx = [i for i, q in enumerate(questions) if q.known]

    def table(idx):
        return {name: auroc_ci([labels[i] for i in idx], [SCORES.get(name).sign * values[i] for i in idx],
                               n_boot=n_boot, seed=seed).to_dict() for name, values in raw.items()}

    aurocs, aurocs_known = table(range(len(questions))), table(known_idx)
    rows = [{**q.to_dict(), "answer": s.greedy.strip(), "verdict": verdict, "samples": [a.strip() for a in s.samples],
             **{name: raw[name][i] for name in raw}}
            for i, (q, s, verdict) in enumerate(zip(questions, sets, verdicts))]
    known = [v for q, v in zip(questions, verdicts) if q.known]
    calibration = (answer_calibration(raw["p_answer"], [1 - y for y in labels]).to_dict() if "p_answer" in raw
                   else None)
    return HallucinationResult(
        aurocs=aurocs, aurocs_known=aurocs_known, rows=rows, n_samples=n, temperature=temperature,
        accuracy_known=sum(v == "correct" for v in known) / len(known) if known else float("nan"),
        hallucination_rate=sum(labels) / len(labels), calibration=calibration,
        settings={"equivalent": equivalent if isinstance(equivalent, str) or equivalent is None else "custom",
                  "n_boot": n_boot, "seed": seed})
