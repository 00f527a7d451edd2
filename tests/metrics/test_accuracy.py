import numpy as np
import pytest
import torch

from nnsafety.metrics.accuracy import evaluate, expected_calibration_error


def _ece_loop(probs, labels, n_bins):
    """The textbook definition, one sample at a time (Guo et al. 2017)."""
    bins = [[] for _ in range(n_bins)]
    for p, y in zip(probs, labels):
        conf = max(p)
        b = min(int(np.ceil(conf * n_bins)) - 1, n_bins - 1)
        bins[max(b, 0)].append((conf, float(np.argmax(p) == y)))
    return sum(len(b) / len(probs) * abs(np.mean([a for _, a in b]) - np.mean([c for c, _ in b]))
               for b in bins if b)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ece_matches_per_sample_loop(seed):
    gen = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(500, 10, generator=gen, dtype=torch.float64), 1)
    labels = torch.randint(0, 10, (500,), generator=gen)
    ece, table = expected_calibration_error(probs, labels, 15)
    assert ece == pytest.approx(_ece_loop(probs.numpy(), labels.numpy(), 15), abs=1e-12)
    assert sum(b["count"] for b in table) == 500


def test_ece_of_a_perfectly_calibrated_constant_predictor_is_zero():
    probs = torch.tensor([[0.75, 0.25]] * 4, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1])
    assert expected_calibration_error(probs, labels)[0] == pytest.approx(0.0)


def test_evaluate_matches_direct_computation():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x = torch.rand(50, 1, 2, 2)
    y = torch.randint(0, 3, (50,))
    model.train()
    res = evaluate(model, (x, y), batch_size=7)
    assert model.training  # mode restored
    logits = model(x)
    assert res.accuracy == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    assert res.loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-5)
    with pytest.raises(ValueError, match="non-empty"):
        evaluate(model, (x[:0], y[:0]))
