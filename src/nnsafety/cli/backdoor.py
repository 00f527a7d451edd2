"""``nnsafety zoo``, ``nnsafety detect`` and ``eval --poison``: backdoored models and their detection."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._base import UsageError, add_command
from ._parse import check_figure_path, name_list, seed


def _shard(text):
    if text is None:
        return None
    i, sep, n = text.partition("/")
    try:
        shard = (int(i), int(n))
    except ValueError:
        shard = None
    if not sep or shard is None or not 0 <= shard[0] < shard[1]:
        raise UsageError(f"nnsafety zoo: error: expected --shard i/n with 0 <= i < n, got {text!r}")
    return shard


def run_zoo(args: argparse.Namespace) -> int:
    from ..backdoor.zoo import build_zoo

    if args.n < 2:
        raise UsageError(f"nnsafety zoo: error: expected --n >= 2 (half clean, half backdoored), got {args.n}")
    records = build_zoo(Path(args.out), args.n, data=args.data, seed=args.seed, shard=_shard(args.shard),
                        data_root=args.data_root, methods=name_list(args.methods), progress=not args.quiet,
                        design=args.design)
    print(f"zoo: {len(records)} models in {args.out} (manifest.jsonl holds the ground truth)")
    return 0


def run_detect(args: argparse.Namespace) -> int:
    from ..backdoor.detect import detect_run, detect_zoo, detector_names, is_zoo, run_domain
    from ..backdoor.detectors import NotApplicable
    from ..backdoor.evaluate_zoo import compare

    methods = name_list(args.method) or "all"
    if args.compare:
        if len(args.paths) != 2:
            raise UsageError(f"nnsafety detect: error: --compare expects two run directories, got {len(args.paths)}")
        check_figure_path(args.figure)
        settings = {"noise_response": {"meta": _meta_argument(args.meta)}} if args.meta else None
        chosen = {} if methods in ("all", ["all"]) else {"methods": methods}  # default: the weight-only detectors
        result = compare(args.paths[0], args.paths[1], out=args.figure, settings=settings, **chosen)
        if args.json:
            print(json.dumps(result.to_dict(), sort_keys=True))
        else:
            for run, verdicts in result.verdicts.items():
                print(f"{run}:")
                for v in verdicts:
                    print(f"  {v['summary']}")
            print(f"more suspicious: {result.more_suspicious}" + (f"; figure: {result.figure}" if result.figure else ""))
        return 0
    if len(args.paths) != 1:
        raise UsageError("nnsafety detect: error: expected one run directory or zoo (or two with --compare)")
    if args.fit_meta:
        return _fit_meta(args, methods)
    settings = {}
    if args.meta:
        if methods != ["noise_response"]:
            raise UsageError(f"nnsafety detect: error: --meta works with --method noise_response, got {args.method!r}")
        if is_zoo(args.paths[0]):
            raise UsageError("nnsafety detect: error: --meta scores one run directory; a zoo's table fits its own "
                             "held-out meta-classifiers")
        settings["meta"] = _meta_argument(args.meta)
    if is_zoo(args.paths[0]):
        check_zoo_size(args.paths[0])
        table = detect_zoo(args.paths[0], methods)
        print(json.dumps(table.to_dict(), sort_keys=True) if args.json else table.to_markdown())
        return 0
    result = []
    for m in detector_names(methods, run_domain(args.paths[0])):
        try:
            result.append(detect_run(args.paths[0], m, seed=args.seed, **settings))
        except NotApplicable as e:
            if methods not in ("all", ["all"]):
                raise  # a detector the user named: its one-line error
            print(f"{m}: skipped ({e})", file=sys.stderr)
    if args.json:
        print(json.dumps([r.to_dict() for r in result], sort_keys=True))
    else:
        print("\n".join(r.summary() for r in result))
    return 0


def check_zoo_size(path) -> None:
    """A zoo too small to score detectors fails with what it holds and what it needs: the AUCs need
    both kinds of model, and the meta-classifier variants are fit on the models with even training
    seeds and scored on the odd ones (and back), so each parity needs a clean and a backdoored one."""
    import warnings

    from ..backdoor.zoo import read_manifest, zoo_labels

    with warnings.catch_warnings():  # the detection's own read of the manifest warns, once per bad line
        warnings.simplefilter("ignore")
        records = read_manifest(path)
    if not records:
        return  # the detection itself says so, in its own words
    usable = zoo_labels(records)
    if not usable:
        return  # no usable record at all: the detection says so itself
    cells = {(label, parity): 0 for label in (0, 1) for parity in (0, 1)}
    for r in usable:
        cells[(r["label"], r["seed"] % 2)] += 1
    if all(cells.values()):
        return
    clean = cells[(0, 0)] + cells[(0, 1)]
    bad = cells[(1, 0)] + cells[(1, 1)]
    failed = sum(1 for r in records if r.get("backdoored") and not r.get("implanted"))
    raise UsageError(
        f"nnsafety detect: error: zoo {path} is too small to score detectors: {clean} clean and {bad} backdoored "
        f"usable models (even/odd training seed: clean {cells[(0, 0)]}/{cells[(0, 1)]}, backdoored "
        f"{cells[(1, 0)]}/{cells[(1, 1)]}"
        + (f"; {failed} backdoored not counted, attack success < 90%" if failed else "")
        + "); expected at least one clean and one backdoored model with an even seed and one of each with an odd "
        "seed (4 models at the very least, 20+ of each kind for a meaningful AUC): grow it with "
        "`nnsafety zoo --n 40` on the same --out")


def _meta_argument(value: str):
    """--meta: a packaged reference name or a --fit-meta JSON file, or a one-line usage error."""
    from ..backdoor.detectors.meta import load_meta

    try:
        return load_meta(value)
    except ValueError as e:
        raise UsageError(f"nnsafety detect: error: --meta: {e}") from None


def _fit_meta(args: argparse.Namespace, methods) -> int:
    from ..backdoor.detect import is_zoo
    from ..backdoor.evaluate_zoo import fit_reference_meta

    if methods not in (["noise_response"], "all"):
        raise UsageError("nnsafety detect: error: --fit-meta fits the noise_response meta-classifier, "
                         f"got --method {args.method!r}")
    if not is_zoo(args.paths[0]):
        raise UsageError("nnsafety detect: error: --fit-meta expects a zoo folder with manifest.jsonl, "
                         f"got {args.paths[0]!r}")
    if Path(args.fit_meta).exists():
        raise UsageError(f"nnsafety detect: error: --fit-meta {args.fit_meta!r} exists; expected a new file")
    path = fit_reference_meta(args.paths[0], progress=not args.json, seed=args.seed).save(args.fit_meta)
    print(json.dumps({"meta": str(path)}) if args.json else f"noise_response meta-classifier written to {path}")
    return 0


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("backdoors (--poison)")
    g.add_argument("--poison", help="clean accuracy, attack success rate and robust accuracy under this trigger "
                                    "(the run's recorded one when it was trained poisoned)")
    g.add_argument("--target", type=int, help="backdoor target class (default: the recorded one, else 0)")


def eval_poison(args: argparse.Namespace, run) -> int:
    from ..backdoor.evaluate import backdoor_metrics_run

    result = backdoor_metrics_run(run.path, args.poison, args.target)
    out = result.to_dict()
    if args.json:
        print(json.dumps({"run": str(run.path), **out}, sort_keys=True))
    else:
        print(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in out.items()))
    return 0


def register(sub) -> None:
    p = add_command(sub, "zoo", "train a zoo of clean and backdoored models with a ground-truth manifest", run_zoo)
    p.add_argument("--data", default="digits", help="dataset")
    p.add_argument("--data-root", dest="data_root", help="folder with the dataset's files")
    p.add_argument("--n", type=int, default=200, help="number of models (half clean, half backdoored)")
    p.add_argument("--out", required=True, help="zoo folder (resumable: finished models are skipped)")
    p.add_argument("--shard", help="train only shard i of n (i/n), e.g. one per machine")
    p.add_argument("--methods", help="comma-separated training methods to vary over (default: erm + robust ones)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the zoo's design")
    p.add_argument("--design", default="classic", choices=("classic", "recipes", "recipes32", "text_recipes"),
                   help="classic: one training recipe; recipes: optimizers, methods, triggers and attackers drawn "
                        "from ranges (the reference zoo of the scan); recipes32: the small 3×32×32 zoo (--data "
                        "digits32); text_recipes: small text_cnn/bilstm models with text triggers (--data fine_foods)")
    p.add_argument("--quiet", action="store_true", help="no progress output")

    p = add_command(sub, "detect", "is this model backdoored? (a run, a zoo's AUC table, or two runs compared)",
                    run_detect)
    p.add_argument("paths", nargs="+", help="run directory, zoo folder, or two runs with --compare")
    p.add_argument("--method", default="all", help="detector name(s), comma-separated, or all")
    p.add_argument("--compare", action="store_true", help="which of two models is backdoored, with a figure")
    p.add_argument("--figure", help="with --compare: save the side-by-side figure here (PNG)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the detectors' probes")
    p.add_argument("--fit-meta", dest="fit_meta", metavar="OUT.json",
                   help="with a zoo: fit the noise_response meta-classifier on it and save it as JSON")
    p.add_argument("--meta", metavar="NAME|META.json",
                   help="with --method noise_response: score with a reference meta-classifier: a packaged one by "
                        "name (digits: models trained by nnsafety's digits recipe) or a JSON file from --fit-meta")
    p.add_argument("--json", action="store_true", help="print JSON to stdout")
