"""Experiments of the robust-training issue: the 2-D decision-boundary toy and the digits table.

Each trains every method through ``nnsafety.train.train`` and writes PNG figures and Markdown +
JSON tables into ``out_dir``; the CLI's ``nnsafety experiment toy2d|digits --out DIR`` calls them.
"""
from .digits import DIGITS_METHODS, run_digits
from .toy2d import TOY_METHODS, run_toy2d

__all__ = ["DIGITS_METHODS", "TOY_METHODS", "run_digits", "run_toy2d"]
