"""``nnsafety experiment text`` on a tiny keyword corpus: the table, the baseline, the robust columns."""
from __future__ import annotations

import json
import random

from nnsafety.experiments import run_text

WORDS = "the a this it was is and very of food box item taste price bag".split()


def _write(root, n, rng, split):
    lines = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = rng.choices(WORDS, k=6) + [rng.choice(["good", "great"] if label == "pos" else ["bad", "awful"])]
        rng.shuffle(words)
        lines.append(json.dumps({"text": " ".join(words), "label": label}))
    (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")


def test_text_experiment_writes_baseline_and_robust_columns(tmp_path):
    rng = random.Random(0)
    data = tmp_path / "data"
    data.mkdir()
    _write(data, 120, rng, "train"), _write(data, 40, rng, "test")
    out = run_text(tmp_path / "out", seeds=1, epochs=3, methods=["erm", "mixup"], datasets=["text_files"],
                   data_root=str(data))
    base = out["baselines"]["text_files"]["accuracy"]
    assert base >= 0.95  # one keyword decides the label: TF-IDF + LR finds it
    for name in ("erm", "mixup"):
        r = out["results"][f"text_files/{name}"]
        clean, pgd = r["clean_acc"]["mean"], r["pgd_acc"]["mean"]
        assert 0 <= pgd <= clean <= 1 and r["noise_acc"]["mean"] is not None and r["seeds"] == [0]
    md = (tmp_path / "out" / "text.md").read_text()
    assert "TF-IDF + LR (baseline)" in md and "`mixup`" in md
    again = run_text(tmp_path / "out", seeds=1, epochs=3, methods=["erm", "mixup"], datasets=["text_files"],
                     data_root=str(data))  # cached: no retraining, same numbers
    assert again["results"] == out["results"]


def test_train_seeds_and_majority_share(tmp_path):
    import numpy as np
    import torch

    from nnsafety.experiments.text import majority_share

    rng = random.Random(1)
    data = tmp_path / "data"
    data.mkdir()
    _write(data, 60, rng, "train"), _write(data, 20, rng, "test")
    out = run_text(tmp_path / "out", seeds=2, epochs=1, methods=["erm"], datasets=["text_files"],
                   data_root=str(data), eps=(0.05, 0.2), train_seeds=[1])
    r = out["results"]["text_files/erm"]
    assert r["seeds"] == [1] and set(r["pgd"]) == {"0.05", "0.2"} and 0 <= r["majority_share"]["mean"] <= 1
    runs = json.loads((tmp_path / "out" / "text_runs.json").read_text())
    assert sorted(runs) == ["text_files/erm/1/1", "text_files/tfidf"]
    lin = torch.nn.Linear(3, 2)
    x = torch.randn(50, 3)
    want = float(np.mean(lin(x).detach().numpy().argmax(1) == 1))
    assert majority_share(lin, x, 1, batch=7) == want
