"""The text audit's embedding-space section: PGD on the word vectors, robust accuracy against ε.

``attacks.embedding.embedding_pgd``: every real token may move inside an L2 ball of radius
ε·‖e_t‖ around its own vector (ε a fraction of the word vector's length), 10 steps at the quick
budget (``budget.pgd_steps``), random start, seeded. No user can send a word vector, so this is the
continuous threat model of embedding-space adversarial training (Miyato et al. 2017; FreeLB), a
worst case beside the word and character attacks — the finding is ``info`` unless the attack's
sanity checks fail (then ``warn``: the curve is not trustworthy). Checks as for images: the
outputs are logits and deterministic, and robust accuracy does not rise with ε and does fall by
ε = 1 (a whole word vector's length), else the gradients mislead the attack.
"""
from __future__ import annotations

import torch

from ..attacks.embedding import embedding_pgd_accuracy
from ..attacks.sanity import check_deterministic, check_eps_monotonic, check_probability_outputs
from .base import AuditContext, Finding, Figure, SectionOutput, Table, new_figure, pct, register_section, render

EPS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)  # fractions of each word vector's L2 length
REPORTED = 0.1  # the ε named in the finding
N_MAX = 200  # texts attacked


@register_section(
    "text_embedding_pgd", "Embedding-space robustness (PGD on word vectors)",
    """Accuracy when every word vector of a text may move by a fraction ε of its own length in the
    direction that hurts the model most (projected gradient descent in embedding space). No user
    can type a vector, so this is a worst case beside the word and character attacks, not a
    deployment threat by itself: it shows how far the decision is from each text in the space the
    model reads, and it is the threat model that embedding-space adversarial training (embed_pgd_at,
    FreeLB) improves. A curve that does not fall with ε means the attack, not the model, failed.""",
    steps=lambda b: len(EPS), domains=("token",),
)
def text_embedding_pgd_section(ctx: AuditContext) -> SectionOutput:
    model = ctx.model
    if not (callable(getattr(model, "embed", None)) and callable(getattr(model, "forward_embeddings", None))):
        raise ValueError(f"embedding PGD needs a model with embed(ids) and forward_embeddings(e, mask), "
                         f"got {type(model).__name__}")
    idx = ctx.subset_index(min(ctx.budget.n_attack, N_MAX))
    x, y = ctx.tensors()
    x, y = x[idx], y[idx]
    steps = int(ctx.budget.pgd_steps)
    acc = []
    for eps in EPS:
        acc.append(embedding_pgd_accuracy(model, x, y, eps, steps, ctx.seed, batch=100))
        ctx.tick(f"ε={eps:g}")
    with torch.no_grad():
        checks = [check_probability_outputs(model(x[:64])), check_deterministic(model, x[:64]),
                  check_eps_monotonic(EPS, acc, len(y))]
    failed = [c for c in checks if not c.passed]
    at = acc[EPS.index(REPORTED)]
    ratio = at / acc[0] if acc[0] > 0 else 0.0
    detail = (f"robust accuracy {pct(at)} at ε = {REPORTED:g} (every word vector moved by up to {REPORTED:.0%} of its "
              f"length, PGD-{steps}) against {pct(acc[0])} clean on {len(y)} texts ({ratio:.0%} of clean); "
              f"{pct(acc[-1])} at ε = {EPS[-1]:g}")
    if failed:
        finding = Finding("text_embedding_pgd", "embedding_pgd_sanity", "warn", "Embedding PGD: sanity check failed",
                          detail + "; " + "; ".join(c.message for c in failed))
    else:
        finding = Finding("text_embedding_pgd", "embedding_robustness", "info", "Embedding-space robustness",
                          detail + " (a worst case, not a deployment threat: shown, never judged)")
    fig, (ax,) = new_figure(1, (4.8, 3.4))
    ax.plot(EPS, acc, marker="o")
    ax.set(xlabel="ε (fraction of each word vector's length)", ylabel="accuracy under PGD", ylim=(0, 1.02),
           title=f"embedding PGD-{steps} on {len(y)} texts")
    ax.grid(alpha=0.3)
    return SectionOutput(
        metrics={"eps": list(EPS), "robust_accuracy": acc, "robust_accuracy_at": {str(REPORTED): at},
                 "n": int(len(y)), "steps": steps,
                 "sanity": {c.name: {"passed": c.passed, "message": c.message} for c in checks}},
        tables=[Table("Accuracy under embedding PGD", ["ε (fraction of ‖e_t‖)", "accuracy"],
                      [[f"{e:g}", pct(a)] for e, a in zip(EPS, acc)]),
                Table("Sanity checks", ["check", "passed", "message"],
                      [[c.name, "yes" if c.passed else "NO", c.message] for c in checks])],
        findings=[finding],
        curves={"embedding_pgd": {"x": list(EPS), "y": acc, "xlabel": "ε (fraction of ‖e_t‖)",
                                  "ylabel": "accuracy under PGD"}},
        figures=[Figure("text_embedding_pgd", "Accuracy under PGD on the word vectors against the radius ε, a "
                        "fraction of each word vector's own length.", render(fig))],
        config={"eps": list(EPS), "steps": steps, "n": int(len(y)), "seed": ctx.seed, "random_start": True},
    )
