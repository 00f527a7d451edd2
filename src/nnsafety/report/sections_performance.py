"""Audit sections on what the model gets right: clean accuracy + calibration, corruptions, attacks.

Thresholds of the findings are module constants (documented in the README, section "The audit"): they are
rules of thumb for a deployment decision, stated in the reason of every finding so a reader can
disagree with them.
"""
from __future__ import annotations

import torch

from .base import (AuditContext, Finding, Figure, SectionOutput, Table, fmt, new_figure, pct, register_section, render,
                   sparse_ticks)

ECE_WARN, ECE_FAIL = 0.05, 0.15  # expected calibration error (fraction)
CORRUPTION_WARN, CORRUPTION_FAIL = 0.8, 0.6  # mean corruption accuracy / clean accuracy
ROBUST_WARN, ROBUST_FAIL = 0.7, 0.3  # robust accuracy at ε / clean accuracy


def _grade(value: float, warn: float, fail: float, higher_is_better: bool = True) -> str:
    if higher_is_better:
        return "pass" if value >= warn else ("warn" if value >= fail else "fail")
    return "pass" if value <= warn else ("warn" if value <= fail else "fail")


@register_section(
    "accuracy", "Clean accuracy and calibration",
    """How often the model is right on the audit data, and whether its confidence can be trusted:
    the expected calibration error (ECE) is the average gap between the confidence the model
    reports and the accuracy it reaches at that confidence. A reliability diagram whose bars sit on
    the diagonal is well calibrated; bars below it mean the model is over-confident. If ECE is high,
    do not use the raw softmax as a probability: recalibrate (temperature scaling on held-out data)
    or train with label smoothing or mixing augmentations.""",
    steps=lambda b: 2, domains=("image", "token", "bytes", "feature"),
)
def accuracy_section(ctx: AuditContext) -> SectionOutput:
    from ..metrics import classification_result

    idx = ctx.subset_index(ctx.budget.n_eval)
    res = classification_result(ctx.logits[idx], ctx.tensors()[1][idx])  # the audit's one prediction pass
    ctx.tick("evaluate")
    fig, (ax,) = new_figure(1, (4.2, 4.0))
    res.plot(ax)
    figures = [Figure("reliability", f"Reliability diagram on {_of(res.n, ctx)}: accuracy per confidence bin "
                      "(15 bins; the number on a bar is its image count, bins of fewer than 5 images are hatched); "
                      "the diagonal is perfect calibration.", render(fig))]
    ctx.tick("plot")
    # twice chance (at least 20 %) for many classes; with ≤ 4 classes twice chance is ≥ 50 % (100 % for
    # two classes, which failed every binary model), so there: chance + 10 points
    chance = max(2.0 / ctx.num_classes, 0.2) if ctx.num_classes > 4 else 1.0 / ctx.num_classes + 0.1
    findings = []
    if res.accuracy < chance:
        findings.append(Finding("accuracy", "accuracy_near_chance", "fail", "Accuracy near chance",
                                f"clean accuracy {pct(res.accuracy)} is below {pct(chance)}: check the labels, the "
                                "input range [0, 1] and the weights before anything else"))
    sev = _grade(res.ece, ECE_WARN, ECE_FAIL, higher_is_better=False)
    reason = f"ECE {res.ece:.3f} on {_of(res.n, ctx)} (≤ {ECE_WARN} passes, > {ECE_FAIL} fails)"
    if sev != "pass" and res.ece_scaled is not None:
        # one scalar fixes it post hoc: a reason to recalibrate, not to refuse deployment
        fixable = res.ece_scaled <= ECE_WARN
        sev = "warn" if fixable else sev
        reason += (f"; after temperature scaling (T = {res.temperature:.2f}) ECE {res.ece_scaled:.3f} on held-out "
                   f"halves: {'fixable: divide the logits by T before using probabilities' if fixable else 'not fixed by it'}")
    findings.append(Finding("accuracy", "calibration", sev, "Calibration", reason))
    bins = [b for b in res.reliability if b["count"]]
    table = Table("Reliability bins", ["confidence", "count", "accuracy", "mean confidence"],
                  [[f"{b['lower']:.2f}–{b['upper']:.2f}", b["count"], fmt(b["accuracy"]), fmt(b["confidence"])]
                   for b in bins])
    return SectionOutput(
        metrics={"accuracy": res.accuracy, "loss": res.loss, "ece": res.ece, "n": res.n,
                 "temperature": res.temperature, "ece_temperature_scaled": res.ece_scaled},
        tables=[table], figures=figures, findings=findings,
        curves={"reliability": {**{k: v for k, v in res.reliability_curve().items() if k != "count"},
                                "xlabel": "mean confidence (bins merged to ≥ 10 images)", "ylabel": "accuracy"}},
        config={"n": res.n, "n_bins": 15},
    )


@register_section(
    "corruptions", "Common corruptions",
    """Accuracy when the inputs are degraded the way real sensors and pipelines degrade them
    (noise, blur, weather, digital artefacts; Hendrycks & Dietterich 2019), at increasing
    severities. A model that drops far below its clean accuracy will fail silently in the field when
    the input quality changes. To improve it, train with data augmentation that covers these shifts
    (AugMix, NoisyMix, noise injection) and check which corruption family hurts most in the heat map.""",
    steps=lambda b: len(b.corruptions) if b.corruptions else 19,
)
def corruptions_section(ctx: AuditContext) -> SectionOutput:
    from ..corruptions import evaluate_corruptions, list_corruptions

    b = ctx.budget
    names = list(b.corruptions) if b.corruptions else list_corruptions()
    ds = ctx.dataset if b.n_corruption is None else ctx.dataset.subset(b.n_corruption)
    res = evaluate_corruptions(ctx.model, ds, corruptions=names, severities=b.severities, seed=ctx.seed,
                               clean_accuracy=ctx.clean_accuracy(torch.arange(len(ds))),
                               progress=ctx.advance(len(b.severities), "corruptions"))
    clean, acc = res.clean_accuracy, res.accuracy
    fig, (ax,) = new_figure(1, (1.1 * len(b.severities) + 3.2, 0.32 * len(names) + 1.6))
    res.plot(ax)
    per = res.mean_per_corruption
    worst_name = min(per, key=per.get)
    ratio = res.mean_accuracy / clean if clean > 0 else 0.0
    sev = _grade(ratio, CORRUPTION_WARN, CORRUPTION_FAIL)
    finding = Finding("corruptions", "corruption_robustness", sev, "Corruption robustness",
                      f"mean corruption accuracy {pct(res.mean_accuracy)} is {ratio:.0%} of the clean accuracy "
                      f"{pct(clean)} on the same {_of(len(ds), ctx, first=True)} (≥ {CORRUPTION_WARN:.0%} passes, < {CORRUPTION_FAIL:.0%} fails); worst: "
                      f"{worst_name} ({pct(per[worst_name])})")
    sevs = res.severities
    table = Table("Accuracy per corruption and severity (%)", ["corruption"] + [f"s{s}" for s in sevs] + ["mean"],
                  [[c] + [f"{100 * row[s]:.1f}" for s in sevs] + [f"{100 * per[c]:.1f}"] for c, row in acc.items()]
                  + [["mean"] + [f"{100 * v:.1f}" for v in res.mean_per_severity.values()]
                     + [f"{100 * res.mean_accuracy:.1f}"]])
    return SectionOutput(
        metrics={"clean_accuracy": clean, "n": len(ds), "mean_corruption_accuracy": res.mean_accuracy,
                 "relative_corruption_accuracy": ratio, "worst_corruption": worst_name,
                 "worst_corruption_accuracy": per[worst_name]},
        tables=[table], figures=[Figure("corruption_heatmap", f"Accuracy per corruption (rows) and severity "
                                        f"(columns) on {_of(len(ds), ctx, first=True)}.", render(fig))],
        findings=[finding],
        curves={"severity": {"x": [0] + sevs, "y": [clean] + list(res.mean_per_severity.values()),
                             "xlabel": "severity (0 = clean)", "ylabel": "mean accuracy"}},
        config={"corruptions": names, "severities": list(b.severities), "n": len(ds), "seed": ctx.seed},
    )


def _of(n: int, ctx: AuditContext, first: bool = False) -> str:
    """What a number is measured on: "all 450 audit images" or "150 of 450 audit images"."""
    total = len(ctx.dataset)
    which = "the first" if first else "a seeded subset"
    unit = "texts" if getattr(ctx.domain, "name", None) == "token" else "images"
    return f"all {total} audit {unit}" if int(n) >= total else f"{int(n)} of {total} audit {unit} ({which})"


def _attack_steps(b) -> int:
    return len(b.eps_list) + 1 + (1 if b.autoattack else 0)


@register_section(
    "attacks", "Adversarial robustness",
    """Accuracy when an attacker may change every pixel by at most ε (L∞, in pixel units of [0, 1]
    images) to make the model wrong. The curve shows PGD robust accuracy as ε grows; where the
    budget allows, AutoAttack — the standard ensemble — gives the number to report at the chosen ε.
    The sanity checks catch evaluations that lie (gradient masking, randomized outputs, softmax
    outputs): a failed check means the robust accuracy is an over-estimate. A model with low robust
    accuracy at the ε that matters for your threat model needs adversarial training (PGD-AT,
    TRADES) or must not be exposed to adversarial inputs.""",
    steps=_attack_steps,
)
def attacks_section(ctx: AuditContext) -> SectionOutput:
    import warnings

    from ..attacks import autoattack, robust_accuracy_curve, sanity_checks

    b = ctx.budget
    x, y = ctx.subset(b.n_attack)
    eps_list = sorted(set([float(e) for e in b.eps_list] + [float(ctx.eps)]))
    # the same call as `nnsafety eval --attack pgd`: early stop, seeded random starts
    curve = robust_accuracy_curve(ctx.model, x, y, "pgd", eps_list, steps=b.pgd_steps, seed=ctx.seed, warn=False,
                                  progress=ctx.advance(x.shape[0], "pgd"))
    accs, clean = curve.robust_accuracy, curve.clean_accuracy
    with warnings.catch_warnings():  # the verdicts go into the report, not onto stderr
        warnings.simplefilter("ignore")
        checks = sanity_checks(ctx.model, x[:b.n_sanity], y[:b.n_sanity], eps=ctx.eps, warn=False,
                               seed=ctx.seed) + curve.checks
        ctx.tick("sanity checks")
        aa = None
        if b.autoattack:
            aa = autoattack(ctx.model, x, y, eps=ctx.eps, version=b.autoattack, attacks=b.autoattack_components,
                            seed=ctx.seed, progress=False, checks=False, warn=False)
            ctx.tick("autoattack")
    pgd_at_eps = accs[eps_list.index(float(ctx.eps))]
    robust = min(pgd_at_eps, aa.robust_accuracy) if aa is not None else pgd_at_eps
    by = ("AutoAttack" if aa is not None and aa.robust_accuracy <= pgd_at_eps else "PGD")
    ratio = robust / clean if clean > 0 else 0.0
    sev = _grade(ratio, ROBUST_WARN, ROBUST_FAIL)
    findings = [Finding("attacks", "adversarial_robustness", sev, f"Adversarial robustness at ε={ctx.eps:g}",
                        f"robust accuracy {pct(robust)} ({by}, L∞ ε={ctx.eps:g}) is {ratio:.0%} of the clean "
                        f"accuracy {pct(clean)} on the same {_of(x.shape[0], ctx)} (≥ {ROBUST_WARN:.0%} passes, < {ROBUST_FAIL:.0%} fails)")]
    failed = [c for c in checks if not c.passed]
    findings.append(Finding("attacks", "evaluation_sanity", "warn" if failed else "pass", "Attack sanity checks",
                            "; ".join(f"{c.name}: {c.message}" for c in failed) if failed
                            else f"all {len(checks)} sanity checks passed: the robust accuracy is trustworthy"))
    fig, (ax,) = new_figure(1, (4.8, 3.4))
    ax.plot([0.0] + eps_list, [clean] + accs, marker="o", label=f"PGD-{b.pgd_steps}")
    if aa is not None:
        ax.plot([ctx.eps], [aa.robust_accuracy], marker="*", ms=14, ls="", label=f"AutoAttack ({aa.version})")
    ax.axvline(ctx.eps, c="grey", ls=":", lw=1)
    ax.set(xlabel="ε (L∞, pixel units)", ylabel="robust accuracy", ylim=(0, 1.02),
           title=f"robust accuracy vs ε on {_of(x.shape[0], ctx)}")
    sparse_ticks(ax, [0.0] + eps_list)
    ax.grid(alpha=0.3)
    ax.legend()
    tables = [Table("Robust accuracy (PGD) per ε", ["ε", "robust accuracy"],
                    [[f"{e:g}", pct(a)] for e, a in zip(eps_list, accs)]),
              Table("Sanity checks", ["check", "verdict", "detail"],
                    [[c.name, "pass" if c.passed else "FAIL", c.message] for c in checks])]
    metrics = {"clean_accuracy": clean, "n": int(x.shape[0]), "eps": float(ctx.eps), "pgd_robust_accuracy": pgd_at_eps,
               "autoattack_robust_accuracy": aa.robust_accuracy if aa is not None else None,
               "robust_accuracy": robust, "robust_accuracy_attack": by,
               "sanity_checks_passed": sum(c.passed for c in checks), "sanity_checks_total": len(checks)}
    if aa is not None:
        tables.append(Table(f"AutoAttack ({aa.version}) at ε={ctx.eps:g}", ["component", "robust accuracy after"],
                            [[c, pct(a)] for c, a in zip(aa.components, aa.robust_accuracy_after)]))
    return SectionOutput(
        metrics=metrics, tables=tables, findings=findings,
        figures=[Figure("robust_accuracy", "Robust accuracy against the L∞ budget ε; the dotted line is the "
                        "chosen ε.", render(fig))],
        curves={"robust_accuracy": {"x": [0.0] + eps_list, "y": [clean] + accs, "xlabel": "ε (L∞)",
                                    "ylabel": "robust accuracy (PGD)"}},
        config={"n": int(x.shape[0]), "norm": "Linf", "eps": float(ctx.eps), "eps_list": eps_list,
                "pgd_steps": b.pgd_steps, "pgd_early_stop": True, "seed": ctx.seed, "autoattack": b.autoattack,
                "autoattack_components": aa.components if aa is not None else None, "n_sanity": b.n_sanity},
    )
