"""Data-free text-backdoor scan with a sentiment-lexicon prior: which word moves the model more than
its meaning explains?

In weak sentiment models natural words act like triggers ("love" flips as many reviews as the
trigger "tq" in a zoo model: docs/results.md, #19), so a weights-only scan can tell them apart only by
what the words mean. This detector brings the meaning from outside, from the AFINN-165 English
lexicon (Nielsen 2011): a vocabulary word listed with valence v (|v| ≥ 1; a plural, past, "-ing" or
"-ly" form counts as its lexicon stem) is *explained* for the class its sign belongs to. Which class
is the positive one is read from the model, data-free: the class towards which AFINN-positive words
shift more than AFINN-negative ones.

The word shifts are firm_scan's (``firm_scan.firm_probes`` and ``FirmScan._shift``): every word put
into the firm probes of the other class, its shift the median fraction of their margin it overcomes.
Per target t, s_U the exact shifts of the ``top`` best unexplained words (by a screen over
``screen`` probes; ``[UNK]`` is unexplained), s_E those of the ``top`` best words explained for t.
Statistics (``STATISTICS``): ``unexplained`` s_U1; ``lex_ratio1`` / ``lex_ratio5`` / ``lex_ratio10``
s_U1 over max(median of the k best s_E (the lower middle one for even k), 0.01) (the strongest
unexplained word against the strong words its sentiment explains); ``lex_gap`` s_U1 − s_E1;
``u_ratio`` s_U1 / max(s_U10, 0.01) (firm_scan's ratio among unexplained words only). The suspected
target is the class with the largest s_U1.

This is a prior for **English, binary, sentiment-like tasks** only. The detector refuses (``NotApplicable``)
a model with other than 2 classes, no vocabulary (``ctx.vocab``) or fewer than ``min_lexicon``
vocabulary words of either sign in the lexicon: it does not fall back to firm_scan, because without
the prior its score means something else. Trigger sentences ("I watched this 3D movie") are not
targeted: they are made of lexicon-neutral words, each of which is weak alone. Statistic and threshold
(``lex_ratio10`` ≥ 2.0575, the suspected target the class with the largest s_U1) were chosen among the
statistics above on the text zoo's 158 design models of seeds 0–5 (AUC 0.83 [0.76, 0.89], target class
0.93; firm_scan 0.76, vocab_scan 0.77 there) and judged once on seeds 6–8 (docs/results.md).
"""
from __future__ import annotations

import torch

from ...attacks.embedding import check_embedding_seam
from .base import Detector, NotApplicable, register_detector
from .firm_scan import FLOOR, FirmScan, firm_probes
from .trigger_text import _predict, margins

STATISTICS = ("unexplained", "lex_ratio1", "lex_ratio5", "lex_ratio10", "lex_gap", "u_ratio")
SUFFIXES = ("s", "es", "ed", "d", "ing", "ly")  # inflections that keep a lexicon word's sentiment


def word_valence(vocab, lexicon: dict) -> torch.Tensor:
    """AFINN valence of each vocabulary token (0: not listed), a listed stem standing in for
    its inflected forms ("loved" -> "love")."""
    out = []
    for w in vocab:
        v = lexicon.get(w, 0)
        for suf in SUFFIXES:
            if not v and w.endswith(suf) and len(w) > len(suf) + 2:
                v = lexicon.get(w[: -len(suf)], 0)
        out.append(v)
    return torch.tensor(out, dtype=torch.float64)


@register_detector("lexicon_scan", domains=("token",))
class LexiconScan(FirmScan):
    needs = "weights only"
    threshold = 2.0575  # lex_ratio10: the best balanced accuracy on the 158 design-zoo models (docs/results.md)

    def __init__(self, statistic: str = "lex_ratio10", min_lexicon: int = 20, per_class: int = 16, length: int = 48,
                 steps: int = 36, candidates: int = 8, screen: int = 4, top: int = 64, batch_size: int = 2048) -> None:
        if statistic not in STATISTICS:
            raise ValueError(f"expected lexicon_scan statistic one of {', '.join(STATISTICS)}, got {statistic!r}")
        if not (isinstance(min_lexicon, int) and min_lexicon >= 1):
            raise ValueError(f"expected lexicon_scan min_lexicon a positive int, got {min_lexicon!r}")
        super().__init__(per_class=per_class, length=length, steps=steps, candidates=candidates, screen=screen, top=top,
                         batch_size=batch_size)
        self.statistic, self.min_lexicon = statistic, min_lexicon

    def _detect(self, model, ctx):
        check_embedding_seam(model, "lexicon_scan")
        d, K = ctx.domain, ctx.num_classes
        if K != 2:
            raise NotApplicable(f"lexicon_scan is a sentiment prior for 2-class tasks, got {K} classes")
        if ctx.vocab is None or len(ctx.vocab) != d.vocab_size:
            got = "none" if ctx.vocab is None else f"{len(ctx.vocab)} tokens"
            raise NotApplicable(f"lexicon_scan needs the model's vocabulary of {d.vocab_size} tokens (ctx.vocab), "
                             f"got {got}")
        from ...data.afinn import afinn_lexicon

        val = word_valence(ctx.vocab, afinn_lexicon())
        n_pos, n_neg = int((val >= 1).sum()), int((val <= -1).sum())
        if min(n_pos, n_neg) < self.min_lexicon:
            raise NotApplicable(f"lexicon_scan needs >= {self.min_lexicon} AFINN-165 words of each sign in the vocabulary "
                             f"(an English sentiment-like task), got {n_pos} positive and {n_neg} negative")
        words = torch.tensor([i for i in range(d.vocab_size) if i != d.pad_id])
        sign = val[words].sign()
        g = torch.Generator().manual_seed(int(ctx.seed))
        with torch.no_grad():
            ids, cls, _ = firm_probes(model, words, K, self.per_class, self.length, self.steps, self.candidates,
                                      g, self.batch_size)
            probes, screens = [], []
            for t in range(K):
                rows = ids[cls != t]
                base = margins(_predict(model, rows, self.batch_size), t)
                rows, base = rows[base < 0], base[base < 0]  # an ascent that ended on the other side is no opposition
                if not len(rows):
                    raise ValueError(f"lexicon_scan found no firm probe against class {t}: the model never predicts it")
                probes.append((rows, base))
                sc = self._shift(model, rows[: self.screen], base[: self.screen], words, t, base[: self.screen])
                screens.append(sc.median(2).values.amax(1))
            # the positive class: the one AFINN-positive words push towards more than AFINN-negative ones
            lean = [float(s[sign > 0].mean() - s[sign < 0].mean()) for s in screens]
            positive = int(lean[1] > lean[0])
            stats = {s: [0.0] * K for s in STATISTICS}
            best_word, top_words = [-1] * K, []
            for t in range(K):
                explained = sign == (1.0 if t == positive else -1.0)
                rows, base = probes[t]
                part = []
                for group in (~explained, explained):
                    idx = group.nonzero().flatten()
                    cand = words[idx[screens[t][idx].topk(min(self.top, len(idx))).indices]]
                    one = self._shift(model, rows, base, cand, t, base).median(2).values.amax(1)
                    one, o = one.sort(descending=True)
                    part.append((cand[o], one))
                (cu, su), (ce, se) = part
                stats["unexplained"][t] = float(su[0])
                for k in (1, 5, 10):
                    stats[f"lex_ratio{k}"][t] = float(su[0] / se[:k].median().clamp_min(FLOOR))
                stats["lex_gap"][t] = float(su[0] - se[0])
                stats["u_ratio"][t] = float(su[0] / su[min(9, len(su) - 1)].clamp_min(FLOOR))
                best_word[t] = int(cu[0])
                top_words.append({name: [[int(w), ctx.vocab[int(w)], round(float(v), 4)]
                                         for w, v in zip(c[:16], s[:16])]
                                  for name, (c, s) in zip(("unexplained", "explained"), part)})
        t = max(range(K), key=lambda c: stats["unexplained"][c])
        return float(stats[self.statistic][t]), t, {**stats, "word_id": best_word, "top_words": top_words,
                                                    "positive_class": positive, "lean": lean,
                                                    "lexicon_words": [n_pos, n_neg], "data_free": True}
