"""The shape every registered text model has: ``embed -> stages[0] -> ... -> stages[K-1] -> head``.

- ``embed(ids)``: token ids N×L (int64, ``pad_id`` = padding) -> embeddings N×L×E;
- ``forward_embeddings(e, mask, mix_hook=None)``: the classifier on embeddings, ``mask`` N×L bool
  (True on real tokens). Embedding-space methods (mixup, NFM/NoisyMix, PGD/FreeLB adversarial
  training) perturb ``e`` and call this; ``forward(ids)`` is ``forward_embeddings(embed(ids), ids != pad)``;
- ``mix_hook(k, h)``: the layer-k convention of ``models/base.py``: k = 0 is the embedding sequence,
  later k the model's hidden states. A hook may also carry ``mix_mask(k, mask)``: a model calls it at
  sequence layers so that mixing two texts widens the padding mask to the union of the pair (the
  shared ``mixed_forward`` of the training methods sets it);
- ``head`` is the final linear layer; ``forward_features`` is its input.

Builders take no ``normalize`` (token ids are not normalized; ``create_model`` then builds none). With ``vectors="spacy_md"`` the model is 300-d
and the training data's ``init_model`` copies spaCy's vectors into the rows of known words. Embeddings start as Kim (2014)'s CNN-rand: U(−0.25, 0.25), the padding row at zero and
never updated (``padding_idx``).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .base import MixHook


class TextClassifier(nn.Module):
    """embed -> stages (each ``stage(h, mask)``) -> head, with the layer-k hook (module doc)."""

    def __init__(self, embedding: nn.Embedding, stages: Sequence[nn.Module], head: nn.Linear, pad_id: int,
                 sequence_layers: int, vectors: Optional[str] = None) -> None:
        super().__init__()
        self.embedding = embedding
        self.stages = nn.ModuleList(stages)
        self.head = head
        self.pad_id = int(pad_id)
        self.sequence_layers = int(sequence_layers)  # hooks k < this see N×L×D sequences
        self.vectors = vectors  # pretrained word vectors the data loads into the embedding (init_model)

    @property
    def mix_layers(self) -> int:
        return len(self.stages)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dtype != torch.int64 or ids.dim() != 2:
            raise ValueError(f"expected int64 token ids of shape N×L, got {ids.dtype} of shape {tuple(ids.shape)}")
        return self.embedding(ids)

    def mask(self, ids: torch.Tensor) -> torch.Tensor:
        return ids != self.pad_id

    def features_from_embeddings(self, e: torch.Tensor, mask: torch.Tensor,
                                 mix_hook: Optional[MixHook] = None) -> torch.Tensor:
        h = e
        for k, stage in enumerate(self.stages):
            if mix_hook is not None:
                h = mix_hook(k, h)
                widen = getattr(mix_hook, "mix_mask", None)
                if widen is not None and k < self.sequence_layers:
                    mask = widen(k, mask)
            h = stage(h, mask)
        return h

    def forward_embeddings(self, e: torch.Tensor, mask: torch.Tensor, mix_hook: Optional[MixHook] = None) -> torch.Tensor:
        return self.head(self.features_from_embeddings(e, mask, mix_hook))

    def forward_features(self, ids: torch.Tensor, mix_hook: Optional[MixHook] = None) -> torch.Tensor:
        return self.features_from_embeddings(self.embed(ids), self.mask(ids), mix_hook)

    def forward(self, ids: torch.Tensor, mix_hook: Optional[MixHook] = None) -> torch.Tensor:
        return self.head(self.forward_features(ids, mix_hook))

    def _edit_stage(self, method: str) -> Optional[nn.Module]:
        """The first stage if it has the one-edit path ``method`` and nothing after it but dropout
        (in eval mode), so that the path's pooled vector is what the head gets; else None."""
        first = self.stages[0] if len(self.stages) else None
        if self.training or not hasattr(first, method) or any(not isinstance(s, Dropout) for s in self.stages[1:]):
            return None
        return first

    @torch.no_grad()
    def substitution_logits(self, ids: torch.Tensor, owner: torch.Tensor, pos: torch.Tensor,
                            tok: torch.Tensor) -> Optional[torch.Tensor]:
        """Logits of ``ids[owner]`` with token ``pos`` replaced by ``tok`` (one per row), or None when
        this model has no cheaper path than a full forward (it is training, its first stage has no
        ``substituted``, a later stage is not dropout, or a substitution adds or removes padding).
        Word-substitution attacks query thousands of such one-word variants of a few texts."""
        first = self._edit_stage("substituted")
        if first is None or bool((tok == self.pad_id).any()) or bool((ids[owner, pos] == self.pad_id).any()):
            return None
        rows, inv = torch.unique(owner, return_inverse=True)
        base = ids[rows]
        return self.head(first.substituted(self.embed(base), self.mask(base), inv, pos, self.embedding(tok)))

    @torch.no_grad()
    def deletion_logits(self, ids: torch.Tensor, owner: torch.Tensor, pos: torch.Tensor) -> Optional[torch.Tensor]:
        """Logits of ``ids[owner]`` with the token at ``pos`` deleted (the rest moves up), or None
        where ``substitution_logits`` would be None or a text would be left without a word."""
        first = self._edit_stage("deleted")
        if (first is None or bool((ids[owner, pos] == self.pad_id).any())
                or bool(((ids[owner] != self.pad_id).sum(1) < 2).any())):
            return None
        rows, inv = torch.unique(owner, return_inverse=True)
        base = ids[rows]
        return self.head(first.deleted(self.embed(base), self.mask(base), inv, pos))


class Dropout(nn.Module):
    """Dropout as a masked stage (the last stage before the head, so k = K−1 is the pooled vector)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(p)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.drop(h)


def nonempty(mask: torch.Tensor) -> torch.Tensor:
    """A sequence with no real token is treated as all real (padding only), so pooling stays finite."""
    return mask | ~mask.any(dim=1, keepdim=True)


def make_embedding(vocab_size: int, embed_dim: int, pad_id: int, freeze: bool = False) -> nn.Embedding:
    """Kim (2014)'s random init U(−0.25, 0.25), the padding row at zero."""
    if int(vocab_size) < 2 or int(embed_dim) < 1:
        raise ValueError(f"expected vocab_size >= 2 and embed_dim >= 1, got {vocab_size} and {embed_dim}")
    if not 0 <= int(pad_id) < int(vocab_size):
        raise ValueError(f"expected pad_id in [0, {vocab_size}), got {pad_id}")
    emb = nn.Embedding(int(vocab_size), int(embed_dim), padding_idx=int(pad_id))
    with torch.no_grad():
        emb.weight.uniform_(-0.25, 0.25)
        emb.weight[int(pad_id)].zero_()
    emb.weight.requires_grad_(not freeze)
    return emb


VECTOR_WIDTHS = {"spacy_md": 300, "minilm": 384}  # minilm: its input embeddings (extra nlp)


def vector_width(vectors: Optional[str], embed_dim: int) -> int:
    """The embedding width: the pretrained vectors' width when ``vectors`` names a source."""
    if vectors is None:
        return int(embed_dim)
    if vectors not in VECTOR_WIDTHS:
        raise ValueError(f"expected vectors None or one of {', '.join(VECTOR_WIDTHS)}, got {vectors!r}")
    return VECTOR_WIDTHS[vectors]


def check_text_shape(name: str, in_shape: Sequence[int]) -> int:
    if len(in_shape) != 1:
        raise ValueError(f"expected a token in_shape (L,) for {name}, got {tuple(in_shape)}")
    return int(in_shape[0])
