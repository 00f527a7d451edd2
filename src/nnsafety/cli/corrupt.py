"""``nnsafety corrupt`` (write a dataset-C folder) and ``eval --corruptions`` (accuracy, mCE)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._base import UsageError, add_command
from ._parse import count, int_list, name_list, seed, write_figure


def run_corrupt(args: argparse.Namespace) -> int:
    from ..corruptions import export_corrupted
    from ..data import load_dataset

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise UsageError(f"nnsafety corrupt: error: {out} already exists and is not empty; pass --overwrite")
    dataset = load_dataset(args.data, root=args.data_root, split="test")
    if args.n:
        dataset = dataset.subset(args.n)
    severities = int_list(args.severities, "--severities")
    if _is_text(dataset):  # the text -C export: <corruption>.jsonl
        from ..corruptions import export_text_corrupted

        path = export_text_corrupted(dataset, out, corruptions=name_list(args.corruptions), severities=severities,
                                     seed=args.seed)
        print(f"wrote {path} ({len(dataset)} texts × {len(severities)} severities per corruption)")
        return 0
    path = export_corrupted(dataset, out, corruptions=name_list(args.corruptions), severities=severities,
                            seed=args.seed, progress=not args.quiet)
    print(f"wrote {path} ({len(dataset)} images × {len(severities)} severities per corruption)")
    return 0


def _is_text(dataset) -> bool:
    return getattr(dataset, "texts", None) is not None and getattr(dataset, "vocab", None) is not None


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("corruptions (--corruptions)")
    g.add_argument("--corruptions", nargs="?", const="all", metavar="NAMES",
                   help="accuracy under common corruptions: all, or comma-separated names")
    g.add_argument("--corrupted-root", dest="corrupted_root",
                   help="read corrupted images from this -C folder instead of corrupting on the fly")
    g.add_argument("--baseline", help="run directory of the baseline model for mCE / relative mCE")
    g.add_argument("--severities", default="1,2,3,4,5", help="comma-separated severities")


def eval_corruptions(args: argparse.Namespace, run, dataset) -> int:
    from ..corruptions import evaluate_corruptions, evaluate_corruptions_folder
    from ..runs import load_run

    names = name_list(args.corruptions)
    severities = int_list(args.severities, "--severities")

    def measure(model, baseline=None):
        if _is_text(dataset):  # the 12 text corruptions on the raw reviews, re-encoded
            from ..corruptions import evaluate_text_corruptions

            return evaluate_text_corruptions(model, dataset, corruptions=names, severities=severities, seed=args.seed,
                                             baseline=baseline, progress=False)
        if args.corrupted_root:
            return evaluate_corruptions_folder(model, args.corrupted_root, corruptions=names, severities=severities,
                                               baseline=baseline, clean_dataset=dataset)
        return evaluate_corruptions(model, dataset, corruptions=names, severities=severities, seed=args.seed,
                                    baseline=baseline)

    baseline = measure(load_run(args.baseline).model) if args.baseline else None
    result = measure(run.model, baseline)
    if args.json:
        print(json.dumps({"run": str(run.path), **result.to_dict()}, sort_keys=True))
    else:
        print(result.to_markdown())
    write_figure(result, args.figure)
    return 0


def register(sub) -> None:
    p = add_command(sub, "corrupt", "write the test split corrupted by all 19 corruptions × 5 severities "
                                    "(CIFAR-10-C layout)", run_corrupt)
    p.add_argument("--data", default="digits", help="dataset")
    p.add_argument("--data-root", dest="data_root", help="folder with the dataset's files")
    p.add_argument("--out", required=True, help="folder to write <corruption>.npy, labels.npy, meta.json into")
    p.add_argument("--corruptions", default="all", help="all, or comma-separated names")
    p.add_argument("--severities", default="1,2,3,4,5", help="comma-separated severities")
    p.add_argument("--n", type=count, default=0, help="only the first N test images (0 = all)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the corruptions' randomness")
    p.add_argument("--overwrite", action="store_true", help="write into an existing non-empty folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
