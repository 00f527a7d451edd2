"""The poisoning wrapper poisons exactly round(rate·N) samples, only them, and records it all."""
import json

import pytest
import torch
from torch import nn

from nnsafety.backdoor.evaluate import backdoor_metrics
from nnsafety.data.poison import poison_dataset, trigger_from_config
from nnsafety.data import ArrayDataset, load_dataset


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train")


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.1])
def test_all_to_one_poisons_exactly_rate_n_non_target_samples(digits, rate):
    x, y = digits.tensors()
    p = poison_dataset(digits, "badnets", rate=rate, target=3, seed=1, size=2)
    idx = p.poisoned_indices
    assert idx.numel() == round(rate * len(digits)) == p.poison_config["n_poisoned"]
    assert torch.all(y[idx] != 3)
    px, py = p.tensors()
    changed_label = (py != y).nonzero().flatten()
    assert torch.equal(changed_label, idx)
    assert torch.all(py[idx] == 3)
    changed_img = (px != x).flatten(1).any(1).nonzero().flatten()
    assert set(changed_img.tolist()) <= set(idx.tolist())
    assert torch.equal(px[idx], p.trigger.apply(x[idx]))


def test_all_to_all_relabels_to_next_class(digits):
    _, y = digits.tensors()
    p = poison_dataset(digits, "blended", rate=0.05, mode="all_to_all")
    idx = p.poisoned_indices
    assert torch.equal(p.labels[idx], (y[idx] + 1) % 10)
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[idx] = False
    assert torch.equal(p.labels[mask], y[mask])


def test_clean_label_poisons_target_class_only_and_keeps_labels(digits):
    x, y = digits.tensors()
    p = poison_dataset(digits, "sig", rate=0.05, target=2)
    assert p.poison_config["clean_label"] is True
    assert torch.all(y[p.poisoned_indices] == 2)
    assert torch.equal(p.labels, y)
    assert not torch.equal(p.images, x)


def test_wanet_noise_mode_samples_keep_their_labels(digits):
    _, y = digits.tensors()
    p = poison_dataset(digits, "wanet", rate=0.04, s=2.0, noise_ratio=2.0)
    assert p.noise_indices.numel() == 2 * p.poisoned_indices.numel()
    assert not set(p.noise_indices.tolist()) & set(p.poisoned_indices.tolist())
    assert torch.equal(p.labels[p.noise_indices], y[p.noise_indices])


def test_config_is_json_and_rebuilds_the_trigger(digits):
    p = poison_dataset(digits, "badnets", rate=0.02, target=1, seed=4, pattern="random", pattern_seed=9)
    cfg = json.loads(json.dumps(p.poison_config))
    assert cfg["poisoned_indices"] == p.poisoned_indices.tolist()
    x, _ = digits.tensors()
    assert torch.equal(trigger_from_config(cfg).apply(x[:5]), p.trigger.apply(x[:5]))
    again = poison_dataset(digits, "badnets", rate=0.02, target=1, seed=4, pattern="random", pattern_seed=9)
    assert torch.equal(again.images, p.images)


def test_uint8_storage_is_kept():
    imgs = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8)
    ds = ArrayDataset(imgs, torch.arange(40) % 4, ["a", "b", "c", "d"])
    p = poison_dataset(ds, "badnets", rate=0.25, target=0, size=2, pattern="white")
    assert p.images.dtype == torch.uint8
    assert torch.all(p.images[p.poisoned_indices][:, :, -2:, -2:] == 255)
    x, _ = p.get_batch(p.poisoned_indices)
    assert x.dtype == torch.float32 and x.max() <= 1


@pytest.mark.parametrize("kwargs,match", [
    ({"attack": "nope", "rate": 0.1}, "unknown trigger 'nope'; expected one of"),
    ({"attack": "badnets", "rate": 0.0}, r"expected poison rate in \(0, 1\]"),
    ({"attack": "badnets", "rate": 1.5}, r"expected poison rate in \(0, 1\]"),
    ({"attack": "badnets", "rate": 0.1, "target": 10}, r"expected target a class index in \[0, 9\]"),
    ({"attack": "badnets", "rate": 0.1, "target": -1}, "expected target a class index"),
    ({"attack": "badnets", "rate": 0.1, "mode": "some"}, "expected mode one of"),
    ({"attack": "badnets", "rate": 0.0001}, "to select between 1 and"),
    ({"attack": "sig", "rate": 0.5}, "samples of target class 0"),
])
def test_bad_inputs_give_one_line_errors(digits, kwargs, match):
    kwargs = dict(kwargs)
    attack = kwargs.pop("attack")
    with pytest.raises(ValueError, match=match) as e:
        poison_dataset(digits, attack, **kwargs)
    assert "\n" not in str(e.value)


class _PatchDetector(nn.Module):
    """Predicts ``target`` when the bottom-right 2×2 patch is all white, else a fixed class map."""

    def __init__(self, target, fallback):
        super().__init__()
        self.target, self.fallback = target, fallback

    def forward(self, x):
        hit = (x[:, 0, -2:, -2:] == 1).flatten(1).all(1)
        pred = torch.where(hit, torch.full_like(hit, self.target, dtype=torch.long), self.fallback(x))
        return nn.functional.one_hot(pred, 10).float()


def test_backdoor_metrics_against_hand_counts():
    test = load_dataset("digits", split="test")
    x, y = test.tensors()
    cfg = {"attack": "badnets", "target": 4, "mode": "all_to_one",
           "trigger": {"size": 2, "pattern": "white", "position": "bottom_right"}}
    # a perfect classifier that obeys the trigger: C-Acc 1, ASR 1, R-Acc 0
    lookup = {tuple(xi.flatten().tolist()): int(yi) for xi, yi in zip(x, y)}
    oracle = _PatchDetector(4, lambda xb: torch.tensor([lookup.get(tuple(v.flatten().tolist()), 0) for v in xb]))
    m = backdoor_metrics(oracle, test, cfg)
    assert m.clean_accuracy == 1.0 and m.attack_success_rate == 1.0 and m.robust_accuracy == 0.0
    assert m.n_triggered == int((y != 4).sum())
    # a constant model predicting 7: C-Acc = share of 7s, ASR 0, R-Acc = share of 7s among non-4s
    const = _PatchDetector(99, lambda xb: torch.full((xb.shape[0],), 7))
    const.target = 7
    m = backdoor_metrics(const, test, cfg)
    assert m.clean_accuracy == pytest.approx(float((y == 7).double().mean()))
    assert m.attack_success_rate == 0.0
    assert m.robust_accuracy == pytest.approx(float((y[y != 4] == 7).double().mean()))
