"""Text corruption accuracy (per corruption × severity, mean, CE/mCE) and the JSONL -C export.

The same seeded streams serve evaluation and export: block b (256 texts) of corruption c uses a
generator seeded with ``stream_seed(seed, c, 0, b)``, the same for every severity, so severity s's
edits are a subset of s + 1's and an exported ``<c>.jsonl`` holds exactly what was evaluated.
Results are ``CorruptionResult``s: CE_c = Σ_s E_{s,c} / Σ_s E^base_{s,c} against a baseline
result, mCE their mean over the evaluated corruptions (Hendrycks & Dietterich, ICLR 2019, Sec. 3;
there is no text benchmark list, so every corruption counts).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .._io import atomic_write, write_json_atomic
from .._model import batched_logits, check_classifier, model_device, model_state
from .._progress import Progress, progress_bar
from .base import CORRUPTIONS, check_severities, stream_seed
from .evaluate import CorruptionResult
from .text import TEXT_CORRUPTIONS, TextCorruptionSpec, corrupt_text

BLOCK = 256


def known_text(names: Optional[Sequence[str]]) -> List[str]:
    """Validate text corruption names (None -> all 12 in ``TEXT_CORRUPTIONS`` order)."""
    names = list(TEXT_CORRUPTIONS) if names is None else ([names] if isinstance(names, str) else list(names))
    for nm in names:
        if not isinstance(CORRUPTIONS.get(nm), TextCorruptionSpec):
            raise ValueError(f"expected text corruptions (some of {', '.join(TEXT_CORRUPTIONS)}), got {nm!r}")
    return names


def _texts(dataset) -> List[str]:
    texts = getattr(dataset, "texts", None)
    if texts is None or getattr(dataset, "vocab", None) is None:
        raise ValueError(f"expected a TokenDataset with raw texts and a vocabulary, got {type(dataset).__name__}")
    return list(texts)


def dataset_synonyms(dataset, k: int = 8, min_cos: float = 0.6) -> Tuple[Optional[Dict[str, List[str]]], str]:
    """(the dataset vocabulary's word-vector synonyms or None without vectors (with a warning), their
    source): MiniLM's neighbours with the extra nlp, else spaCy md, antonyms removed (``data.synonyms``)."""
    from ..data.synonyms import describe_neighbours, resolve_source, synonym_table, vocab_neighbours

    source = resolve_source("auto")
    try:
        ids, _ = vocab_neighbours(dataset.vocab.tokens, k, min_cos, getattr(dataset, "data_root", None), source=source)
    except FileNotFoundError as e:
        warnings.warn(f"synonym_swap skipped: {e}", stacklevel=3)
        return None, "none"
    return synonym_table(dataset.vocab.tokens, ids), describe_neighbours(source, True)


def corrupted_text_blocks(texts: Sequence[str], name: str, severity: int, seed: int,
                          synonyms=None) -> Iterator[Tuple[int, List[str]]]:
    """(start, corrupted texts) per block of 256, from the severity-independent seeded streams."""
    for b, start in enumerate(range(0, len(texts), BLOCK)):
        g = torch.Generator().manual_seed(stream_seed(seed, name, 0, b))
        yield start, corrupt_text(texts[start:start + BLOCK], name, severity, g, synonyms)


def _plan(dataset, corruptions, synonyms) -> Tuple[List[str], Optional[Dict[str, List[str]]], Dict[str, str]]:
    """(corruption names, synonyms, meta recording where synonym_swap's synonyms came from)."""
    names = known_text(corruptions)
    if "synonym_swap" not in names:
        return names, synonyms, {}
    if synonyms is not None:
        return names, synonyms, {"synonyms": "given"}
    synonyms, source = dataset_synonyms(dataset)
    if synonyms is None:
        if corruptions is not None:
            raise ValueError("synonym_swap needs word vectors: run `make data-text` or pass synonyms=")
        names.remove("synonym_swap")
    return names, synonyms, {"synonyms": source}


def evaluate_text_corruptions(model: nn.Module, dataset, corruptions: Optional[Sequence[str]] = None,
                              severities: Sequence[int] = (1, 2, 3, 4, 5), seed: int = 0,
                              batch_size: int = 512, baseline: Optional[CorruptionResult] = None,
                              synonyms: Optional[Dict[str, List[str]]] = None, device=None,
                              progress: Progress = None) -> CorruptionResult:
    """Accuracy of ``model`` on a ``TokenDataset``'s raw texts corrupted, re-encoded with its vocabulary.

    ``synonyms`` default: the vocabulary's neighbours (cosine ≥ 0.6; MiniLM with the extra nlp, else
    spaCy md; antonyms removed), recorded in the result's ``meta``; without vectors and without an
    explicit corruption list, synonym_swap is skipped with a warning.
    """
    texts, sev = _texts(dataset), check_severities(severities)
    names, synonyms, meta = _plan(dataset, corruptions, synonyms)
    ids, y = dataset.tensors()
    check_classifier(model, ids[:8], y[:8], domain=dataset.domain)
    dev = torch.device(device) if device is not None else model_device(model)

    def accuracy(batch: List[str], labels: torch.Tensor) -> int:
        logits = batched_logits(model, dataset.vocab.encode(batch), batch_size, dev)
        return int((logits.argmax(1).cpu() == labels).sum())

    n = len(texts)
    with model_state(model, train=False), progress_bar(len(names) * len(sev), "text corruptions", progress) as bar:
        clean = accuracy(texts, y) / n
        acc: Dict[str, Dict[int, float]] = {}
        for name in names:
            acc[name] = {}
            for s in sev:
                hits = sum(accuracy(block, y[start:start + len(block)])
                           for start, block in corrupted_text_blocks(texts, name, s, seed, synonyms))
                acc[name][s] = hits / n
                bar.update(1)
    return CorruptionResult(clean, acc, n, getattr(dataset, "name", ""), int(seed), baseline, meta)


def export_text_corrupted(dataset, out: str | Path, corruptions: Optional[Sequence[str]] = None,
                          severities: Sequence[int] = (1, 2, 3, 4, 5), seed: int = 0,
                          synonyms: Optional[Dict[str, List[str]]] = None) -> Path:
    """Write a text -C folder: ``<corruption>.jsonl`` (one object per line: index, severity, text,
    label as the class name; severity-major) and ``meta.json``; each file replaced atomically."""
    texts, sev = _texts(dataset), check_severities(severities)
    names, synonyms, meta = _plan(dataset, corruptions, synonyms)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = [dataset.classes[int(i)] for i in dataset.tensors()[1]]
    for name in names:
        def write(tmp: str, name=name) -> None:
            with open(tmp, "w", encoding="utf-8") as f:
                for s in sev:
                    for start, block in corrupted_text_blocks(texts, name, s, seed, synonyms):
                        for i, t in enumerate(block, start):
                            f.write(json.dumps({"index": i, "severity": s, "text": t, "label": labels[i]},
                                               ensure_ascii=False) + "\n")
        atomic_write(out / f"{name}.jsonl", write)
    write_json_atomic(out / "meta.json", {"name": getattr(dataset, "name", ""), "n": len(texts), "seed": int(seed),
                                          "severities": sev, "corruptions": names, "classes": list(dataset.classes),
                                          "format": "nnsafety-text-c", **meta})
    return out
