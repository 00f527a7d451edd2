"""The text table: clean, word-noise and embedding-PGD accuracy of every text method with text_cnn,
beside a TF-IDF + logistic-regression baseline measured in the same run.

Recipe (every method, both datasets): ``text_cnn`` at ``MODEL_KWARGS`` (64-d random-init
embeddings, Kim's widths 3/4/5 with 50 maps each: an eighth of the benchmark model's cost with
``MAX_LEN`` 128 tokens, so that 9 methods × 3 seeds × 2 datasets fit on a shared CPU), AdamW lr
5e-3 (``LR``), no weight decay, cosine, batch 64. Word noise: the word-level text corruptions of the corruption
registry (``WORD_NOISE``: word_dropout, word_shuffle, synonym_swap) at severity 2 (10 % of the
words) on the test texts, seeded (the same noisy texts for every model), mean accuracy over them.
Synonyms: MiniLM input-embedding neighbours of the vocabulary (cosine ≥ 0.5, ``text_synonyms``;
the spaCy md table clusters words onto shared vectors, see ``data.word_vectors``); without the
extra nlp synonym_swap is left out. Robust accuracy: ``embedding_pgd`` (per-token L2 balls of radius
ε·‖e_t‖ at each ε of ``EPS``: 0.05, the embedding-AT methods' training default, and 0.1; ``pgd_steps``
steps of 2.5·ε/steps, one random start). ``majority_share``: the fraction of test predictions that
are the training split's majority class (1.0 = the model collapsed to the class prior). Per-run
results are cached in ``text_runs.json`` (written atomically after each (method, seed)); runs are
ordered seed-major, so a cut-short run has whole seeds and a rerun resumes at the next run.
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .._io import write_json_atomic
from ..attacks.embedding import embedding_pgd_accuracy
from ..data import load_dataset
from ..train import TrainConfig, train
from ._tables import fmt, mean_std, write_table

TEXT_METHODS = ("erm", "mixup", "manifold_mixup", "nfm", "augmix", "noisymix", "embed_pgd_at", "freelb",
                "embed_augmix_at")
TEXT_DATASETS = ("fine_foods", "spam_assassin")
WORD_NOISE = ("word_dropout", "word_shuffle", "synonym_swap")
NOISE_SEVERITY = 2
MAX_LEN = {"fine_foods": 128, "spam_assassin": 128}
MODEL_KWARGS = {"embed_dim": 64, "maps": 50}
EPS = (0.05, 0.1)
EPOCHS = 3  # 54 runs of 3 epochs ≈ 1,500 CPU-s unloaded (docs/results/text.md); 10 do not fit a shared CPU
LR = 5e-3  # with 1e-3 this model needs about 10 epochs (Fine Foods ERM: 69.8 % after 4, 80.0 % after 3 at 5e-3)


def text_config(data: str, method: str, seed: int, epochs: int, data_root: Optional[str] = None) -> TrainConfig:
    return TrainConfig(data=data, data_root=data_root, model="text_cnn", model_kwargs=dict(MODEL_KWARGS),
                       method=method, epochs=epochs, seed=seed,
                       eval_every=epochs, optimizer="adamw", lr=LR, weight_decay=0.0, batch_size=64,
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


def text_synonyms(dataset, k: int = 8, min_cos: float = 0.5) -> Optional[Dict[str, List[str]]]:
    """{word: neighbours} by cosine of MiniLM's input embeddings over the dataset's vocabulary, or
    None (with a warning) without the extra nlp."""
    from ..data.synonyms import synonym_table, vocab_neighbours

    try:
        ids, _ = vocab_neighbours(dataset.vocab.tokens, k, min_cos, source="minilm")
    except ValueError as e:
        warnings.warn(f"synonym_swap left out: {e}", stacklevel=2)
        return None
    return synonym_table(dataset.vocab.tokens, ids)


def word_noise_accuracy(model, test_set, synonyms) -> Dict[str, float]:
    """Accuracy on the test texts under each word-level corruption of ``WORD_NOISE`` (module doc)."""
    from ..corruptions.text_evaluate import evaluate_text_corruptions

    names = [n for n in WORD_NOISE if n != "synonym_swap" or synonyms is not None]
    res = evaluate_text_corruptions(model, test_set, names, [NOISE_SEVERITY], seed=0, synonyms=synonyms)
    return {n: res.accuracy[n][NOISE_SEVERITY] for n in names}


def _load(data: str, split: str, data_root: Optional[str]):
    kw = {"max_len": MAX_LEN[data]} if data in MAX_LEN else {}
    return load_dataset(data, root=data_root, split=split, **kw)


def majority_share(model, ids: torch.Tensor, majority: int, batch: int = 256) -> float:
    """Fraction of ``ids`` that ``model`` assigns to class ``majority``."""
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(ids[i:i + batch]).argmax(1) for i in range(0, ids.shape[0], batch)])
    return int((pred == majority).sum()) / pred.numel()


def run_text(out_dir, seeds: int = 3, epochs: int = EPOCHS, methods: Optional[Sequence[str]] = None,
             datasets: Sequence[str] = TEXT_DATASETS, data_root: Optional[str] = None,
             eps: Sequence[float] = EPS, pgd_steps: int = 5, progress: bool = False,
             train_seeds: Optional[Sequence[int]] = None) -> dict:
    """Train and evaluate every method × seed on each dataset; write text.md / text.json.

    ``train_seeds`` (default ``range(seeds)``) trains only those seeds, e.g. one process per seed
    with its own ``out_dir``; merging their ``text_runs.json`` and calling again summarizes all."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(methods or TEXT_METHODS)
    datasets = list(datasets or TEXT_DATASETS)
    if seeds < 1 or epochs < 1:
        raise ValueError(f"expected seeds >= 1 and epochs >= 1, got {seeds} and {epochs}")
    eps = [float(e) for e in eps]
    if not eps or any(not e > 0 for e in eps):
        raise ValueError(f"expected one or more eps > 0, got {eps}")
    cache_path = out / "text_runs.json"
    cache: Dict[str, dict] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    loaded = {}
    for data in datasets:
        train_set, test_set = _load(data, "train", data_root), _load(data, "test", data_root)
        if f"{data}/tfidf" not in cache:
            cache[f"{data}/tfidf"] = tfidf_baseline(train_set, test_set)
            write_json_atomic(cache_path, cache)
        loaded[data] = (train_set, test_set, int(torch.bincount(train_set.labels).argmax()), text_synonyms(test_set))
    for seed in (range(seeds) if train_seeds is None else train_seeds):  # seed-major over both datasets: a cut-short run has whole seeds of each
        for data in datasets:
            train_set, test_set, majority, synonyms = loaded[data]
            x, y = test_set.tensors()
            for name in names:
                key = f"{data}/{name}/{seed}/{epochs}"
                if key in cache:
                    continue
                t0 = time.perf_counter()
                res = train(text_config(data, name, seed, epochs, data_root), train_set=train_set,
                            test_set=test_set, progress=progress)
                noise = word_noise_accuracy(res.model, test_set, synonyms)
                res.model.eval()
                pgd = {f"{e:g}": embedding_pgd_accuracy(res.model, x, y, e, pgd_steps) for e in eps}
                cache[key] = {
                    "data": data, "method": name, "seed": seed, "clean_acc": res.final["test_acc"],
                    "noise_acc": float(np.mean(list(noise.values()))), "noise": noise,
                    "pgd_acc": pgd[f"{eps[0]:g}"], "pgd": pgd,
                    "majority_share": majority_share(res.model, x, majority),
                    "epoch_s": float(np.median([h["epoch_time_s"] for h in res.history])),
                    "train_s": time.perf_counter() - t0,
                }
                write_json_atomic(cache_path, cache)
    return _write_summary(out, cache, names, datasets, seeds, epochs, eps, pgd_steps)


def _write_summary(out: Path, cache, names, datasets, seeds, epochs, eps, pgd_steps) -> dict:
    summary, rows = {}, []
    dash = ["–"] * (len(eps) + 4)
    for data in datasets:
        base = cache.get(f"{data}/tfidf")
        if base:
            rows.append([data, "TF-IDF + LR (baseline)", f"{100 * base['accuracy']:.1f}", *dash])
        for name in names:
            recs = [cache[k] for k in (f"{data}/{name}/{s}/{epochs}" for s in range(seeds)) if k in cache]
            stats = {k: mean_std([r.get(k) for r in recs]) for k in ("clean_acc", "noise_acc", "majority_share", "epoch_s")}
            pgd = {f"{e:g}": mean_std([r.get("pgd", {}).get(f"{e:g}") for r in recs]) for e in eps}
            summary[f"{data}/{name}"] = {**stats, "pgd_acc": pgd[f"{eps[0]:g}"], "pgd": pgd,
                                         "seeds": [r["seed"] for r in recs]}
            rows.append([data, f"`{name}`", fmt(stats["clean_acc"]), fmt(stats["noise_acc"]),
                         *(fmt(pgd[f"{e:g}"]) for e in eps), fmt(stats["majority_share"]),
                         fmt(stats["epoch_s"], scale=1.0, digits=1), str(len(recs))])
    header = ["data", "method", "clean acc %", "word-noise acc %", *(f"PGD ε={e:g} acc %" for e in eps),
              "majority-class predictions %", "s / epoch", "seeds"]
    note = (f"`text_cnn` (embed_dim {MODEL_KWARGS['embed_dim']}, {MODEL_KWARGS['maps']} maps per width, "
            f"{', '.join(f'{d} {MAX_LEN[d]}' for d in datasets if d in MAX_LEN) or 'default'} tokens), AdamW "
            f"lr {LR:g}, {epochs} epochs, up to {seeds} seeds (mean ± std); word noise: mean over "
            f"{', '.join(WORD_NOISE)} at severity {NOISE_SEVERITY} (10 % of the words); embedding PGD: "
            f"{pgd_steps} steps, per-token L2 radius ε·‖e_t‖, 1 random start; majority-class predictions: "
            f"share of test predictions that are the training majority class.")
    payload = {"config": {**text_config("fine_foods", "erm", 0, epochs).to_dict(), "data": list(datasets),
                          "method": None, "seed": None, "seeds": seeds, "eps": list(eps), "pgd_steps": pgd_steps,
                          "max_len": {d: MAX_LEN.get(d) for d in datasets}, "word_noise": list(WORD_NOISE),
                          "noise_severity": NOISE_SEVERITY},
               "baselines": {d: cache.get(f"{d}/tfidf") for d in datasets}, "results": summary}
    write_table(out, "text", header, rows, payload, note)
    return payload
