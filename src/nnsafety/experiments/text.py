"""The text table: clean, word-noise and embedding-PGD accuracy of every text method with text_cnn,
beside a TF-IDF + logistic-regression baseline measured in the same run.

Recipe (every method, both datasets): ``text_cnn`` (random-init 128-d embeddings), AdamW lr 1e-3,
no weight decay, cosine, batch 64. Word noise: each registered word op of ``nnsafety.augment.text``
(delete, swap, insert) at rate 0.1 on the test texts (seeded, the same noisy texts for every
model), mean accuracy over the ops; the text corruptions of part 2 replace these once they exist.
Robust accuracy: ``embedding_pgd`` (per-token L2 balls of radius ε·‖e_t‖, ε = 0.1, 10 steps,
one random start). Per-run results are cached in ``text_runs.json``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from ..data import load_dataset
from ..train import TrainConfig, train
from ._tables import fmt, mean_std, write_table

TEXT_METHODS = ("erm", "mixup", "manifold_mixup", "nfm", "augmix", "noisymix", "embed_pgd_at", "freelb",
                "embed_augmix_at")
TEXT_DATASETS = ("fine_foods", "spam_assassin")
NOISE_OPS = ("delete", "swap", "insert")


def text_config(data: str, method: str, seed: int, epochs: int, data_root: Optional[str] = None) -> TrainConfig:
    return TrainConfig(data=data, data_root=data_root, model="text_cnn", method=method, epochs=epochs, seed=seed,
                       eval_every=epochs, optimizer="adamw", lr=1e-3, weight_decay=0.0, batch_size=64,
                       device="cpu")


def tfidf_baseline(train_set, test_set) -> Dict[str, float]:
    """TF-IDF (unigrams + bigrams, min_df 2, sublinear tf) + logistic regression (C = 1): test accuracy."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(vec.fit_transform(train_set.texts), train_set.labels.numpy())
    acc = float(clf.score(vec.transform(test_set.texts), test_set.labels.numpy()))
    return {"accuracy": acc, "fit_s": time.perf_counter() - t0}


def _accuracy(model, ids: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
    with torch.no_grad():
        pred = torch.cat([model(ids[i:i + batch]).argmax(1) for i in range(0, ids.shape[0], batch)])
    return float((pred == y).float().mean())


def embedding_pgd_accuracy(model, ids, y, eps: float = 0.1, steps: int = 10, seed: int = 0, batch: int = 256) -> float:
    """Accuracy under ``embedding_pgd`` (module doc), batched."""
    from ..attacks.embedding import embedding_pgd, token_mask

    model.eval()
    gen = torch.Generator().manual_seed(seed)
    correct = 0
    for i in range(0, ids.shape[0], batch):
        b, yb = ids[i:i + batch], y[i:i + batch]
        delta = embedding_pgd(model, b, yb, eps=eps, steps=steps, generator=gen)
        with torch.no_grad():
            logits = model.forward_embeddings(model.embed(b) + delta, token_mask(model, b))
        correct += int((logits.argmax(1) == yb).sum())
    return correct / ids.shape[0]


def noisy_test_sets(ids: torch.Tensor, rate: float = 0.1, seed: int = 0) -> Dict[str, torch.Tensor]:
    from ..augment.text import word_noise

    return {op: word_noise(ids, op, rate, torch.Generator().manual_seed(seed + k)) for k, op in enumerate(NOISE_OPS)}


def run_text(out_dir, seeds: int = 3, epochs: int = 10, methods: Optional[Sequence[str]] = None,
             datasets: Sequence[str] = TEXT_DATASETS, data_root: Optional[str] = None, eps: float = 0.1,
             pgd_steps: int = 10, progress: bool = False) -> dict:
    """Train and evaluate every method × seed on each dataset; write text.md / text.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(methods or TEXT_METHODS)
    if seeds < 1 or epochs < 1:
        raise ValueError(f"expected seeds >= 1 and epochs >= 1, got {seeds} and {epochs}")
    cache_path = out / "text_runs.json"
    cache: Dict[str, dict] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    for data in datasets:
        train_set = load_dataset(data, root=data_root, split="train")
        test_set = load_dataset(data, root=data_root, split="test")
        if f"{data}/tfidf" not in cache:
            cache[f"{data}/tfidf"] = tfidf_baseline(train_set, test_set)
        x, y = test_set.tensors()
        noisy = noisy_test_sets(x)
        for seed in range(seeds):
            for name in names:
                key = f"{data}/{name}/{seed}/{epochs}"
                if key in cache:
                    continue
                t0 = time.perf_counter()
                res = train(text_config(data, name, seed, epochs, data_root), train_set=train_set,
                            test_set=test_set, progress=progress)
                cache[key] = {
                    "data": data, "method": name, "seed": seed, "clean_acc": res.final["test_acc"],
                    "noise_acc": float(np.mean([_accuracy(res.model, v, y) for v in noisy.values()])),
                    "pgd_acc": embedding_pgd_accuracy(res.model, x, y, eps, pgd_steps),
                    "epoch_s": float(np.median([h["epoch_time_s"] for h in res.history])),
                    "train_s": time.perf_counter() - t0,
                }
                cache_path.write_text(json.dumps(cache, indent=1))
    return _write_summary(out, cache, names, datasets, seeds, epochs, eps, pgd_steps)


def _write_summary(out: Path, cache, names, datasets, seeds, epochs, eps, pgd_steps) -> dict:
    summary, rows = {}, []
    for data in datasets:
        base = cache.get(f"{data}/tfidf")
        if base:
            rows.append([data, "TF-IDF + LR (baseline)", f"{100 * base['accuracy']:.1f}", "–", "–", "–"])
        for name in names:
            recs = [cache[k] for k in (f"{data}/{name}/{s}/{epochs}" for s in range(seeds)) if k in cache]
            stats = {k: mean_std([r[k] for r in recs]) for k in ("clean_acc", "noise_acc", "pgd_acc", "epoch_s")}
            summary[f"{data}/{name}"] = {**stats, "seeds": [r["seed"] for r in recs]}
            rows.append([data, f"`{name}`", fmt(stats["clean_acc"]), fmt(stats["noise_acc"]), fmt(stats["pgd_acc"]),
                         fmt(stats["epoch_s"], scale=1.0, digits=1)])
    header = ["data", "method", "clean acc %", "word-noise acc %", f"embedding PGD ε={eps} acc %", "s / epoch"]
    note = (f"`text_cnn`, {epochs} epochs, up to {seeds} seeds (mean ± std); word noise: delete/swap/insert at "
            f"rate 0.1; embedding PGD: {pgd_steps} steps, per-token L2 radius ε·‖e_t‖, 1 random start.")
    payload = {"config": {**text_config("fine_foods", "erm", 0, epochs).to_dict(), "data": list(datasets),
                          "method": None, "seed": None, "seeds": seeds, "eps": eps, "pgd_steps": pgd_steps},
               "baselines": {d: cache.get(f"{d}/tfidf") for d in datasets}, "results": summary}
    write_table(out, "text", header, rows, payload, note)
    return payload
