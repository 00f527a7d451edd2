"""``nnsafety experiment toy2d|digits|mitigation|text|malware|security|feature_backdoor|hallucination``: train every robust method and write tables and figures."""
from __future__ import annotations

import argparse
from pathlib import Path

from ._base import UsageError, add_command
from ._parse import float_list, name_list, positive_int


def run_experiment(args: argparse.Namespace) -> int:
    from ..experiments import run_digits, run_hallucination, run_mitigation, run_text, run_toy2d

    out = Path(args.out)
    if getattr(args, "data_only", False) and args.name != "feature_backdoor":
        raise UsageError("nnsafety experiment: error: --data-only applies to the feature_backdoor experiment only")
    if args.name == "hallucination":
        return _run_hallucination(args, out, run_hallucination)
    if args.name == "malware":
        return _run_malware(args, out)
    if args.name == "security":
        from ..experiments.security import run_security

        run_security(out, data_root=args.data_root, seeds=args.seeds or 3, epochs=args.epochs or 30,
                     methods=name_list(args.methods), progress=not args.quiet)
        print(f"tables written to {out}")
        return 0
    if args.name == "feature_backdoor":
        from ..experiments.feature_backdoor import run_feature_backdoor

        rates = float_list(args.rates, "--rates") if args.rates is not None else None
        if rates is not None and any(not 0 < r < 1 for r in rates):
            raise UsageError(f"nnsafety experiment: error: expected --rates in (0, 1), got {args.rates!r}")
        if args.data_only:
            from ..experiments.feature_backdoor import run_feature_backdoor_data

            run_feature_backdoor_data(out, data_root=args.data_root, seeds=args.seeds or 8, **({"rates": rates} if rates else {}))
        else:
            run_feature_backdoor(out, data_root=args.data_root, seeds=args.seeds or 8, epochs=args.epochs or 20,
                                 **({"rates": rates} if rates else {}), progress=not args.quiet)
        print(f"tables written to {out}")
        return 0
    if args.seeds is None:
        args.seeds = 5 if args.name == "toy2d" else 3
    if args.name != "mitigation" and (args.triggers is not None or args.rates is not None):
        raise UsageError("nnsafety experiment: error: --triggers and --rates apply to the mitigation experiment only")
    # progress None: a bar only on a terminal, so a log (`> log.txt 2>&1`) gets no bar frames
    kwargs = {"seeds": args.seeds, "methods": name_list(args.methods), "progress": False if args.quiet else None}
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    if args.name == "mitigation":
        kwargs["triggers"] = name_list(args.triggers)
        if args.rates is not None:
            rates = float_list(args.rates, "--rates")
            if any(not 0 < r < 1 for r in rates):
                raise UsageError(f"nnsafety experiment: error: expected --rates in (0, 1), got {args.rates!r}")
            kwargs["rates"] = rates
    if args.name == "text" and args.data_root is not None:
        kwargs["data_root"] = args.data_root
    if args.datasets is not None:
        if args.name != "text":
            raise UsageError("nnsafety experiment: error: --datasets applies to the text experiment only")
        kwargs["datasets"] = name_list(args.datasets)
    runner = {"toy2d": run_toy2d, "digits": run_digits, "mitigation": run_mitigation, "text": run_text}[args.name]
    runner(out, **kwargs)
    print(f"tables and figures written to {out}")
    return 0


def _run_malware(args: argparse.Namespace, out: Path) -> int:
    from ..experiments.malware import run_malware

    if not args.run or not args.data_root:
        raise UsageError("nnsafety experiment: error: malware needs --run (e.g. data/malware/malconv) and "
                         "--data-root (a folder with benign/ and malicious/ files)")
    run_malware(out, args.run, args.data_root, attacks=name_list(args.attacks) if args.attacks else None,
                progress=not args.quiet)
    print(f"tables written to {out}")
    return 0


def _run_hallucination(args: argparse.Namespace, out: Path, runner) -> int:
    if args.methods or args.triggers or args.rates:
        raise UsageError("nnsafety experiment: error: --methods, --triggers and --rates do not apply to hallucination")
    if (args.seeds is not None and args.seeds < 1) or (args.epochs is not None and args.epochs < 1):
        raise UsageError("nnsafety experiment: error: expected --seeds and --epochs >= 1")
    kwargs = {"seeds": args.seeds or 3, "progress": not args.quiet}
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    print(runner(out, **kwargs), end="")
    return 0


def register(sub) -> None:
    p = add_command(sub, "experiment", "train every robust-training method on toy2d or digits; write the "
                                       "decision-boundary figure / robustness table / backdoor-mitigation "
                                       "table", run_experiment)
    p.add_argument("name", choices=["toy2d", "digits", "mitigation", "malware", "security", "feature_backdoor", "text",
                                    "hallucination"],
                   help="which experiment")
    p.add_argument("--out", required=True, help="folder for figures (PNG) and tables (Markdown + JSON)")
    p.add_argument("--seeds", type=positive_int, default=None, help="seeds per method (default: 5 for toy2d, 3 otherwise)")
    p.add_argument("--epochs", type=positive_int, help="epochs per run (default: the experiment's own; mitigation: 15)")
    p.add_argument("--methods", help="comma-separated subset of methods (default: all of the experiment's)")
    p.add_argument("--triggers", help="mitigation only: comma-separated triggers (default: badnets,blended,wanet)")
    p.add_argument("--rates", help="mitigation, feature_backdoor: comma-separated poison rates in (0, 1) "
                                   "(default: 0.01,0.05,0.1; feature_backdoor 0.01,0.02,0.05)")
    p.add_argument("--run", help="malware only: the byte model's run directory (e.g. data/malware/malconv)")
    p.add_argument("--data-root", dest="data_root", help="malware: folder with benign/ and malicious/ files; "
                                                          "security, feature_backdoor: folder with spambase/ "
                                                          "and phishing/ "
                                                          "(data/malware); text: the text corpora (data/text)")
    p.add_argument("--datasets", help="text only: comma-separated datasets (default: fine_foods,spam_assassin)")
    p.add_argument("--attacks", help="malware only: comma-separated byte attacks on the flagged files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--data-only", dest="data_only", action="store_true",
                   help="feature_backdoor only: score the data-level detectors on the poisoned training sets, "
                        "training no model")
