"""Machine-generated text detection from a local LM's token log-probabilities.

Scores, each higher for text the model is more likely to have written:
- ``likelihood``: mean token log-probability (Gehrmann et al. 2019, GLTR; Solaiman et al. 2019);
- ``log_rank``: −mean log rank of each token among the model's predictions (GLTR; Mitchell et al.);
- ``curvature``: DetectGPT (Mitchell et al., ICML 2023): log p(x) − mean_j log p(x̃_j) over
  perturbed copies x̃_j; machine text sits near a local maximum of the model's log-probability, so
  perturbing it costs more. DetectGPT perturbs with T5 mask-filling; here the perturbation family
  is character typos (``noise.char_typos``), per-token means keep lengths comparable.
Robustness: the same AUROCs when the machine text is itself perturbed (typos) before detection.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Sequence

import numpy as np

from .evaluate import auroc_ci
from .lm import CausalLM
from .noise import char_typos

DETECTORS = ("likelihood", "log_rank", "curvature")


def _mean_logp(lm: CausalLM, texts: Sequence[str]) -> np.ndarray:
    return np.array([float(lp.mean()) for lp, _ in lm.score(texts)])


def machine_text_scores(lm: CausalLM, texts: Sequence[str], n_perturb: int = 5, level: float = 0.1,
                        seed: int = 0) -> Dict[str, List[float]]:
    """Each detector's score for every text (see the module docstring)."""
    scored = lm.score(texts)
    ll = np.array([float(lp.mean()) for lp, _ in scored])
    rng = np.random.default_rng(seed)
    perturbed = np.stack([_mean_logp(lm, [char_typos(t, level, rng) for t in texts]) for _ in range(n_perturb)])
    return {"likelihood": ll.tolist(),
            "log_rank": [-float(r.double().log().mean()) for _, r in scored],
            "curvature": (ll - perturbed.mean(axis=0)).tolist()}


@dataclass
class MachineTextResult:
    """AUROC (bootstrap CI) of each detector, machine = positive: on the texts as generated, and on
    the machine texts perturbed with typos at ``attack_level`` (the detector's robustness)."""

    aurocs: Dict[str, Dict[str, Any]]
    aurocs_attacked: Dict[str, Dict[str, Any]]
    attack_level: float
    n_human: int
    n_machine: int

    def to_dict(self) -> dict:
        return asdict(self)

    def to_markdown(self) -> str:
        def cell(a):
            return f"{a['auroc']:.3f} [{a['low']:.3f}, {a['high']:.3f}]"

        rows = "".join(f"| {k} | {cell(self.aurocs[k])} | {cell(self.aurocs_attacked[k])} |\n" for k in self.aurocs)
        return (f"| detector | AUROC [95% CI] | AUROC, machine text with {self.attack_level:.0%} typos |\n"
                f"|---|---|---|\n{rows}")


def detect_machine_text(lm: CausalLM, human: Sequence[str], machine: Sequence[str], n_perturb: int = 5,
                        level: float = 0.1, attack_level: float = 0.05, n_boot: int = 1000,
                        seed: int = 0) -> MachineTextResult:
    """AUROC of each detector for telling ``machine`` texts (written by ``lm``) from ``human`` ones."""
    human, machine = list(human), list(machine)
    if not human or not machine:
        raise ValueError(f"expected human and machine texts, got {len(human)} and {len(machine)}")
    rng = np.random.default_rng([seed, 1])
    attacked = [char_typos(t, attack_level, rng) for t in machine]
    h = machine_text_scores(lm, human, n_perturb, level, seed)
    labels = [0] * len(human) + [1] * len(machine)

    def table(texts):
        m = machine_text_scores(lm, texts, n_perturb, level, seed)
        return {k: auroc_ci(labels, h[k] + m[k], n_boot=n_boot, seed=seed).to_dict() for k in DETECTORS}

    return MachineTextResult(table(machine), table(attacked), attack_level, len(human), len(machine))


def continuations(lm: CausalLM, human: Sequence[str], prefix: int = 12, seed: int = 0) -> List[str]:
    """Machine counterparts of ``human`` texts: the model continues each text's first ``prefix``
    characters (temperature 1, up to the newline), so both sets share their openings."""
    prompts = [t[:prefix] for t in human]
    out = lm.generate(prompts, n=1, temperature=1.0, seed=seed)
    return [p + t[0] for p, t in zip(prompts, out.texts)]
