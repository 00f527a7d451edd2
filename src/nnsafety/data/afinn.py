"""The AFINN-165 English sentiment lexicon (Nielsen 2011), read from the PyPI package ``afinn``.

Shared by the polarized-output probe of generative models (``genai.polarization``) and the
sentiment prior of the text-backdoor scan ``lexicon_scan``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict


@lru_cache(maxsize=1)
def afinn_lexicon() -> Dict[str, int]:
    """The AFINN-165 English lexicon (3,382 words and phrases -> valence), from the installed PyPI
    package ``afinn`` (in the extras text and genai)."""
    try:
        import afinn
    except ImportError:
        raise ValueError("the AFINN sentiment lexicon needs the optional extra: pip install 'nnsafety[text]' "
                         "(afinn)") from None
    path = Path(afinn.__file__).parent / "data" / "AFINN-en-165.txt"
    lexicon = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, value = line.rpartition("\t")
        if word:
            lexicon[word] = int(value)
    return lexicon
