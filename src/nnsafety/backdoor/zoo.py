"""A model zoo of clean and backdoored models with ground truth, for scoring backdoor detectors.

Model ``i`` is described by ``zoo_spec(i, seed)`` alone (its own ``random.Random``), so growing a zoo
from 100 to 200 models keeps the first 100 identical and any shard can build any model. Even ids
are clean, odd ids backdoored; the architecture alternates in pairs so both classes hold the same
mix of mlp/cnn. Each model is one run directory ``<out>/<id>/`` written by the project's trainer;
the ground truth goes to a manifest (see ``build_zoo``).

Trigger parameters for 8×8 digits (measured, see docs/benchmarks.md, "Backdoor detectors"): SIG is used in
its dirty-label form with Δ ∈ [0.2, 0.3], because clean-label SIG does not implant on 1347 digits
(ASR ≤ 0.11 at 8 % poisoning, Δ = 0.3); WaNet uses s ∈ [3, 4], k ∈ {3, 4} and noise ratio 0.5
(the paper's s = 0.5 gives ASR ≤ 0.5 at 8×8).
"""
from __future__ import annotations

import json
import os
import random
import re
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .. import runs
from .recipes import recipe_spec, recipe_spec32
from .recipes_text import text_recipe_spec

MANIFEST = "manifest.jsonl"
DESIGN = "zoo.json"  # the options that define which model each id is (seed, methods, ...)
FAMILIES = ("badnets", "blended", "sig", "wanet")
# Robust methods used when registered; noise-style ones are the hard negatives of a data-free detector.
ROBUST_METHODS = ("noise", "mixup", "noisymix", "nfm", "cutmix")
EPOCHS = {"mlp": 20, "cnn": 15}
DESIGNS = ("classic", "recipes", "recipes32", "text_recipes")
RECIPE_DESIGNS = {"recipes": recipe_spec, "recipes32": recipe_spec32, "text_recipes": text_recipe_spec}


def _trigger_params(family: str, r: random.Random) -> Tuple[Dict[str, Any], float]:
    """Trigger parameters and poison rate of one backdoored model (ranges that implant on digits)."""
    if family == "badnets":
        pos = r.choice(["bottom_right", "bottom_left", "top_right", "top_left"])
        params = {"size": r.choice([2, 3]), "position": pos, "pattern": r.choice(["checkerboard", "white", "random"]),
                  "pattern_seed": r.randrange(1000)}
        return params, r.uniform(0.01, 0.10)
    if family == "blended":
        return {"alpha": round(r.uniform(0.2, 0.3), 3), "pattern_seed": r.randrange(1000)}, r.uniform(0.05, 0.10)
    if family == "sig":
        return ({"delta": round(r.uniform(0.2, 0.3), 3), "frequency": float(r.choice([2, 3, 6])),
                 "clean_label": False}, r.uniform(0.05, 0.10))
    if family == "wanet":
        return ({"k": r.choice([3, 4]), "s": round(r.uniform(3.0, 4.0), 2), "noise_ratio": 0.5,
                 "field_seed": r.randrange(1000)}, r.uniform(0.06, 0.10))
    raise ValueError(f"unknown trigger family {family!r}; expected one of: {', '.join(FAMILIES)}")


def zoo_spec(i: int, seed: int = 0, methods: Sequence[str] = ("erm",), families: Sequence[str] = FAMILIES,
             num_classes: int = 10) -> Dict[str, Any]:
    """The recipe of zoo model ``i``: architecture, width, method, seed and (odd i) the attack."""
    r = random.Random(seed * 1_000_003 + i)
    arch = ("mlp", "cnn")[(i // 2) % 2]
    model_kwargs = ({"width": r.choice([64, 128, 256]), "depth": r.choice([1, 2])} if arch == "mlp"
                    else {"width": r.choice([8, 16, 32])})
    # Half of each class uses erm, the rest a robust method (when any is available).
    robust = [m for m in methods if m != "erm"]
    if "erm" in methods and (not robust or r.random() < 0.5):
        method = "erm"
    else:
        method = r.choice(robust or list(methods))
    spec: Dict[str, Any] = {"id": f"m{i:04d}", "index": i, "arch": arch, "model_kwargs": model_kwargs,
                            "method": method, "seed": r.randrange(10_000), "epochs": EPOCHS.get(arch, 15),
                            "backdoored": i % 2 == 1, "trigger": None, "trigger_kwargs": None,
                            "target": None, "rate": None}
    if spec["backdoored"]:
        family = families[(i // 4) % len(families)]  # each family on both architectures
        params, rate = _trigger_params(family, r)
        spec.update(trigger=family, trigger_kwargs=params, target=r.randrange(num_classes), rate=round(rate, 4))
    return spec


def _shard_from_env() -> Tuple[int, int]:
    return int(os.environ.get("RANK", "0")), max(int(os.environ.get("WORLD_SIZE", "1")), 1)


class ManifestWarning(UserWarning):
    """A manifest line that is not a usable record (torn, hostile or hand-edited): skipped."""


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_RECORD_TYPES = {"backdoored": bool, "implanted": bool, "arch": str, "seed": int}


def _record_problem(rec: Any, zoo_dir: Path) -> Optional[str]:
    """Why ``rec`` cannot be used as a zoo record (None when it can): it must be a JSON object
    with a plain ``id`` and a ``path`` to a folder inside the zoo (no absolute path, no ``..``)."""
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {json.dumps(rec)[:60]}"
    rid = rec.get("id")
    if not isinstance(rid, str) or not _ID.match(rid):
        return f"expected an 'id' of letters, digits, '_', '.', '-', got {rid!r}"
    path = rec.get("path")
    if not isinstance(path, str) or not path or Path(path).is_absolute() or ".." in Path(path).parts:
        return f"record {rid}: expected 'path' a folder name inside the zoo, got {path!r}"
    root = zoo_dir.resolve()
    target = (zoo_dir / path).resolve()  # also resolves a symlink that leads out of the zoo
    if target != root and root not in target.parents:
        return f"record {rid}: 'path' {path!r} leads outside the zoo"
    for key, kind in _RECORD_TYPES.items():
        if not isinstance(rec.get(key), kind):
            return f"record {rid}: expected {key!r} a {kind.__name__}, got {rec.get(key)!r}"
    return None


def read_records(paths: Sequence[Path], problem: Optional[Callable[[Any], Optional[str]]] = None
                 ) -> List[Dict[str, Any]]:
    """JSON-lines records with an "id" from ``paths`` (missing files skipped), deduplicated by id (the
    last record wins), sorted by id. A line that does not parse (a torn last line of a killed
    writer) is skipped; ``problem(rec)`` names what makes a parsed record unusable (then it is
    skipped too), and each skipped line is one ``ManifestWarning`` naming the file and the line."""
    records: Dict[str, Dict[str, Any]] = {}
    for path in paths:
        if not Path(path).is_file():
            continue
        for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                why = problem(rec) if problem is not None else (
                    None if isinstance(rec, dict) and "id" in rec else "expected a JSON object with an id")
            except json.JSONDecodeError:
                why = "not a JSON line (torn by a killed writer?)"
            if why:
                warnings.warn(f"{Path(path).name} line {lineno}: {why}; skipped", ManifestWarning, stacklevel=2)
                continue
            records[rec["id"]] = rec
    return [records[k] for k in sorted(records)]


def read_manifest(zoo_dir: str | Path) -> List[Dict[str, Any]]:
    """All manifest records of a zoo, merged over ``manifest.jsonl`` and every ``manifest-<i>.jsonl``
    (one per shard), deduplicated by id (the last record wins) and sorted by id.

    A line that is not a usable record (a torn last line, or a hostile one: not an object, no id,
    a path outside the zoo) is skipped with one ``ManifestWarning`` naming the file and line."""
    zoo_dir = Path(zoo_dir)
    return read_records(sorted(zoo_dir.glob("manifest*.jsonl")), lambda rec: _record_problem(rec, zoo_dir))


def _repair_torn_line(manifest: Path) -> None:
    """Cut a last line without its newline (the shard was killed mid-write), so the next record
    appended starts on its own line instead of being glued to the torn one and lost with it."""
    if not manifest.is_file():
        return
    data = manifest.read_bytes()
    if data and not data.endswith(b"\n"):
        runs.write_text_atomic(manifest, data[: data.rfind(b"\n") + 1].decode("utf-8", errors="replace"))


def _check_design(out: Path, design: Dict[str, Any], done: Dict[str, Dict[str, Any]],
                  methods: Sequence[str], families: Sequence[str], num_classes: int) -> None:
    """Refuse to resume a zoo with another design (seed, methods, families, epochs, data): its ids
    would name different models, and "6 models" would be reported while none of them was trained
    as asked. The design is stored in ``zoo.json``; zoos made before it are checked record by record."""
    path = out / DESIGN
    if path.is_file():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ValueError(f"{path} is not valid JSON ({e})") from None
        if isinstance(saved, dict):
            saved.setdefault("design", "classic")  # zoo.json written before recipe zoos existed
        diff = [k for k in design if saved.get(k) != design[k]] if isinstance(saved, dict) else list(design)
        if diff:
            was = ", ".join(f"{k} {saved.get(k) if isinstance(saved, dict) else None!r}" for k in diff)
            now = ", ".join(f"{k} {design[k]!r}" for k in diff)
            raise ValueError(f"zoo {out} was built with {was}; got {now}: use another --out, or the same "
                             "options to resume it")
        return
    keys = ("arch", "model_kwargs", "method", "seed", "trigger", "trigger_kwargs", "target", "rate")
    for rid, rec in done.items():
        if design.get("design", "classic") != "classic":  # recipe zoos predate zoo.json only in development
            break
        index = int(rid[1:]) if rid[:1] == "m" and rid[1:].isdigit() else None
        if index is None:
            spec = None
        elif design["design"] in RECIPE_DESIGNS:
            spec = RECIPE_DESIGNS[design["design"]](index, design["seed"], num_classes)
        else:
            spec = zoo_spec(index, design["seed"], methods, families, num_classes)
        if spec is None or any(rec.get(k) != spec[k] for k in keys):
            raise ValueError(f"zoo {out}: model {rid} was not built with seed {design['seed']} and methods "
                             f"{', '.join(methods)} ({design['design']} design): use another --out, or the "
                             "options it was built with")
    runs.write_json_atomic(path, design)


def merge_manifests(zoo_dir: str | Path) -> Path:
    """Write the merged ``manifest.jsonl`` (atomic), e.g. after all shards finished."""
    recs = read_manifest(zoo_dir)
    path = Path(zoo_dir) / MANIFEST
    runs.write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in recs))
    return path


def build_zoo(
    out_dir: str | Path,
    n: int,
    data: str = "digits",
    seed: int = 0,
    shard: Optional[Tuple[int, int]] = None,
    methods: Optional[Sequence[str]] = None,
    families: Sequence[str] = FAMILIES,
    epochs: Optional[Dict[str, int]] = None,
    data_root: Optional[str] = None,
    progress: bool = True,
    design: str = "classic",
) -> List[Dict[str, Any]]:
    """Train the models of shard ``i`` of ``n_shards`` (ids i, i + n_shards, ...) into ``out_dir``.

    ``shard`` defaults to torchrun's (RANK, WORLD_SIZE), else (0, 1). A single shard appends to
    ``manifest.jsonl``; shard i of several appends to ``manifest-<i>.jsonl`` and readers merge
    (``read_manifest``; ``merge_manifests`` writes the merged file, called by every shard at its end).
    Resumable: a model whose manifest record exists and whose run dir holds ``model.safetensors``
    is skipped. ``methods`` defaults to erm plus the registered ones of ``ROBUST_METHODS``.
    ``design``: "classic" (``zoo_spec``: one recipe, four trigger families) or "recipes"
    (``recipes.recipe_spec``: recipes, trigger families and attackers drawn from ranges; ``methods``,
    ``families`` and ``epochs`` are then part of the design and ignored) or "recipes32"
    (``recipes.recipe_spec32``: the small 3×32×32 zoo on ``digits32``; ``methods``,
    ``families`` and ``epochs`` are then part of the design and ignored).
    Returns this shard's records (skipped ones included).
    """
    from ..data import load_dataset
    from ..train import TrainConfig, list_methods, train
    from .evaluate import backdoor_metrics
    from .evaluate_text import text_run_backdoor_metrics

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"expected n a positive number of models, got {n!r}")
    rank, world = shard if shard is not None else _shard_from_env()
    if not (0 <= rank < world):
        raise ValueError(f"expected shard i/n with 0 <= i < n, got {rank}/{world}")
    if design not in DESIGNS:
        raise ValueError(f"expected design one of {', '.join(DESIGNS)}, got {design!r}")
    if methods is None:
        methods = ["erm"] + [m for m in ROBUST_METHODS if m in list_methods()]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / (MANIFEST if world == 1 else f"manifest-{rank}.jsonl")
    _repair_torn_line(manifest)
    done = {r["id"]: r for r in read_manifest(out)}
    test_set = load_dataset(data, root=data_root, split="test")
    recipes = design in RECIPE_DESIGNS  # methods, families and epochs are then part of the design
    options = {"data": data, "seed": seed, "design": design, "methods": None if recipes else list(methods),
               "families": None if recipes else list(families), "epochs": None if recipes else dict(epochs or EPOCHS)}
    _check_design(out, options, done, methods, families, test_set.num_classes)
    records = []
    ids = list(range(rank, n, world))
    for count, i in enumerate(ids):
        spec = (RECIPE_DESIGNS[design](i, seed, test_set.num_classes) if recipes
                else zoo_spec(i, seed, methods, families, test_set.num_classes))
        run_dir = out / spec["id"]
        if spec["id"] in done and (run_dir / runs.WEIGHTS).is_file():
            records.append(done[spec["id"]])
            continue
        if "train" in spec:
            ep = spec["epochs"]
            config = TrainConfig(data=data, data_root=data_root, eval_every=ep, **spec["train"])
        else:
            ep = (epochs or EPOCHS).get(spec["arch"], 15)
            config = TrainConfig(data=data, data_root=data_root, model=spec["arch"], model_kwargs=spec["model_kwargs"],
                                 method=spec["method"], seed=spec["seed"], epochs=ep, eval_every=ep)
        if spec["backdoored"]:
            config.poison = spec["trigger"]
            config.poison_kwargs = {"rate": spec["rate"], "target": spec["target"], **spec["trigger_kwargs"]}
            if spec.get("mode"):
                config.poison_kwargs["mode"] = spec["mode"]
        t0 = time.perf_counter()
        result = train(config, out=run_dir, overwrite=True, progress=False, distributed=False)  # ranks train different models
        rec = {k: spec[k] for k in ("id", "arch", "model_kwargs", "method", "seed", "backdoored", "trigger",
                                    "trigger_kwargs", "target", "rate", "recipe", "attacker", "family", "mode",
                                    "train") if k in spec}
        rec.update(path=spec["id"], epochs=ep, c_acc=result.final.get("test_acc"), asr=None, r_acc=None,
                   implanted=False, train_seconds=round(time.perf_counter() - t0, 3))
        if spec["backdoored"]:
            poison_cfg = runs.read_config(run_dir)["poison"]
            text = getattr(test_set, "texts", None) is not None  # text: the run's own vocabulary
            m = (text_run_backdoor_metrics(result.model, test_set, poison_cfg, run_dir) if text
                 else backdoor_metrics(result.model, test_set, poison_cfg))
            rec.update(asr=m.attack_success_rate, r_acc=m.robust_accuracy, implanted=m.implanted,
                       c_acc=m.clean_accuracy, n_poisoned=poison_cfg["n_poisoned"])
        with open(manifest, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
        records.append(rec)
        if progress:
            asr = f" asr={rec['asr']:.3f}" if rec["asr"] is not None else ""
            print(f"[zoo {rank}/{world}] {count + 1}/{len(ids)} {spec['id']} {spec['arch']} {spec['method']} "
                  f"{spec['trigger'] or 'clean'} acc={rec['c_acc']:.3f}{asr} {rec['train_seconds']:.1f}s", flush=True)
    if world > 1:
        merge_manifests(out)
    return records


def zoo_labels(records: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The records usable as ground truth: clean models (label 0) and implanted backdoors (label 1);
    backdoored models whose attack failed to implant (ASR < 0.9) are left out."""
    return [dict(r, label=int(r["backdoored"])) for r in records if not r["backdoored"] or r["implanted"]]
