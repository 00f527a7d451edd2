"""constrained_pgd_at through the one trainer: it gets the data's domain, and it buys robustness
under the constrained attack on a feature task where ERM is brittle."""
from __future__ import annotations

import pytest
import torch

from nnsafety.attacks import pgd
from nnsafety.data.security import FeatureDataset
from nnsafety.domains import FeatureDomain
from nnsafety.train import TrainConfig, train


def _task(n, seed):
    """Label = x0 > 0.5; x1 (add-only for the attacker) is a shortcut ERM leans on: on training data
    it repeats the label exactly, and adding to it flips ERM's decision."""
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.rand(n, generator=gen)
    y = (x0 > 0.5).long()
    x1 = y.float() * 2 + 0.05 * torch.randn(n, generator=gen)
    domain = FeatureDomain([0.0, -1.0], [1.0, 4.0], mutable=[False, True], direction=[0, 1])
    return FeatureDataset(torch.stack([x0, x1.clamp(-1, 4)], 1), y, ["no", "yes"], "toy", domain)


def test_constrained_at_is_more_robust_than_erm():
    train_set, test_set = _task(400, 0), _task(400, 1)
    robust = {}
    for method in ("erm", "constrained_pgd_at"):
        cfg = TrainConfig(data="toy", model="mlp", method=method, epochs=8, seed=0, eval_every=8, device="cpu",
                          model_kwargs={"width": 32}, method_kwargs={"eps": 2.5} if method != "erm" else {})
        model = train(cfg, train_set=train_set, test_set=test_set, progress=False).model.eval()
        x, y = test_set.tensors()
        adv = pgd(model, x, y, 2.5, steps=20, domain=test_set.domain, generator=torch.Generator().manual_seed(0))
        assert test_set.domain.is_valid(adv, x).all()
        with torch.no_grad():
            robust[method] = float((model(adv).argmax(1) == y).float().mean())
    assert robust["constrained_pgd_at"] > robust["erm"] + 0.2, robust


def test_needs_feature_data():
    from nnsafety.train.methods import StepContext, create_method

    method = create_method("constrained_pgd_at")
    ctx = StepContext(torch.nn.Linear(2, 2), torch.Generator(), 2)
    with pytest.raises(ValueError, match="FeatureDomain"):
        method.loss(ctx.module, torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), ctx)
