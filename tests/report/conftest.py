"""A tiny digits MLP (plain torch loop, ~2 s) and one full audit of it with a tiny budget, shared."""
from __future__ import annotations

import pytest

from nnsafety.data import load_dataset

# Every section runs, each on a handful of points: the tests check wiring and numbers, not quality.
TINY = dict(n_eval=None, corruptions=["gaussian_noise", "contrast"], severities=(1, 5), n_corruption=120,
            n_attack=60, pgd_steps=5, eps_list=(0.05, 0.2), n_sanity=32, noise_levels=5, n_noise=100,
            n_hessian=48, lanczos_iter=6, trace_hvp=3, density_steps=6, landscape_steps=3, plane_resolution=15,
            n_margin=16, margin_directions=2, nc_steps=5, n_clean=40)


@pytest.fixture(scope="session")
def mlp(fit_digits):
    return fit_digits("mlp", steps=250, seed=0, width=32)


@pytest.fixture(scope="session")
def test_set():
    return load_dataset("digits", split="test")


@pytest.fixture(scope="session")
def tiny_budget():
    from nnsafety.report import get_budget

    return get_budget("quick", **TINY)


@pytest.fixture(scope="session")
def full_audit(mlp, test_set, tiny_budget, tmp_path_factory):
    from nnsafety.report import audit

    out = tmp_path_factory.mktemp("audit")
    return audit(mlp, test_set, out=out, budget=tiny_budget, name="tiny-mlp", progress=False)


# Reviews of a dozen words (so a 20 % word budget allows two edits) that carry hostile markup: every
# string the text audit shows (originals, adversarial texts, inverted words) must reach the page escaped.
HOSTILE = '<script>alert("pwn")</script> it\'s "quoted" & <b>bold</b>'
_GOOD = ["good tasty fresh coffee", "great tea and a lovely smell", "wonderful price good value"]
_BAD = ["bad stale coffee", "awful tea and a sour smell", "terrible price poor value"]


def write_text_reviews(folder):
    """A ``text_files`` folder (train/test JSONL) of short hostile reviews: pos = good words, neg = bad."""
    import json

    folder.mkdir(parents=True)
    for split, reps in (("train", 6), ("test", 2)):
        rows = []
        for r in range(reps):
            for i, (g, b) in enumerate(zip(_GOOD, _BAD)):
                filler = f"i bought this {r} {i} last week for my family and"
                rows += [{"text": f"{HOSTILE} {filler} {g}", "label": "pos"},
                         {"text": f"{HOSTILE} {filler} {b}", "label": "neg"}]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def text_audit(tmp_path_factory):
    """A text_cnn trained by ``nnsafety train`` on the hostile reviews, audited by ``nnsafety audit``."""
    from nnsafety.cli import main

    base = tmp_path_factory.mktemp("text_audit")
    data = write_text_reviews(base / "texts")
    run = base / "run"
    assert main(["train", "--data", "text_files", "--data-root", str(data), "--model", "text_cnn", "--epochs", "8",
                 "--batch-size", "8", "--set", "optimizer=adam", "--set", "lr=0.01", "--set", "model_kwargs.embed_dim=8",
                 "--set", "model_kwargs.maps=4", "--out", str(run)]) == 0
    out = base / "report"
    assert main(["audit", str(run), "--out", str(out), "--quiet"]) == 0
    return out
