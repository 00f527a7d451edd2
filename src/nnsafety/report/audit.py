"""The audit pipeline: run the registered sections on a model, build the safety card, write the report.

``audit(model, dataset, out=...)`` works on any ``nn.Module`` mapping x in [0, 1] to logits;
``audit_run(path, ...)`` loads a run directory first (and records its weights' SHA-256). Each
section is optional (``skip`` / ``only``), records its configuration, and is timed; a section that
raises is recorded with its error (a ``warn`` finding, status ``error``) while the others still run.
``out`` is checked and its disk probed before the first section; nothing is written until every
section has finished, and then the whole report folder is built beside ``out`` and swapped in with
one rename (``output.py``), so Ctrl-C or a full disk never leaves a mix of old and new files.
"""
from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .._io import write_bytes_atomic
from .._model import check_classifier, model_state, predict_logits
from .._progress import progress_bar, show_progress
from . import (  # noqa: F401  (register sections)
    sections_backdoor, sections_genai, sections_geometry, sections_malware, sections_performance, sections_text,
    sections_text_pgd,
)
from .base import SECTIONS, AuditContext, Finding, SectionResult
from .budget import Budget, get_budget
from .output import prepare_out, write_folder

ORDER = ["accuracy", "corruptions", "text_corruptions", "attacks", "text_attacks", "text_embedding_pgd", "noise_response",
         "text_noise_response", "hessian", "boundary", "spectral", "backdoor", "text_backdoor"]
REPORT, CARD, FIGURES = "report.html", "safety_card.json", "figures"


def list_sections(domain: Optional[str] = None) -> List[str]:
    """Section names in report order; with ``domain`` ("image", "token", ...), only the sections
    that can audit a model of that input domain."""
    names = SECTIONS.names(domain=domain)
    order = ORDER + sections_genai.ORDER
    return [n for n in order if n in names] + [n for n in names if n not in order]


def select_sections(skip: Optional[Sequence[str]] = None, only: Optional[Sequence[str]] = None,
                    domain: Optional[str] = None) -> List[str]:
    """The sections to run, in report order; unknown names -> ``ValueError`` listing the known ones,
    and a section that cannot audit ``domain`` models named in ``only`` -> ``ValueError``."""
    every = list_sections()
    for what, names in (("--skip", skip), ("--only", only)):
        bad = [n for n in (names or []) if n not in every]
        if bad:
            raise ValueError(f"unknown section(s) {', '.join(bad)} in {what}; expected some of: {', '.join(every)}")
    known = list_sections(domain)
    bad = [n for n in (only or []) if n not in known]
    if bad:
        raise ValueError(f"section(s) {', '.join(bad)} cannot audit {domain} models; expected some of: "
                         f"{', '.join(known)}")
    chosen = [n for n in known if (not only or n in only) and n not in (skip or [])]
    if not chosen:
        raise ValueError("expected at least one section to run, got none after --skip/--only")
    return chosen


@dataclass
class AuditResult:
    """The sections as run, the safety card, and where the report was written (if anywhere)."""

    name: str
    sections: List[SectionResult]
    card: Dict[str, Any]
    out: Optional[Path] = None

    @property
    def verdict(self) -> str:
        return self.card["verdict"]

    @property
    def findings(self) -> List[Dict[str, str]]:
        return self.card["findings"]

    def section(self, name: str) -> SectionResult:
        return next(s for s in self.sections if s.name == name)

    def write(self, out: Union[str, os.PathLike]) -> Path:
        """Write ``figures/*.png``, ``safety_card.json`` and ``report.html`` into ``out`` as one set
        (``output.write_folder``: built beside it, swapped in whole)."""
        import json

        from .html import render_report

        html = render_report(self)  # rendered before anything is written: a template error writes nothing

        def fill(folder: Path) -> None:
            for s in self.sections:
                for f in s.output.figures:
                    write_bytes_atomic(folder / FIGURES / f"{s.name}_{f.name}.png", f.png, shared=True)
            write_bytes_atomic(folder / CARD, (json.dumps(self.card, indent=2, sort_keys=True) + "\n").encode("utf-8"),
                               shared=True)
            write_bytes_atomic(folder / REPORT, html.encode("utf-8"), shared=True)

        self.out = write_folder(out, fill)
        return self.out / REPORT

    def summary(self) -> str:
        """A few lines: verdict, the three numbers that matter, the failing findings."""
        from .card import headline_lines

        return "\n".join(headline_lines(self.card))


def _as_dataset(dataset, classes: Optional[Sequence[str]], data_root: Optional[str]):
    """An ``ArrayDataset`` from a dataset, an (x, y) pair, or a registered name (its test split)."""
    from ..data import as_dataset, load_dataset

    if isinstance(dataset, str):
        return load_dataset(dataset, root=data_root, split="test")
    return as_dataset(dataset, classes, name="user data")


def _checked_meta(noise_meta) -> str:
    """A meta-classifier name or file that loads, so a typo fails before any section runs."""
    from ..backdoor.detectors import load_meta

    if not isinstance(noise_meta, (str, os.PathLike)):
        raise ValueError(f"expected noise_meta as a name or a JSON path, got {type(noise_meta).__name__}")
    load_meta(str(noise_meta))
    return str(noise_meta)


def _bars(show: bool, total: int):
    return progress_bar(total, "audit", show, unit="section", position=0, leave=True)


def audit(
    model: nn.Module,
    dataset,
    *,
    out: Optional[Union[str, os.PathLike]] = None,
    budget: Union[str, Budget] = "quick",
    skip: Optional[Sequence[str]] = None,
    only: Optional[Sequence[str]] = None,
    eps: float = 0.1,
    name: Optional[str] = None,
    classes: Optional[Sequence[str]] = None,
    clean_samples: Union[bool, Tuple[torch.Tensor, torch.Tensor]] = True,
    seed: int = 0,
    progress: Optional[bool] = None,
    data_root: Optional[str] = None,
    identity: Optional[Dict[str, Any]] = None,
    noise_meta: Optional[str] = None,
) -> AuditResult:
    """Audit ``model`` on ``dataset`` (an ``ArrayDataset``, an (x, y) pair in [0, 1], or a dataset
    name whose test split is used) and, with ``out``, write report.html + safety_card.json + figures/.

    ``budget``: "quick" | "standard" | "thorough" or a ``Budget``; ``eps``: the L∞ attack budget in
    pixel units that the robustness verdict is judged at; ``clean_samples``: True takes
    ``budget.n_clean`` audit images for Neural Cleanse's classic mode, False runs only the
    data-free detectors, or pass (x, y). ``progress``: bars on stderr (default: when it is a TTY).
    ``identity`` overrides model-identity fields of the card (``audit_run`` passes the run's).
    ``noise_meta``: score the backdoor scan's noise_response with a reference meta-classifier, as
    the CLI's ``--noise-meta`` (packaged ``"digits"`` for cnns trained by nnsafety's digits recipe,
    or a JSON file written by ``nnsafety detect --fit-meta``); the same as ``Budget(noise_meta=...)``.
    """
    from .card import build_card

    if not isinstance(model, nn.Module):
        raise ValueError(f"expected an nn.Module, got {type(model).__name__}")
    if not (isinstance(eps, (int, float)) and 0 < eps <= 1):
        raise ValueError(f"expected eps in (0, 1] (L∞, pixel units), got {eps!r}")
    b = get_budget(budget) if noise_meta is None else get_budget(budget, noise_meta=_checked_meta(noise_meta))
    ds = _as_dataset(dataset, classes, data_root)
    domain = getattr(ds, "domain", None)
    chosen = select_sections(skip, only, getattr(domain, "name", "image"))
    if out is not None:
        prepare_out(out)  # a wrong, read-only or full --out fails now, not after the sections
    if getattr(domain, "generative", False):  # a language model: no class logits, no classifier check
        ctx = AuditContext(model=model, dataset=ds, classes=list(ds.classes), in_shape=tuple(ds.in_shape),
                           num_classes=len(ds.classes), budget=b, eps=float(eps), seed=int(seed), domain=domain)
    else:
        ctx = _classifier_context(model, ds, classes, b, eps, seed, clean_samples, domain)
    show = show_progress(progress)
    results: List[SectionResult] = []
    t_start, c_start = time.perf_counter(), time.process_time()
    with model_state(model, train=False), _bars(show, len(chosen)) as overall:
        for sname in chosen:
            results.append(_run_section(sname, ctx, show, overall))
    result = AuditResult(name=name or (identity or {}).get("name") or type(model).__name__, sections=results, card={})
    result.card = build_card(result, model, ds, ctx, identity or {}, seconds=time.perf_counter() - t_start,
                             cpu_seconds=time.process_time() - c_start,
                             skipped=[n for n in list_sections(ctx.domain.name if ctx.domain is not None else None)
                                      if n not in chosen])
    if out is not None:
        result.write(out)
    return result


def _classifier_context(model: nn.Module, ds, classes, b: Budget, eps: float, seed: int, clean_samples,
                        domain) -> AuditContext:
    """The context of a classifier's audit: the entry check, then one prediction pass over the data."""
    x_all, y_all = ds.tensors()
    class_names = [str(c) for c in (classes or ds.classes)]
    check_classifier(model, x_all, y_all, domain)
    logits = predict_logits(model, x_all)  # eval mode: a train-mode forward would move BatchNorm buffers
    num_classes = int(logits.shape[1]) if len(ds) else len(class_names)
    if len(class_names) < num_classes:
        class_names += [str(i) for i in range(len(class_names), num_classes)]
    if clean_samples is True:
        clean = (x_all[:b.n_clean], y_all[:b.n_clean])
    elif clean_samples is False or clean_samples is None:
        clean = None
    else:
        clean = tuple(clean_samples)
    return AuditContext(model=model, dataset=ds, classes=class_names, in_shape=tuple(ds.in_shape),
                        num_classes=num_classes, budget=b, eps=float(eps), seed=int(seed), clean=clean, domain=domain,
                        logits=logits)


def _run_section(sname: str, ctx: AuditContext, show: bool, overall) -> SectionResult:
    """Run one section under its own progress bar; an exception becomes the section's error."""
    sec = SECTIONS.get(sname)
    overall.set_postfix_str(sname)
    res = SectionResult(sname, sec.title, "ok", sec.explanation, config={})
    t0, c0 = time.perf_counter(), time.process_time()
    with progress_bar(sec.steps(ctx.budget), f"  {sname}", show, position=1) as bar:
        ctx.bar = bar
        try:
            res.output = sec.run(ctx)
            res.config = res.output.config
        except Exception as e:  # recorded, and the remaining sections still run
            res.status = "error"
            res.error = f"{type(e).__name__}: {e}".strip()
            res.config = {"traceback": traceback.format_exc(limit=-3).strip().splitlines()[-6:]}
            res.output.findings = [Finding(sname, "section_error", "warn", f"{sec.title}: not measured",
                                           f"the section failed ({res.error.splitlines()[0][:300]}); the audit is "
                                           "incomplete")]
    res.seconds = round(time.perf_counter() - t0, 3)
    res.cpu_seconds = round(time.process_time() - c0, 3)
    overall.update(1)
    return res


@dataclass
class PreparedRun:
    """A run directory loaded and checked for an audit: its model, the audit data and its identity."""

    model: nn.Module
    dataset: Any
    identity: Dict[str, Any]


def prepare_run(path: Union[str, os.PathLike], data: Optional[str] = None, *, data_root: Optional[str] = None,
                name: Optional[str] = None) -> PreparedRun:
    """Load a run and its audit data (default: the run's dataset, test split), checking that the data
    has the input shape the model was trained on; ``compare`` calls it on every run before any audit."""
    from ..data import load_dataset
    from ..runs import WEIGHTS, load_run, sha256_file

    run = load_run(path)
    cfg = run.config
    data_cfg = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    data = data or data_cfg.get("name")
    if not isinstance(data, str):
        raise ValueError(f"expected --data: {path} records no dataset")
    if data_cfg.get("name") == data and data_cfg.get("root") and data_root is None:
        data_root = data_cfg.get("root")
    spec = cfg["model"]  # checked by load_run
    if isinstance(cfg.get("method"), dict) and cfg["method"].get("name") == "lm":  # a language model's audit data
        from ..genai.audit_data import generation_data

        dataset = generation_data(data, block_size=int(spec["in_shape"][0]), classes=data_cfg.get("classes"))
    else:
        dataset = load_dataset(data, root=data_root, split="test")
    if getattr(dataset, "texts", None) is not None and (Path(path) / "vocab.json").is_file():
        from ..data import Vocab
        from ..data.poison_text import encode_with

        vocab = Vocab.load(Path(path) / "vocab.json")  # the tokenizer the model saw (a poisoned run's own)
        dataset = encode_with(dataset, vocab) if vocab != dataset.vocab else dataset
    if tuple(dataset.in_shape) != tuple(spec["in_shape"]):
        raise ValueError(f"expected data of shape {tuple(spec['in_shape'])} for the model of {path}, "
                         f"got {data} with {tuple(dataset.in_shape)}")
    train = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
    method = cfg.get("method") if isinstance(cfg.get("method"), dict) else {}
    identity = {
        "name": name or run.name,
        "architecture": spec.get("name") or spec.get("class") or type(run.model).__name__,
        "architecture_kwargs": spec.get("kwargs", {}),
        "source": str(Path(path)),
        "weights_sha256": sha256_file(Path(path) / WEIGHTS),
        "weights_sha256_of": WEIGHTS,
        "training": {"method": method.get("name"), "epochs": train.get("epochs"),
                     "dataset": data_cfg.get("name"), "seed": cfg.get("seed")},
    }
    return PreparedRun(run.model, dataset, identity)


def audit_run(
    path: Union[str, os.PathLike, PreparedRun], data: Optional[str] = None, *, data_root: Optional[str] = None,
    out: Optional[Union[str, os.PathLike]] = None, name: Optional[str] = None, **kwargs: Any,
) -> AuditResult:
    """Load a run directory and audit it on ``data`` (default: the run's dataset, test split);
    ``path`` may also be a ``prepare_run`` result."""
    prepared = path if isinstance(path, PreparedRun) else prepare_run(path, data, data_root=data_root, name=name)
    return audit(prepared.model, prepared.dataset, out=out, name=prepared.identity["name"],
                 identity=prepared.identity, **kwargs)
