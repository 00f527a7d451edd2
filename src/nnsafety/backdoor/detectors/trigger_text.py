"""Multi-token trigger inversion for text models: is there a short word sequence that sends almost
every input to one class?

Gradient-guided discrete search as in the universal adversarial triggers of Wallace et al. (EMNLP
2019), used for backdoor scanning as in T-Miner (Azizi et al., USENIX Security 2021) and DBS (Shen
et al., ICML 2022): for every class t a trigger of ``length`` slots (starting as ``[UNK]``) is
inserted into the probe texts the model does not assign to t, at their start and after their 4th word
(``POSITIONS``; each class keeps the better). Each round, for each slot, HotFlip's
first-order estimate −(E_w − e_slot)·ḡ_t (ḡ_t the mean gradient of the cross-entropy towards t at
that slot) ranks the whole vocabulary; the ``candidates`` best words are tried exactly and the one
with the lowest loss is kept. All classes are searched together: one forward/backward over the
probe rows of every class per slot, then one batched pass over each class's candidates.

Score (``score``): per class the flip rate (share of probes moved to t by the final trigger), the
mean p(t), or the flip rate on the half of the probes the model is surest of; the model's score is
the largest over classes and the suspected target its class. ``[UNK]`` is an allowed word, because
a misspelt word reaches the model as ``[UNK]`` (BadNL's character trigger). Natural words move texts
too ("awful" towards a negative class; two of them move almost every review of a small model), so
the threshold and the trigger length are chosen on clean and backdoored models of a text zoo
(docs/results.md). Data-free: random word sequences plus, per class, the same sequences behind an
inverted ``PREFIX``-word prefix that sends them to that class.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...attacks.embedding import check_embedding_seam, token_mask
from .base import Detector, register_detector
from .trigger_token import probe_texts


AT = 4  # the trigger goes after the 4th word: every offset of a width-≤5 convolution window then sees it
POSITIONS = (0, AT)  # searched separately; a trigger learnt at the start ("cf cf" of m0001) fires only there


def with_trigger(ids: torch.Tensor, trigger: torch.Tensor, at: int = AT) -> torch.Tensor:
    """Each row's ``trigger`` (n×k ids) inserted before position ``at`` (after the first ``at`` tokens;
    the last k positions fall off, so the length is kept). At position 0 a text CNN sees the word only
    at the first offset of its windows, and a trigger learnt at random positions barely fires there
    ("tq" of zoo model m0005: 10 % of reviews moved when prepended, 80 % when appended)."""
    k, L = trigger.shape[1], ids.shape[1]
    at = min(int(at), L - k)
    return torch.cat([ids[:, :at], trigger, ids[:, at: L - k]], dim=1)


def _predict(model, ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(b) for b in ids.split(batch_size)]) if len(ids) else torch.zeros(0, 1)


def margins(logits: torch.Tensor, target) -> torch.Tensor:
    """z_t − max_{j≠t} z_j per row, t an int for every row or one per row (positive: the model says t)."""
    t = torch.as_tensor(target, device=logits.device).expand(len(logits))[:, None]
    return logits.gather(1, t)[:, 0] - logits.scatter(1, t, float("-inf")).max(1).values


# flip_rate: share of probes moved to t; target_prob: their mean p(t); hard_flip_rate: the flip rate
# on the half of each class's probes the model is surest of (a natural word rarely moves those)
SCORES = ("flip_rate", "target_prob", "hard_flip_rate")
PREFIX = 4  # data-free: words of the inverted class prefix that turns random text into class-c probes


@register_detector("trigger_inversion", domains=("token",))
class TriggerInversion(Detector):
    needs = "a few clean samples"
    threshold = 0.95

    def __init__(self, length: int = 2, candidates: int = 10, rounds: int = 2, n_probes: int = 100,
                 data_free: bool = False, score: str = "flip_rate", batch_size: int = 1024) -> None:
        if score not in SCORES:
            raise ValueError(f"expected trigger_inversion score one of {', '.join(SCORES)}, got {score!r}")
        self.score = score
        for name, v in (("length", length), ("candidates", candidates), ("rounds", rounds), ("n_probes", n_probes)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"expected trigger_inversion {name} a positive int, got {v!r}")
        self.length, self.candidates, self.rounds, self.n_probes = length, candidates, rounds, n_probes
        self.data_free, self.batch_size = bool(data_free), int(batch_size)

    def _search(self, model, d, rows: torch.Tensor, target: torch.Tensor, K: int, length: int,
                at: int = AT) -> torch.Tensor:
        """The K×``length`` trigger that moves each class's block of ``rows`` to its class (module doc)."""
        with torch.no_grad():
            table = model.embed(torch.arange(d.vocab_size)[None])[0]
        banned = torch.zeros(d.vocab_size, dtype=torch.bool)
        banned[d.pad_id] = True
        start = d.unk_id if d.unk_id is not None else int((~banned).nonzero()[0])
        trig = torch.full((K, length), start, dtype=torch.long)
        onehot = F.one_hot(target, K).double()
        count = onehot.sum(0).clamp_min(1)
        for _ in range(self.rounds):
            for slot in range(length):
                ids = with_trigger(rows, trig[target], at)
                with torch.enable_grad():
                    e = model.embed(ids).detach().requires_grad_(True)
                    loss = F.cross_entropy(model.forward_embeddings(e, token_mask(model, ids)), target, reduction="sum")
                    (g,) = torch.autograd.grad(loss, e)
                pos = min(at, ids.shape[1] - length) + slot
                g_t = (onehot.T @ g[:, pos].double()) / count[:, None]  # K×E: mean gradient per class
                gain = -(g_t @ table.double().T)  # K×V, the first-order loss decrease (up to a per-class constant)
                cand = gain.masked_fill(banned, float("-inf")).topk(self.candidates, dim=1).indices  # K×C
                trig = self._best(model, rows, target, trig, slot, cand, at)
        return trig

    def _probe_set(self, model, ctx) -> torch.Tensor:
        """Clean probes; data-free: random word sequences, each also given a ``PREFIX``-word inverted
        prefix per class, so every class has probes the model assigns to it (random text alone often
        all falls into one class, which leaves no probe to move there)."""
        x = probe_texts(ctx, self.n_probes, self.data_free)
        if not self.data_free:
            return x
        K = ctx.num_classes
        target = torch.arange(K).repeat_interleave(len(x))
        pref = self._search(model, ctx.domain, x.repeat(K, 1), target, K, PREFIX)
        return torch.cat([x] + [with_trigger(x, pref[c].expand(len(x), -1)) for c in range(K)])

    def _detect(self, model, ctx):
        check_embedding_seam(model, "trigger_inversion")
        d, K = ctx.domain, ctx.num_classes
        x = self._probe_set(model, ctx)
        pred0 = _predict(model, x, self.batch_size).argmax(1)
        # one block of rows per class: the probes not already predicted as that class
        blocks = [x[pred0 != t] for t in range(K)]
        rows = torch.cat(blocks)
        target = torch.cat([torch.full((len(b),), t) for t, b in enumerate(blocks)])
        if not len(rows):
            return 0.0, None, {"flip_rate": [0.0] * K, "trigger_ids": [[] for _ in range(K)], "n_probes": len(x)}
        onehot = F.one_hot(target, K).double()
        count = onehot.sum(0).clamp_min(1)
        # the hard probes: the half of each class's rows its clean prediction is most sure of
        sure = _predict(model, rows, self.batch_size).softmax(1).max(1).values
        hard = torch.zeros(len(rows), dtype=torch.bool)
        for t in range(K):
            i = (target == t).nonzero().flatten()
            if len(i):
                hard[i[sure[i] >= sure[i].median()]] = True
        seen = onehot.sum(0) > 0
        best = None
        for at in POSITIONS:  # each class keeps the position where its trigger scores higher
            trig = self._search(model, d, rows, target, K, self.length, at)
            prob = _predict(model, with_trigger(rows, trig[target], at), self.batch_size).softmax(1)
            p_t = prob.gather(1, target[:, None])[:, 0].double()
            hit = (prob.argmax(1) == target).double()
            stats = {"flip_rate": (onehot.T @ hit) / count, "target_prob": (onehot.T @ p_t) / count,
                     "hard_flip_rate": (onehot.T @ (hit * hard)) / (onehot.T @ hard.double()).clamp_min(1)}
            stats = {k: torch.where(seen, v, torch.zeros_like(v)) for k, v in stats.items()}
            stats["position"], stats["trigger_ids"] = torch.full((K,), at), trig
            if best is None:
                best = stats
            else:
                better = stats[self.score] > best[self.score]
                best = {k: torch.where(better.view(-1, *[1] * (v.dim() - 1)), v, best[k]) for k, v in stats.items()}
        rates = best[self.score]
        t = int(rates.argmax())
        return float(rates[t]), t, {**{k: v.tolist() for k, v in best.items()},
                                   "n_probes": len(x), "data_free": self.data_free, "length": self.length}

    def _best(self, model, rows, target, trig, slot, cand, at: int) -> torch.Tensor:
        """Try every candidate of every class at ``slot`` (one batched pass); keep each class's lowest loss."""
        K, C = cand.shape
        new = trig.clone()
        for t in range(K):
            r = rows[target == t]
            if not len(r):
                continue
            tries = trig[t].repeat(C, 1)
            tries[:, slot] = cand[t]
            probe = with_trigger(r.repeat(C, 1), tries.repeat_interleave(len(r), 0), at)
            logits = _predict(model, probe, self.batch_size)
            loss = F.cross_entropy(logits, torch.full((len(probe),), t), reduction="none").view(C, len(r)).mean(1)
            new[t, slot] = cand[t, int(loss.argmin())]
        return new
