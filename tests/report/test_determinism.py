"""Seeds reach every random choice of the audit: the same seed gives the same card apart from
timings; another seed changes the PGD random starts. The attack section runs the same PGD as
``nnsafety eval --attack`` (early stop, seeded), so both report the same robust accuracy."""
import torch

from nnsafety.attacks import robust_accuracy_curve
from nnsafety.report import audit, get_budget

from .conftest import TINY

TIMING = ("seconds", "cpu_seconds", "created", "timing")


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def test_same_seed_same_card_other_seed_other_random_starts(mlp, test_set):
    budget = get_budget("quick", **{**TINY, "pgd_steps": 1, "eps_list": (0.1, 0.2, 0.3)})
    a = audit(mlp, test_set, budget=budget, seed=3, progress=False).card
    b = audit(mlp, test_set, budget=budget, seed=3, progress=False).card
    assert _strip(a) == _strip(b)
    # one PGD step from the random start: the robust accuracy follows the start point
    only = ["attacks"]
    curves = {s: audit(mlp, test_set, budget=budget, seed=s, progress=False, only=only)
              .card["sections"]["attacks"]["curves"]["robust_accuracy"]["y"] for s in (3, 4)}
    assert curves[3] != curves[4]
    assert curves[3] == a["sections"]["attacks"]["curves"]["robust_accuracy"]["y"]


def test_audit_attack_section_equals_eval_attack(mlp, test_set):
    x, y = test_set.tensors()
    x, y = x[:60], y[:60]  # n_attack = 60 = all points: the audit attacks exactly these
    budget = get_budget("quick", **TINY)
    card = audit(mlp, (x, y), budget=budget, seed=7, progress=False, only=["attacks"], eps=0.1).card
    sec = card["sections"]["attacks"]
    eps = sec["config"]["eps_list"]
    curve = robust_accuracy_curve(mlp, x, y, "pgd", eps, steps=budget.pgd_steps, seed=7, warn=False,
                                  progress=False)
    assert sec["curves"]["robust_accuracy"]["y"] == [curve.clean_accuracy] + curve.robust_accuracy
    assert card["metrics"]["attacks"]["pgd_robust_accuracy"] == curve.robust_accuracy[eps.index(0.1)]
    assert torch.equal(x, test_set.tensors()[0][:60])  # inputs untouched
