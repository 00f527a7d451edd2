"""Text corruptions: the NLP counterpart of the image corruptions, 12 kinds × 5 severities, on strings.

Natural noise a deployed text classifier meets (Belinkov & Bisk, ICLR 2018, for typos and swaps;
Wang et al., NeurIPS 2021 Datasets, "AdvGLUE"/TextFlint-style transformations for the word-level
ones). Every unit is ``fn(texts, rate, draws, **ctx) -> texts`` on a list of strings; ``severity``
1–5 picks ``rate`` from the unit's table:

| corruption | unit edited | rate at severity 1..5 |
| --- | --- | --- |
| keyboard_typo, char_swap, char_drop, char_insert | a letter | 0.02 .. 0.10 |
| ocr | a letter with an OCR look-alike | 0.05 .. 0.25 |
| random_casing | a letter | 0.05 .. 0.25 |
| punctuation, word_dropout, word_shuffle, synonym_swap | a word | 0.05 .. 0.25 |
| contractions | a contractible phrase / contraction | 0.2 .. 1.0 |
| irrelevant_sentence | sentences appended | 1 .. 5 |

Randomness: for each text, two uniform draws per unit (u: whether the unit is edited, u < rate;
v: which edit), drawn for the whole batch at once from the caller's generator. The draws do not
depend on the severity, so with the same generator state the edits of severity s are a subset of
those of s + 1 (the edit rate is monotone by construction, not only on average).
Casing is lost by the word tokenizer (``nnsafety.data.vocab`` lower-cases), so ``random_casing``
leaves a word model's inputs unchanged; it is kept for models that see case.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .. import _random
from .base import CORRUPTIONS, _check_severity

Draws = List[Tuple[List[float], List[float]]]
TextFn = Callable[..., List[str]]

CHAR_RATES = (0.02, 0.04, 0.06, 0.08, 0.10)
WORD_RATES = (0.05, 0.10, 0.15, 0.20, 0.25)


@dataclass(frozen=True)
class TextCorruptionSpec:
    """One registered text corruption: ``fn``, its 5 rates and how it counts its units."""

    name: str
    fn: TextFn
    rates: Tuple[float, ...]
    units: Callable[[str], int]  # number of random units (u, v pairs) a text needs

    def params(self, severity: int, regime: str = "text") -> tuple:
        return (self.rates[severity - 1],)


TEXT_CORRUPTIONS: List[str] = [
    "keyboard_typo", "char_swap", "char_drop", "char_insert", "ocr", "random_casing", "punctuation",
    "word_dropout", "word_shuffle", "synonym_swap", "contractions", "irrelevant_sentence",
]


def register_text_corruption(name: str, rates: Sequence[float], units: Callable[[str], int]):
    """Decorator: register ``fn(texts, rate, draws, **ctx)`` in the corruption registry for tokens."""
    if len(rates) != 5:
        raise ValueError(f"expected 5 severities for {name!r}")

    def decorator(fn: TextFn) -> TextFn:
        CORRUPTIONS.register(name, domains=("token",))(TextCorruptionSpec(name, fn, tuple(rates), units))
        return fn

    return decorator


def list_text_corruptions() -> List[str]:
    return list(TEXT_CORRUPTIONS)


def corrupt_text(texts: Sequence[str], name: str, severity: int, generator: Optional[torch.Generator] = None,
                 synonyms: Optional[Dict[str, List[str]]] = None) -> List[str]:
    """Corrupt every string of ``texts`` with text corruption ``name`` at ``severity`` (1–5).

    ``synonyms`` ({word: [neighbour words]}, see ``nnsafety.data.synonyms``) is needed by
    ``synonym_swap`` only. Same generator state -> same output.
    """
    spec = CORRUPTIONS.get(name)
    if not isinstance(spec, TextCorruptionSpec):
        raise ValueError(f"expected a text corruption (one of {', '.join(TEXT_CORRUPTIONS)}), "
                         f"got the image corruption {name!r}")
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ValueError("expected a list of strings")
    severity = _check_severity(severity)
    texts = list(texts)
    counts = [spec.units(t) for t in texts]
    total = sum(counts)
    u = _random.rand((total,), generator, "cpu", torch.float64).tolist()
    v = _random.rand((total,), generator, "cpu", torch.float64).tolist()
    draws, i = [], 0
    for c in counts:
        draws.append((u[i:i + c], v[i:i + c]))
        i += c
    kwargs = {"synonyms": synonyms} if name == "synonym_swap" else {}
    return spec.fn(texts, spec.params(severity)[0], draws, **kwargs)


# ---- character level --------------------------------------------------------------------------

def _qwerty() -> Dict[str, str]:
    """Keys adjacent on a staggered QWERTY keyboard (same row ±1, the two touching keys above/below)."""
    rows = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
    near: Dict[str, str] = {}
    for r, row in enumerate(rows):
        for c, key in enumerate(row):
            cells = [(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c)]
            near[key] = "".join(rows[i][j] for i, j in cells if 0 <= i < 3 and 0 <= j < len(rows[i]))
    return near


KEYBOARD = _qwerty()
# Look-alikes OCR engines confuse (lower-case keys; upper-case letters use the lower-case entry)
OCR = {"o": ["0"], "l": ["1", "i"], "i": ["1", "l"], "e": ["c"], "c": ["e"], "s": ["5"], "a": ["o"],
       "b": ["6", "h"], "g": ["9", "q"], "z": ["2"], "m": ["rn"], "t": ["f"], "h": ["b"], "u": ["v"],
       "v": ["u"], "n": ["h"], "q": ["g"], "d": ["cl"]}


def _letter(ch: str) -> bool:
    return ch in string.ascii_letters


def _same_case(src: str, rep: str) -> str:
    return rep.upper() if src.isupper() else rep


def _char_units(text: str) -> int:
    return len(text)


def _per_char(texts: List[str], rate: float, draws: Draws, edit: Callable[[str, float], Optional[str]]) -> List[str]:
    """Replace char c by ``edit(c, v)`` where u < rate (``None``: c is not editable)."""
    out = []
    for text, (u, v) in zip(texts, draws):
        chars = []
        for ch, ui, vi in zip(text, u, v):
            rep = edit(ch, vi) if ui < rate else None
            chars.append(ch if rep is None else rep)
        out.append("".join(chars))
    return out


def _pick(options: Sequence[str], v: float) -> str:
    return options[min(int(v * len(options)), len(options) - 1)]


@register_text_corruption("keyboard_typo", CHAR_RATES, _char_units)
def keyboard_typo(texts, rate, draws, **_):
    """A letter becomes a key adjacent to it on a QWERTY keyboard (case kept)."""
    return _per_char(texts, rate, draws,
                     lambda c, v: _same_case(c, _pick(KEYBOARD[c.lower()], v)) if _letter(c) else None)


@register_text_corruption("char_drop", CHAR_RATES, _char_units)
def char_drop(texts, rate, draws, **_):
    """A letter is deleted."""
    return _per_char(texts, rate, draws, lambda c, v: "" if _letter(c) else None)


@register_text_corruption("char_insert", CHAR_RATES, _char_units)
def char_insert(texts, rate, draws, **_):
    """A random lower-case letter is inserted after a letter."""
    return _per_char(texts, rate, draws, lambda c, v: c + _pick(string.ascii_lowercase, v) if _letter(c) else None)


@register_text_corruption("ocr", (0.05, 0.10, 0.15, 0.20, 0.25), _char_units)
def ocr(texts, rate, draws, **_):
    """A letter with an OCR look-alike (``OCR``: o→0, l→1, m→rn, ...) is replaced by it."""
    return _per_char(texts, rate, draws,
                     lambda c, v: _same_case(c, _pick(OCR[c.lower()], v)) if c.lower() in OCR and _letter(c) else None)


@register_text_corruption("random_casing", WORD_RATES, _char_units)
def random_casing(texts, rate, draws, **_):
    """A letter's case is flipped."""
    return _per_char(texts, rate, draws, lambda c, v: c.swapcase() if _letter(c) else None)


@register_text_corruption("char_swap", CHAR_RATES, _char_units)
def char_swap(texts, rate, draws, **_):
    """Letter i swaps with letter i+1 (both letters, different) where u_i < rate; swaps never overlap."""
    out = []
    for text, (u, _v) in zip(texts, draws):
        chars, i = list(text), 0
        while i < len(chars) - 1:
            if u[i] < rate and _letter(chars[i]) and _letter(chars[i + 1]) and chars[i] != chars[i + 1]:
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
                i += 2
            else:
                i += 1
        out.append("".join(chars))
    return out


# ---- word level -------------------------------------------------------------------------------

_WORD = re.compile(r"\S+")


def _split(text: str) -> Tuple[List[str], List[str]]:
    """(words, separators) with text == seps[0] + words[0] + seps[1] + ... + words[-1] + seps[-1]."""
    return _WORD.findall(text), _WORD.split(text)


def _join(words: Sequence[str], seps: Sequence[str]) -> str:
    return "".join(s + w for s, w in zip(seps, words)) + seps[-1]


def _word_units(text: str) -> int:
    return len(_WORD.findall(text))


def _keep(words: List[str], seps: List[str], keep: Sequence[bool]) -> str:
    """The kept words, each with the separator before it (the text's leading one stays first)."""
    kept = [i for i, k in enumerate(keep) if k]
    if not kept:
        return _join([], seps[:1]) if seps else ""
    new_seps = [seps[0]] + [seps[i] for i in kept[1:]] + [seps[-1]]
    return _join([words[i] for i in kept], new_seps)


@register_text_corruption("punctuation", WORD_RATES, _word_units)
def punctuation(texts, rate, draws, **_):
    """A punctuation mark (one of , . ; : ! ? - ' ") is inserted after a word."""
    out = []
    for text, (u, v) in zip(texts, draws):
        words, seps = _split(text)
        words = [w + _pick(",.;:!?-'\"", vi) if ui < rate else w for w, ui, vi in zip(words, u, v)]
        out.append(_join(words, seps))
    return out


@register_text_corruption("word_dropout", WORD_RATES, _word_units)
def word_dropout(texts, rate, draws, **_):
    """A word is deleted with its preceding space; the word with the largest u stays if all would go."""
    out = []
    for text, (u, _v) in zip(texts, draws):
        words, seps = _split(text)
        keep = [ui >= rate for ui in u]
        if words and not any(keep):
            keep[max(range(len(u)), key=u.__getitem__)] = True
        out.append(_keep(words, seps, keep))
    return out


WINDOW = 3  # word_shuffle moves a word at most this many places


@register_text_corruption("word_shuffle", WORD_RATES, _word_units)
def word_shuffle(texts, rate, draws, **_):
    """Word i (u_i < rate) swaps with word i + d, d = 1 + ⌊v_i·3⌋ (left to right; a word moves once)."""
    out = []
    for text, (u, v) in zip(texts, draws):
        words, seps = _split(text)
        moved = [False] * len(words)
        for i in range(len(words)):
            j = i + 1 + min(int(v[i] * WINDOW), WINDOW - 1)
            if u[i] < rate and not moved[i] and j < len(words) and not moved[j]:
                words[i], words[j] = words[j], words[i]
                moved[i] = moved[j] = True
        out.append(_join(words, seps))
    return out


_CORE = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)


@register_text_corruption("synonym_swap", WORD_RATES, _word_units)
def synonym_swap(texts, rate, draws, synonyms: Optional[Dict[str, List[str]]] = None, **_):
    """A word with neighbours in ``synonyms`` (word-vector neighbours, ``nnsafety.data.synonyms``)
    becomes one of them; surrounding punctuation and a leading capital are kept."""
    if synonyms is None:
        raise ValueError("synonym_swap needs synonyms={word: [neighbours]} (nnsafety.data.synonyms."
                         "vocab_neighbours + synonym_table on spaCy vectors from `make data-text`), got None")
    out = []
    for text, (u, v) in zip(texts, draws):
        words, seps = _split(text)
        for i, (w, ui, vi) in enumerate(zip(words, u, v)):
            pre, core, post = _CORE.match(w).groups()
            near = synonyms.get(core.lower())
            if ui < rate and near:
                rep = _pick(near, vi)
                words[i] = pre + (rep[:1].upper() + rep[1:] if core[:1].isupper() else rep) + post
        out.append(_join(words, seps))
    return out


_PAIRS = [("do not", "don't"), ("does not", "doesn't"), ("did not", "didn't"), ("is not", "isn't"),
          ("are not", "aren't"), ("was not", "wasn't"), ("were not", "weren't"), ("have not", "haven't"),
          ("has not", "hasn't"), ("had not", "hadn't"), ("will not", "won't"), ("would not", "wouldn't"),
          ("cannot", "can't"), ("could not", "couldn't"), ("should not", "shouldn't"), ("it is", "it's"),
          ("that is", "that's"), ("i am", "i'm"), ("i have", "i've"), ("i will", "i'll"),
          ("you are", "you're"), ("they are", "they're"), ("we are", "we're"), ("there is", "there's"),
          ("let us", "let's")]
_SWAP = {**{a: b for a, b in _PAIRS}, **{b: a for a, b in _PAIRS}}
_PHRASE = re.compile(r"\b(" + "|".join(re.escape(k).replace(r"\ ", r"\s+")
                                       for k in sorted(_SWAP, key=len, reverse=True)) + r")\b", re.I)


def _phrase_units(text: str) -> int:
    return len(_PHRASE.findall(text))


@register_text_corruption("contractions", (0.2, 0.4, 0.6, 0.8, 1.0), _phrase_units)
def contractions(texts, rate, draws, **_):
    """A contraction is expanded ("don't" → "do not") or a phrase contracted ("it is" → "it's")."""
    out = []
    for text, (u, _v) in zip(texts, draws):
        it = iter(u)

        def swap(m: "re.Match") -> str:
            src = m.group(0)
            if next(it) >= rate:
                return src
            rep = _SWAP[" ".join(src.lower().split())]
            return _same_case(src[0], rep[0]) + rep[1:] if src[0].isupper() else rep
        out.append(_PHRASE.sub(swap, text))
    return out


# Sentences with no sentiment, topic or spam cue (CheckList's "irrelevant sentence" test, Ribeiro
# et al., ACL 2020, uses random URLs and handles; a plain sentence keeps the text readable).
IRRELEVANT = [
    "The library opens at nine on weekdays.", "There are seven days in a week.",
    "My neighbour parks a blue car outside.", "The train station is two streets away.",
    "Water boils at one hundred degrees Celsius.", "The meeting was moved to Thursday.",
    "Paris is the capital of France.", "I wrote this on a Tuesday afternoon.",
    "The bus timetable changes in spring.", "A year has twelve months.",
]


@register_text_corruption("irrelevant_sentence", (1, 2, 3, 4, 5), lambda text: 5)
def irrelevant_sentence(texts, rate, draws, **_):
    """``rate`` (= severity) sentences from ``IRRELEVANT`` are appended, separated by a space."""
    out = []
    for text, (_u, v) in zip(texts, draws):
        extra = " ".join(_pick(IRRELEVANT, vi) for vi in v[: int(rate)])
        out.append(text.rstrip() + " " + extra if text.strip() else extra)
    return out
