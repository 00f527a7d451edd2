"""Mean ± std aggregation and Markdown/JSON writing shared by the experiments."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .._io import write_text_atomic


def mean_std(values: Sequence[Optional[float]]) -> Dict[str, Optional[float]]:
    """Mean and sample std (ddof=1; 0 for one value) of the non-missing values."""
    v = [float(x) for x in values if x is not None and not math.isnan(x)]
    if not v:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "n": len(v)}


def fmt(stat: Dict[str, Optional[float]], scale: float = 100.0, digits: int = 1) -> str:
    if stat["mean"] is None:
        return "–"
    return f"{stat['mean'] * scale:.{digits}f} ± {stat['std'] * scale:.{digits}f}"


def write_table(out_dir: Path, stem: str, header: List[str], rows: List[List[str]], payload: dict,
                note: str = "") -> str:
    """Write ``stem.md`` (a Markdown table, optional note below) and ``stem.json``; return the Markdown."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    md = "\n".join(lines) + ("\n\n" + note if note else "") + "\n"
    write_text_atomic(out_dir / f"{stem}.md", md, shared=True)  # results to share: 0644 under the umask
    write_text_atomic(out_dir / f"{stem}.json", json.dumps(payload, indent=1), shared=True)
    return md
