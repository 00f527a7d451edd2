"""Whole-vocabulary word scan for text backdoors: does one word stand out from every other word?

A small sentiment model is moved by natural words too ("awful" sends many reviews to the negative
class), so a high flip rate alone does not mark a trigger (docs/results.md, #19: the best natural
word moves 54–92 % of a clean text_cnn's reviews). What a trigger adds is that it is an *outlier
among the words*: it must override any review, so it moves texts the model holds surely, and far
more of them than the next-best word. The scan measures every word exactly:

1. probes: data-free, ``n_random`` random word sequences of ``length`` tokens (uniform over the
   vocabulary); with clean samples, the first 64 tokens of the clean texts. Per class c the ``per_class`` probes the model
   assigns to c with the highest p(c) (the texts that "already strongly hold" c).
2. screen: every word w, inserted after the 4th token (``trigger_text.with_trigger``; every window
   of a width-≤5 convolution then sees it), into ``screen`` probes of every other class; mean p(t)
   per word and target t. One batched pass over V×screen×(K−1) rows.
3. exact: the ``top`` words per target by that screen, flip rate f over all other-class probes.

Statistics per target t (``STATISTICS``; f₁ ≥ f₂ ≥ … the exact flip rates of its top words):
``best_flip`` f₁; ``gap`` f₁ − f₁₀ (how far the best word is ahead of the tenth); ``z_top``
(f₁ − median f₂..f_top) / (1.4826·MAD + 0.01), the MAD anomaly of the best word among the strongest
words; ``margin_z`` and ``margin_ratio`` the same for the mean margin shift (z_t − max_{j≠t} z_j), the
latter as best / tenth best; ``log_rank`` log₁₀ of the id of the word with the largest shift, a
rare-token prior (a word-level vocabulary numbers words by decreasing training count, so a
trigger seen only in the poisoned texts has a large id and "great" a small one). The model's score is the largest over targets, its suspected target that class. Which
statistic and threshold are used was chosen on the even-seed models of the text zoo and judged on
the odd-seed ones (benchmarks/bench_text_zoo.py, docs/results.md).
"""
from __future__ import annotations

import torch

from .base import Detector, register_detector
from .trigger_text import AT, _predict, margins, with_trigger

STATISTICS = ("best_flip", "gap", "z_top", "margin_z", "margin_ratio", "log_rank")


@register_detector("vocab_scan", domains=("token",))
class VocabScan(Detector):
    needs = "weights only"
    threshold = 2.37  # margin_ratio, chosen on the even-seed models of the text zoo (docs/results.md)

    def __init__(self, statistic: str = "margin_ratio", n_random: int = 512, length: int = 32, per_class: int = 32,
                 screen: int = 4, top: int = 64, data_free: bool = True, batch_size: int = 2048) -> None:
        if statistic not in STATISTICS:
            raise ValueError(f"expected vocab_scan statistic one of {', '.join(STATISTICS)}, got {statistic!r}")
        for name, v in (("n_random", n_random), ("length", length), ("per_class", per_class), ("screen", screen),
                        ("top", top)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"expected vocab_scan {name} a positive int, got {v!r}")
        if screen > per_class or top < 10:
            raise ValueError(f"expected screen <= per_class and top >= 10, got {screen} and {top}")
        self.statistic, self.n_random, self.length, self.per_class = statistic, n_random, length, per_class
        self.screen, self.top, self.data_free, self.batch_size = screen, top, bool(data_free), batch_size
        if not self.data_free:
            self.needs = "a few clean samples"

    def _pool(self, ctx, words: torch.Tensor) -> torch.Tensor:
        if self.data_free or ctx.clean is None:
            g = torch.Generator().manual_seed(int(ctx.seed))
            return words[torch.randint(len(words), (self.n_random, self.length), generator=g)]
        return ctx.clean[0][:, : max(self.length, 64)]  # the first 64 tokens: the scan's cost grows with length

    def _detect(self, model, ctx):
        d, K = ctx.domain, ctx.num_classes
        banned = torch.zeros(d.vocab_size, dtype=torch.bool)
        banned[[i for i in (d.pad_id, d.unk_id) if i is not None]] = True
        words = (~banned).nonzero().flatten()
        pool = self._pool(ctx, words)
        logits0 = _predict(model, pool, self.batch_size)
        stats = {s: [0.0] * K for s in STATISTICS}
        best_word = [-1] * K
        for t in range(K):
            m0 = margins(logits0, t)
            keep = m0.argsort()[: self.per_class]  # the probes held most surely against t
            rows, base = pool[keep], m0[keep]
            sc = rows[: self.screen]
            trig = words.repeat_interleave(len(sc))[:, None]
            gain = margins(_predict(model, with_trigger(sc.repeat(len(words), 1), trig, AT), self.batch_size), t)
            gain = (gain.view(len(words), len(sc)) - base[: self.screen]).mean(1)
            cand = words[gain.topk(min(self.top, len(words))).indices]
            trig = cand.repeat_interleave(len(rows))[:, None]
            m = margins(_predict(model, with_trigger(rows.repeat(len(cand), 1), trig, AT), self.batch_size), t)
            m = m.view(len(cand), len(rows)).double()
            f, order = (m > 0).double().mean(1).sort(descending=True, stable=True)
            shift, by_shift = (m - base.double()).mean(1).sort(descending=True)
            rest = f[1:]
            stats["best_flip"][t] = float(f[0])
            stats["gap"][t] = float(f[0] - f[min(9, len(f) - 1)])
            stats["z_top"][t] = float((f[0] - rest.median()) / (1.4826 * (rest - rest.median()).abs().median() + 0.01))
            srest = shift[1:]
            smad = (srest - srest.median()).abs().median()
            stats["margin_z"][t] = float((shift[0] - srest.median()) / (1.4826 * smad + 1e-6))
            stats["margin_ratio"][t] = float(shift[0] / shift[min(9, len(shift) - 1)].clamp_min(1e-6))
            stats["log_rank"][t] = float(torch.tensor(float(cand[by_shift[0]])).log10())
            best_word[t] = int(cand[order[0]])
        s = stats[self.statistic]
        t = max(range(K), key=lambda c: s[c])
        return float(s[t]), t, {**stats, "word_id": best_word, "data_free": self.data_free, "n_probes": len(pool)}
