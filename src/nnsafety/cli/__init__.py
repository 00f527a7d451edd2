"""``nnsafety <command>``: a thin layer that parses arguments and calls the Python API.

Every user error (unknown name, missing file, bad value) becomes one line on stderr and exit
status 2, with nothing written; a traceback means a bug in nnsafety.
"""
from __future__ import annotations

import sys
from typing import List, Optional

from . import attack, audit, backdoor, corrupt, evaluate, experiment, train
from ._base import EXIT_USAGE, Formatter, Parser, UsageError

COMMAND_MODULES = [train, evaluate, corrupt, attack, experiment, backdoor, audit]


def build_parser() -> Parser:
    parser = Parser(prog="nnsafety", description="Robust training and safety verification of neural networks.",
                    formatter_class=Formatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings the library raises (a skipped manifest record, a failed attack sanity check) are
    shown as one line each on stderr, like the errors, not with the file and source line."""
    print(f"nnsafety: warning: {str(message).splitlines()[0]}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: Optional[List[str]]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        rc = args.func(args)
        _close_process_group(synchronize=True)
        return rc
    except UsageError as e:
        print(str(e).splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError) as e:  # bad input, or a file/folder the user named (missing, read-only, full)
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"nnsafety: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nnsafety: interrupted", file=sys.stderr)
        return 130
    finally:
        _close_process_group(synchronize=False)  # no-op when the success path closed it


def _close_process_group(synchronize: bool) -> None:
    """Leave the torchrun process group a command joined (train, attack, zoo): exiting with gloo's
    threads still alive aborts the process now and then ("terminate called without an active
    exception", ~3 in 80 launches under load), which makes torchrun kill the other ranks.

    On success every rank meets at a barrier first: destroying the group while a peer still talks to
    it aborted that peer the same way (once in CI). After an error there is no barrier (the other
    ranks may never reach it); the group is just destroyed and torchrun stops the rest."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            if synchronize:
                dist.barrier()
        finally:
            dist.destroy_process_group()


__all__ = ["main", "build_parser", "UsageError"]
