"""Several audited models side by side: tables with the best value per row marked, overlaid curves.

Works from safety cards alone (every curve a comparison overlays is stored in the card), so a
comparison can be rebuilt from report folders without re-running anything. ``compare`` accepts
``AuditResult`` objects, card dicts, report folders (with ``safety_card.json``) or run directories
(audited first, into ``out/<name>/``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union
from urllib.parse import quote

from .base import Figure, Table, new_figure, render, sparse_ticks

# (label, getter, better: "max" | "min" | None, format)
_pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
_num = lambda v: "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))  # noqa: E731


def _m(section: str, key: str) -> Callable[[Dict], Any]:
    return lambda c: (c.get("metrics", {}).get(section) or {}).get(key)


# (label, getter, better, format, the finding that judges the value: a cell whose finding warns or
# fails never gets the ★, however it ranks)
ROWS = [
    ("clean accuracy", lambda c: c["headline"]["clean_accuracy"], "max", _pct, "accuracy_near_chance"),
    ("ECE (calibration error)", lambda c: c["headline"].get("ece"), "min", _num, "calibration"),
    ("robust accuracy at ε (strongest attack)", lambda c: c["headline"]["robust_accuracy"], "max", _pct,
     "adversarial_robustness"),
    ("PGD robust accuracy at ε", _m("attacks", "pgd_robust_accuracy"), "max", _pct, "adversarial_robustness"),
    ("AutoAttack robust accuracy at ε", _m("attacks", "autoattack_robust_accuracy"), "max", _pct,
     "adversarial_robustness"),
    ("mean corruption accuracy", lambda c: c["headline"]["mean_corruption_accuracy"], "max", _pct,
     "corruption_robustness"),
    ("corruption / clean accuracy", _m("corruptions", "relative_corruption_accuracy"), "max", _pct,
     "corruption_robustness"),
    ("Gaussian noise: accuracy halves at σ", _m("noise_response", "half_accuracy_level"), "max", _num,
     "noise_robustness"),
    ("noise accuracy AUC", _m("noise_response", "accuracy_auc"), "max", _num, "noise_robustness"),
    ("Hessian λ_max", _m("hessian", "lambda_max"), "min", _num, "curvature"),
    ("Hessian trace", _m("hessian", "trace"), "min", _num, "curvature"),
    ("median margin, gradient direction (L2)", _m("boundary", "median_margin_gradient"), "max", _num, "margin"),
    ("median margin, random directions (L2)", _m("boundary", "median_margin_random"), "max", _num, "margin"),
    ("mean layer α", _m("spectral", "mean_alpha"), None, _num, None),
    ("backdoor detectors flagging", _m("backdoor", "flagged"), "min", _num, "backdoor"),
    # text models (sections_text.py); a row whose values are all missing is left out
    ("text corruption / clean accuracy", _m("text_corruptions", "relative_corruption_accuracy"), "max", _pct,
     "corruption_robustness"),
    ("texts moved by the inverted trigger", _m("text_backdoor", "score"), "min", _pct, "backdoor"),
    ("audit time (s)", lambda c: c["audit"]["seconds"], None, lambda v: f"{v:.1f}", None),
]


def _judged_ok(card: Dict[str, Any], finding_id: Optional[str]) -> bool:
    """Whether the finding that judges a value passes (or only informs) for this model."""
    sev = [f["severity"] for f in card["findings"] if f["id"] == finding_id]
    return not sev or all(s in ("pass", "info") for s in sev)
CURVES = [("robust_accuracy", "Robust accuracy vs ε (PGD)"), ("severity", "Mean corruption accuracy vs severity"),
          ("accuracy_gaussian", "Accuracy under Gaussian noise"), ("reliability", "Reliability (accuracy per "
          "confidence bin)"), ("landscape_1d", "Loss along one landscape direction")]


def best_indices(values: Sequence[Optional[float]], better: Optional[str]) -> List[int]:
    """Indices of the best non-null values (all ties), empty when there is no ordering or < 2 values."""
    present = [(i, v) for i, v in enumerate(values) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if better is None or len(present) < 2:
        return []
    target = (max if better == "max" else min)(v for _, v in present)
    return [i for i, v in present if v == target]


@dataclass
class Comparison:
    """Names, cards, the side-by-side tables, overlaid figures and a few summary lines."""

    names: List[str]
    cards: List[Dict[str, Any]]
    tables: List[Table]
    figures: List[Figure]
    summary: List[str]
    links: List[Optional[str]] = field(default_factory=list)
    out: Optional[Path] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"names": self.names, "summary": self.summary,
                "tables": [t.to_dict() for t in self.tables]}

    def write(self, out: Union[str, os.PathLike]) -> Path:
        """``comparison.html`` + ``comparison.json`` + figures/ in ``out`` (atomic writes)."""
        from .._io import write_bytes_atomic
        from .audit import FIGURES
        from .html import render_compare

        out = Path(out)
        html = render_compare({"names": self.names, "cards": self.cards, "tables": self.tables,
                               "figures": self.figures, "summary": self.summary,
                               "links": self.links or [None] * len(self.names)})
        for f in self.figures:
            write_bytes_atomic(out / FIGURES / f"compare_{f.name}.png", f.png, shared=True)
        write_bytes_atomic(out / "comparison.json", (json.dumps(self.to_dict(), indent=2) + "\n").encode(), shared=True)
        write_bytes_atomic(out / "comparison.html", html.encode("utf-8"), shared=True)
        self.out = out
        return out / "comparison.html"


def summary_lines(names: Sequence[str], cards: Sequence[Dict[str, Any]]) -> List[str]:
    """Which model is most robust (adversarially, to corruptions) and which ones the backdoor scan flags."""
    lines = []
    for label, key in (("adversarial attacks", "robust_accuracy"), ("corruptions", "mean_corruption_accuracy")):
        vals = [c["headline"][key] for c in cards]
        idx = best_indices(vals, "max") or ([0] if vals[0] is not None and len(vals) == 1 else [])
        if idx:
            eps = f" at L∞ ε={cards[idx[0]]['headline']['eps']:g}" if key == "robust_accuracy" else ""
            lines.append(f"most robust to {label}: {' and '.join(names[i] for i in idx)} "
                         f"({_pct(vals[idx[0]])}{eps})")
    flagged = [(n, c["headline"]) for n, c in zip(names, cards) if c["headline"].get("backdoor_verdict") == "fail"]
    suspicious = [n for n, c in zip(names, cards) if c["headline"].get("backdoor_verdict") == "warn"]
    if flagged:
        lines.append("flagged as backdoored: " + ", ".join(
            f"{n} (suspected target class {h['suspected_target']})" for n, h in flagged))
    elif any(c["headline"].get("backdoor_verdict") for c in cards):
        lines.append("flagged as backdoored: none")
    if suspicious:
        lines.append("weak backdoor signal (warn, not flagged): " + ", ".join(suspicious))
    lines.append("verdicts: " + ", ".join(f"{n} {c['verdict']}" for n, c in zip(names, cards)))
    return lines


def compare_cards(cards: Sequence[Dict[str, Any]], names: Optional[Sequence[str]] = None) -> Comparison:
    """Side-by-side tables (best value per row marked) and overlaid curves of 2+ safety cards."""
    if len(cards) < 2:
        raise ValueError(f"expected at least 2 models to compare, got {len(cards)}")
    names = list(names) if names is not None else [c["model"]["name"] for c in cards]
    if len(set(names)) < len(names):  # same run name in two folders: keep the columns apart
        names = [f"{n} ({i + 1})" for i, n in enumerate(names)]
    rows, best = [], []
    for label, get, better, fmt, judged_by in ROWS:
        vals = [get(c) for c in cards]
        if all(v is None for v in vals):
            continue
        rows.append([label] + [fmt(v) if v is not None else "-" for v in vals])
        best.append([i + 1 for i in best_indices(vals, better) if _judged_ok(cards[i], judged_by)])
    tables = [Table("Headline numbers (★ best per row among the values whose finding passes)", ["metric"] + names,
                    rows, best)]
    keys = []
    for c in cards:
        for f in c["findings"]:
            if (f["section"], f["title"]) not in keys:
                keys.append((f["section"], f["title"]))
    order = {"pass": 0, "warn": 1, "fail": 2}  # info rows get no ★: they judge nothing
    frows, fbest = [], []
    for sec, title in keys:
        sev = [next((f["severity"] for f in c["findings"] if (f["section"], f["title"]) == (sec, title)), None)
               for c in cards]
        frows.append([f"{sec}: {title}"] + [s or "-" for s in sev])
        fbest.append([i + 1 for i in best_indices([order.get(s) if s else None for s in sev], "min")
                      if sev[i] == "pass"])
    tables.append(Table("Findings (★ best per row)", ["finding"] + names, frows, fbest))
    tables.append(Table("Model identity", ["field"] + names, [
        ["architecture"] + [c["model"]["architecture"] for c in cards],
        ["parameters"] + [f"{c['model']['parameters']:,}" for c in cards],
        ["weights SHA-256"] + [c["model"]["weights_sha256"][:16] + "…" for c in cards],
        ["training method"] + [str((c["model"].get("training") or {}).get("method") or "-") for c in cards],
        ["budget"] + [c["audit"]["budget"] for c in cards],
    ]))
    return Comparison(names, list(cards), tables, _overlays(names, cards), summary_lines(names, cards))


def _overlays(names: Sequence[str], cards: Sequence[Dict[str, Any]]) -> List[Figure]:
    figures = []
    for key, title in CURVES:
        curves = [(n, (c["sections"].get(s, {}).get("curves") or {}).get(key))
                  for n, c in zip(names, cards) for s in [_section_of(c, key)]]
        curves = [(n, cv) for n, cv in curves if cv and cv.get("y")]
        if len(curves) < 2:
            continue
        fig, (ax,) = new_figure(1, (10.0, 4.0))  # the page's width (1,100 px), not a 470-px thumbnail
        if key == "reliability":
            ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
        for n, cv in curves:
            ys = [float("nan") if v is None else v for v in cv["y"]]
            ax.plot(cv["x"], ys, marker="o", ms=3, label=n)
        ax.set(xlabel=curves[0][1].get("xlabel", ""), ylabel=curves[0][1].get("ylabel", ""), title=title)
        if key == "robust_accuracy":  # ticks at the measured ε only, never piled up
            sparse_ticks(ax, [v for _, cv in curves for v in cv["x"]])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        figures.append(Figure(key, f"{title}, one line per model.", render(fig)))
    return figures


def _section_of(card: Dict[str, Any], curve: str) -> str:
    return next((s for s, rec in card["sections"].items() if curve in (rec.get("curves") or {})), "")


def report_link(report: Path, out: Path) -> str:
    """An href from ``out/comparison.html`` to ``report``: relative, percent-encoded and starting with
    ``./``, so a folder named ``javascript:alert(1)`` stays a path, never a URL scheme."""
    rel = Path(os.path.relpath(os.path.realpath(report), os.path.realpath(out))).as_posix()  # reports' paths are real
    return "./" + quote(rel, safe="/")


def _check_card(card: Any, where: str) -> Dict[str, Any]:
    from .schema import validate

    problems = validate(card) if isinstance(card, dict) else [f"expected a JSON object, got {type(card).__name__}"]
    if problems:
        raise ValueError(f"{where} is not a valid safety card: {problems[0]}")
    return card


def _resolve(source, out: Optional[Path], audit_kw: Dict[str, Any], taken: set):
    """Check one source and load what it needs, before any audit runs: (name, card, link) for a
    finished one, or (PreparedRun, target folder) for a run directory still to audit."""
    from .audit import CARD, REPORT, AuditResult, prepare_run
    from .output import prepare_out

    if isinstance(source, AuditResult):
        link = report_link(source.out / REPORT, out) if source.out is not None and out is not None else None
        return source.name, source.card, link
    if isinstance(source, dict):
        card = _check_card(source, "a card passed to compare")
        return card["model"]["name"], card, None
    path = Path(source)
    if (path / CARD).is_file():
        try:
            card = json.loads((path / CARD).read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"{path / CARD} is not valid JSON ({e})") from None
        _check_card(card, str(path / CARD))
        link = report_link(path / REPORT, out) if out is not None and (path / REPORT).is_file() else None
        return card["model"]["name"], card, link
    if not path.is_dir():
        raise FileNotFoundError(f"expected a run directory or a report folder (with {CARD}), found nothing at {path}")
    prepared = prepare_run(path, audit_kw.get("data"), data_root=audit_kw.get("data_root"))
    target = None
    if out is not None:  # out/<run name>, made unique when two runs share a folder name
        base = Path(os.path.abspath(path)).name or "run"
        name, i = base, 2
        while name in taken:
            name, i = f"{base}-{i}", i + 1
        taken.add(name)
        target = out / name
        prepare_out(target, probe_bytes=0)  # a non-report folder there is refused now, untouched
    return prepared, target


def compare(sources: Sequence[Any], out: Optional[Union[str, os.PathLike]] = None, **audit_kw: Any) -> Comparison:
    """Compare 2+ models; run directories are audited (``audit_kw`` go to ``audit_run``) into
    ``out/<run name>/``. With ``out``, writes ``comparison.html`` and ``comparison.json``.

    Every source is checked first (runs loaded, data shapes matched, report cards validated, ``out``
    probed), so a bad last argument fails in a second without auditing or writing anything."""
    from .audit import FIGURES, REPORT, audit_run

    if len(sources) < 2:
        raise ValueError(f"expected at least 2 runs or reports to compare, got {len(sources)}")
    out_p = Path(out) if out is not None else None
    if out_p is not None:
        if out_p.exists() and not out_p.is_dir():
            raise ValueError(f"expected --out to be a folder, found a file at {out_p}")
        if (out_p / FIGURES).is_symlink():
            raise ValueError(f"{out_p / FIGURES} is a symbolic link; refusing to write figures through it")
        from ..runs import probe_writable

        probe_writable(out_p, 4 << 20)
    taken: set = set()
    resolved = [_resolve(s, out_p, audit_kw, taken) for s in sources]
    kw = {k: v for k, v in audit_kw.items() if k not in ("data", "data_root")}
    loaded = []
    for item in resolved:
        if len(item) == 3:
            loaded.append(item)
            continue
        prepared, target = item
        res = audit_run(prepared, out=target, **kw)
        loaded.append((res.name, res.card, report_link(target / REPORT, out_p) if target is not None else None))
    comp = compare_cards([c for _, c, _ in loaded], [n for n, _, _ in loaded])
    comp.links = [link for _, _, link in loaded]
    if out_p is not None:
        comp.write(out_p)
    return comp
