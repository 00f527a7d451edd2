"""Data-free text-backdoor scan on firm probes: which word overcomes the strongest opposition?

A trigger with a high attack success rate was trained to override real reviews that strongly
oppose its target; a natural sentiment word was not. Random word sequences are weak probes (a
natural word flips them as easily as a trigger: docs/results.md, #19), so the probes here are
built by the model itself:

1. firm probes: per class c, ``per_class`` sequences of ``length`` random words improved by greedy
   coordinate ascent on the margin z_c − max_{j≠c} z_j (HotFlip's first-order ranking of the whole
   vocabulary at each position, the ``candidates`` best checked exactly; positions 6 apart change
   together, so a width-≤5 window sees one change at a time). The result is the text the model
   holds as firmly as it can for c: a stronger opposition than any real review.
2. word scan: every vocabulary word (``[UNK]`` included: a misspelt word reaches the model as
   ``[UNK]`` or as a token of its own) put in place of one word of the firm probes of the other
   classes, at the start, the middle and the end (``SLOTS``: a trigger learnt at one end of the texts
   fires there most). Its normalised shift towards t is (m_t(probe with w) − m_t(probe)) / |m_t(probe)|,
   the fraction of the strongest opposition the word overcomes (1: it flips the probe); per word the
   median over probes, the largest over slots. A screen over ``screen`` probes, then the ``top`` words
   on all of them.

Statistics per target t (``STATISTICS``; s₁ ≥ s₂ ≥ … the normalised shifts of the top words):
``best`` s₁; ``ratio`` s₁ / max(s₁₀, 0.01) (the trigger as an outlier among the strongest words);
``gap`` s₁ − s₁₀; ``z`` (s₁ − median s₂..s_top) / (1.4826·MAD). The same four with each word twice in
a row (``double_``: a trigger inserted twice, "mn mn", may be learnt as the pair) and with each word
put into probes that already hold the ``context`` strongest other words (``cond_``: a natural word
shares its filters with the other sentiment words and adds little to them, a trigger's filters are
its own). ``rel``: s₁ over the best word's shift towards any other class. The suspected target is
the class with the largest s₁, the model's score the statistic of that class. Which statistic and
threshold are used was chosen on the design zoos of the text zoo (seeds 0–2, AUC 0.80) and judged
once on new seeds 3–5: AUC 0.71, target class 0.96, below vocab_scan's 0.74 (benchmarks/bench_text_zoo.py,
docs/results.md): in weak models natural words override reviews as a trigger does. The audit does not use it.
"""
from __future__ import annotations

import torch

from ...attacks.embedding import check_embedding_seam, token_mask
from .base import Detector, register_detector
from .trigger_text import _predict, margins

STATISTICS = tuple(p + s for p in ("", "double_", "cond_") for s in ("best", "ratio", "gap", "z")) + ("rel",)
SLOTS = (0.0, 0.5, 1.0)  # where a word goes: the start, the middle and the end of the probe
STRIDE = 6  # positions changed together in one ascent step: more than the widest window (5) apart
FLOOR = 0.01  # a ratio's denominator: shifts under 1 % of the firmest opposition are noise, not a scale


def substituted_logits(model, ids: torch.Tensor, owner: torch.Tensor, pos: torch.Tensor, tok: torch.Tensor,
                       batch_size: int) -> torch.Tensor:
    """Logits of ``ids[owner]`` with position ``pos`` set to ``tok`` (one per row): the model's
    one-edit path where it has one (text_cnn recomputes only the changed windows), else a forward."""
    out = []
    for a in range(0, len(owner), 16 * batch_size):
        o, p, t = (v[a: a + 16 * batch_size] for v in (owner, pos, tok))
        fast = getattr(model, "substitution_logits", None)
        r = fast(ids, o, p, t) if callable(fast) else None
        if r is None:
            x = ids[o].clone()
            x[torch.arange(len(o)), p] = t
            r = _predict(model, x, batch_size)
        out.append(r)
    return torch.cat(out)


def firm_probes(model, words: torch.Tensor, num_classes: int, per_class: int, length: int, steps: int,
                candidates: int, generator: torch.Generator, batch_size: int = 2048):
    """Per class c, ``per_class`` texts of ``length`` ids from ``words`` that the model holds as
    firmly as it can for c (module doc, step 1). Returns (ids, class of each row, margin of each row)."""
    table = model.embed(words[None])[0].detach()
    ids = words[torch.randint(len(words), (num_classes * per_class, length), generator=generator)]
    cls = torch.arange(num_classes).repeat_interleave(per_class)
    for step in range(steps):
        with torch.enable_grad():
            e = model.embed(ids).detach().requires_grad_(True)
            m = margins(model.forward_embeddings(e, token_mask(model, ids)), cls)
            (grad,) = torch.autograd.grad(m.sum(), e)
        at = torch.arange(step % STRIDE, length, STRIDE)
        cand = (grad[:, at] @ table.T).topk(min(candidates, len(words)), dim=2).indices  # N×|at|×C
        n, f, c = cand.shape
        owner = torch.arange(n).repeat_interleave(f * c)
        tok = words[cand.flatten()]
        new = margins(substituted_logits(model, ids, owner, at.repeat_interleave(c).repeat(n), tok, batch_size),
                      cls[owner]).view(n, f, c)
        best, arg = new.max(2)
        word = tok.view(n, f, c).gather(2, arg[..., None])[..., 0]
        ids[:, at] = torch.where(best > m.detach()[:, None], word, ids[:, at])
    return ids, cls, margins(_predict(model, ids, batch_size), cls)


@register_detector("firm_scan", domains=("token",))
class FirmScan(Detector):
    needs = "weights only"
    threshold = 3.494  # cond_ratio: the best balanced accuracy on the 102 design-zoo models (docs/results.md)

    def __init__(self, statistic: str = "cond_ratio", per_class: int = 16, length: int = 48, steps: int = 36,
                 candidates: int = 8, screen: int = 4, top: int = 64, context: int = 10,
                 batch_size: int = 2048) -> None:
        if statistic not in STATISTICS:
            raise ValueError(f"expected firm_scan statistic one of {', '.join(STATISTICS)}, got {statistic!r}")
        for name, v in (("per_class", per_class), ("length", length), ("steps", steps), ("candidates", candidates),
                        ("screen", screen), ("top", top), ("context", context), ("batch_size", batch_size)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"expected firm_scan {name} a positive int, got {v!r}")
        if screen > per_class or top < 10 or length < 2 * STRIDE:
            raise ValueError(f"expected firm_scan screen <= per_class, top >= 10 and length >= {2 * STRIDE}, "
                             f"got {screen}, {top} and {length}")
        self.statistic, self.per_class, self.length, self.steps = statistic, per_class, length, steps
        self.candidates, self.screen, self.top, self.batch_size = candidates, screen, top, batch_size
        self.context = context

    def _shift(self, model, rows: torch.Tensor, base: torch.Tensor, cand: torch.Tensor, t: int, ref: torch.Tensor,
               repeat: int = 1) -> torch.Tensor:
        """Shift towards t of each word of ``cand`` (``repeat`` times in a row) put at each slot of
        ``rows`` (whose margins are ``base``), over |``ref``| (the firm probes' own margins):
        len(cand)×slots×len(rows)."""
        n, L = rows.shape
        C, S = len(cand), len(SLOTS)
        if repeat == 1:
            pos = torch.tensor([min(int(f * (L - 1)), L - 1) for f in SLOTS])
            owner = torch.arange(n).repeat(C * S)
            m = margins(substituted_logits(model, rows, owner, pos.repeat_interleave(n).repeat(C),
                                           cand.repeat_interleave(n * S), self.batch_size), t)
        else:
            x = rows.repeat(C * S, 1).view(C, S, n, L).clone()
            for i, f in enumerate(SLOTS):
                a = min(int(f * (L - 1)), L - repeat)
                x[:, i, :, a: a + repeat] = cand[:, None, None]
            m = margins(_predict(model, x.view(-1, L), self.batch_size), t)
        return (m.double().view(C, S, n) - base.double()) / ref.double().abs().clamp_min(1e-6)

    def _detect(self, model, ctx):
        check_embedding_seam(model, "firm_scan")
        d, K = ctx.domain, ctx.num_classes
        words = torch.tensor([i for i in range(d.vocab_size) if i != d.pad_id])
        g = torch.Generator().manual_seed(int(ctx.seed))
        with torch.no_grad():
            ids, cls, firm = firm_probes(model, words, K, self.per_class, self.length, self.steps, self.candidates,
                                         g, self.batch_size)
            stats = {s: [0.0] * K for s in STATISTICS}
            best_word, best_shift, top_words = [-1] * K, [0.0] * K, []
            for t in range(K):
                rows = ids[cls != t]
                base = margins(_predict(model, rows, self.batch_size), t)
                keep = base < 0  # an ascent that ended on the other side is no opposition
                rows, base = rows[keep], base[keep]
                if not len(rows):
                    top_words.append([])
                    continue
                sc = self._shift(model, rows[: self.screen], base[: self.screen], words, t, base[: self.screen])
                cand = words[sc.median(2).values.amax(1).topk(min(self.top, len(words))).indices]
                one = self._shift(model, rows, base, cand, t, base).median(2).values.amax(1)
                two = self._shift(model, rows, base, cand, t, base, repeat=2).median(2).values.amax(1)
                # the gain of each candidate in probes that already hold the ``context`` strongest other words
                # (a natural word shares its filters with them and adds little; a trigger's are its own)
                order = one.argsort(descending=True)
                at = torch.tensor([p for p in range(3, rows.shape[1] - 3, 4) if abs(p - rows.shape[1] // 2) > 2])
                n_ctx = min(self.context, len(at), len(cand) - 1)
                cond = torch.zeros(len(cand), dtype=torch.float64)
                for i in range(len(cand)):
                    others = cand[order[order != i][:n_ctx]]
                    x = rows.clone()
                    x[:, at[:n_ctx]] = others
                    b2 = margins(_predict(model, x, self.batch_size), t)
                    cond[i] = self._shift(model, x, b2, cand[i: i + 1], t, base)[0].median(1).values.max()
                for name, v in (("", one), ("double_", two), ("cond_", cond)):
                    v = v.sort(descending=True).values
                    k = min(9, len(v) - 1)
                    rest = v[1:]
                    stats[name + "best"][t] = float(v[0])
                    stats[name + "ratio"][t] = float(v[0] / v[k].clamp_min(FLOOR))
                    stats[name + "gap"][t] = float(v[0] - v[k])
                    mad = (rest - rest.median()).abs().median().clamp_min(1e-6)
                    stats[name + "z"][t] = float((v[0] - rest.median()) / (1.4826 * mad))
                o = one.argsort(descending=True)
                best_word[t], best_shift[t] = int(cand[o[0]]), float(one[o[0]])
                top_words.append([[int(w), round(float(v), 4)] for w, v in zip(cand[o[:10]], one[o[:10]])])
            for t in range(K):
                other = max((best_shift[c] for c in range(K) if c != t), default=0.0)
                stats["rel"][t] = best_shift[t] / max(other, 1e-6)
        # the suspected target: the class whose best word overcomes the largest part of the firmest
        # opposition (a ratio alone is noisy for a class whose top words all barely move it)
        t = max(range(K), key=lambda c: stats["best"][c])
        return float(stats[self.statistic][t]), t, {**stats, "word_id": best_word, "top_words": top_words,
                               "probe_margin": [float(firm[cls == c].median()) for c in range(K)], "data_free": True}
