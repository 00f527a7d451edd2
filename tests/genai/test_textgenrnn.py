"""The textgenrnn port: the weight conversion against the CuDNN layout, the forward pass against a
NumPy reference of the Keras model, and the released weights (after `make data-genai`)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nnsafety.genai.textgenrnn import META, WINDOW, TextgenRNN, TextgenTokenizer, convert, load_textgenrnn

REAL = Path(__file__).resolve().parents[2] / "data" / "genai" / "textgenrnn"
V, D, H = 7, 3, 4


def _keras_file(tmp_path, rng):
    h5py = pytest.importorskip("h5py", reason="h5py (dev extra) writes the Keras-layout test file")
    w = {"embedding/embedding/embeddings:0": rng.normal(size=(V, D)),
         "attention/attention/attention_W:0": rng.normal(size=(D + 2 * H, 1)),
         "output/output/kernel:0": rng.normal(size=(D + 2 * H, V)), "output/output/bias:0": rng.normal(size=V)}
    for layer, inp in (("rnn_1", D), ("rnn_2", H)):
        w[f"{layer}/{layer}/kernel:0"] = rng.normal(size=(inp, 4 * H))
        w[f"{layer}/{layer}/recurrent_kernel:0"] = rng.normal(size=(H, 4 * H))
        w[f"{layer}/{layer}/bias:0"] = rng.normal(size=8 * H)
    with h5py.File(tmp_path / "w.hdf5", "w") as f:
        for k, v in w.items():
            f[k] = v.astype(np.float32)
    (tmp_path / "vocab.json").write_text(json.dumps({c: i + 1 for i, c in enumerate("ab c.")} | {META: V - 1}))
    return {k: v.astype(np.float32) for k, v in w.items()}


def _load(folder):
    from safetensors.torch import load_file

    m = TextgenRNN(V, D, H)
    m.load_state_dict(load_file(str(folder / "textgenrnn.safetensors")))
    return m.eval()


def test_conversion_reads_each_cudnn_gate_as_a_row_major_units_by_inputs_matrix(tmp_path):
    w = _keras_file(tmp_path, np.random.default_rng(0))
    state = _load(convert(tmp_path / "w.hdf5", tmp_path / "vocab.json", tmp_path / "out")).state_dict()
    for layer, inp in (("rnn_1", D), ("rnn_2", H)):
        kernel, rec = w[f"{layer}/{layer}/kernel:0"], w[f"{layer}/{layer}/recurrent_kernel:0"]
        for g in range(4):  # cuDNN stores each gate's matrix W_g (units × inputs) row-major
            ref_ih = kernel[:, g * H:(g + 1) * H].ravel().reshape(H, inp)
            ref_hh = rec[:, g * H:(g + 1) * H].ravel().reshape(H, H)
            assert np.array_equal(state[f"{layer}.weight_ih_l0"][g * H:(g + 1) * H].numpy(), ref_ih)
            assert np.array_equal(state[f"{layer}.weight_hh_l0"][g * H:(g + 1) * H].numpy(), ref_hh)
        b = w[f"{layer}/{layer}/bias:0"]
        assert np.allclose(state[f"{layer}.bias_ih_l0"].numpy(), b[:4 * H] + b[4 * H:])


def _numpy_textgenrnn(state, ids):
    """The Keras model on one 40-id window, step by step in NumPy (gates i, f, c, o; sigmoid)."""
    s = {k: v.double().numpy() for k, v in state.items()}
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    e = s["embedding.weight"][ids]
    outs, x = [e], e
    for layer in ("rnn_1", "rnn_2"):
        h, c, hs = np.zeros(H), np.zeros(H), []
        for t in range(len(ids)):
            z = s[f"{layer}.weight_ih_l0"] @ x[t] + s[f"{layer}.weight_hh_l0"] @ h + s[f"{layer}.bias_ih_l0"]
            i, f, g, o = sig(z[:H]), sig(z[H:2 * H]), np.tanh(z[2 * H:3 * H]), sig(z[3 * H:])
            c = f * c + i * g
            h = o * np.tanh(c)
            hs.append(h)
        x = np.array(hs)
        outs.append(x)
    cat = np.concatenate(outs, axis=1)
    a = np.exp(cat @ s["attention"] - (cat @ s["attention"]).max())
    return (a / a.sum()) @ cat @ s["output.weight"].T + s["output.bias"]


def test_forward_equals_a_numpy_reference_of_the_keras_model(tmp_path):
    _keras_file(tmp_path, np.random.default_rng(1))
    model = _load(convert(tmp_path / "w.hdf5", tmp_path / "vocab.json", tmp_path / "out"))
    ids = torch.tensor([[6, 1, 2, 3, 2, 4, 5, 1]])
    with torch.no_grad():
        logits = model(ids)[0].double().numpy()
    for t in (0, 3, 7):  # position t predicts from the 40-id window ending at t, left-padded with 0
        window = np.concatenate([np.zeros(WINDOW - t - 1, dtype=int), ids[0, :t + 1].numpy()])
        assert np.allclose(logits[t], _numpy_textgenrnn(model.state_dict(), window), atol=1e-5)
    # the incremental cache gives the same last-position logits as a full forward
    cache = model.new_cache()
    with torch.no_grad():
        model(ids[:, :5], cache)
        assert torch.allclose(model(ids[:, 5:], cache)[:, -1], model(ids)[:, -1], atol=1e-6)


def test_tokenizer_keeps_the_meta_token_whole():
    tok = TextgenTokenizer({"a": 1, "b": 2, META: 3})
    assert tok.encode("<s>ab?<s>") == [3, 1, 2, 0, 3] and tok.decode([3, 1, 2, 3]) == "<s>ab<s>"


@pytest.mark.skipif(not (REAL / "textgenrnn.safetensors").is_file(), reason="run `make data-genai` first "
                    "(converts the PyPI package textgenrnn 2.0.0's weights)")
def test_released_weights_generate_and_score_english():
    lm = load_textgenrnn(REAL, max_new_tokens=40, seed=3)
    assert sum(p.numel() for p in lm.model.parameters()) == 462_717
    a, b = lm.generate(["<s>The"] * 2, n=2, temperature=0.8), lm.generate(["<s>The"] * 2, n=2, temperature=0.8)
    assert a.texts == b.texts and len({t for row in a.texts for t in row}) > 1
    text = "<s>What is the name of the river that flows through the city of London?<s>"
    shuffled = "<s>" + "".join(np.random.default_rng(0).permutation(list(text[3:-3]))) + "<s>"
    ppl = [math.exp(-float(lp.mean())) for lp, _ in lm.score([text, shuffled])]
    assert ppl[0] < 6 < 3 * ppl[0] < ppl[1]  # English it knows; the same letters in random order it does not
