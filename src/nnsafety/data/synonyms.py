"""Word-vector neighbours of a vocabulary: the synonym candidates of TextFooler and synonym swap.

Jin et al. (AAAI 2020, TextFooler) take a word's N nearest neighbours by cosine similarity of
counter-fitted word vectors, kept when the similarity is at least δ (0.5 in the paper). Here the
vectors are the pretrained ones a vocabulary already uses (spaCy's md vectors after ``make
data-text``, see ``word_vectors``), MiniLM's input embeddings (the extra nlp), MiniLM's embeddings
counter-fitted to WordNet's synonyms (in their first senses) and antonyms (``"counterfit_minilm"``,
``counterfit``) or any V×E table, e.g. a model's own embedding. The first two are not
counter-fitted, so antonyms are near
("good"/"bad" at 0.53 in MiniLM's), and the spaCy md table even gives them one shared vector (a
pruned cluster).

``vocab_neighbours`` therefore guards by default (``guard=True``, ``wordnet.Lexicon``). MiniLM's
neighbours lose those that WordNet marks as the word's antonym (direct, through adjective clusters
and inflections) and any with the word's own vector. spaCy's md neighbours are mostly unrelated
words even after that (its clusters' neighbours), so from spaCy only the neighbours that WordNet
lists as synonyms (a shared synset, any sense) or inflections of the word are kept. The
counter-fitted table gets the MiniLM guard on top (counter-fitting repels the WordNet antonyms to
cosine ≤ 0 but stops after 20 steps). The default source ``"auto"`` is the counter-fitted MiniLM
table when the extra nlp and WordNet are installed, else MiniLM's input embeddings with the extra
nlp, else spaCy md (``resolve_source``); results record which (``describe_neighbours``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .vocab import PAD_ID, UNK_ID


def word_neighbours(vectors: torch.Tensor, k: int = 8, min_cos: float = 0.5,
                    valid: Optional[torch.Tensor] = None, block: int = 4096) -> Tuple[torch.Tensor, torch.Tensor]:
    """(ids V×k int64, cosines V×k) of each row's k most cosine-similar other rows.

    Rows not in ``valid`` (default: non-zero rows, minus ids 0 and 1 = ``[PAD]``/``[UNK]``) neither
    have nor are neighbours; a slot below ``min_cos`` holds id −1 (and its cosine). Computed in
    blocks of ``block`` rows, so a 20k-word vocabulary needs no V×V matrix.
    """
    if vectors.dim() != 2 or not vectors.is_floating_point():
        raise ValueError(f"expected word vectors V×E float, got {vectors.dtype} of shape {tuple(vectors.shape)}")
    if not (isinstance(k, int) and k >= 1) or not -1 <= min_cos <= 1:
        raise ValueError(f"expected k a positive int and min_cos in [-1, 1], got {k!r} and {min_cos!r}")
    v = vectors.float()
    norm = v.norm(dim=1)
    if valid is None:
        ok = norm > 0
        ok[[i for i in (PAD_ID, UNK_ID) if i < len(ok)]] = False
    else:
        ok = valid.bool() & (norm > 0)
    unit = v / norm.clamp_min(1e-12)[:, None]
    k_eff = min(k, max(1, v.shape[0] - 1))
    ids = torch.full((v.shape[0], k), -1, dtype=torch.int64)
    cos = torch.full((v.shape[0], k), -1.0)
    for start in range(0, v.shape[0], block):
        sim = unit[start:start + block] @ unit.T
        sim[:, ~ok] = -2.0
        rows = torch.arange(start, min(start + block, v.shape[0]))
        sim[rows - start, rows] = -2.0  # a word is not its own neighbour
        c, i = sim.topk(k_eff, dim=1)
        i = torch.where((c >= min_cos) & ok[rows, None], i, torch.full_like(i, -1))
        ids[rows, :k_eff], cos[rows, :k_eff] = i, c
    return ids, cos


SOURCES = ("auto", "counterfit_minilm", "minilm", "spacy_md")
_SAME_VECTOR = 1 - 1e-6  # cosine above this: the identical (clustered) vector, not a neighbour


def wordnet_folder(root: Optional[str] = None) -> Path:
    """``root``/wordnet when it exists, else the default text root's (``make data-text``)."""
    from .files_text import text_root
    from .wordnet import WORDNET_DIR

    folder = Path(root) / WORDNET_DIR if root is not None else None
    return folder if folder is not None and folder.is_dir() else text_root(None) / WORDNET_DIR


def resolve_source(source: str = "auto", root: Optional[str] = None) -> str:
    """"counterfit_minilm", "minilm" or "spacy_md": ``auto`` is the counter-fitted MiniLM table when
    MiniLM's package (the extra nlp) and WordNet's data and index files (``make data-text``) are
    there, MiniLM's own embeddings with the package alone, else spaCy md."""
    if source not in SOURCES:
        raise ValueError(f"expected neighbour source one of {', '.join(SOURCES)}, got {source!r}")
    if source != "auto":
        return source
    try:
        from .text_wordpiece import minilm_package_dir

        minilm_package_dir()
    except ValueError:
        return "spacy_md"
    from .wordnet import POS

    folder = wordnet_folder(root)
    # counter-fitting needs the synsets (data.*) and their sense order (index.*, ``counterfit.FIRST_SENSES``)
    return "counterfit_minilm" if all((folder / f"{kind}.{p}").is_file() for p in POS for kind in ("data", "index")) \
        else "minilm"


def describe_neighbours(source: str, guard: bool) -> str:
    """What a result records about its candidates, e.g. "counterfit_minilm, antonym guard"."""
    if not guard:
        return f"{source}, unguarded"
    return "spacy_md, WordNet synonyms only" if source == "spacy_md" else f"{source}, antonym guard"


def guard_neighbours(tokens: Sequence[str], ids: torch.Tensor, cos: torch.Tensor, k: int, lexicon,
                     synonyms_only: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """The first ``k`` slots per row of (ids, cos) that are neither the word's own vector (cosine
    1: a shared cluster row) nor its antonym (``lexicon.are_antonyms``), or with ``synonyms_only``
    that are its WordNet synonyms or inflections (``lexicon.are_synonyms``, any cosine ≥ the
    floor; never antonyms); rows stay closest first."""
    out_ids = torch.full((ids.shape[0], k), -1, dtype=torch.int64)
    out_cos = torch.full((ids.shape[0], k), -1.0)
    for i, (row, crow) in enumerate(zip(ids.tolist(), cos.tolist())):
        keep: List[Tuple[int, float]] = []
        for j, c in zip(row, crow):
            if len(keep) == k:
                break
            if j < 0 or lexicon.are_antonyms(tokens[i], tokens[j]):
                continue
            if lexicon.are_synonyms(tokens[i], tokens[j]) if synonyms_only else c <= _SAME_VECTOR:
                keep.append((j, c))
        if keep:
            out_ids[i, :len(keep)] = torch.tensor([j for j, _ in keep])
            out_cos[i, :len(keep)] = torch.tensor([c for _, c in keep])
    return out_ids, out_cos


def source_vectors(tokens: Sequence[str], source: str = "auto", root: Optional[str] = None
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(vectors V×E, found V bool) of ``tokens`` under a neighbour source (``SOURCES``); [PAD] and
    [UNK] are never found. "counterfit_minilm" fits MiniLM's rows (``counterfit.counterfit_vectors``:
    cached, a few seconds the first time)."""
    from .word_vectors import load_vectors

    source = resolve_source(source, root)
    fit = source == "counterfit_minilm"
    table, found = load_vectors("minilm" if fit else source, tokens, root)
    found[[i for i in (PAD_ID, UNK_ID) if i < len(found)]] = False
    if fit:
        from .counterfit import counterfit_vectors
        from .wordnet import load_lexicon

        table = counterfit_vectors(tokens, table, found, load_lexicon(str(wordnet_folder(root))))
    return table, found


def vocab_neighbours(tokens: Sequence[str], k: int = 8, min_cos: float = 0.5,
                     root: Optional[str] = None, source: str = "auto",
                     guard: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """``word_neighbours`` of a vocabulary's tokens under the word vectors ``source``: "spacy_md"
    (``make data-text``; raises FileNotFoundError naming the make target when absent), "minilm"
    (MiniLM's input embeddings, the extra nlp; ValueError without it), "counterfit_minilm" (those
    counter-fitted to WordNet, ``counterfit.counterfit_vectors``, cached; needs both) or "auto"
    (``resolve_source``). Words without a vector have none. ``guard`` (module doc; needs
    ``data/text/wordnet`` from ``make data-text``) filters the 4k + 256 nearest, MiniLM's (fitted
    or not) against WordNet antonyms and identical vectors, spaCy's to WordNet synonyms and
    inflections, and keeps the k closest that remain."""
    from .wordnet import load_lexicon

    source = resolve_source(source, root)
    table, found = source_vectors(tokens, source, root)
    if not guard:
        return word_neighbours(table, k, min_cos, valid=found)
    lexicon = load_lexicon(str(wordnet_folder(root)))
    # the guard keeps the k first survivors of the 4k + 256 nearest: spaCy's clusters put up to
    # hundreds of words at cosine 1 ahead of any real neighbour
    ids, cos = word_neighbours(table, max(1, min(len(tokens) - 1, 4 * k + 256)), min_cos, valid=found)
    return guard_neighbours(tokens, ids, cos, k, lexicon, synonyms_only=source == "spacy_md")


def synonym_table(tokens: Sequence[str], ids: torch.Tensor) -> Dict[str, List[str]]:
    """{word: [neighbour words]} from a neighbour id table (−1 slots dropped; words without any omitted)."""
    out: Dict[str, List[str]] = {}
    for w, row in zip(tokens, ids.tolist()):
        near = [tokens[j] for j in row if j >= 0]
        if near:
            out[w] = near
    return out
