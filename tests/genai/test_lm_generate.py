"""``CausalLM.generate``: reproducible per seed, greedy equals a slow argmax loop, log-probs equal
the model's own token log-probabilities summed by hand, and bad input fails in one line."""
import pytest
import torch

from nnsafety.data.chars import CHARS
from nnsafety.genai import semantic_entropy
from nnsafety.genai.lm import CausalLM, load_lm

from ._tiny import tiny_model

PROMPTS = ["Q: When was Ab born?\nA:", "Q: What does Cd Ef do?\nA:", "Q: When was Gh born?\nA:"]


@pytest.fixture(scope="module")
def lm():
    return CausalLM(tiny_model(), CHARS, max_new_tokens=6)


def test_same_seed_same_answers_other_seed_other_answers(lm):
    a = lm.generate(PROMPTS, n=4, temperature=1.0, seed=3)
    b = lm.generate(PROMPTS, n=4, temperature=1.0, seed=3)
    c = lm.generate(PROMPTS, n=4, temperature=1.0, seed=4)
    assert a == b and a.texts != c.texts
    assert [len(t) for t in a.texts] == [4, 4, 4]


def _slow_greedy(model, prompt, steps):
    ids = CHARS.encode(prompt)
    out, total = [], 0.0
    for _ in range(steps):
        logp = model(torch.tensor([ids[-model.block_size:]]))[0, -1].log_softmax(-1)
        tok = int(logp.argmax())
        total += float(logp[tok])
        if tok == CHARS.encode("\n")[0]:
            break
        out.append(tok)
        ids.append(tok)
    return CHARS.decode(out), total, len(out) + (len(out) < steps)


@pytest.mark.parametrize("block_size", [64, 16])  # 64: key/value cache; 16: cropped prefix recomputed
def test_greedy_matches_slow_loop_and_logprob_is_model_logprob(block_size):
    lm = CausalLM(tiny_model(block_size=block_size), CHARS, max_new_tokens=6)
    g = lm.generate(PROMPTS, n=2, temperature=0)
    for i, p in enumerate(PROMPTS):
        text, total, k = _slow_greedy(lm.model, p, 6)
        assert g.texts[i] == [text, text]
        assert g.logprobs[i][0] == pytest.approx(total, abs=1e-4)
        assert g.lengths[i][0] == k


def test_top_k_one_is_greedy(lm):
    assert lm.generate(PROMPTS, n=3, temperature=1.5, top_k=1).texts == lm.generate(PROMPTS, n=3, temperature=0).texts


def test_sampled_logprob_is_sum_of_token_logprobs(lm):
    g = lm.generate(PROMPTS[:1], n=3, temperature=1.0, seed=1)
    for text, lp, k in zip(g.texts[0], g.logprobs[0], g.lengths[0]):
        ids = CHARS.encode(PROMPTS[0] + text)
        stop = len(text) < 6
        full = torch.tensor([ids + ([CHARS.encode("\n")[0]] if stop else [])])
        logp = lm.model(full[:, :-1])[0].log_softmax(-1)
        n0 = len(CHARS.encode(PROMPTS[0]))
        ref = sum(float(logp[t - 1, full[0, t]]) for t in range(n0, full.shape[1]))
        assert lp == pytest.approx(ref, abs=1e-4) and k == full.shape[1] - n0


def test_lm_is_a_generator_for_semantic_entropy(lm):
    res = semantic_entropy(lm, PROMPTS, n=5, temperature=1.0)
    assert len(res.entropy) == 3 and res.entropy_weighted is not None
    assert all(0 <= h <= torch.log(torch.tensor(5.0)) + 1e-9 for h in res.entropy)


def test_bad_input(lm, tmp_path):
    with pytest.raises(ValueError, match="expected a tokenizer with encode/decode.*got none"):
        CausalLM(lm.model, None)
    with pytest.raises(ValueError, match="expected at least one prompt"):
        lm.generate([], n=2)
    with pytest.raises(ValueError, match="expected n >= 1"):
        lm.generate(PROMPTS, n=0)
    with pytest.raises(ValueError, match="expected temperature >= 0"):
        lm.generate(PROMPTS, temperature=-1)
    with pytest.raises(ValueError, match="expected every prompt to encode to at least one token"):
        lm.generate([""])
    with pytest.raises(FileNotFoundError):
        load_lm(tmp_path)
