"""Experiments: the 2-D decision-boundary toy, the digits robustness table, backdoor mitigation, text.

Each trains every method through ``nnsafety.train.train`` and writes PNG figures and Markdown +
JSON tables into ``out_dir``; the CLI's ``nnsafety experiment toy2d|digits|mitigation --out DIR`` calls them.
"""
from .digits import DIGITS_METHODS, run_digits
from .mitigation import MITIGATION_METHODS, MITIGATION_RATES, MITIGATION_TRIGGERS, run_mitigation
from .text import TEXT_METHODS, run_text
from .toy2d import TOY_METHODS, run_toy2d

__all__ = ["DIGITS_METHODS", "MITIGATION_METHODS", "MITIGATION_RATES", "MITIGATION_TRIGGERS", "TEXT_METHODS", "TOY_METHODS",
           "run_digits", "run_mitigation", "run_text", "run_toy2d"]
