"""Text through the one trainer: ERM and the embedding-space methods on a small keyword corpus."""
from __future__ import annotations

import json
import random
import subprocess

import pytest
import torch
import torch.nn.functional as F

from nnsafety.attacks.embedding import embedding_pgd, token_mask
from nnsafety.augment import mix_targets, sample_mix, soft_cross_entropy
from nnsafety.data import Vocab, load_dataset
from nnsafety.models import create_model
from nnsafety.runs import load_run
from nnsafety.train import train
from nnsafety.train.methods import StepContext, create_method, list_methods

FILLER = "the a this it was is and very of food box item taste price bag some".split()


def _corpus(n, rng):
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = rng.choices(FILLER, k=rng.randint(3, 9))
        words.insert(rng.randint(0, len(words)), rng.choice(["good", "great", "tasty"] if label == "pos"
                                                                else ["bad", "awful", "stale"]))
        rows.append((" ".join(words), label))
    return rows


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("keywords")
    rng = random.Random(0)
    for split, n in (("train", 160), ("test", 60)):
        (root / f"{split}.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n"
                                                     for t, y in _corpus(n, rng)))
    return root


def _data(corpus, split="train"):
    return load_dataset("text_files", root=str(corpus), split=split, max_len=12, min_freq=1)


def _model(ds, name="text_cnn", **kw):
    torch.manual_seed(0)
    kw = {"embed_dim": 16, "maps": 8, "dropout": 0.0, **kw} if name == "text_cnn" else kw
    return create_model(name, num_classes=2, in_shape=ds.in_shape, **ds.model_kwargs(), **kw)


def test_text_methods_are_registered_for_tokens():
    names = list_methods(domain="token")
    for m in ("erm", "mixup", "manifold_mixup", "nfm", "noisymix", "embed_pgd_at", "freelb"):
        assert m in names
    assert "cutmix" not in names and "embed_pgd_at" not in list_methods(domain="image")


# lm trains causal language models on next-token targets, not text classifiers (tests/genai)
@pytest.mark.parametrize("name", [n for n in list_methods(domain="token") if n != "lm"])
@pytest.mark.parametrize("model", ["text_cnn", "bilstm"])
def test_every_token_method_gives_a_finite_differentiable_loss(corpus, name, model):
    ds = _data(corpus)
    m = _model(ds, model, embed_dim=8) if model == "bilstm" else _model(ds)
    method = create_method(name)
    method.check(m)
    out = method.loss(m.train(), ds.ids[:6], ds.labels[:6], StepContext(m, torch.Generator().manual_seed(0), 2))
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters() if p.requires_grad)


@pytest.mark.parametrize("method", ["erm", "embed_pgd_at", "nfm"])
def test_trainer_learns_keywords_and_the_run_rebuilds_the_tokenizer(corpus, tmp_path, method):
    kw = {"steps": 2, "eps": 0.2} if method == "embed_pgd_at" else {}
    res = train(data="text_files", data_root=str(corpus), model="text_cnn", method=method, method_kwargs=kw,
                model_kwargs={"embed_dim": 16, "maps": 16}, epochs=8, batch_size=16, optimizer="adamw",
                lr=0.02, weight_decay=0.0, out=tmp_path / "run", progress=False)
    assert res.final["test_acc"] >= 0.95, res.history
    train_set = load_dataset("text_files", root=str(corpus))  # what the trainer loaded: default settings
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model"]["kwargs"]["vocab_size"] == len(train_set.vocab) and cfg["model"]["mean"] is None
    assert Vocab.load(tmp_path / "run" / "vocab.json") == train_set.vocab
    run = load_run(tmp_path / "run")
    test = load_dataset("text_files", root=str(corpus), split="test")
    torch.testing.assert_close(run.model(test.ids), res.model(test.ids))


def test_embedding_pgd_stays_in_per_token_balls_and_raises_the_loss(corpus):
    ds = _data(corpus)
    m = _model(ds).eval()
    ids, y = ds.ids[:40], ds.labels[:40]
    gen = torch.Generator().manual_seed(0)
    delta = embedding_pgd(m, ids, y, eps=0.3, steps=5, generator=gen)
    e = m.embed(ids).detach()
    mask = token_mask(m, ids)
    ratio = delta.norm(dim=-1)[mask] / e.norm(dim=-1)[mask]
    assert ratio.max() <= 0.3 + 1e-5 and ratio.mean() > 0.25  # PGD walks to the sphere of radius ε‖e_t‖
    assert delta[~mask].abs().max() == 0
    clean = F.cross_entropy(m(ids), y)
    adv = F.cross_entropy(m.forward_embeddings(e + delta, mask), y)
    assert adv > clean + 0.05
    again = embedding_pgd(m, ids, y, eps=0.3, steps=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(delta, again)


@pytest.mark.parametrize("w", [0.0, 0.5, 0.8])
def test_embed_pgd_at_loss_is_the_weighted_clean_plus_adversarial_ce(corpus, w):
    ds = _data(corpus)
    m = _model(ds).eval()  # dropout 0: the outer passes are deterministic
    ids, y = ds.ids[:16], ds.labels[:16]
    out = create_method("embed_pgd_at", eps=0.2, steps=2, clean_weight=w).loss(
        m, ids, y, StepContext(m, torch.Generator().manual_seed(3), 2))
    delta = embedding_pgd(m, ids, y, eps=0.2, steps=2, generator=torch.Generator().manual_seed(3))
    e, mask = m.embed(ids), token_mask(m, ids)
    adv = F.cross_entropy(m.forward_embeddings(e + delta, mask), y)
    clean = F.cross_entropy(m(ids), y)
    assert adv > clean + 0.01
    torch.testing.assert_close(out.loss, w * clean + (1 - w) * adv)
    assert create_method("embed_pgd_at").hparams() == {"eps": 0.05, "steps": 3, "step_size": None, "clean_weight": 0.5}
    with pytest.raises(ValueError, match="clean_weight in"):
        create_method("embed_pgd_at", clean_weight=1.0)


def test_mixup_on_token_ids_mixes_embeddings_with_the_drawn_weight(corpus):
    ds = _data(corpus)
    m = _model(ds).train()
    ids, y = ds.ids[:16], ds.labels[:16]
    method = create_method("mixup", alpha=0.4)
    method.check(m)
    out = method.loss(m, ids, y, StepContext(m, torch.Generator().manual_seed(5), 2))
    draw = sample_mix(16, 0.4, torch.Generator().manual_seed(5))
    assert 0 < draw.lam < 1
    e, mask = m.embed(ids), token_mask(m, ids)
    logits = m.forward_embeddings(draw.lam * e + (1 - draw.lam) * e[draw.perm], mask | mask[draw.perm])
    torch.testing.assert_close(out.loss, soft_cross_entropy(logits, mix_targets(y, draw, 2)))


def test_freelb_single_step_without_start_is_erm(corpus):
    ds = _data(corpus)
    m = _model(ds).train()
    ids, y = ds.ids[:16], ds.labels[:16]
    out = create_method("freelb", steps=1, init_mag=0.0).loss(m, ids, y, StepContext(m, torch.Generator(), 2))
    torch.testing.assert_close(out.loss, F.cross_entropy(m(ids), y))
    three = create_method("freelb", steps=3, eps=0.3).loss(m, ids, y, StepContext(m, torch.Generator(), 2))
    assert three.loss > out.loss  # the ascent steps raise the averaged loss


class _NoSeam(torch.nn.Module):
    """A user's text model without embed / forward_embeddings."""

    def __init__(self, vocab_size, length):
        super().__init__()
        self.emb, self.out = torch.nn.Embedding(vocab_size, 4), torch.nn.Linear(4 * length, 2)

    def forward(self, ids):
        return self.out(self.emb(ids).flatten(1))


@pytest.mark.parametrize("method", ["embed_pgd_at", "freelb"])
def test_embedding_method_on_a_model_without_the_seam_fails_at_start(corpus, tmp_path, method):
    ds, test = _data(corpus), _data(corpus, "test")
    with pytest.raises(ValueError, match=rf"method '{method}' perturbs token embeddings and needs a model "
                                         r"with embed\(ids\) and forward_embeddings\(e, mask\)") as e:
        train(model=_NoSeam(len(ds.vocab), 12), train_set=ds, test_set=test, method=method, epochs=1,
              out=tmp_path / "x", progress=False)
    assert "\n" not in str(e.value) and not (tmp_path / "x").exists()


def test_bad_text_input_is_one_line_exit_2(tmp_path, python, cli_env):
    (tmp_path / "train.csv").write_text("text,label\ngood food,pos\nbad food,neg\n")
    for test_csv, expected in (("text,label\ngood,maybe\n", "unknown label(s) 'maybe'"),
                               ("text,label\ngood,pos\n...,neg\n", "row 2 has an empty text")):
        (tmp_path / "test.csv").write_text(test_csv)
        p = subprocess.run([python, "-m", "nnsafety.cli", "train", "--data", "text_files", "--data-root",
                            str(tmp_path), "--model", "text_cnn", "--epochs", "1", "--out", str(tmp_path / "x")],
                           env=cli_env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert expected in p.stderr and "test.csv" in p.stderr and not (tmp_path / "x").exists()


def test_image_only_models_and_methods_on_text_fail_at_start(corpus, tmp_path):
    with pytest.raises(ValueError, match=r"model 'mlp' does not take token ids and 'text_files' is text; "
                                         r"expected one of: bilstm, char_gpt, minilm, text_cnn"):
        train(data="text_files", data_root=str(corpus), model="mlp", epochs=1, out=tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match=r"method 'cutmix' does not apply to token ids .* expected one of: .*freelb"):
        train(data="text_files", data_root=str(corpus), model="text_cnn", method="cutmix", epochs=1,
              out=tmp_path / "b", progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()



@pytest.mark.parametrize("relative", [None, False])
def test_noisymix_noise_on_text_is_relative_to_the_word_vectors(corpus, relative):
    """On token ids NoisyMix's additive noise is in units of each word vector's rms by default
    (augment.feature_noise): with the same draws, an embedding table 100x larger gives exactly 100x the
    noisy embeddings, and positions that are padding in both texts of a mixed pair stay zero;
    relative_noise=False keeps the absolute (image) units, which do not scale."""
    ds = _data(corpus)
    noisy = []
    for scale in (1.0, 100.0):
        m = _model(ds)
        with torch.no_grad():
            m.embedding.weight.mul_(scale)
        seen, forward = {}, m.forward

        def spy(x, mix_hook=None):
            def hook(k, h):
                out = mix_hook(k, h)
                seen.setdefault(k, out)
                return out
            return forward(x, mix_hook=hook)

        m.forward = spy
        method = create_method("noisymix", layers=[0], sparse_level=0.0, relative_noise=relative)
        method.loss(m.train(), ds.ids[:8], ds.labels[:8], StepContext(m, torch.Generator().manual_seed(0), 2))
        noisy.append(seen[0].detach())
    zero_vectors = int((noisy[0].abs().sum(dim=2) == 0).sum())
    if relative is None:
        torch.testing.assert_close(noisy[1], 100 * noisy[0], rtol=1e-4, atol=1e-4)
        assert zero_vectors > 0
    else:
        assert not torch.allclose(noisy[1], 100 * noisy[0], rtol=1e-2, atol=1e-2)
        assert zero_vectors == 0
