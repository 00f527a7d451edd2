"""Warp-space inversion: the warp equals the WaNet trigger's, and a hand-built warp backdoor is found."""
import pytest
import torch

from nnsafety.backdoor.detectors import DetectionContext, create_detector
from nnsafety.backdoor.detectors.warp_inversion import warp, warp_inversions
from nnsafety.data.triggers import create_trigger


def test_warp_of_a_scaled_control_field_is_the_wanet_trigger():
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    trig = create_trigger("wanet", k=4, s=3.0, field_seed=7)
    g = torch.Generator().manual_seed(7)  # WaNet's own field: uniform [−1, 1], divided by its mean |.|
    p = torch.rand(1, 2, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    p = (p / p.abs().mean() * 3.0 / 8).float()
    torch.testing.assert_close(warp(x, p.expand(5, -1, -1, -1)), trig.apply(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(warp(x, torch.zeros(5, 2, 4, 4)), x, atol=1e-6, rtol=0)  # zero field: identity


def _clean_logits(x):
    """Class k when the brightest pixel is near (k + 0.5)/10: a rule no small warp changes much (a
    bilinear warp moves pixels, it barely changes the largest value)."""
    centres = (torch.arange(10) + 0.5) / 10
    return -((x.flatten(1).max(1).values.unsqueeze(1) - centres) / 0.1) ** 2


class RightShiftBackdoor(torch.nn.Module):
    """The clean rule, unless the image's ink sits right of centre (horizontal centre of mass > 0.2
    in [−1, 1] coordinates): then class 3. A warp moves ink; no patch, blend or small additive
    change does it without adding ink (a warp rule written by hand)."""

    def __init__(self):
        super().__init__()
        self.xs = torch.linspace(-1, 1, 8).view(1, 1, 1, 8)

    def forward(self, x):
        com = (x * self.xs).sum((1, 2, 3)) / x.sum((1, 2, 3)).clamp_min(1e-6)
        gate = torch.sigmoid(30 * (com - 0.2)).unsqueeze(1)
        return _clean_logits(x) + 100 * gate * torch.nn.functional.one_hot(torch.tensor(3), 10)


def _centred_blobs(n):
    """Centred 4×4 blobs whose brightest pixel sits at a class centre other than class 3's."""
    g = torch.Generator().manual_seed(2)
    x = torch.zeros(n, 1, 8, 8)
    peak = (torch.tensor([0, 1, 2, 4, 5, 6, 7, 8, 9]).repeat(n)[:n] + 0.5) / 10
    x[:, :, 2:6, 2:6] = peak.view(n, 1, 1, 1) * (0.5 + 0.5 * torch.rand(n, 1, 4, 4, generator=g))
    x[:, :, 3, 3] = peak.view(n, 1)
    return x


def test_a_hand_built_warp_backdoor_is_reached_from_every_base_and_stands_out():
    model = RightShiftBackdoor()
    base = _centred_blobs(30)
    labels = model(base).argmax(1)
    assert (labels != 3).all()
    out = warp_inversions(model, base, 10, eps=0.35, steps=20, base_labels=labels, checkpoints=(5,))
    assert float(out["asr"][3]) == pytest.approx(1.0)  # every base is warped into class 3
    assert float(out["asr"][torch.arange(10) != 3].max()) < 0.5
    assert float(out["field"].abs().max()) <= 0.35 + 1e-6
    assert set(out["asr_at"]) == {5} and float(out["untargeted"]) == pytest.approx(1.0)
    r = create_detector("warp_inversion", data_free=False).detect(
        model, DetectionContext(in_shape=(1, 8, 8), num_classes=10, clean=(base, labels)))
    assert r.target_class == 3 and r.score > 5 and r.backdoored


def test_a_model_without_the_rule_has_no_warp_target():
    class Clean(torch.nn.Module):
        def forward(self, x):
            return _clean_logits(x)

    model, base = Clean(), _centred_blobs(30)
    labels = model(base).argmax(1)
    out = warp_inversions(model, base, 10, eps=0.35, steps=20, base_labels=labels)
    assert float(out["asr"].max()) < 0.2
    r = create_detector("warp_inversion", data_free=False).detect(
        model, DetectionContext(in_shape=(1, 8, 8), num_classes=10, clean=(base, labels)))
    assert not r.backdoored


def test_random_warp_response_equals_a_plain_loop_and_finds_the_warp_class():
    from nnsafety.backdoor.detectors.warp_inversion import random_fields, warp_response

    model, base = RightShiftBackdoor(), _centred_blobs(18)
    labels = model(base).argmax(1)
    r = warp_response(model, base, labels, 10, strength=3.5, n_fields=8, grids=(3, 4), seed=5)
    hits, flips = [], []
    for k in (3, 4):
        for f in random_fields(8, k, 5 + k):
            pred = model(warp(base, (f * 3.5 / 8).expand(len(base), -1, -1, -1))).argmax(1)
            hits.append([float(((pred == c) & (labels != c)).sum()) / max(1, int((labels != c).sum())) for c in range(10)])
            flips.append(float((pred != labels).float().mean()))
    hits = torch.tensor(hits, dtype=torch.float64)
    torch.testing.assert_close(r["mean"], hits.mean(0))
    torch.testing.assert_close(r["max"], hits.max(0).values)
    assert float(r["flip"]) == pytest.approx(sum(flips) / len(flips))
    assert int(r["mean"].argmax()) == 3  # random smooth warps that move the ink right land in 3
