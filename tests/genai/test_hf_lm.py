"""Any Hugging Face causal LM on disk through the same ``generate``: a tiny random GPT-2 with a
byte-level tokenizer, both built in the test (nothing downloaded)."""
import json

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="optional extra nnsafety[genai] (transformers) not installed")

from nnsafety.genai import semantic_entropy  # noqa: E402
from nnsafety.genai.lm import load_hf_lm  # noqa: E402

PROMPTS = ["Q: When was Ab born?\nA:", "Q: Where?\nA:"]


def _bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map (Radford et al. 2019)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf")
    b2u = _bytes_to_unicode()
    (d / "vocab.json").write_text(json.dumps({**{b2u[b]: b for b in range(256)}, "<|endoftext|>": 256}))
    (d / "merges.txt").write_text("#version: 0.2\n")  # no merges: one token per byte
    tok = transformers.GPT2Tokenizer(str(d / "vocab.json"), str(d / "merges.txt"))
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=257, n_positions=64, n_embd=32, n_layer=1, n_head=2,
                                  bos_token_id=256, eos_token_id=256)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(str(d / "model"))
    tok.save_pretrained(str(d / "model"))
    transformers.GPT2LMHeadModel(cfg).save_pretrained(str(d / "no_tokenizer"))
    return d


def test_hf_model_generates_like_any_lm(hf_dir):
    lm = load_hf_lm(hf_dir / "model", max_new_tokens=5)
    a = lm.generate(PROMPTS, n=3, temperature=1.0, seed=2)
    assert a == lm.generate(PROMPTS, n=3, temperature=1.0, seed=2) and a.texts != lm.generate(
        PROMPTS, n=3, temperature=1.0, seed=3).texts
    greedy = lm.generate(PROMPTS[:1], n=1, temperature=0)
    ids = lm.tokenizer.encode(PROMPTS[0])
    out, total = [], 0.0
    for _ in range(5):  # the slow reference: full forward, argmax, stop at the newline byte
        with torch.no_grad():
            logp = lm.model(torch.tensor([ids])).logits[0, -1].log_softmax(-1)
        t = int(logp.argmax())
        total += float(logp[t])
        if t == 10:
            break
        out.append(t)
        ids.append(t)
    assert greedy.texts[0][0] == lm.tokenizer.decode(out)
    assert greedy.logprobs[0][0] == pytest.approx(total, abs=1e-4)
    assert len(semantic_entropy(lm, PROMPTS, n=4).entropy) == 2


def test_hf_model_without_tokenizer_is_one_line_error(hf_dir, tmp_path):
    with pytest.raises(ValueError, match="has no tokenizer nnsafety can load") as e:
        load_hf_lm(hf_dir / "no_tokenizer")
    assert "\n" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="expected a Hugging Face model folder"):
        load_hf_lm(tmp_path)
