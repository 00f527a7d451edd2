"""The one trainer with the ``lm`` method: next-token loss goes down, perplexity = exp(test loss)
matches a slow per-token formula, the run loads back as a CausalLM, and resume is bit-exact."""
import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file

from nnsafety import runs
from nnsafety.data.chars import IGNORE
from nnsafety.genai.lm import load_lm
from nnsafety.metrics.perplexity import perplexity
from nnsafety.train import train

from ._tiny import MODEL, tiny_model, tiny_sets

CFG = dict(model="char_gpt", method="lm", epochs=3, batch_size=8, optimizer="adamw", lr=3e-3, weight_decay=0.0,
           model_kwargs=MODEL, device="cpu", seed=1, progress=False)


def test_perplexity_matches_per_token_formula():
    model = tiny_model(block_size=64)
    _, test = tiny_sets()
    x, y = test.tensors()
    with torch.no_grad():
        logp = model(x).log_softmax(-1)
    terms = [-float(logp[i, t, y[i, t]]) for i in range(y.shape[0]) for t in range(y.shape[1]) if y[i, t] != IGNORE]
    nll = sum(terms) / len(terms)
    r = perplexity(model, test, batch_size=2)
    assert r.loss == pytest.approx(nll, rel=1e-5) and r.perplexity == pytest.approx(math.exp(nll), rel=1e-5)
    assert r.n_tokens == len(terms) < y.numel()  # padding targets are not scored
    # an untrained model is near uniform over the 98 ids
    assert 60 < r.perplexity < 160


def test_lm_run_learns_and_loads_back(tmp_path):
    tr, te = tiny_sets()
    res = train(out=tmp_path / "lm", train_set=tr, test_set=te, **CFG)
    hist = [json.loads(line) for line in (tmp_path / "lm" / runs.METRICS).read_text().splitlines()]
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert all(h["test_perplexity"] == pytest.approx(math.exp(h["test_loss"])) for h in hist)
    # learning: held-out perplexity falls, below the uniform guess over the 98 ids
    assert hist[-1]["test_perplexity"] < hist[0]["test_perplexity"] < 98 and 0 < hist[-1]["train_acc"] < 1
    cfg = runs.read_config(tmp_path / "lm")
    assert cfg["model"]["kwargs"]["vocab_size"] == 98 and cfg["model"]["mean"] is None
    lm = load_lm(tmp_path / "lm")
    for a, b in zip(lm.model.state_dict().values(), res.model.state_dict().values()):
        assert torch.equal(a, b)


def test_lm_resume_is_bit_exact(tmp_path, monkeypatch):
    tr, te = tiny_sets()
    train(out=tmp_path / "ref", train_set=tr, test_set=te, checkpoint_every=2, **CFG)
    saved = tmp_path / "saved"
    save = runs.save_checkpoint

    def keep_mid_epoch_state(run_dir, tensors, meta):  # what a kill after this checkpoint leaves
        save(run_dir, tensors, meta)
        if meta["epoch"] == 1 and meta["step_in_epoch"] > 0 and not saved.exists():
            shutil.copytree(run_dir / runs.CHECKPOINT_DIR, saved)

    monkeypatch.setattr(runs, "save_checkpoint", keep_mid_epoch_state)
    killed = tmp_path / "killed"
    train(out=killed, train_set=tr, test_set=te, checkpoint_every=2, **CFG)
    monkeypatch.setattr(runs, "save_checkpoint", save)
    shutil.rmtree(killed / runs.CHECKPOINT_DIR)
    shutil.copytree(saved, killed / runs.CHECKPOINT_DIR)
    (killed / runs.WEIGHTS).unlink()
    train(out=killed, train_set=tr, test_set=te, resume=True, progress=False)
    a, b = load_file(str(tmp_path / "ref" / runs.WEIGHTS)), load_file(str(killed / runs.WEIGHTS))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda p: [{k: v for k, v in json.loads(s).items() if k != "epoch_time_s"}  # noqa: E731
                       for s in (p / runs.METRICS).read_text().splitlines()]
    assert strip(tmp_path / "ref") == strip(killed)


def test_lm_method_refuses_a_classifier():
    from nnsafety.data import load_dataset
    with pytest.raises(ValueError, match="expected next-token logits of shape N×L×V"):
        train(model="mlp", method="lm", epochs=1, train_set=load_dataset("toy2d", n=64),
              test_set=load_dataset("toy2d", split="test", n=64), device="cpu", progress=False)
