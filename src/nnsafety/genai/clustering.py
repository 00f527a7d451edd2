"""Meaning clusters of sampled answers: which samples say the same thing.

Semantic entropy (Farquhar et al., Nature 2024) measures uncertainty over meanings, not strings:
samples are grouped into equivalence classes first. The paper's clustering walks the samples in
order and puts each into the first cluster whose representative (first member) it is equivalent
to, else opens a new cluster; equivalence there is bidirectional entailment under an NLI model.
For short factual answers a normalised exact match is the paper's own cheaper variant; any
``equivalent(a, b) -> bool`` (an NLI model, an embedding threshold) can be passed instead.
"""
from __future__ import annotations

import re
import string
from typing import Callable, List, Optional, Sequence

Equivalence = Callable[[str, str], bool]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})

# Function words that carry no answer content; used by ``same_content`` only. Kept short on
# purpose: a word that can be an answer (a name, a number, a place) must never be dropped.
STOPWORDS = frozenset(
    "a an the is was are were be been he she it they his her their its i you we of in on at to from "
    "for by with as and or this that there which who answer".split()
)


def normalize_answer(text: str) -> str:
    """SQuAD answer normalisation: lower case, punctuation to spaces, articles dropped, spaces collapsed."""
    if not isinstance(text, str):
        raise ValueError(f"expected an answer string, got {type(text).__name__}")
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT))
    return " ".join(text.split())


def normalized_match(a: str, b: str) -> bool:
    """Equal after ``normalize_answer`` ("Paris." ≡ "the paris")."""
    return normalize_answer(a) == normalize_answer(b)


def same_content(a: str, b: str) -> bool:
    """Bidirectional containment of content words: each answer's content words (normalised, stop
    words dropped) are a subset of the other's, i.e. the sets are equal. A cheap stand-in for
    bidirectional entailment on short answers ("She was a teacher." ≡ "teacher"); two answers with
    no content word at all are equivalent only when they normalise to the same string."""
    wa, wb = _content(a), _content(b)
    if not wa and not wb:
        return normalized_match(a, b)
    return wa == wb


def _content(text: str) -> frozenset:
    return frozenset(w for w in normalize_answer(text).split() if w not in STOPWORDS)


EQUIVALENCES = {"normalized_match": normalized_match, "same_content": same_content}


def get_equivalence(equivalent: Optional[Equivalence | str]) -> Equivalence:
    """A callable from a callable, a built-in name, or None (``normalized_match``)."""
    if equivalent is None:
        return normalized_match
    if isinstance(equivalent, str):
        if equivalent not in EQUIVALENCES:
            raise ValueError(f"unknown equivalence {equivalent!r}; expected one of: {', '.join(sorted(EQUIVALENCES))}")
        return EQUIVALENCES[equivalent]
    if not callable(equivalent):
        raise ValueError(f"expected equivalent to be a callable (a, b) -> bool or a name, got {type(equivalent).__name__}")
    return equivalent


def cluster_ids(answers: Sequence[str], equivalent: Optional[Equivalence | str] = None) -> List[int]:
    """Cluster id of each answer (0, 1, ... in order of first appearance), Farquhar et al.'s
    greedy scheme: an answer joins the first cluster whose first member it is equivalent to."""
    eq = get_equivalence(equivalent)
    reps: List[str] = []
    ids: List[int] = []
    for a in answers:
        for k, rep in enumerate(reps):
            if eq(rep, a):
                ids.append(k)
                break
        else:
            reps.append(a)
            ids.append(len(reps) - 1)
    return ids
