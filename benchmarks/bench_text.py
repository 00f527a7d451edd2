"""Text: text_cnn ERM vs a TF-IDF + logistic-regression baseline on Fine Foods and SpamAssassin
(same run, same splits), the text_cnn epoch time, and the trainer's overhead on text.

Accuracy: ``nnsafety.experiments.text`` recipe (text_cnn, AdamW 1e-3, batch 64, cosine, seed 0,
``--epochs`` epochs, default 10) against ``tfidf_baseline`` (unigrams + bigrams, min_df 2,
sublinear tf, C = 1). Goals (issue 18): text_cnn within 1 point of the baseline or above on both,
SpamAssassin >= 97 %. Epoch time: the trainer's per-epoch wall time (median) and this process's
CPU seconds per epoch (steadier on a shared machine). Overhead: one epoch on the first 1,000 Fine
Foods reviews, nnsafety's trainer vs a bare loop with the same model, batches and optimizer,
alternating, median of 3 (goal <= 1.10). Needs ``make data-text``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine, paired_medians  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from nnsafety.data import load_dataset  # noqa: E402
from nnsafety.experiments.text import text_config, tfidf_baseline  # noqa: E402
from nnsafety.runs import build_model  # noqa: E402
from nnsafety.train import Trainer, train  # noqa: E402
from nnsafety.train.schedule import learning_rate  # noqa: E402
from nnsafety.train.trainer import epoch_batches  # noqa: E402
from nnsafety.train.distributed import DistInfo  # noqa: E402


def accuracy_table(datasets, epochs: int) -> None:
    print(f"# text_cnn ERM vs TF-IDF + LR, {epochs} epochs, seed 0 — {machine()}")
    print("| data | n train / test | TF-IDF + LR acc % | text_cnn ERM acc % | difference (points) | "
          "epoch wall s (median) | epoch CPU s | baseline fit s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for data in datasets:
        tr, te = load_dataset(data, split="train"), load_dataset(data, split="test")
        base = tfidf_baseline(tr, te)
        cpu0 = time.process_time()
        res = train(text_config(data, "erm", 0, epochs), train_set=tr, test_set=te, progress=False)
        cpu = (time.process_time() - cpu0) / epochs
        acc = res.final["test_acc"]
        wall = float(np.median([h["epoch_time_s"] for h in res.history]))
        print(f"| {data} | {len(tr)} / {len(te)} | {100 * base['accuracy']:.1f} | {100 * acc:.1f} | "
              f"{100 * (acc - base['accuracy']):+.1f} | {wall:.1f} | {cpu:.1f} | {base['fit_s']:.1f} |", flush=True)


def bare_epoch(cfg, spec, train_set) -> None:
    torch.manual_seed(cfg.seed)
    model = build_model(spec)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = epoch_batches(len(train_set), cfg.batch_size, cfg.seed, 0, DistInfo())
    model.train()
    for step, idx in enumerate(batches):
        for g in opt.param_groups:
            g["lr"] = learning_rate(step, len(batches), cfg.lr)
        x, y = train_set.get_batch(idx)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def overhead(n: int = 1000) -> None:
    tr = load_dataset("fine_foods", split="train").subset(n)
    te = load_dataset("fine_foods", split="test").subset(200)
    cfg = text_config("fine_foods", "erm", 0, 1)
    spec = Trainer(cfg, train_set=tr, test_set=te, progress=False).model_spec
    print(f"\n# trainer overhead on text: text_cnn, 1 epoch on {n} Fine Foods reviews, batch 64 — {machine()}")
    print("| clock | bare loop s | nnsafety s | ratio |")
    print("|---|---:|---:|---:|")
    for clock in ("cpu", "wall"):
        med = paired_medians({"bare": lambda: bare_epoch(cfg, spec, tr),
                              "nnsafety": lambda: Trainer(cfg, train_set=tr, test_set=te, progress=False).fit()},
                             repeats=3, clock=clock)
        print(f"| {clock} | {med['bare']:.2f} | {med['nnsafety']:.2f} | {med['nnsafety'] / med['bare']:.3f} |",
              flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--data", default="fine_foods,spam_assassin")
    p.add_argument("--skip-overhead", action="store_true")
    args = p.parse_args()
    accuracy_table(args.data.split(","), args.epochs)
    if not args.skip_overhead:
        overhead()


if __name__ == "__main__":
    main()
