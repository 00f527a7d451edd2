"""``char_gpt``: a small decoder-only (GPT-style) causal transformer over token ids.

Pre-LayerNorm blocks (Radford et al. 2019, GPT-2): x + attn(LN(x)), then x + MLP(LN(x)) with a 4×
GELU MLP; learned position embeddings; the output projection shares the token-embedding matrix
(Press & Wolf 2017). ``forward(ids)`` returns next-token logits N×L×V; ``in_shape = (L,)`` is the
longest context (block size). For the toolkit's continuous methods it exposes the same seam as
other token models: ``embed(ids)`` and ``forward_embeddings(e, mask)``.
"""
from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .base import register_model


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, cache: Optional[dict] = None) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        past = 0
        if cache is not None:
            if "k" in cache:
                past = cache["k"].shape[2]
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        # new queries see every cached key plus the new keys up to themselves
        mask = None if past == 0 else torch.ones(t, past + t, dtype=torch.bool, device=x.device).tril(past)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=past == 0,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(n, t, d))


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, cache: Optional[dict] = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache)
        return x + self.mlp(self.ln2(x))


class CharGPT(nn.Module):
    """Token + position embedding -> ``n_layers`` blocks -> LayerNorm -> tied output projection."""

    def __init__(self, vocab_size: int, block_size: int, d_model: int = 128, n_layers: int = 2, n_heads: int = 4,
                 dropout: float = 0.0, pad_id: int = 0) -> None:
        super().__init__()
        self.vocab_size, self.block_size, self.pad_id = vocab_size, block_size, pad_id
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(block_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.apply(_init)

    def new_cache(self) -> List[dict]:
        """An empty key/value cache for incremental decoding: ``forward(ids, cache)`` fills it, and
        the next call passes only the new tokens (logits equal a full forward on the whole prefix)."""
        return [{} for _ in self.blocks]

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2 or ids.shape[1] > self.block_size:
            raise ValueError(f"expected token ids of shape N×L with L <= {self.block_size}, got {tuple(ids.shape)}")
        return self.tok(ids)

    def forward_embeddings(self, e: torch.Tensor, mask: Optional[torch.Tensor] = None,
                           cache: Optional[List[dict]] = None) -> torch.Tensor:
        """Logits from token embeddings; ``mask`` is unused (causal attention never looks ahead, and
        right padding therefore never changes the logits of the real tokens before it)."""
        past = cache[0]["k"].shape[2] if cache and "k" in cache[0] else 0
        if past + e.shape[1] > self.block_size:
            raise ValueError(f"expected at most {self.block_size} positions, got {past + e.shape[1]}")
        h = self.drop(e + self.pos(torch.arange(past, past + e.shape[1], device=e.device)))
        for i, block in enumerate(self.blocks):
            h = block(h, cache[i] if cache is not None else None)
        return self.ln_f(h) @ self.tok.weight.T

    def forward(self, ids: torch.Tensor, cache: Optional[List[dict]] = None) -> torch.Tensor:
        return self.forward_embeddings(self.embed(ids), cache=cache)


def _init(m: nn.Module) -> None:
    # GPT-2's N(0, 0.02) initialisation: PyTorch's default for Embedding (N(0, 1)) makes the tied
    # output logits start far from uniform and the first steps diverge.
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)
    if isinstance(m, nn.Linear) and m.bias is not None:
        nn.init.zeros_(m.bias)


@register_model("char_gpt", domains=("token",))
def char_gpt(num_classes: int, in_shape: tuple, vocab_size: Optional[int] = None, pad_id: int = 0,
             d_model: int = 128, n_layers: int = 2, n_heads: int = 4, dropout: float = 0.0) -> CharGPT:
    """A causal transformer LM; ``num_classes`` is the vocabulary size (the next token is the class),
    ``in_shape = (block_size,)``. ``vocab_size``, when given by the data, must agree with it."""
    if len(in_shape) != 1:
        raise ValueError(f"expected in_shape (block_size,) for a language model, got {tuple(in_shape)}")
    if vocab_size is not None and int(vocab_size) != int(num_classes):
        raise ValueError(f"expected vocab_size equal to num_classes, got {vocab_size} and {num_classes}")
    if d_model % n_heads or min(d_model, n_layers, n_heads) < 1:
        raise ValueError(f"expected d_model divisible by n_heads (both >= 1) and n_layers >= 1, "
                         f"got d_model={d_model}, n_heads={n_heads}, n_layers={n_layers}")
    return CharGPT(int(num_classes), int(in_shape[0]), d_model, n_layers, n_heads, dropout, pad_id)
