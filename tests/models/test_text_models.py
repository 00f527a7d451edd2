"""Text models: the embed / forward_embeddings seam, the layer-k hook, Kim's CNN against a loop."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from nnsafety.data import Vocab
from nnsafety.data.text import TokenDataset
from nnsafety.data.word_vectors import murmurhash64a, spacy_vectors
from nnsafety.models import TextClassifier, create_model, list_models


def _ids(n=5, length=12, vocab=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, vocab, (n, length), generator=g)
    for i, real in enumerate([12, 7, 3, 1, 9][:n]):
        ids[i, real:] = 0
    return ids


@pytest.mark.parametrize("name,layers", [("text_cnn", 2), ("bilstm", 3)])
def test_text_models_seam_and_batch_independence(name, layers):
    torch.manual_seed(0)
    m = create_model(name, num_classes=3, in_shape=(12,), vocab_size=40, embed_dim=16).eval()
    assert isinstance(m, TextClassifier) and m.mix_layers == layers and name in list_models(domain="token")
    ids = _ids()
    out = m(ids)
    assert out.shape == (5, 3) and torch.isfinite(out).all()
    torch.testing.assert_close(m.forward_embeddings(m.embed(ids), ids != 0), out)
    # a text's logits depend neither on its batch-mates nor on the padded length
    solo = torch.cat([m(ids[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(solo, out, atol=1e-5, rtol=1e-5)
    longer = torch.cat([ids, torch.zeros(5, 6, dtype=torch.int64)], dim=1)
    torch.testing.assert_close(m(longer), out, atol=1e-5, rtol=1e-5)
    seen = []
    same = m(ids, mix_hook=lambda k, h: seen.append((k, tuple(h.shape))) or h)
    torch.testing.assert_close(same, out)
    assert seen[0] == (0, (5, 12, 16)) and [k for k, _ in seen] == list(range(layers))


def test_text_cnn_matches_kim_loop():
    """Kim (2014): max over the windows that start on real tokens of relu(w·e[t:t+h] + b), zero-padded."""
    torch.manual_seed(1)
    m = create_model("text_cnn", num_classes=2, in_shape=(12,), vocab_size=40, embed_dim=6, maps=4,
                     dropout=0.0).eval()
    ids = _ids()
    emb = m.embedding.weight.detach().numpy().astype(np.float64)
    conv = m.stages[0].convs
    expected = []
    for row in ids.tolist():
        real = [t for t in row if t != 0]
        e = np.concatenate([emb[real], np.zeros((5, 6))])
        feats = []
        for c in conv:
            w, b = c.weight.detach().numpy().astype(np.float64), c.bias.detach().numpy().astype(np.float64)
            h = w.shape[2]
            acts = [np.maximum((w * e[t:t + h].T[None]).sum(axis=(1, 2)) + b, 0) for t in range(len(real))]
            feats.append(np.max(acts, axis=0))
        z = np.concatenate(feats)
        expected.append(m.head.weight.detach().numpy() @ z + m.head.bias.detach().numpy())
    np.testing.assert_allclose(m(ids).detach().numpy(), np.array(expected), rtol=1e-4, atol=1e-5)


def test_mixing_widens_the_mask_to_the_pair():
    from nnsafety.augment import MixDraw
    from nnsafety.train.methods._common import mixed_forward

    torch.manual_seed(2)
    m = create_model("bilstm", num_classes=2, in_shape=(12,), vocab_size=40, embed_dim=8, hidden=5).eval()
    ids = _ids()
    perm = torch.tensor([1, 0, 3, 2, 4])
    # λ = 1: the partner has weight 0, so mixing is the identity, mask included
    torch.testing.assert_close(mixed_forward(m, ids, 0, MixDraw(1.0, perm)), m(ids))
    # λ = 0: each text becomes its partner, which only works if the mask became the partner's too
    torch.testing.assert_close(mixed_forward(m, ids, 0, MixDraw(0.0, perm)), m(ids[perm]), atol=1e-5, rtol=1e-5)


def test_text_model_bad_arguments_are_one_line():
    with pytest.raises(ValueError, match=r"expected a token in_shape \(L,\) for text_cnn"):
        create_model("text_cnn", num_classes=2, in_shape=(1, 8, 8), vocab_size=10)
    with pytest.raises(ValueError, match="expected vectors None or one of spacy_md"):
        create_model("bilstm", num_classes=2, in_shape=(8,), vocab_size=10, vectors="glove")
    m = create_model("text_cnn", num_classes=2, in_shape=(8,), vocab_size=10)
    with pytest.raises(ValueError, match="expected int64 token ids of shape N×L"):
        m(torch.rand(2, 8))


def test_murmurhash64a_matches_spacy_string_keys():
    # spaCy's documentation: nlp.vocab.strings["coffee"] == 3197928453018144401
    assert murmurhash64a(b"coffee") == 3197928453018144401


def _write_spacy(folder, words, table):
    folder.mkdir()
    np.save(folder / "vectors.npy", table.astype(np.float32))
    (folder / "vectors.npy").rename(folder / "vectors")
    body = b"".join(b"\xcf" + struct.pack(">Q", murmurhash64a(w.encode())) + bytes([i]) for i, w in enumerate(words))
    (folder / "key2row").write_bytes(b"\xdf" + struct.pack(">I", len(words)) + body)


def test_pretrained_vectors_fill_known_words(tmp_path):
    table = np.arange(3 * 300, dtype=np.float32).reshape(3, 300) / 100
    _write_spacy(tmp_path / "spacy_md", ["great", "tea", "stale"], table)
    vocab = Vocab.build(["great tea", "great stale tea", "zzz zzz"], max_len=4, min_freq=1)
    vec, found = spacy_vectors(vocab.tokens, tmp_path / "spacy_md")
    assert found.tolist() == [t in ("great", "tea", "stale") for t in vocab.tokens]
    ds = TokenDataset(vocab.encode(["great tea"]), torch.tensor([0]), ["a", "b"], vocab)
    ds.data_root = str(tmp_path)
    m = create_model("text_cnn", num_classes=2, in_shape=(4,), vectors="spacy_md", **ds.model_kwargs())
    before = m.embedding.weight.detach().clone()
    ds.init_model(m)
    w = m.embedding.weight.detach()
    assert w.shape == (len(vocab), 300)
    torch.testing.assert_close(w[vocab.index["stale"]], torch.from_numpy(table[2]))
    torch.testing.assert_close(w[vocab.index["zzz"]], before[vocab.index["zzz"]])  # unknown: random init kept
    assert w[0].abs().sum() == 0  # padding
    (tmp_path / "spacy_md" / "key2row").write_bytes(b"\x80junk")
    with pytest.raises(ValueError, match="expected a MessagePack map32"):
        spacy_vectors(vocab.tokens, tmp_path / "spacy_md")
