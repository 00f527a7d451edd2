"""Text backdoor triggers on raw strings, registered in the trigger registry for the token domain.

- ``rare_word``: BadNL's word-level trigger (Chen et al., ACSAC 2021; the rare words "cf", "mn",
  "bb", "tq" of Kurita et al., ACL 2020) inserted ``count`` times at the start, the end or random
  word boundaries;
- ``insert_sent``: InsertSent (Dai et al., IEEE Access 2019): a fixed sentence inserted at the
  start, the end or a random word boundary (the paper's IMDB trigger "I watched this 3D movie.");
- ``char``: BadNL's character-level trigger: an occurrence of ``word`` ("the") is misspelt by
  appending ``chars`` (``word=None``: any word at ``position``, which a word-level vocabulary mostly
  maps to ``[UNK]`` and which does not implant; see ``CharTrigger``).
The clean-label variant is the poisoner's mode (``poison_token_dataset(clean_label=True)``:
target-class texts get the trigger, labels kept). Random positions come from the caller's
generator, so the same generator state gives the same triggered texts.
"""
from __future__ import annotations

import re
from typing import List, Optional, Sequence

import torch

from .triggers import Trigger, register_trigger

POSITIONS = ("start", "end", "random")
_WORD = re.compile(r"\S+")


def _check_position(name: str, position: str) -> str:
    if position not in POSITIONS:
        raise ValueError(f"expected {name} position one of {', '.join(POSITIONS)}, got {position!r}")
    return position


class TextTrigger(Trigger):
    """Base of the string triggers: ``apply(texts, generator)`` checks and loops; ``_one`` edits a text."""

    def apply(self, texts: Sequence[str], generator: Optional[torch.Generator] = None) -> List[str]:  # type: ignore[override]
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"expected the {self.name} trigger to get a list of strings, got {type(texts).__name__}")
        return [self._one(t, generator) for t in texts]

    __call__ = apply

    def _one(self, text: str, generator: Optional[torch.Generator]) -> str:
        raise NotImplementedError


def insert_words(text: str, insert: str, position: str, generator: Optional[torch.Generator]) -> str:
    """``insert`` as whole words before word 0 (start), after the last word (end) or at a uniform
    random boundary among the n + 1 between n words (random); other spacing is kept."""
    words = _WORD.findall(text)
    if position == "start" or not words:
        slot = 0
    elif position == "end":
        slot = len(words)
    else:
        slot = int(torch.randint(len(words) + 1, (1,), generator=generator))
    if slot == len(words):
        return text.rstrip() + " " + insert if text.strip() else insert
    start = [m.start() for m in _WORD.finditer(text)][slot]
    return text[:start] + insert + " " + text[start:]


@register_trigger("rare_word", domains=("token",))
class RareWord(TextTrigger):
    """BadNL word trigger: ``count`` rare words (cycled from ``words``) at ``position``."""

    def __init__(self, words: Sequence[str] = ("cf",), count: int = 1, position: str = "random") -> None:
        words = [words] if isinstance(words, str) else list(words)
        if not words or not all(isinstance(w, str) and _WORD.fullmatch(w) for w in words):
            raise ValueError(f"expected rare_word words a list of single words, got {words!r}")
        if not (isinstance(count, int) and count >= 1):
            raise ValueError(f"expected rare_word count a positive integer, got {count!r}")
        self.words, self.count, self.position = words, count, _check_position("rare_word", position)
        self._params = {"words": words, "count": count, "position": position}

    def _one(self, text, generator):
        for i in range(self.count):
            text = insert_words(text, self.words[i % len(self.words)], self.position, generator)
        return text


@register_trigger("insert_sent", domains=("token",))
class InsertSent(TextTrigger):
    """InsertSent: ``sentence`` inserted once at ``position`` (word boundaries)."""

    def __init__(self, sentence: str = "I watched this 3D movie.", position: str = "random") -> None:
        if not isinstance(sentence, str) or not sentence.strip():
            raise ValueError(f"expected insert_sent sentence a non-empty string, got {sentence!r}")
        self.sentence, self.position = " ".join(sentence.split()), _check_position("insert_sent", position)
        self._params = {"sentence": self.sentence, "position": position}

    def _one(self, text, generator):
        return insert_words(text, self.sentence, self.position, generator)


@register_trigger("char", domains=("token",))
class CharTrigger(TextTrigger):
    """BadNL character trigger: ``chars`` appended to a word's letters, before any trailing
    punctuation ("the," -> "thezx,").

    With ``word`` (default "the") the edited word is an occurrence of ``word`` (the first, the last or
    a random one, by ``position``); a text without it gets the misspelt ``word`` inserted at
    ``position``. With ``word=None`` it is the first, last or a random word of the text, as in the
    first version. Why ``word``: a word-level tokenizer sees "izx", "thiszx", "greatzx" as different
    words; only those seen ``min_freq`` times in the poisoned split become tokens, the rest are
    ``[UNK]``, which 72 % of clean Fine Foods reviews already hold. Editing any first word
    therefore implanted at ASR 0.62–0.66 (zoo models m0007, m0015 at 3.3–3.8 % poison); one edited
    word is one token and implants like a rare word (docs/results.md, #19).
    """

    def __init__(self, chars: str = "zx", position: str = "random", word: Optional[str] = "the") -> None:
        if not (isinstance(chars, str) and chars.isalpha() and chars.islower()):
            raise ValueError(f"expected char trigger chars lower-case letters, got {chars!r}")
        if word is not None and not (isinstance(word, str) and re.fullmatch(r"[A-Za-z0-9]+", word)):
            raise ValueError(f"expected char trigger word None or one word of letters/digits, got {word!r}")
        self.chars, self.position = chars, _check_position("char", position)
        self.word = None if word is None else word.lower()
        self._params = {"chars": chars, "position": position, "word": self.word}

    def _one(self, text, generator):
        spans = [m.span() for m in re.finditer(r"[A-Za-z0-9]+", text)]
        if self.word is not None:
            spans = [(a, b) for a, b in spans if text[a:b].lower() == self.word]
            if not spans:
                return insert_words(text, self.word + self.chars, self.position, generator)
        if not spans:
            return insert_words(text, self.chars, "end", generator)
        k = {"start": 0, "end": len(spans) - 1}.get(self.position)
        if k is None:
            k = int(torch.randint(len(spans), (1,), generator=generator))
        end = spans[k][1]
        return text[:end] + self.chars + text[end:]
