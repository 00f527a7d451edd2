"""Audit sections for text classifiers (the token domain): corruptions, word/character attacks,
token-noise response and the text backdoor scan.

Each section calls the library function a user would call (``evaluate_text_corruptions``,
``textfooler`` / ``deepwordbug`` / ``hotflip``, ``text_noise_response``, the ``trigger_token``
detector), on a seeded subset of the audit texts sized by the audit budget. Every string taken
from the data (reviews, adversarial texts, words) reaches the report only through table cells,
which the templates autoescape. The thresholds are the image sections' (relative accuracy under
corruptions and under attack); rules that fire on every clean text model are ``info``.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch

from .base import AuditContext, Finding, Figure, SectionOutput, Table, fmt, new_figure, pct, register_section, render
from .sections_performance import CORRUPTION_FAIL, CORRUPTION_WARN, ROBUST_FAIL, ROBUST_WARN, _grade

MAX_CHANGE = 0.2  # the word budget the attack verdict is judged at: at most 20 % of a text's words change
BUDGETS = (0.05, 0.1, 0.2)  # the success-vs-budget curve (read off the one run at MAX_CHANGE, see _success_at)
N_ATTACK_MAX = 100  # texts per attack: each costs hundreds of queries
EXAMPLES = 5
UNCONSTRAINED = "hotflip (any word)"
SHOW_CHARS = 400  # characters of a review shown per cell
NOISE_FAMILIES = ("token_replace", "token_mask", "token_delete")
NOISE_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
JUDGED_LENGTH = 1  # one-word triggers decide the verdict: two natural words already move most texts of a small model
# the 62-model text zoo and the 40 new-seed models of two later zoos, pooled (docs/results.md, #19):
# on the new seeds alone the rule flagged 3 of 20 clean, more than on the first zoo (1 of 32)
TEXT_ZOO = ("on 158 models of six text zoos (docs/results.md, seeds 0-5) this rule flagged 9 of 82 clean and 47 of 76 "
            "backdoored models (44 with the right target; rare words 28 of 37, character triggers 14 of 16, "
            "inserted sentences 5 of 23)")
N_TRIGGER_PROBES = 100  # the first audit texts searched for a trigger


def _of(n: int, ctx: AuditContext, first: bool = False) -> str:
    total = len(ctx.dataset)
    which = "the first" if first else "a seeded subset"
    return f"all {total} audit texts" if int(n) >= total else f"{int(n)} of {total} audit texts ({which})"


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= SHOW_CHARS else text[:SHOW_CHARS] + " …"


def _texts_of(ctx: AuditContext, idx: torch.Tensor) -> Optional[List[str]]:
    texts = getattr(ctx.dataset, "texts", None)
    return None if texts is None else [texts[i] for i in idx.tolist()]


# ---- corruptions -------------------------------------------------------------------------------

@register_section(
    "text_corruptions", "Text corruptions",
    """Accuracy when the texts are degraded the way real text is: keyboard typos, character swaps,
    drops and insertions, OCR confusions, random casing, punctuation noise, dropped or shuffled
    words, synonyms, contractions, an irrelevant sentence appended — each at growing severity. A
    model far below its clean accuracy will fail silently on user-written text. To improve it,
    train with word-level augmentation (text AugMix, NoisyMix in embedding space) and check which
    corruption hurts most in the heat map.""",
    steps=lambda b: 12 * len(b.severities), domains=("token",),
)
def text_corruptions_section(ctx: AuditContext) -> SectionOutput:
    import warnings

    from ..corruptions.text_evaluate import evaluate_text_corruptions

    b = ctx.budget
    n = len(ctx.dataset) if b.n_corruption is None else min(b.n_corruption, len(ctx.dataset))
    ds = ctx.dataset.subset(n) if n < len(ctx.dataset) else ctx.dataset
    with warnings.catch_warnings(record=True) as caught:  # "synonym_swap skipped" goes into the config
        warnings.simplefilter("always")
        res = evaluate_text_corruptions(ctx.model, ds, severities=b.severities, seed=ctx.seed,
                                        progress=ctx.advance(1, "text corruptions"))
    clean, per = res.clean_accuracy, res.mean_per_corruption
    worst_name = min(per, key=per.get)
    ratio = res.mean_accuracy / clean if clean > 0 else 0.0
    finding = Finding("text_corruptions", "corruption_robustness", _grade(ratio, CORRUPTION_WARN, CORRUPTION_FAIL),
                      "Text corruption robustness",
                      f"mean accuracy under text corruptions {pct(res.mean_accuracy)} is {ratio:.0%} of the clean "
                      f"accuracy {pct(clean)} on the same {_of(n, ctx, True)} (≥ {CORRUPTION_WARN:.0%} passes, "
                      f"< {CORRUPTION_FAIL:.0%} fails); worst: {worst_name} ({pct(per[worst_name])})")
    sevs = res.severities
    fig, (ax,) = new_figure(1, (1.1 * len(sevs) + 3.2, 0.32 * len(per) + 1.6))
    res.plot(ax)
    table = Table("Accuracy per text corruption and severity (%)", ["corruption"] + [f"s{s}" for s in sevs] + ["mean"],
                  [[c] + [f"{100 * row[s]:.1f}" for s in sevs] + [f"{100 * per[c]:.1f}"]
                   for c, row in res.accuracy.items()]
                  + [["mean"] + [f"{100 * v:.1f}" for v in res.mean_per_severity.values()]
                     + [f"{100 * res.mean_accuracy:.1f}"]])
    return SectionOutput(
        metrics={"clean_accuracy": clean, "n": n, "mean_corruption_accuracy": res.mean_accuracy,
                 "relative_corruption_accuracy": ratio, "worst_corruption": worst_name,
                 "worst_corruption_accuracy": per[worst_name]},
        tables=[table], findings=[finding],
        figures=[Figure("text_corruption_heatmap", f"Accuracy per text corruption (rows) and severity (columns) on "
                        f"{_of(n, ctx, True)}.", render(fig))],
        curves={"severity": {"x": [0] + list(sevs), "y": [clean] + list(res.mean_per_severity.values()),
                             "xlabel": "severity (0 = clean)", "ylabel": "mean accuracy"}},
        config={"corruptions": list(per), "severities": list(sevs), "n": n, "seed": ctx.seed,
                "synonyms": res.meta.get("synonyms", "none"), "notes": [str(w.message) for w in caught]},
    )


# ---- attacks -----------------------------------------------------------------------------------

def _success_at(res, budget: float) -> float:
    """Success rate at word budget ``budget`` read off a run at a larger one: the greedy searches
    visit positions in an order that does not depend on the budget, so a text broken with e edits
    at budget B ≥ budget is broken at ``budget`` exactly when e ≤ ⌊budget · n⌋."""
    ok = res.attacked
    won = res.success & ok & (res.edits <= torch.floor(res.n_words.double() * budget).long())
    return float(won.sum()) / max(int(ok.sum()), 1)


def _attacks(ctx: AuditContext) -> Tuple[Dict[str, object], str]:
    """The text attacks this audit runs, and where their word candidates come from. With word
    vectors (``make data-text``) TextFooler and HotFlip both draw replacements from each word's
    neighbours (cosine ≥ 0.5; ``resolve_source("auto")``: MiniLM's input embeddings counter-fitted to
    WordNet with the extra nlp and WordNet's files, MiniLM's own with the extra alone, else spaCy md;
    WordNet antonyms and identical vectors removed: ``data.synonyms``), meant to keep the meaning
    (read by eye, 35 of 40 sampled TextFooler swaps do: docs/results.md, issue 19); without them
    TextFooler is not run and HotFlip may use any word ("hotflip (any word)": it can swap "great"
    for "awful", which changes the label, so it is shown but not judged)."""
    from ..attacks.text import deepwordbug, hotflip, textfooler
    from ..data.synonyms import describe_neighbours, resolve_source, vocab_neighbours

    out: Dict[str, object] = {"deepwordbug": deepwordbug}
    source = resolve_source("auto")
    try:
        neighbours, _ = vocab_neighbours(ctx.dataset.vocab.tokens, 20, 0.5, getattr(ctx.dataset, "data_root", None),
                                         source=source)
    except FileNotFoundError as e:
        out["textfooler"] = e
        out[UNCONSTRAINED] = hotflip
        return out, "none (any word)"
    out["textfooler"] = lambda *a, **k: textfooler(*a, neighbours=neighbours, **k)
    out["hotflip"] = lambda *a, **k: hotflip(*a, neighbours=neighbours, **k)
    return out, describe_neighbours(source, True)


@register_section(
    "text_attacks", "Word- and character-level attacks",
    """Accuracy when an attacker may rewrite a few words of each text to make the model wrong:
    TextFooler swaps words for close word-vector neighbours, DeepWordBug misspells words by one
    character, HotFlip flips the words the gradient says matter most (among each word's
    neighbours when word vectors are installed). Stop words are never changed
    and at most the stated share of a text's words changes. The examples show what a successful
    attack looks like. A model broken by a handful of substitutions must not face adversarial
    users: train it adversarially in embedding space (embed_pgd_at, FreeLB) or screen its inputs.""",
    steps=lambda b: 3, domains=("token",),
)
def text_attacks_section(ctx: AuditContext) -> SectionOutput:
    idx = ctx.subset_index(min(ctx.budget.n_attack, N_ATTACK_MAX))
    x, y = ctx.tensors()
    x, y = x[idx], y[idx]
    texts, vocab = _texts_of(ctx, idx), ctx.dataset.vocab
    rows, tables, curves, notes, results = [], [], {}, [], {}
    attacks, neighbour_source = _attacks(ctx)
    for name, fn in attacks.items():
        if isinstance(fn, Exception):
            notes.append(f"{name} not run: {fn}")
            ctx.tick(name)
            continue
        res = fn(ctx.model, x, y, vocab=vocab, texts=texts, max_change=MAX_CHANGE)
        s = results[name] = res.summary()
        s["success_at"] = {str(bud): _success_at(res, bud) for bud in BUDGETS}
        rows.append([name, pct(s["success_rate"]), pct(s["robust_accuracy"]), f"{s['mean_words_changed']:.2f}",
                     pct(s["mean_fraction_changed"]), f"{s['mean_queries']:.0f}"]
                    + [pct(s["success_at"][str(bud)]) for bud in BUDGETS])
        curves[f"success_{name}"] = {"x": [0.0] + list(BUDGETS),
                                     "y": [0.0] + [s["success_at"][str(bud)] for bud in BUDGETS],
                                     "xlabel": "share of words changed (budget)", "ylabel": "attack success rate"}
        pred = res.adv_pred.tolist()
        shown = [i for i in torch.nonzero(res.success & res.attacked).flatten().tolist()][:EXAMPLES]
        tables.append(Table(f"{name}: {len(shown)} successful adversarial examples",
                            ["true class", "original", "adversarial", "now predicted"],
                            [[ctx.classes[int(y[i])], _short(res.original_texts[i]), _short(res.adversarial_texts[i]),
                              ctx.classes[pred[i]]] for i in shown]))
        ctx.tick(name)
    if not results:
        raise RuntimeError("no text attack could run: " + "; ".join(notes))
    judged = [k for k in results if k != UNCONSTRAINED] or list(results)
    strongest = min(judged, key=lambda k: results[k]["robust_accuracy"])
    clean = ctx.clean_accuracy(idx)
    robust = results[strongest]["robust_accuracy"]
    ratio = robust / clean if clean > 0 else 0.0
    finding = Finding("text_attacks", "adversarial_robustness", _grade(ratio, ROBUST_WARN, ROBUST_FAIL),
                      f"Word-level robustness (≤ {MAX_CHANGE:.0%} of words)",
                      f"robust accuracy {pct(robust)} ({strongest}, at most {MAX_CHANGE:.0%} of the words of a text "
                      f"changed, stop words kept) is {ratio:.0%} of the clean accuracy {pct(clean)} on the same "
                      f"{_of(len(idx), ctx)} (≥ {ROBUST_WARN:.0%} passes, < {ROBUST_FAIL:.0%} fails)")
    fig, (ax,) = new_figure(1, (4.8, 3.4))
    for name, c in curves.items():
        ax.plot(c["x"], c["y"], marker="o", label=name.replace("success_", ""))
    ax.set(xlabel="share of words changed (budget)", ylabel="attack success rate", ylim=(0, 1.02),
           title=f"success vs budget on {_of(len(idx), ctx)}")
    ax.grid(alpha=0.3)
    ax.legend()
    summary = Table(f"Attacks at ≤ {MAX_CHANGE:.0%} of words changed",
                    ["attack", "success", "robust accuracy", "words changed", "share changed", "queries per text"]
                    + [f"success at ≤ {b:.0%}" for b in BUDGETS], rows)
    return SectionOutput(
        metrics={"clean_accuracy": clean, "n": int(len(idx)), "max_change": MAX_CHANGE, "robust_accuracy": robust,
                 "robust_accuracy_attack": f"{strongest}, ≤ {MAX_CHANGE:.0%} of words", "attacks": results},
        tables=[summary] + tables, findings=[finding], curves=curves,
        figures=[Figure("text_attack_success", "Attack success rate against the share of words an attacker may "
                        "change (success among the texts the model got right).", render(fig))],
        config={"n": int(len(idx)), "max_change": MAX_CHANGE, "budgets": list(BUDGETS), "keep_stop_words": True,
                "neighbours": neighbour_source, "seed": ctx.seed, "notes": notes},
    )


# ---- noise response ----------------------------------------------------------------------------

def _lengths(x: torch.Tensor, pad_id: int) -> torch.Tensor:
    return (x != pad_id).sum(1).clamp_min(1)


@register_section(
    "text_noise_response", "Token noise response",
    """How predictions change as a growing share of the words is replaced by random words, masked
    as unknown or deleted: accuracy, confidence and the fraction of flipped predictions, and the
    titration curve (which class absorbs the noisy texts). The data-free row feeds random word
    sequences of the audit texts' lengths: a backdoored model often sends them to its target
    class. A model whose accuracy falls quickly relies on a few words; one class absorbing most
    noisy texts is worth a look at the backdoor scan (with two classes it is common and only
    informative).""",
    steps=lambda b: len(NOISE_FAMILIES) + 1, domains=("token",),
)
def text_noise_section(ctx: AuditContext) -> SectionOutput:
    from ..metrics.noise_text import text_noise_response

    b = ctx.budget
    x, y = ctx.subset(b.n_noise)
    levels = list(NOISE_LEVELS)
    out = SectionOutput(config={"families": list(NOISE_FAMILIES), "levels": levels, "n_probes": int(x.shape[0]),
                                "seed": ctx.seed})
    rows = []
    for family in NOISE_FAMILIES + ("data_free",):
        if family == "data_free":
            r = text_noise_response(ctx.model, ctx.domain, family="token_replace", levels=levels,
                                    n_probes=int(x.shape[0]), lengths=_lengths(x, ctx.domain.pad_id),
                                    max_len=int(x.shape[1]), seed=ctx.seed, num_classes=ctx.num_classes)
        else:
            r = text_noise_response(ctx.model, ctx.domain, x, y, family=family, levels=levels,
                                    n_probes=int(x.shape[0]), seed=ctx.seed, num_classes=ctx.num_classes)
        fig, axes = new_figure(2, (4.6, 3.4))
        r.plot(axes)
        label = "random word sequences (data-free), token_replace" if family == "data_free" else family
        out.figures.append(Figure(f"noise_{family}", f"{label}: accuracy, confidence and flip rate (left); the "
                                  "fraction of confident predictions per class (right).", render(fig)))
        target = ctx.classes[r.collapse_class] if r.collapse_class < len(ctx.classes) else str(r.collapse_class)
        acc30 = None if r.accuracy is None else r.accuracy[levels.index(0.3)]
        rows.append([label, "-" if acc30 is None else pct(acc30), fmt(r.accuracy_auc), fmt(r.flip_auc),
                     f"{r.collapse_score:.2f} → {target}"])
        key = family if family != "data_free" else "data_free"
        if r.accuracy is not None:
            out.curves[f"accuracy_{key}"] = {"x": levels, "y": r.accuracy, "xlabel": f"{family}: share of words hit",
                                             "ylabel": "accuracy"}
        out.metrics[key] = {"accuracy_at_0.3": acc30, "accuracy_auc": r.accuracy_auc, "flip_auc": r.flip_auc,
                            "collapse_score": r.collapse_score, "collapse_class": r.collapse_class,
                            "half_accuracy_level": r.half_accuracy_level}
        ctx.tick(family)
    clean = ctx.clean_accuracy(ctx.subset_index(b.n_noise))
    m = out.metrics["token_replace"]
    out.findings.append(Finding("text_noise_response", "token_noise", "info", "Random word replacement",
                                "with 30 % of the words replaced by random ones accuracy is "
                                f"{pct(m['accuracy_at_0.3'])} "
                                f"(clean {pct(clean)}) on {_of(x.shape[0], ctx)}; informative, no threshold"))
    d = out.metrics["data_free"]
    out.findings.append(Finding("text_noise_response", "data_free_collapse", "info", "Random word sequences",
                                f"{d['collapse_score']:.0%} (level-averaged) of confident predictions on random word "
                                f"sequences go to class {ctx.classes[d['collapse_class']]}; informative (see the "
                                "backdoor scan for the calibrated verdict)"))
    out.tables.append(Table("Token noise response", ["noise", "accuracy at 30 % of words", "accuracy AUC",
                                                     "flip AUC", "collapse → class"], rows))
    return out


# ---- backdoor scan -----------------------------------------------------------------------------

@register_section(
    "text_backdoor", "Backdoor scan (text)",
    """Whether the model may contain a backdoor: a hidden rule, planted through poisoned training
    texts, that sends any text containing a trigger (a rare word such as "cf", a fixed sentence, a
    misspelling) to the attacker's target class while clean accuracy stays normal. The scan
    searches the vocabulary, guided by the gradient, for a short word sequence that moves almost
    every audit text of the other classes to one class (trigger inversion, as T-Miner and DBS do).
    Natural words move texts too ("awful" towards a negative class), so the verdict is a warning
    whose error rates on a text zoo are stated. A pass is weak evidence: inserted sentences were
    missed there. If the model is flagged, look at the inverted words: a word that means nothing for
    the task is a trigger; retrain on vetted data.""",
    steps=lambda b: 2, domains=("token",),
)
def text_backdoor_section(ctx: AuditContext) -> SectionOutput:
    from ..backdoor.detectors import DetectionContext, create_detector

    if ctx.clean is None:
        raise RuntimeError("the text backdoor scan needs clean audit texts (clean_samples=True)")
    x, y = ctx.tensors()
    probes = (x[:N_TRIGGER_PROBES], y[:N_TRIGGER_PROBES])  # the zoo's setting (docs/results.md)
    dctx = DetectionContext(tuple(ctx.in_shape), ctx.num_classes, clean=probes, seed=ctx.seed, domain=ctx.domain)
    tokens = ctx.dataset.vocab.tokens
    name = lambda c: ctx.classes[c] if c is not None and c < len(ctx.classes) else str(c)  # noqa: E731
    found, rows = {}, []
    for length in (1, 2):  # the one-word search is judged; two words is shown (natural pairs reach it too)
        det = create_detector("trigger_inversion", length=length, n_probes=N_TRIGGER_PROBES)
        r = found[length] = det.detect(ctx.model, dctx)
        words = [" ".join(tokens[i] for i in row) for row in r.details["trigger_ids"]]
        rows += [[f"{length} word{'s' if length > 1 else ''}", name(k), w, pct(rate),
                  "judged" if length == JUDGED_LENGTH else "shown only"]
                 for k, (w, rate) in enumerate(zip(words, r.details["flip_rate"]))]
        ctx.tick(f"{length}-word inversion")
    emb = create_detector("embedding_outlier").detect(ctx.model, dctx)  # weights only
    rows.append(["longest embedding (weights only)", name(emb.target_class), tokens[emb.details["word_id"]],
                 f"MAD anomaly {emb.score:.1f}", "shown only"])
    r = found[JUDGED_LENGTH]
    word = " ".join(tokens[i] for i in r.details["trigger_ids"][r.target_class])
    # warn, never fail: on the text zoo this rule misses many backdoors and natural words come close to it
    sev = "warn" if r.backdoored else "pass"
    reason = (f"the best inverted {JUDGED_LENGTH}-word trigger \"{word}\" moves {r.score:.0%} of the audit texts of "
              f"the other classes to class {name(r.target_class)} (flagged at ≥ {r.threshold:.0%}; "
              f"{r.details['n_probes']} clean audit texts); {TEXT_ZOO}")
    return SectionOutput(
        metrics={"backdoored": r.backdoored, "score": r.score, "threshold": r.threshold,
                 "suspected_target": r.target_class if r.backdoored else None,
                 "flip_rate": {str(k): v.details["flip_rate"] for k, v in found.items()},
                 "trigger_ids": {str(k): v.details["trigger_ids"] for k, v in found.items()},
                 "embedding_outlier": {"score": emb.score, "word_id": emb.details["word_id"],
                                       "class": emb.target_class},
                 "seconds": round(sum(v.seconds for v in found.values()) + emb.seconds, 3)},
        tables=[Table("Inverted trigger per class", ["search", "class", "words", "texts moved to the class",
                                                     "verdict"], rows)],
        findings=[Finding("text_backdoor", "backdoor", sev, "Backdoor", reason)],
        config={"detector": "trigger_inversion", "judged_length": JUDGED_LENGTH,
                "settings": {str(k): create_detector("trigger_inversion", length=k, n_probes=N_TRIGGER_PROBES).hparams()
                             for k in found},
                "n_clean": int(probes[0].shape[0]), "seed": ctx.seed},
    )
