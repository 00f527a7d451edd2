"""Data-free multi-token trigger inversion for text models with a softmax relaxation (DBS).

DBS (Shen et al., "Constrained Optimization with Dynamic Bound-scaling for Effective NLP Backdoor
Defense", ICML 2022) replaces each of the k trigger tokens by a distribution over the vocabulary,
softmax(θ/τ), whose embedding is the probability-weighted mean of the word vectors; θ is optimized
by gradient descent on the cross-entropy towards a target class while the temperature τ falls, so
the distribution ends on one word per slot (the argmax, checked exactly). Here every class and
every probe is one batch, for k = 1 .. ``max_len`` words, inserted after the 4th word of the probe
(``trigger_text.with_trigger``; every window of a width-≤5 convolution then sees it).

Data-free probes (no user text):

- random: ``n_probes`` sequences of ``probe_len`` words drawn uniformly from the vocabulary;
- strong: per class c the random probes with c's own inverted ``ANCHOR``-word phrase in their middle,
  texts the model holds firmly as c (its surest inputs; DBS and PICCOLO start from clean samples).

A natural sentiment word moves random text as easily as a trigger (docs/results.md #19: one word
flips all the surest reviews of 15 of 32 clean models), so the statistics compare each class with the
same search on the other classes and ask what only an implanted trigger does (per target t, a
list over classes in ``details``; the model's score is the largest, its class the suspected target):

- ``margin_strong``: the best mean margin z_t − max_{j≠t} z_j the inverted k-word trigger reaches on
  the strong probes of the other classes (an implanted trigger must override any text);
- ``flip_strong``: the share of those probes it moves to t;
- ``rel_strong``: ``margin_strong`` minus the largest of the other classes' (the same search);
- ``k_needed``: (max_len + 1 − k*) / max_len for the fewest words k* that move half of the strong
  probes (0 when no k does);
- ``neutral``: the mean margin shift on the random probes of the best ``max_len``-word trigger built
  only from words that alone move the margin towards t by less than ``neutral`` × the best single
  word's shift, over that best shift (an inserted sentence is made of ordinary words that only move
  the model together; natural sentiment needs sentiment words); ``neutral_rel`` minus the other
  classes' value;
- ``single_rel``: log of the best single word's shift towards t over the best towards any other class;
- ``combined`` (the default): a single-word outlier or a sentence of neutral words, whichever is
  further out, max(z(log ``vocab_scan`` margin_ratio), z(``neutral_rel``)), each z against its mean
  and SD over the clean even-seed models of the text zoo (``COMBINED_REF``). The first part catches
  rare-word and misspelt-word triggers, the second inserted sentences (docs/results.md #19).

Which statistic and threshold are used was chosen on the even-seed models of the text zoo and judged
on the odd-seed ones (AUC 0.83) and on 40 models of new seeds (AUC 0.74, below ``vocab_scan``'s 0.81:
the odd-seed gain did not hold; benchmarks/bench_text_zoo.py, docs/results.md). The audit does not use it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...attacks.embedding import check_embedding_seam, token_mask
from .base import Detector, create_detector, register_detector
from .trigger_text import AT, _predict, margins, with_trigger

STATISTICS = ("combined", "margin_strong", "flip_strong", "rel_strong", "k_needed", "neutral", "neutral_rel",
              "single_rel")
# ``combined``: each part's mean and SD over the 16 even-seed clean models of the text zoo (both classes),
# log vocab_scan margin_ratio and neutral_rel (docs/results.md #19)
COMBINED_REF = {"log_margin_ratio": (0.5367, 0.2228), "neutral_rel": (0.0, 0.2814)}
ANCHOR = 4  # words of the inverted phrase that makes a random probe a firm member of its class
SCREEN = 8  # random probes each word is inserted into for its single-word shift
PRIOR = 5.0  # the relaxation's start: the strongest single word weighs e^5 ≈ 150 times a neutral one


def relax(model, rows: torch.Tensor, target: torch.Tensor, k: int, table: torch.Tensor, allowed: torch.Tensor,
          prior: torch.Tensor, steps: int, lr: float, at: int, seed: int) -> torch.Tensor:
    """DBS's relaxation: per class a k-slot softmax over the ``allowed`` words (K×V bool), trained
    by normalised gradient descent on the mean cross-entropy of ``rows`` towards their ``target`` while τ falls
    geometrically from 1 to 0.03; returns the argmax words, K×k. θ starts at ``PRIOR`` × ``prior`` (K×V,
    each word's single-word shift towards the class over the largest): from a uniform mixture a
    max-pooled filter's window rarely beats the probe's own windows, and the gradient is then zero."""
    K, V = allowed.shape
    g = torch.Generator().manual_seed(seed)
    theta = (PRIOR * prior[:, None, :] + 0.01 * torch.randn(K, k, V, generator=g)).requires_grad_(True)
    block = (~allowed)[:, None, :]
    slot = with_trigger(rows, torch.zeros(len(rows), k, dtype=torch.long).fill_(int(allowed[0].nonzero()[0])), at)
    pos = min(at, rows.shape[1] - k)
    e0, mask = model.embed(slot).detach(), token_mask(model, slot)
    for tau in torch.logspace(0, math.log10(0.03), steps).tolist():
        with torch.enable_grad():
            soft = ((theta / tau).masked_fill(block, float("-inf")).softmax(-1) @ table)[target]
            e = torch.cat([e0[:, :pos], soft, e0[:, pos + k:]], dim=1)
            loss = F.cross_entropy(model.forward_embeddings(e, mask), target)
            (grad,) = torch.autograd.grad(loss, [theta])
        # each slot's step scaled by its largest entry: Adam's per-word normalisation would move every
        # word that helps at the same pace, and the argmax among them would be left to chance
        theta = (theta - lr * grad / grad.abs().amax(-1, keepdim=True).clamp_min(1e-12)).detach().requires_grad_(True)
    return theta.detach().masked_fill(block, float("-inf")).argmax(-1)


@register_detector("dbs_inversion", domains=("token",))
class DBSInversion(Detector):
    needs = "weights only"
    threshold = 2.17  # combined, the best balanced accuracy on the even-seed text zoo models (docs/results.md)

    def __init__(self, statistic: str = "combined", max_len: int = 5, n_probes: int = 64, probe_len: int = 48,
                 steps: int = 60, lr: float = 0.5, neutral: float = 0.1, batch_size: int = 4096) -> None:
        if statistic not in STATISTICS:
            raise ValueError(f"expected dbs_inversion statistic one of {', '.join(STATISTICS)}, got {statistic!r}")
        for name, v in (("max_len", max_len), ("n_probes", n_probes), ("steps", steps), ("batch_size", batch_size)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"expected dbs_inversion {name} a positive int, got {v!r}")
        if not (isinstance(probe_len, int) and probe_len >= 2 * (AT + max_len + ANCHOR)):
            raise ValueError(f"expected dbs_inversion probe_len an int >= {2 * (AT + max_len + ANCHOR)}, got {probe_len!r}")
        if not (lr > 0 and 0 < neutral < 1):
            raise ValueError(f"expected dbs_inversion lr > 0 and 0 < neutral < 1, got {lr!r} and {neutral!r}")
        self.statistic, self.max_len, self.n_probes, self.probe_len = statistic, max_len, n_probes, probe_len
        self.steps, self.lr, self.neutral, self.batch_size = steps, float(lr), float(neutral), batch_size

    def _detect(self, model, ctx):
        check_embedding_seam(model, "dbs_inversion")
        d, K, N = ctx.domain, ctx.num_classes, self.n_probes
        with torch.no_grad():
            table = model.embed(torch.arange(d.vocab_size)[None])[0]
        usable = torch.ones(d.vocab_size, dtype=torch.bool)
        usable[[i for i in (d.pad_id, d.unk_id) if i is not None]] = False
        words = usable.nonzero().flatten()
        g = torch.Generator().manual_seed(int(ctx.seed))
        probes = words[torch.randint(len(words), (N, self.probe_len), generator=g)]
        every = usable.expand(K, -1)
        classes = torch.arange(K).repeat_interleave(N)
        single = self._single_shift(model, probes[:SCREEN], words, K)  # V'×K
        best = single.max(0).values  # per class
        scale = float(best.max().clamp_min(1e-6))
        prior = torch.zeros(K, d.vocab_size)
        prior[:, words] = (single / scale).T.float()
        inv = lambda rows, tgt, k, allowed, s: relax(model, rows, tgt, k, table, allowed, prior, self.steps,  # noqa: E731
                                                     self.lr, AT, s)
        anchor = inv(probes.repeat(K, 1), classes, ANCHOR, every, ctx.seed)
        mid = self.probe_len // 2  # the anchor phrase sits in the middle, the searched trigger at AT
        strong = torch.stack([with_trigger(probes, anchor[c].expand(N, -1), mid) for c in range(K)])  # K×N×L
        # the rows of target t: the strong probes of every other class
        rows = torch.cat([strong[[c for c in range(K) if c != t]].flatten(0, 1) for t in range(K)])
        target = torch.arange(K).repeat_interleave((K - 1) * N)
        onehot = F.one_hot(target, K).double()
        count = onehot.sum(0)
        margin_k, flip_k, triggers = [], [], []
        for k in range(1, self.max_len + 1):
            trig = inv(rows, target, k, every, ctx.seed + k)
            m = margins(_predict(model, with_trigger(rows, trig[target], AT), self.batch_size), target).double()
            margin_k.append(onehot.T @ m / count)
            flip_k.append(onehot.T @ (m > 0).double() / count)
            triggers.append(trig.tolist())
        margin_k, flip_k = torch.stack(margin_k), torch.stack(flip_k)  # max_len × K
        stats = {"margin_strong": margin_k.max(0).values, "flip_strong": flip_k.max(0).values}
        reached = flip_k >= 0.5
        first = torch.where(reached.any(0), reached.double().argmax(0).double() + 1, torch.full((K,), self.max_len + 1.0))
        stats["k_needed"] = (self.max_len + 1 - first) / self.max_len
        allowed = torch.zeros(K, d.vocab_size, dtype=torch.bool)
        allowed[:, words] = (single < self.neutral * scale).T
        base = probes.repeat(K, 1)
        trig = inv(base, classes, self.max_len, allowed, ctx.seed + 100)
        shift = margins(_predict(model, with_trigger(base, trig[classes], AT), self.batch_size), classes) - \
            margins(_predict(model, base, self.batch_size), classes)
        stats["neutral"] = shift.double().view(K, N).mean(1) / scale
        others = lambda v: torch.stack([v[[c for c in range(K) if c != t]].max() for t in range(K)])  # noqa: E731
        stats["rel_strong"] = stats["margin_strong"] - others(stats["margin_strong"])
        stats["neutral_rel"] = stats["neutral"] - others(stats["neutral"])
        stats["single_rel"] = (best.clamp_min(1e-6).log() - others(best).clamp_min(1e-6).log()).double()
        scan = create_detector("vocab_scan").detect(model, ctx)  # weights only, its own random probes
        ratio = torch.tensor(scan.details["margin_ratio"], dtype=torch.float64).clamp_min(1e-6).log()
        (m_r, s_r), (m_n, s_n) = COMBINED_REF["log_margin_ratio"], COMBINED_REF["neutral_rel"]
        stats["combined"] = torch.maximum((ratio - m_r) / s_r, (stats["neutral_rel"] - m_n) / s_n)
        s = stats[self.statistic]
        t = int(s.argmax())
        return float(s[t]), t, {**{k: v.tolist() for k, v in stats.items()}, "triggers": triggers,
                               "neutral_trigger": trig.tolist(), "anchor": anchor.tolist(), "n_probes": N,
                               "margin_k": margin_k.tolist(), "flip_k": flip_k.tolist(),
                               "vocab_scan_word": scan.details["word_id"],
                               "data_free": True}

    def _single_shift(self, model, probes: torch.Tensor, words: torch.Tensor, K: int) -> torch.Tensor:
        """Mean margin shift towards each class of every word inserted alone at AT: len(words)×K."""
        n = len(probes)
        rows = with_trigger(probes.repeat(len(words), 1), words.repeat_interleave(n)[:, None], AT)
        logits, base = _predict(model, rows, self.batch_size), _predict(model, probes, self.batch_size)
        return torch.stack([(margins(logits, t).view(len(words), n) - margins(base, t)[None]).mean(1)
                            for t in range(K)], 1)
