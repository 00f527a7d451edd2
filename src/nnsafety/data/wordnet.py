"""Antonyms and synonyms from the WordNet 3.0 database files (no NLTK needed): the guard that keeps
a word's opposite out of its "synonym" candidates.

``make data-text`` unpacks WordNet 3.0's ``data.{adj,adv,noun,verb}``, ``index.{adj,adv,noun,verb}``
and ``*.exc`` files from the Debian package wordnet-base into ``data/text/wordnet`` (WordNet 3.0
licence, Princeton University).
Format (``wndb(5WN)``): one synset per line, ``offset lex_filenum ss_type w_cnt (word lex_id)×w_cnt
p_cnt (pointer_symbol offset pos source/target)×p_cnt ... | gloss``; ``w_cnt`` is two hex digits,
``source/target`` four hex digits (two word numbers, ``0000`` = the whole synsets). Index files
(``parse_index``): one lemma per line, ``lemma pos synset_cnt p_cnt (ptr_symbol)×p_cnt sense_cnt
tagsense_cnt (synset_offset)×synset_cnt``, the offsets in WordNet's sense order (most frequent in
the Semantic Concordance first; the first ``tagsense_cnt`` senses were seen there, the rest follow in
no frequency order).

Two words are antonyms here when WordNet links a base form of each by an antonym pointer ``!``
(direct antonyms, Miller's lexical relation, e.g. good/bad, cheap/expensive), or when they lie in
two adjective clusters whose heads are antonyms: a head's satellites (``&`` similar-to, e.g. "great"
of "good", "terrible" of "bad") inherit its antonyms (Gross & Miller 1990's indirect antonyms,
which is how WordNet encodes antonymy for satellite adjectives). Base forms: the word itself, the
exception lists (``best`` -> good, ``worse`` -> bad) and WordNet's morphy suffix rules, kept only
when the base is a WordNet lemma. Two words are synonyms here when they share a base form
(inflections) or a base form of each lies in one synset (in any sense). Counter-fitting (Mrkšić
et al., NAACL 2016), behind TextFooler's
vectors, pushes apart exactly these WordNet/PPDB antonym pairs.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

WORDNET_DIR = "wordnet"
POS = ("adj", "adv", "noun", "verb")
# WordNet's morphy detachment rules per part of speech: (suffix, replacement, the inflection it undoes)
MORPHY = {"noun": (("s", "", "plural"), ("ses", "s", "plural"), ("xes", "x", "plural"), ("zes", "z", "plural"),
                   ("ches", "ch", "plural"), ("shes", "sh", "plural"), ("men", "man", "plural"), ("ies", "y", "plural")),
          "verb": (("s", "", "3sg"), ("ies", "y", "3sg"), ("es", "e", "3sg"), ("es", "", "3sg"), ("ed", "e", "past"),
                   ("ed", "", "past"), ("ing", "e", "ing"), ("ing", "", "ing")),
          "adj": (("er", "", "comparative"), ("est", "", "superlative"), ("er", "e", "comparative"),
                  ("est", "e", "superlative"))}
_RULES = tuple(dict.fromkeys((s, r) for rules in MORPHY.values() for s, r, _ in rules))


def inflection_rules(word: str) -> List[Tuple[str, str, str, str]]:
    """(part of speech, suffix, replacement, inflection) of every morphy rule whose suffix ``word``
    ends with (the base ``word[:-len(suffix)] + replacement`` may or may not be a lemma)."""
    return [(pos, s, r, form) for pos, rules in MORPHY.items() for s, r, form in rules
            if word.endswith(s) and len(word) > len(s)]


def _word(raw: str) -> str:
    """A data-file word as a lemma: lower case, adjective markers "(a)", "(p)", "(ip)" dropped."""
    return raw.split("(", 1)[0].lower()


Synsets = Dict[int, Tuple[str, List[str], List[Tuple[str, int, int, int]]]]


def parse_data(lines: Iterable[str], path: str = "data file") -> Synsets:
    """{offset: (ss_type, words, pointers (symbol, target offset, source word, target word))} of
    one ``data.<pos>`` file (licence lines, which start with spaces, skipped)."""
    out = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith(" "):
            continue
        f = line.split(" | ", 1)[0].split()
        try:
            offset, ss_type, w_cnt = int(f[0]), f[2], int(f[3], 16)
            words = [_word(f[4 + 2 * i]) for i in range(w_cnt)]
            at = 4 + 2 * w_cnt
            ptrs = []
            for i in range(int(f[at])):
                sym, target, st = f[at + 1 + 4 * i], int(f[at + 2 + 4 * i]), f[at + 4 + 4 * i]
                ptrs.append((sym, target, int(st[:2], 16), int(st[2:], 16)))
        except (IndexError, ValueError) as e:
            raise ValueError(f"{path}:{n}: expected a WordNet synset line (wndb format), got {line[:60]!r} ({e})") from None
        out[offset] = (ss_type, words, ptrs)
    return out


def parse_index(lines: Iterable[str], path: str = "index file") -> Dict[str, Tuple[Tuple[int, ...], int]]:
    """{lemma: (synset offsets in sense order, tagsense_cnt)} of one ``index.<pos>`` file (licence
    lines, which start with spaces, skipped)."""
    out = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith(" "):
            continue
        f = line.split()
        try:
            count, p_cnt = int(f[2]), int(f[3])
            at = 4 + p_cnt
            tagged, offsets = int(f[at + 1]), tuple(int(x) for x in f[at + 2:at + 2 + count])
            if len(offsets) != count:
                raise IndexError(f"{len(offsets)} of {count} synset offsets")
        except (IndexError, ValueError) as e:
            raise ValueError(f"{path}:{n}: expected a WordNet index line (wndb format), got {line[:60]!r} ({e})") from None
        out[f[0].lower()] = (offsets, tagged)
    return out


def antonym_pairs(synsets: Synsets) -> Set[FrozenSet[str]]:
    """Unordered lemma pairs that are direct antonyms or indirect ones through adjective clusters
    (module doc) in one part of speech's synsets."""
    pairs: Set[FrozenSet[str]] = set()

    def cluster(offset: int) -> Set[str]:
        ss_type, words, ptrs = synsets[offset]
        out = set(words)
        if ss_type == "a":
            for sym, target, _, _ in ptrs:
                if sym == "&" and target in synsets:
                    out |= set(synsets[target][1])
        return out

    for offset, (ss_type, words, ptrs) in synsets.items():
        for sym, target, src, dst in ptrs:
            if sym != "!" or target not in synsets:
                continue
            other = synsets[target][1]
            a = words if src == 0 else words[src - 1:src]
            b = other if dst == 0 else other[dst - 1:dst]
            pairs |= {frozenset((x, y)) for x in a for y in b if x != y}
            if ss_type == "a" and synsets[target][0] == "a":
                pairs |= {frozenset((x, y)) for x in cluster(offset) for y in cluster(target) if x != y}
    return pairs


Senses = Dict[Tuple[str, str], Tuple[Tuple[int, ...], int]]


class Lexicon:
    """``are_antonyms(a, b)`` and ``are_synonyms(a, b)`` over WordNet's lemmas, with base forms of
    inflected words (module doc); ``senses`` {(lemma, part of speech): (offsets in sense order,
    tagsense_cnt)} from the index files, None without them."""

    def __init__(self, pairs: Set[FrozenSet[str]], synsets: Dict[str, Set[Tuple[str, int]]],
                 exceptions: Dict[str, Set[str]], senses: Optional[Senses] = None) -> None:
        self.synsets, self.exceptions, self.senses = synsets, exceptions, senses
        self.opposite: Dict[str, Set[str]] = {}
        for p in pairs:
            if len(p) == 2:
                a, b = tuple(p)
                self.opposite.setdefault(a, set()).add(b)
                self.opposite.setdefault(b, set()).add(a)

    @functools.lru_cache(maxsize=None)
    def base_forms(self, word: str) -> FrozenSet[str]:
        w = word.lower()
        out = {w} | self.exceptions.get(w, set())
        out |= {w[:-len(s)] + r for s, r in _RULES if w.endswith(s) and len(w) > len(s) and w[:-len(s)] + r in self.synsets}
        return frozenset(out)

    def first_senses(self, lemma: str, k: int) -> Set[Tuple[str, int]]:
        """(part of speech, offset) of the lemma's first ``min(k, max(1, tagsense_cnt))`` senses
        in each part of speech: its first sense always, further ones only while the Semantic
        Concordance saw them (untagged senses have no frequency order)."""
        if self.senses is None:
            raise ValueError("expected a Lexicon with WordNet's sense order (index.<pos> files), got none; "
                             "run `make data-text`")
        out = set()
        for pos in POS:
            offsets, tagged = self.senses.get((lemma, pos), ((), 0))
            out |= {(pos, o) for o in offsets[:min(k, max(1, tagged))]}
        return out

    def are_antonyms(self, a: str, b: str) -> bool:
        fb = self.base_forms(b)
        return any(self.opposite.get(x, set()) & fb for x in self.base_forms(a))

    def are_synonyms(self, a: str, b: str) -> bool:
        fa, fb = self.base_forms(a), self.base_forms(b)
        if fa & fb:
            return True
        sa = set().union(*(self.synsets.get(x, set()) for x in fa))
        return any(self.synsets.get(x, set()) & sa for x in fb)


@functools.lru_cache(maxsize=2)
def load_lexicon(folder: str) -> Lexicon:
    """``Lexicon`` of the WordNet files in ``folder`` (``data/text/wordnet`` after ``make data-text``;
    without the index files, of an older install, ``senses`` is None)."""
    root = Path(folder)
    pairs: Set[FrozenSet[str]] = set()
    synsets: Dict[str, Set[Tuple[str, int]]] = {}
    exceptions: Dict[str, Set[str]] = {}
    senses: Optional[Senses] = {} if all((root / f"index.{p}").is_file() for p in POS) else None
    for pos in POS:
        path = root / f"data.{pos}"
        if not path.is_file():
            raise FileNotFoundError(f"synonym guard: expected WordNet's data.{pos} under {root}; run `make data-text`")
        with open(path, encoding="utf-8", errors="replace") as f:
            parsed = parse_data(f, str(path))
        pairs |= antonym_pairs(parsed)
        for offset, (_, words, _) in parsed.items():
            for w in words:
                synsets.setdefault(w, set()).add((pos, offset))
        if senses is not None:
            index = root / f"index.{pos}"
            with open(index, encoding="utf-8", errors="replace") as f:
                senses.update(((w, pos), v) for w, v in parse_index(f, str(index)).items())
        exc = root / f"{pos}.exc"
        if exc.is_file():
            for line in exc.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    exceptions.setdefault(parts[0].lower(), set()).update(p.lower() for p in parts[1:])
    return Lexicon(pairs, synsets, exceptions, senses)
