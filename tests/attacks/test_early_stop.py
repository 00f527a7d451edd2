"""Early stop and robust-accuracy evaluation spend steps only on points that are still robust."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from nnsafety.attacks import pgd, robust_accuracy


class Recorder(nn.Module):
    """Wraps a model and records every input it sees and the predictions it made."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.inputs, self.preds = model, [], []

    def forward(self, x):
        out = self.model(x)
        self.inputs.append(x.detach().clone())
        self.preds.append(out.argmax(1).detach())
        return out


def test_early_stop_drops_exactly_the_fooled_points(trained_cnn, digits_test):
    """Batch sizes of the early-stop run, derived independently from the fixed-step trajectory.

    With one seed both runs start at the same point and follow the same path, so the early-stop
    run must feed at step k exactly the points the fixed-step run had not yet fooled at iterates
    0..k-1, and return each fooled point's first adversarial iterate.
    """
    x, y = digits_test[0][:120], digits_test[1][:120]
    steps = 12
    fixed = Recorder(trained_cnn)
    pgd(fixed, x, y, 0.1, steps=steps, step_size=0.01, generator=torch.Generator().manual_seed(3))
    wrong = torch.stack(fixed.preds) != y  # (steps, N): iterate k misclassified
    fooled_before = torch.cumsum(wrong.int(), 0) > 0
    expected = [len(y)] + [int((~fooled_before[k - 1]).sum()) for k in range(1, steps)]
    expected = [n for n in expected if n > 0]
    early = Recorder(trained_cnn)
    xa = pgd(early, x, y, 0.1, steps=steps, step_size=0.01, early_stop=True,
             generator=torch.Generator().manual_seed(3))
    assert [len(i) for i in early.inputs] == expected
    assert expected[-1] < 0.8 * len(y)  # the test exercises real shrinking
    first = wrong.int().argmax(0)  # first adversarial iterate of each fooled point
    for j in fooled_before[-1].nonzero().squeeze(1).tolist():
        torch.testing.assert_close(xa[j], fixed.inputs[int(first[j])][j])


def test_robust_accuracy_attacks_only_clean_correct_points(trained_cnn, digits_test):
    x, y = digits_test[0][:60].clone(), digits_test[1][:60].clone()
    y[:7] = (y[:7] + 1) % 10  # 7 points now wrong at the clean input
    seen = []

    def attack(model, xb, yb):
        seen.append(xb.clone())
        return pgd(model, xb, yb, 0.1, steps=3)

    r = robust_accuracy(trained_cnn, x, y, attack, batch_size=25, progress=False)
    with torch.no_grad():
        clean_ok = trained_cnn(x).argmax(1) == y
    torch.testing.assert_close(torch.cat(seen), x[clean_ok])  # only those, in order
    assert r.clean_accuracy == int(clean_ok.sum()) / 60 == 53 / 60
    torch.testing.assert_close(r.x_adv[~clean_ok], x[~clean_ok])  # x is their example
    with torch.no_grad():
        manual = clean_ok & (trained_cnn(r.x_adv).argmax(1) == y)
    assert r.robust_accuracy == int(manual.sum()) / 60


def test_curve_uses_early_stop_unless_told_otherwise(trained_cnn, digits_test):
    """robust_accuracy_curve (``nnsafety eval --attack``) runs PGD with early stop by default."""
    from nnsafety.attacks import PGD, robust_accuracy_curve

    x, y = digits_test[0][:80], digits_test[1][:80]
    sizes = {}
    for es in (None, False):
        rec = Recorder(trained_cnn)
        kw = {} if es is None else {"early_stop": es}
        curve = robust_accuracy_curve(rec, x, y, "pgd", [0.15], steps=8, warn=False,
                                      generator=torch.Generator().manual_seed(0), **kw)
        # the attack's forwards: not the curve's entry probe and clean predictions (made once for every ε),
        # robust_accuracy's entry probe, nor the final predict
        sizes[es] = [len(i) for i in rec.inputs[3:-1]]
        atk = PGD(0.15, steps=8, early_stop=es is None, generator=torch.Generator().manual_seed(0))
        assert curve.robust_accuracy[0] == robust_accuracy(trained_cnn, x, y, atk, progress=False).robust_accuracy
    assert len(set(sizes[False])) == 1 and sizes[False][0] == sizes[None][0]
    assert sizes[None][-1] < 0.5 * sizes[None][0]  # fooled points left the batch


def test_curve_predicts_clean_once_and_keeps_each_eps_number(trained_cnn, digits_test):
    """The clean predictions do not depend on ε: the curve makes them once, and every point of the
    curve is still the number robust_accuracy gives at that ε with the same seed."""
    from nnsafety.attacks import robust_accuracy_curve

    x, y = digits_test[0][:80], digits_test[1][:80]
    rec = Recorder(trained_cnn)
    eps = [0.05, 0.1, 0.2]
    curve = robust_accuracy_curve(rec, x, y, "pgd", eps, steps=5, warn=False, seed=3)
    clean_passes = sum(i.shape == x.shape and torch.equal(i, x) for i in rec.inputs)
    assert clean_passes == 1  # attacks start from a random point and end away from x
    for e, acc in zip(eps, curve.robust_accuracy):
        assert acc == robust_accuracy(trained_cnn, x, y, "pgd", eps=e, steps=5, early_stop=True, seed=3,
                                      progress=False).robust_accuracy
    with pytest.raises(ValueError, match="clean_correct of shape"):
        robust_accuracy(trained_cnn, x, y, "pgd", eps=0.1, clean_correct=torch.ones(3, dtype=torch.bool))
