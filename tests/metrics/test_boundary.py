import json

import pytest
import torch
from torch import nn

from nnsafety.metrics.boundary import decision_boundary_2d, decision_plane, margin_distribution
from ._trained import digits_data, digits_mlp


class Halfplanes(nn.Module):
    """Linear 2-class model with a known boundary: class 1 iff w·x + b > 0."""

    def __init__(self, w, b):
        super().__init__()
        self.lin = nn.Linear(len(w), 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.stack([torch.zeros(len(w)), torch.tensor(w)]))
            self.lin.bias.copy_(torch.tensor([0.0, b]))

    def forward(self, x):
        return self.lin(x.flatten(1))


def test_2d_map_matches_the_known_halfplane():
    model = Halfplanes([1.0, -1.0], 0.0)
    x = torch.rand(50, 2, generator=torch.Generator().manual_seed(0))
    r = decision_boundary_2d(model, x, grid=41)
    gx = torch.tensor(r.xs).view(1, -1)
    gy = torch.tensor(r.ys).view(-1, 1)
    expected = (gx - gy > 0).long()
    pred = torch.tensor(r.pred)
    off_line = (gx - gy).abs() > 1e-6
    assert torch.equal(pred[off_line], expected[off_line])
    json.dumps(r.to_dict())
    assert r.plot() is not None


def test_margin_distances_equal_the_analytic_distance():
    """For a linear model the distance along u is -(w·x + b)/(w·u) when positive."""
    w = torch.tensor([0.3, -0.2, 0.5, 0.1])
    model = Halfplanes(w.tolist(), -0.2)
    x = torch.rand(20, 4, generator=torch.Generator().manual_seed(1))
    r = margin_distribution(model, x, directions="random", n_directions=6, max_dist=3.0, tol=1e-5)
    u = torch.randn((20, 6, 4), generator=torch.Generator().manual_seed(0))
    u = u / u.norm(dim=2, keepdim=True)
    t = -((x @ w - 0.2).unsqueeze(1)) / (u @ w)
    t = torch.where((t > 0) & (t <= 3.0), t, torch.full_like(t, float("inf")))
    d = torch.tensor(r.distances)
    fin = torch.isfinite(t)
    assert torch.equal(torch.isfinite(d), fin)
    assert torch.allclose(d[fin], t[fin], atol=2e-5)
    adv = margin_distribution(model, x, directions="adversarial", max_dist=3.0, tol=1e-5)
    exact = (x @ w - 0.2).abs() / w.norm()  # the gradient direction is the normal: true L2 distance
    assert torch.allclose(torch.tensor(adv.distances).squeeze(1), exact, atol=2e-5)
    json.dumps(adv.to_dict())
    assert adv.plot() is not None


def test_planes_through_digits():
    model = digits_mlp(seed=0)
    _, (xt, yt) = digits_data()
    anchors = torch.stack([xt[yt == c][0] for c in (0, 1, 2)])
    r = decision_plane(model, anchors, resolution=41)
    assert len(r.pred) == 41 and r.labels == model(anchors).argmax(1).tolist()
    # the anchor coordinates map back to the anchors: nearest grid cell predicts the anchor's class
    for (cx, cy), lab in zip(r.points, r.labels):
        j = min(range(41), key=lambda i: abs(r.xs[i] - cx))
        i = min(range(41), key=lambda i: abs(r.ys[i] - cy))
        assert r.pred[i][j] == lab
    for mode in ("random", "gradient", "adversarial"):
        r1 = decision_plane(model, xt[:1], directions=mode, resolution=21, span=3.0)
        assert r1.pred[10][10] == r1.labels[0]
    assert r.plot() is not None
    with pytest.raises(ValueError, match="anchor"):
        decision_plane(model, xt[:2])
