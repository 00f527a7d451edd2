"""Shared CLI plumbing: the one-line error type and the parser classes."""
from __future__ import annotations

import argparse

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we want one line
        raise UsageError(f"{self.prog}: error: {message}")


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def add_command(sub, name: str, help: str, run) -> argparse.ArgumentParser:
    """A sub-command parser whose ``run(args) -> int`` is stored as ``args.func``."""
    p = sub.add_parser(name, help=help, description=help, formatter_class=Formatter)
    p.set_defaults(func=run)
    return p
