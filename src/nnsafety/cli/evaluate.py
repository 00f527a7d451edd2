"""``nnsafety eval``: measure a trained run on a dataset."""
from __future__ import annotations

import argparse
import json

from ._base import UsageError, add_command
from ._parse import check_figure_path, count, positive_int, seed


def load_run_and_data(args: argparse.Namespace, split: str = "test"):
    """The run and the dataset to measure it on (default: the one it was trained on)."""
    from ..data import load_dataset
    from ..runs import load_run

    run = load_run(args.run)
    recorded = run.config.get("data") if isinstance(run.config.get("data"), dict) else {}
    data = args.data or recorded.get("name")
    if not isinstance(data, str):
        raise UsageError(f"nnsafety: error: expected --data: {args.run}/config.json records no dataset")
    root = args.data_root or recorded.get("root")
    dataset = load_dataset(data, root=root, split=split)
    if getattr(dataset, "texts", None) is not None and (run.path / "vocab.json").is_file():
        from ..data import Vocab
        from ..data.poison_text import encode_with

        vocab = Vocab.load(run.path / "vocab.json")  # the tokenizer the model saw (a poisoned run's own)
        dataset = encode_with(dataset, vocab) if vocab != dataset.vocab else dataset
    expected = tuple(run.config["model"]["in_shape"])
    if tuple(dataset.in_shape) != expected:
        raise UsageError(f"nnsafety: error: expected data of shape {expected} for this model, "
                         f"got {data} with {tuple(dataset.in_shape)}")
    return run, data, dataset


def run_eval(args: argparse.Namespace) -> int:
    from ..metrics.accuracy import evaluate
    from . import attack, backdoor, corrupt, metrics

    check_figure_path(args.figure)
    if args.attack:
        attack.check_eval_arguments(args)
    metrics.check_metric_arguments(args)
    # every analysis asked for runs on the one loaded model, in this order
    asked = [(flag, fn) for flag, given, fn in (
        ("--poison", args.poison, lambda: backdoor.eval_poison(args, run)),
        ("--corruptions", args.corruptions is not None, lambda: corrupt.eval_corruptions(args, run, dataset)),
        ("--attack", args.attack, lambda: attack.eval_attack(args, run, dataset)),
        ("--metric", args.metric, lambda: metrics.eval_metric(args, run, dataset))) if given]
    if len(asked) > 1 and args.figure:
        raise UsageError(f"nnsafety eval: error: --figure saves one analysis's figure, got {len(asked)} "
                         f"({', '.join(f for f, _ in asked)}); run them separately to get each figure")
    run, data, dataset = load_run_and_data(args)
    if args.n:
        dataset = dataset.subset(args.n)
    if asked:
        for _, fn in asked:
            fn()
        return 0
    result = evaluate(run.model, dataset, batch_size=args.batch_size)
    out = {"run": str(run.path), "data": data, **result.to_dict()}
    out.pop("reliability")
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        scaled = ("" if result.ece_scaled is None else
                  f" ({result.ece_scaled:.4f} after temperature scaling, T = {result.temperature:.3f})")
        print(f"{run.path} on {data} test ({result.n} images): accuracy {result.accuracy:.4f}, "
              f"loss {result.loss:.4f}, ECE {result.ece:.4f}{scaled}")
    return 0


def add_run_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--data", help="dataset (default: the one the run was trained on)")
    p.add_argument("--data-root", dest="data_root", help="folder with the dataset's files")


def register(sub) -> None:
    from . import attack, backdoor, corrupt, metrics

    p = add_command(sub, "eval", "measure a trained run: clean accuracy, loss and ECE by default; "
                                 "or any of --poison, --corruptions, --attack, --metric (all that are "
                                 "given run in that order on one loaded model; --json: one object each)",
                    run_eval)
    add_run_data_arguments(p)
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, default=1024, help="evaluation batch size")
    p.add_argument("--seed", type=seed, default=0, help="seed of random perturbations")
    p.add_argument("--n", type=count, default=0, help="only the first N test images (0 = all)")
    p.add_argument("--json", action="store_true", help="print JSON to stdout")
    p.add_argument("--figure", help="also save the result's figure to this file (PNG/PDF/SVG)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    corrupt.add_eval_arguments(p)
    attack.add_eval_arguments(p)
    metrics.add_eval_arguments(p)
    backdoor.add_eval_arguments(p)
