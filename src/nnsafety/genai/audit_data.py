"""What the generative audit reads, in one dataset-like object: held-out text for perplexity, a
``factworld`` probe world (questions with exact answers; its held-out biographies are the human
text of the machine-text detector), and the tokenizer, carried by a ``TextGenerationDomain``.

A language model is not a classifier: its audit runs the sections registered for the
``text_generation`` domain (``report/sections_genai.py``), and the audit skips the classifier
check and the class-logit pass for it (``report.audit``). ``generation_data`` builds the object
for a run trained on ``factworld``; a user's own LM (``nn.Module`` ids -> next-token logits, or a
Hugging Face causal LM) is audited with ``GenerationData(...)`` built around its own tokenizer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from ..data.chars import CHARS, TokenWindowDataset, packed_windows
from ..data.factworld import FactWorld, make_world
from ..domains.token import TokenDomain

GENERATION = "text_generation"


class TextGenerationDomain(TokenDomain):
    """Token ids of a causal LM's tokenizer; prompts in, continuations out. ``generative`` tells the
    audit not to treat the model as a classifier."""

    name = GENERATION
    generative = True

    def __init__(self, tokenizer, vocab_size: int, block_size: Optional[int], pad_id: int = 0,
                 unk_id: Optional[int] = 1) -> None:
        super().__init__(vocab_size, pad_id=pad_id, unk_id=unk_id)
        if tokenizer is None or not (hasattr(tokenizer, "encode") and hasattr(tokenizer, "decode")):
            raise ValueError(f"expected a tokenizer with encode/decode for the language model, got "
                             f"{type(tokenizer).__name__ if tokenizer is not None else 'none'}")
        self.tokenizer, self.block_size = tokenizer, block_size

    def config(self) -> Dict[str, Any]:
        return {"name": self.name, "vocab_size": self.vocab_size, "pad_id": self.pad_id, "unk_id": self.unk_id,
                "block_size": self.block_size,
                "tokenizer": getattr(self.tokenizer, "name", None) or type(self.tokenizer).__name__}


@dataclass
class GenerationData:
    """``held_out``: next-token windows of text the model did not train on (perplexity);
    ``world``: the probe's factworld; ``memo``: results the sections share (the probe runs once)."""

    name: str
    held_out: TokenWindowDataset
    world: FactWorld
    domain: TextGenerationDomain
    memo: Dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.held_out)

    @property
    def classes(self) -> List[str]:
        return self.held_out.classes

    @property
    def in_shape(self) -> Tuple[int, ...]:
        return self.held_out.in_shape

    def get_batch(self, idx: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.held_out.get_batch(idx)

    def tensors(self) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.held_out.tensors()

    def human_texts(self) -> List[str]:
        """Held-out human-written (template) text: the world's test-split biographies, one per line."""
        return [r.rstrip("\n") for r in self.world.records("test")]


def generation_data(name: str = "factworld", block_size: int = 128, n_entities: int = 100, n_known: int = 50,
                    seed: int = 0, classes: Optional[Sequence[str]] = None) -> GenerationData:
    """The audit data of a character LM trained on ``factworld`` (world ``n_entities``/``n_known``/
    ``seed``, the trainer's defaults); ``classes``: the run's recorded vocabulary, checked to be
    the character vocabulary so that token ids mean what they meant in training."""
    if name != "factworld":
        raise ValueError(f"expected audit data factworld for a language-model run, got {name!r}")
    if classes is not None and list(classes) != CHARS.tokens:
        raise ValueError(f"expected a run trained on the character vocabulary, got classes {str(list(classes))[:60]}")
    world = make_world(n_entities, n_known, seed)
    held_out = TokenWindowDataset(packed_windows([CHARS.encode(r) for r in world.records("test")], block_size,
                                                 CHARS.pad_id), CHARS, name="factworld")
    return GenerationData("factworld", held_out, world, TextGenerationDomain(CHARS, len(CHARS), block_size))
