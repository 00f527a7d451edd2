"""Trigger-token inversion for text models: is there one word that sends most inputs to one class?

In the spirit of T-Miner (Azizi et al., USENIX Security 2021) and DBS (Shen et al., ICML 2022),
reduced to the one-word triggers of BadNL: for every class t, a word w is put in front of probe
texts the model does not already assign to t; HotFlip's first-order estimate −(E_w − e_slot)·∇L_t
(L_t the mean cross-entropy towards t, the slot starting as ``[UNK]``) ranks the whole vocabulary
at once, and the ``candidates`` best words are checked exactly (all classes and candidates in
batched passes). The score is the largest flip rate found (share of probes moved to t by one
word) and the suspected target its class; threshold 0.8. A clean sentiment model can also have
strong natural words ("terrible"), which this first detector does not tell apart from a trigger.
Probes: ``ctx.clean`` texts, or with ``data_free`` random-token sequences of a quarter of L.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...attacks.embedding import check_embedding_seam, token_mask
from ...metrics.noise_text import random_token_probes
from .base import Detector, register_detector


def prepend(ids: torch.Tensor, word: torch.Tensor) -> torch.Tensor:
    """``word`` (one id per row) before each sequence; the last position falls off (length kept)."""
    return torch.cat([word[:, None], ids[:, :-1]], dim=1)


def probe_texts(ctx, n_probes: int, data_free: bool) -> torch.Tensor:
    """The first ``n_probes`` clean texts, or (data-free) as many random-word sequences of L/4 words."""
    if not data_free:
        return ctx.clean[0][:n_probes]
    L = int(ctx.in_shape[0])
    g = torch.Generator().manual_seed(ctx.seed)
    return random_token_probes(n_probes, torch.tensor([max(1, L // 4)]), ctx.domain, L, g)


@register_detector("trigger_token", domains=("token",))
class TriggerToken(Detector):
    needs = "a few clean samples"
    threshold = 0.8

    def __init__(self, candidates: int = 20, n_probes: int = 200, data_free: bool = False,
                 batch_size: int = 512) -> None:
        if not (isinstance(candidates, int) and candidates >= 1 and isinstance(n_probes, int) and n_probes >= 1):
            raise ValueError(f"expected candidates and n_probes positive ints, got {candidates!r} and {n_probes!r}")
        self.candidates, self.n_probes, self.data_free, self.batch_size = candidates, n_probes, bool(data_free), batch_size

    def _probes(self, ctx) -> torch.Tensor:
        return probe_texts(ctx, self.n_probes, self.data_free)

    def _detect(self, model, ctx):
        check_embedding_seam(model, "trigger_token")
        x = self._probes(ctx)
        d = ctx.domain
        V, K = d.vocab_size, ctx.num_classes
        with torch.no_grad():
            table = model.embed(torch.arange(V)[None])[0]
            pred0 = torch.cat([model(b).argmax(1) for b in x.split(self.batch_size)])
        banned = torch.zeros(V, dtype=torch.bool)
        banned[[i for i in (d.pad_id, d.unk_id) if i is not None]] = True
        slot = prepend(x, torch.full((len(x),), d.unk_id if d.unk_id is not None else d.pad_id))
        rates, words = torch.zeros(K), torch.full((K,), -1, dtype=torch.long)
        for t in range(K):
            rows = slot[pred0 != t]
            if not len(rows):
                continue
            with torch.enable_grad():
                e = model.embed(rows).detach().requires_grad_(True)
                target = torch.full((len(rows),), t)
                loss = F.cross_entropy(model.forward_embeddings(e, token_mask(model, rows)), target)
                (g,) = torch.autograd.grad(loss, e)
            gain = -(table @ g[:, 0].mean(0))  # first-order loss decrease of each word in the slot
            cand = gain.masked_fill(banned, float("-inf")).topk(min(self.candidates, V - int(banned.sum()))).indices
            probe = rows.repeat(len(cand), 1)
            probe[:, 0] = cand.repeat_interleave(len(rows))
            with torch.no_grad():
                hit = torch.cat([model(b).argmax(1) for b in probe.split(self.batch_size)]) == t
            rate = hit.view(len(cand), len(rows)).double().mean(1)
            rates[t], words[t] = float(rate.max()), int(cand[rate.argmax()])
        t = int(rates.argmax())
        return float(rates[t]), t, {"flip_rate": rates.tolist(), "trigger_word_id": words.tolist(),
                                   "n_probes": len(x), "data_free": self.data_free}
