"""Machine-text detection: token scores equal the model's own log-softmax, and text the model wrote
greedily is told from random letters."""
import numpy as np
import pytest
import torch

from nnsafety.data.chars import CHARS
from nnsafety.genai.lm import CausalLM
from nnsafety.genai.machine_text import detect_machine_text

from ._tiny import tiny_model


@pytest.fixture(scope="module")
def lm():
    return CausalLM(tiny_model(), CHARS, max_new_tokens=30)


def test_score_is_log_softmax_and_rank(lm):
    text = "Born in 1975 in Dumara."
    (lp, rank), = lm.score([text])
    ids = torch.tensor([CHARS.encode(text)])
    with torch.no_grad():
        logp = lm.model(ids[:, :-1])[0].log_softmax(-1)
    for t in range(len(text) - 1):
        tok = int(ids[0, t + 1])
        assert float(lp[t]) == pytest.approx(float(logp[t, tok]), abs=1e-5)
        assert int(rank[t]) == 1 + int((logp[t] > logp[t, tok]).sum())
    with pytest.raises(ValueError, match="expected texts of at least 2 tokens"):
        lm.score(["a"])


def test_greedy_text_is_detected(lm):
    rng = np.random.default_rng(0)
    prompts = [f"Q{i}: " for i in range(12)]
    machine = [p + t[0] for p, t in zip(prompts, lm.generate(prompts, n=1, temperature=0).texts)]
    human = ["".join(rng.choice(list("abcdefghij klmnop"), 30)) for _ in range(12)]
    r = detect_machine_text(lm, human, machine, n_perturb=2, n_boot=50)
    assert r.aurocs["likelihood"]["auroc"] == 1.0 and r.aurocs["log_rank"]["auroc"] == 1.0
    assert set(r.aurocs_attacked) == {"likelihood", "log_rank", "curvature"}
    with pytest.raises(ValueError, match="expected human and machine texts, got 0 and 12"):
        detect_machine_text(lm, [], machine)
