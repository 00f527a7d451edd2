"""The digits table: clean, corruption (digits-C) and PGD accuracy of every robust training method.

Same recipe for every method (the trainer's digits defaults: SGD + Nesterov 0.05, cosine, batch
128, wd 5e-4, ``cnn``), ``seeds`` seeds each. Corruptions: the 15 benchmark corruptions × 5
severities of ``nnsafety.corruptions`` applied to the 450 test images (seeded, so every model
sees the same corrupted images); mCE and relative mCE are against ``erm`` of the same seed.
Robust accuracy: PGD-L∞ (``nnsafety.attacks.pgd``), ε = 0.1, 20 steps, one random start.
Per-run results are cached in ``digits_runs.json`` so an interrupted run continues where it stopped.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from ..data import load_dataset
from ..train import TrainConfig, train
from ._tables import fmt, mean_std, write_table

DIGITS_METHODS = ("erm", "noise", "mixup", "cutmix", "manifold_mixup", "nfm", "augmix", "manifold_mixup_jsd",
                  "noisymix", "pgd_at", "trades", "fast_at", "augmix_at")


def digits_config(method: str, seed: int, epochs: int, model: str = "cnn") -> TrainConfig:
    return TrainConfig(data="digits", model=model, method=method, epochs=epochs, seed=seed, eval_every=epochs,
                       device="cpu")


def evaluate_run(model, test_set, baseline_corr, eps: float, pgd_steps: int, corruption_seed: int):
    """Clean accuracy, CorruptionResult (vs ``baseline_corr``) and PGD robust accuracy of one model."""
    from ..attacks import robust_accuracy
    from ..corruptions import BENCHMARK_CORRUPTIONS, evaluate_corruptions

    corr = evaluate_corruptions(model, test_set, corruptions=BENCHMARK_CORRUPTIONS, seed=corruption_seed,
                                baseline=baseline_corr)
    x, y = test_set.tensors()
    rob = robust_accuracy(model, x, y, "pgd", eps=eps, steps=pgd_steps, keep_adv=False, progress=False)
    return corr, rob


def run_digits(out_dir, seeds: int = 3, epochs: int = 30, methods: Optional[Sequence[str]] = None,
               model: str = "cnn", eps: float = 0.1, pgd_steps: int = 20, corruption_seed: int = 0,
               progress: Optional[bool] = False) -> dict:
    """Train and evaluate every method for ``seeds`` seeds; write ``digits.md``/``digits.json`` and
    ``digits_runs.json`` (one record per method and seed) into ``out_dir``; return the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(methods or DIGITS_METHODS)
    if "erm" not in names:
        names = ["erm"] + names  # the mCE baseline
    if seeds < 1 or epochs < 1:
        raise ValueError(f"expected seeds >= 1 and epochs >= 1, got {seeds} and {epochs}")
    cache_path = out / "digits_runs.json"
    cache: Dict[str, dict] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    test_set = load_dataset("digits", split="test")
    baselines = {}
    for seed in range(seeds):
        for name in names:
            key = f"{name}/{seed}/{epochs}/{model}"
            if key in cache:
                if name == "erm":
                    baselines[seed] = _cached_corruptions(cache[key])
                continue
            cfg = digits_config(name, seed, epochs, model)
            t0 = time.perf_counter()
            res = train(cfg, progress=progress)
            train_s = time.perf_counter() - t0
            corr, rob = evaluate_run(res.model, test_set, baselines.get(seed), eps, pgd_steps, corruption_seed)
            if name == "erm":
                baselines[seed] = corr
            epoch_s = [h["epoch_time_s"] for h in res.history]
            cache[key] = {
                "method": name, "seed": seed, "epochs": epochs, "model": model,
                "clean_acc": res.final["test_acc"], "corruption_acc": corr.mean_accuracy,
                "mce": corr.mce(baselines[seed]), "relative_mce": corr.mce(baselines[seed], relative=True),
                "pgd_acc": rob.robust_accuracy, "epoch_s": float(np.median(epoch_s)), "train_s": train_s,
                "corr_clean": corr.clean_accuracy, "corr_n": corr.n, "corr": corr.accuracy,
            }
            cache_path.write_text(json.dumps(cache, indent=1, default=str))
        _write_summary(out, cache, names, seeds, epochs, model, eps, pgd_steps, corruption_seed)
    return _write_summary(out, cache, names, seeds, epochs, model, eps, pgd_steps, corruption_seed)


def _cached_corruptions(rec: dict):
    """The ERM baseline's CorruptionResult rebuilt from its cached record (JSON keys are strings)."""
    from ..corruptions import CorruptionResult

    acc = {c: {int(k): float(a) for k, a in row.items()} for c, row in rec["corr"].items()}
    return CorruptionResult(rec["corr_clean"], acc, rec["corr_n"], "digits")


def _write_summary(out: Path, cache: dict, names, seeds, epochs, model, eps, pgd_steps, corruption_seed) -> dict:
    """Aggregate the cached runs (whatever seeds are done) into digits.md / digits.json."""
    summary = {}
    for name in names:
        recs = [cache[f"{name}/{s}/{epochs}/{model}"] for s in range(seeds) if f"{name}/{s}/{epochs}/{model}" in cache]
        summary[name] = {k: mean_std([r[k] for r in recs])
                         for k in ("clean_acc", "corruption_acc", "mce", "relative_mce", "pgd_acc", "epoch_s")}
        summary[name]["seeds"] = [r["seed"] for r in recs]
    done = sorted({s for v in summary.values() for s in v['seeds']})
    rows = [[f"`{m}`", fmt(s["clean_acc"]), fmt(s["corruption_acc"]), fmt(s["mce"], digits=0),
             fmt(s["relative_mce"], digits=0), fmt(s["pgd_acc"]), fmt(s["epoch_s"], scale=1.0, digits=2)]
            for m, s in summary.items()]
    header = ["method", "clean acc %", "digits-C acc %", "mCE vs erm %", "rel. mCE vs erm %",
              f"PGD-L∞ ε={eps} acc %", "s / epoch"]
    note = (f"{len(done)} of {seeds} seed(s) done, {epochs} epochs, model `{model}`; mean ± std over seeds. digits-C: 15 benchmark "
            f"corruptions × 5 severities (corruption seed {corruption_seed}); PGD: {pgd_steps} steps, 1 random start.")
    payload = {"config": {**digits_config("erm", 0, epochs, model).to_dict(), "method": None, "seed": None,
                          "seeds": seeds, "eps": eps, "pgd_steps": pgd_steps}, "results": summary}
    write_table(out, "digits", header, rows, payload, note)
    return payload
