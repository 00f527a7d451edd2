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


def _sampled_logits(t_true, n=4000, k=10, seed=0):
    """Logits z·t_true whose labels are drawn from softmax(z): the calibrating temperature is t_true."""
    gen = torch.Generator().manual_seed(seed)
    z = 2.5 * torch.randn(n, k, generator=gen, dtype=torch.float64)
    y = torch.multinomial(z.softmax(1), 1, generator=gen).squeeze(1)
    return z * t_true, y


def test_fit_temperature_matches_a_dense_grid_search():
    from nnsafety.metrics import fit_temperature

    logits, y = _sampled_logits(1.0, n=800, seed=3)
    logits = logits * 0.4 + 0.3 * torch.randn(logits.shape, generator=torch.Generator().manual_seed(1),
                                               dtype=torch.float64)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 20001))
    nll = [float(torch.nn.functional.cross_entropy(logits / t, y)) for t in grid[::20]]
    coarse = grid[::20][int(np.argmin(nll))]
    fine = grid[(grid > coarse / 1.01) & (grid < coarse * 1.01)]
    best = fine[int(np.argmin([float(torch.nn.functional.cross_entropy(logits / t, y)) for t in fine]))]
    assert fit_temperature(logits, y) == pytest.approx(best, rel=2e-4)


@pytest.mark.parametrize("t_true", [0.4, 1.0, 3.0])
def test_fit_temperature_recovers_the_temperature_that_generated_the_labels(t_true):
    from nnsafety.metrics import fit_temperature

    logits, y = _sampled_logits(t_true)
    assert fit_temperature(logits, y) == pytest.approx(t_true, rel=0.08)


def test_cross_fitted_scaled_ece_repairs_an_underconfident_model():
    from nnsafety.metrics import cross_fitted_scaled_ece

    logits, y = _sampled_logits(0.3)  # labels follow softmax(logits / 0.3): raw softmax is far too flat
    raw = expected_calibration_error(logits.softmax(1), y, 15)[0]
    scaled = cross_fitted_scaled_ece(logits, y)
    assert raw > 0.15 and scaled < 0.03
    assert cross_fitted_scaled_ece(logits[:1], y[:1]) is None
