"""``nnsafety audit RUN`` and ``nnsafety compare RUN RUN...``: the safety report of one or more runs."""
from __future__ import annotations

import argparse
from pathlib import Path

from ._base import UsageError, add_command
from ._parse import name_list, seed, unit_float


def _common(p: argparse.ArgumentParser) -> None:
    from ..report.budget import PRESETS

    p.add_argument("--data", help="dataset whose test split is audited (default: the run's dataset)")
    p.add_argument("--data-root", dest="data_root", help="folder with the dataset's files (cifar10, mnist, ...)")
    p.add_argument("--out", required=True, help="report folder (created, or an earlier report replaced as a whole)")
    p.add_argument("--budget", default="quick", choices=list(PRESETS), help="how much work each section does")
    p.add_argument("--eps", type=unit_float, default=0.1, help="L∞ attack budget (pixel units) the verdict is judged at")
    p.add_argument("--skip", help="comma-separated sections to leave out")
    p.add_argument("--only", help="comma-separated sections to run (all others are left out)")
    p.add_argument("--no-clean-samples", dest="clean_samples", action="store_false",
                   help="backdoor scan with the data-free detectors only")
    p.add_argument("--seed", type=seed, default=0, help="seed of every random choice of the audit")
    p.add_argument("--noise-meta", dest="noise_meta", metavar="NAME|META.json",
                   help="backdoor scan: score noise_response with a reference meta-classifier (packaged: digits, "
                        "for models trained by nnsafety's digits recipe; or a JSON from `detect --fit-meta`)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _audit_kwargs(args: argparse.Namespace) -> dict:
    from ..report import select_sections

    skip, only = name_list(args.skip), name_list(args.only)
    select_sections(skip, only)  # unknown section names fail before any work
    budget = args.budget
    if args.noise_meta:
        from ..backdoor.detectors import load_meta
        from ..report import get_budget

        load_meta(args.noise_meta)  # a bad name or file fails before any work (one line, exit 2)
        budget = get_budget(args.budget, noise_meta=args.noise_meta)
    return dict(data=args.data, data_root=args.data_root, budget=budget, eps=args.eps, skip=skip,
                only=only, clean_samples=args.clean_samples, seed=args.seed,
                progress=False if args.quiet else None)


def run_audit(args: argparse.Namespace) -> int:
    from ..report import audit_run

    kwargs = _audit_kwargs(args)
    result = audit_run(args.run, out=args.out, **kwargs)
    print(result.summary())
    errors = [s for s in result.sections if s.status == "error"]
    for s in errors:
        print(f"section {s.name} failed: {s.error}")
    print(f"report: {Path(args.out) / 'report.html'}")
    print(f"safety card: {Path(args.out) / 'safety_card.json'}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from ..report.compare import compare

    if len(args.runs) < 2:
        raise UsageError(f"nnsafety compare: error: expected at least 2 runs or reports, got {len(args.runs)}")
    comp = compare(args.runs, out=args.out, **_audit_kwargs(args))
    print("\n".join(comp.summary))
    print(f"comparison: {Path(args.out) / 'comparison.html'}")
    return 0


def register(sub) -> None:
    from ..report import list_sections

    sections = ", ".join(list_sections())
    p = add_command(sub, "audit", f"audit a run before deployment: report.html + safety_card.json (sections: "
                                  f"{sections})", run_audit)
    p.add_argument("run", help="run directory (config.json + model.safetensors)")
    _common(p)
    p = add_command(sub, "compare", "audit 2+ runs (or reuse their report folders) and write a side-by-side "
                                    "comparison.html", run_compare)
    p.add_argument("runs", nargs="+", help="run directories or audit report folders (with safety_card.json)")
    _common(p)
