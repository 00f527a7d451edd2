"""Audit section: the backdoor scan (data-free detectors, Neural Cleanse with clean samples).

Uses ``nnsafety.backdoor.detectors`` when it can be imported; a missing package or detector is
recorded in the table (and, when none runs, as the section's error) rather than breaking the
audit. Verdict: a detector whose score reaches ``STRONG`` times its threshold fails the model (clear
evidence); detectors that only just pass their thresholds warn (scores near a fixed threshold are
noisy: clean models of this data sometimes reach them); none flagging passes. The suspected target
class is that of the detector with the largest score / threshold ratio.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Dict, List, Tuple

from .base import AuditContext, Finding, Figure, SectionOutput, Table, new_figure, register_section, render


STRONG = 2.0  # score / threshold at which one detector alone fails the model


def _detector_runs(ctx: AuditContext) -> List[Tuple[str, str, Dict[str, Any], bool]]:
    """(label, registered name, settings, uses clean samples) for each detector of the budget."""
    b = ctx.budget
    runs = []
    for name in b.detectors:
        if name == "neural_cleanse":
            runs.append(("neural_cleanse (data-free)", name, {"data_free": True, "steps": b.nc_steps}, False))
            if ctx.clean is not None:
                runs.append(("neural_cleanse (clean samples)", name, {"data_free": False, "steps": b.nc_steps}, True))
        elif name == "noise_response" and b.noise_meta:
            runs.append((f"noise_response (reference {b.noise_meta})", name, {"meta": b.noise_meta}, False))
        else:
            runs.append((name, name, {}, False))
    return runs


def _steps(b) -> int:
    return len(b.detectors) + (1 if "neural_cleanse" in b.detectors else 0)


@register_section(
    "backdoor", "Backdoor scan",
    """Whether the model may contain a backdoor: a hidden rule, planted through poisoned training
    data, that sends any input carrying a trigger (a small patch, a blend, a warp) to the attacker's
    target class while clean accuracy stays normal. The data-free detectors look only at the
    weights: whether random noise collapses onto one class, whether the weights have outlier
    statistics, and how small a trigger Neural Cleanse can reverse-engineer for each class (a class
    reachable with a much smaller mask than the others is a suspected target). With a few clean
    samples Neural Cleanse runs as published. If the model is flagged, do not deploy it: retrain on
    vetted data, or fine-tune/prune it and scan again; the suspected target class tells you where
    to look.""",
    steps=_steps,
)
def backdoor_section(ctx: AuditContext) -> SectionOutput:
    try:
        from ..backdoor.detectors import DetectionContext, create_detector, list_detectors
    except ImportError as e:  # the detectors are optional for the rest of the audit
        raise RuntimeError(f"backdoor detectors are not available ({e})") from None

    known = set(list_detectors())
    base = DetectionContext(tuple(ctx.in_shape), ctx.num_classes, clean=ctx.clean, seed=ctx.seed)
    results, rows, errors = [], [], []
    for label, name, settings, uses_clean in _detector_runs(ctx):
        if name not in known:
            rows.append([label, "not available", "-", "-", "-", "-", "-"])
            errors.append(f"{label}: not registered")
            ctx.tick(label)
            continue
        try:
            if "meta" in settings:  # loaded here so a bad reference file is this row's error, not the audit's
                from ..backdoor.detectors import load_meta

                settings = {**settings, "meta": load_meta(settings["meta"])}
            r = create_detector(name, **settings).detect(ctx.model, base)
        except Exception as e:  # one failing detector must not hide the others' verdicts
            rows.append([label, f"error: {type(e).__name__}: {e}", "-", "-", "-", "-", "-"])
            errors.append(f"{label}: {type(e).__name__}: {e}")
            ctx.tick(label)
            continue
        target = ctx.classes[r.target_class] if r.target_class is not None and r.target_class < len(ctx.classes) \
            else r.target_class
        rows.append([label, "BACKDOORED" if r.backdoored else "clean", f"{r.score:.3f}", f"{r.threshold:g}",
                     str(target) if r.backdoored and target is not None else "-", r.needs, f"{r.seconds:.2f}"])
        results.append((label, r))
        ctx.tick(label)
    if not results:
        raise RuntimeError("no backdoor detector could run: " + "; ".join(errors))
    flagged = [(lab, r) for lab, r in results if r.backdoored]
    ratio = {lab: r.score / r.threshold if r.threshold > 0 else float("inf") for lab, r in results}
    strongest = max(flagged, key=lambda t: ratio[t[0]], default=None)
    target = strongest[1].target_class if strongest is not None else None
    strong = [lab for lab, _ in flagged if ratio[lab] >= STRONG]
    sev = "fail" if strong else ("warn" if flagged else "pass")
    tname = ctx.classes[target] if target is not None and target < len(ctx.classes) else target
    if flagged:
        reason = (f"{len(flagged)} of {len(results)} detectors flag the model ("
                  + ", ".join(f"{lab} at {ratio[lab]:.1f}× its threshold" for lab, _ in flagged)
                  + f"); suspected target class {tname}; ≥ {STRONG:g}× fails, just above warns")
    else:
        reason = f"none of the {len(results)} detectors reaches its threshold"
    findings = [Finding("backdoor", "backdoor", sev, "Backdoor", reason)]
    fig = _figure(ctx, results)
    return SectionOutput(
        metrics={"flagged": len(flagged), "detectors_run": len(results), "backdoored": sev == "fail",
                 "suspected_target": target, "scores": {lab: r.score for lab, r in results},
                 "score_over_threshold": ratio},
        tables=[Table("Detectors", ["detector", "verdict", "score", "threshold", "suspected target", "needs",
                                    "seconds"], rows)],
        figures=[fig] if fig is not None else [], findings=findings,
        config={"detectors": [lab for lab, *_ in _detector_runs(ctx)], "nc_steps": ctx.budget.nc_steps,
                "clean_samples": int(ctx.clean[0].shape[0]) if ctx.clean is not None else 0,
                "strong_ratio": STRONG, "unavailable": errors, "seed": ctx.seed},
    )


def _figure(ctx: AuditContext, results) -> Figure | None:
    """Per-class evidence: noise attraction and reverse-engineered trigger sizes, when available."""
    panels = []
    for label, r in results:
        d = r.details
        if "class_attraction" in d:
            panels.append((label, d["class_attraction"], "noise attraction (higher = suspicious)"))
        elif "l1_norms" in d:
            panels.append((label, d["l1_norms"], "trigger mask L1 (lower = suspicious)"))
    if not panels:
        return None
    fig, axes = new_figure(len(panels), (3.4, 3.0))
    for ax, (label, values, ylabel) in zip(axes, panels):
        ax.bar(range(len(values)), values, color="tab:blue")
        ax.set_xticks(range(len(values)), [str(c) for c in ctx.classes[:len(values)]], fontsize=7)
        ax.set(title=label, xlabel="class", ylabel=ylabel)
        ax.title.set_fontsize(9)
    return Figure("backdoor", "Per-class evidence of the detectors: how much noise each class attracts and how "
                  "small a trigger Neural Cleanse finds for it.", render(fig))
