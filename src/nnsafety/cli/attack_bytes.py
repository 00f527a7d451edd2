"""``nnsafety attack RUN`` on byte data (executables): the functionality-preserving attacks.

- ``--data pe_files --data-root DIR``: attack every file the model flags; print the evasion rate
  and per-file scores; ``--out DIR2`` also writes the adversarial files (DIR2/<kind>/<name>).
- ``--file X.exe --out Y.exe``: one file. A file that is not a PE, is truncated, is longer than
  the model input or lacks the attack's region is a one-line error (exit 2); nothing is written.
Adversarial files are written to a temporary file and renamed, never over an input file.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from ._base import UsageError


def _params(args: argparse.Namespace) -> dict:
    from ..attacks import list_attacks

    if args.attack not in list_attacks(domain="bytes"):
        raise UsageError(f"nnsafety attack: error: unknown byte attack {args.attack!r}; expected one of: "
                         f"{', '.join(list_attacks(domain='bytes'))}")
    if args.steps is None:
        return {}
    return {"queries": args.steps} if args.attack == "byte_search" else {"steps": args.steps}


def _write(path: Path, data: bytes, inputs) -> None:
    path = Path(path)
    if any(path.resolve() == Path(p).resolve() for p in inputs):
        raise UsageError(f"nnsafety attack: error: expected --out to differ from the input file, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def attack_file(args: argparse.Namespace) -> int:
    """One file → one adversarial file (or a one-line error and nothing written)."""
    from ..attacks import ATTACKS
    from ..attacks.bytes_files import evade_file
    from .._random import make_generator
    from ..runs import load_run

    params = _params(args)
    if not args.out:
        raise UsageError("nnsafety attack: error: --file needs --out (where the adversarial file goes)")
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"nnsafety attack: error: expected --file to be a file, got {path}")
    model = load_run(args.run).model
    data = path.read_bytes()
    adv, row = evade_file(model, data, ATTACKS.get(args.attack)(**params), label=1, name=path.name,
                          generator=make_generator(seed=args.seed), max_len=getattr(model, "max_len", 2 ** 20))
    if not row.valid:
        raise UsageError(f"nnsafety attack: error: {row.note}")
    _write(Path(args.out), adv, [path])
    if args.json:
        print(json.dumps(row.__dict__, sort_keys=True))
    else:
        print(f"{path.name}: score {row.score:.4f} -> {row.adv_score:.4f}, {row.changed} bytes changed "
              f"({'evaded' if row.evaded else 'not evaded'}); wrote {args.out}")
    return 0


def attack_folder(args: argparse.Namespace, run, dataset) -> int:
    """Every flagged file of a byte dataset."""
    from ..attacks import evade_files
    from ..experiments.malware import score_files

    params = _params(args)
    scores = score_files(run.model, dataset.files, max_len=dataset.max_len)
    flagged = [i for i in range(len(dataset)) if float(scores[i]) >= 0.5]
    if args.n:
        flagged = flagged[: args.n]
    names = [f"{dataset.kinds[i]}/{Path(dataset.paths[i]).name}" for i in flagged]
    result, adv = evade_files(run.model, [dataset.files[i] for i in flagged], args.attack, names=names,
                              seed=args.seed, max_len=dataset.max_len, **params)
    if args.out:
        for name, data in zip(names, adv):
            _write(Path(args.out) / name, data, dataset.paths)
    if args.json:
        print(json.dumps({"run": str(run.path), **result.to_dict()}, sort_keys=True))
        return 0
    print("| file | bytes | editable | score | adversarial score | bytes changed | valid PE |\n|---|---:|---:|---:|---:|---:|---|")
    for f in result.files:
        print(f"| {f.name} | {f.size} | {f.editable} | {f.score:.4f} | {f.adv_score:.4f} | {f.changed} | "
              f"{'yes' if f.valid else 'NO'} |" + (f" {f.note}" if f.note else ""))
    print(f"{args.attack}: evasion rate {result.evasion_rate:.3f} on {len(result.files)} flagged files "
          f"of {len(dataset)}")
    return 0
