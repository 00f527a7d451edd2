"""``factworld``: a seeded world of invented people, for measuring hallucination with exact truth.

Each entity has a unique invented name, a birth year, a birth city and a profession. The language
model is trained on text about the *known* subset only: short biographies in several phrasings
plus question/answer lines in the probe's format. The probe then asks the same questions about
known entities (the answer is checkable exactly) and about *unknown* ones, never seen in training
(any specific answer is a hallucination; only an abstention such as "unknown" is right).

Everything is a pure function of (seed, sizes): the same seed gives the same world, text and
questions on every machine. Names, cities and professions are invented or generic on purpose, so
no pretrained knowledge can leak in.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional

import numpy as np
from .base import register_dataset
from .chars import CHARS, TokenWindowDataset, packed_windows

CITIES = ("Vesk", "Orlin", "Dumara", "Pell", "Kasso", "Tirren", "Amberlo", "Sunmoor", "Gavet", "Lonwick",
          "Brisa", "Hollet")
PROFESSIONS = ("baker", "pilot", "teacher", "farmer", "painter", "nurse", "sailor", "lawyer", "miner",
               "weaver", "doctor", "singer")
YEARS = (1900, 2000)  # birth years are drawn from [1900, 2000)
ATTRIBUTES = ("city", "year", "profession")
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr", "sh", "th")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
ABSTAIN = ("unknown", "i do not know", "i don't know", "no idea")

QUESTIONS = {"city": "Q: Where was {name} born?\nA:", "year": "Q: When was {name} born?\nA:",
             "profession": "Q: What does {name} do?\nA:"}
# Training phrasings (all used for the train split); the test split renders the same facts with
# held-out phrasings, so its perplexity measures more than verbatim recall.
_BIOS_TRAIN = (
    "{name} was born in {city} in {year}. {name} works as a {profession}.",
    "{name}, a {profession} from {city}, was born in {year}.",
    "Born in {year} in {city}, {name} became a {profession}.",
)
_BIOS_TEST = ("{name} is a {profession}. {name} was born in {year} in the town of {city}.",)


@dataclass(frozen=True)
class Entity:
    name: str
    city: str
    year: int
    profession: str
    known: bool

    def answer(self, attribute: str) -> str:
        return str(getattr(self, attribute))


@dataclass(frozen=True)
class Question:
    """One probe question: the prompt the LM continues, and the truth (None for unknown entities)."""

    entity: str
    attribute: str
    prompt: str
    truth: Optional[str]
    known: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _name(rng: np.random.Generator, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)).capitalize()


@dataclass
class FactWorld:
    """A generated world: ``entities`` (known ones first), built by ``make_world``."""

    entities: List[Entity]
    seed: int

    @property
    def known(self) -> List[Entity]:
        return [e for e in self.entities if e.known]

    @property
    def unknown(self) -> List[Entity]:
        return [e for e in self.entities if not e.known]

    def text(self, split: str = "train") -> str:
        """Training (or held-out) text about the known entities: the records, concatenated."""
        return "".join(self.records(split))

    def records(self, split: str = "train") -> List[str]:
        """One string per statement (a biography, or a question with its answer), each ending in a
        newline, in a seeded order."""
        if split not in ("train", "test"):
            raise ValueError(f"expected split 'train' or 'test', got {split!r}")
        bios = _BIOS_TRAIN if split == "train" else _BIOS_TEST
        lines = [t.format(**asdict(e)) for e in self.known for t in bios]
        if split == "train":
            lines += [QUESTIONS[a].format(name=e.name) + " " + e.answer(a) for e in self.known for a in ATTRIBUTES]
        order = np.random.default_rng([self.seed, 1 if split == "train" else 2]).permutation(len(lines))
        return [lines[i] + "\n" for i in order]

    def questions(self, attributes=ATTRIBUTES) -> List[Question]:
        """One question per (entity, attribute): known entities first, then unknown ones."""
        return [Question(e.name, a, QUESTIONS[a].format(name=e.name), e.answer(a) if e.known else None, e.known)
                for e in self.entities for a in attributes]


def make_world(n_entities: int = 100, n_known: int = 50, seed: int = 0) -> FactWorld:
    """A world of ``n_entities`` people with unique names, the first ``n_known`` of them known."""
    if not (isinstance(n_entities, int) and isinstance(n_known, int) and 1 <= n_known <= n_entities):
        raise ValueError(f"expected 1 <= n_known <= n_entities (integers), got n_known={n_known!r}, "
                         f"n_entities={n_entities!r}")
    rng = np.random.default_rng(seed)
    names: Dict[str, None] = {}
    while len(names) < n_entities:  # dict keeps the order of first draw
        names.setdefault(f"{_name(rng, int(rng.integers(2, 4)))} {_name(rng, int(rng.integers(2, 4)))}")
    entities = [Entity(name, str(rng.choice(CITIES)), int(rng.integers(*YEARS)), str(rng.choice(PROFESSIONS)),
                       known=i < n_known) for i, name in enumerate(names)]
    return FactWorld(entities, seed)


def extract_answer(continuation: str) -> str:
    """The answer part of a generated continuation: its first line, stripped."""
    return continuation.split("\n", 1)[0].strip()


def check_answer(question: Question, answer: str) -> str:
    """``"correct"``, ``"abstained"`` or ``"hallucinated"``, exactly.

    Compared after lower-casing and dropping surrounding spaces and a final period. A known
    entity's answer is correct only when it equals the truth; an abstention ("unknown", "I don't
    know", ...) is never a hallucination; any other answer — every specific answer about an
    unknown entity — is a hallucination.
    """
    a = extract_answer(answer).lower().rstrip(".").strip()
    if a in ABSTAIN:
        return "abstained"
    if question.known and a == question.truth.lower():
        return "correct"
    return "hallucinated"


@register_dataset("factworld")
def factworld(root: str | None = None, split: str = "train", n_entities: int = 100, n_known: int = 50,
              seed: int = 0, block_size: int = 128) -> TokenWindowDataset:
    """Character next-token windows over the factworld text (train: biographies + Q/A records of the
    known entities; test: the same facts in held-out phrasings), whole records packed per window.
    ``root`` is ignored (generated)."""
    world = make_world(n_entities, n_known, seed)
    windows = packed_windows([CHARS.encode(r) for r in world.records(split)], block_size, CHARS.pad_id)
    return TokenWindowDataset(windows, CHARS, name="factworld")
