"""Kim (2014)'s CNN for sentence classification, and a BiLSTM with attention pooling."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .base import register_model
from .text import Dropout, TextClassifier, check_text_shape, make_embedding, nonempty, vector_width


class ConvMaxPool(nn.Module):
    """Parallel 1-D convolutions (one per width) + ReLU + max over time, concatenated.

    Windows starting on padding are left out of the max (a window may run into the padding, as in
    Kim's zero-padded sentences), and the sequence is cut after the batch's last real token; both
    make a text's logits independent of the batch it is in and of ``max_len``.
    """

    def __init__(self, embed_dim: int, widths: Sequence[int], maps: int) -> None:
        super().__init__()
        self.widths = [int(w) for w in widths]
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, maps, w) for w in self.widths)

    def forward(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = nonempty(mask)
        last = int(mask.any(dim=0).nonzero().max()) + 1
        # every window that starts on a real token gets its full width: zeros after the cut
        tail = max(self.widths) - 1
        x = nn.functional.pad(e[:, :last], (0, 0, 0, tail)).transpose(1, 2)
        starts = nn.functional.pad(mask[:, :last], (0, tail)).unsqueeze(1)
        pooled = []
        for conv in self.convs:
            z = torch.relu(conv(x))  # N×maps×(last + tail − w + 1), at least `last` starts
            pooled.append(z.masked_fill(~starts[:, :, : z.shape[2]], float("-inf")).amax(dim=2))
        return torch.cat(pooled, dim=1)

    @torch.no_grad()
    def substituted(self, e: torch.Tensor, mask: torch.Tensor, owner: torch.Tensor, pos: torch.Tensor,
                    e_new: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """``forward`` of the sequences ``e[owner]`` with position ``pos`` set to ``e_new`` (one
        substitution each, at a real token), N×(widths·maps), without recomputing what it leaves alone.

        A substitution at p changes only the windows starting in [p − w + 1, p]: their pre-activations
        are the base's plus W[:, :, p − t] · (e_new − e_p) (the conv is linear). Equal to ``forward``
        up to float rounding (the sums are taken in another order):
        tests/models/test_text_cnn_substitution.py bounds it by 1e-4 on the logits.
        """
        def changed(conv, w, x, z, starts, o, p, rows):
            T = z.shape[2]
            taps = conv.weight.permute(1, 0, 2).reshape(conv.weight.shape[1], -1)  # E×(maps·w)
            delta = ((e_new[rows] - x[o, p]) @ taps).view(len(o), -1, w)  # tap j changes the window at t = p − j
            t = p[:, None] - torch.arange(w)  # n×w
            tc = t.clamp(0, T - 1)
            ok = (t >= 0) & (t < T) & starts[o[:, None], tc]
            zt = z[o[:, None], :, tc].permute(0, 2, 1)  # n×maps×w
            return torch.relu(zt + delta).masked_fill(~ok[:, None, :], float("-inf")).amax(2)

        return self._one_edit(e, mask, owner, pos, changed, chunk)

    @torch.no_grad()
    def deleted(self, e: torch.Tensor, mask: torch.Tensor, owner: torch.Tensor, pos: torch.Tensor,
                chunk: int = 4096) -> torch.Tensor:
        """``forward`` of the sequences ``e[owner]`` with the real token at ``pos`` deleted (the rest
        moves up one, padding fills the end; each text keeps at least one word), N×(widths·maps).

        Windows ending before the gap are the base's, windows starting after it are the base's one
        further on, and only the w − 1 windows across the gap are recomputed. Equal to ``forward`` on
        the shortened texts up to float rounding (tested within 1e-4).
        """
        def changed(conv, w, x, z, starts, o, p, rows):
            if w == 1:
                return torch.full((len(o), z.shape[1]), float("-inf"))
            t = p[:, None] - w + 1 + torch.arange(w - 1)  # n×(w−1) windows across the gap
            src = t[..., None] + torch.arange(w)  # their old positions, the deleted one skipped
            src = src + (src >= p[:, None, None]).long()
            win = torch.einsum("nkje,mej->nkm", x[o[:, None, None], src.clamp(0, x.shape[1] - 1)], conv.weight)
            ok = (t >= 0) & (t < (starts[o].sum(1) - 1)[:, None])
            return torch.relu(win + conv.bias).masked_fill(~ok[..., None], float("-inf")).amax(1)

        return self._one_edit(e, mask, owner, pos, changed, chunk)

    def _one_edit(self, e: torch.Tensor, mask: torch.Tensor, owner: torch.Tensor, pos: torch.Tensor,
                  changed, chunk: int) -> torch.Tensor:
        """The max over time of texts each edited at one position: per width, the larger of the
        windows the edit changes (``changed(conv, w, x, z, starts, o, p, rows)``: x the base
        B×(last + tail)×E as ``forward`` pads it, z its pre-activations, n×maps out) and the base's
        windows outside [p − w + 1, p] (prefix / suffix maxima of the base, computed once)."""
        mask = nonempty(mask)
        last = int(mask.any(dim=0).nonzero().max()) + 1
        tail = max(self.widths) - 1
        x = nn.functional.pad(e[:, :last], (0, 0, 0, tail))  # B×(last + tail)×E
        starts = nn.functional.pad(mask[:, :last], (0, tail))
        out = []
        for conv, w in zip(self.convs, self.widths):
            z = conv(x.transpose(1, 2))  # B×maps×T
            T = z.shape[2]
            r = torch.relu(z).masked_fill(~starts[:, None, :T], float("-inf"))
            ninf = torch.full_like(r[:, :, :1], float("-inf"))
            before = torch.cat([ninf, r.cummax(dim=2).values], 2)  # [i]: max over starts < i
            after = torch.cat([r.flip(2).cummax(dim=2).values.flip(2), ninf], 2)  # [i]: max over starts >= i
            pooled = []
            for a in range(0, len(owner), chunk):
                rows = slice(a, a + chunk)
                o, p = owner[rows], pos[rows]
                rest = torch.maximum(before[o, :, (p - w + 1).clamp_min(0)], after[o, :, (p + 1).clamp_max(T)])
                pooled.append(torch.maximum(changed(conv, w, x, z, starts, o, p, rows), rest))
            out.append(torch.cat(pooled))
        return torch.cat(out, dim=1)


@register_model("text_cnn", domains=("token",))
def text_cnn(num_classes: int, in_shape: tuple, vocab_size: int, pad_id: int = 0,
             embed_dim: int = 128, widths: Sequence[int] = (3, 4, 5), maps: int = 100, dropout: float = 0.5,
             freeze_embeddings: bool = False, vectors: Optional[str] = None) -> TextClassifier:
    """Kim (EMNLP 2014): widths 3/4/5 × ``maps`` 100 filters, ReLU, max-over-time, dropout 0.5.

    Hook layers: k = 0 the embeddings (N×L×E), k = 1 the pooled 3·maps features. ``embed_dim``
    128 for random init (CNN-rand; 2.3× cheaper than 300); ``vectors="spacy_md"`` starts from
    spaCy's 300-d md vectors (CNN-non-static, or CNN-static with ``freeze_embeddings``).
    """
    check_text_shape("text_cnn", in_shape)
    if not widths or any(int(w) < 1 for w in widths) or int(maps) < 1:
        raise ValueError(f"expected widths of positive ints and maps >= 1, got {list(widths)} and {maps}")
    embed_dim = vector_width(vectors, embed_dim)
    emb = make_embedding(vocab_size, embed_dim, pad_id, freeze_embeddings)
    stages = [ConvMaxPool(int(embed_dim), widths, int(maps)), Dropout(dropout)]
    return TextClassifier(emb, stages, nn.Linear(len(widths) * int(maps), num_classes), pad_id, sequence_layers=1,
                          vectors=vectors)


class BiLSTM(nn.Module):
    """One bidirectional LSTM layer over the real tokens only (packed), outputs N×L×2H (0 on padding)."""

    def __init__(self, embed_dim: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)

    def forward(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = nonempty(mask)
        # real tokens form a prefix; a mixed pair's union mask is the longer prefix
        lengths = mask.sum(dim=1).cpu()
        packed = pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=e.shape[1])
        return out


class AttentionPool(nn.Module):
    """a_t = softmax_t(vᵀ tanh(W h_t)) over real tokens; returns Σ_t a_t h_t (Yang et al. 2016 style)."""

    def __init__(self, dim: int, attn_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, attn_dim)
        self.score = nn.Linear(attn_dim, 1, bias=False)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        s = self.score(torch.tanh(self.proj(h))).squeeze(2)
        a = torch.softmax(s.masked_fill(~nonempty(mask), float("-inf")), dim=1)
        return torch.einsum("nl,nld->nd", a, h)


@register_model("bilstm", domains=("token",))
def bilstm(num_classes: int, in_shape: tuple, vocab_size: int, pad_id: int = 0,
           embed_dim: int = 128, hidden: int = 128, attn_dim: int = 128, dropout: float = 0.5,
           freeze_embeddings: bool = False, vectors: Optional[str] = None) -> TextClassifier:
    """BiLSTM (``hidden`` per direction) + additive attention pooling + dropout + linear.

    Hook layers: k = 0 embeddings, k = 1 LSTM outputs (N×L×2H), k = 2 the pooled vector.
    ``nnsafety train`` uses ``train_defaults`` (AdamW, lr 3e-3, no weight decay, batch 32) unless
    told otherwise: with the global SGD recipe (lr 0.05) its loss stays at the class prior
    (SpamAssassin, 80 steps), AdamW trains it (docs/results.md, #18).
    """
    check_text_shape("bilstm", in_shape)
    if int(hidden) < 1 or int(attn_dim) < 1:
        raise ValueError(f"expected hidden and attn_dim >= 1, got {hidden} and {attn_dim}")
    embed_dim = vector_width(vectors, embed_dim)
    emb = make_embedding(vocab_size, embed_dim, pad_id, freeze_embeddings)
    stages = [BiLSTM(int(embed_dim), int(hidden)), AttentionPool(2 * int(hidden), int(attn_dim)), Dropout(dropout)]
    return TextClassifier(emb, stages, nn.Linear(2 * int(hidden), num_classes), pad_id, sequence_layers=2,
                          vectors=vectors)


# measured on 512 SpamAssassin emails, 64-80 steps: SGD lr 0.05 stays at the prior, AdamW 3e-3 learns
bilstm.train_defaults = {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.0, "batch_size": 32}  # type: ignore[attr-defined]
