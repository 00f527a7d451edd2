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
