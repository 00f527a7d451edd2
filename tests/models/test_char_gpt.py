"""char_gpt: causal (a later token never changes earlier logits), shapes, tied weights, errors."""
import pytest
import torch

from nnsafety.models import create_model, list_models


def _model():
    torch.manual_seed(0)
    return create_model("char_gpt", 99, (12,), vocab_size=99, d_model=16, n_layers=2, n_heads=2).eval()


def test_registered_for_tokens_only():
    assert "char_gpt" in list_models(domain="token") and "char_gpt" not in list_models(domain="image")


def test_causal_and_shapes():
    m = _model()
    x = torch.randint(2, 99, (3, 12))
    y = x.clone()
    y[:, 7] = (y[:, 7] + 1) % 97 + 2
    a, b = m(x), m(y)
    assert a.shape == (3, 12, 99)
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-6) and not torch.allclose(a[:, 7:], b[:, 7:])
    assert m.tok.weight.data_ptr() == m.tok.weight.data_ptr()  # the output layer is the embedding
    assert torch.allclose(m.forward_embeddings(m.embed(x)), a)


def test_errors():
    with pytest.raises(ValueError, match="expected vocab_size equal to num_classes"):
        create_model("char_gpt", 99, (12,), vocab_size=50)
    with pytest.raises(ValueError, match="expected in_shape \\(block_size,\\)"):
        create_model("char_gpt", 99, (1, 8, 8))
    with pytest.raises(ValueError, match="expected d_model divisible by n_heads"):
        create_model("char_gpt", 99, (12,), d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="L <= 12"):
        _model()(torch.zeros(1, 13, dtype=torch.int64))


def test_kv_cache_equals_full_forward():
    m = _model()
    x = torch.randint(2, 99, (2, 12))
    full = m(x)
    cache = m.new_cache()
    steps = [m(x[:, :5], cache)] + [m(x[:, t:t + 1], cache) for t in range(5, 12)]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    with pytest.raises(ValueError, match="expected at most 12 positions, got 13"):
        m(x[:, :1], cache)
