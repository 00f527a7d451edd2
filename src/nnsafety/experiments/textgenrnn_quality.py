"""Sample quality of the ported textgenrnn, by its own perplexity (issue 21, requirement 1).

Held-out human text: the first 200 HaluEval QA questions (human-written English sentences; the
model was trained on Reddit titles, so this is out of its domain but in its language). Compared:
the same questions with their characters shuffled (same letters, no order), the model's own
samples at temperature 0.5 and 1.0, and the port with the naive weight reading (Keras' kernels
used as stored, without the per-gate cuDNN reorder) as a negative control.
``python -c "from nnsafety.experiments.textgenrnn_quality import run; print(run())"``
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict

import numpy as np
import torch

from ..genai.textgenrnn import DEFAULT_DIR, META, load_textgenrnn


def _ppl(lm, texts) -> float:
    lps = [lp for lp, _ in lm.score(texts)]
    return math.exp(-float(torch.cat(lps).mean()))


def run(folder: str | Path = DEFAULT_DIR, halueval: str | Path = "data/genai/halueval/dataset_halueval_qa.jsonl",
        n: int = 200, seed: int = 0) -> Dict[str, float]:
    lm = load_textgenrnn(folder, max_new_tokens=120, seed=seed)
    lines = Path(halueval).read_text(encoding="utf-8").splitlines()[:n]
    human = [META + json.loads(line)["question"] + META for line in lines]
    rng = np.random.default_rng(seed)
    shuffled = [META + "".join(rng.permutation(list(t[3:-3]))) + META for t in human]
    out = {"human_questions": _ppl(lm, human), "shuffled_characters": _ppl(lm, shuffled)}
    for temp in (0.5, 1.0):
        samples = [META + t[0] + META for t in lm.generate([META] * 100, n=1, temperature=temp).texts]
        out[f"own_samples_t{temp}"] = _ppl(lm, samples)
    state = lm.model.state_dict()
    for layer in ("rnn_1", "rnn_2"):  # undo the per-gate reorder: the naive reading of the stored kernels
        w = state[f"{layer}.weight_ih_l0"]
        h, inp = w.shape[0] // 4, w.shape[1]
        state[f"{layer}.weight_ih_l0"] = torch.cat([g.reshape(-1).reshape(inp, h).T for g in w.split(h)])
        state[f"{layer}.weight_hh_l0"] = torch.cat([g.T for g in state[f"{layer}.weight_hh_l0"].split(h)])
    lm.model.load_state_dict(state)
    out["human_questions_naive_port"] = _ppl(lm, human)
    return out
