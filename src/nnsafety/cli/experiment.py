"""``nnsafety experiment toy2d|digits``: train every robust method and write tables and figures."""
from __future__ import annotations

import argparse
from pathlib import Path

from ._base import UsageError, add_command
from ._parse import name_list


def run_experiment(args: argparse.Namespace) -> int:
    from ..experiments import run_digits, run_toy2d

    out = Path(args.out)
    if args.seeds is None:
        args.seeds = 5 if args.name == "toy2d" else 3
    if args.seeds < 1 or (args.epochs is not None and args.epochs < 1):
        raise UsageError("nnsafety experiment: error: expected --seeds and --epochs >= 1")
    kwargs = {"seeds": args.seeds, "methods": name_list(args.methods), "progress": not args.quiet}
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    runner = run_toy2d if args.name == "toy2d" else run_digits
    runner(out, **kwargs)
    print(f"tables and figures written to {out}")
    return 0


def register(sub) -> None:
    p = add_command(sub, "experiment", "train every robust-training method on toy2d or digits; write the "
                                       "decision-boundary figure / robustness table", run_experiment)
    p.add_argument("name", choices=["toy2d", "digits"], help="which experiment")
    p.add_argument("--out", required=True, help="folder for figures (PNG) and tables (Markdown + JSON)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per method (default: 5 for toy2d, 3 for digits)")
    p.add_argument("--epochs", type=int, help="epochs per run (default: the experiment's own)")
    p.add_argument("--methods", help="comma-separated subset of methods (default: all of the experiment's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
