"""Mitigation by training method: C-Acc and ASR of backdoored digits models per training method.

Tests the claim that training on virtual data points (mixup and its family) mitigates poisoned
training data. Every (method, trigger, rate, seed) trains the digits ``cnn`` with the trainer's
digits defaults (SGD + Nesterov 0.05, cosine, batch 128, wd 5e-4) on a training set poisoned by
``nnsafety.backdoor.poison_dataset`` (all-to-one, trigger defaults), then measures C-Acc, ASR and
R-Acc with ``nnsafety.backdoor.evaluate.backdoor_metrics`` on the 450 test images.
The target class varies with the seed (target = seed mod K), so the spread over seeds includes the
choice of target. Per-run results are cached in ``mitigation_runs.json``: an interrupted run
continues where it stopped, and the table says how many seeds are done.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..backdoor.evaluate import backdoor_metrics
from ..data.triggers import list_triggers
from ..data import load_dataset
from ..train import TrainConfig, list_methods, train
from ._tables import fmt, mean_std, write_table

MITIGATION_METHODS = ("erm", "mixup", "cutmix", "nfm", "noisymix", "augmix_at")
MITIGATION_TRIGGERS = ("badnets", "blended", "wanet")
MITIGATION_RATES = (0.01, 0.05, 0.10)


def mitigation_config(method: str, trigger: str, rate: float, seed: int, epochs: int, model: str = "cnn",
                      num_classes: int = 10) -> TrainConfig:
    """The training recipe of one cell: digits defaults plus an all-to-one poisoned training set."""
    return TrainConfig(data="digits", model=model, method=method, epochs=epochs, seed=seed, eval_every=epochs,
                       device="cpu", poison=trigger,
                       poison_kwargs={"rate": float(rate), "target": seed % num_classes})


def _check_args(methods: List[str], triggers: List[str], rates: List[float], seeds, epochs) -> None:
    """Fail before anything is trained or written, one line naming what was expected."""
    known_m, known_t = list_methods(), list_triggers()
    bad_m = [m for m in methods if m not in known_m]
    if not methods or bad_m:
        raise ValueError(f"expected methods among {', '.join(known_m)}, got {', '.join(bad_m) or 'none'}")
    bad_t = [t for t in triggers if t not in known_t]
    if not triggers or bad_t:
        raise ValueError(f"expected triggers among {', '.join(known_t)}, got {', '.join(bad_t) or 'none'}")
    bad_r = [r for r in rates if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r < 1]
    if not rates or bad_r:
        raise ValueError(f"expected poison rates in (0, 1), got {bad_r or 'none'}")
    if not isinstance(seeds, int) or not isinstance(epochs, int) or seeds < 1 or epochs < 1:
        raise ValueError(f"expected seeds >= 1 and epochs >= 1, got {seeds} and {epochs}")


def _key(method: str, trigger: str, rate: float, seed: int, epochs: int, model: str) -> str:
    return f"{method}/{trigger}/{rate:g}/{seed}/{epochs}/{model}"


def run_mitigation(out_dir, seeds: int = 3, epochs: int = 15, methods: Optional[Sequence[str]] = None,
                   triggers: Optional[Sequence[str]] = None, rates: Optional[Sequence[float]] = None,
                   model: str = "cnn", progress: bool = False, summarize_only: bool = False) -> dict:
    """Train every (method, trigger, rate) for ``seeds`` seeds; write ``mitigation.md``/``.json``.

    ``rates``: poisoned fraction of the 1347 training images (all-to-one, target = seed mod 10);
    ``epochs`` per run. Seeds run outermost, so a stopped run leaves whole seeds in the table.
    ``summarize_only`` trains nothing: it rewrites the table from the runs cached so far (e.g. while
    another process is still filling the cache). Returns the payload written to ``mitigation.json``.
    """
    names = list(MITIGATION_METHODS if methods is None else methods)
    trigs = list(MITIGATION_TRIGGERS if triggers is None else triggers)
    rts = [float(r) if isinstance(r, (int, float)) and not isinstance(r, bool) else r
           for r in (MITIGATION_RATES if rates is None else rates)]
    _check_args(names, trigs, rts, seeds, epochs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache_path = out / "mitigation_runs.json"
    cache: Dict[str, dict] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    test_set = load_dataset("digits", split="test")
    K = test_set.num_classes
    for seed in range(0 if summarize_only else seeds):
        for trigger in trigs:
            for rate in rts:
                for name in names:
                    key = _key(name, trigger, rate, seed, epochs, model)
                    if key in cache:
                        continue
                    cfg = mitigation_config(name, trigger, rate, seed, epochs, model, K)
                    t0 = time.process_time()
                    res = train(cfg, progress=progress)
                    cpu_s = time.process_time() - t0
                    # The trainer poisons with the trigger's defaults, so this dict rebuilds the same trigger.
                    attack = {"attack": trigger, "target": cfg.poison_kwargs["target"], "mode": "all_to_one",
                              "trigger": {}}
                    m = backdoor_metrics(res.model, test_set, attack)
                    cache[key] = {"method": name, "trigger": trigger, "rate": rate, "seed": seed, "epochs": epochs,
                                  "model": model, "target": m.target, "clean_acc": m.clean_accuracy,
                                  "asr": m.attack_success_rate, "robust_acc": m.robust_accuracy, "cpu_s": cpu_s}
                    cache_path.write_text(json.dumps(cache, indent=1))
        _write_summary(out, cache, names, trigs, rts, seeds, epochs, model)
    return _write_summary(out, cache, names, trigs, rts, seeds, epochs, model)


def _cell(stat: dict, seeds: int) -> str:
    """mean ± std in %; a cell with fewer seeds than asked says how many (one seed: no ± at all)."""
    if stat["n"] == 1:
        return f"{stat['mean'] * 100:.1f} [n=1]"
    return fmt(stat) + (f" [n={stat['n']}]" if 0 < stat["n"] < seeds else "")


def _md_rows(summary: dict, names, trigs, rts, stat: str, seeds: int) -> List[List[str]]:
    return [[f"`{t}`", f"{r * 100:g}"] + [_cell(summary[t][f"{r:g}"][m][stat], seeds) for m in names]
            for t in trigs for r in rts]


def _write_summary(out: Path, cache: dict, names, trigs, rts, seeds, epochs, model) -> dict:
    """Aggregate the cached runs (whatever seeds are done) into mitigation.md / mitigation.json."""
    summary: dict = {}
    for t in trigs:
        for r in rts:
            for m in names:
                recs = [cache[k] for s in range(seeds) if (k := _key(m, t, r, s, epochs, model)) in cache]
                cell = {k: mean_std([x[k] for x in recs]) for k in ("clean_acc", "asr", "robust_acc", "cpu_s")}
                cell["seeds"] = [x["seed"] for x in recs]
                cell["asr_per_seed"] = [x["asr"] for x in recs]
                summary.setdefault(t, {}).setdefault(f"{r:g}", {})[m] = cell
    header = ["trigger", "rate %"] + [f"`{m}`" for m in names]
    c_rows = _md_rows(summary, names, trigs, rts, "clean_acc", seeds)
    c_table = "\n".join(["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(names) + 1)) + "|"]
                        + ["| " + " | ".join(row) + " |" for row in c_rows])
    n_full = sum(all(s in summary[t][f"{r:g}"][m]["seeds"] for t in trigs for r in rts for m in names)
                 for s in range(seeds))
    note = (f"ASR % (above) and C-Acc % (below), mean ± std over seeds; {n_full} of {seeds} seed(s) complete "
            f"([n=k]: cell with k seeds), {epochs} epochs, model `{model}`, digits. All-to-one poisoning of the training "
            f"set with the trigger's defaults, target class = seed mod 10; ASR on the test images not of the "
            f"target class.\n\nC-Acc %:\n\n{c_table}")
    cfg = mitigation_config(names[0], trigs[0], rts[0], 0, epochs, model).to_dict()
    cfg.update({"method": None, "seed": None, "poison": None, "poison_kwargs": {"target": "seed mod 10"}})
    payload = {"config": {**cfg, "seeds": seeds, "methods": names, "triggers": trigs, "rates": rts,
                          "seeds_complete": n_full}, "results": summary}
    write_table(out, "mitigation", header, _md_rows(summary, names, trigs, rts, "asr", seeds), payload, note)
    return payload
